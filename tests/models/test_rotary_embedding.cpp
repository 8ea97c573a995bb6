// RotaryEmbedding (src/layers/rotary_embedding.*): each rope type's frequencies and attention
// scaling against HF's formulas written out here independently in double, and the forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "core/error.h"
#include "layers/rotary_embedding.h"

namespace vllm {
namespace {

using nlohmann::json;
constexpr double kPi = std::numbers::pi;

std::vector<double> plain(double base, int64_t dim) {
  std::vector<double> inv;
  for (int64_t i = 0; i < dim / 2; ++i) inv.push_back(std::pow(base, -2.0 * i / dim));
  return inv;
}

void expect_freqs(const std::vector<double>& expected, const std::vector<float>& got,
                  double rtol = 2e-6) {
  ASSERT_EQ(expected.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], rtol * std::abs(expected[i]) + 1e-12) << "frequency " << i;
}

TEST(RotaryEmbedding, DefaultAndLinear) {
  RotaryEmbedding rope(json{{"rope_type", "default"}, {"rope_theta", 500000.0}}, 128, 8192, true);
  expect_freqs(plain(500000.0, 128), rope.inv_freq());
  EXPECT_EQ(rope.attention_scaling(), 1.0f);
  RotaryEmbedding none(json(nullptr), 64, 2048, true);  // no rope dict: default, theta 10000
  expect_freqs(plain(10000.0, 64), none.inv_freq());
  RotaryEmbedding linear(json{{"type", "linear"}, {"rope_theta", 10000.0}, {"factor", 4.0}}, 64,
                         2048, true);
  std::vector<double> expected = plain(10000.0, 64);
  for (double& f : expected) f /= 4.0;
  expect_freqs(expected, linear.inv_freq());
}

TEST(RotaryEmbedding, DynamicNtkDependsOnSequenceLength) {
  const double base = 10000.0, factor = 2.0;
  const int64_t dim = 32, max_pos = 1024;
  RotaryEmbedding rope(json{{"rope_type", "dynamic"}, {"rope_theta", base}, {"factor", factor}},
                       dim, max_pos, true);
  expect_freqs(plain(base, dim), rope.inv_freq());  // at init seq_len = max: base unchanged
  expect_freqs(plain(base, dim), rope.inv_freq_for_seq_len(900));
  const int64_t len = 3000;
  const double ntk = base * std::pow(factor * len / max_pos - (factor - 1), dim / (dim - 2.0));
  expect_freqs(plain(ntk, dim), rope.inv_freq_for_seq_len(len), 5e-6);
}

TEST(RotaryEmbedding, YarnFrequenciesAndAttentionScaling) {
  const double base = 10000.0, factor = 4.0, beta_fast = 32, beta_slow = 1;
  const int64_t dim = 64, original = 4096;
  json params{{"rope_type", "yarn"}, {"rope_theta", base}, {"factor", factor},
              {"original_max_position_embeddings", original}};
  RotaryEmbedding rope(params, dim, 16384, true);
  auto correction = [&](double rotations) {
    return dim * std::log(original / (rotations * 2 * kPi)) / (2 * std::log(base));
  };
  const double low = std::max(std::floor(correction(beta_fast)), 0.0);
  const double high = std::min(std::ceil(correction(beta_slow)), dim - 1.0);
  std::vector<double> expected;
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double extra = std::pow(base, -2.0 * i / dim), inter = extra / factor;
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
    expected.push_back(inter * ramp + extra * (1 - ramp));
  }
  expect_freqs(expected, rope.inv_freq(), 5e-6);
  EXPECT_NEAR(rope.attention_scaling(), 0.1 * std::log(factor) + 1.0, 1e-6);

  // DeepSeek style: mscale / mscale_all_dim.
  params["mscale"] = 0.707;
  params["mscale_all_dim"] = 1.0;
  RotaryEmbedding deepseek(params, dim, 16384, true);
  EXPECT_NEAR(deepseek.attention_scaling(),
              (0.1 * 0.707 * std::log(factor) + 1) / (0.1 * std::log(factor) + 1), 1e-6);
  params["attention_factor"] = 1.25;
  EXPECT_NEAR(RotaryEmbedding(params, dim, 16384, true).attention_scaling(), 1.25, 1e-7);

  // truncate = false (gpt-oss): unrounded correction range.
  json exact{{"rope_type", "yarn"}, {"rope_theta", base}, {"factor", factor},
             {"original_max_position_embeddings", original}, {"truncate", false}};
  const double low_x = std::max(correction(beta_fast), 0.0);
  const double high_x = std::min(correction(beta_slow), dim - 1.0);
  std::vector<double> expected_x;
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double extra = std::pow(base, -2.0 * i / dim), inter = extra / factor;
    const double ramp = std::clamp((i - low_x) / (high_x - low_x), 0.0, 1.0);
    expected_x.push_back(inter * ramp + extra * (1 - ramp));
  }
  expect_freqs(expected_x, RotaryEmbedding(exact, dim, 16384, true).inv_freq(), 5e-6);
}

TEST(RotaryEmbedding, LongropeShortAndLongFactors) {
  const int64_t dim = 8, original = 4096, max_pos = 131072;
  std::vector<double> short_factor{1.0, 1.1, 1.5, 2.0}, long_factor{1.0, 3.0, 9.0, 20.0};
  json params{{"rope_type", "longrope"}, {"rope_theta", 10000.0},
              {"original_max_position_embeddings", original}, {"short_factor", short_factor},
              {"long_factor", long_factor}};
  RotaryEmbedding rope(params, dim, max_pos, true);
  std::vector<double> base_freqs = plain(10000.0, dim), short_expected, long_expected;
  for (int i = 0; i < 4; ++i) {
    short_expected.push_back(base_freqs[i] / short_factor[i]);
    long_expected.push_back(base_freqs[i] / long_factor[i]);
  }
  expect_freqs(short_expected, rope.inv_freq());
  expect_freqs(short_expected, rope.inv_freq_for_seq_len(original));
  expect_freqs(long_expected, rope.inv_freq_for_seq_len(original + 1));
  const double factor = static_cast<double>(max_pos) / original;  // 32
  EXPECT_NEAR(rope.attention_scaling(), std::sqrt(1 + std::log(factor) / std::log(original)), 1e-6);
  params["short_factor"] = std::vector<double>{1.0};
  EXPECT_THROW(RotaryEmbedding(params, dim, max_pos, true), Error);
}

TEST(RotaryEmbedding, Llama3SmoothsMediumFrequencies) {
  const double factor = 8, low = 1, high = 4, old_len = 8192;
  RotaryEmbedding rope(json{{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", factor},
                            {"low_freq_factor", low}, {"high_freq_factor", high},
                            {"original_max_position_embeddings", old_len}},
                       128, 131072, true);
  std::vector<double> expected;
  int medium = 0;
  for (double inv : plain(500000.0, 128)) {
    const double wavelen = 2 * kPi / inv;
    if (wavelen < old_len / high) {
      expected.push_back(inv);
    } else if (wavelen > old_len / low) {
      expected.push_back(inv / factor);
    } else {
      const double smooth = (old_len / wavelen - low) / (high - low);
      expected.push_back((1 - smooth) * inv / factor + smooth * inv);
      ++medium;
    }
  }
  EXPECT_GT(medium, 0);
  expect_freqs(expected, rope.inv_freq(), 5e-6);
}

TEST(RotaryEmbedding, UnknownTypeAndMissingKeys) {
  try {
    RotaryEmbedding(json{{"rope_type", "foo"}}, 64, 2048, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("llama3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RotaryEmbedding(json{{"rope_type", "llama3"}, {"factor", 8.0}}, 64, 2048, true), Error);
}

TEST(RotaryEmbedding, ForwardRotatesWithScaledCosSin) {
  for (bool neox : {true, false}) {
    const int64_t T = 3, H = 2, D = 12, rd = 8;  // partial rotary: 8 of 12 dims
    RotaryEmbedding rope(json{{"rope_type", "yarn"}, {"rope_theta", 10000.0}, {"factor", 2.0},
                              {"original_max_position_embeddings", 64}},
                         rd, 128, neox);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1, 1);
    std::vector<float> values(T * H * D);
    for (float& v : values) v = dist(rng);
    Tensor q = Tensor::from_floats(values, {T, H, D});
    Tensor positions = Tensor::from_ints({0, 5, 100}, {T});
    Tensor key;
    rope.forward(positions, Tensor(), q, key);
    std::vector<float> got = q.to_float_vector();
    const int pos[] = {0, 5, 100};
    const double att = rope.attention_scaling();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* x = values.data() + (t * H + h) * D;
        const float* y = got.data() + (t * H + h) * D;
        for (int64_t i = 0; i < rd / 2; ++i) {
          const double angle = pos[t] * static_cast<double>(rope.inv_freq()[i]);
          const double c = std::cos(angle) * att, s = std::sin(angle) * att;
          const int64_t a = neox ? i : 2 * i, b = neox ? i + rd / 2 : 2 * i + 1;
          EXPECT_NEAR(y[a], x[a] * c - x[b] * s, 1e-5);
          EXPECT_NEAR(y[b], x[b] * c + x[a] * s, 1e-5);
        }
        for (int64_t i = rd; i < D; ++i) EXPECT_EQ(y[i], x[i]);  // past rotary_dim: untouched
      }
  }
}

}  // namespace
}  // namespace vllm
