// The parts of a Tokenizer (internal: tokenizer.cpp runs them, loaders.cpp builds them).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "text/tokenizer/added_vocabulary.h"
#include "text/tokenizer/decoders.h"
#include "text/tokenizer/models.h"
#include "text/tokenizer/normalizers.h"
#include "text/tokenizer/post_processors.h"
#include "text/tokenizer/pre_tokenizers.h"
#include "text/tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace vllm {

class TokenizerImpl {
 public:
  std::string source;  // the file the pipeline came from, for messages

  // The tokenizer.json pipeline.
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<TokenizerModel> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;

  // Or a SentencePiece model (tokenizer.model), with transformers' bos/eos rules.
  std::shared_ptr<sentencepiece::SentencePieceProcessor> spm;
  bool spm_add_bos = true;
  bool spm_add_eos = false;

  // tokenizer_config.json / special_tokens_map.json.
  nlohmann::json config = nlohmann::json::object();
  std::string bos, eos, pad, unk;
  std::unordered_set<int32_t> special_ids;  // transformers' all_special_ids: bos/eos/unk/pad/additional
  std::optional<size_t> model_max_length;
  bool clean_up_tokenization_spaces = false;

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;
  std::string tokens_to_string(const std::vector<std::string>& tokens) const;
  size_t vocab_size() const;

  // Reads the special tokens and settings of `config` (and `special_tokens_map`).
  void apply_config(const nlohmann::json& config, const nlohmann::json& special_tokens_map);
};

// loaders.cpp
std::unique_ptr<TokenizerImpl> load_tokenizer_json(const std::string& text, const std::string& source);
std::unique_ptr<TokenizerImpl> load_tokenizer_json(const nlohmann::json& j, const std::string& source);
std::unique_ptr<TokenizerImpl> load_directory(const std::filesystem::path& dir);

// transformers_classes.cpp: rewrites a parsed tokenizer.json the way transformers 5's class named
// by tokenizer_config.json's tokenizer_class rebuilds it (LlamaTokenizer, GPT2Tokenizer); other
// classes keep the file as written.
void apply_transformers_class(nlohmann::json& tokenizer_json, const nlohmann::json& config);

}  // namespace vllm
