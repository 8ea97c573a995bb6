#include "loader/json_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace vllm {

namespace {

// `text` with Python's Infinity, -Infinity and NaN outside strings spelled as JSON: the largest
// double (nlohmann refuses an overflowing literal; as a float it is infinity) and null.
std::string without_python_constants(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (text.compare(i, 8, "Infinity") == 0) {
      out += "1.7976931348623157e308";
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      out += "null";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::error_code ec;
    fail(std::filesystem::exists(path, ec) ? ErrorKind::InvalidArgument : ErrorKind::NotFound,
         path.string(), ": cannot open (", std::strerror(err), ")");
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    const std::string content = text.str();
    nlohmann::json parsed = nlohmann::json::parse(content, nullptr, /*allow_exceptions=*/false);
    return parsed.is_discarded() ? nlohmann::json::parse(without_python_constants(content)) : parsed;
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::InvalidArgument, path.string(), ": not valid JSON (", json_error_text(e), ")");
  }
}

std::string json_error_text(const nlohmann::json::exception& error) {
  std::string text = error.what();
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find("] ");
    if (close != std::string::npos) text = text.substr(close + 2);
  }
  return text;
}

namespace {

template <typename Json>
std::string shorten(const Json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace

std::string json_value_text(const nlohmann::json& value) { return shorten(value); }
std::string json_value_text(const nlohmann::ordered_json& value) { return shorten(value); }

}  // namespace vllm
