// The project's own small templates, one per Jinja feature, with the output Python's Jinja2 gives
// (recorded in tests/data/chat/features.json by tools/chat_template_features_gen.py); they run
// without ../shared and without Python. Plus syntax errors and runaway-template bounds.
#include <fstream>

#include "core/error.h"
#include "test_util.h"
#include "text/chat/jinja_template.h"

namespace vllm::jinja {
namespace {

nlohmann::ordered_json features() {
  std::ifstream in(vllm::testing::source_dir() / "tests/data/chat/features.json");
  return nlohmann::ordered_json::parse(in);
}

TEST(JinjaFeatures, MatchPythonJinja2) {
  auto data = features();
  ASSERT_GT(data["cases"].size(), 40u);
  for (const auto& c : data["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    nlohmann::ordered_json variables = {{"messages", data["messages"]}, {"tools", nullptr}, {"documents", nullptr},
                                        {"add_generation_prompt", false}};
    for (auto it = c["variables"].begin(); it != c["variables"].end(); ++it) variables[it.key()] = it.value();
    std::string output, error;
    bool raised = false;
    try {
      output = Template(c["template"].get<std::string>()).render(variables);
    } catch (const TemplateRaised& e) {
      error = e.what();
      raised = true;
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (c.contains("expected")) {
      EXPECT_EQ(error, "");
      EXPECT_EQ(output, c["expected"].get<std::string>());
    } else {
      EXPECT_NE(error, "") << "expected " << c["error_type"] << ": " << c["error"] << ", got output " << output;
      if (c["error_type"] == "TemplateRaised") {
        EXPECT_TRUE(raised);
        EXPECT_EQ(error, c["error"].get<std::string>());
      }
    }
  }
}

std::string render(const std::string& source, const nlohmann::json& variables = nlohmann::json::object()) {
  return Template(source).render(variables);
}

std::string error_of(const std::string& source) {
  try {
    render(source);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("line one\n{% if x %}\n  {{ x + }}\n{% endif %}"),
            "chat template syntax error at line 3, column 10: unexpected end of print statement");
  EXPECT_NE(error_of("{% for x in y %}no end").find("line 1"), std::string::npos);
  EXPECT_NE(error_of("{% for x in y %}no end").find("'endfor'"), std::string::npos);
  EXPECT_NE(error_of("a\n\n  {% frobnicate %}").find("line 3, column 6: Encountered unknown tag 'frobnicate'"), std::string::npos);
  EXPECT_NE(error_of("{{ 'unterminated }}").find("line 1"), std::string::npos);
  EXPECT_NE(error_of("{{ x ! y }}").find("unexpected char '!'"), std::string::npos);
  EXPECT_NE(error_of("{% set 1 = 2 %}").find("can't assign"), std::string::npos);
}

TEST(JinjaErrors, RuntimeErrorsAreErrorsNotCrashes) {
  EXPECT_NE(error_of("{{ missing.attr }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 + 'a' }}").find("unsupported operand"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 / 0 }}").find("division by zero"), std::string::npos);
  EXPECT_NE(error_of("{% set l = [] %}{{ l.append(1) }}").find("unsafe"), std::string::npos);
  EXPECT_NE(error_of("{{ x | nosuchfilter }}").find("No filter named 'nosuchfilter'"), std::string::npos);
}

TEST(JinjaLimits, RunawayTemplatesAreBounded) {
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("recursion deeper than"), std::string::npos);
  Limits small;
  small.max_output_bytes = 1000;
  try {
    Template("{% for i in range(100000) %}xxxxxxxxxx{% endfor %}", small).render(nlohmann::json::object());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("output exceeds 1000 bytes"), std::string::npos);
  }
  Limits few;
  few.max_loop_iterations = 50;
  try {
    Template("{% for i in range(10) %}{% for j in range(10) %}{% endfor %}{% endfor %}", few).render(nlohmann::json::object());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loop iterations"), std::string::npos);
  }
  Limits quick;
  quick.max_render_seconds = 0.05;
  try {
    // ~10 million iterations of string work: far over 50 ms.
    Template("{% for i in range(100000) %}{% for j in range(100) %}{% set s = 'ab' ~ j %}{% endfor %}{% endfor %}",
             quick)
        .render(nlohmann::json::object());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rendering took longer than 0.05 seconds"), std::string::npos) << e.what();
  }
  EXPECT_NE(error_of("{{ range(1000000) | length }}").find("Range too big"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 1000000000 }}").find("too large"), std::string::npos);
}

// transformers' environment has no loader: include, import, from and extends parse, and raise
// Jinja's TypeError when they run (a branch that does not run is fine).
TEST(JinjaErrors, LoaderTagsRaiseWhenRun) {
  for (const char* source : {"{% include 'a' %}", "{% include ['a', 'b'] ignore missing %}", "{% import 'm' as m %}",
                             "{% from 'm' import a, b as c with context %}", "{% extends 'base' %}x"})
    EXPECT_EQ(error_of(source), "no loader for this environment specified") << source;
  EXPECT_EQ(render("{% if false %}{% include 'a' %}{% endif %}ok"), "ok");
}

// Recursive loops are bounded by the nesting limit.
TEST(JinjaLimits, RecursiveLoopsAreBounded) {
  EXPECT_NE(error_of("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}").find("recursion deeper"), std::string::npos);
}

TEST(JinjaValues, PythonFloatRepr) {
  EXPECT_EQ(format_float(1.0), "1.0");
  EXPECT_EQ(format_float(0.1), "0.1");
  EXPECT_EQ(format_float(1e16), "1e+16");
  EXPECT_EQ(format_float(123456789012345.6), "123456789012345.6");
  EXPECT_EQ(format_float(1.5e-5), "1.5e-05");
  EXPECT_EQ(format_float(0.0001), "0.0001");
  EXPECT_EQ(format_float(-2.5), "-2.5");
}

// Issue 26: deep nesting was a stack overflow (a segfault) in the parser or the evaluator; it is
// now an InvalidArgument naming the limit.
TEST(JinjaLimits, DeepNestingIsAnErrorNotACrash) {
  const int n = 5000;
  auto repeat = [](const std::string& s, int k) {
    std::string out;
    for (int i = 0; i < k; ++i) out += s;
    return out;
  };
  for (const std::string& source :
       {"{{ " + repeat("(", n) + "1" + repeat(")", n) + " }}", "{{ " + repeat("[", n) + repeat("]", n) + " }}",
        "{{ " + repeat("not ", n) + "1 }}", "{{ " + repeat("-", n) + "1 }}",
        repeat("{% if true %}", n) + repeat("{% endif %}", n)})
    EXPECT_NE(error_of(source).find("nesting deeper than"), std::string::npos) << source.substr(0, 40);
  EXPECT_NE(error_of("{{ 1" + repeat(" + 1", n) + " }}").find("expressions nested deeper than"), std::string::npos);
  // A string or list doubled in a loop fails at its cap, fast, instead of eating memory.
  EXPECT_NE(error_of("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                     "{% endfor %}{{ ns.s | length }}")
                .find("a string exceeds 67108864 bytes"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
                     "{% endfor %}{{ ns.l | length }}")
                .find("a list exceeds 1000000 items"),
            std::string::npos);
  // Real templates nest far less than the limit.
  EXPECT_EQ(render("{{ " + repeat("(", 50) + "1" + repeat(")", 50) + " }}"), "1");
}


}  // namespace
}  // namespace vllm::jinja
