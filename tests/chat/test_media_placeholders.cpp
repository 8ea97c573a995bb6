// Image parts for templates that read strings: the model's placeholder on its own line before the
// message's text (vLLM's _get_full_multimodal_text_prompt), unless the text already holds it.
#include <gtest/gtest.h>

#include "core/error.h"
#include "text/chat/chat_template.h"

using namespace vllm;

namespace {

std::string render(const ChatJson& content, const ChatJson& placeholders) {
  ChatTemplate chat_template = ChatTemplate::from_string("{% for m in messages %}[{{ m.content }}]{% endfor %}");
  ChatTemplateOptions options;
  options.add_generation_prompt = false;
  options.media_placeholders = placeholders;
  return chat_template.render(ChatJson::array({{{"role", "user"}, {"content", content}}}), options);
}

ChatJson image() { return {{"type", "image_url"}, {"image_url", {{"url", "data:,"}}}}; }
ChatJson text(const std::string& t) { return {{"type", "text"}, {"text", t}}; }

}  // namespace

TEST(MediaPlaceholders, StringTemplatesGetThePlaceholderBeforeTheText) {
  const ChatJson llava = {{"image", "<image>"}};
  EXPECT_EQ(render(ChatJson::array({image(), text("what is it")}), llava), "[<image>\nwhat is it]");
  EXPECT_EQ(render(ChatJson::array({text("a"), image(), image(), text("b")}), llava), "[<image>\n<image>\na\nb]");
  // Already in the text: not added again.
  EXPECT_EQ(render(ChatJson::array({image(), text("look: <image> here")}), llava), "[look: <image> here]");
  // A model without a placeholder for the modality refuses the part.
  EXPECT_THROW(render(ChatJson::array({image(), text("x")}), ChatJson::object()), Error);
}
