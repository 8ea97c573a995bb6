// Where media comes from: data URLs, http(s) links (a local server: an answer, a redirect, a body
// over the size cap, a server that never answers), and file:// under --allowed-local-media-path.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/error.h"
#include "multimodal/media.h"

using namespace vllm;

namespace {

std::string message_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::InvalidArgument);
    return error.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// A loopback HTTP server answering each connection with `respond(path)` (empty: never answers,
// holding the connection until it stops).
class LocalServer {
 public:
  explicit LocalServer(std::function<std::string(const std::string&)> respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] { serve(); });
  }
  ~LocalServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  void serve() {
    while (!stop_) {
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      char buffer[4096];
      ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      std::string request(buffer, n > 0 ? static_cast<size_t>(n) : 0);
      const size_t start = request.find(' ') + 1;
      std::string reply = respond_(request.substr(start, request.find(' ', start) - start));
      if (reply.empty()) {
        while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      } else {
        ::send(client, reply.data(), reply.size(), MSG_NOSIGNAL);
      }
      ::close(client);
    }
  }
  std::function<std::string(const std::string&)> respond_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string http_ok(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::string as_text(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

}  // namespace

TEST(Media, Base64AndDataUrls) {
  EXPECT_EQ(as_text(mm::base64_decode("aGVsbG8gd29ybGQ=")), "hello world");
  EXPECT_EQ(as_text(mm::base64_decode("aGVsbG8\ngd29ybGQ")), "hello world");  // no padding, a line break
  mm::MediaOptions options;
  EXPECT_EQ(as_text(mm::load_media_bytes("data:image/png;base64,aGk=", options)), "hi");
  EXPECT_NE(message_of([&] { mm::load_media_bytes("data:image/png;base64,a*b", options); }).find("Invalid base64"),
            std::string::npos);
  EXPECT_NE(message_of([&] { mm::load_media_bytes("data:image/png,rawtext", options); }).find("base64"),
            std::string::npos);
  EXPECT_EQ(message_of([&] { mm::load_media_bytes("ftp://host/x.png", options); }),
            "The URL must be either a HTTP, data or file URL.");
}

// The loopback servers must be reached directly, not through a proxy of the environment.
void without_proxies() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
    ::unsetenv(name);
}

TEST(Media, HttpFetchFollowsRedirectsAndCapsSize) {
  without_proxies();
  LocalServer server([](const std::string& path) -> std::string {
    if (path == "/image") return http_ok("IMAGEBYTES");
    if (path == "/moved") return "HTTP/1.1 302 Found\r\nLocation: /image\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (path == "/big") return http_ok(std::string(5000, 'x'));
    return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  });
  mm::MediaOptions options;
  options.max_bytes = 1000;
  EXPECT_EQ(as_text(mm::load_media_bytes(server.url("/image"), options)), "IMAGEBYTES");
  EXPECT_EQ(as_text(mm::load_media_bytes(server.url("/moved"), options)), "IMAGEBYTES");
  EXPECT_NE(message_of([&] { mm::load_media_bytes(server.url("/big"), options); }).find("larger than 1000 bytes"),
            std::string::npos);
  EXPECT_NE(message_of([&] { mm::load_media_bytes(server.url("/missing"), options); }).find("Failed to fetch"),
            std::string::npos);
}

TEST(Media, HttpFetchTimesOut) {
  without_proxies();
  LocalServer server([](const std::string&) { return std::string(); });  // never answers
  mm::MediaOptions options;
  options.fetch_timeout_seconds = 1;
  const std::string message = message_of([&] { mm::load_media_bytes(server.url("/slow"), options); });
  EXPECT_NE(message.find("VLLM_IMAGE_FETCH_TIMEOUT"), std::string::npos) << message;
}

TEST(Media, LocalFilesOnlyUnderTheAllowedFolder) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("vllm_media_" + std::to_string(::getpid()));
  fs::create_directories(root / "allowed");
  std::ofstream(root / "allowed" / "a.png") << "PNGDATA";
  std::ofstream(root / "secret.png") << "SECRET";
  mm::MediaOptions options;
  const std::string inside = "file://" + (root / "allowed" / "a.png").string();
  EXPECT_EQ(message_of([&] { mm::load_media_bytes(inside, options); }),
            "Cannot load local files without `--allowed-local-media-path`.");
  options.allowed_local_media_path = root / "allowed";
  EXPECT_EQ(as_text(mm::load_media_bytes(inside, options)), "PNGDATA");
  for (const fs::path& outside : {root / "secret.png", root / "allowed" / ".." / "secret.png"}) {
    const std::string message = message_of([&] { mm::load_media_bytes("file://" + outside.string(), options); });
    EXPECT_NE(message.find("must be a subpath of `--allowed-local-media-path"), std::string::npos) << message;
  }
  fs::remove_all(root);
}
