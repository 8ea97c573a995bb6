#!/usr/bin/env python3
"""Records transformers' AutoTokenizer on a broad string set, for every real tokenizer of
../shared/data/tokenizers.tar.xz: the reference that vLLM runs on (issue 26).

Run where transformers is installed (no network needed):
    python3 tools/record_tokenizer_strings.py TOKENIZERS_TAR_XZ OUT_DIR
Writes OUT_DIR/<name>.json = {"transformers": version, "class": ..., "cases": [{text, ids,
ids_no_special, decode, decode_skip}]} and OUT_DIR/errors.txt for tokenizers that fail to load.
The string set is built here, deterministically: whitespace runs, a few code points of every
Unicode general category, digits and number-like symbols, special-token look-alikes (taken from
each tokenizer's own special tokens, altered), mixed scripts and emoji sequences.
"""
import json
import os
import sys
import tarfile
import tempfile
import traceback
import unicodedata

WHITESPACE = [
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t \t", "\u00a0", "\u3000", "\u2009",
    " a", "  a", "   a", "a ", "a  ", " a ", "a b", "a  b", "a   b", "a\tb", "a\nb", "a \n b",
    "\n a", " \na", "a\n\n\nb", "    def f():\n        return 1\n", "x" + " " * 17 + "y", " Hello", "Hello ",
    " Hello world", "  Hello  world  ", "\tHello", "\nHello", "Hello\n", " \u00a0 x", "1 2  3   4",
]

NUMBERS = [
    "0", "7", "12", "123", "1234", "12345", "1234567890", "3.14159", "1,000,000", "-42", "+1e-9",
    "½", "¼ cup", "²", "x²+y³", "Ⅻ", "ⅻ", "①②③", "٣٤٥", "१२३", "１２３", "𝟙𝟚𝟛", "0x1F", "v1.2.3",
    "2026-12-06", "12:34:56", "$9.99", "50%", "10km", "1st 2nd 3rd 4th",
]

MIXED = [
    "Hello, world!", "I'm here; they'll go, we've been, you'd say", "HELLO World hello",
    "café naïve résumé", "Ångström Zürich São Paulo Kraków", "日本語のテキスト", "中文字符也需要处理。",
    "한국어 문장도 있습니다.", "Ελληνικά κείμενα", "Русский текст", "العربية نص", "עברית טקסט",
    "हिन्दी पाठ", "ไทย ข้อความ", "emoji 😀👍🏽", "family 👨‍👩‍👧 flag 🇫🇷", "❤️ ✔️ ☕",
    "e\u0301 o\u0308 n\u0303", "ﬁ ﬂ ligatures", "Ｆｕｌｌ ｗｉｄｔｈ", "zero\u200bwidth", "soft\u00adhyphen",
    "ZWJ\u200dJ", "control\u0000\u0007\u001b chars", "tab\there", "<html><body>x</body></html>",
    "def f(x):\n    return x**2  # comment", "a-b_c.d,e;f:g!h?i(j)k[l]m{n}o\"p'q", "``quotes'' and \"quotes\"",
    "https://example.com/path?q=1&r=2", "user@example.com", "@mention #hashtag", "...", "!!!???", "---",
]


def category_samples():
    """Up to 3 code points of every Unicode general category (skipping surrogates and unassigned),
    alone and between letters."""
    seen = {}
    for cp in range(0x20, 0x30000):
        cat = unicodedata.category(chr(cp))
        if cat in ("Cs", "Cn", "Co"):
            continue
        bucket = seen.setdefault(cat, [])
        if len(bucket) < 3 and (not bucket or cp - bucket[-1] > 40):
            bucket.append(cp)
    out = []
    for cat in sorted(seen):
        for cp in seen[cat]:
            out.append(chr(cp))
            out.append("a" + chr(cp) + "b")
            out.append(" " + chr(cp))
    return out


def lookalikes(tok):
    out = []
    for token in sorted(set(tok.all_special_tokens))[:12]:
        if not token:
            continue
        out += [token, " " + token, token + " ", "x" + token + "y", token + token, token[:-1], token.upper(),
                token.replace("|", " | ") if "|" in token else "<" + token, "Hello " + token + " world"]
    out += ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|begin_of_text|>", "<|im_start|>", "[CLS]", "[SEP]",
            "<pad>", "< s >", "<|end", "|>", "<<", ">>"]
    return out


def strings_for(tok):
    seen, out = set(), []
    for s in WHITESPACE + NUMBERS + MIXED + category_samples() + lookalikes(tok):
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def record(directory):
    import transformers
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(directory)
    cases = []
    for text in strings_for(tok):
        ids = tok.encode(text, add_special_tokens=True)
        cases.append({
            "text": text,
            "ids": ids,
            "ids_no_special": tok.encode(text, add_special_tokens=False),
            "decode": tok.decode(ids, skip_special_tokens=False),
            "decode_skip": tok.decode(ids, skip_special_tokens=True),
        })
    return {"transformers": transformers.__version__, "class": type(tok).__name__, "cases": cases}


def main():
    tarball, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp)
        root = os.path.join(tmp, "tokenizers")
        for name in sorted(os.listdir(root)):
            try:
                rec = record(os.path.join(root, name))
                with open(os.path.join(out_dir, name + ".json"), "w") as f:
                    json.dump(rec, f, ensure_ascii=False, separators=(",", ":"))
                print(f"{name}: {len(rec['cases'])} cases ({rec['class']})")
            except Exception:  # keep going: one device run must record every tokenizer it can
                errors.append(f"== {name}\n{traceback.format_exc()}")
    with open(os.path.join(out_dir, "errors.txt"), "w") as f:
        f.write("\n".join(errors))
    print(f"{len(errors)} tokenizer(s) failed")


if __name__ == "__main__":
    main()
