// Post-processors of tokenizer.json (HF tokenizers/src/processors): add the special tokens
// around an encoded single sequence or a sentence pair (with the pair's token type ids).
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
  // A sentence pair (HF `tokenizer(text, text_pair)`): `first` and `second` encoded without
  // special tokens -> the pair's ids and one token type id per id.
  virtual void process_pair(const std::vector<int32_t>& first, const std::vector<int32_t>& second,
                            std::vector<int32_t>& ids, std::vector<int32_t>& type_ids) const = 0;
  // Adds nothing (ByteLevel: offsets only); a Sequence skips these for pairs.
  virtual bool adds_nothing() const { return false; }
};

// No post-processor: the two sequences back to back, type ids 0 then 1 (HF's default merge).
void concatenate_pair(const std::vector<int32_t>& first, const std::vector<int32_t>& second,
                      std::vector<int32_t>& ids, std::vector<int32_t>& type_ids);

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const tokenizer_json::Source& src);
// What transformers builds from add_bos_token / add_eos_token (LlamaTokenizerFast.update_post_processor).
std::unique_ptr<PostProcessor> make_bos_eos_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix);

}  // namespace vllm
