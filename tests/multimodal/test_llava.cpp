// LLaVA end to end on a tiny random checkpoint written here: chat requests with data-URL images
// through the OpenAI request code, the processor and the engine (encoder stage, merge, prefix
// cache), and the errors a request can meet.
#include <filesystem>
#include <fstream>
#include <future>

#include <gtest/gtest.h>
#include <unistd.h>

#include "api/async_llm.h"
#include "core/error.h"
#include "llava_test_checkpoint.h"
#include "multimodal/image.h"
#include "server/serving_model.h"

using namespace vllm;
using server::Json;

namespace {

std::string base64(const std::vector<uint8_t>& bytes) {
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

mm::Image pattern(int64_t width, int64_t height, int seed) {
  mm::Image image{width, height, {}};
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      image.rgb.insert(image.rgb.end(), {static_cast<uint8_t>((x * 9 + seed * 70) % 256),
                                         static_cast<uint8_t>((y * 5 + seed * 30) % 256),
                                         static_cast<uint8_t>((x * y + seed) % 256)});
  return image;
}

std::string png_url(const mm::Image& image) { return "data:image/png;base64," + base64(mm::encode_png(image)); }

Json image_part(const std::string& url) { return {{"type", "image_url"}, {"image_url", {{"url", url}}}}; }

Json chat_body(const std::vector<std::string>& urls, const std::string& text = "what is this picture", int n = 1) {
  Json content = Json::array();
  for (const std::string& url : urls) content.push_back(image_part(url));
  content.push_back({{"type", "text"}, {"text", text}});
  return {{"messages", {{{"role", "user"}, {"content", content}}}},
          {"max_tokens", 4},
          {"temperature", 0},
          {"ignore_eos", true},
          {"logprobs", true},
          {"top_logprobs", 3},
          {"n", n}};
}

class LlavaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("vllm_tiny_llava_" + std::to_string(::getpid()));
    vllm::testing::write_tiny_llava(dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  struct Served {
    std::unique_ptr<EngineClient> engine;
    server::ServingModel model;
  };
  static Served serve(std::optional<int64_t> max_batched = std::nullopt, std::string limits = "") {
    EngineArgs args;
    args.model = dir_.string();
    args.device = "cpu";
    args.seed = 0;
    args.max_num_batched_tokens = max_batched;
    if (max_batched) args.max_num_seqs = 2;
    args.limit_mm_per_prompt = std::move(limits);
    Served served;
    served.engine = create_engine_client(args);
    served.model = server::make_serving_model(*served.engine, args, dir_);
    return served;
  }
  // The final outputs of one chat body.
  static std::vector<RequestOutput> run(Served& served, const Json& body) {
    server::PreparedRequest prepared = server::prepare_chat(body, served.model);
    std::vector<RequestOutput> outputs;
    for (EngineRequest& request : prepared.engine_requests) {
      std::promise<RequestOutput> done;
      served.engine->add_request(std::move(request), [&](const RequestOutput& output) {
        if (output.finished) done.set_value(output);
      });
      outputs.push_back(done.get_future().get());
    }
    return outputs;
  }
  static std::vector<TokenLogprobs> logprobs(const RequestOutput& output) { return *output.outputs[0].logprobs; }

  static inline std::filesystem::path dir_;
};

void expect_same_logprobs(const RequestOutput& a, const RequestOutput& b) {
  ASSERT_EQ(a.outputs[0].token_ids, b.outputs[0].token_ids);
  const auto& la = *a.outputs[0].logprobs;
  const auto& lb = *b.outputs[0].logprobs;
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i)
    for (size_t k = 0; k < la[i].size(); ++k) {
      EXPECT_EQ(la[i][k].token_id, lb[i][k].token_id);
      EXPECT_NEAR(la[i][k].logprob, lb[i][k].logprob, 1e-4);
    }
}

}  // namespace

TEST_F(LlavaTest, TheImageExpandsToItsPatchesAndChangesTheAnswer) {
  Served served = serve();
  ASSERT_NE(served.model.mm_processor, nullptr);
  server::PreparedRequest prepared = server::prepare_chat(chat_body({png_url(pattern(45, 30, 1))}), served.model);
  const EngineRequest& request = prepared.engine_requests[0];
  // "user: <image> what is this picture \nassistant:" with <image> (id 39) expanded to (28 / 14)^2 = 4 tokens.
  EXPECT_EQ(request.prompt_token_ids, (std::vector<int32_t>{3, 39, 39, 39, 39, 5, 6, 7, 15, 4}));
  ASSERT_TRUE(request.mm_items);
  ASSERT_EQ(request.mm_items->size(), 1u);
  EXPECT_EQ((*request.mm_items)[0].offset, 1);
  EXPECT_EQ((*request.mm_items)[0].length, 4);
  EXPECT_EQ((*request.mm_items)[0].pixel_values.shape(), (Shape{3, 28, 28}));

  // 35 prompt tokens: two full blocks of 16, the image in the first.
  const std::string text = "what is this picture and the cat and the dog and the red and the blue picture "
                           "hello world hello world what is this a cat and a dog";
  RequestOutput first = run(served, chat_body({png_url(pattern(45, 30, 1))}, text))[0];
  RequestOutput again = run(served, chat_body({png_url(pattern(45, 30, 1))}, text))[0];
  RequestOutput other = run(served, chat_body({png_url(pattern(45, 30, 2))}, text))[0];
  expect_same_logprobs(first, again);
  // The second run of the same image is a prefix-cache hit (the image hash is part of the key).
  EXPECT_GT(again.metrics.num_cached_tokens, 0);
  // A different image behind the same placeholder tokens: no shared blocks, other logits.
  EXPECT_EQ(other.metrics.num_cached_tokens, 0);
  EXPECT_NE(logprobs(first)[0][0].logprob, logprobs(other)[0][0].logprob);
}

TEST_F(LlavaTest, ChunkedPrefillAcrossTheImageGivesTheSameOutput) {
  const Json body = chat_body({png_url(pattern(40, 40, 3)), png_url(pattern(30, 50, 4))}, "the cat and the dog");
  Served whole = serve();
  Served chunked = serve(3);  // 3-token chunks split both images' 4-token ranges
  RequestOutput a = run(whole, body)[0];
  RequestOutput b = run(chunked, body)[0];
  EXPECT_EQ(a.prompt_token_ids.size(), 15u);  // user: + 2 x 4 image tokens + 5 words + assistant:
  expect_same_logprobs(a, b);
}

TEST_F(LlavaTest, ImageEmbedsAndTextOnlyRequests) {
  Served served = serve();
  RequestOutput text_only = run(served, {{"messages", {{{"role", "user"}, {"content", {{{"type", "text"}, {"text", "hello world"}}}}}}},
                                         {"max_tokens", 2}, {"temperature", 0}, {"ignore_eos", true}})[0];
  EXPECT_EQ(text_only.outputs[0].token_ids.size(), 2u);
  // image_embeds: a safetensors blob of [2, 16] -> two placeholder rows.
  std::vector<float> values(32, 0.25f);
  const auto path = dir_ / "embeds.safetensors";
  save_safetensors(path, {{"embeds", Tensor::from_floats(values, {2, 16})}});
  std::ifstream file(path, std::ios::binary);
  std::vector<uint8_t> blob((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  Json body = {{"messages", {{{"role", "user"}, {"content", {{{"type", "image_embeds"}, {"image_embeds", base64(blob)}},
                                                             {{"type", "text"}, {"text", "what"}}}}}}},
               {"max_tokens", 2}, {"temperature", 0}, {"ignore_eos", true}};
  server::PreparedRequest prepared = server::prepare_chat(body, served.model);
  EXPECT_EQ(std::count(prepared.engine_requests[0].prompt_token_ids.begin(),
                       prepared.engine_requests[0].prompt_token_ids.end(), 39), 2);
  EXPECT_EQ(run(served, body)[0].outputs[0].token_ids.size(), 2u);
}

TEST_F(LlavaTest, BadImagesAndLimitsAreRequestErrors) {
  Served served = serve(std::nullopt, R"({"image": 1})");
  auto error_of = [&](const Json& body) -> std::string {
    try {
      server::prepare_chat(body, served.model);
    } catch (const Error& error) {
      EXPECT_EQ(server::to_api_error(error).status(), 400) << error.what();
      return error.what();
    }
    ADD_FAILURE() << "accepted";
    return "";
  };
  EXPECT_EQ(error_of(chat_body({png_url(pattern(8, 8, 1)), png_url(pattern(8, 8, 2))})),
            "At most 1 image(s) may be provided in one prompt. Set `--limit-mm-per-prompt` to increase this limit.");
  EXPECT_NE(error_of(chat_body({"data:image/png;base64,bm90IGFuIGltYWdl"})).find("cannot identify image file"),
            std::string::npos);
  EXPECT_NE(error_of(chat_body({"data:image/png;base64,@@@"})).find("Invalid base64"), std::string::npos);
  EXPECT_NE(error_of(chat_body({"file:///etc/passwd"})).find("--allowed-local-media-path"), std::string::npos);
  // Two placeholders in the text for one image.
  EXPECT_NE(error_of(chat_body({png_url(pattern(8, 8, 1))}, "<image> <image>")).find("prompt placeholders"),
            std::string::npos);
  // The engine still serves.
  EXPECT_EQ(run(served, chat_body({png_url(pattern(8, 8, 1))}))[0].outputs[0].token_ids.size(), 4u);
}

TEST_F(LlavaTest, NSequencesShareOneEncoderRun) {
  Served served = serve();
  Json body = chat_body({png_url(pattern(33, 29, 5))}, "what is this picture", 2);
  body["temperature"] = 1.0;  // n > 1 needs sampling
  body["seed"] = 7;
  RequestOutput output = run(served, body)[0];
  ASSERT_EQ(output.outputs.size(), 2u);
  EXPECT_EQ(output.outputs[0].token_ids.size(), 4u);
  EXPECT_EQ(output.outputs[1].token_ids.size(), 4u);
}
