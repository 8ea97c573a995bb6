// Post-processors of tokenizer.json (HF tokenizers/src/processors): add the special tokens
// around an encoded single sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "text/tokenizer/json_util.h"

namespace vllm {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Wraps `ids` (the encoded sequence) when add_special_tokens is on.
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const tokenizer_json::Source& src);
// What transformers builds from add_bos_token / add_eos_token (LlamaTokenizerFast.update_post_processor).
std::unique_ptr<PostProcessor> make_bos_eos_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix);

}  // namespace vllm
