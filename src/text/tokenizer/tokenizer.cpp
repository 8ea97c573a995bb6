#include "text/tokenizer/tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"
#include "text/tokenizer/tokenizer_impl.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

// --- TokenizerImpl: the encode and decode pipelines ---------------------------------------------

std::vector<int32_t> TokenizerImpl::encode(std::string_view input, bool add_special_tokens) const {
  std::string repaired;
  if (!unicode::is_valid_utf8(input)) {  // HF takes Python str: invalid bytes cannot reach it
    repaired = unicode::from_utf8_lossy(input);
    input = repaired;
  }
  std::vector<int32_t> ids;
  if (spm) {
    std::vector<int> pieces;
    spm->Encode(input, &pieces).IgnoreError();
    if (add_special_tokens && spm_add_bos && spm->bos_id() >= 0) ids.push_back(spm->bos_id());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
    if (add_special_tokens && spm_add_eos && spm->eos_id() >= 0) ids.push_back(spm->eos_id());
    return ids;
  }
  ids.reserve(input.size() / 3 + 4);
  std::vector<PreToken> words;
  std::string normalized;
  // HF AddedVocabulary::extract_and_normalize: raw-matched tokens, then normalize the rest,
  // then normalized-matched tokens, then pre-tokenize and run the model on each word.
  for (const TextSegment& seg : added.split(input, false)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    normalized.assign(input.substr(seg.start, seg.end - seg.start));
    if (normalizer) normalizer->normalize(normalized);
    for (const TextSegment& sub : added.split(normalized, true)) {
      if (sub.id >= 0) {
        ids.push_back(sub.id);
        continue;
      }
      if (sub.end <= sub.start) continue;
      words.clear();
      words.push_back({normalized.substr(sub.start, sub.end - sub.start), seg.start == 0 && sub.start == 0});
      if (pre_tokenizer) pre_tokenizer->pre_tokenize(words);
      for (const PreToken& w : words) model->tokenize(w.text, ids);
    }
  }
  if (add_special_tokens && post_processor) post_processor->process(ids);
  return ids;
}

std::string TokenizerImpl::tokens_to_string(const std::vector<std::string>& tokens) const {
  if (spm) {
    std::string out;
    spm->Decode(tokens, &out).IgnoreError();
    return out;
  }
  if (decoder) return decoder->decode(tokens);
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out.push_back(' ');
    out += tokens[i];
  }
  return out;
}

std::string TokenizerImpl::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string text;
  if (spm) {
    // Runs of ordinary pieces decode together; control tokens are written as their text.
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      std::string piece;
      spm->Decode(run, &piece).IgnoreError();
      text += piece;
      run.clear();
    };
    for (int32_t id : ids) {
      if (id < 0 || id >= spm->GetPieceSize()) continue;
      if (spm->IsControl(id)) {
        flush();
        if (!skip_special_tokens) text += spm->IdToPiece(id);
      } else {
        run.push_back(id);
      }
    }
    flush();
  } else {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
      if (skip_special_tokens && special_ids.count(id)) continue;  // transformers' all_special_ids
      if (const AddedToken* t = added.find_id(id)) {
        if (skip_special_tokens && t->special && t->decoded == t->content) continue;
        tokens.push_back(t->decoded);
      } else if (const std::string* s = model->id_to_token(id)) {
        tokens.push_back(*s);
      }
    }
    text = tokens_to_string(tokens);
  }
  if (clean_up_tokenization_spaces) text = clean_up_tokenization(std::move(text));
  return text;
}

std::optional<int32_t> TokenizerImpl::token_to_id(std::string_view token) const {
  if (spm) {
    int id = spm->PieceToId(token);
    if (id == spm->unk_id() && token != spm->IdToPiece(id)) return std::nullopt;
    return id;
  }
  if (auto id = added.find_content(token)) return id;
  return model->token_to_id(token);
}

std::string TokenizerImpl::id_to_token(int32_t id) const {
  if (spm) return id >= 0 && id < spm->GetPieceSize() ? spm->IdToPiece(id) : "";
  if (const AddedToken* t = added.find_id(id)) return t->content;
  const std::string* s = model->id_to_token(id);
  return s ? *s : "";
}

size_t TokenizerImpl::vocab_size() const {
  if (spm) return static_cast<size_t>(spm->GetPieceSize());
  size_t n = model->vocab_size();
  for (const AddedToken& t : added.tokens())
    if (!model->id_to_token(t.id)) ++n;
  return n;
}

// --- Tokenizer -----------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::shared_ptr<Tokenizer> Tokenizer::from_directory(const std::filesystem::path& dir) {
  return std::shared_ptr<Tokenizer>(new Tokenizer(load_directory(dir)));
}

std::shared_ptr<Tokenizer> Tokenizer::from_json_string(const std::string& tokenizer_json, const nlohmann::json& config,
                                                       const std::string& source_name) {
  nlohmann::json file;
  try {
    file = nlohmann::json::parse(tokenizer_json);
  } catch (const nlohmann::json::parse_error&) {
    return std::shared_ptr<Tokenizer>(new Tokenizer(load_tokenizer_json(tokenizer_json, source_name)));  // names the error
  }
  apply_transformers_class(file, config);
  auto impl = load_tokenizer_json(file, source_name);
  impl->apply_config(config, nlohmann::json::object());
  return std::shared_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens);
}

PairEncoding Tokenizer::encode_pair(std::string_view first, std::string_view second, bool add_special_tokens) const {
  std::vector<int32_t> a = impl_->encode(first, false), b = impl_->encode(second, false);
  PairEncoding pair;
  if (!add_special_tokens) {
    concatenate_pair(a, b, pair.ids, pair.type_ids);
  } else if (impl_->spm) {  // transformers' build_inputs_with_special_tokens: bos A eos bos B eos
    std::vector<int32_t> prefix, suffix;
    if (impl_->spm_add_bos && impl_->spm->bos_id() >= 0) prefix.push_back(impl_->spm->bos_id());
    if (impl_->spm_add_eos && impl_->spm->eos_id() >= 0) suffix.push_back(impl_->spm->eos_id());
    make_bos_eos_processor(prefix, suffix)->process_pair(a, b, pair.ids, pair.type_ids);
  } else if (impl_->post_processor) {
    impl_->post_processor->process_pair(a, b, pair.ids, pair.type_ids);
  } else {
    concatenate_pair(a, b, pair.ids, pair.type_ids);
  }
  return pair;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  const int64_t n = static_cast<int64_t>(texts.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) out[i] = impl_->encode(texts[i], add_special_tokens);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

size_t Tokenizer::vocab_size() const { return impl_->vocab_size(); }
std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return impl_->token_to_id(token); }
std::string Tokenizer::id_to_token(int32_t id) const { return impl_->id_to_token(id); }
std::optional<int32_t> Tokenizer::bos_token_id() const {
  return impl_->bos.empty() ? std::nullopt : impl_->token_to_id(impl_->bos);
}
std::optional<int32_t> Tokenizer::eos_token_id() const {
  return impl_->eos.empty() ? std::nullopt : impl_->token_to_id(impl_->eos);
}
std::optional<int32_t> Tokenizer::pad_token_id() const {
  return impl_->pad.empty() ? std::nullopt : impl_->token_to_id(impl_->pad);
}
const std::string& Tokenizer::bos_token() const { return impl_->bos; }
const std::string& Tokenizer::eos_token() const { return impl_->eos; }
const std::string& Tokenizer::pad_token() const { return impl_->pad; }
const std::string& Tokenizer::unk_token() const { return impl_->unk; }
bool Tokenizer::is_special(int32_t id) const { return impl_->special_ids.count(id) > 0; }
bool Tokenizer::is_added_token(int32_t id) const {
  return impl_->spm ? impl_->spm->IsControl(id) : impl_->added.find_id(id) != nullptr;
}
std::optional<size_t> Tokenizer::model_max_length() const { return impl_->model_max_length; }
const nlohmann::json& Tokenizer::tokenizer_config() const { return impl_->config; }
std::string Tokenizer::convert_tokens_to_string(const std::vector<std::string>& tokens) const {
  return impl_->tokens_to_string(tokens);
}

}  // namespace vllm
