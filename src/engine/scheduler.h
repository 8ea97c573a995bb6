// Continuous batching over the paged KV cache (vLLM v1's Scheduler, vllm/v1/core/sched/
// scheduler.py). There are no prefill or decode phases: every step, running requests first and
// then waiting ones each advance num_computed_tokens toward num_tokens within a token budget
// (max_num_batched_tokens) and a sequence budget (max_num_seqs). A long prompt is split across
// steps (chunked prefill); a prefix-cache hit just starts num_computed_tokens further on.
// When the pool runs out of blocks the lowest-priority running request is preempted by
// recomputation: its blocks are freed and it returns to the front of the waiting queue.
//
// One engine step:
//   SchedulerOutput out = scheduler.schedule();
//   ... model runner computes out.scheduled (reads request->all_token_ids(), block_ids) ...
//   ... sampler samples rows with needs_sampling ...
//   auto results = scheduler.update_from_output(out, sampled_token_ids);
// Asynchronous scheduling (vLLM's AsyncScheduler) calls schedule() for step N + 1 before
// update_from_output of step N: a token step N samples is a placeholder
// (Request::num_output_placeholders) that step N + 1 computes at position num_tokens(); a
// request that finishes in step N wastes its row of step N + 1, whose result is dropped.
// Not thread-safe: the engine thread owns the scheduler; other threads hand it requests and
// aborts through queues.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/request.h"

namespace vllm {

// SchedulingPolicy, parse_scheduling_policy and SchedulerConfig live with the rest of the
// resolved configuration in engine/vllm_config.h.

// One request scheduled in a step. `request` may be used until the step is launched; it dies when
// the request finishes or is aborted, which under asynchronous scheduling can happen before this
// step's update_from_output (that looks requests up by id and skips the ones gone).
struct ScheduledRequest {
  std::string request_id;
  const Request* request = nullptr;
  int num_computed_tokens = 0;  // position of the first token computed in this step
  int num_new_tokens = 0;       // tokens computed in this step
  // The full block table per group is request->block_ids; these are the ids added this step.
  std::vector<std::vector<int32_t>> new_block_ids;
  // The step reaches the end of the request's known tokens: sample one token from the logits
  // of its last position. Otherwise (a prefill chunk) no token is sampled.
  bool needs_sampling = false;
  // First time this request runs (resumed: first time since a preemption): model runners that
  // keep per-request state rebuild it.
  bool is_new = false;
  bool is_resumed = false;
};

struct SchedulerOutput {
  std::vector<ScheduledRequest> scheduled;  // running requests first, then newly admitted ones
  int total_num_scheduled_tokens = 0;
  // Requests finished or aborted since the previous step, and those preempted in this step:
  // model runners drop their per-request state.
  std::vector<std::string> finished_request_ids;
  std::vector<std::string> preempted_request_ids;
};

// What one step did to one request, for the output processor (detokenizer, stop strings).
struct RequestUpdate {
  std::string request_id;
  std::vector<int32_t> new_token_ids;
  std::optional<RequestStatus> finished;  // set when the request finished in this step
  StopReason stop_reason;                 // the stop token id, when one stopped it
  int num_cached_tokens = 0;
};

class Scheduler {
 public:
  // Reads the resolved configuration (its scheduler and cache parts and max_model_len), which
  // resolve_vllm_config and VllmConfig::set_num_blocks validated: the invariants are asserted.
  explicit Scheduler(const VllmConfig& config);

  // Takes a request the input processor accepted (engine/input_processor.h: a prompt that
  // leaves room for max_tokens within max_model_len), resolving its max_tokens against
  // max_model_len. Throws InvalidArgument for a duplicate id; the rest is asserted.
  void add_request(std::unique_ptr<Request> request);

  SchedulerOutput schedule();

  // sampled_token_ids[i] holds the tokens sampled for out.scheduled[i] (empty when it needed
  // no sampling). Appends them, finishes requests on EOS / stop token ids / max_tokens /
  // max_model_len, frees finished requests. Returns one update per request that got tokens.
  std::vector<RequestUpdate> update_from_output(const SchedulerOutput& out,
                                                const std::vector<std::vector<int32_t>>& sampled_token_ids);

  // Aborts a waiting or running request and frees its blocks. False when it is not known
  // (finished already).
  bool abort_request(const std::string& request_id);
  // Ends requests with the given status, e.g. FINISHED_STOPPED when the output processor finds
  // a stop string (stop_reason carries the string).
  void finish_request(const std::string& request_id, RequestStatus status, StopReason stop_reason = {});

  const Request* get_request(const std::string& request_id) const;
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  bool has_unfinished_requests() const { return !requests_.empty(); }
  const SchedulerConfig& config() const { return config_; }
  KVCacheManager& kv_cache_manager() { return kv_cache_manager_; }
  const KVCacheManager& kv_cache_manager() const { return kv_cache_manager_; }

 private:
  // Finished with EOS / a stop token / the length limit: sets status and stop_reason.
  bool check_stop(Request& request) const;
  void preempt(Request* request);
  // Blocks request may still need within admission_reserve_tokens more tokens.
  int reserve_blocks(const Request& request) const;
  void free_request(Request* request);
  // The waiting queue: FCFS keeps arrival order with preempted requests in front; PRIORITY
  // orders by (priority, arrival time, arrival order).
  void push_waiting(Request* request, bool front);
  Request* peek_waiting() const;
  void pop_waiting();
  void remove_waiting(Request* request);
  bool before(const Request* a, const Request* b) const;

  SchedulerConfig config_;
  int max_model_len_ = 0;
  KVCacheManager kv_cache_manager_;
  std::unordered_map<std::string, std::unique_ptr<Request>> requests_;
  std::unordered_map<const Request*, uint64_t> arrival_order_;
  uint64_t next_arrival_ = 0;
  std::deque<Request*> waiting_;
  std::vector<Request*> running_;
  std::vector<std::string> finished_since_last_step_;
};

}  // namespace vllm
