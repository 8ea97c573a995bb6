// The pooling runner's part of LLMEngine (issue 25): the pooler config at start-up and one
// pooling step. A pooling request runs its whole prompt in one step (the input processor refused
// prompts longer than max_model_len, and the token budget is at least max_model_len), nothing is
// sampled, and its RequestOutput finishes with `pooling` set.
#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/logging.h"
#include "engine/llm_engine_state.h"
#include "engine/sentence_transformers.h"

namespace vllm {

void LLMEngine::configure_pooling(const EngineArgs& args, const std::filesystem::path& model_dir) {
  VLLM_CHECK(model_->pooler() != nullptr, Unsupported, model_->architecture(),
             " has no pooler: it cannot run with --runner pooling");
  PoolerConfig config;
  const SentenceTransformersConfig st = read_sentence_transformers(model_dir);
  if (st.found) {
    config = st.pooler;
    st_max_seq_length_ = st.max_seq_length;
    model_->set_embedding_projections(st.dense);
  }
  if (!args.pooler_config.empty()) {
    const PoolerConfig flags = PoolerConfig::parse(args.pooler_config);
    if (flags.pooling_type) config.pooling_type = flags.pooling_type;
    if (flags.normalize) config.normalize = flags.normalize;
    if (flags.activation) config.activation = flags.activation;
    if (flags.dimensions) config.dimensions = flags.dimensions;
    if (flags.step_tag_id) config.step_tag_id = flags.step_tag_id;
    if (flags.returned_token_ids) config.returned_token_ids = flags.returned_token_ids;
  }
  model_->set_pooler_config(config);
  const PoolerSpec spec = model_->pooler_spec();
  const std::vector<PoolingTask> tasks = model_->pooling_tasks();
  const bool per_token = spec.type == PoolingType::All || spec.type == PoolingType::Step;
  const bool classifies = std::find(tasks.begin(), tasks.end(), PoolingTask::Classify) != tasks.end() ||
                          std::find(tasks.begin(), tasks.end(), PoolingTask::Score) != tasks.end();
  VLLM_CHECK(!per_token || !classifies, InvalidArgument, "--pooler-config: pooling_type ",
             pooling_type_name(spec.type), " keeps one row per token, but ", model_->architecture(),
             " classifies one row per sequence (use CLS, MEAN or LAST)");
  log_info("pooling model: ", pooling_type_name(spec.type), " pooling", spec.normalize ? ", normalized" : "",
           spec.softmax ? ", softmax" : "", spec.sigmoid ? ", sigmoid" : "");
}

void LLMEngine::pooling_step(std::vector<RequestOutput>& outputs) {
  const int64_t token_budget = config_.scheduler.max_num_batched_tokens;
  const int64_t max_seqs = config_.scheduler.max_num_seqs;
  std::vector<RequestState*> batch;
  std::vector<PoolingSequence> sequences;
  int64_t tokens = 0;
  while (!pooling_waiting_.empty() && static_cast<int64_t>(batch.size()) < max_seqs) {
    RequestState* state = requests_.at(pooling_waiting_.front()).get();
    const int64_t length = static_cast<int64_t>(state->request.prompt_token_ids.size());
    if (!batch.empty() && tokens + length > token_budget) break;
    VLLM_ASSERT(length <= token_budget, "pooling request ", state->request.request_id, " of ", length,
                " tokens past the step's budget of ", token_budget);
    pooling_waiting_.pop_front();
    tokens += length;
    batch.push_back(state);
    sequences.push_back({state->request.prompt_token_ids, state->request.token_type_ids, *state->request.pooling});
  }
  if (batch.empty()) return;
  const double start = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (RequestState* state : batch) state->metrics.first_scheduled_time = start;
  std::vector<Tensor> pooled = runner_->execute_pooling(sequences);
  for (size_t i = 0; i < batch.size(); ++i) {
    const Tensor result = pooled[i].to(Device::cpu()).contiguous();
    PoolingOutput output;
    output.shape = result.shape();
    output.data.assign(result.data<float>(), result.data<float>() + result.numel());
    batch[i]->pooled = std::move(output);
    batch[i]->metrics.first_token_time = batch[i]->metrics.last_token_time =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    finish_state(*batch[i], outputs);
  }
}

}  // namespace vllm
