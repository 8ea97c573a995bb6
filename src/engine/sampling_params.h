// Per-request sampling parameters with vLLM's field names, defaults and validation messages
// (vllm/sampling_params.py). The engine builds one from a request's JSON (`from_json`), fills
// unset fields from the model's generation_config.json (`apply_generation_config`, vLLM's
// `--generation-config auto`), and validates it against the vocabulary (`validate`).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "structured/grammar.h"

namespace vllm {

// Temperatures below this are greedy (vLLM's _SAMPLING_EPS).
inline constexpr double kSamplingEps = 1e-5;
// Positive temperatures below this are raised to it: lower ones overflow softmax (vLLM _MAX_TEMP).
inline constexpr double kMinPositiveTemperature = 1e-2;
// vLLM's --max-logprobs default.
inline constexpr int kDefaultMaxLogprobs = 20;

struct SamplingParams {
  int n = 1;
  std::optional<int> best_of;
  double presence_penalty = 0.0;    // [-2, 2], over output tokens
  double frequency_penalty = 0.0;   // [-2, 2], over output tokens
  double repetition_penalty = 1.0;  // > 0, over prompt + output tokens
  double temperature = 1.0;         // [0, 2]; < kSamplingEps is greedy
  double top_p = 1.0;               // (0, 1]
  int top_k = 0;                    // 0 or -1: off
  double min_p = 0.0;               // [0, 1]
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> bad_words;
  bool include_stop_str_in_output = false;
  bool ignore_eos = false;
  std::optional<int> max_tokens = 16;  // nullopt: up to max_model_len
  int min_tokens = 0;
  std::optional<int> logprobs;         // -1: the whole vocabulary
  std::optional<int> prompt_logprobs;  // -1: the whole vocabulary
  std::map<int32_t, float> logit_bias;  // clamped to [-100, 100] as vLLM does
  std::optional<std::vector<int32_t>> allowed_token_ids;
  bool skip_special_tokens = true;
  bool spaces_between_special_tokens = true;
  std::optional<int> truncate_prompt_tokens;  // -1: truncate to max_model_len
  bool detokenize = true;
  // vLLM's RequestOutputKind: CUMULATIVE (every step that changes the request yields its whole
  // output so far) or FINAL_ONLY (only the finished output: what the offline LLM asks for, which
  // spares a copy of every sequence's tokens per step). Set by the API layer, never from JSON.
  enum class OutputKind { Cumulative, FinalOnly };
  OutputKind output_kind = OutputKind::Cumulative;

  // Structured outputs (vLLM's StructuredOutputsParams): the constraint the request names
  // through structured_outputs, response_format or the older guided_* fields; the input
  // processor compiles it into `grammar`, and each sequence matches its tokens against that.
  std::optional<structured::StructuredOutputSpec> structured_outputs;
  std::shared_ptr<const structured::CompiledGrammar> grammar;
  // With a reasoning parser the constraint starts after its end marker (vLLM's reasoning_ended):
  // the marker's text (set by the server, never from JSON) and its token ids (the input
  // processor's). Empty: the constraint holds from the first output token.
  std::string structured_outputs_after;
  std::vector<int32_t> structured_outputs_after_ids;

  // Token sequences of `bad_words`, filled by `set_bad_words_token_ids` once a tokenizer is known.
  std::vector<std::vector<int32_t>> bad_words_token_ids;

  // Greedy sampling (temperature 0): top_p/top_k/min_p have no effect.
  bool is_greedy() const { return temperature < kSamplingEps; }

  // Throws vllm::Error(InvalidArgument) with vLLM's message for the first bad field. With
  // vocab_size > 0 also checks that token ids (logit_bias, allowed_token_ids, stop_token_ids,
  // bad words) are in [0, vocab_size) and that logprobs <= max_logprobs (-1: no limit).
  void validate(int vocab_size = 0, int max_logprobs = kDefaultMaxLogprobs) const;

  // vLLM's __post_init__ fix-ups: seed -1 -> unset, duplicates dropped from stop_token_ids and
  // bad_words, 0 < temperature < 0.01 raised to 0.01, greedy resets top_p/top_k/min_p.
  void normalize();

  // Parses the sampling fields of an OpenAI/vLLM request body (unknown keys are ignored, null
  // means "not given"), then normalize() and validate(). Type errors name the field:
  //   'temperature' must be a number, got "hot"
  // Accepts "max_completion_tokens" as an alias of "max_tokens"; "max_tokens": null means
  // "up to the context".
  static SamplingParams from_json(const nlohmann::json& body);
  // The structured-output constraint of a request body (called by from_json), vLLM's way:
  // `structured_outputs` (json, regex, choice, grammar, json_object, structural_tag,
  // whitespace_pattern, disable_any_whitespace), else the older guided_json / guided_regex /
  // guided_choice / guided_grammar / guided_json_object / guided_whitespace_pattern; then a
  // `response_format` of type json_object or json_schema (structural_tag: its JSON) sets
  // json_object / json. More than one constraint: InvalidArgument with vLLM's message; ill-typed
  // fields name themselves. Marks "disable_any_whitespace" set when the request gives it.
  void read_structured_outputs(const nlohmann::json& body);

  // Fills fields the request did not set (see is_set) from generation_config.json: temperature,
  // top_p, top_k, min_p, repetition_penalty and max_new_tokens -> max_tokens. Extra end-of-
  // sequence ids of generation_config's eos_token_id (an int or a list; all but
  // primary_eos_token_id) are added to stop_token_ids unless ignore_eos, as vLLM's
  // update_from_generation_config does.
  void apply_generation_config(const nlohmann::json& generation_config,
                               std::optional<int32_t> primary_eos_token_id = std::nullopt);

  // Tokenizes bad_words as vLLM's update_from_tokenizer: each word with and without a leading
  // space (the latter kept when it gives a different first token of the same length).
  // `encode` must not add special tokens. Throws when a token id exceeds max_token_id.
  void set_bad_words_token_ids(const std::function<std::vector<int32_t>(const std::string&)>& encode,
                               int32_t max_token_id);

  // Fields given explicitly by the request (JSON key names). from_json marks them; code that
  // builds SamplingParams by hand calls mark_set for fields generation_config must not override.
  bool is_set(std::string_view field) const { return explicitly_set_.count(std::string(field)) > 0; }
  void mark_set(std::string field) { explicitly_set_.insert(std::move(field)); }

  // Bytes of output text held back while streaming so a partial stop string is never emitted
  // (vLLM's output_text_buffer_length).
  int output_text_buffer_length() const;

 private:
  std::set<std::string> explicitly_set_;
};

// Python's repr of a float ("-1.0", "1.5", "1e-05"), so messages read as vLLM's.
std::string python_float_repr(double value);

}  // namespace vllm
