// Building a TokenizerImpl: tokenizer.json, the fallback formats HF reads when it is absent
// (vocab.json + merges.txt, tokenizer.model, vocab.txt), and tokenizer_config.json settings.
#include <sentencepiece_processor.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/logging.h"
#include "text/tokenizer/tokenizer_impl.h"

namespace vllm {

namespace fs = std::filesystem;
using json = nlohmann::json;
using tokenizer_json::Source;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, path.string(), ": cannot open the file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail(ErrorKind::InvalidArgument, source, ": not valid JSON (", e.what(), ")");
  }
}

json read_json_if_exists(const fs::path& path) {
  if (!fs::exists(path)) return json::object();
  json j = parse_json(read_file(path), path.string());
  return j.is_object() ? j : json::object();
}

// A special token in tokenizer_config.json: "<s>" or {"content": "<s>", ...}.
std::string token_string(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j.at("content").is_string()) return j.at("content").get<std::string>();
  return "";
}

AddedToken parse_added_token(const json& j, int32_t id, const Source& src) {
  AddedToken t;
  t.id = id;
  if (j.is_string()) {
    t.content = j.get<std::string>();
    t.special = true;
    t.normalized = false;
    return t;
  }
  t.content = tokenizer_json::field(j, "content", src).get<std::string>();
  t.special = tokenizer_json::get_or(j, "special", false, src);
  t.single_word = tokenizer_json::get_or(j, "single_word", false, src);
  t.lstrip = tokenizer_json::get_or(j, "lstrip", false, src);
  t.rstrip = tokenizer_json::get_or(j, "rstrip", false, src);
  t.normalized = tokenizer_json::get_or(j, "normalized", !t.special, src);
  return t;
}

AddedToken special_token(int32_t id, std::string content) {
  AddedToken t;
  t.id = id;
  t.content = std::move(content);
  t.special = true;
  t.normalized = false;
  return t;
}

bool is_llama_family(const std::string& cls) {
  for (const char* name : {"LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer"})
    if (cls == name || cls == std::string(name) + "Fast") return true;
  return false;
}

}  // namespace

std::unique_ptr<TokenizerImpl> load_tokenizer_json(const std::string& text, const std::string& source) {
  json j = parse_json(text, source);
  if (!j.is_object()) fail(ErrorKind::InvalidArgument, source, ": expected a JSON object");
  auto impl = std::make_unique<TokenizerImpl>();
  impl->source = source;
  Source root{source, ""};
  auto section = [&](const char* name) -> const json& {
    static const json null;
    return j.contains(name) ? j.at(name) : null;
  };
  if (!j.contains("model")) fail(ErrorKind::InvalidArgument, source, ": the \"model\" section is missing");
  impl->model = make_model(j.at("model"), Source{source, "model"});
  impl->normalizer = make_normalizer(section("normalizer"), Source{source, "normalizer"});
  impl->pre_tokenizer = make_pre_tokenizer(section("pre_tokenizer"), Source{source, "pre_tokenizer"});
  impl->post_processor = make_post_processor(section("post_processor"), Source{source, "post_processor"});
  impl->decoder = make_decoder(section("decoder"), Source{source, "decoder"});
  const json& added = section("added_tokens");
  if (!added.is_null()) {
    if (!added.is_array()) fail(ErrorKind::InvalidArgument, source, ": added_tokens must be a list");
    for (size_t i = 0; i < added.size(); ++i) {
      Source src{source, str("added_tokens[", i, "]")};
      int32_t id = tokenizer_json::field(added[i], "id", src).get<int32_t>();
      impl->added.add(parse_added_token(added[i], id, src));
    }
  }
  impl->added.build(impl->normalizer.get());
  return impl;
}

void TokenizerImpl::apply_config(const json& cfg, const json& special_map) {
  config = cfg.is_object() ? cfg : json::object();
  auto get = [&](const char* key) {
    std::string s = config.contains(key) ? token_string(config.at(key)) : "";
    if (s.empty() && special_map.contains(key)) s = token_string(special_map.at(key));
    return s;
  };
  // transformers' SPECIAL_TOKENS_ATTRIBUTES make up all_special_ids.
  for (const char* key : {"cls_token", "sep_token", "mask_token"})
    if (std::string s = get(key); !s.empty())
      if (auto id = token_to_id(s)) special_ids.insert(*id);
  bos = get("bos_token");
  eos = get("eos_token");
  pad = get("pad_token");
  unk = get("unk_token");
  // Tokens that tokenizer_config.json declares but tokenizer.json lacks (transformers adds them).
  bool rebuilt = false;
  if (config.contains("added_tokens_decoder") && config.at("added_tokens_decoder").is_object() && !spm) {
    for (auto it = config.at("added_tokens_decoder").begin(); it != config.at("added_tokens_decoder").end(); ++it) {
      int32_t id = std::stoi(it.key());
      if (added.find_id(id)) continue;
      AddedToken t = parse_added_token(it.value(), id, Source{"tokenizer_config.json", "added_tokens_decoder"});
      if (model->id_to_token(id) && *model->id_to_token(id) == t.content && !t.special) continue;
      added.add(t);
      rebuilt = true;
    }
  }
  if (rebuilt) added.build(normalizer.get());
  for (const std::string* s : {&bos, &eos, &pad, &unk})
    if (!s->empty())
      if (auto id = token_to_id(*s)) special_ids.insert(*id);
  for (const json* source : std::initializer_list<const json*>{&config, &special_map}) {
    if (!source->contains("additional_special_tokens") || !source->at("additional_special_tokens").is_array()) continue;
    for (const json& t : source->at("additional_special_tokens"))
      if (auto id = token_to_id(token_string(t))) special_ids.insert(*id);
  }
  if (config.contains("model_max_length") && config.at("model_max_length").is_number()) {
    double n = config.at("model_max_length").get<double>();
    if (n > 0 && n < 1e12) model_max_length = static_cast<size_t>(n);
  }
  clean_up_tokenization_spaces = config.value("clean_up_tokenization_spaces", false);
  std::string cls = config.value("tokenizer_class", "");
  // transformers 5 ignores clean_up_tokenization_spaces for BPE models (it would corrupt them).
  if (!spm && model && dynamic_cast<const TokenizerModel*>(model.get()) && config.contains("tokenizer_class") &&
      cls.find("GPT2") != std::string::npos)
    clean_up_tokenization_spaces = false;
  // transformers' Llama-family classes rebuild the template from add_bos_token / add_eos_token.
  bool add_bos = config.value("add_bos_token", is_llama_family(cls));
  bool add_eos = config.value("add_eos_token", false);
  if (spm) {
    spm_add_bos = config.contains("add_bos_token") ? add_bos : true;
    spm_add_eos = add_eos;
  } else if (is_llama_family(cls) && (config.contains("add_bos_token") || config.contains("add_eos_token"))) {
    std::vector<int32_t> prefix, suffix;
    if (add_bos && !bos.empty())
      if (auto id = token_to_id(bos)) prefix.push_back(*id);
    if (add_eos && !eos.empty())
      if (auto id = token_to_id(eos)) suffix.push_back(*id);
    post_processor = make_bos_eos_processor(prefix, suffix);
  }
}

namespace {

std::unique_ptr<TokenizerImpl> load_gpt2_files(const fs::path& dir, const json& config) {
  auto impl = std::make_unique<TokenizerImpl>();
  impl->source = (dir / "vocab.json").string();
  Source src{impl->source, "vocab.json+merges.txt"};
  json vocab_json = parse_json(read_file(dir / "vocab.json"), impl->source);
  VocabMap vocab;
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) vocab.emplace(it.key(), it.value().get<int32_t>());
  std::vector<std::pair<std::string, std::string>> merges;
  std::istringstream lines(read_file(dir / "merges.txt"));
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first && line.rfind("#version", 0) == 0) {
      first = false;
      continue;
    }
    first = false;
    if (line.empty()) continue;
    size_t space = line.find(' ', 1);
    if (space == std::string::npos) src.fail("merges.txt line \"", line, "\" is not two tokens");
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  impl->model = make_bpe(std::move(vocab), merges, BpeOptions{}, src);
  bool prefix_space = config.value("add_prefix_space", false);
  impl->pre_tokenizer = make_pre_tokenizer({{"type", "ByteLevel"}, {"add_prefix_space", prefix_space}}, src);
  impl->decoder = make_decoder({{"type", "ByteLevel"}}, src);
  // added_tokens.json (token -> id) and the special tokens of the config.
  json added = read_json_if_exists(dir / "added_tokens.json");
  for (auto it = added.begin(); it != added.end(); ++it)
    impl->added.add(special_token(it.value().get<int32_t>(), it.key()));
  json special_map = read_json_if_exists(dir / "special_tokens_map.json");
  for (const json* source : std::initializer_list<const json*>{&config, &special_map}) {
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      if (!source->contains(key)) continue;
      std::string s = token_string(source->at(key));
      if (auto id = impl->model->token_to_id(s); id && !impl->added.find_id(*id))
        impl->added.add(special_token(*id, s));
    }
    if (source->contains("additional_special_tokens"))
      for (const json& t : source->at("additional_special_tokens"))
        if (auto id = impl->model->token_to_id(token_string(t)); id && !impl->added.find_id(*id))
          impl->added.add(special_token(*id, token_string(t)));
  }
  impl->added.build(nullptr);
  impl->apply_config(config, special_map);
  if (config.value("add_bos_token", false) || config.value("add_eos_token", false)) {
    std::vector<int32_t> prefix, suffix;
    if (config.value("add_bos_token", false))
      if (auto id = impl->token_to_id(impl->bos)) prefix.push_back(*id);
    if (config.value("add_eos_token", false))
      if (auto id = impl->token_to_id(impl->eos)) suffix.push_back(*id);
    impl->post_processor = make_bos_eos_processor(prefix, suffix);
  }
  return impl;
}

std::unique_ptr<TokenizerImpl> load_vocab_txt(const fs::path& dir, const json& config) {
  auto impl = std::make_unique<TokenizerImpl>();
  impl->source = (dir / "vocab.txt").string();
  Source src{impl->source, "vocab.txt"};
  VocabMap vocab;
  std::istringstream lines(read_file(dir / "vocab.txt"));
  std::string line;
  int32_t id = 0;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.emplace(line, id++);
  }
  auto cfg_token = [&](const char* key, const char* fallback) {
    std::string s = config.contains(key) ? token_string(config.at(key)) : "";
    return s.empty() ? std::string(fallback) : s;
  };
  std::string unk = cfg_token("unk_token", "[UNK]"), cls = cfg_token("cls_token", "[CLS]"),
              sep = cfg_token("sep_token", "[SEP]");
  for (const std::string& s : {cfg_token("pad_token", "[PAD]"), unk, cls, sep, cfg_token("mask_token", "[MASK]")})
    if (auto it = vocab.find(s); it != vocab.end()) impl->added.add(special_token(it->second, s));
  bool lowercase = config.value("do_lower_case", true);
  json normalizer = {{"type", "BertNormalizer"}, {"lowercase", lowercase},
                     {"handle_chinese_chars", config.value("tokenize_chinese_chars", true)}};
  if (config.contains("strip_accents")) normalizer["strip_accents"] = config.at("strip_accents");
  impl->normalizer = make_normalizer(normalizer, src);
  impl->pre_tokenizer = make_pre_tokenizer({{"type", "BertPreTokenizer"}}, src);
  impl->decoder = make_decoder({{"type", "WordPiece"}}, src);
  std::vector<int32_t> prefix, suffix;
  if (auto it = vocab.find(cls); it != vocab.end()) prefix.push_back(it->second);
  if (auto it = vocab.find(sep); it != vocab.end()) suffix.push_back(it->second);
  impl->post_processor = make_bos_eos_processor(prefix, suffix);
  impl->model = make_wordpiece(std::move(vocab), unk, "##", 100, src);
  impl->added.build(impl->normalizer.get());
  json cfg = config;
  for (const auto& [key, value] : {std::pair<const char*, std::string>{"cls_token", cls}, {"sep_token", sep},
                                   {"unk_token", unk}, {"pad_token", cfg_token("pad_token", "[PAD]")},
                                   {"mask_token", cfg_token("mask_token", "[MASK]")}})
    if (!cfg.contains(key)) cfg[key] = value;
  impl->apply_config(cfg, read_json_if_exists(dir / "special_tokens_map.json"));
  return impl;
}

std::unique_ptr<TokenizerImpl> load_sentencepiece(const fs::path& path, const json& config, const json& special_map) {
  auto impl = std::make_unique<TokenizerImpl>();
  impl->source = path.string();
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  auto status = sp->Load(path.string());
  if (!status.ok()) fail(ErrorKind::InvalidArgument, path.string(), ": not a SentencePiece model (", status.ToString(), ")");
  impl->spm = sp;
  json cfg = config;
  auto piece = [&](int id) { return id >= 0 ? sp->IdToPiece(id) : std::string(); };
  if (!cfg.contains("bos_token") && !special_map.contains("bos_token")) cfg["bos_token"] = piece(sp->bos_id());
  if (!cfg.contains("eos_token") && !special_map.contains("eos_token")) cfg["eos_token"] = piece(sp->eos_id());
  if (!cfg.contains("unk_token") && !special_map.contains("unk_token")) cfg["unk_token"] = piece(sp->unk_id());
  impl->apply_config(cfg, special_map);
  return impl;
}

}  // namespace

std::unique_ptr<TokenizerImpl> load_directory(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail(ErrorKind::NotFound, dir.string(), ": not a directory");
  json config = read_json_if_exists(dir / "tokenizer_config.json");
  json special_map = read_json_if_exists(dir / "special_tokens_map.json");
  if (fs::exists(dir / "tokenizer.json")) {
    auto impl = load_tokenizer_json(read_file(dir / "tokenizer.json"), (dir / "tokenizer.json").string());
    impl->apply_config(config, special_map);
    return impl;
  }
  if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) return load_gpt2_files(dir, config);
  if (fs::exists(dir / "tokenizer.model")) return load_sentencepiece(dir / "tokenizer.model", config, special_map);
  if (fs::exists(dir / "vocab.txt")) return load_vocab_txt(dir, config);
  fail(ErrorKind::NotFound, dir.string(),
       ": no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, tokenizer.model, vocab.txt)");
}

}  // namespace vllm
