// The op entry points dispatch on the device through ops/dispatch.h only: no other file of
// src/ops tests VLLM_HAVE_CUDA or includes a CUDA backend header (STYLE.md: dispatch once, at the op
// boundary; a new backend is one edit of dispatch.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test_util.h"

namespace fs = std::filesystem;

TEST(OpsDispatch, OnlyDispatchHeaderKnowsTheBackends) {
  const fs::path ops = vllm::testing::source_dir() / "src/ops";
  ASSERT_TRUE(fs::is_directory(ops)) << ops;
  std::string offenders;
  for (const fs::directory_entry& entry : fs::directory_iterator(ops)) {
    // dispatch.h routes the ops; device.cpp is the device layer (memory, graphs, streams) the
    // engine uses instead of the CUDA backend's headers.
    if (entry.path().filename() == "dispatch.h" || entry.path().filename() == "device.cpp") continue;
    std::ifstream file(entry.path());
    std::stringstream text;
    text << file.rdbuf();
    const std::string body = text.str();
    for (const char* needle : {"VLLM_HAVE_CUDA", "backend/cuda/"})
      if (body.find(needle) != std::string::npos) offenders += " " + entry.path().filename().string() + " (" + needle + ")";
  }
  EXPECT_EQ(offenders, "") << "dispatch through ops/dispatch.h instead:" << offenders;
}
