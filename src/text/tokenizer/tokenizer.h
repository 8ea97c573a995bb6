// The tokenizer of a Hugging Face model folder as transformers 5's AutoTokenizer loads it:
// tokenizer.json run exactly as HF `tokenizers` runs it, except where the tokenizer_class of
// tokenizer_config.json rebuilds the pipeline (LlamaTokenizer, GPT2Tokenizer), or the fallbacks
// (vocab.json + merges.txt, SentencePiece tokenizer.model, vocab.txt), with the settings of
// tokenizer_config.json and special_tokens_map.json.
// See docs/tokenizer.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vllm {

class TokenizerImpl;

// A sentence pair's encoding: ids and one token type (segment) id per id.
struct PairEncoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

class Tokenizer {
 public:
  // tokenizer.json, or the fallbacks; + tokenizer_config.json, special_tokens_map.json.
  static std::shared_ptr<Tokenizer> from_directory(const std::filesystem::path& dir);
  // A tokenizer.json given as text (tests, tools); `config` plays tokenizer_config.json.
  static std::shared_ptr<Tokenizer> from_json_string(const std::string& tokenizer_json,
                                                     const nlohmann::json& config = nlohmann::json::object(),
                                                     const std::string& source_name = "tokenizer.json");
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // HF `tokenizer(first, text_pair=second)`: both encoded, then joined by the post-processor's
  // pair template (BERT: [CLS] A [SEP] B [SEP], type ids 0 then 1); cross-encoders read this.
  PairEncoding encode_pair(std::string_view first, std::string_view second, bool add_special_tokens = true) const;
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                 bool add_special_tokens = true) const;  // all cores
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  size_t vocab_size() const;  // including added tokens
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // raw vocabulary string ("" for an unknown id)

  std::optional<int32_t> bos_token_id() const;
  std::optional<int32_t> eos_token_id() const;
  std::optional<int32_t> pad_token_id() const;
  const std::string& bos_token() const;  // "" when unset
  const std::string& eos_token() const;
  const std::string& pad_token() const;
  const std::string& unk_token() const;
  bool is_special(int32_t id) const;
  bool is_added_token(int32_t id) const;
  std::optional<size_t> model_max_length() const;
  const nlohmann::json& tokenizer_config() const;  // raw tokenizer_config.json ({} when absent)

  // transformers' convert_tokens_to_string: the decoder applied to token strings (used by the
  // incremental detokenizer, as vLLM does).
  std::string convert_tokens_to_string(const std::vector<std::string>& tokens) const;

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
  std::unique_ptr<TokenizerImpl> impl_;
};

// vLLM's detokenize_incrementally semantics (vllm/transformers_utils/detokenizer_utils.py):
// the text of the last few tokens is decoded again with each new token, and only the part
// past the previous read offset is emitted, never ending in U+FFFD (half a character).
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer, std::span<const int32_t> prompt_ids,
                         bool skip_special_tokens, bool spaces_between_special_tokens);
  std::string add_token(int32_t id);  // returns the newly final text (may be "")
  const std::string& text() const { return text_; }

 private:
  std::string tokens_to_string(size_t begin, size_t end) const;

  std::shared_ptr<const Tokenizer> tokenizer_;
  bool skip_special_tokens_;
  bool spaces_between_special_tokens_;
  std::vector<std::string> tokens_;
  std::vector<bool> token_is_added_;
  size_t prefix_offset_ = 0;
  size_t read_offset_ = 0;
  std::string text_;
};

}  // namespace vllm
