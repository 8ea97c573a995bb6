// --chat-template-content-format: "string" and "openai" override the template's detected format.
#include <gtest/gtest.h>

#include "core/error.h"
#include "text/chat/chat_template.h"

using namespace vllm;

TEST(ContentFormatFlag, ForcesStringOrOpenAIParts) {
  // A template that prints whatever it gets as content; detection sees "string".
  ChatTemplate chat_template =
      ChatTemplate::from_string("{% for m in messages %}{{ m['content'] }}|{% endfor %}");
  ChatJson messages = ChatJson::parse(
      R"([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])");
  ChatTemplateOptions options;
  options.add_generation_prompt = false;
  EXPECT_EQ(chat_template.content_format(false), ChatContentFormat::String);
  EXPECT_EQ(chat_template.render(messages, options), "a\nb|");

  chat_template.set_content_format("openai");
  EXPECT_EQ(chat_template.content_format(false), ChatContentFormat::OpenAI);
  std::string parts = chat_template.render(messages, options);
  EXPECT_NE(parts.find("'type': 'text'"), std::string::npos) << parts;
  EXPECT_NE(parts.find("'text': 'b'"), std::string::npos) << parts;

  chat_template.set_content_format("auto");
  EXPECT_EQ(chat_template.render(messages, options), "a\nb|");
  EXPECT_THROW(chat_template.set_content_format("xml"), Error);
}
