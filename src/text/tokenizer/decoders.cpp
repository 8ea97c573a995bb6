#include "text/tokenizer/decoders.h"

#include "text/tokenizer/pre_tokenizers.h"
#include "text/tokenizer/unicode.h"

namespace vllm {

using json = nlohmann::json;
using tokenizer_json::Source;

std::string Decoder::decode(std::vector<std::string> tokens) const {
  decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

static void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
}

std::string clean_up_tokenization(std::string text) {
  static const std::pair<const char*, const char*> rules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : rules) replace_all(text, from, to);
  return text;
}

namespace {

class ByteLevel : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      size_t start = bytes.size();
      bool ok = true;
      for (size_t i = 0, len; i < t.size(); i += len) {
        int b = byte_level_byte(unicode::decode(t, i, len));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!ok) {  // a token outside the byte alphabet (an added token) keeps its UTF-8 bytes
        bytes.resize(start);
        bytes += t;
      }
    }
    tokens.assign(1, unicode::from_utf8_lossy(bytes));
  }
};

class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool prepend) : replacement_(std::move(replacement)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t pos = 0; pos < t.size();) {
        if (t.compare(pos, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && prepend_)) out.push_back(' ');  // HF drops every one in the first token
          pos += replacement_.size();
        } else {
          out.push_back(t[pos++]);
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool prepend_;
};

class WordPiece : public Decoder {
 public:
  WordPiece(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) t.erase(0, prefix_.size());
        else t.insert(0, 1, ' ');
      }
      if (cleanup_) t = clean_up_tokenization(std::move(t));
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class ByteFallback : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::is_valid_utf8(pending)) out.push_back(pending);
      else
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      pending.clear();
    };
    for (std::string& t : tokens) {
      int byte = parse_byte(t);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  static int parse_byte(const std::string& t) {  // "<0xAB>"
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class Fuse : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class Strip : public Decoder {
 public:
  Strip(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      size_t begin = 0, end = t.size();
      for (size_t n = 0; n < start_ && t.compare(begin, content_.size(), content_) == 0 && begin < end; ++n)
        begin += content_.size();
      for (size_t n = 0; n < stop_ && end >= begin + content_.size() &&
                         t.compare(end - content_.size(), content_.size(), content_) == 0; ++n)
        end -= content_.size();
      t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

class Ctc : public Decoder {
 public:
  Ctc(std::string pad, std::string delimiter, bool cleanup)
      : pad_(std::move(pad)), delimiter_(std::move(delimiter)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;  // dedup consecutive repeats
      std::string t = tokens[i];
      replace_all(t, pad_, "");
      if (cleanup_) {
        t = clean_up_tokenization(std::move(t));
        replace_all(t, delimiter_, " ");
      }
      if (!t.empty()) out.push_back(std::move(t));
    }
    tokens = std::move(out);
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> items) : items_(std::move(items)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items_) d->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> items_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const Source& parent) {
  if (j.is_null()) return nullptr;
  std::string type = tokenizer_json::type_of(j, parent);
  Source src = parent.child(type);
  using tokenizer_json::get_or;
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") {
    bool prepend = true;
    if (j.contains("prepend_scheme") && !j.at("prepend_scheme").is_null())
      prepend = j.at("prepend_scheme").get<std::string>() != "never";
    else
      prepend = get_or(j, "add_prefix_space", true, src);
    return std::make_unique<Metaspace>(get_or<std::string>(j, "replacement", "\xE2\x96\x81", src), prepend);
  }
  if (type == "WordPiece")
    return std::make_unique<WordPiece>(get_or<std::string>(j, "prefix", "##", src), get_or(j, "cleanup", true, src));
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip")
    return std::make_unique<Strip>(get_or<std::string>(j, "content", " ", src), get_or<size_t>(j, "start", 0, src),
                                   get_or<size_t>(j, "stop", 0, src));
  if (type == "Replace")
    return std::make_unique<Replace>(tokenizer_json::parse_pattern(tokenizer_json::field(j, "pattern", src), src),
                                     tokenizer_json::field(j, "content", src).get<std::string>());
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(get_or<std::string>(j, "suffix", "</w>", src));
  if (type == "CTC")
    return std::make_unique<Ctc>(get_or<std::string>(j, "pad_token", "<pad>", src),
                                 get_or<std::string>(j, "word_delimiter_token", "|", src), get_or(j, "cleanup", true, src));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> items;
    const json& list = tokenizer_json::field(j, "decoders", src);
    for (size_t i = 0; i < list.size(); ++i)
      if (auto d = make_decoder(list[i], parent.child(str("Sequence[", i, "]")))) items.push_back(std::move(d));
    return std::make_unique<Sequence>(std::move(items));
  }
  parent.fail("unknown decoder type \"", type,
              "\" (known: ByteLevel, Metaspace, WordPiece, ByteFallback, Fuse, Strip, Replace, BPEDecoder, CTC, "
              "Sequence)");
}

}  // namespace vllm
