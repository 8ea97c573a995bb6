// One generation request as the scheduler and the KV-cache manager see it (vLLM's
// vllm/v1/request.py). Owned by the Scheduler from add_request until it finishes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "engine/kv_cache_utils.h"
#include "engine/sampling_params.h"
#include "multimodal/processor.h"

namespace vllm {

enum class RequestStatus {
  WAITING,
  RUNNING,
  PREEMPTED,
  FINISHED_STOPPED,        // EOS, a stop token id or a stop string
  FINISHED_LENGTH_CAPPED,  // max_tokens or max_model_len reached
  FINISHED_ABORTED,        // aborted by the client or the engine
};

inline bool is_finished(RequestStatus status) { return status >= RequestStatus::FINISHED_STOPPED; }
const char* request_status_name(RequestStatus status);

// OpenAI's finish_reason: "stop", "length", "abort"; nullptr while not finished.
const char* finish_reason(RequestStatus status);

// Why a request stopped, as vLLM's stop_reason: none (EOS, length), the stop token id, or the
// stop string.
using StopReason = std::variant<std::monostate, int32_t, std::string>;

// A request's own random generator: a request with a seed draws only from it, so its samples do
// not depend on which other requests share the batch.
using SamplingGenerator = std::mt19937_64;

class Request {
 public:
  Request(std::string request_id, std::vector<int32_t> prompt_token_ids, SamplingParams params,
          std::optional<int32_t> eos_token_id = std::nullopt, int priority = 0,
          double arrival_time = 0.0, std::string cache_salt = {});

  const std::string request_id;
  const SamplingParams sampling_params;
  const std::optional<int32_t> eos_token_id;  // none when the model has none
  const int priority;                          // lower is served first ("priority" policy)
  const double arrival_time;
  // Mixed into the first block's hash: requests with different salts (or LoRA adapters) never
  // share cached KV (vLLM's cache_salt).
  const std::string cache_salt;

  RequestStatus status = RequestStatus::WAITING;
  // Tokens whose KV is in the cache (or is being computed in the current step).
  int num_computed_tokens = 0;
  // Tokens sampled by a step whose result the host has not seen yet (asynchronous scheduling:
  // the next step is scheduled while the device still computes this one). Each counts as a
  // token to compute; its id reaches the device's input without passing through the host.
  int num_output_placeholders = 0;
  // Prompt tokens found in the prefix cache when first scheduled (-1: not scheduled yet).
  int num_cached_tokens = -1;
  int num_preemptions = 0;
  // max_tokens resolved against max_model_len by the scheduler.
  int max_tokens = 0;
  StopReason stop_reason;
  // Per-request generator, present when sampling_params.seed is set.
  std::optional<SamplingGenerator> generator;
  // Structured outputs: the sequence's place in its grammar (sampling_params.grammar), advanced
  // by every output token; the sampler masks the tokens it does not allow.
  std::optional<structured::GrammarMatcher> grammar_matcher;
  // False while the grammar waits for sampling_params.structured_outputs_after_ids (reasoning):
  // until then the matcher neither masks nor advances.
  bool grammar_active = true;
  // Multimodal prompts: the items and their placeholder ranges (the model runner's encoder
  // stage), and their hashes as extra keys of the blocks they cover (set_mm_items fills both).
  mm::MultiModalItems mm_items;
  std::vector<BlockExtraKey> mm_block_keys;
  void set_mm_items(mm::MultiModalItems items) {
    mm_items = std::move(items);
    mm_block_keys.clear();
    if (mm_items)
      for (const mm::MultiModalItem& item : *mm_items)
        mm_block_keys.push_back({item.offset, item.offset + item.length, item.hash});
  }

  // Owned by the KVCacheManager: the block table of each KV-cache group (block ids into the
  // shared pool; BlockPool::kNullBlockId where a sliding window dropped a block), how many of
  // those are registered in the prefix cache, and the hashes of the request's full blocks.
  std::vector<std::vector<int32_t>> block_ids;  // [num_groups][num_blocks]
  std::vector<int> num_cached_blocks;           // [num_groups]
  std::vector<BlockHash> block_hashes;
  // The recurrent-state slot (models with state layers) while the request runs; -1: none.
  int32_t state_slot = -1;

  int num_prompt_tokens() const { return num_prompt_tokens_; }
  int num_tokens() const { return static_cast<int>(token_ids_.size()); }
  int num_output_tokens() const { return num_tokens() - num_prompt_tokens_; }
  std::span<const int32_t> all_token_ids() const { return token_ids_; }
  std::span<const int32_t> prompt_token_ids() const {
    return std::span<const int32_t>(token_ids_).first(num_prompt_tokens_);
  }
  std::span<const int32_t> output_token_ids() const {
    return std::span<const int32_t>(token_ids_).subspan(num_prompt_tokens_);
  }
  void append_output_token(int32_t token_id) {
    token_ids_.push_back(token_id);
    if (!grammar_matcher) return;
    if (!grammar_active) grammar_active = ends_with(output_token_ids(), sampling_params.structured_outputs_after_ids);
    else if (!grammar_matcher->is_terminated()) grammar_matcher->accept_token(token_id);
  }

 private:
  static bool ends_with(std::span<const int32_t> tokens, std::span<const int32_t> suffix) {
    return tokens.size() >= suffix.size() && std::equal(suffix.begin(), suffix.end(), tokens.end() - suffix.size());
  }

  std::vector<int32_t> token_ids_;  // prompt then output
  int num_prompt_tokens_;
};

}  // namespace vllm
