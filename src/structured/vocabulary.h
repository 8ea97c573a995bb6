// TokenVocabulary's contents and the byte trie over it (internal to src/structured).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "structured/grammar.h"

namespace vllm::structured {

// The tokens a grammar may produce (stop and special tokens excluded), sorted by their bytes, as
// a trie: a node's subtree is the contiguous run order[order_begin, order_end), whose first
// entries, up to ends_end, end at the node. Children of a node are contiguous.
struct TokenTrie {
  struct Node {
    uint8_t byte = 0;
    int32_t child_begin = 0, child_end = 0;
    int32_t order_begin = 0, ends_end = 0, order_end = 0;
  };
  std::vector<Node> nodes;     // nodes[0]: the root (empty prefix)
  std::vector<int32_t> order;  // token ids sorted by bytes
  int32_t max_depth = 0;
};

struct TokenVocabulary::Impl {
  std::vector<std::string> bytes;       // per id up to the model's vocabulary; "" when excluded
  std::vector<int32_t> stop_token_ids;
  std::vector<bool> is_stop;
  TokenTrie trie;
};

TokenTrie build_trie(const std::vector<std::string>& bytes, const std::vector<bool>& excluded);

// The byte string of a token's vocabulary entry: byte-level BPE (GPT-2's bytes_to_unicode)
// undone, or SentencePiece's ▁ and <0xNN> resolved, or the text as is.
enum class TokenEncoding { Raw, ByteLevel, SentencePiece };
std::string decode_token(const std::string& token, TokenEncoding encoding);

}  // namespace vllm::structured
