// Multimodal items' hashes as extra keys of the prefix-cache block hashes: two different images
// behind the same placeholder tokens never share a block, and blocks outside an image's range
// keep their hash.
#include <gtest/gtest.h>

#include "engine/kv_cache_utils.h"

using namespace vllm;

TEST(MultiModalBlockKeys, AnImageChangesOnlyTheBlocksItCoversAndTheirChildren) {
  std::vector<int32_t> tokens(48, 7);  // three blocks of 16
  std::vector<BlockHash> plain, image_a, image_b, late;
  extend_block_hashes(plain, tokens, 16, "");
  const std::vector<BlockExtraKey> a = {{2, 10, "image-a"}}, b = {{2, 10, "image-b"}}, in_third = {{36, 40, "image-a"}};
  extend_block_hashes(image_a, tokens, 16, "", a);
  extend_block_hashes(image_b, tokens, 16, "", b);
  extend_block_hashes(late, tokens, 16, "", in_third);
  ASSERT_EQ(plain.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NE(image_a[i], image_b[i]) << i;  // block 0 differs; 1 and 2 chain from it
    EXPECT_NE(image_a[i], plain[i]) << i;
  }
  EXPECT_EQ(late[0], plain[0]);
  EXPECT_EQ(late[1], plain[1]);
  EXPECT_NE(late[2], plain[2]);
  std::vector<BlockHash> again;
  extend_block_hashes(again, tokens, 16, "", a);
  EXPECT_EQ(again, image_a);
}
