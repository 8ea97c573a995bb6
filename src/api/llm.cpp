#include "api/llm.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace vllm {

LLM::LLM(const EngineArgs& args)
    : engine_(std::make_unique<LLMEngine>(args)),
      chat_template_override_(args.chat_template),
      chat_template_content_format_(args.chat_template_content_format) {}

SamplingParams LLM::default_sampling_params() const {
  SamplingParams params;
  engine_->apply_generation_defaults(params);
  return params;
}

std::vector<RequestOutput> LLM::run(std::vector<EngineRequest> requests) {
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < requests.size(); ++i) order[requests[i].request_id] = i;
  std::vector<RequestOutput> results(requests.size());
  size_t remaining = requests.size();
  try {
    for (EngineRequest& request : requests) {
      request.params.output_kind = SamplingParams::OutputKind::FinalOnly;  // as vLLM's LLM: only finished outputs
      engine_->add_request(std::move(request));
    }
    while (remaining > 0 && engine_->has_unfinished_requests()) {
      for (RequestOutput& output : engine_->step()) {
        if (!output.finished) continue;
        results[order.at(output.request_id)] = std::move(output);
        --remaining;
      }
    }
  } catch (...) {
    for (const auto& [id, index] : order) engine_->abort_request(id);  // leave the engine clean
    throw;
  }
  return results;
}

std::vector<RequestOutput> LLM::generate(const std::vector<std::string>& prompts, const SamplingParams& params) {
  std::vector<EngineRequest> requests;
  for (const std::string& prompt : prompts) {
    EngineRequest request;
    request.request_id = std::to_string(next_id_++);
    request.prompt = prompt;
    request.prompt_token_ids = engine_->encode(prompt);
    request.params = params;
    request.apply_generation_config = false;
    requests.push_back(std::move(request));
  }
  return run(std::move(requests));
}

std::vector<RequestOutput> LLM::generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                         const SamplingParams& params) {
  return generate(prompt_token_ids, std::vector<SamplingParams>(prompt_token_ids.size(), params));
}

std::vector<RequestOutput> LLM::generate(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                         const std::vector<SamplingParams>& params) {
  VLLM_CHECK(params.size() == prompt_token_ids.size(), InvalidArgument, "generate: ", params.size(),
             " sampling params for ", prompt_token_ids.size(), " prompts (give one, or one per prompt)");
  std::vector<EngineRequest> requests;
  for (size_t i = 0; i < prompt_token_ids.size(); ++i) {
    EngineRequest request;
    request.request_id = std::to_string(next_id_++);
    request.prompt_token_ids = prompt_token_ids[i];
    request.params = params[i];
    request.apply_generation_config = false;
    requests.push_back(std::move(request));
  }
  return run(std::move(requests));
}

std::vector<RequestOutput> LLM::chat(const std::vector<nlohmann::json>& conversations, const SamplingParams& params,
                                     const ChatTemplateOptions& options) {
  ChatTemplate chat_template = ChatTemplate::from_directory(engine_->model_dir(), chat_template_override_);
  chat_template.set_content_format(chat_template_content_format_);
  std::vector<EngineRequest> requests;
  for (const nlohmann::json& messages : conversations) {
    EngineRequest request;
    request.request_id = std::to_string(next_id_++);
    request.prompt = chat_template.render(messages, options);
    // The template already wrote the special tokens (transformers tokenizes without adding them).
    request.prompt_token_ids = engine_->encode(request.prompt, /*add_special_tokens=*/false);
    request.params = params;
    request.apply_generation_config = false;
    requests.push_back(std::move(request));
  }
  return run(std::move(requests));
}

std::vector<std::vector<int32_t>> LLM::encode_all(const std::vector<std::string>& prompts) const {
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& prompt : prompts) ids.push_back(engine_->encode(prompt));
  return ids;
}

std::vector<RequestOutput> LLM::run_pooling(const std::vector<std::vector<int32_t>>& prompts,
                                            const PoolingRequestSpec& params,
                                            const std::vector<std::vector<int32_t>>& token_type_ids) {
  VLLM_CHECK(engine_->is_pooling(), InvalidArgument, "LLM.", pooling_task_name(params.task),
             "() is only supported for pooling models; try passing `--runner pooling` to use the model as a pooling "
             "model");
  std::vector<EngineRequest> requests;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EngineRequest request;
    request.request_id = std::to_string(next_id_++);
    request.prompt_token_ids = prompts[i];
    request.pooling = params;
    if (i < token_type_ids.size()) request.token_type_ids = token_type_ids[i];
    requests.push_back(std::move(request));
  }
  return run(std::move(requests));
}

namespace {

template <typename Output>
Output pooled_output(const RequestOutput& out) {
  Output result;
  result.request_id = out.request_id;
  result.prompt_token_ids = out.prompt_token_ids;
  result.finished = out.finished;
  return result;
}

std::vector<PoolingRequestOutput> to_pooling(const std::vector<RequestOutput>& outputs) {
  std::vector<PoolingRequestOutput> results;
  for (const RequestOutput& out : outputs) {
    PoolingRequestOutput result = pooled_output<PoolingRequestOutput>(out);
    if (out.pooling) result.outputs = *out.pooling;
    results.push_back(std::move(result));
  }
  return results;
}

std::vector<float> data_of(const RequestOutput& out) { return out.pooling ? out.pooling->data : std::vector<float>{}; }

}  // namespace

std::vector<EmbeddingRequestOutput> LLM::embed(const std::vector<std::string>& prompts, PoolingRequestSpec params) {
  return embed(encode_all(prompts), params);
}

std::vector<EmbeddingRequestOutput> LLM::embed(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                               PoolingRequestSpec params) {
  params.task = PoolingTask::Embed;
  std::vector<EmbeddingRequestOutput> results;
  for (const RequestOutput& out : run_pooling(prompt_token_ids, params)) {
    EmbeddingRequestOutput result = pooled_output<EmbeddingRequestOutput>(out);
    result.outputs.embedding = data_of(out);
    results.push_back(std::move(result));
  }
  return results;
}

std::vector<ClassificationRequestOutput> LLM::classify(const std::vector<std::string>& prompts,
                                                       PoolingRequestSpec params) {
  return classify(encode_all(prompts), params);
}

std::vector<ClassificationRequestOutput> LLM::classify(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                                       PoolingRequestSpec params) {
  params.task = PoolingTask::Classify;
  std::vector<ClassificationRequestOutput> results;
  for (const RequestOutput& out : run_pooling(prompt_token_ids, params)) {
    ClassificationRequestOutput result = pooled_output<ClassificationRequestOutput>(out);
    result.outputs.probs = data_of(out);
    results.push_back(std::move(result));
  }
  return results;
}

std::vector<ScoringRequestOutput> LLM::score(const std::vector<std::string>& data_1,
                                             const std::vector<std::string>& data_2, PoolingRequestSpec params) {
  // vLLM's _validate_score_input: 1:1, 1:N or N:N.
  VLLM_CHECK(!data_1.empty() && !data_2.empty(), InvalidArgument, "score: both inputs need at least one text");
  VLLM_CHECK(data_1.size() == 1 || data_1.size() == data_2.size(), InvalidArgument,
             "score: the first input has ", data_1.size(), " texts and the second ", data_2.size(),
             "; give one first text, or as many as second texts");
  std::vector<std::string> firsts = data_1.size() == 1 ? std::vector<std::string>(data_2.size(), data_1[0]) : data_1;
  const std::vector<PoolingTask>& tasks = engine_->model_info().pooling_tasks;
  const bool cross_encoder = std::find(tasks.begin(), tasks.end(), PoolingTask::Score) != tasks.end();
  std::vector<ScoringRequestOutput> results;
  if (cross_encoder) {
    std::vector<std::vector<int32_t>> pairs, types;
    for (size_t i = 0; i < firsts.size(); ++i) {
      PairEncoding pair = engine_->encode_pair(firsts[i], data_2[i]);
      pairs.push_back(std::move(pair.ids));
      types.push_back(std::move(pair.type_ids));
    }
    params.task = PoolingTask::Score;
    for (const RequestOutput& out : run_pooling(pairs, params, types)) {
      ScoringRequestOutput result = pooled_output<ScoringRequestOutput>(out);
      const std::vector<float> data = data_of(out);
      VLLM_CHECK(data.size() == 1, InvalidArgument, "score: the model gives ", data.size(),
                 " values per pair; a cross-encoder scores with one label");
      result.outputs.score = data[0];
      results.push_back(std::move(result));
    }
    return results;
  }
  VLLM_CHECK(std::find(tasks.begin(), tasks.end(), PoolingTask::Embed) != tasks.end(), InvalidArgument,
             "score is only supported for cross-encoders and embedding models");
  // An embedding model: cosine similarity of the two texts' embeddings (vLLM's _embedding_score).
  std::vector<EmbeddingRequestOutput> left = embed(firsts, params), right = embed(data_2, params);
  for (size_t i = 0; i < left.size(); ++i) {
    const std::vector<float>& a = left[i].outputs.embedding;
    const std::vector<float>& b = right[i].outputs.embedding;
    double dot = 0, na = 0, nb = 0;
    for (size_t h = 0; h < a.size() && h < b.size(); ++h) {
      dot += static_cast<double>(a[h]) * b[h];
      na += static_cast<double>(a[h]) * a[h];
      nb += static_cast<double>(b[h]) * b[h];
    }
    ScoringRequestOutput result;
    result.request_id = left[i].request_id + "_" + right[i].request_id;
    result.prompt_token_ids = right[i].prompt_token_ids;
    result.finished = true;
    result.outputs.score = static_cast<float>(dot / std::max(std::sqrt(na) * std::sqrt(nb), 1e-8));
    results.push_back(std::move(result));
  }
  return results;
}

std::vector<PoolingRequestOutput> LLM::reward(const std::vector<std::string>& prompts, PoolingRequestSpec params) {
  return encode(prompts, params);
}

std::vector<PoolingRequestOutput> LLM::encode(const std::vector<std::string>& prompts, PoolingRequestSpec params) {
  return encode(encode_all(prompts), params);
}

std::vector<PoolingRequestOutput> LLM::encode(const std::vector<std::vector<int32_t>>& prompt_token_ids,
                                              PoolingRequestSpec params) {
  params.task = PoolingTask::Encode;
  return to_pooling(run_pooling(prompt_token_ids, params));
}

}  // namespace vllm
