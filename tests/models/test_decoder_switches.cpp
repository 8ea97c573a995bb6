// Pieces behind the dense-decoder switches that the HF fixtures exercise only end to end: ALiBi
// slopes as HF computes them, the fused-qkv reorder, Conv1D transposes and clamp.
#include <gtest/gtest.h>

#include "models/decoder_spec.h"
#include "loader/weight_loader.h"
#include "ops/ops.h"

using namespace vllm;

TEST(AlibiSlopes, BloomMatchesHfIncludingNonPowerOfTwoHeads) {
  EXPECT_EQ(bloom_alibi_slopes(4), (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f}));
  // 6 heads: the 4-head slopes, then 2^-1 and 2^-3 (HF's extra_base powers 1, 3).
  EXPECT_EQ(bloom_alibi_slopes(6), (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f}));
}

TEST(AlibiSlopes, MptInterleavesForNonPowerOfTwoHeads) {
  EXPECT_EQ(mpt_alibi_slopes(4, 8.0), (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f}));
  // 6 heads: 8 slopes 2^-1 .. 2^-8, odd positions first, then even, first 6.
  EXPECT_EQ(mpt_alibi_slopes(6, 8.0),
            (std::vector<float>{0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f}));
}

TEST(WeightLayout, DeinterleaveGroupedQkv) {
  // 2 kv heads, 2 queries per kv head, head_dim 1, 2 columns: rows g0q0 g0q1 g0k g0v g1q0 g1q1 g1k g1v.
  std::vector<float> rows = {0, 0, 1, 1, 2, 2, 3, 3, 10, 10, 11, 11, 12, 12, 13, 13};
  Tensor fused = Tensor::from_floats(rows, {8, 2}, DType::F32);
  std::vector<float> out = deinterleave_qkv(fused, 2, 2, 1).to_float_vector();
  EXPECT_EQ(out, (std::vector<float>{0, 0, 1, 1, 10, 10, 11, 11, 2, 2, 12, 12, 3, 3, 13, 13}));
  // A bias (1-D) reorders the same way; GPT-NeoX's [heads, 3, d] is q_per_kv = 1.
  Tensor bias = Tensor::from_floats({0, 1, 2, 10, 11, 12}, {6}, DType::F32);
  EXPECT_EQ(deinterleave_qkv(bias, 2, 1, 1).to_float_vector(), (std::vector<float>{0, 10, 1, 11, 2, 12}));
  EXPECT_THROW(deinterleave_qkv(bias, 2, 2, 1), Error);
}

TEST(WeightLayout, TransposeConv1D) {
  Tensor conv = Tensor::from_floats({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F32);  // [in, out]
  Tensor linear = transpose_2d(conv);
  EXPECT_EQ(linear.shape(), (Shape{3, 2}));
  EXPECT_EQ(linear.to_float_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Ops, ClampInPlace) {
  Tensor x = Tensor::from_floats({-3, -1, 0, 2, 5}, {5}, DType::F32);
  ops::clamp(x, -2, 2);
  EXPECT_EQ(x.to_float_vector(), (std::vector<float>{-2, -1, 0, 2, 2}));
}
