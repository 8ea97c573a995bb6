// HF parity of LLaVA: tools/make_mm_fixtures.py's tiny random LlavaForConditionalGeneration, its
// images and transformers' outputs (tests/data/mm/llava_tiny/expected.json). Skips while the
// fixture is absent. Per case: the prompt LlavaProcessor expands, the CLIP processor's pixel
// values, the first token's top-5 logprobs and the greedy continuation, through chat requests
// with data-URL images.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>

#include <gtest/gtest.h>

#include "api/async_llm.h"
#include "multimodal/media.h"
#include "server/serving_model.h"
#include "test_util.h"

using namespace vllm;
using server::Json;

namespace {

std::filesystem::path fixture_dir() { return vllm::testing::source_dir() / "tests/data/mm/llava_tiny"; }

std::string file_base64(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = v << 8 | (k < n ? bytes[i + k] : 0);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? table[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

}  // namespace

TEST(LlavaHfParity, PromptPixelsLogprobsAndGreedyTokens) {
  const auto dir = fixture_dir();
  if (!std::filesystem::exists(dir / "expected.json"))
    GTEST_SKIP() << "no fixture: run python3 tools/make_mm_fixtures.py --out tests/data/mm/llava_tiny";
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(dir / "expected.json"));
  EngineArgs args;
  args.model = dir.string();
  args.device = "cpu";
  args.seed = 0;
  auto engine = create_engine_client(args);
  server::ServingModel model = server::make_serving_model(*engine, args, dir);
  for (const auto& c : expected["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    Json content = Json::array();
    for (const auto& image : c["images"]) {
      const std::string path = image.get<std::string>();
      const std::string type = path.ends_with(".png") ? "png" : "jpeg";
      content.push_back({{"type", "image_url"},
                         {"image_url", {{"url", "data:image/" + type + ";base64," + file_base64(dir / path)}}}});
    }
    content.push_back({{"type", "text"}, {"text", c["text"]}});
    const size_t new_tokens = c["greedy"].size();
    Json body = {{"messages", {{{"role", "user"}, {"content", content}}}},
                 {"max_tokens", new_tokens}, {"temperature", 0}, {"ignore_eos", true},
                 {"logprobs", true}, {"top_logprobs", 5}};
    server::PreparedRequest prepared = server::prepare_chat(body, model);
    EngineRequest& request = prepared.engine_requests[0];
    EXPECT_EQ(request.prompt_token_ids, c["prompt_token_ids"].get<std::vector<int32_t>>());
    if (c.contains("pixel_values")) {
      ASSERT_TRUE(request.mm_items);
      ASSERT_EQ(request.mm_items->size(), c["pixel_values"].size());
      auto items = std::make_shared<std::vector<mm::MultiModalItem>>(*request.mm_items);
      for (size_t i = 0; i < items->size(); ++i) {
        Tensor& pixels = (*items)[i].pixel_values;
        const auto want = c["pixel_values"][i].get<std::vector<float>>();
        ASSERT_EQ(static_cast<size_t>(pixels.numel()), want.size());
        // transformers 5's CLIPImageProcessor resizes with torchvision, which rounds a few
        // bicubic samples to the other 8-bit level than PIL (whose resampling ours follows):
        // at most one level apart (1/255 over the smallest std), and rarely.
        const float one_level = 1.0f / 255.0f / 0.26130258f + 1e-5f;
        float worst = 0;
        size_t off = 0;
        for (size_t k = 0; k < want.size(); ++k) {
          const float diff = std::abs(pixels.data<float>()[k] - want[k]);
          worst = std::max(worst, diff);
          off += diff > 1e-4f;
        }
        EXPECT_LE(worst, one_level) << "image " << i << ": pixel values differ from CLIPImageProcessor's by " << worst;
        EXPECT_LT(off, want.size() / 100) << "image " << i << ": " << off << " of " << want.size() << " values differ";
        // The model's parity below on HF's own pixels, apart from the processor's rounding.
        pixels = Tensor::from_floats(want, pixels.shape());
      }
      request.mm_items = items;
    }
    std::promise<RequestOutput> done;
    engine->add_request(std::move(request), [&](const RequestOutput& output) {
      if (output.finished) done.set_value(output);
    });
    RequestOutput output = done.get_future().get();
    const auto& first = (*output.outputs[0].logprobs)[0];
    for (const auto& pair : c["top_logprobs"]) {
      const int32_t id = pair[0].get<int32_t>();
      auto found = std::find_if(first.begin(), first.end(), [&](const TokenLogprob& t) { return t.token_id == id; });
      if (found == first.end()) {
        ADD_FAILURE() << "HF's top token " << id << " is not among ours";
        continue;
      }
      EXPECT_NEAR(found->logprob, pair[1].get<float>(), 1e-3) << "token " << id;
    }
    if (c["top2_margin"].get<double>() > 1e-3) {
      EXPECT_EQ(output.outputs[0].token_ids, c["greedy"].get<std::vector<int32_t>>());
    }
  }
}
