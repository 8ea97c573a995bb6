// A compiled Unicode regular expression (PCRE2 with JIT) for the `Regex` patterns of
// tokenizer.json, which HF compiles with Oniguruma: same syntax for what tokenizers use
// (\p{L}, lookahead, (?i:...)), and no std::regex.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace vllm {

struct Span {
  size_t start;
  size_t end;
  bool is_match;
};

class Regex {
 public:
  // Throws vllm::Error (InvalidArgument) naming the pattern when it does not compile.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(start, end) for each non-empty match, left to right.
  void for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// A tokenizer.json `pattern`: {"String": "..."} (literal) or {"Regex": "..."}.
class Pattern {
 public:
  static Pattern literal(std::string s);
  static Pattern regex(const std::string& re);
  // The text cut into matched and unmatched spans covering it (HF's Pattern::find_matches).
  std::vector<Span> find_matches(std::string_view text) const;
  // Every match replaced by `content`, inserted literally (HF NormalizedString::replace).
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::shared_ptr<Regex> regex_;
};

}  // namespace vllm
