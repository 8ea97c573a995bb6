// vLLM's incremental detokenization (detokenize_incrementally / convert_prompt_ids_to_tokens in
// vllm/transformers_utils/detokenizer_utils.py), fast-tokenizer path: token strings are turned
// into text by the decoder, re-decoding from prefix_offset so that spacing rules that depend on
// the neighbours (SentencePiece's leading space, byte fallback) come out right.
#include "text/tokenizer/tokenizer.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

namespace {
constexpr size_t kInitialOffset = 5;  // INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET
}

IncrementalDetokenizer::IncrementalDetokenizer(std::shared_ptr<const Tokenizer> tokenizer,
                                               std::span<const int32_t> prompt_ids, bool skip_special_tokens,
                                               bool spaces_between_special_tokens)
    : tokenizer_(std::move(tokenizer)),
      skip_special_tokens_(skip_special_tokens),
      spaces_between_special_tokens_(spaces_between_special_tokens) {
  size_t from = prompt_ids.size() > kInitialOffset + 2 ? prompt_ids.size() - kInitialOffset - 2 : 0;
  for (size_t i = from; i < prompt_ids.size(); ++i) {
    int32_t id = prompt_ids[i];
    if (skip_special_tokens_ && tokenizer_->is_special(id)) continue;
    tokens_.push_back(tokenizer_->id_to_token(id));
    token_is_added_.push_back(tokenizer_->is_added_token(id));
  }
  read_offset_ = tokens_.size();
  prefix_offset_ = read_offset_ > kInitialOffset ? read_offset_ - kInitialOffset : 0;
}

// Fast tokenizers decode the token strings with the decoder; vLLM ignores
// spaces_between_special_tokens on that path, and so does this one.
std::string IncrementalDetokenizer::tokens_to_string(size_t begin, size_t end) const {
  std::vector<std::string> slice(tokens_.begin() + static_cast<std::ptrdiff_t>(begin),
                                 tokens_.begin() + static_cast<std::ptrdiff_t>(end));
  return tokenizer_->convert_tokens_to_string(slice);
}

std::string IncrementalDetokenizer::add_token(int32_t id) {
  if (id >= 0 && static_cast<size_t>(id) < tokenizer_->vocab_size() &&
      !(skip_special_tokens_ && tokenizer_->is_special(id))) {
    tokens_.push_back(tokenizer_->id_to_token(id));
    token_is_added_.push_back(tokenizer_->is_added_token(id));
  } else if (!(skip_special_tokens_ && tokenizer_->is_special(id))) {
    tokens_.emplace_back();  // an out-of-vocabulary id decodes to nothing
    token_is_added_.push_back(false);
  }
  std::string prefix_text = tokens_to_string(prefix_offset_, read_offset_);
  std::string new_text = tokens_to_string(prefix_offset_, tokens_.size());
  static const std::string kReplacement = "\xEF\xBF\xBD";
  bool ends_with_replacement = new_text.size() >= 3 && new_text.compare(new_text.size() - 3, 3, kReplacement) == 0;
  // vLLM compares and cuts in characters (Python str), not bytes.
  size_t prefix_chars = unicode::count_chars(prefix_text);
  if (unicode::count_chars(new_text) <= prefix_chars || ends_with_replacement) return "";
  size_t cut = 0;
  for (size_t n = 0; n < prefix_chars; ++n) cut += unicode::char_len(static_cast<unsigned char>(new_text[cut]));
  std::string delta = new_text.substr(cut);
  prefix_offset_ = read_offset_;
  read_offset_ = tokens_.size();
  text_ += delta;
  return delta;
}

}  // namespace vllm
