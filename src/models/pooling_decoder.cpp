#include "models/pooling_decoder.h"

#include <algorithm>

#include "core/error.h"
#include "core/logging.h"
#include "ops/ops.h"

namespace vllm {

namespace {

PoolerSpec embedding_pooler() {
  PoolerSpec spec;
  spec.type = PoolingType::Last;
  spec.normalize = true;
  return spec;
}

// The checkpoint's decoder has no lm_head to read (or one the pooling model drops): the spec ties
// it to the embedding, which reads nothing, and a stored lm_head is ignored.
void drop_lm_head(DecoderSpec& spec) {
  spec.tie_word_embeddings = true;
  spec.weights.ignored_prefixes.push_back("lm_head.");
}

}  // namespace

PoolingDecoder::PoolingDecoder(DecoderSpec spec, const ModelLoadOptions& options, PoolingDecoderOptions pooling)
    : GenericDecoder(
          [&] {
            if (pooling.base_model_names) {
              // Qwen2Model / Qwen3Model / Gemma2Model checkpoints: the decoder's names without `model.`.
              auto& renames = spec.weights.renames;
              renames.insert(renames.begin(), {{"^embed_tokens.", "model.embed_tokens."},
                                               {"^layers.", "model.layers."},
                                               {"^norm.", "model.norm."}});
            }
            if (pooling.head != PoolingHeadKind::LMHead && pooling.classifier_from_token_ids.empty())
              drop_lm_head(spec);
            if (pooling.bidirectional) spec.causal = false;
            return spec;
          }(),
          options,
          [&](WeightLoader& loader) {
            const int64_t hidden = spec.hidden_size;
            const Device cpu = Device::cpu();  // heads run on the host over pooled rows
            if (pooling.head == PoolingHeadKind::Linear && pooling.classifier_from_token_ids.empty()) {
              first = Linear::load(loader, pooling.head_prefix, hidden, pooling.num_labels, pooling.head_bias, cpu);
            } else if (pooling.head == PoolingHeadKind::RewardMLP) {
              first = Linear::load(loader, pooling.head_prefix + ".0", hidden, hidden, true, cpu);
              second = Linear::load(loader, pooling.head_prefix + ".2", hidden, pooling.num_labels, true, cpu);
            }
          }),
      pooling_(std::move(pooling)),
      pooler_(pooling_.pooler) {
  if (!pooling_.classifier_from_token_ids.empty()) {
    // Rows of the language-model head as the classifier (vLLM's load_weights_using_from_2_way_softmax
    // and no_post_processing): the model is then a classifier over those tokens' logits.
    const Tensor table = lm_head().weight.to(Device::cpu()).to(DType::F32).contiguous();
    const int64_t hidden = table.size(1);
    auto row = [&](int32_t token) {
      VLLM_CHECK(token >= 0 && token < table.size(0), InvalidArgument, "classifier_from_token: token id ", token,
                 " is outside the vocabulary of ", table.size(0));
      return table.data<float>() + static_cast<int64_t>(token) * hidden;
    };
    const std::vector<int32_t>& tokens = pooling_.classifier_from_token_ids;
    const int64_t labels = pooling_.from_2_way_softmax ? 1 : static_cast<int64_t>(tokens.size());
    Tensor weight = Tensor::empty({labels, hidden}, DType::F32);
    float* out = weight.data<float>();
    if (pooling_.from_2_way_softmax) {
      VLLM_CHECK(tokens.size() == 2, InvalidArgument, "from_2_way_softmax needs two classifier_from_token entries");
      const float *no = row(tokens[0]), *yes = row(tokens[1]);
      for (int64_t h = 0; h < hidden; ++h) out[h] = yes[h] - no[h];
    } else {
      for (size_t i = 0; i < tokens.size(); ++i) std::copy(row(tokens[i]), row(tokens[i]) + hidden, out + i * hidden);
    }
    first.weight = weight;
  }
}

namespace {

// The first index i >= start (and < end) where `pattern` occurs in `ids`; -1 when none.
int64_t find_pattern(const std::vector<int32_t>& ids, const std::vector<int32_t>& pattern, int64_t start,
                     int64_t end = -1) {
  const int64_t n = static_cast<int64_t>(ids.size()), m = static_cast<int64_t>(pattern.size());
  const int64_t last = std::min(end < 0 ? n : end, n - m + 1);
  for (int64_t i = start; i < last; ++i)
    if (std::equal(pattern.begin(), pattern.end(), ids.begin() + i)) return i;
  return -1;
}

}  // namespace

int64_t gritlm_instruction_length(const PoolingDecoderOptions::GritLMPatterns& patterns,
                                  const std::vector<int32_t>& ids) {
  if (ids.empty() || ids[0] != patterns.bos) {
    log_warning("GritLM: the prompt does not start with BOS; pooling every token (GritLM expects BOS)");
    return 0;
  }
  const bool user = find_pattern(ids, patterns.user, 1, 2) == 1;
  const std::vector<int32_t>& embed = user ? patterns.embed_newline : patterns.embed;
  const int64_t found = find_pattern(ids, embed, 1);
  if (found < 0) {
    log_warning("GritLM: no embed instruction in the prompt; pooling every token after BOS");
    return 1;
  }
  return found + static_cast<int64_t>(embed.size());
}

std::vector<Tensor> PoolingDecoder::pool(const Tensor& hidden, const PoolingBatch& batch) const {
  if (!pooling_.gritlm || pooler_spec().type != PoolingType::Mean) return Model::pool(hidden, batch);
  VLLM_CHECK(batch.token_ids.defined(), Internal, "GritLM pooling needs the prompts' token ids");
  const Tensor ids = batch.token_ids.to(Device::cpu()).contiguous();
  // Embed requests keep the rows after their instruction; encode requests keep every row.
  PoolingBatch kept = batch;
  kept.query_start = {0};
  std::vector<int32_t> rows, kept_ids;
  for (size_t b = 0; b + 1 < batch.query_start.size(); ++b) {
    const int64_t begin = batch.query_start[b], end = batch.query_start[b + 1];
    int64_t skip = 0;
    if (batch.requests[b].task == PoolingTask::Embed) {
      const std::vector<int32_t> prompt(ids.data<int32_t>() + begin, ids.data<int32_t>() + end);
      skip = gritlm_instruction_length(*pooling_.gritlm, prompt);
      VLLM_CHECK(skip < end - begin, InvalidArgument,
                 "GritLM: the prompt has no tokens after its embed instruction to pool");
    }
    for (int64_t r = begin + skip; r < end; ++r) {
      rows.push_back(static_cast<int32_t>(r));
      kept_ids.push_back(ids.data<int32_t>()[r]);
    }
    kept.query_start.push_back(static_cast<int64_t>(rows.size()));
  }
  const int64_t count = static_cast<int64_t>(rows.size());
  Tensor selected = Tensor::empty({count, hidden.size(1)}, DType::F32, hidden.device());
  ops::gather_rows(hidden, Tensor::from_ints(rows, {count}).to(hidden.device()), selected);
  kept.token_ids = Tensor::from_ints(kept_ids, {count});
  return Model::pool(selected, kept);
}

Tensor PoolingDecoder::pooling_head(const Tensor& rows) const {
  switch (pooling_.head) {
    case PoolingHeadKind::None: return rows;
    case PoolingHeadKind::Linear: return first.forward(rows);
    case PoolingHeadKind::RewardMLP: {
      Tensor inner = first.forward(rows).contiguous();
      float* data = inner.data<float>();
      for (int64_t i = 0; i < inner.numel(); ++i) data[i] = std::max(data[i], 0.0f);
      return second.forward(inner);
    }
    case PoolingHeadKind::LMHead: {
      Tensor device_rows = rows.to(device());
      return compute_logits(device_rows).to(Device::cpu());
    }
  }
  return rows;
}

namespace {

PoolingDecoderOptions convert_options(const std::string& convert, const ModelConfig& config) {
  PoolingDecoderOptions pooling;
  if (convert == "embed") {
    pooling.pooler = embedding_pooler();
    pooling.tasks = {PoolingTask::Encode, PoolingTask::Embed};
  } else if (convert == "classify") {
    pooling.head = PoolingHeadKind::Linear;
    const nlohmann::json& raw = config.raw();
    if (raw.contains("classifier_from_token")) {
      VLLM_CHECK(raw.contains("classifier_from_token_ids"), InvalidArgument, config.source(),
                 ": classifier_from_token needs the tokenizer to find the tokens' ids (do not pass "
                 "--skip-tokenizer-init)");
      pooling.classifier_from_token_ids = raw["classifier_from_token_ids"].get<std::vector<int32_t>>();
      pooling.from_2_way_softmax = pooling.classifier_from_token_ids.size() == 2 &&
                                   (config.get_bool("is_original_qwen3_reranker", false) ||
                                    config.get_string("method", "") == "from_2_way_softmax");
      pooling.num_labels = pooling.from_2_way_softmax ? 1 : static_cast<int64_t>(pooling.classifier_from_token_ids.size());
    } else {
      pooling.num_labels = config_num_labels(config);
    }
    pooling.pooler = classifier_pooler(config, PoolingType::Last, pooling.num_labels);
    pooling.tasks = {PoolingTask::Classify, PoolingTask::Score};
  } else if (convert == "reward") {
    // vLLM's LlamaForCausalLM process reward models (math-shepherd): STEP pooling over the
    // logits, step_tag_id and returned_token_ids from --pooler-config, no activation by default.
    pooling.head = PoolingHeadKind::LMHead;
    pooling.pooler.type = PoolingType::Step;
    pooling.tasks = {PoolingTask::Encode};
  } else {
    fail(ErrorKind::InvalidArgument, "--convert ", convert, " is not supported (auto, none, embed, classify, reward)");
  }
  return pooling;
}

}  // namespace

std::unique_ptr<Model> build_converted_decoder(const ArchitectureInfo& info, const ModelConfig& config,
                                               const ModelLoadOptions& options) {
  VLLM_CHECK(info.decoder_spec != nullptr, Unsupported, info.name, " cannot be served with --convert ",
             options.convert, " (only decoders the generic decoder builds can)");
  if (options.convert == "embed" && info.pooling_build) return info.pooling_build(config, options);
  PoolingDecoderOptions pooling = convert_options(options.convert, config);
  pooling.bidirectional = !config.get_bool("is_causal", true);
  return std::make_unique<PoolingDecoder>(info.decoder_spec(config), options, std::move(pooling));
}

namespace {

// A pooling architecture over a registered decoder's spec.
ArchitectureInfo pooling_architecture(std::string name, std::string decoder, Task task,
                                      PoolingDecoderOptions (*make)(const ModelConfig&)) {
  ArchitectureInfo info;
  info.name = name;
  info.family = decoder;
  info.tasks = {task};
  info.build = [name, decoder, make](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
    const ArchitectureInfo* base = ModelRegistry::find(decoder);
    VLLM_CHECK(base && base->decoder_spec, Internal, decoder, " is not a registered decoder");
    DecoderSpec spec = base->decoder_spec(config);
    spec.architecture = name;
    PoolingDecoderOptions pooling = make(config);
    pooling.bidirectional = !config.get_bool("is_causal", true);
    return std::make_unique<PoolingDecoder>(std::move(spec), options, std::move(pooling));
  };
  return info;
}

PoolingDecoderOptions base_embedder(const ModelConfig&) {
  PoolingDecoderOptions pooling;
  pooling.pooler = embedding_pooler();
  pooling.tasks = {PoolingTask::Encode, PoolingTask::Embed};
  pooling.base_model_names = true;
  return pooling;
}

PoolingDecoderOptions sequence_classifier(const ModelConfig& config) {
  if (config.has("classifier_from_token")) return convert_options("classify", config);
  PoolingDecoderOptions pooling;
  pooling.head = PoolingHeadKind::Linear;
  pooling.num_labels = config_num_labels(config);
  pooling.pooler = classifier_pooler(config, PoolingType::Last, pooling.num_labels);
  pooling.tasks = {PoolingTask::Classify, PoolingTask::Score};
  return pooling;
}

PoolingDecoderOptions qwen2_reward(const ModelConfig& config) {
  PoolingDecoderOptions pooling;
  pooling.head = PoolingHeadKind::RewardMLP;
  pooling.num_labels = config.get_int("num_labels", 1);
  pooling.pooler.type = PoolingType::All;
  pooling.tasks = {PoolingTask::Encode};
  return pooling;
}

// Qwen2.5-Math-PRM: STEP pooling at the step tag <extra_0> (151651), softmax over the two labels.
PoolingDecoderOptions qwen2_process_reward(const ModelConfig& config) {
  PoolingDecoderOptions pooling = qwen2_reward(config);
  pooling.num_labels = config.get_int("num_labels", 2);
  pooling.pooler.type = PoolingType::Step;
  pooling.pooler.step_tag_id = 151651;
  pooling.pooler.softmax = true;
  return pooling;
}

PoolingDecoderOptions internlm2_reward(const ModelConfig&) {
  PoolingDecoderOptions pooling;
  pooling.head = PoolingHeadKind::Linear;
  pooling.head_prefix = "v_head";
  pooling.num_labels = 1;
  pooling.pooler.type = PoolingType::All;
  pooling.tasks = {PoolingTask::Encode};
  return pooling;
}

// GritLM (parasail-ai/GritLM-7B-vllm, vLLM's LlamaForCausalLM subclass): Llama exactly under the
// generate runner; under the pooling runner bidirectional attention without a sliding window,
// MEAN pooling past the instruction, normalised (embed), or every token (encode).
DecoderSpec gritlm_spec(const ModelConfig& config) {
  const ArchitectureInfo* llama = ModelRegistry::find("LlamaForCausalLM");
  VLLM_CHECK(llama && llama->decoder_spec, Internal, "LlamaForCausalLM is not a registered decoder");
  DecoderSpec spec = llama->decoder_spec(config);
  spec.architecture = "GritLM";
  return spec;
}

std::unique_ptr<Model> build_gritlm_embedder(const ModelConfig& config, const ModelLoadOptions& options) {
  PoolingDecoderOptions pooling;
  pooling.pooler.type = PoolingType::Mean;
  pooling.pooler.normalize = true;
  pooling.tasks = {PoolingTask::Encode, PoolingTask::Embed};
  pooling.bidirectional = true;
  const nlohmann::json& raw = config.raw();
  VLLM_CHECK(raw.contains("gritlm_token_ids") && raw["gritlm_token_ids"].is_array() &&
                 raw["gritlm_token_ids"].size() == std::size(kGritLMTokens),
             InvalidArgument, config.source(),
             ": GritLM's embedding pooler finds its instruction with the tokenizer (do not pass --skip-tokenizer-init)");
  const std::vector<int32_t> id = raw["gritlm_token_ids"].get<std::vector<int32_t>>();
  // kGritLMTokens: <s>, ▁<, <, |, embed, >, <0x0A>, user.
  PoolingDecoderOptions::GritLMPatterns patterns;
  patterns.bos = id[0];
  patterns.user = {id[1], id[3], id[7], id[3], id[5], id[6]};
  patterns.embed = {id[1], id[3], id[4], id[3], id[5], id[6]};
  patterns.embed_newline = {id[6], id[2], id[3], id[4], id[3], id[5], id[6]};
  pooling.gritlm = patterns;
  return std::make_unique<PoolingDecoder>(gritlm_spec(config), options, std::move(pooling));
}

ArchitectureInfo gritlm_architecture() {
  ArchitectureInfo info = decoder_architecture("GritLM", "llama", gritlm_spec);
  info.tasks = {Task::Generate, Task::Embed};
  info.pooling_build = build_gritlm_embedder;
  return info;
}

ModelRegistrar gritlm{gritlm_architecture()};
ModelRegistrar qwen2_model{pooling_architecture("Qwen2Model", "Qwen2ForCausalLM", Task::Embed, base_embedder)};
ModelRegistrar qwen3_model{pooling_architecture("Qwen3Model", "Qwen3ForCausalLM", Task::Embed, base_embedder)};
ModelRegistrar gemma2_model{pooling_architecture("Gemma2Model", "Gemma2ForCausalLM", Task::Embed, base_embedder)};
ModelRegistrar qwen2_cls{
    pooling_architecture("Qwen2ForSequenceClassification", "Qwen2ForCausalLM", Task::Classify, sequence_classifier)};
ModelRegistrar qwen3_cls{
    pooling_architecture("Qwen3ForSequenceClassification", "Qwen3ForCausalLM", Task::Classify, sequence_classifier)};
ModelRegistrar gpt2_cls{
    pooling_architecture("GPT2ForSequenceClassification", "GPT2LMHeadModel", Task::Classify, sequence_classifier)};
ModelRegistrar gemma_cls{
    pooling_architecture("GemmaForSequenceClassification", "GemmaForCausalLM", Task::Classify, sequence_classifier)};
ModelRegistrar llama_cls{
    pooling_architecture("LlamaForSequenceClassification", "LlamaForCausalLM", Task::Classify, sequence_classifier)};
ModelRegistrar qwen2_rm{pooling_architecture("Qwen2ForRewardModel", "Qwen2ForCausalLM", Task::Reward, qwen2_reward)};
ModelRegistrar qwen2_prm{
    pooling_architecture("Qwen2ForProcessRewardModel", "Qwen2ForCausalLM", Task::Reward, qwen2_process_reward)};
ModelRegistrar internlm2_rm{
    pooling_architecture("InternLM2ForRewardModel", "InternLM2ForCausalLM", Task::Reward, internlm2_reward)};

}  // namespace

}  // namespace vllm
