// Activations in fp32, matching torch's definitions (F.silu, F.gelu exact and tanh, relu,
// squared relu).
#include <cmath>

#include "backend/cpu/cpu_ops.h"
#include "backend/cpu/cpu_rows.h"
#include "core/parallel.h"

namespace vllm::cpu {
namespace {

using ops::Activation;

constexpr int64_t kElementGrain = 1 << 14;

template <Activation kind>
inline float apply(float x) {
  if constexpr (kind == Activation::Silu) {
    return x / (1.0f + std::exp(-x));
  } else if constexpr (kind == Activation::Gelu) {
    return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
  } else if constexpr (kind == Activation::GeluTanh) {
    const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);  // sqrt(2/pi)
    return 0.5f * x * (1.0f + std::tanh(inner));
  } else if constexpr (kind == Activation::Relu) {
    return x > 0.0f ? x : 0.0f;
  } else {
    const float r = x > 0.0f ? x : 0.0f;
    return r * r;
  }
}

template <Activation kind>
void elementwise(const float* x, float* out, int64_t n) {
  parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = apply<kind>(x[i]);
  });
}

template <Activation kind>
void gated(const Tensor& x, Tensor& out) {
  Rows<const float> in(x);
  const int64_t rows = x.size(0), width = out.size(1);
  float* o = out.data<float>();
  const int64_t grain = std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, width));
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* gate = in[r];
      const float* up = gate + width;
      float* orow = o + r * width;
      for (int64_t i = 0; i < width; ++i) orow[i] = apply<kind>(gate[i]) * up[i];
    }
  });
}

}  // namespace

void activation(Activation kind, const Tensor& x, Tensor& out) {
  const float* in = x.data<float>();
  float* o = out.data<float>();
  const int64_t n = x.numel();
  switch (kind) {
    case Activation::Silu: return elementwise<Activation::Silu>(in, o, n);
    case Activation::Gelu: return elementwise<Activation::Gelu>(in, o, n);
    case Activation::GeluTanh: return elementwise<Activation::GeluTanh>(in, o, n);
    case Activation::Relu: return elementwise<Activation::Relu>(in, o, n);
    case Activation::Relu2: return elementwise<Activation::Relu2>(in, o, n);
  }
  fail(ErrorKind::InvalidArgument, "activation: unknown kind ", static_cast<int>(kind));
}

void activation_and_mul(Activation kind, const Tensor& x, Tensor& out) {
  switch (kind) {
    case Activation::Silu: return gated<Activation::Silu>(x, out);
    case Activation::Gelu: return gated<Activation::Gelu>(x, out);
    case Activation::GeluTanh: return gated<Activation::GeluTanh>(x, out);
    case Activation::Relu: return gated<Activation::Relu>(x, out);
    case Activation::Relu2: return gated<Activation::Relu2>(x, out);
  }
  fail(ErrorKind::InvalidArgument, "activation_and_mul: unknown kind ", static_cast<int>(kind));
}

}  // namespace vllm::cpu
