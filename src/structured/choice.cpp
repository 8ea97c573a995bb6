// Choice: the output is one of the given strings.
#include "core/error.h"
#include "structured/frontends.h"

namespace vllm::structured {

Grammar grammar_from_choices(const std::vector<std::string>& choices) {
  VLLM_CHECK(!choices.empty(), InvalidArgument, "structured outputs: choice needs at least one alternative");
  std::vector<Expr> alts;
  for (const auto& c : choices) alts.push_back(Expr::lit(c));
  Grammar g;
  g.root = g.add_rule("root", Expr::alt(std::move(alts)));
  return g;
}

}  // namespace vllm::structured
