#include <gtest/gtest.h>

#include "text/chat/jinja_template.h"

TEST(JinjaSmoke, Renders) {
  vllm::jinja::Template t("{% for m in messages %}{{ m.role }}: {{ m['content'] | trim }}\n{% endfor %}");
  EXPECT_EQ(t.render(nlohmann::json{{"messages", {{{"role", "user"}, {"content", " hi "}}}}}), "user: hi\n");
}
