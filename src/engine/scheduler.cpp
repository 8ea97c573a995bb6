#include "engine/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace vllm {

Scheduler::Scheduler(const VllmConfig& config)
    : config_(config.scheduler),
      max_model_len_(static_cast<int>(config.max_model_len())),
      kv_cache_manager_(config.cache, max_model_len_) {
  // resolve_vllm_config and VllmConfig::set_num_blocks checked these with the user's messages.
  VLLM_ASSERT(max_model_len_ > 0 && config_.max_num_batched_tokens > 0 && config_.max_num_seqs > 0, "budgets");
  VLLM_ASSERT(config_.enable_chunked_prefill || config_.max_num_batched_tokens >= max_model_len_,
              "without chunked prefill a prompt must fit in one step");
  VLLM_ASSERT(kv_cache_manager_.max_blocks_per_request(config_.max_num_batched_tokens) <=
                  kv_cache_manager_.block_pool().num_usable_blocks(),
              "the KV cache cannot hold one request of max_model_len (", max_model_len_, ") tokens");
}

bool Scheduler::before(const Request* a, const Request* b) const {
  if (config_.policy == SchedulingPolicy::PRIORITY) {
    if (a->priority != b->priority) return a->priority < b->priority;
    if (a->arrival_time != b->arrival_time) return a->arrival_time < b->arrival_time;
  }
  return arrival_order_.at(a) < arrival_order_.at(b);
}

void Scheduler::push_waiting(Request* request, bool front) {
  if (config_.policy == SchedulingPolicy::FCFS) {
    if (front) waiting_.push_front(request);
    else waiting_.push_back(request);
    return;
  }
  auto position = std::upper_bound(waiting_.begin(), waiting_.end(), request,
                                   [this](const Request* a, const Request* b) { return before(a, b); });
  waiting_.insert(position, request);
}

Request* Scheduler::peek_waiting() const { return waiting_.front(); }
void Scheduler::pop_waiting() { waiting_.pop_front(); }

void Scheduler::remove_waiting(Request* request) {
  auto it = std::find(waiting_.begin(), waiting_.end(), request);
  if (it != waiting_.end()) waiting_.erase(it);
}

void Scheduler::add_request(std::unique_ptr<Request> request) {
  VLLM_CHECK(request != nullptr, Internal, "add_request(nullptr)");
  VLLM_CHECK(!requests_.count(request->request_id), InvalidArgument, "request id \"",
             request->request_id, "\" is already in use");
  // The input processor checked the prompt against max_model_len with vLLM's messages.
  const int max_len = max_model_len_;
  const int prompt_len = request->num_prompt_tokens();
  VLLM_ASSERT(prompt_len > 0 && prompt_len < max_len && request->num_output_tokens() == 0, "request ",
              request->request_id, ": ", prompt_len, " prompt tokens, max_model_len ", max_len);
  const auto& max_tokens = request->sampling_params.max_tokens;
  VLLM_ASSERT(!max_tokens || static_cast<int64_t>(prompt_len) + *max_tokens <= max_len, "request ",
              request->request_id, ": max_tokens ", *max_tokens, " past max_model_len");
  request->max_tokens = max_tokens ? *max_tokens : max_len - prompt_len;
  request->status = RequestStatus::WAITING;
  Request* raw = request.get();
  arrival_order_[raw] = next_arrival_++;
  requests_.emplace(raw->request_id, std::move(request));
  push_waiting(raw, /*front=*/false);
}

void Scheduler::preempt(Request* request) {
  kv_cache_manager_.free(*request);
  request->status = RequestStatus::PREEMPTED;
  request->num_computed_tokens = 0;
  ++request->num_preemptions;
  push_waiting(request, /*front=*/true);
}

int Scheduler::reserve_blocks(const Request& request) const {
  const int remaining = request.max_tokens - request.num_output_tokens();
  const int tokens = std::max(0, std::min(remaining, config_.admission_reserve_tokens));
  const int block_size = kv_cache_manager_.block_size();
  return (tokens + block_size - 1) / block_size * kv_cache_manager_.num_groups();
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  out.finished_request_ids = std::move(finished_since_last_step_);
  finished_since_last_step_.clear();
  int budget = config_.max_num_batched_tokens;
  const int threshold = config_.long_prefill_token_threshold;
  bool preempted_any = false;

  // Running requests first, in order: each takes what it still needs of the budget.
  size_t index = 0;
  while (index < running_.size() && budget > 0) {
    Request* request = running_[index];
    // A request whose pending token is its last one (max_tokens, max_model_len) waits for it.
    if (request->num_output_placeholders > 0 &&
        (request->num_output_tokens() + request->num_output_placeholders >= request->max_tokens ||
         request->num_tokens() + request->num_output_placeholders >= max_model_len_)) {
      ++index;
      continue;
    }
    int num_new = request->num_tokens() + request->num_output_placeholders - request->num_computed_tokens;
    if (threshold > 0) num_new = std::min(num_new, threshold);
    num_new = std::min(num_new, budget);
    // Positions never reach max_model_len (a no-op unless speculative tokens are added).
    num_new = std::min(num_new, max_model_len_ - 1 - request->num_computed_tokens);
    if (num_new <= 0) {
      ++index;
      continue;
    }
    std::optional<std::vector<std::vector<int32_t>>> new_blocks;
    while (!(new_blocks = kv_cache_manager_.allocate_slots(*request, num_new))) {
      // Out of blocks: preempt the lowest-priority running request (the last one under FCFS),
      // possibly this one, and retry.
      auto victim_it = config_.policy == SchedulingPolicy::PRIORITY
                           ? std::max_element(running_.begin(), running_.end(),
                                              [this](const Request* a, const Request* b) { return before(a, b); })
                           : running_.end() - 1;
      Request* victim = *victim_it;
      size_t victim_index = static_cast<size_t>(victim_it - running_.begin());
      running_.erase(victim_it);
      if (victim_index < index) {  // already scheduled in this step: give its budget back
        auto scheduled = std::find_if(out.scheduled.begin(), out.scheduled.end(),
                                      [victim](const ScheduledRequest& s) { return s.request == victim; });
        VLLM_ASSERT(scheduled != out.scheduled.end(), "preempted request was not scheduled");
        budget += scheduled->num_new_tokens;
        out.scheduled.erase(scheduled);
        --index;
      }
      preempt(victim);
      preempted_any = true;
      out.preempted_request_ids.push_back(victim->request_id);
      if (victim == request) break;
    }
    if (!new_blocks) break;
    ScheduledRequest& s = out.scheduled.emplace_back();
    s.request_id = request->request_id;
    s.request = request;
    s.num_computed_tokens = request->num_computed_tokens;
    s.num_new_tokens = num_new;
    s.new_block_ids = std::move(*new_blocks);
    budget -= num_new;
    ++index;
  }

  // Then waiting requests, while nothing had to be preempted (and, with an admission reserve,
  // while the pool keeps room for the running requests to grow).
  int reserved = 0;
  if (config_.admission_reserve_tokens > 0)
    for (const Request* request : running_) reserved += reserve_blocks(*request);
  while (!preempted_any && !waiting_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Request* request = peek_waiting();
    if (request->num_output_placeholders > 0) break;  // preempted with a token still on its way
    ComputedBlocks hit = kv_cache_manager_.get_computed_blocks(*request);
    int num_new = request->num_tokens() - hit.num_computed_tokens;
    if (threshold > 0) num_new = std::min(num_new, threshold);
    if (!config_.enable_chunked_prefill && num_new > budget) break;
    num_new = std::min(num_new, budget);
    VLLM_ASSERT(num_new > 0, "nothing to compute for waiting request ", request->request_id);
    // With a reserve, the request (its blocks and its own growth) must leave the running
    // requests' reserve intact; checked before allocate_slots, which registers the blocks this
    // step fills in the prefix cache.
    if (config_.admission_reserve_tokens > 0 && !running_.empty() &&
        kv_cache_manager_.num_free_blocks() - kv_cache_manager_.num_blocks_to_allocate(*request, num_new, &hit) <
            reserved + reserve_blocks(*request))
      break;
    auto new_blocks = kv_cache_manager_.allocate_slots(*request, num_new, &hit);
    if (!new_blocks) break;
    reserved += reserve_blocks(*request);
    pop_waiting();
    running_.push_back(request);
    ScheduledRequest& s = out.scheduled.emplace_back();
    s.request_id = request->request_id;
    s.request = request;
    s.is_new = request->status == RequestStatus::WAITING;
    s.is_resumed = request->status == RequestStatus::PREEMPTED;
    request->status = RequestStatus::RUNNING;
    request->num_computed_tokens = hit.num_computed_tokens;
    if (request->num_cached_tokens < 0) request->num_cached_tokens = hit.num_computed_tokens;
    s.num_computed_tokens = request->num_computed_tokens;
    s.num_new_tokens = num_new;
    s.new_block_ids = std::move(*new_blocks);
    budget -= num_new;
  }

  // Advance now (vLLM's _update_after_schedule): the next schedule() may run before the model
  // output of this step is known (asynchronous scheduling); the token this step samples is a
  // placeholder until update_from_output.
  for (ScheduledRequest& s : out.scheduled) {
    Request* request = const_cast<Request*>(s.request);
    request->num_computed_tokens += s.num_new_tokens;
    s.needs_sampling = request->num_computed_tokens == request->num_tokens() + request->num_output_placeholders;
    if (s.needs_sampling) ++request->num_output_placeholders;
    out.total_num_scheduled_tokens += s.num_new_tokens;
  }
  return out;
}

bool Scheduler::check_stop(Request& request) const {
  const SamplingParams& params = request.sampling_params;
  int32_t last = request.output_token_ids().back();
  if (request.num_output_tokens() >= params.min_tokens) {
    if (!params.ignore_eos && request.eos_token_id && last == *request.eos_token_id) {
      request.status = RequestStatus::FINISHED_STOPPED;
      return true;
    }
    if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), last) !=
        params.stop_token_ids.end()) {
      request.status = RequestStatus::FINISHED_STOPPED;
      request.stop_reason = last;
      return true;
    }
  }
  if (request.num_tokens() >= max_model_len_ ||
      request.num_output_tokens() >= request.max_tokens) {
    request.status = RequestStatus::FINISHED_LENGTH_CAPPED;
    return true;
  }
  return false;
}

std::vector<RequestUpdate> Scheduler::update_from_output(
    const SchedulerOutput& out, const std::vector<std::vector<int32_t>>& sampled_token_ids) {
  VLLM_CHECK(sampled_token_ids.size() == out.scheduled.size(), Internal, "update_from_output: ",
             sampled_token_ids.size(), " rows of sampled tokens for ", out.scheduled.size(),
             " scheduled requests");
  std::vector<RequestUpdate> updates;
  std::vector<Request*> finished;
  for (size_t i = 0; i < out.scheduled.size(); ++i) {
    auto it = requests_.find(out.scheduled[i].request_id);
    if (it == requests_.end()) continue;  // finished or aborted meanwhile
    Request* request = it->second.get();
    if (out.scheduled[i].needs_sampling && request->num_output_placeholders > 0) --request->num_output_placeholders;
    const std::vector<int32_t>& tokens = sampled_token_ids[i];
    if (tokens.empty()) continue;
    // A request preempted after this step was queued (asynchronous scheduling) keeps its token:
    // it was computed from the request's KV before the blocks were freed.
    if (request->status != RequestStatus::RUNNING && request->status != RequestStatus::PREEMPTED) continue;
    RequestUpdate& update = updates.emplace_back();
    update.request_id = request->request_id;
    update.num_cached_tokens = std::max(0, request->num_cached_tokens);
    for (int32_t token : tokens) {
      request->append_output_token(token);
      update.new_token_ids.push_back(token);
      if (check_stop(*request)) {
        update.finished = request->status;
        update.stop_reason = request->stop_reason;
        finished.push_back(request);
        break;
      }
    }
  }
  if (!finished.empty()) {
    std::unordered_set<Request*> done(finished.begin(), finished.end());
    std::erase_if(running_, [&](Request* r) { return done.count(r) > 0; });
    std::erase_if(waiting_, [&](Request* r) { return done.count(r) > 0; });  // preempted ones
    for (Request* request : finished) free_request(request);
  }
  return updates;
}

void Scheduler::free_request(Request* request) {
  kv_cache_manager_.free(*request);
  finished_since_last_step_.push_back(request->request_id);
  arrival_order_.erase(request);
  requests_.erase(request->request_id);  // destroys *request
}

void Scheduler::finish_request(const std::string& request_id, RequestStatus status, StopReason stop_reason) {
  VLLM_CHECK(is_finished(status), Internal, "finish_request with status ", request_status_name(status));
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  Request* request = it->second.get();
  if (request->status == RequestStatus::RUNNING) {
    running_.erase(std::find(running_.begin(), running_.end(), request));
  } else {
    remove_waiting(request);
  }
  request->status = status;
  request->stop_reason = std::move(stop_reason);
  free_request(request);
}

bool Scheduler::abort_request(const std::string& request_id) {
  if (!requests_.count(request_id)) return false;
  finish_request(request_id, RequestStatus::FINISHED_ABORTED);
  return true;
}

const Request* Scheduler::get_request(const std::string& request_id) const {
  auto it = requests_.find(request_id);
  return it == requests_.end() ? nullptr : it->second.get();
}

}  // namespace vllm
