#include "text/chat/chat_template.h"

#include <deque>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "text/chat/jinja_template.h"

namespace vllm {

using jinja::Array;

struct ChatTemplate::Compiled {
  std::string source;
  std::shared_ptr<jinja::Template> jinja;
  ChatContentFormat format;

  explicit Compiled(std::string text)
      : source(std::move(text)), jinja(std::make_shared<jinja::Template>(source)), format(detect_content_format(source)) {}
};

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  VLLM_CHECK(in, NotFound, "cannot open ", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

ChatJson read_json(const std::filesystem::path& path) {
  try {
    return ChatJson::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::InvalidArgument, path.string(), ": invalid JSON: ", e.what());
  }
}

// A special token is a string or an AddedToken object {"content": ...}; str() of it is the content.
ChatJson token_text(const ChatJson& token) {
  if (token.is_string()) return token;
  if (token.is_object() && token.contains("content") && token["content"].is_string()) return token["content"];
  return nullptr;
}

// transformers' special_tokens_map: the set tokens of tokenizer_config.json, then of
// special_tokens_map.json for keys the config leaves unset.
ChatJson read_special_tokens(const std::filesystem::path& dir, const ChatJson& config) {
  static const char* const keys[] = {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
  ChatJson map_file = ChatJson::object();
  if (std::filesystem::exists(dir / "special_tokens_map.json")) map_file = read_json(dir / "special_tokens_map.json");
  ChatJson tokens = ChatJson::object();
  for (const char* key : keys) {
    ChatJson text = config.contains(key) ? token_text(config[key]) : ChatJson();
    if (text.is_null() && map_file.contains(key)) text = token_text(map_file[key]);
    if (!text.is_null()) tokens[key] = text;
  }
  ChatJson extra = config.contains("additional_special_tokens") ? config["additional_special_tokens"]
                         : map_file.contains("additional_special_tokens") ? map_file["additional_special_tokens"]
                                                                          : ChatJson();
  if (extra.is_array() && !extra.empty()) {
    ChatJson list = ChatJson::array();
    for (const auto& t : extra)
      if (!token_text(t).is_null()) list.push_back(token_text(t));
    tokens["additional_special_tokens"] = list;
  }
  return tokens;
}

// As vLLM's load_chat_template: an existing file is read; text with "{", "}" or a newline is a
// template; anything else is a path that failed to open.
std::string load_override(const std::string& value) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(value, ec)) return read_file(value);
  if (value.find_first_of("{}\n") == std::string::npos)
    fail(ErrorKind::NotFound, "the supplied chat template (", value, ") looks like a file path, but it failed to be opened");
  return value;
}

}  // namespace

ChatTemplate ChatTemplate::from_string(const std::string& source, ChatJson special_tokens) {
  ChatTemplate t;
  t.default_ = std::make_shared<Compiled>(source);
  t.special_tokens_ = std::move(special_tokens);
  return t;
}

ChatTemplate ChatTemplate::with_template(const std::string& source) const {
  ChatTemplate t = *this;
  t.default_ = std::make_shared<Compiled>(source);
  t.tool_use_ = nullptr;
  return t;
}

ChatTemplate ChatTemplate::from_directory(const std::filesystem::path& dir, const std::string& override_template) {
  ChatJson config = ChatJson::object();
  if (std::filesystem::exists(dir / "tokenizer_config.json")) config = read_json(dir / "tokenizer_config.json");
  ChatTemplate t;
  t.special_tokens_ = read_special_tokens(dir, config);
  if (!override_template.empty()) {
    t.default_ = std::make_shared<Compiled>(load_override(override_template));
    return t;
  }
  if (std::filesystem::exists(dir / "chat_template.jinja")) {
    t.default_ = std::make_shared<Compiled>(read_file(dir / "chat_template.jinja"));
    return t;
  }
  ChatJson templates = config.contains("chat_template") ? config["chat_template"] : ChatJson();
  if (templates.is_null() && std::filesystem::exists(dir / "chat_template.json")) {
    ChatJson file = read_json(dir / "chat_template.json");
    templates = file.is_object() && file.contains("chat_template") ? file["chat_template"] : file;
  }
  if (templates.is_string()) {
    t.default_ = std::make_shared<Compiled>(templates.get<std::string>());
  } else if (templates.is_array()) {
    for (const auto& entry : templates) {
      VLLM_CHECK(entry.is_object() && entry.contains("name") && entry.contains("template"), InvalidArgument,
                 (dir / "tokenizer_config.json").string(), ": chat_template list entries need \"name\" and \"template\"");
      std::string name = entry["name"].get<std::string>();
      if (name == "default") t.default_ = std::make_shared<Compiled>(entry["template"].get<std::string>());
      if (name == "tool_use") t.tool_use_ = std::make_shared<Compiled>(entry["template"].get<std::string>());
    }
    VLLM_CHECK(t.default_ || t.tool_use_, InvalidArgument, dir.string(),
               ": this model has multiple chat templates with no default specified");
  }
  VLLM_CHECK(t.default_ || t.tool_use_, NotFound, dir.string(),
             ": no chat template found (tokenizer_config.json has no chat_template and there is no "
             "chat_template.jinja or chat_template.json); pass one with --chat-template");
  return t;
}

const ChatTemplate::Compiled& ChatTemplate::pick(bool has_tools) const {
  if (has_tools && tool_use_) return *tool_use_;
  if (default_) return *default_;
  fail(ErrorKind::InvalidArgument, "this model has multiple chat templates with no default specified");
}

const std::string& ChatTemplate::source(bool has_tools) const { return pick(has_tools).source; }

ChatContentFormat ChatTemplate::content_format(bool has_tools) const {
  return forced_format_ ? *forced_format_ : pick(has_tools).format;
}

void ChatTemplate::set_content_format(const std::string& format) {
  if (format == "auto") {
    forced_format_.reset();
  } else if (format == "string") {
    forced_format_ = ChatContentFormat::String;
  } else if (format == "openai") {
    forced_format_ = ChatContentFormat::OpenAI;
  } else {
    fail(ErrorKind::InvalidArgument, "chat template content format '", format, "' is not one of auto, string, openai");
  }
}

namespace {

using jinja::Value;

// Keys of the prepared messages, shared by every render.
const Value& key(const char* name) {
  static thread_local std::deque<std::pair<const char*, Value>> keys;  // stable references
  for (const auto& [k, v] : keys)
    if (k == name) return v;
  keys.emplace_back(name, Value::string(name));
  return keys.back().second;
}

Value text_part_value(const std::string& text) {
  Value part = Value::make_dict();
  part.dict->entries.reserve(2);
  part.dict->entries.emplace_back(key("type"), Value::string("text"));
  part.dict->entries.emplace_back(key("text"), Value::string(text));
  return part;
}

// JSON text straight into template values (nlohmann's SAX interface): no intermediate JSON tree.
class ValueBuilder : public nlohmann::json_sax<ChatJson> {
 public:
  Value result;

  bool null() override { return add(Value::none()); }
  bool boolean(bool v) override { return add(Value::boolean(v)); }
  bool number_integer(number_integer_t v) override { return add(Value::integer(v)); }
  bool number_unsigned(number_unsigned_t v) override {
    return add(v <= static_cast<uint64_t>(INT64_MAX) ? Value::integer(static_cast<int64_t>(v)) : Value::number(static_cast<double>(v)));
  }
  bool number_float(number_float_t v, const string_t&) override { return add(Value::number(v)); }
  bool string(string_t& v) override { return add(Value::string(std::move(v))); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(Value::make_dict()); }
  bool key(string_t& k) override {
    key_ = Value::string(std::move(k));
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Value::make_list()); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    fail(ErrorKind::InvalidArgument, "tool call arguments are not valid JSON: ", e.what());
  }

 private:
  std::vector<Value> stack_;
  Value key_;

  bool add(Value v) {
    if (stack_.empty()) result = std::move(v);
    else if (stack_.back().is_dict()) stack_.back().dict->set(key_, std::move(v));  // a repeated key: the last wins
    else stack_.back().list->push_back(std::move(v));
    return true;
  }
  bool open(Value v) {
    add(v);
    stack_.push_back(std::move(v));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }
};

Value parse_json_value(const std::string& text) {
  ValueBuilder builder;
  ChatJson::sax_parse(text, &builder);
  return builder.result;
}

// A message's fields in one pass over its keys.
struct MessageFields {
  const ChatJson *role = nullptr, *content = nullptr, *tool_calls = nullptr, *reasoning = nullptr,
                 *reasoning_content = nullptr, *tool_call_id = nullptr, *name = nullptr;
  explicit MessageFields(const ChatJson& message) {
    for (auto it = message.begin(); it != message.end(); ++it) {
      const std::string& k = it.key();
      const ChatJson* v = &it.value();
      switch (k.size()) {
        case 4:
          if (k == "role") role = v;
          else if (k == "name") name = v;
          break;
        case 7:
          if (k == "content") content = v;
          break;
        case 9:
          if (k == "reasoning") reasoning = v;
          break;
        case 10:
          if (k == "tool_calls") tool_calls = v;
          break;
        case 12:
          if (k == "tool_call_id") tool_call_id = v;
          break;
        case 17:
          if (k == "reasoning_content") reasoning_content = v;
          break;
      }
    }
  }
};

// vLLM's parse_chat_messages + _postprocess_messages, straight into template values: each message
// a dict that keeps role, content, tool_calls (arguments as objects), reasoning, tool_call_id, name.
// Message text is borrowed from `messages`, which must outlive the values.
// vLLM's _get_full_multimodal_text_prompt for "string" templates: the placeholders of the message's
// media items that its text does not already hold, each on its own line before the text.
std::string with_media_placeholders(const std::vector<std::string>& placeholders, std::string text) {
  std::string missing;
  std::map<std::string, int64_t> pending;
  for (const std::string& placeholder : placeholders) ++pending[placeholder];
  for (auto& [placeholder, count] : pending) {
    for (size_t at = text.find(placeholder); at != std::string::npos && count > 0; at = text.find(placeholder, at + 1))
      --count;
  }
  for (const std::string& placeholder : placeholders)
    if (pending[placeholder]-- > 0) missing += placeholder + "\n";
  return missing + text;
}

Value prepare_values(const ChatJson& messages, bool openai, const ChatJson& media_placeholders) {
  VLLM_CHECK(messages.is_array(), InvalidArgument, "messages must be an array");
  static const ChatJson kNull;
  Array out;
  out.reserve(messages.size());
  for (const auto& message : messages) {
    VLLM_CHECK(message.is_object(), InvalidArgument, "each message needs a string \"role\"");
    const MessageFields fields(message);
    VLLM_CHECK(fields.role && fields.role->is_string(), InvalidArgument, "each message needs a string \"role\"");
    const std::string& role = fields.role->get_ref<const std::string&>();
    const ChatJson& content = fields.content ? *fields.content : kNull;
    Value result = Value::make_dict();
    auto& entries = result.dict->entries;
    entries.reserve(4);
    if (role == "user") entries.emplace_back(key("role"), key("user"));
    else if (role == "assistant") entries.emplace_back(key("role"), key("assistant"));
    else entries.emplace_back(key("role"), Value::borrowed_string(role));
    if (content.is_string() && !openai) {
      // The common case: plain text for a template that reads strings.
      entries.emplace_back(key("content"), Value::borrowed_string(content.get_ref<const std::string&>()));
    } else {
      VLLM_CHECK(content.is_string() || content.is_array() || content.is_null(), InvalidArgument,
                 "message content must be a string, a list of parts or null");
      Array kept;
      std::string joined;
      std::vector<std::string> placeholders;  // "string" templates: one per media part
      bool first = true;
      auto add_text = [&](const std::string& text) {
        if (openai) kept.push_back(text_part_value(text));
        if (!first) joined += "\n";
        joined += text;
        first = false;
      };
      if (content.is_string()) add_text(content.get_ref<const std::string&>());
      else if (content.is_array())
        for (const auto& part : content) {
          if (part.is_string()) {
            add_text(part.get_ref<const std::string&>());
            continue;
          }
          VLLM_CHECK(part.is_object(), InvalidArgument, "content parts must be objects or strings");
          std::string type = part.value("type", part.contains("text") ? "text" : "");
          std::string media;
          if (type == "text" || type == "input_text") {
            VLLM_CHECK(part.contains("text") && part["text"].is_string(), InvalidArgument,
                       "a text content part needs a string \"text\", got ", part.dump().substr(0, 200));
            add_text(part["text"].get_ref<const std::string&>());
          }
          else if (type == "refusal") add_text(part.value("refusal", ""));
          else if (type == "image_url" || type == "input_image" || type == "image_pil" || type == "image_embeds") media = "image";
          else if (type == "audio_url" || type == "input_audio") media = "audio";
          else if (type == "video_url") media = "video";
          else fail(ErrorKind::InvalidArgument, "Unknown part type: ", type);
          if (!media.empty() && !openai) {
            VLLM_CHECK(media_placeholders.contains(media), Unsupported, "a ", media,
                       " content part needs a multimodal model and a template that reads content lists");
            placeholders.push_back(media_placeholders[media].get<std::string>());
          } else if (!media.empty()) {
            Value m = Value::make_dict();
            m.dict->entries.emplace_back(key("type"), Value::string(media));
            kept.push_back(std::move(m));
          }
        }
      if (!placeholders.empty()) joined = with_media_placeholders(placeholders, std::move(joined));
      entries.emplace_back(key("content"), openai ? Value::make_list(std::move(kept)) : Value::string(std::move(joined)));
    }
    if (role == "assistant") {
      const ChatJson* calls = fields.tool_calls;
      if (calls && !calls->is_null()) {
        Value calls_value = Value::borrow_json(*calls);
        // vLLM's _postprocess_messages: templates expect tool-call arguments as objects.
        if (calls->is_array())
          for (size_t k = 0; k < calls->size(); ++k) {
            const ChatJson& call = (*calls)[k];
            VLLM_CHECK(call.is_object() && call.contains("function") && call["function"].is_object(), InvalidArgument,
                       "each tool call needs a \"function\" object");
            const ChatJson& function = call["function"];
            ChatJson args = function.contains("arguments") ? function["arguments"] : ChatJson();
            bool empty = args.is_null() || (args.is_string() && args.get_ref<const std::string&>().empty()) ||
                         ((args.is_object() || args.is_array()) && args.empty()) || (args.is_boolean() && !args.get<bool>()) ||
                         (args.is_number() && args == 0);
            if (!empty && !args.is_string()) continue;
            Value parsed = Value::make_dict();
            if (!empty) {
              parsed = parse_json_value(args.get_ref<const std::string&>());
            }
            Value function_value = *(*calls_value.list)[k].dict->find(key("function"));
            function_value.dict->set(key("arguments"), std::move(parsed));
          }
        entries.emplace_back(key("tool_calls"), std::move(calls_value));
      }
      const ChatJson* reasoning_json = fields.reasoning && !fields.reasoning->is_null() ? fields.reasoning : fields.reasoning_content;
      if (reasoning_json && !reasoning_json->is_null()) {
        Value reasoning = Value::borrow_json(*reasoning_json);
        entries.emplace_back(key("reasoning"), reasoning);
        entries.emplace_back(key("reasoning_content"), std::move(reasoning));
      }
    } else if (role == "tool") {
      if (fields.tool_call_id) entries.emplace_back(key("tool_call_id"), Value::borrow_json(*fields.tool_call_id));
    }
    if (fields.name && fields.name->is_string()) entries.emplace_back(key("name"), Value::borrowed_string(fields.name->get_ref<const std::string&>()));
    out.push_back(std::move(result));
  }
  return Value::make_list(std::move(out));
}

// Template values back to JSON; dicts keep their order.
ChatJson to_chat_json(const Value& v) {
  switch (v.kind) {
    case jinja::Kind::Bool: return v.b;
    case jinja::Kind::Int: return v.i;
    case jinja::Kind::Float: return v.f;
    case jinja::Kind::String: return v.str();
    case jinja::Kind::List:
    case jinja::Kind::Tuple: {
      ChatJson out = ChatJson::array();
      for (const auto& item : *v.list) out.push_back(to_chat_json(item));
      return out;
    }
    case jinja::Kind::Dict: {
      ChatJson out = ChatJson::object();
      for (const auto& [k, item] : v.dict->entries) out[k.to_string()] = to_chat_json(item);
      return out;
    }
    default: return nullptr;
  }
}

void add_json_entries(jinja::Object& dict, const ChatJson& object) {
  for (auto it = object.begin(); it != object.end(); ++it) dict.set(Value::string(it.key()), Value::from_json(it.value()));
}

}  // namespace

ChatJson ChatTemplate::prepare_messages(const ChatJson& messages, bool has_tools) const {
  return to_chat_json(prepare_values(messages, content_format(has_tools) == ChatContentFormat::OpenAI, ChatJson::object()));
}

std::string ChatTemplate::render(const ChatJson& messages, const ChatTemplateOptions& options) const {
  VLLM_CHECK(!(options.continue_final_message && options.add_generation_prompt), InvalidArgument,
             "Cannot set both `continue_final_message` and `add_generation_prompt` to True.");
  VLLM_CHECK(options.tools.is_null() || options.tools.is_array(), InvalidArgument, "tools must be an array or null");
  const bool has_tools = !options.tools.is_null();
  const Compiled& compiled = pick(has_tools);
  Value prepared =
      prepare_values(messages, content_format(has_tools) == ChatContentFormat::OpenAI, options.media_placeholders);
  // transformers: render(messages=..., tools=..., documents=..., add_generation_prompt=..., **special_tokens, **kwargs)
  Value variables = Value::make_dict();
  jinja::Object& vars = *variables.dict;
  add_json_entries(vars, special_tokens_);
  add_json_entries(vars, options.chat_template_kwargs);
  vars.set(key("messages"), prepared);
  vars.set(key("tools"), Value::borrow_json(options.tools));
  vars.set(key("documents"), Value::from_json(options.documents));
  vars.set(key("add_generation_prompt"), Value::boolean(options.add_generation_prompt));
  std::string rendered;
  try {
    rendered = compiled.jinja->render(variables);
  } catch (const jinja::TemplateRaised& e) {
    throw Error(ErrorKind::InvalidArgument, e.what());
  }
  if (!options.continue_final_message || prepared.list->empty()) return rendered;
  // transformers trims the prompt so that it ends inside the final message.
  const Value& last = *prepared.list->back().dict->find(key("content"));
  std::string final_message;
  if (last.is_string()) {
    final_message = last.str();
  } else {
    bool found = false;
    for (auto it = last.list->rbegin(); it != last.list->rend() && !found; ++it)
      if (it->is_dict() && it->dict->find(key("text"))) {
        final_message = it->dict->find(key("text"))->to_string();
        found = true;
      }
    VLLM_CHECK(found, InvalidArgument, "continue_final_message is set but we could not find any text to continue in the final message!");
  }
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  size_t b = 0, e = final_message.size();
  while (b < e && is_ws(final_message[b])) ++b;
  while (e > b && is_ws(final_message[e - 1])) --e;
  const std::string stripped = final_message.substr(b, e - b);
  const size_t lstripped_size = final_message.size() - b;
  size_t loc = rendered.rfind(stripped);
  VLLM_CHECK(loc != std::string::npos, InvalidArgument,
             "continue_final_message is set but the final message does not appear in the chat after applying the chat template! "
             "This can happen if the chat template deletes portions of the final message.");
  if (rendered.compare(loc, lstripped_size, final_message) == 0) return rendered.substr(0, loc + lstripped_size);
  return rendered.substr(0, loc + stripped.size());
}

ChatJson normalize_tools(const ChatJson& tools) {
  if (!tools.is_array()) return tools;
  ChatJson out = ChatJson::array();
  for (const auto& tool : tools) {
    VLLM_CHECK(tool.is_object() && tool.contains("function") && tool["function"].is_object(), InvalidArgument,
               "each tool needs a \"function\" object");
    const auto& fn = tool["function"];
    VLLM_CHECK(fn.contains("name") && fn["name"].is_string(), InvalidArgument, "each tool function needs a string \"name\"");
    ChatJson function = ChatJson::object();
    function["name"] = fn["name"];
    function["description"] = fn.contains("description") ? fn["description"] : ChatJson();
    function["parameters"] = fn.contains("parameters") ? fn["parameters"] : ChatJson();
    for (auto it = fn.begin(); it != fn.end(); ++it)
      if (!function.contains(it.key())) function[it.key()] = it.value();
    ChatJson t = ChatJson::object();
    t["type"] = tool.value("type", "function");
    t["function"] = function;
    for (auto it = tool.begin(); it != tool.end(); ++it)
      if (!t.contains(it.key())) t[it.key()] = it.value();
    out.push_back(std::move(t));
  }
  return out;
}

std::string render_chat_request(const ChatTemplate& chat_template, const ChatJson& request,
                                const ChatJson& media_placeholders) {
  VLLM_CHECK(request.is_object() && request.contains("messages"), InvalidArgument, "the request needs \"messages\"");
  auto get_bool = [&](const char* key, bool fallback) {
    if (!request.contains(key) || request[key].is_null()) return fallback;
    VLLM_CHECK(request[key].is_boolean(), InvalidArgument, "\"", key, "\" must be a boolean");
    return request[key].get<bool>();
  };
  ChatTemplateOptions options;
  options.media_placeholders = media_placeholders;
  options.add_generation_prompt = get_bool("add_generation_prompt", true);
  options.continue_final_message = get_bool("continue_final_message", false);
  if (request.contains("tools")) options.tools = normalize_tools(request["tools"]);
  if (request.contains("documents")) {
    // vLLM's ChatCompletionRequest: documents: list[dict[str, str]] | None.
    const auto& documents = request["documents"];
    bool valid = documents.is_null() || documents.is_array();
    if (documents.is_array())
      for (const auto& document : documents) {
        valid = valid && document.is_object();
        if (document.is_object())
          for (const auto& value : document) valid = valid && value.is_string();
      }
    VLLM_CHECK(valid, InvalidArgument, "'documents' must be a list of objects with string values, got ",
               documents.dump().substr(0, 200));
    options.documents = documents;
  }
  if (request.contains("chat_template_kwargs") && !request["chat_template_kwargs"].is_null()) {
    const auto& kwargs = request["chat_template_kwargs"];
    VLLM_CHECK(kwargs.is_object(), InvalidArgument, "\"chat_template_kwargs\" must be an object");
    for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
      const std::string& key = it.key();
      VLLM_CHECK(key != "chat_template" && key != "tokenize", InvalidArgument,
                 "Found unexpected chat template kwargs from request: ", key);
      // vLLM merges the kwargs over its own arguments of apply_chat_template.
      if (key == "add_generation_prompt") options.add_generation_prompt = it.value().get<bool>();
      else if (key == "continue_final_message") options.continue_final_message = it.value().get<bool>();
      else if (key == "tools") options.tools = it.value();
      else if (key == "documents") options.documents = it.value();
      else options.chat_template_kwargs[key] = it.value();
    }
  }
  if (request.contains("chat_template") && request["chat_template"].is_string())
    return chat_template.with_template(request["chat_template"].get<std::string>()).render(request["messages"], options);
  return chat_template.render(request["messages"], options);
}

}  // namespace vllm
