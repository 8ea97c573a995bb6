// transformers 5's tokenizer classes that rebuild the tokenizer.json pipeline (issue 26).
//
// transformers 5 loads tokenizer.json as written only for a class without its own constructor
// (TokenizersBackend / PreTrainedTokenizerFast, BertTokenizer, ...). A class with one
// (LlamaTokenizer, GPT2Tokenizer) takes only the vocabulary, the merges and the post-processor
// from tokenizer.json and builds the rest itself, from tokenizer_config.json's settings. vLLM
// runs on AutoTokenizer, so we do the same; HF `tokenizers` alone (and transformers 4) keep the
// file's pipeline, which differs for Llama 2 / Phi-3 (a lone " " is "▁" here, "▁▁" there) and
// for StarCoder / SmolLM (no digit splitting here). See docs/tokenizer.md.
#include "text/tokenizer/tokenizer_impl.h"

namespace vllm {

using json = nlohmann::json;

namespace {

// A boolean setting of tokenizer_config.json; `fallback` when absent or not a boolean (null).
bool flag(const json& config, const char* key, bool fallback) {
  auto it = config.find(key);
  return it != config.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// Whether a component (or one inside a Sequence) of the file has this type.
// A component's "type", "" when absent or not a string (the loader reports malformed files).
std::string type_of(const json& component) {
  auto it = component.find("type");
  return it != component.end() && it->is_string() ? it->get<std::string>() : "";
}

bool has_type(const json& component, const char* type) {
  if (component.is_array()) {
    for (const json& c : component)
      if (has_type(c, type)) return true;
    return false;
  }
  if (!component.is_object()) return false;
  if (type_of(component) == type) return true;
  for (const char* list : {"pretokenizers", "decoders"})
    if (component.contains(list) && has_type(component.at(list), type)) return true;
  return false;
}

// A byte-level file: its ByteLevel pre-tokenizer or decoder.
bool is_byte_level(const json& file) {
  for (const char* section : {"pre_tokenizer", "decoder"})
    if (file.contains(section) && has_type(file.at(section), "ByteLevel")) return true;
  return false;
}

bool is_class(const std::string& cls, const char* name) { return cls == name || cls == std::string(name) + "Fast"; }

// The BPE model the class constructs from the file's vocabulary and merges: only the options it
// passes are kept (unk_token, ignore_merges, ... fall back to the BPE defaults).
json bpe_model(const json& model, bool fuse_unk, bool byte_fallback) {
  json out = {{"type", "BPE"}, {"vocab", model.at("vocab")}, {"merges", model.value("merges", json::array())},
              {"fuse_unk", fuse_unk}, {"byte_fallback", byte_fallback}};
  return out;
}

// LlamaTokenizer: BPE(fuse_unk, byte_fallback), no normalizer, Metaspace(prepend_scheme from
// add_prefix_space (default true) and legacy (default false): "first", "always" or "never",
// split false), decoder ▁ -> " ", ByteFallback, Fuse and, with add_prefix_space, one leading
// space stripped.
void llama(json& file, const json& config) {
  bool add_prefix_space = flag(config, "add_prefix_space", true);
  bool legacy = flag(config, "legacy", false);
  const char* scheme = !add_prefix_space ? "never" : legacy ? "always" : "first";
  file["model"] = bpe_model(file.at("model"), true, true);
  file["normalizer"] = nullptr;
  file["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", scheme},
                           {"split", false}};
  json steps = json::array({{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                            {{"type", "ByteFallback"}},
                            {{"type", "Fuse"}}});
  if (add_prefix_space) steps.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  file["decoder"] = {{"type", "Sequence"}, {"decoders", steps}};
}

// GPT2Tokenizer: BPE (no unk, no byte fallback), no normalizer, ByteLevel(add_prefix_space,
// default false) with GPT-2's own regex (a file's Digits or Split pre-tokenizers are dropped),
// ByteLevel decoder.
void gpt2(json& file, const json& config) {
  bool add_prefix_space = flag(config, "add_prefix_space", false);
  json model = bpe_model(file.at("model"), false, false);
  model["continuing_subword_prefix"] = "";
  model["end_of_word_suffix"] = "";
  file["model"] = model;
  file["normalizer"] = nullptr;
  file["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", true},
                           {"use_regex", true}};
  file["decoder"] = {{"type", "ByteLevel"}};
}

}  // namespace

void apply_transformers_class(json& file, const json& config) {
  if (!file.is_object() || !config.is_object() || !config.contains("tokenizer_class")) return;
  if (!config.at("tokenizer_class").is_string()) return;
  std::string cls = config.at("tokenizer_class").get<std::string>();
  // Both classes are BPE classes: a file with another model is left as it is.
  if (!file.contains("model") || !file.at("model").is_object()) return;
  const json& model = file.at("model");
  std::string type = type_of(model);  // absent: BPE when it has merges, as the loader infers
  if (!model.contains("vocab") || (type != "BPE" && !(type.empty() && !model.contains("type") && model.contains("merges"))))
    return;
  // Each class only rebuilds files of its own kind. Byte-level files labelled LlamaTokenizerFast
  // (DeepSeek V3 / R1-Distill-Llama, deepseek-llm) lose every space under the Metaspace pipeline:
  // transformers routes them to TokenizersBackend (huggingface/transformers#45488, #48317) and
  // vLLM bypasses the class for them, so they run as written here.
  bool byte_level = is_byte_level(file);
  if (is_class(cls, "LlamaTokenizer") && !byte_level) llama(file, config);
  else if (is_class(cls, "GPT2Tokenizer") && byte_level) gpt2(file, config);
}

}  // namespace vllm
