// Tokenization models of tokenizer.json (HF tokenizers/src/models): BPE, WordPiece, WordLevel,
// Unigram. A model turns one pre-tokenized word into ids.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/tokenizer/json_util.h"

namespace vllm {

// string -> id with lookups by string_view (no allocation on the hot path).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using VocabMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// (Not `Model`: that is src/models/model.h's class, and two classes of one name in one namespace break the
// one-definition rule: a linker keeps one of their inline destructors for both.)
class TokenizerModel {
 public:
  virtual ~TokenizerModel() = default;
  // Appends the ids of `word` to `out`.
  virtual void tokenize(std::string_view word, std::vector<int32_t>& out) const = 0;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The vocabulary string of `id`, or nullptr when the model has none.
  const std::string* id_to_token(int32_t id) const;
  size_t vocab_size() const { return vocab_.size(); }
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  virtual bool is_bpe() const { return false; }

 protected:
  void set_vocab(VocabMap vocab);
  VocabMap vocab_;
  std::vector<std::string> id_to_token_;  // "" where an id has no token
  std::vector<bool> has_token_;
};

// Builds the model of a tokenizer.json "model" object; infers the type when "type" is absent.
std::unique_ptr<TokenizerModel> make_model(const nlohmann::json& j, const tokenizer_json::Source& src);

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};
std::unique_ptr<TokenizerModel> make_bpe(VocabMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                BpeOptions options, const tokenizer_json::Source& src);
std::unique_ptr<TokenizerModel> make_wordpiece(VocabMap vocab, std::string unk_token, std::string prefix,
                                      size_t max_input_chars_per_word, const tokenizer_json::Source& src);
std::unique_ptr<TokenizerModel> make_word_level(VocabMap vocab, std::string unk_token, const tokenizer_json::Source& src);
std::unique_ptr<TokenizerModel> make_unigram(std::vector<std::pair<std::string, double>> vocab, std::optional<size_t> unk_id,
                                    bool byte_fallback, const tokenizer_json::Source& src);

}  // namespace vllm
