// A sentence-transformers model folder read as vLLM reads it (vllm/transformers_utils/config.py:
// get_pooling_config, get_sentence_transformer_tokenizer_config): modules.json names the modules;
// the Pooling module's config.json gives the pooling mode, a Normalize module turns normalisation
// on (its absence off), sentence_bert_config.json's max_seq_length caps max_model_len, and
// config_sentence_transformers.json holds named prompts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "layers/pooler.h"

namespace vllm {

struct SentenceTransformersConfig {
  bool found = false;             // modules.json exists
  PoolerConfig pooler;            // pooling_type and normalize as the modules say
  std::optional<int64_t> max_seq_length;
  std::map<std::string, std::string> prompts;  // config_sentence_transformers.json "prompts"
  std::string default_prompt_name;
  std::vector<DenseProjection> dense;  // the Dense modules after pooling, in order
};

// Reads `dir`. A folder without modules.json gives found = false and nothing else. InvalidArgument
// for malformed files or an unknown pooling mode. A Dense module's weights come from its folder's
// model.safetensors (`linear.weight`, `linear.bias`); NotFound without it (a pytorch_model.bin
// only: convert it to safetensors).
SentenceTransformersConfig read_sentence_transformers(const std::filesystem::path& dir);

}  // namespace vllm
