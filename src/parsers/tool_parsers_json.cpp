// Tool-call formats whose calls are JSON objects {"name", "arguments"}: hermes, llama3_json,
// mistral, granite, jamba, internlm, phi4_mini_json, xlam (vLLM's *_tool_parser.py of each name).
#include <random>

#include "parsers/text_util.h"
#include "parsers/tool_formats.h"

namespace vllm::parsers::detail {

class JsonToolParser : public ToolParser {
 public:
  using ToolParser::ToolParser;
  using ToolParser::Call;
  using ToolParser::Parse;
};

namespace {

// Appends a scanned call once its name is known; false when the call is malformed, or cut
// short in a finished output.
bool add_call(const JsonCallScan& scan, bool final, std::vector<ToolParser::Call>& calls) {
  if (scan.error) return false;
  if (final && !scan.complete) return false;
  if (!scan.name) return true;  // still being written
  ToolParser::Call call;
  call.name = *scan.name;
  if (scan.has_arguments) call.arguments = scan.arguments.dumped;
  else if (scan.complete) call.arguments = "{}";
  calls.push_back(std::move(call));
  return true;
}

bool add_calls(const JsonCallListScan& list, bool final, std::vector<ToolParser::Call>& calls) {
  if (list.error || (final && !list.complete)) return false;
  for (const JsonCallScan& scan : list.calls)
    if (!add_call(scan, final, calls)) return false;
  return true;
}

// Content before `marker`; the rest of the text after it (nullopt: no marker yet).
std::optional<std::string_view> split_at(std::string_view text, std::string_view marker, bool final,
                                         std::string& content) {
  size_t at = text.find(marker);
  if (at == std::string_view::npos) {
    content = std::string(final ? text : text.substr(0, text.size() - partial_marker_suffix(text, {marker})));
    return std::nullopt;
  }
  content = std::string(text.substr(0, at));
  return text.substr(at + marker.size());
}

// hermes (Hermes2ProToolParser; Qwen2.5/Qwen3's template too):
//   text <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>\n<tool_call>...
class HermesToolParser : public JsonToolParser {
 public:
  using JsonToolParser::JsonToolParser;
  bool needs_special_tokens() const override { return true; }

 protected:
  static constexpr std::string_view kStart = "<tool_call>", kEnd = "</tool_call>";

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    auto rest = split_at(text, kStart, final, result.content);
    while (rest) {
      size_t end = rest->find(kEnd);
      std::string_view body = rest->substr(0, end);
      JsonCallScan scan = scan_json_call(body);
      if (end != std::string_view::npos && !trim(body.substr(scan.complete ? scan.end : 0)).empty() && scan.complete)
        scan.error = true;  // text after the object inside the tags
      if (end != std::string_view::npos && !scan.complete) scan.error = true;
      if (!add_call(scan, final, result.calls)) {
        result.ok = false;
        return result;
      }
      if (end == std::string_view::npos) break;
      std::string_view after = rest->substr(end + kEnd.size());
      size_t next = after.find(kStart);
      if (next == std::string_view::npos) break;  // text after the calls is dropped, as vLLM does
      rest = after.substr(next + kStart.size());
    }
    return result;
  }
};

// llama3_json / llama4_json (Llama3JsonToolParser): the output is the calls,
// [<|python_tag|>]{"name": "f", "parameters": {...}}; {...}
class Llama3JsonToolParser : public JsonToolParser {
 public:
  using JsonToolParser::JsonToolParser;

 protected:
  static constexpr std::string_view kBot = "<|python_tag|>";

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    std::string_view rest;
    if (starts_with(text, kBot)) {
      rest = text.substr(kBot.size());
    } else if (starts_with(text, "{")) {
      rest = text;
    } else {
      if (!final && starts_with(kBot, text)) return result;  // maybe the tag, cut short
      result.content = std::string(text);
      result.ok = !final;  // plain text: no calls
      return result;
    }
    while (true) {
      JsonCallScan scan = scan_json_call(rest);
      if (!add_call(scan, final, result.calls)) {
        result.ok = false;
        return result;
      }
      if (!scan.complete) break;
      std::string_view after = trim(rest.substr(scan.end));
      if (after.empty()) break;
      if (after[0] != ';') {
        result.ok = false;
        return result;
      }
      rest = after.substr(1);
      if (trim(rest).empty()) break;
    }
    return result;
  }
};

// mistral (MistralToolParser): content [TOOL_CALLS][{"name": "f", "arguments": {...}}] (tokenizers
// before v11) or content [TOOL_CALLS]f[ARGS]{...}[TOOL_CALLS]g[ARGS]{...} (v11+). Ids are nine
// alphanumerics, as Mistral's templates require.
class MistralToolParser : public JsonToolParser {
 public:
  using JsonToolParser::JsonToolParser;
  bool needs_special_tokens() const override { return true; }

 protected:
  static constexpr std::string_view kBot = "[TOOL_CALLS]", kArgs = "[ARGS]";

  std::string make_id(size_t, const Call&) const override {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string id;
    for (int i = 0; i < 9; ++i) id += kAlnum[rng() % 62];
    return id;
  }

  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    auto rest = split_at(text, kBot, final, result.content);
    if (!rest) return result;
    std::string_view body = *rest;
    size_t first = body.find_first_not_of(" \t\n\r");
    if (first == std::string_view::npos) {
      result.ok = !final;
      return result;
    }
    if (body[first] == '[' || body[first] == '{') {
      if (body[first] == '{') {
        JsonCallScan scan = scan_json_call(body);
        if (!add_call(scan, final, result.calls)) result.ok = false;
        return result;
      }
      if (!add_calls(scan_json_call_list(body), final, result.calls)) result.ok = false;
      return result;
    }
    // name[ARGS]{...}, repeated after [TOOL_CALLS]
    while (true) {
      size_t args = body.find(kArgs);
      size_t brace = body.find('{');
      if (args == std::string_view::npos && brace == std::string_view::npos) {
        if (final) result.ok = false;
        return result;
      }
      size_t name_end = std::min(args, brace);
      std::string name(trim(body.substr(0, name_end)));
      std::string_view json = body.substr(name_end == args ? args + kArgs.size() : brace);
      JsonScan scan = scan_json(json);
      if (scan.error || name.empty() || (final && !scan.complete)) {
        result.ok = false;
        return result;
      }
      result.calls.push_back({name, scan.dumped, ""});
      if (!scan.complete) return result;
      std::string_view after = json.substr(scan.end);
      size_t next = after.find(kBot);
      if (next == std::string_view::npos) return result;
      body = after.substr(next + kBot.size());
    }
  }
};

// A list of JSON calls after a marker: granite (<|tool_call|>[...] or <tool_call>[...]), jamba
// (<tool_calls>[...]</tool_calls>), phi4_mini_json (functools[...]).
class ListAfterMarkerToolParser : public JsonToolParser {
 public:
  ListAfterMarkerToolParser(Json tools, std::vector<std::string_view> markers, bool content_before, bool special)
      : JsonToolParser(std::move(tools)), markers_(std::move(markers)), content_before_(content_before),
        special_(special) {}
  bool needs_special_tokens() const override { return special_; }

 protected:
  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    size_t at = std::string_view::npos, len = 0;
    for (std::string_view marker : markers_) {
      size_t found = text.find(marker);
      if (found < at) at = found, len = marker.size();
    }
    if (at == std::string_view::npos) {
      size_t hold = 0;
      if (!final)
        for (std::string_view marker : markers_) hold = std::max(hold, partial_marker_suffix(text, {marker}));
      if (!content_before_) {  // the output must begin with the calls (granite)
        std::string_view stripped = trim(text);
        if (!stripped.empty() && stripped[0] == '[') {
          at = text.find('[');
          len = 0;
        } else {
          bool maybe = stripped.empty();
          for (std::string_view marker : markers_) maybe |= !stripped.empty() && starts_with(marker, stripped);
          if (maybe && !final) return result;
          result.content = std::string(text);
          return result;
        }
      } else {
        result.content = std::string(text.substr(0, text.size() - hold));
        return result;
      }
    }
    if (content_before_) result.content = std::string(text.substr(0, at));
    else if (!trim(text.substr(0, at)).empty()) {
      result.content = std::string(text);
      return result;
    }
    if (!add_calls(scan_json_call_list(text.substr(at + len)), final, result.calls)) result.ok = false;
    return result;
  }

 private:
  std::vector<std::string_view> markers_;
  bool content_before_;
  bool special_;
};

// internlm (Internlm2ToolParser): content<|action_start|><|plugin|>\n{"name", "parameters"}<|action_end|>
class InternlmToolParser : public JsonToolParser {
 public:
  using JsonToolParser::JsonToolParser;
  bool needs_special_tokens() const override { return true; }

 protected:
  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    auto rest = split_at(text, "<|action_start|>", final, result.content);
    if (!rest) return result;
    std::string_view body = *rest;
    size_t plugin = body.find("<|plugin|>");
    if (plugin == std::string_view::npos) {
      if (final) result.ok = false;
      return result;
    }
    body = body.substr(plugin + std::string_view("<|plugin|>").size());
    size_t end = body.find("<|action_end|>");
    JsonCallScan scan = scan_json_call(body.substr(0, end));
    if (end != std::string_view::npos && !scan.complete) scan.error = true;
    if (!add_call(scan, final, result.calls)) result.ok = false;
    return result;
  }
};

// xlam (xLAMToolParser): a JSON list of calls, alone, after </think>, in a ```json block, after
// [TOOL_CALLS] or inside <tool_call>...</tool_call>; the text before it is content.
class XlamToolParser : public JsonToolParser {
 public:
  using JsonToolParser::JsonToolParser;

 protected:
  Parse parse(std::string_view text, bool final) const override {
    Parse result;
    size_t at = std::string_view::npos, len = 0;
    for (std::string_view marker : {std::string_view("```json"), std::string_view("[TOOL_CALLS]"),
                                    std::string_view("<tool_call>"), std::string_view("</think>")}) {
      size_t found = text.find(marker);
      if (found < at) at = found, len = marker.size();
    }
    if (at == std::string_view::npos) {
      std::string_view stripped = trim(text);
      if (!stripped.empty() && (stripped[0] == '[' || stripped[0] == '{')) {
        at = text.find(stripped[0]);
        len = 0;
      } else {
        result.content = std::string(
            final ? text
                  : text.substr(0, text.size() - partial_marker_suffix(text, {"```json", "[TOOL_CALLS]", "<tool_call>",
                                                                               "</think>"})));
        if (!final && stripped.empty()) result.content.clear();
        return result;
      }
    }
    result.content = std::string(text.substr(0, at));
    std::string_view body = text.substr(at + len);
    size_t first = body.find_first_not_of(" \t\n\r");
    if (first == std::string_view::npos) {
      if (final) result.ok = false;
      return result;
    }
    bool ok = body[first] == '[' ? add_calls(scan_json_call_list(body), final, result.calls)
                                 : add_call(scan_json_call(body), final, result.calls);
    if (!ok) result.ok = false;
    return result;
  }
};

}  // namespace

std::unique_ptr<ToolParser> make_hermes(Json tools) { return std::make_unique<HermesToolParser>(std::move(tools)); }
std::unique_ptr<ToolParser> make_llama3_json(Json tools) {
  return std::make_unique<Llama3JsonToolParser>(std::move(tools));
}
std::unique_ptr<ToolParser> make_mistral(Json tools) { return std::make_unique<MistralToolParser>(std::move(tools)); }
std::unique_ptr<ToolParser> make_granite(Json tools) {
  return std::make_unique<ListAfterMarkerToolParser>(std::move(tools),
                                                     std::vector<std::string_view>{"<|tool_call|>", "<tool_call>"},
                                                     /*content_before=*/false, /*special=*/false);
}
std::unique_ptr<ToolParser> make_jamba(Json tools) {
  return std::make_unique<ListAfterMarkerToolParser>(std::move(tools), std::vector<std::string_view>{"<tool_calls>"},
                                                     /*content_before=*/true, /*special=*/true);
}
std::unique_ptr<ToolParser> make_phi4_mini_json(Json tools) {
  return std::make_unique<ListAfterMarkerToolParser>(std::move(tools), std::vector<std::string_view>{"functools"},
                                                     /*content_before=*/true, /*special=*/false);
}
std::unique_ptr<ToolParser> make_internlm(Json tools) {
  return std::make_unique<InternlmToolParser>(std::move(tools));
}
std::unique_ptr<ToolParser> make_xlam(Json tools) { return std::make_unique<XlamToolParser>(std::move(tools)); }

}  // namespace vllm::parsers::detail
