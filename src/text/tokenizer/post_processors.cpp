#include "text/tokenizer/post_processors.h"

namespace vllm {

using json = nlohmann::json;
using tokenizer_json::Source;

void concatenate_pair(const std::vector<int32_t>& first, const std::vector<int32_t>& second,
                      std::vector<int32_t>& ids, std::vector<int32_t>& type_ids) {
  ids = first;
  ids.insert(ids.end(), second.begin(), second.end());
  type_ids.assign(first.size(), 0);
  type_ids.insert(type_ids.end(), second.size(), 1);
}

namespace {

void append(std::vector<int32_t>& ids, std::vector<int32_t>& type_ids, const std::vector<int32_t>& piece,
            int32_t type_id) {
  ids.insert(ids.end(), piece.begin(), piece.end());
  type_ids.insert(type_ids.end(), piece.size(), type_id);
}

// Every single-sequence processor is "prefix ids, the sequence, suffix ids"; pairs differ by kind.
enum class PairLayout {
  Bert,     // BertProcessing: [CLS] A [SEP] B [SEP], type ids 0 up to the first [SEP], then 1
  Roberta,  // RobertaProcessing: <s> A </s> </s> B </s>, type ids all 0 (HF's RobertaProcessing)
  Repeat,   // add_bos/add_eos (LlamaTokenizerFast.update_post_processor): bos A eos bos B eos, B's part 1
};

class Wrap : public PostProcessor {
 public:
  Wrap(std::vector<int32_t> prefix, std::vector<int32_t> suffix, PairLayout layout)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)), layout_(layout) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }
  void process_pair(const std::vector<int32_t>& first, const std::vector<int32_t>& second, std::vector<int32_t>& ids,
                    std::vector<int32_t>& type_ids) const override {
    ids.clear();
    type_ids.clear();
    append(ids, type_ids, prefix_, 0);
    append(ids, type_ids, first, 0);
    append(ids, type_ids, suffix_, 0);
    int32_t second_type = layout_ == PairLayout::Roberta ? 0 : 1;
    if (layout_ == PairLayout::Roberta) append(ids, type_ids, suffix_, 0);
    if (layout_ == PairLayout::Repeat) append(ids, type_ids, prefix_, 1);
    append(ids, type_ids, second, second_type);
    append(ids, type_ids, suffix_, second_type);
  }
  bool adds_nothing() const override { return prefix_.empty() && suffix_.empty(); }

 private:
  std::vector<int32_t> prefix_, suffix_;
  PairLayout layout_;
};

class Sequence : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : items_) p->process(ids);
  }
  // The pair is merged by the one processor that adds tokens (ByteLevel only fixes offsets; no
  // published tokenizer chains two that add tokens, and the later ones are not applied to pairs).
  void process_pair(const std::vector<int32_t>& first, const std::vector<int32_t>& second, std::vector<int32_t>& ids,
                    std::vector<int32_t>& type_ids) const override {
    for (const auto& p : items_)
      if (!p->adds_nothing()) return p->process_pair(first, second, ids, type_ids);
    concatenate_pair(first, second, ids, type_ids);
  }
  bool adds_nothing() const override {
    for (const auto& p : items_)
      if (!p->adds_nothing()) return false;
    return true;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> items_;
};

int32_t pair_id(const json& j, const char* key, const Source& src) {
  const json& p = tokenizer_json::field(j, key, src);
  if (!p.is_array() || p.size() != 2 || !p[1].is_number_integer()) src.fail("\"", key, "\" must be [token, id]");
  return p[1].get<int32_t>();
}

// TemplateProcessing: "single" and "pair" are lists of pieces, [{"SpecialToken": {"id": "[CLS]",
// "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, ...], where each special token names
// an entry of "special_tokens" with its ids.
class Template : public PostProcessor {
 public:
  struct Piece {
    int sequence = -1;            // 0: A, 1: B; -1: special tokens
    std::vector<int32_t> ids;     // special tokens
    int32_t type_id = 0;
  };
  Template(std::vector<Piece> single, std::vector<Piece> pair) : single_(std::move(single)), pair_(std::move(pair)) {}

  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out, types;
    expand(single_, ids, {}, out, types);
    ids = std::move(out);
  }
  void process_pair(const std::vector<int32_t>& first, const std::vector<int32_t>& second, std::vector<int32_t>& ids,
                    std::vector<int32_t>& type_ids) const override {
    ids.clear();
    type_ids.clear();
    if (!pair_.empty()) return expand(pair_, first, second, ids, type_ids);
    // No "pair" template: each sequence wrapped as a single one, the second with type id 1.
    std::vector<int32_t> a, b, ignored;
    expand(single_, first, {}, a, ignored);
    expand(single_, second, {}, b, ignored);
    concatenate_pair(a, b, ids, type_ids);
  }
  bool adds_nothing() const override {
    for (const Piece& piece : single_)
      if (piece.sequence < 0 && !piece.ids.empty()) return false;
    return pair_.empty();
  }

 private:
  static void expand(const std::vector<Piece>& pieces, const std::vector<int32_t>& first,
                     const std::vector<int32_t>& second, std::vector<int32_t>& ids, std::vector<int32_t>& type_ids) {
    for (const Piece& piece : pieces)
      append(ids, type_ids, piece.sequence < 0 ? piece.ids : piece.sequence == 0 ? first : second, piece.type_id);
  }

  std::vector<Piece> single_, pair_;
};

std::vector<Template::Piece> template_pieces(const json& list, const json& specials, bool allow_b, const char* name,
                                             const Source& src) {
  if (!list.is_array()) src.fail("\"", name, "\" must be a list of pieces");
  std::vector<Template::Piece> pieces;
  for (const json& item : list) {
    Template::Piece piece;
    if (item.contains("Sequence")) {
      const json& sequence = item.at("Sequence");
      std::string id = sequence.value("id", "A");
      if (id != "A" && !(allow_b && id == "B"))
        src.fail("\"", name, "\" refers to sequence ", id, allow_b ? " (known: A, B)" : " (only A exists for a single input)");
      piece.sequence = id == "A" ? 0 : 1;
      piece.type_id = sequence.value("type_id", 0);
    } else if (item.contains("SpecialToken")) {
      const json& special = item.at("SpecialToken");
      std::string token = tokenizer_json::field(special, "id", src).get<std::string>();
      if (!specials.contains(token)) src.fail("special token \"", token, "\" is used but not in \"special_tokens\"");
      for (const json& id : tokenizer_json::field(specials.at(token), "ids", src)) piece.ids.push_back(id.get<int32_t>());
      piece.type_id = special.value("type_id", 0);
    } else {
      src.fail("template piece ", item.dump().substr(0, 80), " is neither Sequence nor SpecialToken");
    }
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

std::unique_ptr<PostProcessor> make_template(const json& j, const Source& src) {
  const json& specials = j.contains("special_tokens") ? j.at("special_tokens") : json::object();
  auto single = template_pieces(tokenizer_json::field(j, "single", src), specials, false, "single", src);
  std::vector<Template::Piece> pair;
  if (j.contains("pair") && !j.at("pair").is_null()) pair = template_pieces(j.at("pair"), specials, true, "pair", src);
  return std::make_unique<Template>(std::move(single), std::move(pair));
}

}  // namespace

std::unique_ptr<PostProcessor> make_bos_eos_processor(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  return std::make_unique<Wrap>(std::move(prefix), std::move(suffix), PairLayout::Repeat);
}

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const Source& parent) {
  if (j.is_null()) return nullptr;
  std::string type = tokenizer_json::type_of(j, parent);
  Source src = parent.child(type);
  if (type == "TemplateProcessing") return make_template(j, src);
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return std::make_unique<Wrap>(std::vector<int32_t>{pair_id(j, "cls", src)}, std::vector<int32_t>{pair_id(j, "sep", src)},
                                  type == "BertProcessing" ? PairLayout::Bert : PairLayout::Roberta);
  if (type == "ByteLevel") return std::make_unique<Wrap>(std::vector<int32_t>{}, std::vector<int32_t>{}, PairLayout::Bert);
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
