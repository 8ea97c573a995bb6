#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "loader/loader_test_util.h"
#include "loader/model_config.h"

using namespace vllm;
using json = nlohmann::json;
using vllm::testing::expect_error;
using vllm::testing::TempDir;
using vllm::testing::write_text;

namespace {

// A transformers 4.x Llama config.json (Llama-3.2-1B's fields, smaller numbers).
json llama_4x() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "tie_word_embeddings": true,
    "rope_theta": 500000.0, "torch_dtype": "bfloat16",
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"}})");
}

ModelConfig config(json fields) { return ModelConfig::from_json(std::move(fields), "/m/config.json"); }

}  // namespace

TEST(ModelConfig, ReadsTransformers4Fields) {
  ModelConfig c = config(llama_4x());
  EXPECT_EQ(c.architecture(), "LlamaForCausalLM");
  EXPECT_EQ(c.model_type(), "llama");
  EXPECT_EQ(c.hidden_size(), 64);
  EXPECT_EQ(c.num_hidden_layers(), 2);
  EXPECT_EQ(c.num_attention_heads(), 4);
  EXPECT_EQ(c.num_key_value_heads(), 2);
  EXPECT_EQ(c.vocab_size(), 100);
  EXPECT_EQ(c.head_dim(), 16);  // hidden_size / num_attention_heads
  EXPECT_EQ(c.dtype(), DType::BF16);
  EXPECT_EQ(c.max_position_embeddings(), 2048);
  EXPECT_EQ(c.sliding_window(), std::nullopt);
  EXPECT_TRUE(c.layer_types().empty());
  EXPECT_DOUBLE_EQ(c.get_float("rms_norm_eps"), 1e-5);
  EXPECT_TRUE(c.get_bool("tie_word_embeddings", false));
  EXPECT_FALSE(c.get_bool("attention_bias", false));
  EXPECT_EQ(c.get_int("intermediate_size"), 128);
  EXPECT_EQ(c.get_int("absent", 7), 7);
  EXPECT_EQ(c.get_string("hidden_act", "silu"), "silu");
  EXPECT_TRUE(c.has("rope_scaling"));
  EXPECT_EQ(c.get_float("rope_scaling.factor"), 32.0);  // dotted paths reach nested objects
  EXPECT_EQ(c.text_config().hidden_size(), 64);           // no text_config: itself
}

TEST(ModelConfig, DefaultsAndAliases) {
  json fields = llama_4x();
  fields.erase("num_key_value_heads");
  fields["head_dim"] = 32;  // Gemma-style explicit head_dim
  EXPECT_EQ(config(fields).num_key_value_heads(), 4);
  EXPECT_EQ(config(fields).head_dim(), 32);
  fields["head_dim"] = nullptr;
  EXPECT_EQ(config(fields).head_dim(), 16);

  ModelConfig gpt2 = config(json::parse(R"({"architectures": ["GPT2LMHeadModel"], "n_embd": 48,
      "n_layer": 3, "n_head": 6, "n_positions": 1024, "vocab_size": 50, "max_position_embeddings": null})"));
  EXPECT_EQ(gpt2.hidden_size(), 48);
  EXPECT_EQ(gpt2.num_hidden_layers(), 3);
  EXPECT_EQ(gpt2.num_attention_heads(), 6);
  EXPECT_EQ(gpt2.head_dim(), 8);
  EXPECT_EQ(gpt2.max_position_embeddings(), 1024);
  EXPECT_EQ(gpt2.dtype(), std::nullopt);
  EXPECT_EQ(gpt2.model_type(), "");
}

TEST(ModelConfig, NumbersAcceptTheOtherNumericKind) {
  ModelConfig c = config({{"a", 4096.0}, {"b", 3}, {"c", 1.5}});
  EXPECT_EQ(c.get_int("a"), 4096);
  EXPECT_DOUBLE_EQ(c.get_float("b"), 3.0);
  expect_error([&] { c.get_int("c"); }, ErrorKind::InvalidArgument,
               {"/m/config.json: field 'c' must be an integer, got 1.5"});
}

TEST(ModelConfig, DtypeSpellings) {
  EXPECT_EQ(config({{"dtype", "float16"}}).dtype(), DType::F16);  // 5.x
  EXPECT_EQ(config({{"torch_dtype", "float32"}}).dtype(), DType::F32);  // 4.x
  EXPECT_EQ(config({{"dtype", "bfloat16"}, {"torch_dtype", "float32"}}).dtype(), DType::BF16);
  EXPECT_EQ(config({{"dtype", nullptr}, {"torch_dtype", "float16"}}).dtype(), DType::F16);
  expect_error([&] { config({{"torch_dtype", "float64"}}).dtype(); }, ErrorKind::Unsupported,
               {"/m/config.json: field 'torch_dtype' is \"float64\", supported: float32, float16, bfloat16"});
  expect_error([&] { config({{"dtype", 16}}).dtype(); }, ErrorKind::InvalidArgument,
               {"field 'dtype' must be a string, got 16"});
}

TEST(ModelConfig, MissingAndIllTypedFields) {
  json fields = llama_4x();
  fields.erase("num_attention_heads");
  expect_error([&] { config(fields).num_attention_heads(); }, ErrorKind::InvalidArgument,
               {"/m/config.json: field 'num_attention_heads' is missing (also looked for 'n_head'"});
  expect_error([&] { config(fields).get_int("num_attention_heads"); }, ErrorKind::InvalidArgument,
               {"/m/config.json: field 'num_attention_heads' is missing"});
  fields["num_attention_heads"] = "32";
  expect_error([&] { config(fields).num_attention_heads(); }, ErrorKind::InvalidArgument,
               {"/m/config.json: field 'num_attention_heads' must be an integer, got \"32\""});
  expect_error([&] { config(fields).find_float("num_attention_heads"); }, ErrorKind::InvalidArgument,
               {"field 'num_attention_heads' must be a number, got \"32\""});
  fields["num_attention_heads"] = 0;
  expect_error([&] { config(fields).num_attention_heads(); }, ErrorKind::InvalidArgument,
               {"field 'num_attention_heads' must be positive, got 0"});
  fields["num_attention_heads"] = 4;
  fields["num_key_value_heads"] = 3;
  expect_error([&] { config(fields).num_key_value_heads(); }, ErrorKind::InvalidArgument,
               {"field 'num_key_value_heads' must divide num_attention_heads 4, got 3"});
  fields["tie_word_embeddings"] = "yes";
  expect_error([&] { config(fields).get_bool("tie_word_embeddings", false); }, ErrorKind::InvalidArgument,
               {"field 'tie_word_embeddings' must be true or false, got \"yes\""});
  fields["model_type"] = 5;
  expect_error([&] { config(fields).model_type(); }, ErrorKind::InvalidArgument,
               {"field 'model_type' must be a string, got 5"});
  ModelConfig odd = config({{"hidden_size", 10}, {"num_attention_heads", 3}});
  expect_error([&] { odd.head_dim(); }, ErrorKind::InvalidArgument,
               {"/m/config.json: hidden_size 10 is not divisible by num_attention_heads 3"});
}

TEST(ModelConfig, Architectures) {
  expect_error([&] { config({{"model_type", "llama"}}).architecture(); }, ErrorKind::InvalidArgument,
               {"/m/config.json: field 'architectures' is missing"});
  expect_error([&] { config({{"architectures", json::array()}}).architecture(); }, ErrorKind::InvalidArgument,
               {"field 'architectures' must be a non-empty list of strings, got []"});
  expect_error([&] { config({{"architectures", "LlamaForCausalLM"}}).architecture(); },
               ErrorKind::InvalidArgument, {"must be a non-empty list of strings, got \"LlamaForCausalLM\""});
}

TEST(ModelConfig, SlidingWindowAndLayerTypes) {
  EXPECT_EQ(config({{"sliding_window", 4096}}).sliding_window(), 4096);
  EXPECT_EQ(config({{"sliding_window", nullptr}}).sliding_window(), std::nullopt);
  // Qwen2 4.x configs carry a window they do not use.
  EXPECT_EQ(config({{"sliding_window", 32768}, {"use_sliding_window", false}}).sliding_window(), std::nullopt);
  ModelConfig v5 = config(json::parse(
      R"({"num_hidden_layers": 3, "layer_types": ["sliding_attention", "sliding_attention", "full_attention"]})"));
  EXPECT_EQ(v5.layer_types(), (std::vector<std::string>{"sliding_attention", "sliding_attention", "full_attention"}));
  expect_error([&] { config({{"num_hidden_layers", 2}, {"layer_types", {"full_attention"}}}).layer_types(); },
               ErrorKind::InvalidArgument, {"field 'layer_types' has 1 entries but num_hidden_layers is 2"});
  expect_error([&] { config({{"layer_types", {1, 2}}}).layer_types(); }, ErrorKind::InvalidArgument,
               {"field 'layer_types' must be a list of strings, got [1,2]"});
}

// ---------------------------------------------------------------------------------------------
// Rope

TEST(RopeParameters, Transformers4WithRopeType) {
  json rope = config(llama_4x()).rope_parameters();
  EXPECT_EQ(rope["rope_type"], "llama3");
  EXPECT_EQ(rope["rope_theta"], 500000.0);
  EXPECT_EQ(rope["factor"], 32.0);
  EXPECT_EQ(rope["original_max_position_embeddings"], 8192);
}

TEST(RopeParameters, Transformers4WithType) {
  json fields = llama_4x();
  fields["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  fields.erase("rope_theta");
  json rope = config(fields).rope_parameters();
  EXPECT_EQ(rope, json({{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 10000.0}}));
}

TEST(RopeParameters, Transformers4DefaultsAndRenames) {
  json fields = llama_4x();
  fields["rope_scaling"] = nullptr;
  EXPECT_EQ(config(fields).rope_parameters(), json({{"rope_type", "default"}, {"rope_theta", 500000.0}}));
  // Phi-3: "su" is longrope, original_max_position_embeddings sits at the top level.
  fields["rope_scaling"] = {{"type", "su"}, {"short_factor", {1.0, 1.5}}, {"long_factor", {2.0, 3.0}}};
  fields["original_max_position_embeddings"] = 4096;
  fields["partial_rotary_factor"] = 0.5;
  json phi = config(fields).rope_parameters();
  EXPECT_EQ(phi["rope_type"], "longrope");
  EXPECT_EQ(phi["original_max_position_embeddings"], 4096);
  EXPECT_EQ(phi["partial_rotary_factor"], 0.5);
  // Qwen2-VL: "mrope" is default rope split by mrope_section.
  fields["rope_scaling"] = {{"type", "mrope"}, {"mrope_section", {16, 24, 24}}};
  json qwen = config(fields).rope_parameters();
  EXPECT_EQ(qwen["rope_type"], "default");
  EXPECT_EQ(qwen["mrope_section"], json({16, 24, 24}));
  fields["rope_scaling"] = {{"mrope_section", {16, 24, 24}}};
  EXPECT_EQ(config(fields).rope_parameters()["rope_type"], "default");
}

TEST(RopeParameters, Transformers4Gemma3LocalBase) {
  json fields = {{"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0},
                 {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}}};
  EXPECT_EQ(config(fields).rope_parameters("full_attention")["rope_type"], "linear");
  EXPECT_EQ(config(fields).rope_parameters("sliding_attention"),
            json({{"rope_type", "default"}, {"rope_theta", 10000.0}}));
}

TEST(RopeParameters, Transformers5Flat) {
  json fields = {{"dtype", "bfloat16"},
                 {"rope_parameters", {{"rope_type", "yarn"}, {"rope_theta", 1e6}, {"factor", 4.0},
                                      {"original_max_position_embeddings", 32768}}}};
  json rope = config(fields).rope_parameters();
  EXPECT_EQ(rope["rope_type"], "yarn");
  EXPECT_EQ(rope["rope_theta"], 1e6);
  EXPECT_EQ(config(fields).rope_parameters("sliding_attention"), rope);  // flat: every layer type
  EXPECT_EQ(config({{"rope_parameters", {{"rope_theta", 5e5}}}}).rope_parameters(),
            json({{"rope_type", "default"}, {"rope_theta", 5e5}}));
}

TEST(RopeParameters, Transformers5PerLayerType) {
  json fields = json::parse(R"({"rope_parameters": {
      "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
      "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}})");
  EXPECT_EQ(config(fields).rope_parameters()["rope_type"], "linear");
  EXPECT_EQ(config(fields).rope_parameters("sliding_attention")["rope_theta"], 10000.0);
  expect_error([&] { config(fields).rope_parameters("chunked_attention"); }, ErrorKind::InvalidArgument,
               {"/m/config.json: field 'rope_parameters' has no entry for layer type 'chunked_attention' "
                "(has: full_attention, sliding_attention)"});
}

TEST(RopeParameters, Errors) {
  json fields = llama_4x();
  fields["rope_scaling"] = {{"type", "foo"}, {"factor", 2.0}};
  expect_error([&] { config(fields).rope_parameters(); }, ErrorKind::Unsupported,
               {"/m/config.json: rope_scaling.type \"foo\" is not supported (known: default, linear, dynamic, "
                "yarn, longrope, llama3)"});
  fields["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0}};
  expect_error([&] { config(fields).rope_parameters(); }, ErrorKind::InvalidArgument,
               {"field 'rope_scaling.low_freq_factor' is missing (rope_type \"llama3\" needs it)"});
  fields["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", "2"}};
  expect_error([&] { config(fields).rope_parameters(); }, ErrorKind::InvalidArgument,
               {"field 'rope_scaling.factor' must be a number, got \"2\""});
  fields["rope_scaling"] = {{"factor", 2.0}};
  expect_error([&] { config(fields).rope_parameters(); }, ErrorKind::InvalidArgument,
               {"field 'rope_scaling' needs a \"rope_type\""});
  expect_error([&] { config({{"rope_parameters", {{"rope_type", "ntk"}}}}).rope_parameters(); },
               ErrorKind::Unsupported, {"rope_parameters.rope_type \"ntk\" is not supported"});
  expect_error([&] { config({{"rope_theta", "1e6"}}).rope_parameters(); }, ErrorKind::InvalidArgument,
               {"field 'rope_theta' must be a number, got \"1e6\""});
}

// ---------------------------------------------------------------------------------------------
// Overrides, sub-configs, files

TEST(ModelConfig, HfOverridesMergeRecursively) {
  json overrides = parse_hf_overrides(
      R"({"rope_scaling": {"factor": 16.0}, "max_position_embeddings": 4096, "architectures": ["X"],
          "torch_dtype": null})");
  ModelConfig c = ModelConfig::from_json(llama_4x(), "/m/config.json", overrides);
  EXPECT_EQ(c.max_position_embeddings(), 4096);
  EXPECT_EQ(c.architecture(), "X");
  EXPECT_EQ(c.dtype(), std::nullopt);
  json rope = c.rope_parameters();
  EXPECT_EQ(rope["factor"], 16.0);          // overridden
  EXPECT_EQ(rope["low_freq_factor"], 1.0);  // kept
  EXPECT_EQ(c.raw()["rope_scaling"]["factor"], 16.0);

  EXPECT_EQ(merge_json({{"a", {{"b", 1}, {"c", {1, 2}}}}}, {{"a", {{"c", {3}}, {"d", 4}}}}),
            json({{"a", {{"b", 1}, {"c", {3}}, {"d", 4}}}}));
  EXPECT_EQ(parse_hf_overrides("  "), json::object());
  expect_error([] { parse_hf_overrides("[1]"); }, ErrorKind::InvalidArgument,
               {"--hf-overrides must be a JSON object", "got [1]"});
  expect_error([] { parse_hf_overrides("{\"a\": "); }, ErrorKind::InvalidArgument,
               {"--hf-overrides: not valid JSON"});
}

TEST(ModelConfig, TextConfigOfMultimodalWrappers) {
  ModelConfig c = config(json::parse(R"({"architectures": ["Gemma3ForConditionalGeneration"],
      "torch_dtype": "bfloat16", "text_config": {"model_type": "gemma3_text", "hidden_size": 32,
      "num_attention_heads": 2, "head_dim": 8, "num_hidden_layers": "2"}})"));
  ModelConfig text = c.text_config();
  EXPECT_TRUE(text.is_text_config());
  EXPECT_EQ(text.model_type(), "gemma3_text");
  EXPECT_EQ(text.head_dim(), 8);
  EXPECT_EQ(text.dtype(), DType::BF16);  // inherited from the wrapper
  EXPECT_EQ(c.architecture(), "Gemma3ForConditionalGeneration");
  expect_error([&] { text.num_hidden_layers(); }, ErrorKind::InvalidArgument,
               {"/m/config.json: field 'text_config.num_hidden_layers' must be an integer, got \"2\""});
  expect_error([&] { text.vocab_size(); }, ErrorKind::InvalidArgument,
               {"field 'text_config.vocab_size' is missing"});
}

TEST(ModelConfig, FromDirectory) {
  TempDir dir;
  write_text(dir / "config.json", llama_4x().dump(2));
  ModelConfig c = ModelConfig::from_directory(dir.path(), {{"vocab_size", 200}});
  EXPECT_EQ(c.vocab_size(), 200);
  EXPECT_EQ(c.source(), (dir / "config.json").string());
  write_text(dir / "config.json", "{\n  \"hidden_size\": 64,\n  \"vocab_size\": \n}");
  expect_error([&] { ModelConfig::from_directory(dir.path()); }, ErrorKind::InvalidArgument,
               {(dir / "config.json").string() + ": not valid JSON (parse error at line 4"});
  write_text(dir / "config.json", "[]");
  expect_error([&] { ModelConfig::from_directory(dir.path()); }, ErrorKind::InvalidArgument,
               {"config.json: must be a JSON object, got []"});
  std::filesystem::remove(dir / "config.json");
  expect_error([&] { ModelConfig::from_directory(dir.path()); }, ErrorKind::NotFound,
               {(dir / "config.json").string() + ": not found"});
}

TEST(GenerationConfig, AbsentPresentMalformed) {
  TempDir dir;
  EXPECT_EQ(read_generation_config(dir.path()), json::object());
  write_text(dir / "generation_config.json", R"({"eos_token_id": [1, 2], "temperature": 0.6})");
  EXPECT_EQ(read_generation_config(dir.path())["temperature"], 0.6);
  write_text(dir / "generation_config.json", R"({"eos_token_id": [1, 2)");
  expect_error([&] { read_generation_config(dir.path()); }, ErrorKind::InvalidArgument,
               {"generation_config.json: not valid JSON"});
  write_text(dir / "generation_config.json", "3");
  expect_error([&] { read_generation_config(dir.path()); }, ErrorKind::InvalidArgument,
               {"generation_config.json: must be a JSON object, got 3"});
}

// Python's json.dump writes Infinity and NaN (Mamba-2's time_step_limit [0.0, Infinity]).
TEST(ModelConfig, PythonInfinityAndNanRead) {
  TempDir dir;
  write_text(dir.path() / "config.json",
             R"({"architectures": ["Mamba2ForCausalLM"], "time_step_limit": [0.0, Infinity],)"
             R"( "low": -Infinity, "odd": NaN, "name": "Infinity NaN"})");
  ModelConfig c = ModelConfig::from_directory(dir.path());
  const json& limit = c.raw()["time_step_limit"];
  EXPECT_EQ(limit[0].get<double>(), 0.0);
  EXPECT_GT(limit[1].get<double>(), 1e308);
  EXPECT_LT(c.get_float("low"), -1e308);
  EXPECT_FALSE(c.has("odd"));                              // NaN reads as null
  EXPECT_EQ(c.get_string("name", ""), "Infinity NaN");      // strings untouched
  write_text(dir.path() / "config.json", R"({"a": Infinit})");
  expect_error([&] { ModelConfig::from_directory(dir.path()); }, ErrorKind::InvalidArgument, {"not valid JSON"});
}
