// A local stand-in for the Hugging Face Hub and ModelScope, started inside a test: repositories
// held in memory and served under the real URL schemes with the real headers, so the download
// code runs unchanged against it (HF_ENDPOINT / MODELSCOPE_DOMAIN point here).
//
// Hugging Face (huggingface_hub's file_download.py protocol):
//   GET  /api/models/<repo>/revision/<rev>   {"sha": <commit>, "siblings": [{"rfilename": ..}]}
//   HEAD /<repo>/resolve/<rev>/<file>        X-Repo-Commit; small files: 200 + ETag (git blob sha1)
//                                            + Content-Length; LFS files (*.safetensors, *.bin):
//                                            302 to /cdn/<sha256> + X-Linked-Etag + X-Linked-Size
//   GET  /<repo>/resolve/<rev>/<file>        the body, or the same 302; /cdn/<sha256> serves it
//   errors: 404 + X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound; a gated repo
//   answers 401 + X-Error-Code GatedRepo unless "Authorization: Bearer <token>" carries its token.
// ModelScope:
//   GET /api/v1/models/<id>/repo/files?Revision=<rev>&Recursive=True
//       {"Code": 200, "Data": {"Files": [{"Path", "Name", "Type": "blob", "Size", "Sha256"}]}}
//   GET /api/v1/models/<id>/repo?Revision=<rev>&FilePath=<path>
// Every body honours "Range: bytes=N-" (206). `cut_once(file)` makes the next transfer of that
// file stop halfway through its body, as a dropped connection does.
#pragma once

#include <openssl/evp.h>

#include <atomic>
#include <boost/asio.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace vllm::testing {

inline std::string digest_hex(const EVP_MD* algorithm, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, algorithm, nullptr);
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (unsigned int i = 0; i < length; ++i) out += {hex[digest[i] >> 4], hex[digest[i] & 15]};
  return out;
}
inline std::string sha256_hex(const std::string& data) { return digest_hex(EVP_sha256(), data); }
inline std::string git_blob_sha1(const std::string& data) {
  return digest_hex(EVP_sha1(), "blob " + std::to_string(data.size()) + '\0' + data);
}

inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class MockHub {
 public:
  using Files = std::map<std::string, std::string>;  // repo path -> content

  MockHub() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    server_ = std::thread([this] { accept_loop(); });
  }
  ~MockHub() {
    stopping_ = true;
    boost::system::error_code ec;
    {  // wake the blocking accept
      boost::asio::ip::tcp::socket poke(io_);
      poke.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    server_.join();
    std::lock_guard<std::mutex> guard(mutex_);
    for (std::thread& worker : workers_) worker.join();
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // `commit` of `repo` holding `files`; `refs` (branch or tag names) point at it.
  void add_commit(const std::string& repo, const std::string& commit, Files files, std::vector<std::string> refs = {"main"}) {
    std::lock_guard<std::mutex> guard(mutex_);
    for (const auto& [file, content] : files) blobs_[sha256_hex(content)] = {file, content};
    commits_[repo][commit] = std::move(files);
    for (const std::string& ref : refs) refs_[repo][ref] = commit;
  }
  void gate(const std::string& repo, const std::string& token) {
    std::lock_guard<std::mutex> guard(mutex_);
    gated_[repo] = token;
  }
  void cut_once(const std::string& file) {
    std::lock_guard<std::mutex> guard(mutex_);
    cut_.insert(file);
  }
  void corrupt(const std::string& file) {
    std::lock_guard<std::mutex> guard(mutex_);
    corrupt_.insert(file);
  }

  // "METHOD target [range]" of every request so far.
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> guard(mutex_);
    return log_;
  }
  size_t request_count() const { return requests().size(); }

 private:
  struct Request {
    std::string method, target, range, authorization;
  };
  struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool head = false;
    bool cut = false;
  };

  void accept_loop() {
    while (true) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (ec) continue;
      std::lock_guard<std::mutex> guard(mutex_);
      workers_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(boost::asio::ip::tcp::socket socket) {
    boost::system::error_code ec;
    boost::asio::streambuf buffer;
    boost::asio::read_until(socket, buffer, "\r\n\r\n", ec);
    if (ec) return;
    std::istream in(&buffer);
    Request request;
    std::string version, line;
    in >> request.method >> request.target >> version;
    std::getline(in, line);
    while (std::getline(in, line) && line != "\r") {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon), value = line.substr(colon + 1);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      value.erase(0, value.find_first_not_of(' '));
      if (!value.empty() && value.back() == '\r') value.pop_back();
      if (name == "range") request.range = value;
      if (name == "authorization") request.authorization = value;
    }
    {
      std::lock_guard<std::mutex> guard(mutex_);
      log_.push_back(request.method + " " + request.target + (request.range.empty() ? "" : " " + request.range));
    }
    Reply reply = route(request);
    std::ostringstream head;
    head << "HTTP/1.1 " << reply.status << " X\r\nConnection: close\r\n";
    for (const auto& [name, value] : reply.headers) head << name << ": " << value << "\r\n";
    bool has_length = false;
    for (const auto& header : reply.headers) has_length = has_length || header.first == "Content-Length";
    if (!has_length) head << "Content-Length: " << reply.body.size() << "\r\n";
    head << "\r\n";
    std::string out = head.str();
    if (!reply.head) out += reply.cut ? reply.body.substr(0, reply.body.size() / 2) : reply.body;
    boost::asio::write(socket, boost::asio::buffer(out), ec);
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  }

  static std::string json_reply_error(Reply& reply, int status, const std::string& code) {
    reply.status = status;
    reply.headers.push_back({"X-Error-Code", code});
    reply.body = "{\"error\": \"" + code + "\"}";
    return code;
  }

  static std::string unescape(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '%' && i + 2 < text.size()) {
        out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += text[i];
      }
    }
    return out;
  }

  static std::map<std::string, std::string> query_of(const std::string& target) {
    std::map<std::string, std::string> query;
    size_t mark = target.find('?');
    if (mark == std::string::npos) return query;
    std::stringstream parts(target.substr(mark + 1));
    for (std::string part; std::getline(parts, part, '&');) {
      size_t equals = part.find('=');
      if (equals != std::string::npos) query[part.substr(0, equals)] = unescape(part.substr(equals + 1));
    }
    return query;
  }

  static bool is_lfs(const std::string& file) {
    return file.ends_with(".safetensors") || file.ends_with(".bin") || file.ends_with(".pt");
  }

  // The body of `file`, whole or from a "bytes=N-" range.
  void body(Reply& reply, const Request& request, const std::string& file, std::string content) {
    if (corrupt_.count(file)) content[content.size() / 2] ^= 0x5a;
    reply.cut = cut_.erase(file) > 0;
    if (!request.range.empty()) {
      const uint64_t start = std::stoull(request.range.substr(request.range.find('=') + 1));
      if (start >= content.size()) {
        reply.status = 416;
        return;
      }
      reply.status = 206;
      reply.headers.push_back({"Content-Range", "bytes " + std::to_string(start) + "-" +
                                                    std::to_string(content.size() - 1) + "/" +
                                                    std::to_string(content.size())});
      content = content.substr(start);
    }
    reply.body = std::move(content);
  }

  // The commit `revision` names in `repo`; empty when it names none.
  std::string commit_of(const std::string& repo, const std::string& revision) {
    if (commits_[repo].count(revision)) return revision;
    auto it = refs_[repo].find(revision);
    return it == refs_[repo].end() ? "" : it->second;
  }

  Reply route(const Request& request) {
    std::lock_guard<std::mutex> guard(mutex_);
    Reply reply;
    reply.head = request.method == "HEAD";
    const std::string path = request.target.substr(0, request.target.find('?'));
    if (path.rfind("/cdn/", 0) == 0) {
      auto blob = blobs_.find(path.substr(5));
      if (blob == blobs_.end()) reply.status = 404;
      else body(reply, request, blob->second.first, blob->second.second);
      return reply;
    }
    if (path.rfind("/api/v1/models/", 0) == 0) return modelscope(request, path.substr(15));
    // /api/models/<org>/<name>/revision/<rev> or /<org>/<name>/resolve/<rev>/<file>
    const bool api = path.rfind("/api/models/", 0) == 0;
    const std::string rest = path.substr(api ? 12 : 1);
    const std::string marker = api ? "/revision/" : "/resolve/";
    const size_t at = rest.find(marker);
    if (at == std::string::npos) {
      reply.status = 404;
      return reply;
    }
    const std::string repo = rest.substr(0, at);
    std::string revision = unescape(rest.substr(at + marker.size()));
    std::string file;
    if (!api) {
      file = revision.substr(revision.find('/') + 1);
      revision = revision.substr(0, revision.find('/'));
    }
    if (!commits_.count(repo)) return json_reply_error(reply, 404, "RepoNotFound"), reply;
    if (gated_.count(repo) && request.authorization != "Bearer " + gated_[repo])
      return json_reply_error(reply, 401, "GatedRepo"), reply;
    const std::string commit = commit_of(repo, revision);
    if (commit.empty()) return json_reply_error(reply, 404, "RevisionNotFound"), reply;
    const Files& files = commits_[repo][commit];
    if (api) {
      nlohmann::json siblings = nlohmann::json::array();
      for (const auto& [name, content] : files) siblings.push_back({{"rfilename", name}});
      reply.body = nlohmann::json{{"id", repo}, {"sha", commit}, {"siblings", siblings}}.dump();
      return reply;
    }
    auto it = files.find(file);
    if (it == files.end()) return json_reply_error(reply, 404, "EntryNotFound"), reply;
    reply.headers.push_back({"X-Repo-Commit", commit});
    if (is_lfs(file)) {
      const std::string sha = sha256_hex(it->second);
      reply.status = 302;
      reply.headers.push_back({"Location", endpoint() + "/cdn/" + sha});
      reply.headers.push_back({"X-Linked-Etag", "\"" + sha + "\""});
      reply.headers.push_back({"X-Linked-Size", std::to_string(it->second.size())});
      reply.headers.push_back({"ETag", "\"" + git_blob_sha1(it->second) + "\""});
      return reply;
    }
    reply.headers.push_back({"ETag", "\"" + git_blob_sha1(it->second) + "\""});
    if (reply.head) {
      reply.headers.push_back({"Content-Length", std::to_string(it->second.size())});
      return reply;
    }
    body(reply, request, file, it->second);
    return reply;
  }

  Reply modelscope(const Request& request, const std::string& rest) {
    Reply reply;
    const auto query = query_of(request.target);
    const bool listing = rest.ends_with("/repo/files");
    const std::string repo = rest.substr(0, rest.find(listing ? "/repo/files" : "/repo"));
    const std::string revision = query.count("Revision") ? query.at("Revision") : "master";
    const std::string commit = commits_.count(repo) ? commit_of(repo, revision) : "";
    if (commit.empty()) {
      reply.status = 404;
      reply.body = R"({"Code": 10010205, "Message": "model not found", "Success": false})";
      return reply;
    }
    const Files& files = commits_[repo][commit];
    if (listing) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& [name, content] : files)
        list.push_back({{"Path", name}, {"Name", name.substr(name.rfind('/') + 1)}, {"Type", "blob"},
                        {"Size", content.size()}, {"Sha256", sha256_hex(content)}, {"Revision", commit}});
      reply.body = nlohmann::json{{"Code", 200}, {"Data", {{"Files", list}}}, {"Success", true}}.dump();
      return reply;
    }
    auto it = files.find(query.count("FilePath") ? query.at("FilePath") : "");
    if (it == files.end()) {
      reply.status = 404;
      return reply;
    }
    body(reply, request, it->first, it->second);
    return reply;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread server_;
  mutable std::mutex mutex_;
  std::vector<std::thread> workers_;
  std::map<std::string, std::map<std::string, Files>> commits_;    // repo -> commit -> files
  std::map<std::string, std::map<std::string, std::string>> refs_; // repo -> ref -> commit
  std::map<std::string, std::string> gated_;
  std::map<std::string, std::pair<std::string, std::string>> blobs_;  // sha256 -> file, content
  std::set<std::string> cut_, corrupt_;
  std::vector<std::string> log_;
};

}  // namespace vllm::testing
