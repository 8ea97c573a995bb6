// Pooler types and options beyond test_layers.cpp's: STEP (step_tag_id, returned_token_ids),
// sigmoid, per-sequence rows, Matryoshka truncation, column selection.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "layers/pooler.h"

using namespace vllm;

namespace {
// [T, 3]: row t is (t, 10 t, 1).
Tensor hidden_rows(int64_t tokens) {
  std::vector<float> values;
  for (int64_t t = 0; t < tokens; ++t) values.insert(values.end(), {float(t), float(10 * t), 1.0f});
  return Tensor::from_floats(values, {tokens, 3});
}
}  // namespace

TEST(PoolerTypes, StepKeepsRowsAtTheStepTagOrEveryRowWithoutOne) {
  const Tensor hidden = hidden_rows(6);
  const std::vector<int32_t> tokens = {5, 7, 5, 7, 9, 7};
  PoolerSpec spec;
  spec.type = PoolingType::Step;
  spec.step_tag_id = 7;
  std::vector<Tensor> rows = pool_rows(spec, hidden, {0, 4, 6}, tokens.data());
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(rows[0].data<float>()[0], 1.0f);
  EXPECT_EQ(rows[0].data<float>()[3], 3.0f);
  ASSERT_EQ(rows[1].shape(), (Shape{1, 3}));
  EXPECT_EQ(rows[1].data<float>()[0], 5.0f);
  spec.step_tag_id.reset();
  EXPECT_EQ(pool_rows(spec, hidden, {0, 4, 6}, tokens.data())[0].shape(), (Shape{4, 3}));
  EXPECT_THROW(pool_rows(spec, hidden, {0, 4, 6}), Error);  // STEP needs token ids
}

TEST(PoolerTypes, FirstLastMeanAndAllPerSequence) {
  const Tensor hidden = hidden_rows(5);
  PoolerSpec spec;
  for (PoolingType type : {PoolingType::First, PoolingType::Last, PoolingType::Mean, PoolingType::All}) {
    spec.type = type;
    std::vector<Tensor> rows = pool_rows(spec, hidden, {0, 2, 5});
    ASSERT_EQ(rows.size(), 2u);
    const float expected = type == PoolingType::First ? 2.0f : type == PoolingType::Last ? 4.0f : 3.0f;
    if (type == PoolingType::All) {
      EXPECT_EQ(rows[1].shape(), (Shape{3, 3}));
    } else {
      EXPECT_EQ(rows[1].shape(), (Shape{3}));
      EXPECT_FLOAT_EQ(rows[1].data<float>()[0], expected) << pooling_type_name(type);
    }
  }
}

TEST(PoolerTypes, SigmoidSoftmaxNormalizeColumnsAndTruncation) {
  Tensor rows = Tensor::from_floats({0.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  Tensor sig = rows.clone();
  sigmoid_values(sig);
  EXPECT_FLOAT_EQ(sig.data<float>()[0], 0.5f);
  EXPECT_NEAR(sig.data<float>()[1], 1.0 / (1.0 + std::exp(-2.0)), 1e-7);
  Tensor soft = rows.clone();
  softmax_rows(soft);
  EXPECT_NEAR(soft.data<float>()[0] + soft.data<float>()[1], 1.0, 1e-6);
  Tensor norm = rows.clone();
  normalize_rows(norm);
  EXPECT_NEAR(norm.data<float>()[2], 0.6, 1e-6);
  EXPECT_NEAR(norm.data<float>()[3], 0.8, 1e-6);
  Tensor picked = select_columns(rows, {1});
  EXPECT_EQ(picked.shape(), (Shape{2, 1}));
  EXPECT_EQ(picked.data<float>()[1], 4.0f);
  EXPECT_THROW(select_columns(rows, {2}), Error);
  Tensor wide = Tensor::from_floats({1, 2, 3, 4}, {4});
  EXPECT_EQ(truncate_rows(wide, 2).shape(), (Shape{2}));
  EXPECT_EQ(truncate_rows(wide, 0).shape(), (Shape{4}));
}

TEST(PoolerTypes, PoolerAppliesSigmoidAndParsesStep) {
  PoolerSpec spec;
  spec.type = PoolingType::Last;
  spec.sigmoid = true;
  Tensor pooled = Pooler(spec).pool(Tensor::from_floats({0, 0, 0, 0, 0, 0}, {2, 3}), {0, 2});
  EXPECT_FLOAT_EQ(pooled.data<float>()[0], 0.5f);
  EXPECT_EQ(parse_pooling_type("step"), PoolingType::Step);
  EXPECT_EQ(parse_pooling_type("FIRST"), PoolingType::First);
}
