// pythonic and llama4_pythonic (PythonicToolParser, Llama4PythonicToolParser): the output is a
// Python list of calls with keyword arguments, [get_weather(city="Paris", days=3), now()],
// which vLLM reads with ast; arguments become json.dumps of the keywords. Also Python literals
// for the XML formats' untyped parameters (ast.literal_eval).
#include <cctype>

#include "parsers/text_util.h"
#include "parsers/tool_formats.h"
#include "text/tokenizer/unicode.h"

namespace vllm::parsers::detail {

namespace {

enum class Status { Done, Incomplete, Error };

// Python literals over a text that may stop anywhere.
class PythonReader {
 public:
  explicit PythonReader(std::string_view text) : text_(text) {}

  size_t pos = 0;

  void skip_space() {
    while (pos < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos]))) ++pos;
  }
  bool at_end() const { return pos >= text_.size(); }
  char peek() const { return text_[pos]; }

  // An identifier ([A-Za-z_]\w*); Incomplete when the text ends inside it.
  Status identifier(std::string& out) {
    size_t begin = pos;
    if (at_end()) return Status::Incomplete;
    if (!(std::isalpha(static_cast<unsigned char>(peek())) || peek() == '_')) return Status::Error;
    while (pos < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos])) || text_[pos] == '_')) ++pos;
    if (at_end()) {
      pos = begin;
      return Status::Incomplete;
    }
    out = std::string(text_.substr(begin, pos - begin));
    return Status::Done;
  }

  Status literal(Json& out, int depth = 0) {
    if (depth > 64) return Status::Error;
    skip_space();
    if (at_end()) return Status::Incomplete;
    char c = peek();
    if (c == '"' || c == '\'') return string(out);
    if (c == '[' || c == '(') return sequence(out, c == '[' ? ']' : ')', depth);
    if (c == '{') return dict(out, depth);
    if (c == '-' || c == '+' || c == '.' || std::isdigit(static_cast<unsigned char>(c))) return number(out);
    std::string word;
    Status s = identifier(word);
    if (s != Status::Done) return s;
    if (word == "True") out = true;
    else if (word == "False") out = false;
    else if (word == "None") out = nullptr;
    else return Status::Error;
    return Status::Done;
  }

 private:
  std::string_view text_;

  Status string(Json& out) {
    char quote = text_[pos++];
    std::string value;
    while (pos < text_.size()) {
      char c = text_[pos];
      if (c == quote) {
        ++pos;
        out = value;
        return Status::Done;
      }
      if (c == '\n') return Status::Error;
      if (c != '\\') {
        value += c;
        ++pos;
        continue;
      }
      if (pos + 1 >= text_.size()) return Status::Incomplete;
      char e = text_[pos + 1];
      pos += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case '0': value += '\0'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;
        case 'x':
        case 'u':
        case 'U': {
          size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (pos + digits > text_.size()) return Status::Incomplete;
          uint32_t cp = 0;
          for (size_t i = 0; i < digits; ++i) {
            char h = text_[pos + i];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return Status::Error;
            cp = cp * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          pos += digits;
          unicode::append(value, static_cast<char32_t>(cp));
          break;
        }
        default: value += '\\'; value += e; break;  // Python keeps unknown escapes
      }
    }
    return Status::Incomplete;
  }

  Status number(Json& out) {
    size_t begin = pos;
    while (pos < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos])) || text_[pos] == '.' ||
                                  text_[pos] == '-' || text_[pos] == '+' || text_[pos] == '_'))
      ++pos;
    if (at_end()) {
      pos = begin;
      return Status::Incomplete;  // more digits may follow
    }
    std::string token(text_.substr(begin, pos - begin));
    if (!token.empty() && token[0] == '+') token.erase(0, 1);
    std::erase(token, '_');
    if (!token.empty() && token[0] == '.') token = "0" + token;
    if (token.size() > 1 && token[0] == '-' && token[1] == '.') token = "-0" + token.substr(1);
    if (!token.empty() && token.back() == '.') token += "0";
    Json parsed = Json::parse(token, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_number()) return Status::Error;
    out = parsed;
    return Status::Done;
  }

  Status sequence(Json& out, char close, int depth) {
    ++pos;
    out = Json::array();
    while (true) {
      skip_space();
      if (at_end()) return Status::Incomplete;
      if (peek() == close) {
        ++pos;
        return Status::Done;
      }
      Json item;
      if (Status s = literal(item, depth + 1); s != Status::Done) return s;
      out.push_back(std::move(item));
      skip_space();
      if (at_end()) return Status::Incomplete;
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() == close) continue;
      return Status::Error;
    }
  }

  Status dict(Json& out, int depth) {
    ++pos;
    out = Json::object();
    while (true) {
      skip_space();
      if (at_end()) return Status::Incomplete;
      if (peek() == '}') {
        ++pos;
        return Status::Done;
      }
      Json key, value;
      if (Status s = literal(key, depth + 1); s != Status::Done) return s;
      skip_space();
      if (at_end()) return Status::Incomplete;
      if (peek() != ':') return Status::Error;
      ++pos;
      if (Status s = literal(value, depth + 1); s != Status::Done) return s;
      // json.dumps writes keys as strings (str(True) is "true" there, numbers as their text).
      std::string name = key.is_string() ? key.get<std::string>() : key.is_null() ? "null" : key.dump();
      out[name] = std::move(value);
      skip_space();
      if (at_end()) return Status::Incomplete;
      if (peek() == ',') {
        ++pos;
        continue;
      }
      if (peek() == '}') continue;
      return Status::Error;
    }
  }
};

class PythonicToolParser : public ToolParser {
 public:
  PythonicToolParser(Json tools, bool llama4) : ToolParser(std::move(tools)), llama4_(llama4) {}

 protected:
  static constexpr std::string_view kPythonStart = "<|python_start|>", kPythonEnd = "<|python_end|>";

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    std::string_view body = text;
    if (llama4_) {
      if (starts_with(body, kPythonStart)) body.remove_prefix(kPythonStart.size());
      else if (!final && !body.empty() && starts_with(kPythonStart, body)) return result;
      size_t end = body.find(kPythonEnd);
      if (end != std::string_view::npos) body = body.substr(0, end);
      else if (!final) body.remove_suffix(partial_marker_suffix(body, {kPythonEnd}));
    }
    if (body.empty()) {
      if (final) result.ok = false;
      return result;
    }
    if (body[0] != '[') {
      result.content = std::string(text);
      result.ok = !final;
      return result;
    }
    PythonReader reader(body);
    reader.pos = 1;
    auto malformed = [&] {
      result.ok = false;
      result.calls.clear();
      return result;
    };
    while (true) {
      reader.skip_space();
      if (reader.at_end()) return final ? malformed() : result;
      if (reader.peek() == ']' && result.calls.empty()) return malformed();  // "[]" is a plain list
      std::string name;
      Status s = reader.identifier(name);
      if (s == Status::Error) return malformed();
      if (s == Status::Incomplete) return final ? malformed() : result;
      reader.skip_space();
      if (reader.at_end()) return final ? malformed() : result;
      if (reader.peek() != '(') return malformed();
      ++reader.pos;
      Json arguments = Json::object();
      result.calls.push_back({name, "{", ""});
      bool closed = false;
      while (!closed) {
        reader.skip_space();
        if (reader.at_end()) return final ? malformed() : result;
        if (reader.peek() == ')') {
          ++reader.pos;
          closed = true;
          break;
        }
        std::string key;
        s = reader.identifier(key);
        if (s == Status::Error) return malformed();
        if (s == Status::Incomplete) return final ? malformed() : result;
        reader.skip_space();
        if (reader.at_end()) return final ? malformed() : result;
        if (reader.peek() != '=') return malformed();  // positional arguments: not a tool call
        ++reader.pos;
        Json value;
        s = reader.literal(value);
        if (s == Status::Error) return malformed();
        if (s == Status::Incomplete) return final ? malformed() : result;
        reader.skip_space();
        if (reader.at_end()) return final ? malformed() : result;
        if (reader.peek() == ',') ++reader.pos;
        else if (reader.peek() != ')') return malformed();
        arguments[key] = std::move(value);
        std::string dumped = python_json_dumps(arguments);
        dumped.pop_back();
        result.calls.back().arguments = dumped;
      }
      result.calls.back().arguments = python_json_dumps(arguments);
      reader.skip_space();
      if (reader.at_end()) return final ? malformed() : result;
      if (reader.peek() == ',') {
        ++reader.pos;
        continue;
      }
      if (reader.peek() != ']') return malformed();
      ++reader.pos;
      reader.skip_space();
      if (!reader.at_end()) return malformed();  // ast.parse would fail on text after the list
      return result;
    }
  }

 private:
  bool llama4_;
};

}  // namespace

bool parse_python_literal(std::string_view text, Json& value) {
  // A number at the very end needs a delimiter to be read; give it one.
  std::string padded = std::string(text) + " ";
  PythonReader padded_reader(padded);
  if (padded_reader.literal(value) != Status::Done) return false;
  padded_reader.skip_space();
  return padded_reader.at_end();
}

std::unique_ptr<ToolParser> make_pythonic(Json tools) {
  return std::make_unique<PythonicToolParser>(std::move(tools), false);
}
std::unique_ptr<ToolParser> make_llama4_pythonic(Json tools) {
  return std::make_unique<PythonicToolParser>(std::move(tools), true);
}

}  // namespace vllm::parsers::detail
