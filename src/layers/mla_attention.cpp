#include "layers/mla_attention.h"

#include <cstring>

#include "core/error.h"
#include "ops/ops.h"

namespace vllm {
namespace {

// A checkpoint matrix on the host in f32, and the dtype the loader gives matmul weights.
Tensor host_f32(WeightLoader& loader, const std::string& name, const Shape& shape, DType& kept) {
  Tensor stored = loader.take(name, shape, ParamStorage::Keep, Device::cpu());
  kept = stored.dtype();
  return stored.to(DType::F32).contiguous();
}

// a [M, K] x b [K, N] on the host, f32.
Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty({a.size(0), b.size(1)}, DType::F32);
  ops::linear(a, b.transpose(0, 1).contiguous(), Tensor(), out);
  return out;
}

// Rows [begin, end) of a 2-D host tensor, packed.
Tensor rows(const Tensor& t, int64_t begin, int64_t end) { return t.slice(0, begin, end).contiguous(); }

// The folded weight as the layer runs it: f32 on the CPU, the checkpoint's matmul type elsewhere.
Tensor place(const Tensor& folded, DType kept, Device device) {
  if (device.is_cpu()) return folded;
  return folded.to(kept).to(device);
}

}  // namespace

std::unique_ptr<MlaAttention> MlaAttention::load(WeightLoader& loader, const std::string& prefix, const MlaSpec& spec,
                                                 std::shared_ptr<const RotaryEmbedding> rotary, Device device) {
  const int64_t heads = spec.num_heads, lora = spec.kv_lora_rank, nope = spec.qk_nope_head_dim,
                rope = spec.qk_rope_head_dim, v = spec.v_head_dim, hidden = spec.hidden_size;
  VLLM_CHECK(heads > 0 && lora > 0 && rope > 0 && v > 0 && nope >= 0 && spec.scale > 0.0f, InvalidArgument, prefix,
             ": MLA needs num_attention_heads, kv_lora_rank, qk_rope_head_dim and v_head_dim > 0");
  auto layer = std::make_unique<MlaAttention>();
  layer->spec_ = spec;
  int64_t q_input = hidden;
  std::string q_name = prefix + "q_proj.weight";
  if (spec.q_lora_rank > 0) {
    layer->q_a_proj_ =
        Linear::load(loader, prefix + "q_a_proj", hidden, spec.q_lora_rank, spec.attention_bias, device);
    layer->q_a_layernorm_ = Norm::load(loader, prefix + "q_a_layernorm", spec.q_lora_rank, NormKind::RMSNorm,
                                       spec.norm_eps, 0.0f);
    layer->q_a_layernorm_.to(device);
    q_input = spec.q_lora_rank;
    q_name = prefix + "q_b_proj.weight";
  }
  layer->kv_a_proj_ = Linear::load(loader, prefix + "kv_a_proj_with_mqa", hidden, lora + rope, spec.attention_bias,
                                   device);
  layer->kv_a_layernorm_ = Norm::load(loader, prefix + "kv_a_layernorm", lora, NormKind::RMSNorm, spec.norm_eps, 0.0f);
  layer->kv_a_layernorm_.to(device);

  DType kept = DType::F32;
  const Tensor w_q = host_f32(loader, q_name, {heads * (nope + rope), q_input}, kept);       // [H(n+r), in]
  const Tensor w_kv_b = host_f32(loader, prefix + "kv_b_proj.weight", {heads * (nope + v), lora}, kept);  // [H(n+v), L]
  const Tensor w_o = host_f32(loader, prefix + "o_proj.weight", {hidden, heads * v}, kept);  // [hidden, Hv]

  // q: per head, [W_uk[h]^T W_q_nope[h]; W_q_rope[h]]  ([L + r, in]).
  Tensor q_folded = Tensor::empty({heads * (lora + rope), q_input}, DType::F32);
  // o: per head, the column block W_o[:, h] W_uv[h]  ([hidden, L]).
  Tensor o_folded = Tensor::empty({hidden, heads * lora}, DType::F32);
  const Tensor w_o_by_head = w_o.view({hidden, heads, v}).transpose(0, 1).contiguous();  // [H, hidden, v]
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t q_row = h * (nope + rope), kv_row = h * (nope + v);
    const Tensor w_uk = rows(w_kv_b, kv_row, kv_row + nope);            // [n, L]
    const Tensor w_uv = rows(w_kv_b, kv_row + nope, kv_row + nope + v);  // [v, L]
    Tensor q_head = q_folded.slice(0, h * (lora + rope), (h + 1) * (lora + rope));
    if (nope > 0) {
      q_head.slice(0, 0, lora).copy_from(matmul(w_uk.transpose(0, 1).contiguous(), rows(w_q, q_row, q_row + nope)));
    } else {
      std::memset(q_head.raw_data(), 0, static_cast<size_t>(lora * q_input) * sizeof(float));
    }
    q_head.slice(0, lora, lora + rope).copy_from(rows(w_q, q_row + nope, q_row + nope + rope));
    const Tensor o_head = matmul(rows(w_o_by_head, h, h + 1).view({hidden, v}), w_uv);  // [hidden, L]
    const float* src = o_head.data<float>();
    float* dst = o_folded.data<float>();
    for (int64_t r = 0; r < hidden; ++r)
      std::memcpy(dst + r * heads * lora + h * lora, src + r * lora, static_cast<size_t>(lora) * sizeof(float));
  }
  layer->q_latent_proj_.weight = place(q_folded, kept, device);
  layer->o_latent_proj_.weight = place(o_folded, kept, device);
  if (spec.attention_bias) layer->o_latent_proj_.bias = loader.take(prefix + "o_proj.bias", {hidden},
                                                                    ParamStorage::Float32, device);
  layer->rotary_ = std::move(rotary);
  AttentionSpec attention;
  attention.num_heads = heads;
  attention.num_kv_heads = 1;
  attention.head_dim = spec.cache_key_dim();
  attention.value_head_dim = spec.cache_value_dim();
  attention.scale = spec.scale;
  layer->attention_ = Attention(attention, device);
  return layer;
}

Tensor MlaAttention::forward(const Tensor& hidden, const BatchMetadata& batch, const AttentionCache& cache) const {
  const MlaSpec& s = spec_;
  const int64_t tokens = hidden.size(0), lora = s.kv_lora_rank, width = s.cache_key_dim();
  Tensor q_input = hidden;
  if (q_a_proj_.weight.defined()) {
    q_input = q_a_proj_.forward(hidden);
    q_a_layernorm_.forward_inplace(q_input);
  }
  Tensor query = q_latent_proj_.forward(q_input).view({tokens, s.num_heads, width});  // [T, H, L + r]
  Tensor key = kv_a_proj_.forward(hidden).view({tokens, 1, width});                   // [T, 1, L + r]: c, k_rot
  Tensor latent = key.slice(2, 0, lora);
  kv_a_layernorm_.forward_inplace(latent);
  Tensor q_rot = query.slice(2, lora, width), k_rot = key.slice(2, lora, width);
  if (rotary_) rotary_->forward(batch.positions, batch.token_seq_lens, q_rot, k_rot);
  Tensor out = attention_.forward(query, key, latent, batch, cache);  // [T, H, L]
  return o_latent_proj_.forward(out.view({tokens, s.num_heads * lora}));
}

}  // namespace vllm
