#include "engine/sampling_params.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "core/error.h"

namespace vllm {

using nlohmann::json;

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, result.ptr);
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

namespace {

[[noreturn]] void invalid(const std::string& message) { fail(ErrorKind::InvalidArgument, message); }

template <typename T>
std::string python_list(const std::vector<T>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += str(i ? ", " : "", values[i]);
  return text + "]";
}

std::string python_str_list(const std::vector<std::string>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += str(i ? ", '" : "'", values[i], "'");
  return text + "]";
}

template <typename Range>
void check_in_vocab(const Range& token_ids, int vocab_size, const char* field) {
  std::vector<int64_t> bad;
  for (auto id : token_ids)
    if (id < 0 || id >= vocab_size) bad.push_back(id);
  if (!bad.empty())
    invalid(str("token_id(s) ", python_list(bad), " in ", field,
                " contain out-of-vocab token ids. Vocabulary size: ", vocab_size));
}

// --- JSON field readers: each names the field in its type error. ------------------------------

[[noreturn]] void type_error(const std::string& field, const char* expected, const json& value) {
  invalid(str("'", field, "' must be ", expected, ", got ", value.dump()));
}

double read_number(const std::string& field, const json& value) {
  if (!value.is_number()) type_error(field, "a number", value);
  return value.get<double>();
}

int64_t read_integer(const std::string& field, const json& value) {
  if (value.is_number_unsigned()) {
    // Above 2^63 - 1 the cast would wrap to a negative number and the error quote a wrong value.
    uint64_t number = value.get<uint64_t>();
    if (number > static_cast<uint64_t>(INT64_MAX)) invalid(str("'", field, "' is out of range, got ", number));
    return static_cast<int64_t>(number);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {  // pydantic's lax mode accepts 5.0 for an int
    double number = value.get<double>();
    if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 9e15)
      return static_cast<int64_t>(number);
    // An integer literal past 2^64 parses as a double; quote it as the integer it was.
    if (std::isfinite(number) && number == std::floor(number)) {
      char digits[400];
      std::snprintf(digits, sizeof(digits), "%.0f", number);
      invalid(str("'", field, "' is out of range, got ", digits));
    }
  }
  type_error(field, "an integer", value);
}

int read_int(const std::string& field, const json& value) {
  int64_t number = read_integer(field, value);
  if (number < INT32_MIN || number > INT32_MAX) invalid(str("'", field, "' is out of range, got ", number));
  return static_cast<int>(number);
}

bool read_bool(const std::string& field, const json& value) {
  if (!value.is_boolean()) type_error(field, "a boolean", value);
  return value.get<bool>();
}

std::vector<std::string> read_string_list(const std::string& field, const json& value,
                                          bool allow_single_string) {
  if (allow_single_string && value.is_string()) return {value.get<std::string>()};
  if (!value.is_array())
    type_error(field, allow_single_string ? "a string or a list of strings" : "a list of strings",
               value);
  std::vector<std::string> items;
  for (const json& item : value) {
    if (!item.is_string()) type_error(field, "a list of strings", value);
    items.push_back(item.get<std::string>());
  }
  return items;
}

std::vector<int32_t> read_int_list(const std::string& field, const json& value) {
  if (!value.is_array()) type_error(field, "a list of integers", value);
  std::vector<int32_t> items;
  for (const json& item : value) {
    if (!item.is_number() || item.is_boolean()) type_error(field, "a list of integers", value);
    items.push_back(read_int(field, item));
  }
  return items;
}

template <typename T>
void dedupe_keep_order(std::vector<T>& values) {
  std::vector<T> kept;
  for (const T& value : values)
    if (std::find(kept.begin(), kept.end(), value) == kept.end()) kept.push_back(value);
  values = std::move(kept);
}

}  // namespace

void SamplingParams::normalize() {
  if (seed && *seed == -1) seed.reset();
  if (temperature > 0 && temperature < kMinPositiveTemperature) temperature = kMinPositiveTemperature;
  dedupe_keep_order(stop_token_ids);
  dedupe_keep_order(bad_words);
  for (auto& [token, bias] : logit_bias) bias = std::clamp(bias, -100.0f, 100.0f);
  if (is_greedy()) {
    top_p = 1.0;
    top_k = 0;
    min_p = 0.0;
  }
}

void SamplingParams::validate(int vocab_size, int max_logprobs) const {
  if (n < 1) invalid(str("n must be at least 1, got ", n, "."));
  if (best_of && *best_of < n)
    invalid(str("best_of must be greater than or equal to n, got n=", n, " and best_of=", *best_of,
                "."));
  if (!(presence_penalty >= -2.0 && presence_penalty <= 2.0))
    invalid(str("presence_penalty must be in [-2, 2], got ", python_float_repr(presence_penalty), "."));
  if (!(frequency_penalty >= -2.0 && frequency_penalty <= 2.0))
    invalid(str("frequency_penalty must be in [-2, 2], got ", python_float_repr(frequency_penalty),
                "."));
  if (!std::isfinite(repetition_penalty))
    invalid(str("repetition_penalty must be a finite number, got ",
                python_float_repr(repetition_penalty), "."));
  if (repetition_penalty <= 0.0)
    invalid(str("repetition_penalty must be greater than zero, got ",
                python_float_repr(repetition_penalty), "."));
  if (!std::isfinite(temperature))
    invalid(str("temperature must be a finite number, got ", python_float_repr(temperature), "."));
  if (temperature < 0.0)
    invalid(str("temperature must be non-negative, got ", python_float_repr(temperature), "."));
  if (temperature > 2.0)
    invalid(str("temperature must be in [0, 2], got ", python_float_repr(temperature), "."));
  if (!(top_p > 0.0 && top_p <= 1.0))
    invalid(str("top_p must be in (0, 1], got ", python_float_repr(top_p), "."));
  if (top_k < -1) invalid(str("top_k must be 0 (disable), or at least 1, got ", top_k, "."));
  if (!(min_p >= 0.0 && min_p <= 1.0))
    invalid(str("min_p must be in [0, 1], got ", python_float_repr(min_p), "."));
  if (max_tokens && *max_tokens < 1)
    invalid(str("max_tokens must be at least 1, got ", *max_tokens, "."));
  if (min_tokens < 0)
    invalid(str("min_tokens must be greater than or equal to 0, got ", min_tokens, "."));
  if (max_tokens && min_tokens > *max_tokens)
    invalid(str("min_tokens must be less than or equal to max_tokens=", *max_tokens, ", got ",
                min_tokens, "."));
  if (logprobs && *logprobs != -1 && *logprobs < 0)
    invalid(str("logprobs must be non-negative or -1, got ", *logprobs, "."));
  if (prompt_logprobs && *prompt_logprobs != -1 && *prompt_logprobs < 0)
    invalid(str("prompt_logprobs must be non-negative or -1, got ", *prompt_logprobs, "."));
  if (truncate_prompt_tokens && *truncate_prompt_tokens != -1 && *truncate_prompt_tokens < 1)
    invalid(str("truncate_prompt_tokens must be >= 1 or -1, got ", *truncate_prompt_tokens, "."));
  for (const std::string& s : stop)
    if (s.empty()) invalid("stop cannot contain an empty string.");
  if (!stop.empty() && !detokenize)
    invalid("stop strings are only supported when detokenize is True. Set detokenize=True to use "
            "stop.");
  for (const std::string& word : bad_words)
    if (word.empty())
      invalid(str("bad_words cannot contain an empty string. Got bad_words=", python_str_list(bad_words)));
  if (is_greedy() && n > 1) invalid(str("n must be 1 when using greedy sampling, got ", n, "."));
  if (allowed_token_ids && allowed_token_ids->empty())
    invalid("allowed_token_ids is not None and empty!");

  if (vocab_size > 0) {
    if (max_logprobs == -1) max_logprobs = vocab_size;
    for (auto [field, value] : {std::pair{"logprobs", logprobs}, {"prompt_logprobs", prompt_logprobs}}) {
      if (!value || *value == 0) continue;
      int requested = *value == -1 ? vocab_size : *value;
      if (requested > max_logprobs)
        invalid(str("Requested ", field == std::string("logprobs") ? "sample" : "prompt",
                    " logprobs of ", requested, ", which is greater than max allowed: ", max_logprobs));
    }
    std::vector<int32_t> bias_ids;
    for (const auto& [token, bias] : logit_bias) bias_ids.push_back(token);
    check_in_vocab(bias_ids, vocab_size, "logit_bias");
    check_in_vocab(stop_token_ids, vocab_size, "stop_token_ids");
    if (allowed_token_ids)
      for (int32_t id : *allowed_token_ids)
        if (id < 0 || id >= vocab_size) invalid("allowed_token_ids contains out-of-vocab token id!");
    for (const auto& word : bad_words_token_ids) check_in_vocab(word, vocab_size, "bad_words");
  }
}

SamplingParams SamplingParams::from_json(const json& body) {
  if (!body.is_object()) invalid(str("sampling parameters must be a JSON object, got ", body.dump()));
  SamplingParams params;
  auto given = [&](const char* field) -> const json* {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return nullptr;
    params.mark_set(field);
    return &*it;
  };

  if (auto* v = given("n")) params.n = read_int("n", *v);
  if (auto* v = given("best_of")) params.best_of = read_int("best_of", *v);
  if (auto* v = given("presence_penalty")) params.presence_penalty = read_number("presence_penalty", *v);
  if (auto* v = given("frequency_penalty"))
    params.frequency_penalty = read_number("frequency_penalty", *v);
  if (auto* v = given("repetition_penalty"))
    params.repetition_penalty = read_number("repetition_penalty", *v);
  if (auto* v = given("temperature")) params.temperature = read_number("temperature", *v);
  if (auto* v = given("top_p")) params.top_p = read_number("top_p", *v);
  if (auto* v = given("top_k")) params.top_k = read_int("top_k", *v);
  if (auto* v = given("min_p")) params.min_p = read_number("min_p", *v);
  if (auto* v = given("seed")) params.seed = read_integer("seed", *v);
  if (auto* v = given("stop")) params.stop = read_string_list("stop", *v, /*allow_single_string=*/true);
  if (auto* v = given("stop_token_ids")) params.stop_token_ids = read_int_list("stop_token_ids", *v);
  if (auto* v = given("bad_words")) params.bad_words = read_string_list("bad_words", *v, false);
  if (auto* v = given("include_stop_str_in_output"))
    params.include_stop_str_in_output = read_bool("include_stop_str_in_output", *v);
  if (auto* v = given("ignore_eos")) params.ignore_eos = read_bool("ignore_eos", *v);
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    auto it = body.find(field);
    if (it == body.end()) continue;
    params.mark_set("max_tokens");
    if (it->is_null()) {
      params.max_tokens.reset();
    } else {
      params.max_tokens = read_int(field, *it);
      break;  // max_tokens wins over max_completion_tokens when both are given
    }
  }
  if (auto* v = given("min_tokens")) params.min_tokens = read_int("min_tokens", *v);
  if (auto* v = given("logprobs")) {
    if (v->is_boolean()) {
      if (v->get<bool>()) params.logprobs = 1;  // vLLM: logprobs=True means 1
    } else {
      params.logprobs = read_int("logprobs", *v);
    }
  }
  if (auto* v = given("prompt_logprobs")) {
    if (v->is_boolean()) {
      if (v->get<bool>()) params.prompt_logprobs = 1;
    } else {
      params.prompt_logprobs = read_int("prompt_logprobs", *v);
    }
  }
  if (auto* v = given("logit_bias")) {
    if (!v->is_object()) type_error("logit_bias", "an object mapping token ids to numbers", *v);
    std::vector<std::string> bad_keys;
    for (const auto& [key, bias] : v->items()) {
      int64_t token = 0;
      auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), token);
      if (error != std::errc() || end != key.data() + key.size() || token < INT32_MIN ||
          token > INT32_MAX) {
        bad_keys.push_back(key);
        continue;
      }
      params.logit_bias[static_cast<int32_t>(token)] =
          static_cast<float>(read_number(str("logit_bias[", key, "]"), bias));
    }
    if (!bad_keys.empty())
      invalid(str("logit_bias contains key(s) that cannot be converted to integer token IDs: ",
                  python_str_list(bad_keys)));
  }
  if (auto* v = given("allowed_token_ids"))
    params.allowed_token_ids = read_int_list("allowed_token_ids", *v);
  if (auto* v = given("skip_special_tokens"))
    params.skip_special_tokens = read_bool("skip_special_tokens", *v);
  if (auto* v = given("spaces_between_special_tokens"))
    params.spaces_between_special_tokens = read_bool("spaces_between_special_tokens", *v);
  if (auto* v = given("truncate_prompt_tokens"))
    params.truncate_prompt_tokens = read_int("truncate_prompt_tokens", *v);
  if (auto* v = given("detokenize")) params.detokenize = read_bool("detokenize", *v);
  params.read_structured_outputs(body);

  params.normalize();
  params.validate();
  return params;
}

void SamplingParams::apply_generation_config(const json& generation_config,
                                             std::optional<int32_t> primary_eos_token_id) {
  if (!generation_config.is_object()) return;
  auto value_of = [&](const char* key) -> const json* {
    auto it = generation_config.find(key);
    return it == generation_config.end() || it->is_null() ? nullptr : &*it;
  };
  auto field = [](const char* key) { return str("generation_config.json: ", key); };
  if (!is_set("temperature"))
    if (auto* v = value_of("temperature")) temperature = read_number(field("temperature"), *v);
  if (!is_set("top_p"))
    if (auto* v = value_of("top_p")) top_p = read_number(field("top_p"), *v);
  if (!is_set("top_k"))
    if (auto* v = value_of("top_k")) top_k = read_int(field("top_k"), *v);
  if (!is_set("min_p"))
    if (auto* v = value_of("min_p")) min_p = read_number(field("min_p"), *v);
  if (!is_set("repetition_penalty"))
    if (auto* v = value_of("repetition_penalty"))
      repetition_penalty = read_number(field("repetition_penalty"), *v);
  if (!is_set("max_tokens"))
    if (auto* v = value_of("max_new_tokens")) max_tokens = read_int(field("max_new_tokens"), *v);

  if (auto* v = value_of("eos_token_id"); v && !ignore_eos) {
    std::vector<int32_t> eos_ids =
        v->is_array() ? read_int_list(field("eos_token_id"), *v)
                      : std::vector<int32_t>{read_int(field("eos_token_id"), *v)};
    for (int32_t id : eos_ids) {
      if (primary_eos_token_id && id == *primary_eos_token_id) continue;
      if (std::find(stop_token_ids.begin(), stop_token_ids.end(), id) == stop_token_ids.end())
        stop_token_ids.push_back(id);
    }
  }
  normalize();
}

void SamplingParams::set_bad_words_token_ids(
    const std::function<std::vector<int32_t>(const std::string&)>& encode, int32_t max_token_id) {
  bad_words_token_ids.clear();
  for (const std::string& word : bad_words) {
    std::string stripped = word.substr(std::min(word.size(), word.find_first_not_of(" \t\n\r\f\v")));
    for (bool add_prefix_space : {false, true}) {
      std::vector<int32_t> ids = encode(add_prefix_space ? " " + stripped : stripped);
      if (ids.empty()) {
        if (!add_prefix_space) invalid("bad_words entries must tokenize to at least one token.");
        continue;
      }
      // The spaced form is a separate bad word only when it starts with another token and has
      // the same length (it is the mid-sentence spelling of the same word).
      if (!add_prefix_space ||
          (ids[0] != bad_words_token_ids.back()[0] && ids.size() == bad_words_token_ids.back().size()))
        bad_words_token_ids.push_back(std::move(ids));
    }
  }
  std::vector<int64_t> bad;
  for (const auto& word : bad_words_token_ids)
    for (int32_t id : word)
      if (id < 0 || id > max_token_id) bad.push_back(id);
  if (!bad.empty())
    invalid(str("The model vocabulary size is ", max_token_id + 1,
                ", but the following tokens were specified as bad: ", python_list(bad),
                ". All token id values should be integers satisfying: 0 <= token_id <= ",
                max_token_id, "."));
}

int SamplingParams::output_text_buffer_length() const {
  if (stop.empty() || include_stop_str_in_output) return 0;
  size_t longest = 0;
  for (const std::string& s : stop) longest = std::max(longest, s.size());
  return static_cast<int>(longest) - 1;
}

}  // namespace vllm
