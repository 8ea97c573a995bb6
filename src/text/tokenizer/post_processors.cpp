#include "text/tokenizer/post_processors.h"

namespace vllm {

using json = nlohmann::json;
using tokenizer_json::Source;

namespace {

// Every single-sequence processor is "prefix ids, the sequence, suffix ids".
class Wrap : public PostProcessor {
 public:
  Wrap(std::vector<int32_t> prefix, std::vector<int32_t> suffix) : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<int32_t> prefix_, suffix_;
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : items_) p->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

int32_t pair_id(const json& j, const char* key, const Source& src) {
  const json& p = tokenizer_json::field(j, key, src);
  if (!p.is_array() || p.size() != 2 || !p[1].is_number_integer()) src.fail("\"", key, "\" must be [token, id]");
  return p[1].get<int32_t>();
}

// TemplateProcessing "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, ...],
// where each special token names an entry of "special_tokens" with its ids.
std::unique_ptr<PostProcessor> make_template(const json& j, const Source& src) {
  const json& single = tokenizer_json::field(j, "single", src);
  const json& specials = j.contains("special_tokens") ? j.at("special_tokens") : json::object();
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  if (!single.is_array()) src.fail("\"single\" must be a list of pieces");
  for (const json& piece : single) {
    if (piece.contains("Sequence")) {
      std::string id = piece.at("Sequence").value("id", "A");
      if (id != "A") src.fail("\"single\" refers to sequence ", id, " (only A exists for a single input)");
      seen_sequence = true;
    } else if (piece.contains("SpecialToken")) {
      std::string name = tokenizer_json::field(piece.at("SpecialToken"), "id", src).get<std::string>();
      if (!specials.contains(name)) src.fail("special token \"", name, "\" is used but not in \"special_tokens\"");
      const json& ids = tokenizer_json::field(specials.at(name), "ids", src);
      auto& target = seen_sequence ? suffix : prefix;
      for (const json& id : ids) target.push_back(id.get<int32_t>());
    } else {
      src.fail("template piece ", piece.dump().substr(0, 80), " is neither Sequence nor SpecialToken");
    }
  }
  return std::make_unique<Wrap>(std::move(prefix), std::move(suffix));
}

}  // namespace

std::unique_ptr<PostProcessor> make_bos_eos_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  return std::make_unique<Wrap>(std::move(prefix), std::move(suffix));
}

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const Source& parent) {
  if (j.is_null()) return nullptr;
  std::string type = tokenizer_json::type_of(j, parent);
  Source src = parent.child(type);
  if (type == "TemplateProcessing") return make_template(j, src);
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return std::make_unique<Wrap>(std::vector<int32_t>{pair_id(j, "cls", src)}, std::vector<int32_t>{pair_id(j, "sep", src)});
  if (type == "ByteLevel") return std::make_unique<Wrap>(std::vector<int32_t>{}, std::vector<int32_t>{});  // offsets only
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> items;
    const json& list = tokenizer_json::field(j, "processors", src);
    for (size_t i = 0; i < list.size(); ++i)
      if (auto p = make_post_processor(list[i], parent.child(str("Sequence[", i, "]")))) items.push_back(std::move(p));
    return std::make_unique<Sequence>(std::move(items));
  }
  parent.fail("unknown post_processor type \"", type,
              "\" (known: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)");
}

}  // namespace vllm
