// transformers' apply_chat_template semantics and vLLM's message handling, without ../shared.
#include <fstream>

#include "core/error.h"
#include "test_util.h"
#include "text/chat/chat_template.h"

namespace vllm {
namespace {

class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("vllm_chat_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

const char* kSimple = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";

TEST(ChatTemplate, FromTokenizerConfigStringWithAddedTokenObjects) {
  TempDir dir;
  ChatJson config = {{"chat_template", kSimple}, {"bos_token", {{"content", "<s>"}, {"__type", "AddedToken"}}}, {"eos_token", "</s>"}};
  dir.write("tokenizer_config.json", config.dump());
  auto t = ChatTemplate::from_directory(dir.path());
  EXPECT_EQ(t.special_tokens()["bos_token"], "<s>");
  EXPECT_EQ(t.render(ChatJson::parse(R"([{"role":"user","content":"hi"}])"), {}), "<s>[user]hi[assistant]");
}

TEST(ChatTemplate, NamedTemplatesPickToolUseWhenToolsAreGiven) {
  TempDir dir;
  ChatJson config = {{"chat_template", ChatJson::array({{{"name", "default"}, {"template", "default"}},
                                                        {{"name", "tool_use"}, {"template", "tools:{{ tools | length }}"}}})}};
  dir.write("tokenizer_config.json", config.dump());
  auto t = ChatTemplate::from_directory(dir.path());
  ChatTemplateOptions options;
  EXPECT_EQ(t.render(ChatJson::array(), options), "default");
  options.tools = normalize_tools(ChatJson::parse(R"([{"type":"function","function":{"name":"f"}}])"));
  EXPECT_EQ(t.render(ChatJson::array(), options), "tools:1");
}

TEST(ChatTemplate, TemplateFilesAndOverrides) {
  TempDir dir;
  dir.write("tokenizer_config.json", ChatJson({{"chat_template", "from config"}}).dump());
  EXPECT_EQ(ChatTemplate::from_directory(dir.path()).render(ChatJson::array(), {}), "from config");
  dir.write("chat_template.jinja", "from jinja file\n");  // one trailing newline is dropped, as Jinja does
  EXPECT_EQ(ChatTemplate::from_directory(dir.path()).render(ChatJson::array(), {}), "from jinja file");
  dir.write("override.jinja", "override file");
  EXPECT_EQ(ChatTemplate::from_directory(dir.path(), (dir.path() / "override.jinja").string()).render(ChatJson::array(), {}),
            "override file");
  EXPECT_EQ(ChatTemplate::from_directory(dir.path(), "{{ 'inline' }}").render(ChatJson::array(), {}), "inline");
  EXPECT_THROW(ChatTemplate::from_directory(dir.path(), "no/such/file.jinja"), Error);

  TempDir processor;
  processor.write("chat_template.json", ChatJson({{"chat_template", "from processor"}}).dump());
  EXPECT_EQ(ChatTemplate::from_directory(processor.path()).render(ChatJson::array(), {}), "from processor");

  TempDir empty;
  empty.write("tokenizer_config.json", "{}");
  try {
    ChatTemplate::from_directory(empty.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("--chat-template"), std::string::npos);
  }
}

TEST(ChatTemplate, ContentFormatDetection) {
  EXPECT_EQ(detect_content_format(kSimple), ChatContentFormat::String);
  EXPECT_EQ(detect_content_format("{% for m in messages %}{% for c in m['content'] %}{{ c.text }}{% endfor %}{% endfor %}"),
            ChatContentFormat::OpenAI);
  EXPECT_EQ(detect_content_format("{% set msgs = messages[1:] %}{% for m in msgs %}{% for c in m.content | selectattr('type') %}{% endfor %}{% endfor %}"),
            ChatContentFormat::OpenAI);
  EXPECT_EQ(detect_content_format("{% for m in messages %}{% for c in other.content %}{% endfor %}{% endfor %}"), ChatContentFormat::String);
  EXPECT_EQ(detect_content_format("{% if %}"), ChatContentFormat::String);
}

TEST(ChatTemplate, ListContentIsJoinedOrKept) {
  ChatJson messages = ChatJson::parse(R"([{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                                          {"role":"assistant","content":null}])");
  auto joined = ChatTemplate::from_string(kSimple).prepare_messages(messages, false);
  EXPECT_EQ(joined[0]["content"], "a\nb");
  EXPECT_EQ(joined[1]["content"], "");
  auto kept = ChatTemplate::from_string("{% for m in messages %}{% for c in m.content %}<{{ c.text }}>{% endfor %}{% endfor %}");
  auto parts = kept.prepare_messages(ChatJson::parse(R"([{"role":"user","content":"plain"}])"), false);
  EXPECT_EQ(parts[0]["content"], ChatJson::parse(R"([{"type":"text","text":"plain"}])"));
  EXPECT_EQ(kept.render(messages, {}), "<a><b>");
}

TEST(ChatTemplate, ToolCallArgumentsBecomeObjects) {
  auto t = ChatTemplate::from_string("{% for c in messages[0].tool_calls %}{{ c.function.arguments.city }}{{ c.function.arguments | tojson }};{% endfor %}");
  ChatJson messages = ChatJson::parse(R"([{"role":"assistant","content":null,"tool_calls":[
      {"id":"1","type":"function","function":{"name":"w","arguments":"{\"city\": \"Paris\", \"days\": 2}"}},
      {"id":"2","type":"function","function":{"name":"w","arguments":""}}]}])");
  EXPECT_EQ(t.render(messages, {}), "Paris{\"city\": \"Paris\", \"days\": 2};{};");
  // Nested values, and a repeated key: the last value wins in the first key's place, as json.loads.
  ChatJson nested = ChatJson::parse(R"([{"role":"assistant","tool_calls":[{"function":{"name":"w",
      "arguments":"{\"a\": [1, 2.5, {\"b\": null}], \"s\": \"x\\u00e9\", \"a\": [true, -3]}"}}]}])");
  EXPECT_EQ(t.render(nested, {}), "{\"a\": [true, -3], \"s\": \"x\u00e9\"};");
  ChatJson bad = ChatJson::parse(R"([{"role":"assistant","tool_calls":[{"function":{"name":"w","arguments":"{oops"}}]}])");
  EXPECT_THROW(t.render(bad, {}), Error);
}

TEST(ChatTemplate, ContinueFinalMessageTrimsInsideTheMessage) {
  auto t = ChatTemplate::from_string("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>{% endfor %}");
  ChatTemplateOptions options;
  options.add_generation_prompt = false;
  options.continue_final_message = true;
  ChatJson messages = ChatJson::parse(R"([{"role":"user","content":"hi"},{"role":"assistant","content":"The answer is "}])");
  EXPECT_EQ(t.render(messages, options), "<user>hi</user><assistant>The answer is");
  options.add_generation_prompt = true;
  EXPECT_THROW(t.render(messages, options), Error);
}

TEST(ChatTemplate, RaiseExceptionIsARequestError) {
  auto t = ChatTemplate::from_string("{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}");
  try {
    t.render(ChatJson::array(), {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_STREQ(e.what(), "Conversation roles must alternate user/assistant/user/assistant/...");
  }
}

TEST(ChatTemplate, RequestBody) {
  auto t = ChatTemplate::from_string("{{ messages | length }}|{{ add_generation_prompt }}|{{ enable_thinking | default('unset') }}|{{ tools | tojson }}");
  ChatJson request = ChatJson::parse(R"({"messages":[{"role":"user","content":"x"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"b":{},"a":{}}}}}],
      "chat_template_kwargs":{"enable_thinking":false}})");
  EXPECT_EQ(render_chat_request(t, request),
            "1|True|False|[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": null, \"parameters\": "
            "{\"type\": \"object\", \"properties\": {\"b\": {}, \"a\": {}}}}}]");
  request["chat_template"] = "custom {{ messages[0].content }}";
  EXPECT_EQ(render_chat_request(t, request), "custom x");
  request["chat_template_kwargs"] = {{"tokenize", true}};
  EXPECT_THROW(render_chat_request(t, request), Error);
}

// Issue 26: vLLM's request model types documents (list[dict[str, str]]) and text parts (text:
// Required[str]); a wrong shape is a 400, not a silently empty render.
TEST(ChatTemplate, MalformedDocumentsAndTextPartsAreErrors) {
  auto t = ChatTemplate::from_string("{{ messages[0].content }}{{ documents | tojson }}");
  auto error_of = [&](const char* body) {
    try {
      render_chat_request(t, ChatJson::parse(body));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string user = R"("messages":[{"role":"user","content":"x"}])";
  EXPECT_NE(error_of(("{" + user + R"(,"documents":"some text"})").c_str()).find("'documents' must be"), std::string::npos);
  EXPECT_NE(error_of(("{" + user + R"(,"documents":[1]})").c_str()).find("'documents' must be"), std::string::npos);
  EXPECT_NE(error_of(("{" + user + R"(,"documents":[{"title":1}]})").c_str()).find("'documents' must be"), std::string::npos);
  EXPECT_EQ(error_of(("{" + user + R"(,"documents":[{"title":"a","text":"b"}]})").c_str()), "accepted");
  EXPECT_EQ(error_of(("{" + user + R"(,"documents":null})").c_str()), "accepted");
  EXPECT_NE(error_of(R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})").find("a text content part needs"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"messages":[{"role":"user","content":[{"type":"text","text":5}]}]})").find("a text content part needs"),
            std::string::npos);
}

}  // namespace
}  // namespace vllm
