// The reasoning parsers, each after its vLLM namesake in vllm/reasoning/ (the text-marker form of
// their token-id rules). Registry at the end.
#include <algorithm>
#include <functional>
#include <map>

#include "core/error.h"
#include "parsers/harmony.h"
#include "parsers/reasoning_parser.h"
#include "parsers/text_util.h"

namespace vllm::parsers {

// --- The stream: send what each split adds ------------------------------------------------------

std::optional<DeltaMessage> ReasoningParser::advance(std::string_view text, bool final) {
  Split split = split_streaming(text, final);
  DeltaMessage delta;
  // Both parts only grow; a part that shrank (a parser's edge case) sends nothing more.
  if (split.reasoning.size() > sent_reasoning_) {
    delta.reasoning_content = split.reasoning.substr(sent_reasoning_);
    sent_reasoning_ = split.reasoning.size();
  }
  if (split.content.size() > sent_content_) {
    delta.content = split.content.substr(sent_content_);
    sent_content_ = split.content.size();
  }
  if (delta.empty()) return std::nullopt;
  return delta;
}

std::optional<DeltaMessage> ReasoningParser::extract_reasoning_streaming(std::string_view /*previous_text*/,
                                                                         std::string_view current_text,
                                                                         std::string_view /*delta_text*/) {
  return advance(current_text, false);
}

std::optional<DeltaMessage> ReasoningParser::finish_streaming(std::string_view current_text) {
  return advance(current_text, true);
}

namespace {

constexpr std::string_view kThinkStart = "<think>", kThinkEnd = "</think>";

std::optional<std::string> non_empty(std::string_view text) {
  if (text.empty()) return std::nullopt;
  return std::string(text);
}

// Text with a marker cut short at its end held back (unless the text is final).
std::string_view settled(std::string_view text, bool final, std::initializer_list<std::string_view> markers) {
  if (!final) text.remove_suffix(partial_marker_suffix(text, markers));
  return text;
}

// deepseek_r1 (DeepSeekR1ReasoningParser): <think> is optional (the R1 template puts it in the
// prompt), so everything up to </think> is reasoning; an output without </think> is all reasoning.
class DeepSeekR1ReasoningParser : public ReasoningParser {
 public:
  std::string_view reasoning_end() const override { return kThinkEnd; }
  ReasoningResult extract_reasoning(std::string_view output) const override {
    size_t start = output.find(kThinkStart);
    if (start != std::string_view::npos) output = output.substr(start + kThinkStart.size());
    size_t end = output.find(kThinkEnd);
    if (end == std::string_view::npos) return {std::string(output), std::nullopt};
    return {std::string(output.substr(0, end)), non_empty(output.substr(end + kThinkEnd.size()))};
  }

 protected:
  Split split_streaming(std::string_view text, bool final) const override {
    // The <think> token is skipped; what precedes it streamed as reasoning already.
    std::string joined;
    size_t start = text.find(kThinkStart);
    if (start != std::string_view::npos) {
      joined = std::string(text.substr(0, start)) + std::string(text.substr(start + kThinkStart.size()));
    } else {
      joined = std::string(settled(text, final, {kThinkStart}));
    }
    std::string_view rest = joined;
    size_t end = rest.find(kThinkEnd);
    if (end == std::string_view::npos)
      return {std::string(settled(rest, final, {kThinkEnd, kThinkStart})), ""};
    return {std::string(rest.substr(0, end)), std::string(rest.substr(end + kThinkEnd.size()))};
  }
};

// qwen3 (Qwen3ReasoningParser) and glm45 (Glm4MoeModelReasoningParser): reasoning needs both
// <think> and </think>, else the whole output is content (enable_thinking=False outputs no tags).
// Streaming follows vLLM's: before <think> content, after it reasoning until </think>.
class BothTagsReasoningParser : public ReasoningParser {
 public:
  std::string_view reasoning_end() const override { return kThinkEnd; }
  ReasoningResult extract_reasoning(std::string_view output) const override {
    if (output.find(kThinkStart) == std::string_view::npos || output.find(kThinkEnd) == std::string_view::npos)
      return {std::nullopt, std::string(output)};
    std::string_view rest = output.substr(output.find(kThinkStart) + kThinkStart.size());
    size_t end = rest.find(kThinkEnd);
    if (end == std::string_view::npos) return {std::nullopt, std::string(rest)};
    return {std::string(rest.substr(0, end)), non_empty(rest.substr(end + kThinkEnd.size()))};
  }

 protected:
  Split split_streaming(std::string_view text, bool final) const override {
    size_t start = text.find(kThinkStart);
    if (start == std::string_view::npos) return {"", std::string(settled(text, final, {kThinkStart}))};
    std::string before(text.substr(0, start));
    std::string_view rest = text.substr(start + kThinkStart.size());
    size_t end = rest.find(kThinkEnd);
    if (end == std::string_view::npos) return {std::string(settled(rest, final, {kThinkEnd})), before};
    return {std::string(rest.substr(0, end)), before + std::string(rest.substr(end + kThinkEnd.size()))};
  }
};

// mistral (MistralReasoningParser): [THINK]...[/THINK]; without [THINK] all is content (a stray
// [/THINK] dropped); text before [THINK] is content too.
class MistralReasoningParser : public ReasoningParser {
 public:
  static constexpr std::string_view kBegin = "[THINK]", kEnd = "[/THINK]";

  std::string_view reasoning_end() const override { return kEnd; }
  ReasoningResult extract_reasoning(std::string_view output) const override {
    if (output.empty()) return {std::nullopt, std::string()};
    size_t begin = output.find(kBegin);
    if (begin != std::string_view::npos) {
      std::string_view before = output.substr(0, begin), after = output.substr(begin + kBegin.size());
      size_t end = after.find(kEnd);
      if (end != std::string_view::npos)
        return {std::string(after.substr(0, end)),
                non_empty(std::string(before) + std::string(after.substr(end + kEnd.size())))};
      return {std::string(after), non_empty(before)};
    }
    size_t end = output.find(kEnd);
    if (end != std::string_view::npos)
      return {std::nullopt, std::string(output.substr(0, end)) + std::string(output.substr(end + kEnd.size()))};
    return {std::nullopt, std::string(output)};
  }

  bool needs_special_tokens() const override { return true; }

 protected:
  Split split_streaming(std::string_view text, bool final) const override {
    ReasoningResult result = extract_reasoning(settled(text, final, {kBegin, kEnd}));
    return {result.reasoning_content.value_or(""), result.content.value_or("")};
  }
};

// granite (GraniteReasoningParser): "Here is my thought process:" ... "Here is my response:" ...
// ("Here's" too). Without both phrases the output is all content.
class GraniteReasoningParser : public ReasoningParser {
 public:
  static constexpr std::string_view kThinkStarts[] = {"Here's my thought process:", "Here is my thought process:"};
  static constexpr std::string_view kResponseStarts[] = {"Here's my response:", "Here is my response:"};

  // The earliest of `phrases` in `text` at or after `from`: (position, length).
  static std::pair<size_t, size_t> find_first(std::string_view text, const std::string_view (&phrases)[2],
                                              size_t from = 0) {
    std::pair<size_t, size_t> best{std::string_view::npos, 0};
    for (std::string_view phrase : phrases) {
      size_t at = text.find(phrase, from);
      if (at < best.first) best = {at, phrase.size()};
    }
    return best;
  }

  ReasoningResult extract_reasoning(std::string_view output) const override {
    // re.findall(r"(?:Here's|Here is) my thought process:(.*?)(?:Here's|Here is) my response:(.*)")
    auto [think, think_len] = find_first(output, kThinkStarts);
    if (think == std::string_view::npos) return {std::nullopt, std::string(output)};
    auto [response, response_len] = find_first(output, kResponseStarts, think + think_len);
    if (response == std::string_view::npos) return {std::nullopt, std::string(output)};
    return {std::string(output.substr(think + think_len, response - think - think_len)),
            non_empty(output.substr(response + response_len))};
  }

 protected:
  Split split_streaming(std::string_view text, bool final) const override {
    // vLLM's stream expects the thought-process phrase at the very start.
    size_t think_len = 0;
    for (std::string_view phrase : kThinkStarts)
      if (starts_with(text, phrase)) think_len = phrase.size();
    if (think_len == 0) {
      bool maybe = false;
      for (std::string_view phrase : kThinkStarts) maybe |= starts_with(phrase, text);
      if (maybe && !final) return {"", ""};
      return {"", std::string(text)};
    }
    std::string_view rest = text.substr(think_len);
    auto [response, response_len] = find_first(rest, kResponseStarts);
    if (response == std::string_view::npos)
      return {std::string(settled(rest, final, {kResponseStarts[0], kResponseStarts[1]})), ""};
    return {std::string(rest.substr(0, response)), std::string(rest.substr(response + response_len))};
  }
};

// hunyuan_a13b (HunyuanA13BReasoningParser): "<think>\n" R "\n</think>\n<answer>\n" A "\n</answer>".
class HunyuanA13BReasoningParser : public ReasoningParser {
 public:
  static constexpr std::string_view kStart = "<think>\n", kResponseStart = "\n</think>\n<answer>\n",
                                    kResponseEnd = "\n</answer>";

  std::string_view reasoning_end() const override { return kThinkEnd; }
  ReasoningResult extract_reasoning(std::string_view output) const override {
    auto none_if_empty = [](std::string_view text) { return non_empty(text); };
    // (?:<think>\n(.*?)\n</think>\n<answer>\n)?(.*?)\n</answer>, searched from the start.
    size_t answer_end = output.find(kResponseEnd);
    if (answer_end != std::string_view::npos) {
      if (starts_with(output, kStart)) {
        size_t response = output.find(kResponseStart, kStart.size());
        if (response != std::string_view::npos) {
          size_t body = response + kResponseStart.size();
          size_t end = output.find(kResponseEnd, body);
          if (end != std::string_view::npos)
            return {none_if_empty(output.substr(kStart.size(), response - kStart.size())),
                    none_if_empty(output.substr(body, end - body))};
        }
      }
      return {std::nullopt, none_if_empty(output.substr(0, answer_end))};
    }
    // <think>\n(.*?)\n</think>\n<answer>\n(.*)
    size_t start = output.find(kStart);
    if (start != std::string_view::npos) {
      size_t response = output.find(kResponseStart, start + kStart.size());
      if (response != std::string_view::npos) {
        std::string_view answer = output.substr(response + kResponseStart.size());
        return {none_if_empty(output.substr(start + kStart.size(), response - start - kStart.size())),
                none_if_empty(answer)};
      }
    }
    return {std::nullopt, std::string(output)};
  }

 protected:
  // vLLM's stream: idle -> "<think>\n" -> think -> "\n</think>\n<answer>\n" -> response ->
  // "\n</answer>" -> idle; think's text is reasoning, the others' content, the markers dropped.
  Split split_streaming(std::string_view text, bool final) const override {
    Split split;
    enum { Idle, Think, Response } state = Idle;
    size_t pos = 0;
    while (true) {
      std::string_view marker = state == Idle ? kStart : state == Think ? kResponseStart : kResponseEnd;
      std::string& out = state == Think ? split.reasoning : split.content;
      size_t at = text.find(marker, pos);
      if (at == std::string_view::npos) {
        out += settled(text.substr(pos), final, {marker});
        return split;
      }
      out += text.substr(pos, at - pos);
      pos = at + marker.size();
      state = state == Idle ? Think : state == Think ? Response : Idle;
    }
  }
};

// openai_gptoss (GptOssReasoningParser): harmony's analysis channel is reasoning, the final
// channel content (commentary addressed to a function is a tool call, for the openai tool parser).
class GptOssReasoningParser : public ReasoningParser {
 public:
  std::string_view reasoning_end() const override { return "<|channel|>final<|message|>"; }
  ReasoningResult extract_reasoning(std::string_view output) const override {
    Split split = collect(output, true);
    bool has_final = false, has_reasoning = false;
    for (const HarmonyMessage& message : parse_harmony(output, true)) {
      has_final |= message.channel == "final";
      has_reasoning |= message.channel == "analysis";
    }
    if (!has_final && !has_reasoning) return {std::nullopt, std::string(output)};  // not harmony
    return {has_reasoning ? std::optional<std::string>(split.reasoning) : std::nullopt,
            has_final ? std::optional<std::string>(split.content) : std::nullopt};
  }

  bool needs_special_tokens() const override { return true; }

 protected:
  Split split_streaming(std::string_view text, bool final) const override { return collect(text, final); }

 private:
  static Split collect(std::string_view text, bool final) {
    Split split;
    bool first_analysis = true;
    for (const HarmonyMessage& message : parse_harmony(text, final)) {
      if (message.channel == "analysis" && message.recipient.empty()) {
        if (!first_analysis) split.reasoning += "\n";
        first_analysis = false;
        split.reasoning += message.body;
      } else if (message.channel == "final") {
        split.content += message.body;
      }
    }
    return split;
  }
};

using ReasoningFactory = std::function<std::unique_ptr<ReasoningParser>()>;

template <typename Parser>
ReasoningFactory factory() {
  return [] { return std::make_unique<Parser>(); };
}

const std::map<std::string, ReasoningFactory, std::less<>>& registry() {
  static const std::map<std::string, ReasoningFactory, std::less<>> parsers = {
      {"deepseek_r1", factory<DeepSeekR1ReasoningParser>()},
      {"qwen3", factory<BothTagsReasoningParser>()},
      {"glm45", factory<BothTagsReasoningParser>()},
      {"granite", factory<GraniteReasoningParser>()},
      {"hunyuan_a13b", factory<HunyuanA13BReasoningParser>()},
      {"mistral", factory<MistralReasoningParser>()},
      {"openai_gptoss", factory<GptOssReasoningParser>()},
      {"openai", factory<GptOssReasoningParser>()},
  };
  return parsers;
}

}  // namespace

std::vector<std::string> reasoning_parser_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : registry()) names.push_back(name);
  return names;
}

void check_reasoning_parser_name(std::string_view name) {
  if (registry().count(name)) return;
  std::string known;
  for (const std::string& n : reasoning_parser_names()) known += (known.empty() ? "" : ",") + n;
  fail(ErrorKind::InvalidArgument, "invalid reasoning parser: ", name, " (chose from { ", known, " })");
}

std::unique_ptr<ReasoningParser> make_reasoning_parser(std::string_view name) {
  check_reasoning_parser_name(name);
  return registry().find(name)->second();
}

}  // namespace vllm::parsers
