// WordPiece (greedy longest-match-first) and WordLevel (whole-word lookup), as HF tokenizers.
#include "text/tokenizer/models.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

using tokenizer_json::Source;

namespace {

class WordPiece : public TokenizerModel {
 public:
  WordPiece(VocabMap vocab, std::string unk, std::string prefix, size_t max_chars, const Source& src)
      : prefix_(std::move(prefix)), max_chars_(max_chars) {
    set_vocab(std::move(vocab));
    auto id = token_to_id(unk);
    if (!id) src.fail("unk_token \"", unk, "\" is not in the vocabulary");
    unk_id_ = *id;
  }

  void tokenize(std::string_view word, std::vector<int32_t>& out) const override {
    if (unicode::count_chars(word) > max_chars_) {
      out.push_back(unk_id_);
      return;
    }
    size_t before = out.size();
    std::string candidate;
    size_t start = 0;
    while (start < word.size()) {
      size_t end = word.size();
      bool found = false;
      while (start < end) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate.append(word.substr(start, end - start));
        if (auto id = token_to_id(candidate)) {
          out.push_back(*id);
          found = true;
          break;
        }
        do --end;  // drop the last character
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (!found) {
        out.resize(before);
        out.push_back(unk_id_);
        return;
      }
      start = end;
    }
  }

 private:
  std::string prefix_;
  size_t max_chars_;
  int32_t unk_id_;
};

class WordLevel : public TokenizerModel {
 public:
  WordLevel(VocabMap vocab, std::string unk, const Source& src) : unk_(std::move(unk)), src_(src) {
    set_vocab(std::move(vocab));
    unk_id_ = token_to_id(unk_);
  }
  void tokenize(std::string_view word, std::vector<int32_t>& out) const override {
    if (auto id = token_to_id(word)) {
      out.push_back(*id);
    } else {
      if (!unk_id_) src_.fail("word \"", word, "\" is not in the vocabulary and unk_token \"", unk_, "\" is not either");
      out.push_back(*unk_id_);
    }
  }

 private:
  std::string unk_;
  std::optional<int32_t> unk_id_;
  Source src_;
};

}  // namespace

std::unique_ptr<TokenizerModel> make_wordpiece(VocabMap vocab, std::string unk_token, std::string prefix,
                                      size_t max_input_chars_per_word, const Source& src) {
  return std::make_unique<WordPiece>(std::move(vocab), std::move(unk_token), std::move(prefix),
                                     max_input_chars_per_word, src);
}

std::unique_ptr<TokenizerModel> make_word_level(VocabMap vocab, std::string unk_token, const Source& src) {
  return std::make_unique<WordLevel>(std::move(vocab), std::move(unk_token), src);
}

}  // namespace vllm
