// json.dumps form and the scanner that writes it for JSON cut short.
#include <gtest/gtest.h>

#include "parsers/json_text.h"

namespace vllm::parsers {
namespace {

TEST(JsonText, PythonDumps) {
  Json value = Json::parse(R"({"b": 1, "a": [1.5, 1e20, 0.0001, 100.0, "é\n\"", null, true]})");
  EXPECT_EQ(python_json_dumps(value), R"({"b": 1, "a": [1.5, 1e+20, 0.0001, 100.0, "é\n\"", null, true]})");
  EXPECT_EQ(python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(123456789012345.0), "123456789012345.0");
  EXPECT_EQ(python_float_repr(-0.5), "-0.5");
}

TEST(JsonText, ScanPrefixesAreStable) {
  std::string text = R"(  {"city":"Par\u00eds","n":[1,-2.50e1,true],"o":{}}  trailing)";
  JsonScan full = scan_json(text);
  ASSERT_TRUE(full.complete);
  EXPECT_EQ(full.dumped, R"({"city": "París", "n": [1, -25.0, true], "o": {}})");
  EXPECT_EQ(text.substr(full.end), "  trailing");
  for (size_t cut = 0; cut < full.end; ++cut) {
    JsonScan part = scan_json(text.substr(0, cut));
    EXPECT_FALSE(part.error) << cut;
    EXPECT_EQ(full.dumped.compare(0, part.dumped.size(), part.dumped), 0) << cut << ": " << part.dumped;
  }
  EXPECT_TRUE(scan_json("{\"a\": x}").error);
  EXPECT_TRUE(scan_json("]").error);
}

}  // namespace
}  // namespace vllm::parsers
