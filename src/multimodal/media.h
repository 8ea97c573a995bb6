// Where a request's media comes from (vLLM's MediaConnector): data URLs, http(s) links fetched
// with libcurl (timeout, size cap, redirects), and file:// URLs under --allowed-local-media-path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace vllm::mm {

struct MediaOptions {
  // --allowed-local-media-path: file:// URLs are served only from below it (empty: refused).
  std::filesystem::path allowed_local_media_path;
  int fetch_timeout_seconds = 5;               // VLLM_IMAGE_FETCH_TIMEOUT
  size_t max_bytes = 64ull << 20;              // a larger download is refused
  long max_redirects = 5;
};

// Standard base64 (padding optional, whitespace skipped); InvalidArgument for other characters.
std::vector<uint8_t> base64_decode(std::string_view text);

// The bytes behind `url`: data:<type>;base64,<data>, http(s)://, or file://. InvalidArgument
// (vLLM's messages) for another scheme, a bad data URL, a failed download or a file outside
// the allowed folder.
std::vector<uint8_t> load_media_bytes(const std::string& url, const MediaOptions& options);

}  // namespace vllm::mm
