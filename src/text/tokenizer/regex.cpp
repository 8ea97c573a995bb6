#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"

namespace vllm {

Regex::Regex(const std::string& pattern) : pattern_(pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error_code, &error_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    fail(ErrorKind::InvalidArgument, "regex \"", pattern, "\" does not compile at offset ", error_offset, ": ",
         reinterpret_cast<const char*>(message));
  }
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

namespace {
// One match-data block per thread, reused by every regex: a match needs only the whole-match pair.
struct MatchData {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  ~MatchData() { pcre2_match_data_free(data); }
};
}  // namespace

void Regex::for_each_match(std::string_view text, const std::function<void(size_t, size_t)>& on_match) const {
  thread_local MatchData match;
  auto* code = static_cast<pcre2_code*>(code_);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset <= text.size()) {
    int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), offset, 0, match.data, nullptr)
                  : pcre2_match(code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match.data, nullptr);
    if (rc < 0) {
      if (rc == PCRE2_ERROR_NOMATCH) break;
      fail(ErrorKind::InvalidArgument, "regex \"", pattern_, "\" failed to match (PCRE2 error ", rc, ")");
    }
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    size_t start = ovector[0], end = ovector[1];
    if (end > start) {
      on_match(start, end);
      offset = end;
    } else {  // an empty match: step over one character
      if (start >= text.size()) break;
      offset = start + 1;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) ++offset;
    }
  }
}

Pattern Pattern::literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

Pattern Pattern::regex(const std::string& re) {
  Pattern p;
  p.regex_ = std::make_shared<Regex>(re);
  return p;
}

std::vector<Span> Pattern::find_matches(std::string_view text) const {
  std::vector<Span> spans;
  if (text.empty()) {
    spans.push_back({0, 0, false});
    return spans;
  }
  size_t prev = 0;
  auto add = [&](size_t start, size_t end) {
    if (prev != start) spans.push_back({prev, start, false});
    spans.push_back({start, end, true});
    prev = end;
  };
  if (regex_) {
    regex_->for_each_match(text, add);
  } else if (!literal_.empty()) {
    for (size_t pos = text.find(literal_); pos != std::string_view::npos; pos = text.find(literal_, prev))
      add(pos, pos + literal_.size());
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), false});
  return spans;
}

std::string Pattern::replace_all(std::string_view text, std::string_view content) const {
  std::string out;
  out.reserve(text.size());
  for (const Span& span : find_matches(text)) {
    if (span.is_match) out += content;
    else out.append(text.substr(span.start, span.end - span.start));
  }
  return out;
}

}  // namespace vllm
