// Added tokens (HF tokenizers AddedVocabulary): matched in the input before the model runs,
// leftmost-longest, with the single_word / lstrip / rstrip / normalized rules.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace vllm {

class Normalizer;

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  // What decode() writes for it: HF decodes a normalized token as its normalized content
  // (e.g. "▁<s>" under a Prepend("▁") normalizer), and skips it as special only if that string
  // is a special token's content.
  std::string decoded;
};

struct TextSegment {
  size_t start, end;  // byte range of the searched text
  int32_t id;         // the added token's id, or -1 for plain text
};

class AddedVocabulary {
 public:
  void add(AddedToken token);
  // Builds the matchers; normalized tokens are matched by their normalized content.
  void build(const Normalizer* normalizer);

  // Splits `text` on the tokens with normalized == `normalized_set` (HF find_matches).
  std::vector<TextSegment> split(std::string_view text, bool normalized_set) const;

  const AddedToken* find_id(int32_t id) const;
  std::optional<int32_t> find_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

 private:
  struct Matcher {
    std::vector<std::unordered_map<unsigned char, int32_t>> children{1};
    std::vector<int32_t> terminal{-1};  // node -> index into tokens_
    std::bitset<256> first_bytes;
    void insert(const std::string& pattern, int32_t index);
    bool empty() const { return terminal.size() == 1; }
  };
  Matcher raw_, normalized_;
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
};

}  // namespace vllm
