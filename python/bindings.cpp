// The `vllm_cpp._vllm_cpp` extension: a thin layer over the offline C++ API (vllm::LLM). The
// Python package (python/vllm_cpp) turns vLLM's keyword arguments, prompt forms and classes into
// the plain calls here; this file parses engine flags with the CLI's own table, runs the engine
// with the GIL released, and hands results back as dicts and lists.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/llm.h"
#include "core/error.h"
#include "text/chat/chat_template.h"

namespace py = pybind11;

namespace vllm::python {
namespace {

// A prompt as the package passes it: text, or token ids.
using Prompt = std::variant<std::string, std::vector<int32_t>>;

nlohmann::json parse_json(const std::string& text, const char* what) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  VLLM_CHECK(!value.is_discarded(), InvalidArgument, what, " is not valid JSON");
  return value;
}

// Every long flag name of the engine (without "--"), so the package can tell vLLM's keyword
// arguments this engine takes from those it does not.
std::vector<std::string> engine_arg_names() {
  CLI::App app;
  EngineArgs args;
  add_engine_args(app, args);
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back(name);
    for (const std::string& name : option->get_fnames())
      if (name.rfind("no-", 0) == 0) names.push_back(name);
  }
  return names;
}

// Engine flags ("--max-model-len", "128", ...) parsed exactly as `vllm-cpp serve` parses them.
EngineArgs parse_engine_args(std::vector<std::string> flags) {
  CLI::App app;
  EngineArgs args;
  add_engine_args(app, args);
  std::reverse(flags.begin(), flags.end());  // CLI11 takes the argument vector back to front
  try {
    app.parse(flags);
  } catch (const CLI::ParseError& error) {
    fail(ErrorKind::InvalidArgument, error.what());
  }
  if (args.model.empty()) args.model = default_model_path();
  return args;
}

py::list logprob_entries(const TokenLogprobs& position) {
  py::list entries;  // (token_id, logprob, rank, decoded_token), the chosen token first
  for (const TokenLogprob& entry : position)
    entries.append(py::make_tuple(entry.token_id, entry.logprob, entry.rank, entry.decoded_token));
  return entries;
}

py::dict request_output(const RequestOutput& output) {
  py::dict result;
  result["request_id"] = output.request_id;
  result["prompt"] = output.prompt;
  result["prompt_token_ids"] = output.prompt_token_ids;
  result["finished"] = output.finished;
  result["num_cached_tokens"] = output.metrics.num_cached_tokens;
  py::object prompt_logprobs = py::none();
  if (output.prompt_logprobs) {
    py::list positions;
    for (const std::optional<TokenLogprobs>& position : *output.prompt_logprobs)
      positions.append(position ? py::object(logprob_entries(*position)) : py::none());
    prompt_logprobs = positions;
  }
  result["prompt_logprobs"] = prompt_logprobs;
  py::list completions;
  for (const CompletionOutput& completion : output.outputs) {
    py::dict item;
    item["index"] = completion.index;
    item["text"] = completion.text;
    item["token_ids"] = completion.token_ids;
    item["finish_reason"] = completion.finish_reason.empty() ? py::object(py::none())
                                                              : py::object(py::str(completion.finish_reason));
    py::object stop_reason = py::none();
    if (const std::string* text = std::get_if<std::string>(&completion.stop_reason)) stop_reason = py::str(*text);
    if (const int32_t* token = std::get_if<int32_t>(&completion.stop_reason)) stop_reason = py::int_(*token);
    item["stop_reason"] = stop_reason;
    py::object logprobs = py::none();
    if (completion.logprobs) {
      py::list positions;
      for (const TokenLogprobs& position : *completion.logprobs) positions.append(logprob_entries(position));
      logprobs = positions;
    }
    item["logprobs"] = logprobs;
    completions.append(item);
  }
  result["outputs"] = completions;
  return result;
}

template <typename PooledOutput>
py::dict pooled_fields(const PooledOutput& output) {
  py::dict result;
  result["request_id"] = output.request_id;
  result["prompt_token_ids"] = output.prompt_token_ids;
  result["finished"] = output.finished;
  return result;
}

// vLLM's PoolingParams fields, from the package's dict.
PoolingRequestSpec pooling_spec(const py::dict& fields) {
  PoolingRequestSpec spec;
  auto get = [&fields](const char* name) -> py::object {
    return fields.contains(name) ? py::object(fields[name]) : py::object(py::none());
  };
  if (!get("normalize").is_none()) spec.normalize = get("normalize").cast<bool>();
  if (!get("activation").is_none()) spec.activation = get("activation").cast<bool>();
  if (!get("dimensions").is_none()) spec.dimensions = get("dimensions").cast<int64_t>();
  if (!get("truncate_prompt_tokens").is_none()) spec.truncate_prompt_tokens = get("truncate_prompt_tokens").cast<int64_t>();
  return spec;
}

// One vllm::LLM. Calls hold a mutex (the engine is single-threaded) and release the GIL.
class Engine {
 public:
  explicit Engine(const std::vector<std::string>& flags) : args_(parse_engine_args(flags)) {
    py::gil_scoped_release release;
    llm_ = std::make_unique<LLM>(args_);
  }

  // Requests in prompt order; params_json holds one SamplingParams JSON for all, or one per prompt.
  // An empty params_json takes the model's defaults (generation_config.json), as vLLM does for
  // sampling_params=None.
  py::list generate(const std::vector<Prompt>& prompts, const std::vector<std::string>& params_json,
                    const std::vector<std::string>& prompt_texts = {}) {
    std::vector<SamplingParams> params = sampling_params(params_json, prompts.size());
    std::vector<RequestOutput> outputs;
    std::vector<std::string> texts = prompt_texts;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      std::vector<std::vector<int32_t>> ids;
      texts.resize(prompts.size());
      for (size_t i = 0; i < prompts.size(); ++i) {
        if (const std::string* text = std::get_if<std::string>(&prompts[i])) {
          ids.push_back(llm_->engine().encode(*text));
          texts[i] = *text;
        } else {
          ids.push_back(std::get<std::vector<int32_t>>(prompts[i]));
        }
      }
      outputs = llm_->generate(ids, params);
    }
    py::list results;
    for (size_t i = 0; i < outputs.size(); ++i) {
      outputs[i].prompt = texts[i];
      results.append(request_output(outputs[i]));
    }
    return results;
  }

  // Chat conversations (JSON message lists) rendered with the model's chat template (or
  // `chat_template`), tokenized without adding special tokens, as vllm::LLM::chat does.
  py::list chat(const std::vector<std::string>& conversations_json, const std::vector<std::string>& params_json,
                const std::string& chat_template, bool add_generation_prompt, bool continue_final_message,
                const std::string& tools_json, const std::string& chat_template_kwargs_json) {
    std::vector<std::string> prompts;
    for (const std::string& conversation : conversations_json)
      prompts.push_back(render_chat(conversation, chat_template, add_generation_prompt, continue_final_message,
                                    tools_json, chat_template_kwargs_json));
    std::vector<Prompt> ids;
    for (const std::string& prompt : prompts) ids.emplace_back(encode(prompt, /*add_special_tokens=*/false));
    return generate(ids, params_json, prompts);
  }

  std::string render_chat(const std::string& messages_json, const std::string& chat_template,
                          bool add_generation_prompt, bool continue_final_message, const std::string& tools_json,
                          const std::string& chat_template_kwargs_json) const {
    ChatTemplateOptions options;
    options.add_generation_prompt = add_generation_prompt;
    options.continue_final_message = continue_final_message;
    if (!tools_json.empty()) options.tools = parse_json(tools_json, "tools");
    if (!chat_template_kwargs_json.empty())
      options.chat_template_kwargs = parse_json(chat_template_kwargs_json, "chat_template_kwargs");
    const nlohmann::json messages = parse_json(messages_json, "messages");
    py::gil_scoped_release release;
    ChatTemplate renderer = ChatTemplate::from_directory(llm_->engine().model_dir(),
                                                         chat_template.empty() ? args_.chat_template : chat_template);
    renderer.set_content_format(args_.chat_template_content_format);
    return renderer.render(messages, options);
  }

  py::list embed(const std::vector<Prompt>& prompts, const py::dict& pooling) {
    PoolingRequestSpec spec = pooling_spec(pooling);
    return run_pooling<EmbeddingRequestOutput>(
        [&] { return llm_->embed(token_ids(prompts), spec); },
        [](py::dict& item, const EmbeddingRequestOutput& output) { item["data"] = output.outputs.embedding; });
  }

  py::list classify(const std::vector<Prompt>& prompts, const py::dict& pooling) {
    PoolingRequestSpec spec = pooling_spec(pooling);
    return run_pooling<ClassificationRequestOutput>(
        [&] { return llm_->classify(token_ids(prompts), spec); },
        [](py::dict& item, const ClassificationRequestOutput& output) { item["data"] = output.outputs.probs; });
  }

  py::list score(const std::vector<std::string>& data_1, const std::vector<std::string>& data_2,
                 const py::dict& pooling) {
    PoolingRequestSpec spec = pooling_spec(pooling);
    return run_pooling<ScoringRequestOutput>(
        [&] { return llm_->score(data_1, data_2, spec); },
        [](py::dict& item, const ScoringRequestOutput& output) { item["data"] = output.outputs.score; });
  }

  // The raw pooled tensor (LLM::encode, LLM::reward): its values and shape.
  py::list encode_pooled(const std::vector<Prompt>& prompts, const py::dict& pooling) {
    PoolingRequestSpec spec = pooling_spec(pooling);
    return run_pooling<PoolingRequestOutput>(
        [&] { return llm_->encode(token_ids(prompts), spec); },
        [](py::dict& item, const PoolingRequestOutput& output) {
          item["data"] = output.outputs.data;
          item["shape"] = output.outputs.shape;
        });
  }

  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const {
    return llm_->engine().encode(text, add_special_tokens);
  }

  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    return tokenizer().decode(ids, skip_special_tokens);
  }

  py::dict tokenizer_info() const {
    const Tokenizer& tok = tokenizer();
    py::dict info;
    info["vocab_size"] = tok.vocab_size();
    info["bos_token"] = tok.bos_token();
    info["eos_token"] = tok.eos_token();
    info["bos_token_id"] = tok.bos_token_id() ? py::object(py::int_(*tok.bos_token_id())) : py::object(py::none());
    info["eos_token_id"] = tok.eos_token_id() ? py::object(py::int_(*tok.eos_token_id())) : py::object(py::none());
    return info;
  }

  std::vector<std::string> convert_ids_to_tokens(const std::vector<int32_t>& ids) const {
    std::vector<std::string> tokens;
    for (int32_t id : ids) tokens.push_back(tokenizer().id_to_token(id));
    return tokens;
  }

  py::object convert_token_to_id(const std::string& token) const {
    std::optional<int32_t> id = tokenizer().token_to_id(token);
    return id ? py::object(py::int_(*id)) : py::object(py::none());
  }

  // The model's defaults (generation_config.json) for the fields it can set, as vLLM's
  // LLM.get_default_sampling_params() starts from them.
  py::dict default_sampling_params() const {
    SamplingParams params = llm_->default_sampling_params();
    py::dict fields;
    fields["temperature"] = params.temperature;
    fields["top_p"] = params.top_p;
    fields["top_k"] = params.top_k;
    fields["min_p"] = params.min_p;
    fields["repetition_penalty"] = params.repetition_penalty;
    fields["max_tokens"] = params.max_tokens ? py::object(py::int_(*params.max_tokens)) : py::object(py::none());
    fields["stop_token_ids"] = params.stop_token_ids;
    return fields;
  }

  bool is_pooling() const { return llm_->engine().is_pooling(); }
  std::string model_dir() const { return llm_->engine().model_dir().string(); }

 private:
  const Tokenizer& tokenizer() const {
    std::shared_ptr<const Tokenizer> tok = llm_->engine().tokenizer();
    VLLM_CHECK(tok != nullptr, InvalidArgument, "the tokenizer is not loaded (skip_tokenizer_init=True)");
    return *tok;
  }

  std::vector<SamplingParams> sampling_params(const std::vector<std::string>& params_json, size_t count) const {
    std::vector<SamplingParams> params;
    for (const std::string& json : params_json) params.push_back(SamplingParams::from_json(parse_json(json, "SamplingParams")));
    if (params.empty()) params.push_back(llm_->default_sampling_params());
    VLLM_CHECK(params.size() == 1 || params.size() == count, InvalidArgument, "got ", params.size(),
               " sampling params for ", count, " prompts (give one, or one per prompt)");
    if (params.size() == 1) params.resize(count, params[0]);
    return params;
  }

  std::vector<std::vector<int32_t>> token_ids(const std::vector<Prompt>& prompts) const {
    std::vector<std::vector<int32_t>> ids;
    for (const Prompt& prompt : prompts) {
      const std::string* text = std::get_if<std::string>(&prompt);
      ids.push_back(text ? llm_->engine().encode(*text) : std::get<std::vector<int32_t>>(prompt));
    }
    return ids;
  }

  // Runs a pooling call with the GIL released, then lists its outputs as dicts: the common
  // fields, and those `fill` adds.
  template <typename Output, typename Run, typename Fill>
  py::list run_pooling(Run run, Fill fill) {
    std::vector<Output> outputs;
    {
      py::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex_);
      outputs = run();
    }
    py::list results;
    for (const Output& output : outputs) {
      py::dict item = pooled_fields(output);
      fill(item, output);
      results.append(item);
    }
    return results;
  }

  EngineArgs args_;
  std::unique_ptr<LLM> llm_;
  std::mutex mutex_;
};

}  // namespace
}  // namespace vllm::python

PYBIND11_MODULE(_vllm_cpp, module) {
  using vllm::python::Engine;
  module.doc() = "vllm-cpp's offline engine (vllm::LLM); use the vllm_cpp package, not this module";

  // vllm::Error kinds as Python's built-in exceptions (docs/python.md).
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const vllm::Error& e) {
      switch (e.kind()) {
        case vllm::ErrorKind::InvalidArgument: PyErr_SetString(PyExc_ValueError, e.what()); return;
        case vllm::ErrorKind::NotFound: PyErr_SetString(PyExc_FileNotFoundError, e.what()); return;
        case vllm::ErrorKind::Unsupported: PyErr_SetString(PyExc_NotImplementedError, e.what()); return;
        case vllm::ErrorKind::OutOfMemory: PyErr_SetString(PyExc_MemoryError, e.what()); return;
        default: PyErr_SetString(PyExc_RuntimeError, e.what()); return;
      }
    } catch (const nlohmann::json::exception& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  module.def("engine_arg_names", &vllm::python::engine_arg_names);
  module.def("default_model_path", &vllm::default_model_path);
  module.def("validate_sampling_params", [](const std::string& json) {
    vllm::SamplingParams::from_json(vllm::python::parse_json(json, "SamplingParams"));
  });

  py::class_<Engine>(module, "Engine")
      .def(py::init<const std::vector<std::string>&>(), py::arg("flags"))
      .def("generate", &Engine::generate, py::arg("prompts"), py::arg("params_json"),
           py::arg("prompt_texts") = std::vector<std::string>{})
      .def("chat", &Engine::chat, py::arg("conversations_json"), py::arg("params_json"), py::arg("chat_template"),
           py::arg("add_generation_prompt"), py::arg("continue_final_message"), py::arg("tools_json"),
           py::arg("chat_template_kwargs_json"))
      .def("render_chat", &Engine::render_chat, py::arg("messages_json"), py::arg("chat_template"),
           py::arg("add_generation_prompt"), py::arg("continue_final_message"), py::arg("tools_json"),
           py::arg("chat_template_kwargs_json"))
      .def("embed", &Engine::embed)
      .def("classify", &Engine::classify)
      .def("score", &Engine::score)
      .def("encode_pooled", &Engine::encode_pooled)
      .def("encode", &Engine::encode, py::arg("text"), py::arg("add_special_tokens") = true)
      .def("decode", &Engine::decode, py::arg("ids"), py::arg("skip_special_tokens") = false)
      .def("tokenizer_info", &Engine::tokenizer_info)
      .def("convert_ids_to_tokens", &Engine::convert_ids_to_tokens)
      .def("convert_token_to_id", &Engine::convert_token_to_id)
      .def("default_sampling_params", &Engine::default_sampling_params)
      .def("is_pooling", &Engine::is_pooling)
      .def("model_dir", &Engine::model_dir);
}
