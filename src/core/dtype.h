// Element types and the float16/bfloat16 <-> float32 conversions used on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace vllm {

enum class DType : uint8_t { F32, F16, BF16, I32, I64, U8 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "float32", "float16", "bfloat16", "int32", "int64", "uint8"
// Accepts vLLM/torch spellings: float32/float/fp32, float16/half/fp16, bfloat16/bf16, ...
std::optional<DType> parse_dtype(std::string_view name);
inline bool is_floating(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

inline float bf16_to_float(uint16_t value) {
  uint32_t bits = static_cast<uint32_t>(value) << 16;
  float result;
  std::memcpy(&result, &bits, sizeof result);
  return result;
}

// Round to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN.
inline uint16_t float_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_float(uint16_t value);
uint16_t float_to_f16(float value);

// Converts `count` elements between floating dtypes (any pair of f32/f16/bf16).
void convert_floats(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t count);

}  // namespace vllm
