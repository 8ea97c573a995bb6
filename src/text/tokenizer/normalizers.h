// Normalizers of tokenizer.json (HF tokenizers/src/normalizers): string -> string.
#pragma once

#include <memory>
#include <string>

#include "text/tokenizer/json_util.h"

namespace vllm {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// Builds a normalizer from its tokenizer.json object; throws naming the file and component.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const tokenizer_json::Source& src);

// SentencePiece's compiled character map (the Precompiled normalizer); in precompiled_charsmap.cpp.
std::unique_ptr<Normalizer> make_precompiled_normalizer(const std::string& charsmap_base64,
                                                        const tokenizer_json::Source& src);

}  // namespace vllm
