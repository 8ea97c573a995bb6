#!/usr/bin/env python3
"""Writes the tokenizer benchmark text (~1 MB of mixed English, code, CJK and emoji) to stdout.

Deterministic: the same bytes on every machine and Python 3 version, so the C++ benchmark
(bench/tokenizer_bench.cpp) and the HF baseline (tools/make_tokenizer_fixtures.py) read the same
input. Usage: python3 tools/make_tokenizer_bench_text.py [SIZE_BYTES] > bench.txt
"""
import sys

ENGLISH = [
    "The quick brown fox jumps over the lazy dog while the farmer's children watch from the fence.",
    "In 1969, Neil Armstrong became the first person to walk on the Moon; millions watched live.",
    "She said, \"I can't believe it's already 3:45 p.m. -- we'll miss the train!\"",
    "Tokenization splits text into pieces that a language model can map to integer ids.",
    "Prices rose by 12.5% in Q3 2023, compared with 7.25% a year earlier (source: the report).",
    "They've been working on the project since March; it's finally ready for review.",
    "HELLO World!!! Are you SURE about that??? I'm not... really.",
    "A well-known saying: don't count your chickens before they've hatched.",
    "e-mail me at someone@example.com or visit https://example.org/path?query=1&x=y",
    "Café, naïve, résumé, coöperate, façade, jalapeño, Ångström and Zürich are loanwords.",
]
CODE = [
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (size_t i = 0; i < v.size(); ++i) {\n\tsum += v[i] * weights[i];\n}\n",
    "const result = items.filter(x => x.enabled).map(x => ({ id: x.id, name: x.name }));\n",
    "SELECT id, name, COUNT(*) AS n FROM users WHERE age >= 18 GROUP BY id ORDER BY n DESC;\n",
    "#include <vector>\nint main() { std::vector<int> xs{1, 2, 3}; return xs.size() == 3 ? 0 : 1; }\n",
    "    if (err != nil) {\n        return fmt.Errorf(\"open %s: %w\", path, err)\n    }\n",
    "<div class=\"container\">\n  <p id=\"intro\">Hello &amp; welcome</p>\n</div>\n",
    "x = np.linspace(0.0, 1.0, 1024, dtype=np.float32)  # 1024 evenly spaced samples\n",
]
CJK = [
    "東京は日本の首都であり、世界でも有数の大都市です。",
    "我们今天去公园散步，天气非常好，阳光明媚。",
    "한국어 문장은 띄어쓰기를 사용하며 조사가 붙습니다.",
    "機械学習モデルはテキストをトークンに分割して処理します。",
    "这是一个用于测试分词器性能的中文句子，包含标点符号！",
    "カタカナとひらがなと漢字が混ざった文章：テスト１２３。",
]
EMOJI = [
    "Great job! 🎉🎉 👍🏽 Let's celebrate 🥳🍰",
    "Weather today: ☀️ then 🌧️, maybe ⛈️ tonight.",
    "Family: 👨‍👩‍👧‍👦 flags: 🇫🇷 🇯🇵 hearts: ❤️ 💙 💚",
    "Math symbols: ∑ ∫ √ ≠ ≤ ≥ ∞ and arrows → ← ↑ ↓",
]
SPACES = ["\n\n", "   ", "\t", " \n ", "\r\n"]


class Lcg:
    """A fixed linear congruential generator: Python's `random` is not promised stable."""

    def __init__(self, seed):
        self.state = seed

    def next(self, n):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.state >> 33) % n


def generate(size):
    rng = Lcg(20240601)
    groups = [ENGLISH] * 5 + [CODE] * 3 + [CJK] * 2 + [EMOJI]
    out, total = [], 0
    while total < size:
        group = groups[rng.next(len(groups))]
        piece = group[rng.next(len(group))]
        if rng.next(4) == 0:
            piece += SPACES[rng.next(len(SPACES))]
        else:
            piece += " "
        out.append(piece)
        total += len(piece.encode("utf-8"))
    return "".join(out)


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    sys.stdout.buffer.write(generate(size).encode("utf-8"))
