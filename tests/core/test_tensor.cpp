#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/parallel.h"
#include "core/tensor.h"

using namespace vllm;

TEST(DType, ParsesTorchSpellings) {
  EXPECT_EQ(parse_dtype("bfloat16"), DType::BF16);
  EXPECT_EQ(parse_dtype("half"), DType::F16);
  EXPECT_EQ(parse_dtype("float"), DType::F32);
  EXPECT_FALSE(parse_dtype("float8").has_value());
  EXPECT_EQ(dtype_size(DType::I64), 8u);
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 lies exactly between two bf16 values: ties go to the even mantissa (1.0).
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3f80);
  // 1 + 3 * 2^-8 ties between 1+2^-7 (odd) and 1+2^-6 (even).
  EXPECT_EQ(float_to_bf16(1.01171875f), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, F16RoundTripsAndSaturates) {
  for (float value : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f, 0.333251953125f})
    EXPECT_EQ(f16_to_float(float_to_f16(value)), value) << value;
  EXPECT_TRUE(std::isinf(f16_to_float(float_to_f16(1e6f))));
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  // Subnormal rounding: 1.5 * 2^-24 ties to even (2 * 2^-24).
  EXPECT_EQ(float_to_f16(8.940696716308594e-08f), 0x0002);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_floats({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor row = t.select(0, 1);
  EXPECT_EQ(row.shape(), (Shape{3}));
  EXPECT_EQ(row.item_float(0), 3.0f);
  Tensor column = t.slice(1, 1, 2);
  EXPECT_FALSE(column.is_contiguous());
  EXPECT_EQ(column.to_float_vector(), (std::vector<float>{1, 4}));
  Tensor transposed = t.transpose(0, 1).contiguous();
  EXPECT_EQ(transposed.to_float_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  t.data<float>()[4] = 40;
  EXPECT_EQ(row.item_float(1), 40.0f);
  EXPECT_EQ(t.view({3, -1}).shape(), (Shape{3, 2}));
}

TEST(Tensor, ConvertsDtypes) {
  Tensor t = Tensor::from_floats({1.5f, -2.0f, 3.140625f}, {3});
  Tensor b = t.to(DType::BF16);
  EXPECT_EQ(b.dtype(), DType::BF16);
  EXPECT_EQ(b.to(DType::F32).to_float_vector(), (std::vector<float>{1.5f, -2.0f, 3.140625f}));
  EXPECT_EQ(t.to(DType::F16).to_float_vector(), (std::vector<float>{1.5f, -2.0f, 3.140625f}));
}

TEST(Tensor, RejectsBadViewsWithTypedErrors) {
  Tensor t = Tensor::zeros({2, 3}, DType::F32);
  try {
    t.view({4, 2});
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(error.what()).find("[4, 2]"), std::string::npos);
  }
  EXPECT_THROW(t.slice(1, 2, 5), Error);
  EXPECT_THROW(t.transpose(0, 1).view({6}), Error);
  EXPECT_THROW(t.to(Device::cuda()), Error);  // no CUDA in the CPU test build -> Unsupported
}

TEST(Parallel, CoversEveryIndexOnce) {
  std::vector<int> hits(10007, 0);
  parallel_for(static_cast<int64_t>(hits.size()), 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) hits[i] += 1;
  });
  for (int h : hits) ASSERT_EQ(h, 1);
}
