// State-space language models (HF MambaForCausalLM, FalconMambaForCausalLM, Mamba2ForCausalLM):
// embeddings, then per layer x + mixer(RMSNorm(x)), the final RMSNorm (norm_f) and the LM head.
// Each layer keeps a recurrent state (CacheKind::RecurrentState): no attention, no paged KV.
// Checkpoint names: backbone.{embeddings, layers.N.{norm, mixer.*}, norm_f}, lm_head.
#include <cmath>
#include <limits>
#include <memory>

#include "core/error.h"
#include "layers/embedding.h"
#include "layers/mamba2_mixer.h"
#include "layers/mamba_mixer.h"
#include "layers/norm.h"
#include "models/registry.h"
#include "ops/ops.h"

namespace vllm {
namespace {

using json = nlohmann::json;

// vLLM's derived max_model_len for a config without a position limit (Mamba has none).
constexpr int64_t kDefaultMaxModelLen = 2048;

enum class MixerKind { Mamba1, Mamba2 };

struct MambaSpec {
  std::string architecture;
  MixerKind kind = MixerKind::Mamba1;
  int64_t vocab_size = 0, hidden = 0, layers = 0, max_positions = kDefaultMaxModelLen;
  float norm_eps = 1e-5f;
  bool tie = true;
  MambaMixerSpec mamba1;
  Mamba2MixerSpec mamba2;
};

void check_activation(const ModelConfig& config) {
  const std::string act = config.get_string("hidden_act", "silu");
  VLLM_CHECK(act == "silu" || act == "swish", Unsupported, config.source(), ": hidden_act \"", act,
             "\" is not supported for ", config.architecture(), " (known: silu)");
}

// time_step_rank: a number, or "auto" = ceil(hidden_size / 16) (HF MambaConfig).
int64_t time_step_rank(const ModelConfig& config, int64_t hidden) {
  const auto given = config.raw().find("time_step_rank");
  if (given == config.raw().end() || !given->is_string())
    if (std::optional<int64_t> rank = config.find_int("time_step_rank")) return *rank;
  const std::string text = config.get_string("time_step_rank", "auto");
  VLLM_CHECK(text == "auto", InvalidArgument, config.source(), ": time_step_rank \"", text,
             "\" is neither a number nor \"auto\"");
  return (hidden + 15) / 16;
}

MambaSpec common_spec(const ModelConfig& config, bool default_tie) {
  check_activation(config);
  MambaSpec s;
  s.architecture = config.architecture();
  s.vocab_size = config.vocab_size();
  s.hidden = config.hidden_size();
  s.layers = config.num_hidden_layers();
  s.max_positions = config.max_position_embeddings().value_or(kDefaultMaxModelLen);
  s.norm_eps = static_cast<float>(config.get_float("layer_norm_epsilon", 1e-5));
  s.tie = config.get_bool("tie_word_embeddings", default_tie);
  return s;
}

MambaSpec mamba_spec(const ModelConfig& config, bool falcon) {
  MambaSpec s = common_spec(config, /*default_tie=*/true);
  MambaMixerSpec& m = s.mamba1;
  m.hidden_size = s.hidden;
  m.intermediate_size = config.get_int("intermediate_size", static_cast<int64_t>(config.get_float("expand", 2) * s.hidden));
  m.state_size = config.get_int("state_size", 16);
  m.conv_kernel = config.get_int("conv_kernel", 4);
  m.time_step_rank = time_step_rank(config, s.hidden);
  m.use_bias = config.get_bool("use_bias", !falcon);
  m.use_conv_bias = config.get_bool("use_conv_bias", true);
  if (falcon) m.dt_bc_rms_eps = static_cast<float>(config.get_float("mixer_rms_eps", 1e-6));
  return s;
}

MambaSpec mamba2_spec(const ModelConfig& config) {
  MambaSpec s = common_spec(config, /*default_tie=*/false);
  s.kind = MixerKind::Mamba2;
  Mamba2MixerSpec& m = s.mamba2;
  m.hidden_size = s.hidden;
  m.num_heads = config.get_int("num_heads", 128);
  m.head_dim = config.get_int("head_dim", 64);
  m.intermediate_size = static_cast<int64_t>(config.get_float("expand", 2) * s.hidden);
  VLLM_CHECK(m.intermediate_size == m.num_heads * m.head_dim, InvalidArgument, config.source(), ": expand x hidden_size (",
             m.intermediate_size, ") must equal num_heads x head_dim (", m.num_heads * m.head_dim, ")");
  m.state_size = config.get_int("state_size", 128);
  m.n_groups = config.get_int("n_groups", 8);
  m.conv_kernel = config.get_int("conv_kernel", 4);
  m.use_bias = config.get_bool("use_bias", false);
  m.use_conv_bias = config.get_bool("use_conv_bias", true);
  m.norm_eps = s.norm_eps;
  VLLM_CHECK(config.get_bool("rms_norm", true), Unsupported, config.source(),
             ": Mamba2 without its gated RMSNorm (rms_norm false) is not supported");
  // HF's Mamba2 normalises the whole gated output as one group (MambaRMSNormGated).
  m.norm_group_size = m.intermediate_size;
  if (const json* limit = config.raw().contains("time_step_limit") ? &config.raw()["time_step_limit"] : nullptr;
      limit && limit->is_array() && limit->size() == 2) {
    // Python writes the default upper limit as Infinity (read as the largest double) or null.
    auto as_float = [](const json& v) {
      const double d = v.get<double>();
      return d >= std::numeric_limits<float>::max() ? std::numeric_limits<float>::infinity() : static_cast<float>(d);
    };
    if ((*limit)[0].is_number()) m.dt_min = as_float((*limit)[0]);
    if ((*limit)[1].is_number()) m.dt_max = as_float((*limit)[1]);
  }
  return s;
}

class MambaLM : public Model {
 public:
  MambaLM(MambaSpec spec, const ModelLoadOptions& options) : spec_(std::move(spec)) {
    VLLM_CHECK(options.device.is_cpu(), Unsupported, spec_.architecture,
               ": the state-space kernels run on the CPU only in this build (use --device cpu)");
    load_weights(options, WeightMap{}, spec_.architecture, [&](WeightLoader& loader) { load(loader, options.device); });
    for (const auto& mixer : mixers_) {
      LayerCacheSpec cache;
      cache.kind = CacheKind::RecurrentState;
      cache.conv_state_shape = mixer->conv_state_shape();
      cache.ssm_state_shape = mixer->ssm_state_shape();
      kv_cache_spec_.layers.push_back(cache);
    }
  }

  const KVCacheSpec& kv_cache_spec() const override { return kv_cache_spec_; }
  int64_t vocab_size() const override { return spec_.vocab_size; }
  int64_t hidden_size() const override { return spec_.hidden; }
  int64_t max_position_embeddings() const override { return spec_.max_positions; }
  const std::string& architecture() const override { return spec_.architecture; }
  Tensor embed_input_ids(const Tensor& token_ids) const override { return embeddings_.forward(token_ids); }
  Tensor compute_logits(const Tensor& hidden_rows) const override { return lm_head_.forward(hidden_rows); }

  Tensor forward(const ModelInputs& inputs, const BatchMetadata& batch, KVCache& cache) override {
    VLLM_CHECK(batch.positions.dim() == 1, InvalidArgument, spec_.architecture, " takes [T] positions");
    Tensor hidden = inputs.inputs_embeds.defined() ? inputs.inputs_embeds.clone() : embed_input_ids(inputs.token_ids);
    for (size_t l = 0; l < mixers_.size(); ++l) {
      StateCache state = state_cache(cache, batch, static_cast<int64_t>(l));
      Tensor mixed = mixers_[l]->forward(norms_[l].forward(hidden), batch, state);
      ops::add(hidden, mixed, hidden);  // the residual, f32 (residual_in_fp32)
    }
    norm_f_.forward_inplace(hidden);
    return hidden;
  }

 private:
  void load(WeightLoader& loader, Device device) {
    const int64_t h = spec_.hidden;
    embeddings_ = Embedding::load(loader, "backbone.embeddings", spec_.vocab_size, h, device);
    for (int64_t l = 0; l < spec_.layers; ++l) {
      const std::string prefix = "backbone.layers." + std::to_string(l);
      norms_.push_back(Norm::load(loader, prefix + ".norm", h, NormKind::RMSNorm, spec_.norm_eps, 0.0f));
      norms_.back().to(device);
      if (spec_.kind == MixerKind::Mamba1)
        mixers_.push_back(std::make_unique<MambaMixer>(MambaMixer::load(loader, prefix + ".mixer", spec_.mamba1, device)));
      else
        mixers_.push_back(std::make_unique<Mamba2Mixer>(Mamba2Mixer::load(loader, prefix + ".mixer", spec_.mamba2, device)));
    }
    norm_f_ = Norm::load(loader, "backbone.norm_f", h, NormKind::RMSNorm, spec_.norm_eps, 0.0f);
    norm_f_.to(device);
    lm_head_ = LMHead::load(loader, "lm_head", spec_.tie ? &embeddings_ : nullptr, spec_.vocab_size, h, false, device);
  }

  MambaSpec spec_;
  KVCacheSpec kv_cache_spec_;
  Embedding embeddings_;
  std::vector<Norm> norms_;
  std::vector<std::unique_ptr<StateSpaceMixer>> mixers_;
  Norm norm_f_;
  LMHead lm_head_;
};

json describe(const MambaSpec& s) {
  json mixer;
  if (s.kind == MixerKind::Mamba1) {
    const MambaMixerSpec& m = s.mamba1;
    mixer = {{"type", "mamba"}, {"intermediate_size", m.intermediate_size}, {"state_size", m.state_size},
             {"conv_kernel", m.conv_kernel}, {"time_step_rank", m.time_step_rank}, {"use_bias", m.use_bias},
             {"use_conv_bias", m.use_conv_bias}, {"dt_bc_rms_eps", m.dt_bc_rms_eps}};
  } else {
    const Mamba2MixerSpec& m = s.mamba2;
    mixer = {{"type", "mamba2"}, {"num_heads", m.num_heads}, {"head_dim", m.head_dim}, {"state_size", m.state_size},
             {"n_groups", m.n_groups}, {"conv_kernel", m.conv_kernel}, {"use_bias", m.use_bias},
             {"use_conv_bias", m.use_conv_bias}, {"dt_min", m.dt_min},
             {"dt_max", std::isinf(m.dt_max) ? json("inf") : json(m.dt_max)}, {"norm_group_size", m.norm_group_size}};
  }
  return {{"model", "state-space LM (src/models/mamba.cpp)"}, {"vocab_size", s.vocab_size}, {"hidden_size", s.hidden},
          {"num_layers", s.layers}, {"norm_eps", s.norm_eps}, {"tie_word_embeddings", s.tie}, {"mixer", mixer}};
}

ArchitectureInfo mamba_info(const char* name, const char* family, MambaSpec (*make)(const ModelConfig&)) {
  return {name, family, {Task::Generate}, {},
          [make](const ModelConfig& config, const ModelLoadOptions& options) -> std::unique_ptr<Model> {
            return std::make_unique<MambaLM>(make(config), options);
          },
          [make](const ModelConfig& config) { return describe(make(config)); }, nullptr, {}};
}

ModelRegistrar mamba{mamba_info("MambaForCausalLM", "mamba", [](const ModelConfig& c) { return mamba_spec(c, false); })};
ModelRegistrar falcon_mamba{
    mamba_info("FalconMambaForCausalLM", "mamba", [](const ModelConfig& c) { return mamba_spec(c, true); })};
ModelRegistrar mamba2{mamba_info("Mamba2ForCausalLM", "mamba", mamba2_spec)};

}  // namespace
}  // namespace vllm
