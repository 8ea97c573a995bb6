#pragma once

namespace vllm {
inline constexpr const char* kVersion = "0.1.0";
}
