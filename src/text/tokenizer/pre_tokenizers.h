// Pre-tokenizers of tokenizer.json (HF tokenizers/src/pre_tokenizers): split a normalized
// piece of text into the words the model tokenizes one by one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer/json_util.h"

namespace vllm {

struct PreToken {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the input (Metaspace prepend_scheme "first")
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their splits; empty splits are dropped, as HF does.
  virtual void pre_tokenize(std::vector<PreToken>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const tokenizer_json::Source& src);

// The GPT-2 byte-to-unicode table: byte b is written as the UTF-8 string byte_level_char(b).
const std::string& byte_level_char(unsigned char b);
// Inverse: the byte of a code point of the table, or -1.
int byte_level_byte(char32_t c);

}  // namespace vllm
