#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/sampling_params.h"

namespace vllm {
namespace {

using nlohmann::json;

// The message of the InvalidArgument error `body` throws, or "" when it does not throw.
template <typename F>
std::string error_of(F&& body) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    return e.what();
  }
  return "";
}

std::string parse_error(const json& body) {
  return error_of([&] { SamplingParams::from_json(body); });
}

TEST(SamplingParams, DefaultsAreVllms) {
  SamplingParams p;
  EXPECT_EQ(p.n, 1);
  EXPECT_FALSE(p.best_of);
  EXPECT_EQ(p.presence_penalty, 0.0);
  EXPECT_EQ(p.frequency_penalty, 0.0);
  EXPECT_EQ(p.repetition_penalty, 1.0);
  EXPECT_EQ(p.temperature, 1.0);
  EXPECT_EQ(p.top_p, 1.0);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_EQ(p.min_p, 0.0);
  EXPECT_FALSE(p.seed);
  EXPECT_TRUE(p.stop.empty());
  EXPECT_TRUE(p.stop_token_ids.empty());
  EXPECT_TRUE(p.bad_words.empty());
  EXPECT_FALSE(p.include_stop_str_in_output);
  EXPECT_FALSE(p.ignore_eos);
  EXPECT_EQ(p.max_tokens, 16);
  EXPECT_EQ(p.min_tokens, 0);
  EXPECT_FALSE(p.logprobs);
  EXPECT_FALSE(p.prompt_logprobs);
  EXPECT_TRUE(p.logit_bias.empty());
  EXPECT_FALSE(p.allowed_token_ids);
  EXPECT_TRUE(p.skip_special_tokens);
  EXPECT_TRUE(p.spaces_between_special_tokens);
  EXPECT_FALSE(p.truncate_prompt_tokens);
  EXPECT_TRUE(p.detokenize);
  EXPECT_FALSE(p.is_greedy());
  EXPECT_NO_THROW(p.validate(100));
  // from_json of an empty body gives the same defaults.
  SamplingParams q = SamplingParams::from_json(json::object());
  EXPECT_EQ(q.max_tokens, 16);
  EXPECT_EQ(q.temperature, 1.0);
}

TEST(SamplingParams, ParsesEveryField) {
  json body = {{"n", 2},
               {"best_of", 3},
               {"presence_penalty", 0.5},
               {"frequency_penalty", -0.5},
               {"repetition_penalty", 1.2},
               {"temperature", 0.7},
               {"top_p", 0.9},
               {"top_k", 40},
               {"min_p", 0.05},
               {"seed", 1234},
               {"stop", {"###", "END"}},
               {"stop_token_ids", {7, 8, 7}},
               {"bad_words", {"foo", "bar"}},
               {"include_stop_str_in_output", true},
               {"ignore_eos", true},
               {"max_tokens", 100},
               {"min_tokens", 3},
               {"logprobs", 5},
               {"prompt_logprobs", 2},
               {"logit_bias", {{"5", 1.5}, {"9", -200}}},
               {"allowed_token_ids", {1, 2, 3}},
               {"skip_special_tokens", false},
               {"spaces_between_special_tokens", false},
               {"truncate_prompt_tokens", 50},
               {"detokenize", true},
               {"model", "ignored"}};
  SamplingParams p = SamplingParams::from_json(body);
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.best_of, 3);
  EXPECT_EQ(p.presence_penalty, 0.5);
  EXPECT_EQ(p.frequency_penalty, -0.5);
  EXPECT_DOUBLE_EQ(p.repetition_penalty, 1.2);
  EXPECT_DOUBLE_EQ(p.temperature, 0.7);
  EXPECT_DOUBLE_EQ(p.top_p, 0.9);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_DOUBLE_EQ(p.min_p, 0.05);
  EXPECT_EQ(p.seed, 1234);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"###", "END"}));
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{7, 8}));  // duplicates dropped
  EXPECT_EQ(p.bad_words, (std::vector<std::string>{"foo", "bar"}));
  EXPECT_TRUE(p.include_stop_str_in_output);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_EQ(p.max_tokens, 100);
  EXPECT_EQ(p.min_tokens, 3);
  EXPECT_EQ(p.logprobs, 5);
  EXPECT_EQ(p.prompt_logprobs, 2);
  EXPECT_EQ(p.logit_bias.at(5), 1.5f);
  EXPECT_EQ(p.logit_bias.at(9), -100.0f);  // clamped to [-100, 100]
  EXPECT_EQ(p.allowed_token_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_FALSE(p.skip_special_tokens);
  EXPECT_FALSE(p.spaces_between_special_tokens);
  EXPECT_EQ(p.truncate_prompt_tokens, 50);
  EXPECT_TRUE(p.detokenize);
  EXPECT_TRUE(p.is_set("temperature"));
  EXPECT_FALSE(p.is_set("model"));
}

TEST(SamplingParams, StopAsStringSeedMinusOneAndAliases) {
  SamplingParams p = SamplingParams::from_json(
      {{"stop", "\n"}, {"seed", -1}, {"max_completion_tokens", 7}, {"logprobs", true}});
  EXPECT_EQ(p.stop, std::vector<std::string>{"\n"});
  EXPECT_FALSE(p.seed);  // vLLM: -1 means no seed
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_EQ(p.logprobs, 1);
  SamplingParams unlimited = SamplingParams::from_json({{"max_tokens", nullptr}});
  EXPECT_FALSE(unlimited.max_tokens);
  EXPECT_TRUE(unlimited.is_set("max_tokens"));
  SamplingParams nulls = SamplingParams::from_json({{"temperature", nullptr}, {"top_p", nullptr}});
  EXPECT_EQ(nulls.temperature, 1.0);
  EXPECT_FALSE(nulls.is_set("temperature"));
}

TEST(SamplingParams, GreedyAndTemperatureFixups) {
  SamplingParams greedy = SamplingParams::from_json({{"temperature", 0}, {"top_k", 5}, {"top_p", 0.5}});
  EXPECT_TRUE(greedy.is_greedy());
  EXPECT_EQ(greedy.top_k, 0);
  EXPECT_EQ(greedy.top_p, 1.0);
  SamplingParams tiny = SamplingParams::from_json({{"temperature", 0.001}});
  EXPECT_DOUBLE_EQ(tiny.temperature, 0.01);  // vLLM's _MAX_TEMP floor
  EXPECT_FALSE(tiny.is_greedy());
  EXPECT_EQ(parse_error({{"temperature", 0}, {"n", 2}}), "n must be 1 when using greedy sampling, got 2.");
}

TEST(SamplingParams, RejectsInvalidValuesWithVllmMessages) {
  EXPECT_EQ(parse_error({{"temperature", -1}}), "temperature must be non-negative, got -1.0.");
  EXPECT_EQ(parse_error({{"temperature", 2.5}}), "temperature must be in [0, 2], got 2.5.");
  EXPECT_EQ(parse_error({{"top_p", 1.5}}), "top_p must be in (0, 1], got 1.5.");
  EXPECT_EQ(parse_error({{"top_p", 0}}), "top_p must be in (0, 1], got 0.0.");
  EXPECT_EQ(parse_error({{"top_k", -3}}), "top_k must be 0 (disable), or at least 1, got -3.");
  EXPECT_EQ(parse_error({{"top_k", -1}}), "");  // vLLM accepts -1 as "off"
  EXPECT_EQ(parse_error({{"min_p", 1.5}}), "min_p must be in [0, 1], got 1.5.");
  EXPECT_EQ(parse_error({{"presence_penalty", 3}}), "presence_penalty must be in [-2, 2], got 3.0.");
  EXPECT_EQ(parse_error({{"frequency_penalty", -2.5}}), "frequency_penalty must be in [-2, 2], got -2.5.");
  EXPECT_EQ(parse_error({{"repetition_penalty", 0}}), "repetition_penalty must be greater than zero, got 0.0.");
  EXPECT_EQ(parse_error({{"max_tokens", 0}}), "max_tokens must be at least 1, got 0.");
  EXPECT_EQ(parse_error({{"min_tokens", -1}}), "min_tokens must be greater than or equal to 0, got -1.");
  EXPECT_EQ(parse_error({{"max_tokens", 5}, {"min_tokens", 6}}),
            "min_tokens must be less than or equal to max_tokens=5, got 6.");
  EXPECT_EQ(parse_error({{"n", 0}}), "n must be at least 1, got 0.");
  EXPECT_EQ(parse_error({{"n", 3}, {"best_of", 2}}),
            "best_of must be greater than or equal to n, got n=3 and best_of=2.");
  EXPECT_EQ(parse_error({{"logprobs", -2}}), "logprobs must be non-negative or -1, got -2.");
  EXPECT_EQ(parse_error({{"logprobs", -1}}), "");
  EXPECT_EQ(parse_error({{"prompt_logprobs", -5}}), "prompt_logprobs must be non-negative or -1, got -5.");
  EXPECT_EQ(parse_error({{"stop", {"a", ""}}}), "stop cannot contain an empty string.");
  EXPECT_EQ(parse_error({{"stop", "x"}, {"detokenize", false}}),
            "stop strings are only supported when detokenize is True. Set detokenize=True to use stop.");
  EXPECT_EQ(parse_error({{"bad_words", {"x", ""}}}), "bad_words cannot contain an empty string. Got bad_words=['x', '']");
  EXPECT_EQ(parse_error({{"allowed_token_ids", json::array()}}), "allowed_token_ids is not None and empty!");
  EXPECT_EQ(parse_error({{"truncate_prompt_tokens", 0}}), "truncate_prompt_tokens must be >= 1 or -1, got 0.");
  EXPECT_EQ(parse_error({{"logit_bias", {{"abc", 1}}}}),
            "logit_bias contains key(s) that cannot be converted to integer token IDs: ['abc']");
}

TEST(SamplingParams, TypeErrorsNameTheField) {
  EXPECT_EQ(parse_error({{"temperature", "hot"}}), "'temperature' must be a number, got \"hot\"");
  EXPECT_EQ(parse_error({{"top_k", 1.5}}), "'top_k' must be an integer, got 1.5");
  EXPECT_EQ(parse_error({{"ignore_eos", 1}}), "'ignore_eos' must be a boolean, got 1");
  EXPECT_EQ(parse_error({{"stop", 3}}), "'stop' must be a string or a list of strings, got 3");
  EXPECT_EQ(parse_error({{"stop_token_ids", {1, "x"}}}), "'stop_token_ids' must be a list of integers, got [1,\"x\"]");
  EXPECT_EQ(parse_error({{"logit_bias", {{"3", "x"}}}}), "'logit_bias[3]' must be a number, got \"x\"");
  EXPECT_EQ(parse_error({{"temperature", true}}), "'temperature' must be a number, got true");
  EXPECT_EQ(parse_error(json::array()), "sampling parameters must be a JSON object, got []");
  EXPECT_EQ(SamplingParams::from_json({{"top_k", 5.0}}).top_k, 5);  // integral floats are ints
}

TEST(SamplingParams, VocabularyChecks) {
  SamplingParams p;
  p.logit_bias = {{3, 1.0f}, {10, 1.0f}, {-1, 1.0f}};
  EXPECT_EQ(error_of([&] { p.validate(10); }),
            "token_id(s) [-1, 10] in logit_bias contain out-of-vocab token ids. Vocabulary size: 10");
  EXPECT_EQ(error_of([&] { p.validate(0); }), "");  // vocabulary unknown: not checked
  SamplingParams q;
  q.allowed_token_ids = std::vector<int32_t>{1, 12};
  EXPECT_EQ(error_of([&] { q.validate(10); }), "allowed_token_ids contains out-of-vocab token id!");
  SamplingParams r;
  r.stop_token_ids = {11};
  EXPECT_EQ(error_of([&] { r.validate(10); }),
            "token_id(s) [11] in stop_token_ids contain out-of-vocab token ids. Vocabulary size: 10");
  SamplingParams s;
  s.logprobs = 21;
  EXPECT_EQ(error_of([&] { s.validate(100); }), "Requested sample logprobs of 21, which is greater than max allowed: 20");
  s.logprobs = -1;  // the whole vocabulary
  EXPECT_EQ(error_of([&] { s.validate(100, -1); }), "");
  EXPECT_EQ(error_of([&] { s.validate(100, 20); }), "Requested sample logprobs of 100, which is greater than max allowed: 20");
}

TEST(SamplingParams, GenerationConfigFillsOnlyUnsetFields) {
  json generation_config = {{"temperature", 0.6},   {"top_p", 0.95},      {"top_k", 20},
                            {"min_p", 0.1},         {"repetition_penalty", 1.1},
                            {"max_new_tokens", 512}, {"eos_token_id", {2, 7}}, {"do_sample", true}};
  SamplingParams unset = SamplingParams::from_json(json::object());
  unset.apply_generation_config(generation_config, /*primary_eos_token_id=*/2);
  EXPECT_DOUBLE_EQ(unset.temperature, 0.6);
  EXPECT_DOUBLE_EQ(unset.top_p, 0.95);
  EXPECT_EQ(unset.top_k, 20);
  EXPECT_DOUBLE_EQ(unset.min_p, 0.1);
  EXPECT_DOUBLE_EQ(unset.repetition_penalty, 1.1);
  EXPECT_EQ(unset.max_tokens, 512);
  EXPECT_EQ(unset.stop_token_ids, std::vector<int32_t>{7});  // the extra EOS, not the primary

  SamplingParams set = SamplingParams::from_json(
      {{"temperature", 1.0}, {"top_p", 1.0}, {"top_k", -1}, {"min_p", 0.0},
       {"repetition_penalty", 1.0}, {"max_tokens", 9}, {"ignore_eos", true}});
  set.apply_generation_config(generation_config, 2);
  EXPECT_EQ(set.temperature, 1.0);
  EXPECT_EQ(set.top_p, 1.0);
  EXPECT_EQ(set.top_k, -1);
  EXPECT_EQ(set.min_p, 0.0);
  EXPECT_EQ(set.repetition_penalty, 1.0);
  EXPECT_EQ(set.max_tokens, 9);
  EXPECT_TRUE(set.stop_token_ids.empty());  // ignore_eos

  SamplingParams by_hand;
  by_hand.temperature = 0.0;
  by_hand.mark_set("temperature");
  by_hand.apply_generation_config(generation_config);
  EXPECT_TRUE(by_hand.is_greedy());
  EXPECT_EQ(by_hand.top_k, 0);  // greedy resets top_k/top_p/min_p
}

TEST(SamplingParams, BadWordsTokenization) {
  // A toy tokenizer: "foo" -> [5], " foo" -> [6], "a b" -> [1, 2], " a b" -> [3, 2].
  auto encode = [](const std::string& text) -> std::vector<int32_t> {
    if (text == "foo") return {5};
    if (text == " foo") return {6};
    if (text == "a b") return {1, 2};
    if (text == " a b") return {3, 2};
    if (text == "big") return {99};
    return {};
  };
  SamplingParams p;
  p.bad_words = {"foo", " a b"};
  p.set_bad_words_token_ids(encode, 50);
  EXPECT_EQ(p.bad_words_token_ids, (std::vector<std::vector<int32_t>>{{5}, {6}, {1, 2}, {3, 2}}));
  p.bad_words = {"big"};
  EXPECT_EQ(error_of([&] { p.set_bad_words_token_ids(encode, 50); }),
            "The model vocabulary size is 51, but the following tokens were specified as bad: [99]. "
            "All token id values should be integers satisfying: 0 <= token_id <= 50.");
}

TEST(SamplingParams, PythonFloatRepr) {
  EXPECT_EQ(python_float_repr(-1.0), "-1.0");
  EXPECT_EQ(python_float_repr(1.5), "1.5");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1e-05), "1e-05");
  EXPECT_EQ(python_float_repr(100.0), "100.0");
}

TEST(SamplingParams, OutputTextBufferLength) {
  SamplingParams p;
  p.stop = {"ab", "abcd"};
  EXPECT_EQ(p.output_text_buffer_length(), 3);
  p.include_stop_str_in_output = true;
  EXPECT_EQ(p.output_text_buffer_length(), 0);
}

}  // namespace
}  // namespace vllm
