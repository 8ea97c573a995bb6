#include "core/dtype.h"

#include <string>

#include "core/error.h"

namespace vllm {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::U8: return "uint8";
  }
  return "unknown";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "float32" || name == "float" || name == "fp32") return DType::F32;
  if (name == "float16" || name == "half" || name == "fp16") return DType::F16;
  if (name == "bfloat16" || name == "bf16") return DType::BF16;
  if (name == "int32") return DType::I32;
  if (name == "int64") return DType::I64;
  if (name == "uint8") return DType::U8;
  return std::nullopt;
}

// IEEE binary16 <-> binary32, round to nearest even (as torch's .to(torch.float16)).
float f16_to_float(uint16_t value) {
  uint32_t sign = static_cast<uint32_t>(value & 0x8000u) << 16;
  uint32_t exponent = (value >> 10) & 0x1fu;
  uint32_t mantissa = value & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400u)) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float result;
  std::memcpy(&result, &bits, sizeof result);
  return result;
}

uint16_t float_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs_bits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs_bits < 0x38800000u) {  // subnormal or zero in half precision
    if (abs_bits < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t exponent = abs_bits >> 23;
    uint32_t mantissa = (abs_bits & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exponent;  // half subnormal = mantissa * 2^(exponent - 126)
    uint32_t half_mantissa = mantissa >> (shift + 0);
    uint32_t remainder = mantissa & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (remainder > halfway || (remainder == halfway && (half_mantissa & 1u))) ++half_mantissa;
    return static_cast<uint16_t>(sign | half_mantissa);
  }
  uint32_t rounded = abs_bits + 0xfffu + ((abs_bits >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

void convert_floats(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t count) {
  VLLM_CHECK(is_floating(src_dtype) && is_floating(dst_dtype), InvalidArgument,
             "cannot convert ", dtype_name(src_dtype), " to ", dtype_name(dst_dtype));
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, count * dtype_size(src_dtype));
    return;
  }
  auto load = [&](size_t i) -> float {
    switch (src_dtype) {
      case DType::F32: return static_cast<const float*>(src)[i];
      case DType::F16: return f16_to_float(static_cast<const uint16_t*>(src)[i]);
      default: return bf16_to_float(static_cast<const uint16_t*>(src)[i]);
    }
  };
#pragma omp parallel for if (count > (1 << 16))
  for (size_t i = 0; i < count; ++i) {
    float value = load(i);
    switch (dst_dtype) {
      case DType::F32: static_cast<float*>(dst)[i] = value; break;
      case DType::F16: static_cast<uint16_t*>(dst)[i] = float_to_f16(value); break;
      default: static_cast<uint16_t*>(dst)[i] = float_to_bf16(value); break;
    }
  }
}

}  // namespace vllm
