// The state-space kernels (src/ops/ssm.h): per sequence, per channel or head, the recurrence token
// by token in f32, parallel over (sequence, channel) pairs. The state is read from the sequence's
// slot when its first new token is past position 0 and written back after its last one.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_rows.h"
#include "core/parallel.h"

namespace vllm::cpu {
namespace {

// HF's nn.functional.softplus (beta 1, threshold 20).
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

// The host view of a step's sequences.
struct Sequences {
  std::vector<int32_t> starts;  // [B + 1]
  std::vector<int32_t> slots;   // [B], -1 without one
  std::vector<bool> continues;  // [B]: starts from its slot's state

  explicit Sequences(const ops::StateSequences& s) {
    const Tensor query_start = s.query_start.contiguous(), positions = s.positions.contiguous();
    const int64_t count = query_start.numel() - 1;
    starts.assign(query_start.data<int32_t>(), query_start.data<int32_t>() + count + 1);
    slots.assign(static_cast<size_t>(count), -1);
    if (s.state_slots.defined()) {
      const Tensor state_slots = s.state_slots.contiguous();
      slots.assign(state_slots.data<int32_t>(), state_slots.data<int32_t>() + count);
    }
    continues.assign(static_cast<size_t>(count), false);
    for (int64_t b = 0; b < count; ++b)
      continues[b] = slots[b] >= 0 && starts[b] < starts[b + 1] && positions.data<int32_t>()[starts[b]] > 0;
  }
  int64_t count() const { return static_cast<int64_t>(slots.size()); }
};

// Rows of a 2-D f32 tensor whose last dim is contiguous.
struct FloatRows {
  const float* data;
  int64_t stride;
  explicit FloatRows(const Tensor& t) : data(t.data<float>()), stride(t.stride(0)) {}
  const float* operator[](int64_t row) const { return data + row * stride; }
};

// Grain of a parallel loop over (sequence, channel) pairs whose work is `per_pair` operations.
int64_t pair_grain(int64_t per_pair) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, per_pair)); }

}  // namespace

void causal_conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& conv_state,
                   const ops::StateSequences& sequences, bool silu_act, Tensor& out) {
  const Sequences seqs(sequences);
  const int64_t channels = weight.size(0), kernel = weight.size(1), window = kernel - 1;
  const std::vector<float> w = weight_floats(weight);  // [C, K]
  const float* b = bias.defined() ? bias.data<float>() : nullptr;
  const FloatRows in(x);
  float* o = out.data<float>();
  float* state = conv_state.data<float>();
  const int64_t pairs = seqs.count() * channels;
  parallel_for(pairs, pair_grain(kernel * std::max<int64_t>(1, x.size(0) / std::max<int64_t>(1, seqs.count()))),
               [&](int64_t begin, int64_t end) {
    std::vector<float> history(static_cast<size_t>(window));  // the last K - 1 inputs, oldest first
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t s = pair / channels, c = pair % channels;
      const int32_t slot = seqs.slots[s];
      float* saved = slot >= 0 ? state + (slot * channels + c) * window : nullptr;
      for (int64_t k = 0; k < window; ++k) history[k] = seqs.continues[s] ? saved[k] : 0.0f;
      const float* taps = w.data() + c * kernel;
      for (int64_t t = seqs.starts[s]; t < seqs.starts[s + 1]; ++t) {
        const float value = in[t][c];
        float sum = b ? b[c] : 0.0f;
        for (int64_t k = 0; k < window; ++k) sum += taps[k] * history[k];
        sum += taps[window] * value;
        o[t * channels + c] = silu_act ? silu(sum) : sum;
        if (window > 0) {
          std::copy(history.begin() + 1, history.end(), history.begin());
          history[window - 1] = value;
        }
      }
      if (saved) std::copy(history.begin(), history.end(), saved);
    }
  });
}

void selective_scan(const Tensor& u, const Tensor& delta, const Tensor& A, const Tensor& B, const Tensor& C,
                    const Tensor& D, const Tensor& z, Tensor& ssm_state, const ops::StateSequences& sequences,
                    Tensor& out) {
  const Sequences seqs(sequences);
  const int64_t dim = A.size(0), state_size = A.size(1);
  const FloatRows us(u), deltas(delta), bs(B), cs(C), zs(z);
  const float* a = A.data<float>();
  const float* d = D.data<float>();
  float* o = out.data<float>();
  float* states = ssm_state.data<float>();
  const int64_t rows_per_seq = std::max<int64_t>(1, u.size(0) / std::max<int64_t>(1, seqs.count()));
  parallel_for(seqs.count() * dim, pair_grain(4 * state_size * rows_per_seq), [&](int64_t begin, int64_t end) {
    std::vector<float> h(static_cast<size_t>(state_size));
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t s = pair / dim, c = pair % dim;
      const int32_t slot = seqs.slots[s];
      float* saved = slot >= 0 ? states + (slot * dim + c) * state_size : nullptr;
      for (int64_t n = 0; n < state_size; ++n) h[n] = seqs.continues[s] ? saved[n] : 0.0f;
      const float* a_row = a + c * state_size;
      for (int64_t t = seqs.starts[s]; t < seqs.starts[s + 1]; ++t) {
        const float dt = softplus(deltas[t][c]), x = us[t][c];
        const float* b_row = bs[t];
        const float* c_row = cs[t];
        float y = 0.0f;
        for (int64_t n = 0; n < state_size; ++n) {
          h[n] = std::exp(a_row[n] * dt) * h[n] + dt * b_row[n] * x;
          y += h[n] * c_row[n];
        }
        o[t * dim + c] = (y + d[c] * x) * silu(zs[t][c]);
      }
      if (saved) std::copy(h.begin(), h.end(), saved);
    }
  });
}

void ssd_scan(const Tensor& x, const Tensor& dt_raw, const Tensor& A, const Tensor& B, const Tensor& C,
              const Tensor& D, const Tensor& dt_bias, float dt_min, float dt_max, int64_t n_groups,
              Tensor& ssm_state, const ops::StateSequences& sequences, Tensor& out) {
  const Sequences seqs(sequences);
  const int64_t heads = A.size(0), head_dim = ssm_state.size(2), state_size = ssm_state.size(3);
  const int64_t heads_per_group = heads / n_groups, width = heads * head_dim;
  const FloatRows xs(x), dts(dt_raw), bs(B), cs(C);
  const float* a = A.data<float>();
  const float* d = D.data<float>();
  const float* bias = dt_bias.data<float>();
  float* o = out.data<float>();
  float* states = ssm_state.data<float>();
  const int64_t head_state = head_dim * state_size;
  const int64_t rows_per_seq = std::max<int64_t>(1, x.size(0) / std::max<int64_t>(1, seqs.count()));
  parallel_for(seqs.count() * heads, pair_grain(3 * head_state * rows_per_seq), [&](int64_t begin, int64_t end) {
    std::vector<float> h(static_cast<size_t>(head_state));  // [P, N]
    for (int64_t pair = begin; pair < end; ++pair) {
      const int64_t s = pair / heads, head = pair % heads, group = head / heads_per_group;
      const int32_t slot = seqs.slots[s];
      float* saved = slot >= 0 ? states + (slot * heads + head) * head_state : nullptr;
      for (int64_t i = 0; i < head_state; ++i) h[i] = seqs.continues[s] ? saved[i] : 0.0f;
      for (int64_t t = seqs.starts[s]; t < seqs.starts[s + 1]; ++t) {
        const float dt = std::clamp(softplus(dts[t][head] + bias[head]), dt_min, dt_max);
        const float decay = std::exp(a[head] * dt);
        const float* b_row = bs[t] + group * state_size;
        const float* c_row = cs[t] + group * state_size;
        const float* x_row = xs[t] + head * head_dim;
        float* o_row = o + t * width + head * head_dim;
        for (int64_t p = 0; p < head_dim; ++p) {
          float* hp = h.data() + p * state_size;
          const float dx = dt * x_row[p];
          float y = 0.0f;
          for (int64_t n = 0; n < state_size; ++n) {
            hp[n] = decay * hp[n] + dx * b_row[n];
            y += hp[n] * c_row[n];
          }
          o_row[p] = y + d[head] * x_row[p];
        }
      }
      if (saved) std::copy(h.begin(), h.end(), saved);
    }
  });
}

void gated_rms_norm(const Tensor& x, const Tensor& z, const Tensor& weight, int64_t group_size, float eps,
                    Tensor& out) {
  const int64_t tokens = x.size(0), dim = x.size(1);
  const float* in = x.data<float>();
  const FloatRows gates(z);
  const float* w = weight.data<float>();
  float* o = out.data<float>();
  parallel_for(tokens, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, dim)), [&](int64_t begin, int64_t end) {
    std::vector<float> gated(static_cast<size_t>(dim));
    for (int64_t t = begin; t < end; ++t) {
      for (int64_t i = 0; i < dim; ++i) gated[i] = in[t * dim + i] * silu(gates[t][i]);
      for (int64_t g = 0; g < dim; g += group_size) {
        double sum = 0;
        for (int64_t i = g; i < g + group_size; ++i) sum += static_cast<double>(gated[i]) * gated[i];
        const float scale = 1.0f / std::sqrt(static_cast<float>(sum / static_cast<double>(group_size)) + eps);
        for (int64_t i = g; i < g + group_size; ++i) o[t * dim + i] = gated[i] * scale * w[i];
      }
    }
  });
}

}  // namespace vllm::cpu
