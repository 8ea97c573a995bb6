#include "core/error.h"
#include "structured/frontends.h"
namespace vllm::structured {
Grammar json_object_grammar(const JsonWhitespace&) { fail(ErrorKind::Unsupported, "todo"); }
Grammar grammar_from_json_schema(const std::string&, const JsonWhitespace&) { fail(ErrorKind::Unsupported, "todo"); }
}
