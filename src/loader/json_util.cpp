#include "loader/json_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace vllm {

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
    return nlohmann::json::parse(text.str());
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
