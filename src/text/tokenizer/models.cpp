#include "text/tokenizer/models.h"

#include "core/logging.h"

namespace vllm {

using json = nlohmann::json;
using tokenizer_json::Source;

std::optional<int32_t> TokenizerModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* TokenizerModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_token_[id]) return nullptr;
  return &id_to_token_[id];
}

void TokenizerModel::set_vocab(VocabMap vocab) {
  vocab_ = std::move(vocab);
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab_) max_id = std::max(max_id, id);
  id_to_token_.assign(max_id + 1, std::string());
  has_token_.assign(max_id + 1, false);
  for (const auto& [token, id] : vocab_) {
    if (id < 0) continue;
    id_to_token_[id] = token;
    has_token_[id] = true;
  }
}

static VocabMap parse_vocab_map(const json& j, const Source& src) {
  if (!j.is_object()) src.fail("\"vocab\" must be an object of token -> id");
  VocabMap vocab;
  vocab.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number_integer()) src.fail("vocab entry \"", it.key(), "\" is not an integer id");
    vocab.emplace(it.key(), it.value().get<int32_t>());
  }
  return vocab;
}

static std::string optional_string(const json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return "";
  return j.at(key).get<std::string>();
}

static std::unique_ptr<TokenizerModel> make_bpe_from_json(const json& j, const Source& src) {
  VocabMap vocab = parse_vocab_map(tokenizer_json::field(j, "vocab", src), src);
  std::vector<std::pair<std::string, std::string>> merges;
  const json& list = tokenizer_json::field(j, "merges", src);
  merges.reserve(list.size());
  for (const json& m : list) {
    if (m.is_string()) {  // "a b"
      const std::string& s = m.get_ref<const std::string&>();
      size_t space = s.find(' ', 1);
      if (space == std::string::npos) src.fail("merge \"", s, "\" is not two tokens separated by a space");
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["a", "b"]
      merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      src.fail("merge ", m.dump(), " is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  BpeOptions options;
  if (j.contains("unk_token") && !j.at("unk_token").is_null()) options.unk_token = j.at("unk_token").get<std::string>();
  options.continuing_subword_prefix = optional_string(j, "continuing_subword_prefix");
  options.end_of_word_suffix = optional_string(j, "end_of_word_suffix");
  options.fuse_unk = tokenizer_json::get_or(j, "fuse_unk", false, src);
  options.byte_fallback = tokenizer_json::get_or(j, "byte_fallback", false, src);
  options.ignore_merges = tokenizer_json::get_or(j, "ignore_merges", false, src);
  if (j.contains("dropout") && !j.at("dropout").is_null() && j.at("dropout").get<double>() > 0.0)
    log_warning(src.file, ": ", src.component, ": dropout is ignored (encoding is deterministic)");
  return make_bpe(std::move(vocab), merges, options, src);
}

std::unique_ptr<TokenizerModel> make_model(const json& j, const Source& parent) {
  if (!j.is_object()) parent.fail("expected an object");
  std::string type;
  if (j.contains("type")) {
    type = tokenizer_json::type_of(j, parent);
  } else if (j.contains("vocab") && j.at("vocab").is_array()) {  // as HF's untagged deserialization
    type = "Unigram";
  } else if (j.contains("merges")) {
    type = "BPE";
  } else if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) {
    type = "WordPiece";
  } else if (j.contains("vocab")) {
    type = "WordLevel";
  } else {
    parent.fail("cannot infer the model type (no \"type\", no \"vocab\")");
  }
  Source src = parent.child(type);
  if (type == "BPE") return make_bpe_from_json(j, src);
  if (type == "WordPiece")
    return make_wordpiece(parse_vocab_map(tokenizer_json::field(j, "vocab", src), src),
                          tokenizer_json::get_or<std::string>(j, "unk_token", "[UNK]", src),
                          tokenizer_json::get_or<std::string>(j, "continuing_subword_prefix", "##", src),
                          tokenizer_json::get_or<size_t>(j, "max_input_chars_per_word", 100, src), src);
  if (type == "WordLevel")
    return make_word_level(parse_vocab_map(tokenizer_json::field(j, "vocab", src), src),
                           tokenizer_json::get_or<std::string>(j, "unk_token", "", src), src);
  if (type == "Unigram") {
    std::vector<std::pair<std::string, double>> vocab;
    const json& list = tokenizer_json::field(j, "vocab", src);
    if (!list.is_array()) src.fail("\"vocab\" must be a list of [piece, score]");
    vocab.reserve(list.size());
    for (const json& e : list) {
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
        src.fail("vocab entry ", e.dump().substr(0, 80), " is not [piece, score]");
      vocab.emplace_back(e[0].get<std::string>(), e[1].get<double>());
    }
    std::optional<size_t> unk_id;
    if (j.contains("unk_id") && !j.at("unk_id").is_null()) unk_id = j.at("unk_id").get<size_t>();
    return make_unigram(std::move(vocab), unk_id, tokenizer_json::get_or(j, "byte_fallback", false, src), src);
  }
  parent.fail("unknown model type \"", type, "\" (known: BPE, WordPiece, WordLevel, Unigram)");
}

}  // namespace vllm
