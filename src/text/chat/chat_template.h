// Chat templates as transformers' apply_chat_template renders them, with vLLM's handling of the
// request's messages before rendering (tool-call arguments parsed from JSON text, list content
// joined or kept by --chat-template-content-format auto).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace vllm {

namespace jinja {
class Template;
}

// JSON that keeps object keys in insertion order, as Python dicts do: the order of a tool's
// parameters or a message's keys shows in rendered prompts.
using ChatJson = nlohmann::ordered_json;

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  ChatJson tools;      // null or an array of OpenAI tool definitions
  ChatJson documents;  // null or an array of {title, text, ...}
  ChatJson chat_template_kwargs = ChatJson::object();  // extra template variables
  // Modality -> the model's placeholder text ("image" -> "<image>"): a "string" template gets it
  // on a line before the message's text for each media part (vLLM's _get_full_multimodal_text_prompt);
  // without one a media part is refused there.
  ChatJson media_placeholders = ChatJson::object();
};

// How the template reads message content (vLLM's _detect_content_format): "string" templates get
// the text parts joined with "\n"; "openai" templates (they loop over message['content']) get a
// list of {"type": "text", "text": ...} parts.
enum class ChatContentFormat { String, OpenAI };

class ChatTemplate {
 public:
  // From a tokenizer folder: chat_template.jinja, else tokenizer_config.json "chat_template" (a
  // string or a list of {name, template}), else chat_template.json; special tokens come from
  // tokenizer_config.json (and special_tokens_map.json). `override_template` is a file path or an
  // inline template, as vLLM's --chat-template.
  static ChatTemplate from_directory(const std::filesystem::path& dir, const std::string& override_template = "");
  // From template text; `special_tokens` maps bos_token, eos_token, ... to strings.
  static ChatTemplate from_string(const std::string& source, ChatJson special_tokens = ChatJson::object());

  // Renders `messages` (OpenAI chat messages) after vLLM's preparation. Errors, including a
  // template's raise_exception(...), throw vllm::Error(InvalidArgument).
  std::string render(const ChatJson& messages, const ChatTemplateOptions& options) const;
  // The same from unordered JSON: object keys then come in sorted order.
  std::string render(const nlohmann::json& messages, const ChatTemplateOptions& options) const {
    return render(ChatJson(messages), options);
  }

  // The messages as the template sees them (vLLM's parse_chat_messages + _postprocess_messages).
  ChatJson prepare_messages(const ChatJson& messages, bool has_tools) const;
  ChatContentFormat content_format(bool has_tools) const;
  // vLLM's --chat-template-content-format: "auto" (detect from the template), "string" or
  // "openai"; InvalidArgument for anything else.
  void set_content_format(const std::string& format);

  // The same special tokens with another template (a request's "chat_template").
  ChatTemplate with_template(const std::string& source) const;

  const std::string& source(bool has_tools = false) const;
  const ChatJson& special_tokens() const { return special_tokens_; }

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> default_, tool_use_;
  ChatJson special_tokens_ = ChatJson::object();
  std::optional<ChatContentFormat> forced_format_;  // --chat-template-content-format other than auto

  const Compiled& pick(bool has_tools) const;
};

// Reads a chat-completions request body (messages, tools, documents, add_generation_prompt,
// continue_final_message, chat_template, chat_template_kwargs) and returns the prompt vLLM's
// server builds for it.
std::string render_chat_request(const ChatTemplate& chat_template, const ChatJson& request,
                                const ChatJson& media_placeholders = ChatJson::object());

// vLLM's tools as the template sees them: each tool as ChatCompletionToolsParam.model_dump()
// gives it (type first, function with name, description and parameters, null when absent).
ChatJson normalize_tools(const ChatJson& tools);

// Parses a template and reports its content format (vLLM's AST analysis).
ChatContentFormat detect_content_format(const std::string& source);

}  // namespace vllm
