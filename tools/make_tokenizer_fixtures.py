#!/usr/bin/env python3
"""Builds the tokenizer parity fixtures of tests/data/tokenizer/ with HF `tokenizers` (and
`transformers`, `sentencepiece` when installed), and times HF on the benchmark text.

Run wherever `tokenizers` is installed:
    python3 tools/make_tokenizer_fixtures.py OUT_DIR [--real TOKENIZERS_TAR_XZ] [--bench-text FILE]
Writes OUT_DIR/fixtures.tar.gz holding:
  components.json            one entry per normalizer / pre-tokenizer / decoder / post-processor
                             config with its recorded outputs on the tricky inputs
  synthetic/<name>/          a small tokenizer built here (tokenizer.json, maybe
                             tokenizer_config.json, vocab.json+merges.txt, vocab.txt, tokenizer.model)
                             and expected.json with its encodings and decodings
  real/<name>.json           the same records for the real tokenizers of --real (no tokenizer files)
  hf_speed.json              HF timings on the benchmark text (--bench-text)
Every section is guarded: a failure is written to errors.txt and the rest still runs.
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                        pre_tokenizers, processors, trainers)

ERRORS = []


def guarded(name, fn, *args):
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - record and keep going, one device run must yield all it can
        ERRORS.append(f"== {name}\n{traceback.format_exc()}")
        return None


TRAIN_TEXT = """The quick brown fox jumps over the lazy dog. Tokenizers split text into tokens.
A tokenizer is trained on a corpus; the merges it learns are applied in order of rank.
Hello world! Hello there, world. Numbers like 12345, 3.14159 and 1,000,000 appear too.
I'm sure they'll say it's fine, but we've seen what can't be done and what shouldn't.
Café au lait, naïve résumé, façade, jalapeño, Ångström, Zürich, São Paulo, Kraków.
def main(args):\n    for i in range(10):\n        print(i * 2)  # comment\n    return 0
日本語のテキストを分割します。中文字符也需要处理。한국어 문장도 있습니다.
Emoji: 😀 😃 👍 👍🏽 🎉 ❤️ and symbols ∑ ∞ → ©.
    Indented lines, tabs\tand  double  spaces, newlines\n\nand more text here.
Wordpiece models use ## prefixes; unigram models use piece scores; BPE models use merges.
HELLO WORLD, Hello World, hello world: case matters unless the normalizer lowercases.
""" * 3

INPUTS = [
    "Hello world",
    "hello world! How are you?",
    "  leading and trailing spaces   ",
    "multiple   spaces\tand\ttabs\nnewlines\n\n end",
    "café naïve résumé Ångström Zürich",
    "日本語のテキスト 中文字符 한국어",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷",
    "numbers 1234567 3.14159 1,000 42nd",
    "I'm can't we've they'll HE'S She'D",
    "<|sp|>special<|sp|> and <tok> added  <tok>  tokens",
    "word words sword word. [word] xword",
    "code: def f(x):\n    return x**2  # comment",
    "",
    " ",
    "\n",
    "ﬁ ligature ① ² Ｆｕｌｌ ｗｉｄｔｈ Ⅻ",
    "Mixed\u00a0nbsp\u200bzwsp\u3000ideographic",
    "control\u0000chars\u0007and\u00ad soft hyphen",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a-b_c.d,e;f:g!h?i(j)k[l]m{n}o\"p'q",
    "Ελληνικά Русский текст العربية עברית हिन्दी ไทย",
    "ZWJ\u200d and combining e\u0301 o\u0308",
    "   \t\n  ",
    "hello<tok>world <|sp|>",
    "HELLO Hello hello hElLo",
    "tab\there\r\nwindows line",
    "100% sure @user #tag $5 ~x^y&z|w",
    "▁already has meta ▁ symbol",
]

SPECIAL = AddedToken("<|sp|>", special=True, normalized=False)
ADDED = [
    AddedToken("<tok>", lstrip=True, rstrip=True, special=False, normalized=False),
    AddedToken("word", single_word=True, special=False, normalized=False),
    AddedToken("hello", special=False, normalized=True),
]


def ids_to_tokens(tok, ids):
    return [tok.id_to_token(i) for i in ids]


def record_tokenizer(tok, name, extra_ids=()):
    """Encodings and decodings of every input, plus decodes of random id sequences."""
    cases = []
    for text in INPUTS:
        case = {"text": text}
        for special in (True, False):
            enc = tok.encode(text, add_special_tokens=special)
            key = "ids" if special else "ids_no_special"
            case[key] = enc.ids
            case[key.replace("ids", "tokens")] = enc.tokens
        for skip in (False, True):
            case["decode_skip" if skip else "decode"] = tok.decode(case["ids"], skip_special_tokens=skip)
        cases.append(case)
    rng = random.Random(sum(map(ord, name)))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    decodes = []
    for n in range(8):
        ids = [rng.randrange(vocab) for _ in range(6 + n)]
        # "decode" is Python's default, skip_special_tokens=True (the tests compare it so).
        decodes.append({"ids": ids, "decode": tok.decode(ids), "decode_skip": tok.decode(ids, skip_special_tokens=True)})
    for ids in extra_ids:
        decodes.append({"ids": list(ids), "decode": tok.decode(list(ids)),
                        "decode_skip": tok.decode(list(ids), skip_special_tokens=True)})
    return {"cases": cases, "decodes": decodes, "vocab_size": vocab}


# --- vLLM's detokenize_incrementally (vllm/transformers_utils/detokenizer_utils.py), fast path --
OFFSET = 5


def vllm_incremental(hf_tok, prompt_ids, gen_ids, skip_special_tokens):
    tokens = hf_tok.convert_ids_to_tokens(prompt_ids[-OFFSET - 2:], skip_special_tokens=skip_special_tokens)
    tokens = [t if t is not None else "" for t in tokens]
    read_offset = len(tokens)
    prefix_offset = max(read_offset - OFFSET, 0)
    outputs = []
    for tid in gen_ids:
        if 0 <= tid < len(hf_tok):
            new_tokens = hf_tok.convert_ids_to_tokens([tid], skip_special_tokens=skip_special_tokens)
        else:
            new_tokens = [""]
        output_tokens = tokens + new_tokens
        prefix_text = hf_tok.convert_tokens_to_string(output_tokens[prefix_offset:read_offset])
        new_text = hf_tok.convert_tokens_to_string(output_tokens[prefix_offset:])
        if len(new_text) <= len(prefix_text) or new_text.endswith("\ufffd"):
            outputs.append("")
        else:
            outputs.append(new_text[len(prefix_text):])
            prefix_offset, read_offset = read_offset, len(output_tokens)
        tokens = output_tokens
    return outputs


STREAM_TEXTS = [
    ("User: say hi", "Hi there! 😀 Café 日本語 123 done."),
    ("", "  Two  spaces\nand a newline, émoji 👍🏽."),
    ("prompt", "<|sp|> after special <tok> end"),
]


def record_transformers(directory, hf_tok, tok_for_ids):
    """transformers-level records: encode/decode through the tokenizer class, and streaming."""
    out = {"class": type(hf_tok).__name__, "cases": [], "stream": []}
    for text in INPUTS:
        ids = hf_tok.encode(text, add_special_tokens=True)
        ids_ns = hf_tok.encode(text, add_special_tokens=False)
        out["cases"].append({
            "text": text, "ids": ids, "ids_no_special": ids_ns,
            "decode": hf_tok.decode(ids), "decode_skip": hf_tok.decode(ids, skip_special_tokens=True),
        })
    for prompt, gen in STREAM_TEXTS:
        prompt_ids = hf_tok.encode(prompt, add_special_tokens=True)
        gen_ids = hf_tok.encode(gen, add_special_tokens=False)
        if hf_tok.eos_token_id is not None:
            gen_ids = gen_ids + [hf_tok.eos_token_id]
        for skip in (False, True):
            out["stream"].append({"prompt_ids": prompt_ids, "ids": gen_ids, "skip_special_tokens": skip,
                                  "pieces": vllm_incremental(hf_tok, prompt_ids, gen_ids, skip)})
    out["special"] = {"bos": hf_tok.bos_token, "eos": hf_tok.eos_token, "pad": hf_tok.pad_token,
                      "unk": hf_tok.unk_token, "bos_id": hf_tok.bos_token_id, "eos_id": hf_tok.eos_token_id,
                      "pad_id": hf_tok.pad_token_id, "all_special_ids": list(hf_tok.all_special_ids),
                      "model_max_length": hf_tok.model_max_length if hf_tok.model_max_length < 1e12 else None,
                      "len": len(hf_tok)}
    return out


def load_transformers(directory, tokenizer_file=None):
    import transformers  # noqa: F401
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    try:
        return AutoTokenizer.from_pretrained(directory)
    except Exception:  # noqa: BLE001
        if tokenizer_file is None:
            tokenizer_file = os.path.join(directory, "tokenizer.json")
        return PreTrainedTokenizerFast(tokenizer_file=tokenizer_file)


# --- components ---------------------------------------------------------------------------------
def component_json(kind, component):
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    setattr(tok, kind, component)
    return json.loads(tok.to_str())[kind]


DECODE_TOKENS = [
    ["Ġhello", "Ġworld", "!", "ĠcafÃ©", "Ġæĸ", "ĩ"],
    ["▁Hello", "▁world", "<0xE6>", "<0x97>", "<0xA5>", "▁", "<0xF0>", "<0x9F>"],
    ["hel", "##lo", "wor", "##ld", "!", "do", "##n", "'", "t", "##s", "."],
    ["hel", "lo</w>", "wor", "ld</w>", "!</w>"],
    ["<pad>", "h", "h", "<pad>", "e", "l", "l", "<pad>", "l", "o", "|", "w", "o", "r", "l", "d"],
    ["  spaced ", "▁tokens▁", "x"],
    ["<0x41>", "<0xZZ>", "<0x0A>", "abc", "<0xC3>"],
    ["Hello", " ,", "world", " .", " 're", " n't", " 's", " !", " ?"],
]


def record_components():
    norm_inputs = INPUTS + ["ÀÉÎÕÜ ﬃ ℌ ㍿ Ǆ", "İstanbul ß ẞ Σίσυφος", "  \t strip me \n "]
    normalizer_list = [
        normalizers.NFC(), normalizers.NFD(), normalizers.NFKC(), normalizers.NFKD(),
        normalizers.Lowercase(), normalizers.Strip(), normalizers.Strip(left=True, right=False),
        normalizers.Strip(left=False, right=True),
        normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()]),
        normalizers.Replace(" ", "▁"), normalizers.Replace(Regex(r"\s+"), " "),
        normalizers.Replace(Regex(r"(\d)(\d)"), "$2$1"),
        normalizers.Prepend("▁"),
        normalizers.BertNormalizer(), normalizers.BertNormalizer(lowercase=False, strip_accents=False),
        normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False),
        normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Prepend("▁"),
                              normalizers.Replace(" ", "▁")]),
    ]
    pre_list = [
        pre_tokenizers.ByteLevel(add_prefix_space=False), pre_tokenizers.ByteLevel(add_prefix_space=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        pre_tokenizers.Whitespace(), pre_tokenizers.WhitespaceSplit(), pre_tokenizers.BertPreTokenizer(),
        pre_tokenizers.Metaspace(), pre_tokenizers.Metaspace(prepend_scheme="never"),
        pre_tokenizers.Metaspace(prepend_scheme="first", split=False),
        pre_tokenizers.Metaspace(replacement="_", prepend_scheme="always", split=True),
        pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.CharDelimiterSplit("-"), pre_tokenizers.UnicodeScripts(),
        pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits(True)]),
    ]
    for behavior in ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"):
        pre_list.append(pre_tokenizers.Punctuation(behavior=behavior))
        for invert in (False, True):
            pre_list.append(pre_tokenizers.Split(" ", behavior=behavior, invert=invert))
            pre_list.append(pre_tokenizers.Split(Regex(r"\s+(?!\S)|\d+|\p{L}+"), behavior=behavior, invert=invert))
    pre_list.append(pre_tokenizers.Split(Regex(
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
        behavior="isolated"))
    decoder_list = [
        decoders.ByteLevel(), decoders.Metaspace(), decoders.Metaspace(prepend_scheme="never"),
        decoders.Metaspace(prepend_scheme="first"), decoders.WordPiece(), decoders.WordPiece(cleanup=False),
        decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0), decoders.Strip("▁", 0, 1),
        decoders.Replace("▁", " "), decoders.BPEDecoder(), decoders.BPEDecoder(suffix="lo"),
        decoders.CTC(), decoders.CTC(cleanup=False),
        decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                           decoders.Strip(" ", 1, 0)]),
    ]
    out = []
    for n in normalizer_list:
        out.append({"kind": "normalizer", "config": component_json("normalizer", n),
                    "cases": [{"input": s, "output": n.normalize_str(s)} for s in norm_inputs]})
    for p in pre_list:
        out.append({"kind": "pre_tokenizer", "config": component_json("pre_tokenizer", p),
                    "cases": [{"input": s, "output": [w for w, _ in p.pre_tokenize_str(s)]} for s in norm_inputs]})
    for d in decoder_list:
        out.append({"kind": "decoder", "config": component_json("decoder", d),
                    "cases": [{"input": t, "output": d.decode(t)} for t in DECODE_TOKENS]})
    return out


# --- synthetic tokenizers -----------------------------------------------------------------------
def train(tok, trainer):
    tok.train_from_iterator(TRAIN_TEXT.split("\n"), trainer)
    return tok


def bytelevel_bpe(add_prefix_space=False, use_regex=True, ignore_merges=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space, use_regex=use_regex)
    tok.decoder = decoders.ByteLevel()
    train(tok, trainers.BpeTrainer(vocab_size=600, special_tokens=["<s>", "</s>", "<unk>", "<pad>"],
                                   initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    if ignore_merges:  # rebuild with the flag (the trainer makes a fresh model)
        state = json.loads(tok.to_str())
        state["model"]["ignore_merges"] = True
        tok = Tokenizer.from_str(json.dumps(state))
    return tok


def add_test_tokens(tok):
    tok.add_special_tokens([SPECIAL])
    tok.add_tokens(ADDED)
    return tok


def build_synthetic():
    out = {}
    # 1. GPT-2 style byte-level BPE with ByteLevel + Template post-processing and added tokens.
    tok = add_test_tokens(bytelevel_bpe())
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                      special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])])
    out["bpe_bytelevel"] = (tok, {})
    # 2. byte-level with prefix space, no regex, Roberta post-processor, NFKC + Lowercase.
    tok = bytelevel_bpe(add_prefix_space=True, use_regex=False)
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    out["bpe_bytelevel_prefix_roberta"] = (add_test_tokens(tok), {})
    # 3. Llama-3 style: Split regex + ByteLevel(use_regex=False), ignore_merges, merges as pairs.
    tok = bytelevel_bpe(ignore_merges=True)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
                             behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    out["bpe_split_ignore_merges"] = (add_test_tokens(tok), {"merges_as_pairs": True})
    # 4. SentencePiece-style BPE with byte_fallback (Llama 2): Prepend/Replace normalizer.
    base = Tokenizer(models.BPE(unk_token="<unk>"))
    base.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    train(base, trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False))
    state = json.loads(base.to_str())
    vocab = state["model"]["vocab"]
    for b in range(256):
        vocab.setdefault(f"<0x{b:02X}>", len(vocab))
    state["model"].update({"byte_fallback": True, "fuse_unk": True})
    tok = Tokenizer.from_str(json.dumps(state))
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    out["bpe_spm_byte_fallback"] = (add_test_tokens(tok), {"config": {
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "clean_up_tokenization_spaces": False, "model_max_length": 4096, "tokenizer_class": "PreTrainedTokenizerFast"}})
    # 5. Metaspace (always, split) BPE without byte fallback (unknown chars -> <unk>), Metaspace decoder.
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(prepend_scheme="always")
    train(tok, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "</s>"], limit_alphabet=40, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    out["bpe_metaspace_unk"] = (add_test_tokens(tok), {})
    # 6. BPE with end_of_word_suffix + BPEDecoder, Whitespace pre-tokenizer, Strip/NFD/StripAccents.
    tok = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.Strip(), normalizers.NFD(), normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    train(tok, trainers.BpeTrainer(vocab_size=400, special_tokens=["<unk>"], end_of_word_suffix="</w>", show_progress=False))
    out["bpe_suffix"] = (add_test_tokens(tok), {})
    # 7. BPE with continuing_subword_prefix, Punctuation+WhitespaceSplit+Digits, WordPiece decoder.
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    tok.decoder = decoders.WordPiece()
    train(tok, trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]"], continuing_subword_prefix="##", show_progress=False))
    out["bpe_prefix"] = (add_test_tokens(tok), {})
    # 8. WordPiece with the BERT pipeline.
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    train(tok, trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False))
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    out["wordpiece_bert"] = (add_test_tokens(tok), {"vocab_txt": True})
    # 9. WordPiece cased: NFC + Replace regex, Whitespace + UnicodeScripts, max_input_chars_per_word=12.
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=12))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\d+"), "0")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.UnicodeScripts()])
    tok.decoder = decoders.WordPiece(cleanup=False)
    train(tok, trainers.WordPieceTrainer(vocab_size=350, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    out["wordpiece_scripts"] = (add_test_tokens(tok), {})
    # 10. Unigram with Metaspace (first, no split), NFKD, Metaspace decoder.
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=False)
    tok.decoder = decoders.Metaspace(prepend_scheme="first")
    train(tok, trainers.UnigramTrainer(vocab_size=300, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    out["unigram_metaspace"] = (add_test_tokens(tok), {})
    # 11. Unigram with byte_fallback, WhitespaceSplit + Metaspace(always), CharDelimiterSplit.
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.CharDelimiterSplit("-"), pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Metaspace(prepend_scheme="always")])
    train(tok, trainers.UnigramTrainer(vocab_size=250, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False))
    state = json.loads(tok.to_str())
    for b in range(256):
        state["model"]["vocab"].append([f"<0x{b:02X}>", 0.0])
    state["model"]["byte_fallback"] = True
    tok = Tokenizer.from_str(json.dumps(state))
    tok.decoder = decoders.Sequence([decoders.Metaspace(), decoders.ByteFallback(), decoders.Fuse()])
    out["unigram_byte_fallback"] = (add_test_tokens(tok), {})
    # 12. WordLevel with Whitespace, Lowercase, CTC decoder.
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.CTC(pad_token="<pad>", word_delimiter_token="|")
    train(tok, trainers.WordLevelTrainer(vocab_size=200, special_tokens=["<pad>", "<unk>", "|"], show_progress=False))
    out["wordlevel"] = (add_test_tokens(tok), {})
    # 13. No pre-tokenizer, no decoder (decode joins with spaces), Split with every behaviour.
    for behavior in ("removed", "merged_with_previous", "merged_with_next", "contiguous"):
        tok = bytelevel_bpe()
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\s+|\p{P}"), behavior=behavior, invert=behavior == "contiguous"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        if behavior == "removed":  # no decoder: decode joins the tokens with spaces
            state = json.loads(tok.to_str())
            state["decoder"] = None
            tok = Tokenizer.from_str(json.dumps(state))
        out[f"bpe_split_{behavior}"] = (add_test_tokens(tok), {})
    return out


def save_synthetic(root, name, tok, opts):
    d = os.path.join(root, "synthetic", name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "tokenizer.json")
    tok.save(path, pretty=False)
    state = json.loads(open(path, encoding="utf-8").read())
    if opts.get("merges_as_pairs"):
        state["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in state["model"]["merges"]]
    elif state["model"].get("merges"):
        state["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in state["model"]["merges"]]
    if name == "wordlevel":
        del state["model"]["type"]  # the loader must infer it, as HF does
    with open(path, "w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=False)
    tok = Tokenizer.from_file(path)
    if "config" in opts:
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(opts["config"], f, ensure_ascii=False, indent=1)
    rec = record_tokenizer(tok, name)
    rec["transformers"] = guarded(f"transformers {name}", lambda: record_transformers(d, load_transformers(d), tok))
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(rec, f, ensure_ascii=False)


def build_fallback_formats(root):
    """vocab.json + merges.txt (GPT-2), vocab.txt (BERT) and tokenizer.model fixtures."""
    from transformers import AutoTokenizer
    # GPT-2 style files from a byte-level BPE.
    tok = bytelevel_bpe()
    d = os.path.join(root, "synthetic", "gpt2_files")
    os.makedirs(d, exist_ok=True)
    tok.model.save(d)
    cfg = {"tokenizer_class": "GPT2Tokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
           "add_prefix_space": False, "model_max_length": 1024, "clean_up_tokenization_spaces": True,
           "added_tokens_decoder": {}}
    json.dump(cfg, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)
    json.dump({"additional_special_tokens": ["<|sp|>"]}, open(os.path.join(d, "special_tokens_map.json"), "w"))
    hf = AutoTokenizer.from_pretrained(d)
    json.dump({"transformers": record_transformers(d, hf, None)}, open(os.path.join(d, "expected.json"), "w"), ensure_ascii=False)
    # vocab.txt (BERT WordPiece).
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    train(tok, trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False))
    d = os.path.join(root, "synthetic", "bert_vocab_txt")
    os.makedirs(d, exist_ok=True)
    vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8").write("".join(t + "\n" for t, _ in vocab))
    json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512},
              open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)
    hf = AutoTokenizer.from_pretrained(d)
    json.dump({"transformers": record_transformers(d, hf, None)}, open(os.path.join(d, "expected.json"), "w"), ensure_ascii=False)


def build_sentencepiece(root):
    import sentencepiece as spm
    for name, model_type in (("spm_unigram", "unigram"), ("spm_bpe_byte_fallback", "bpe")):
        d = os.path.join(root, "synthetic", name)
        os.makedirs(d, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            f.write(TRAIN_TEXT)
        spm.SentencePieceTrainer.train(input=f.name, model_prefix=os.path.join(d, "tokenizer"),
                                       vocab_size=300 if model_type == "unigram" else 480,
                                       model_type=model_type, byte_fallback=model_type == "bpe",
                                       hard_vocab_limit=False, character_coverage=0.98,
                                       normalization_rule_name="nmt_nfkc" if model_type == "unigram" else "identity",
                                       add_dummy_prefix=True, minloglevel=2)
        os.remove(os.path.join(d, "tokenizer.vocab"))
        sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
        cfg = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
               "add_eos_token": model_type == "unigram", "clean_up_tokenization_spaces": False}
        json.dump(cfg, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=1)
        cases = []
        for text in INPUTS:
            ids = sp.encode(text)
            cases.append({"text": text, "ids_no_special": ids,
                          "ids": [sp.bos_id()] + ids + ([sp.eos_id()] if cfg["add_eos_token"] else []),
                          "decode": sp.decode(ids)})
        json.dump({"sentencepiece": cases, "vocab_size": sp.get_piece_size()},
                  open(os.path.join(d, "expected.json"), "w"), ensure_ascii=False)
        if model_type == "unigram":
            # Precompiled normalizer: the compiled nmt_nfkc charsmap inside the model.
            from transformers.convert_slow_tokenizer import import_protobuf
            proto = import_protobuf().ModelProto()
            proto.ParseFromString(open(os.path.join(d, "tokenizer.model"), "rb").read())
            charsmap = proto.normalizer_spec.precompiled_charsmap
            return normalizers.Precompiled(charsmap)
    return None


def record_real(root, tarball):
    tmp = tempfile.mkdtemp()
    subprocess.run(["tar", "xJf", tarball, "-C", tmp], check=True)
    base = os.path.join(tmp, "tokenizers")
    os.makedirs(os.path.join(root, "real"), exist_ok=True)
    for name in sorted(os.listdir(base)):
        d = os.path.join(base, name)
        rec = {}
        if os.path.exists(os.path.join(d, "tokenizer.json")):
            tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            rec = guarded(f"real {name}", record_tokenizer, tok, name) or {}
        rec["transformers"] = guarded(f"transformers real {name}", lambda: record_transformers(d, load_transformers(d), None))
        with open(os.path.join(root, "real", name + ".json"), "w", encoding="utf-8") as f:
            json.dump(rec, f, ensure_ascii=False)
    return base


SPEED_CHILD = r"""
import json, sys, time, hashlib
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1]); text = open(sys.argv[2], encoding='utf-8', newline='').read()
lines = text.split('\n')
best = 1e9
for _ in range(3):
    t = time.perf_counter(); ids = tok.encode(text, add_special_tokens=False).ids; best = min(best, time.perf_counter() - t)
bbest = 1e9
for _ in range(3):
    t = time.perf_counter(); encs = tok.encode_batch(lines, add_special_tokens=False); bbest = min(bbest, time.perf_counter() - t)
print(json.dumps({'encode_s': best, 'batch_lines_s': bbest, 'num_ids': len(ids),
                  'ids_sha256': hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
                  'batch_num_ids': sum(len(e.ids) for e in encs)}))
"""


def hf_speed(root, real_base, bench_text):
    import tokenizers
    out = {"tokenizers_version": tokenizers.__version__, "cpu_count": os.cpu_count(), "bytes": os.path.getsize(bench_text)}
    for name in ("llama-3", "qwen2"):
        path = os.path.join(real_base, name, "tokenizer.json")
        for mode, env in (("1_thread", {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}),
                          ("all_cores", {"TOKENIZERS_PARALLELISM": "true"})):
            res = subprocess.run([sys.executable, "-c", SPEED_CHILD, path, bench_text], capture_output=True,
                                 text=True, env={**os.environ, **env}, timeout=120)
            out[f"{name}/{mode}"] = json.loads(res.stdout) if res.returncode == 0 else res.stderr[-2000:]
    with open(os.path.join(root, "hf_speed.json"), "w") as f:
        json.dump(out, f, indent=1)


def main():
    out_dir = sys.argv[1]
    real = sys.argv[sys.argv.index("--real") + 1] if "--real" in sys.argv else None
    bench_text = sys.argv[sys.argv.index("--bench-text") + 1] if "--bench-text" in sys.argv else None
    root = tempfile.mkdtemp()
    versions = {"python": sys.version}
    for mod in ("tokenizers", "transformers", "sentencepiece"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001
            versions[mod] = f"unavailable: {e}"
    json.dump(versions, open(os.path.join(root, "versions.json"), "w"), indent=1)
    t0 = time.time()
    components = guarded("components", record_components) or []
    precompiled = guarded("sentencepiece", build_sentencepiece, root)
    if precompiled is not None:
        components.append(guarded("precompiled", lambda: {
            "kind": "normalizer", "config": component_json("normalizer", precompiled),
            "cases": [{"input": s, "output": precompiled.normalize_str(s)} for s in INPUTS]}))
    json.dump(components, open(os.path.join(root, "components.json"), "w", encoding="utf-8"), ensure_ascii=False)
    for name, (tok, opts) in (guarded("synthetic", build_synthetic) or {}).items():
        guarded(f"save {name}", save_synthetic, root, name, tok, opts)
    guarded("fallback formats", build_fallback_formats, root)
    real_base = guarded("real", record_real, root, real) if real else None
    if real_base and bench_text:
        guarded("speed", hf_speed, root, real_base, bench_text)
    open(os.path.join(root, "errors.txt"), "w").write("\n".join(ERRORS) + f"\nelapsed {time.time() - t0:.1f}s\n")
    os.makedirs(out_dir, exist_ok=True)
    with tarfile.open(os.path.join(out_dir, "fixtures.tar.gz"), "w:gz") as tar:
        tar.add(root, arcname="fixtures")
    shutil.copy(os.path.join(root, "errors.txt"), os.path.join(out_dir, "errors.txt"))
    print(open(os.path.join(root, "errors.txt")).read()[-6000:])


if __name__ == "__main__":
    main()
