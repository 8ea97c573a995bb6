// UTF-8 and Unicode character classes with the exact definitions HF `tokenizers` uses (Rust's
// char methods and the `unicode_categories` crate), on top of utf8proc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vllm::unicode {

// Decodes the code point at s[pos]; sets `len` to its byte length. Invalid bytes decode as
// U+FFFD with length 1 (inputs are validated before they reach the pipeline).
char32_t decode(std::string_view s, size_t pos, size_t& len);
void append(std::string& out, char32_t c);
std::string encode(char32_t c);
inline size_t char_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
size_t count_chars(std::string_view s);
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);
bool is_valid_utf8(std::string_view s);

bool is_whitespace(char32_t c);   // Rust char::is_whitespace (White_Space property)
bool is_alphanumeric(char32_t c); // Rust char::is_alphanumeric
bool is_numeric(char32_t c);      // Rust char::is_numeric (Nd, Nl, No)
bool is_punctuation(char32_t c);  // ASCII punctuation or a P* category (BERT, Punctuation)
bool is_control(char32_t c);      // a C* category except \t \n \r (BertNormalizer)
bool is_mark(char32_t c);         // Mn, Mc, Me (StripAccents)
bool is_chinese_char(char32_t c); // the CJK blocks BertNormalizer pads with spaces
// Appends Rust's char::to_lowercase (full mapping: U+0130 becomes "i\u0307").
void append_lowercase(std::string& out, char32_t c);

}  // namespace vllm::unicode
