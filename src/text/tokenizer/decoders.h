// Decoders of tokenizer.json (HF tokenizers/src/decoders): token strings -> text. Each decoder
// maps a list of strings to a list of strings (HF decode_chain); the result is concatenated.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer/json_util.h"

namespace vllm {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  std::string decode(std::vector<std::string> tokens) const;
};

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const tokenizer_json::Source& src);

// transformers' clean_up_tokenization (also the WordPiece decoder's cleanup).
std::string clean_up_tokenization(std::string text);

}  // namespace vllm
