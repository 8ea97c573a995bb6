#!/usr/bin/env python3
"""Train vllm-cpp's built-in default model (models/default) from scratch.

What it does, in order (one process, one GPU, a few minutes on an H200):

  1. Reads the corpus tarball (../shared/data/corpus.tar.xz: TinyStories samples and public-domain
     Project Gutenberg books, listed with their licences in the tarball's MANIFEST.tsv), cleans it
     into documents and splits off a held-out set (about 4% of the stories, every 25th chunk of
     every book). tinyshakespeare is left out on purpose (verse drama is not what a demo story model
     should sound like).
  2. Trains a byte-level BPE tokenizer with HF `tokenizers` (8192 entries; special tokens <|pad|>,
     <|bos|>, <|eos|>, <|system|>, <|user|>, <|assistant|>), on the training split only. Its
     tokenizer.json carries a TemplateProcessing post-processor that prepends <|bos|> whenever
     special tokens are added (HF `add_special_tokens=True`, vLLM's default for completions); no eos
     is appended. The chat template writes the bos itself, so chat prompts are tokenized without
     special tokens, as transformers and vLLM do.
  3. Builds a plain transformers `LlamaForCausalLM` (RMSNorm, SiLU MLP, RoPE theta 10000, GQA, tied
     embeddings) and trains it on random 512-token windows of two streams: stories (weighted to 70%
     of the rows of every batch) and books (30%). Documents are `<|bos|> text <|eos|>`; about 15% of
     the training stories are wrapped in the chat template ("Tell me a story about Tom." -> story)
     so that the chat template is something the model has seen. Residual/embedding dropout is added
     with forward hooks during training only (the exported checkpoint is a standard Llama).
     Schedule: warmup, constant learning rate while the held-out loss improves, then (on a plateau,
     i.e. early stopping, or when 75% of the time budget is spent) a linear cooldown from the best
     checkpoint; the checkpoint with the best held-out loss wins.
  4. Exports HF format (config.json, model.safetensors in bf16, tokenizer.json,
     tokenizer_config.json with a chat template, generation_config.json), reloads it with
     AutoModelForCausalLM/AutoTokenizer, reports held-out perplexity, writes reference.json for
     vllm-cpp's tests (a public-domain held-out passage with per-token fp32 logprobs, and greedy
     continuations with top-2 logit margins) and a README.md model card with samples.

A tiny end-to-end dry run of the export/reload path runs before training, so a broken environment
fails in seconds, not after the training.

Usage (GPU machine with torch, transformers 5.x (5.17 tested), tokenizers, safetensors):
  PYTHONUNBUFFERED=1 python3 tools/train_default_model.py --corpus ../shared/data/corpus.tar.xz \
      --out-dir models/default --work-dir /tmp/train --time-budget 300
`--prep-only` runs step 1 alone (pure Python, no GPU) and prints corpus statistics.
Everything is seeded (--seed); GPU kernels are not bit-deterministic, so a rerun gives a model of
the same quality, not the same bytes.
"""

import argparse
import hashlib
import json
import math
import os
import random
import re
import sys
import tarfile
import time

T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:7.1f}s]", *a, flush=True)


# ----------------------------------------------------------------------------------------------
# Special tokens and the chat format (the Python renderer below must equal CHAT_TEMPLATE).
PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"
SYS, USR, AST = "<|system|>", "<|user|>", "<|assistant|>"
SPECIALS = [PAD, BOS, EOS, SYS, USR, AST]  # ids 0..5

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Only system, user and assistant roles are supported.') }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def render_chat(messages, add_generation_prompt=False):
    s = BOS + "".join(f"<|{m['role']}|>\n{m['content']}{EOS}\n" for m in messages)
    return s + ("<|assistant|>\n" if add_generation_prompt else "")


TINY_FILES = [
    "tinystories-gusjengis/tinystories_sample.txt",
    "tinystories-maxme1/tiny-stories.json",
    "tinystories-yuninxia/tinystories_val.txt",
]
EXCLUDED = {"tinyshakespeare/input.txt": "verse drama, left out on purpose"}
# The test passage in reference.json comes from this public-domain book's held-out chunks.
REFERENCE_BOOK = "gutenberg-oz/pg55.txt"

STORY_OPENINGS = [
    "Once upon a time, there was a little girl named Lily. She loved to",
    "One day, a big brown dog found a red ball in the park.",
    "Tom and his mom went to the store to buy some",
    "Once upon a time, in a small house by the sea, there lived an old man who",
    "The little bird could not fly. It sat on the ground and",
    "Sara had a new toy car. She showed it to her friend Ben and said,",
    "It was a cold winter night. The children sat by the fire and",
    "There was once a king who had three daughters. The youngest",
    "Max the cat was very hungry. He looked in the kitchen and saw",
    "Anna wanted to help her dad in the garden. She took a small",
]
REFERENCE_PROMPTS = [
    "Once upon a time, there was a little",
    "The sun was shining and the birds were singing. Tim went outside and",
    "Dorothy looked at the Scarecrow and said,",
]
CHAT_EXAMPLES = [
    [{"role": "user", "content": "Tell me a story about a brave little mouse."}],
    [{"role": "system", "content": "You are a friendly storyteller for young children."},
     {"role": "user", "content": "Tell me a story about Lucy."}],
    [{"role": "user", "content": "Continue the story: Ben found a shiny key under his bed."}],
]


# ----------------------------------------------------------------------------------------------
# 1. Corpus
def read_corpus(path):
    files, manifest = {}, {}
    with tarfile.open(path, "r:*") as tf:
        for m in tf.getmembers():
            if not m.isfile():
                continue
            name = m.name.split("/", 1)[1] if m.name.startswith("corpus/") else m.name
            data = tf.extractfile(m).read().decode("utf-8", errors="ignore")
            if name == "MANIFEST.tsv":
                rows = [r.split("\t") for r in data.strip().split("\n")]
                head = rows[0]
                for r in rows[1:]:
                    manifest[r[0]] = dict(zip(head, r))
            else:
                files[name] = data
    return files, manifest


def clean_story(s):
    lines = [" ".join(l.split()) for l in s.replace("\r", "").split("\n")]
    return "\n".join(l for l in lines if l)


STORY_START = re.compile(r"^(Once upon a time|Once there was|Once there lived|Once,|There once was|There was once)")


def tiny_stories(files):
    out = []
    g = files[TINY_FILES[0]]
    parts = [p for p in g.split("<|endoftext|>")]
    out += [clean_story(p) for p in parts[:-1]]  # a byte-range sample: its last story is cut off
    out += [clean_story(t) for t in json.loads(files[TINY_FILES[1]])["texts"]]
    # One story after another, paragraphs and stories both separated by blank lines: a new story
    # starts at a typical opening; the first (cut) fragment and the last story are dropped.
    paras = [clean_story(p) for p in re.split(r"\n\s*\n", files[TINY_FILES[2]])]
    cur, ys = None, []
    for p in paras:
        if not p:
            continue
        if STORY_START.match(p):
            if cur:
                ys.append("\n".join(cur))
            cur = [p]
        elif cur is not None:
            cur.append(p)
    out += ys
    seen, uniq = set(), []
    for s in out:
        key = " ".join(s.lower().split())[:200]
        if len(s) < 100 or key in seen:
            continue
        seen.add(key)
        uniq.append(s)
    return uniq


def book_paragraphs(text):
    t = text.replace("\r", "")
    m = re.search(r"\*\*\* ?START OF[^\n]*\n", t)
    if m:
        t = t[m.end():]
    m = re.search(r"\n[^\n]*(\*\*\* ?END OF|End of (the )?Project Gutenberg)", t, re.IGNORECASE)
    if m:
        t = t[: m.start()]
    t = t.replace("_", "")
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", t)]
    return [p for p in paras if p]


def chunk_paragraphs(paras, max_chars=6000):
    chunks, cur, n = [], [], 0
    for p in paras:
        if cur and n + len(p) > max_chars:
            chunks.append("\n".join(cur))
            cur, n = [], 0
        cur.append(p)
        n += len(p) + 1
    if cur:
        chunks.append("\n".join(cur))
    return chunks


def is_heldout_story(s):
    return int(hashlib.sha1(s.encode()).hexdigest(), 16) % 100 < 4


CHAT_SYSTEMS = ["You are a helpful assistant.", "You are a friendly storyteller for young children.",
                "You tell short, simple stories."]
CHAT_ASKS = ["Tell me a story.", "Tell me a short story.", "Can you tell me a story?",
             "Write a story for a little kid.", "Please tell me a bedtime story.", "I want to hear a story."]


def as_chat(story, rng):
    """A story as a one-turn chat (the assistant tells it), or None if it does not fit a prompt."""
    msgs = []
    if rng.random() < 0.3:
        msgs.append({"role": "system", "content": rng.choice(CHAT_SYSTEMS)})
    kind = rng.random()
    name = re.search(r"\bnamed ([A-Z][a-z]+)", story)
    first = re.match(r"(.+?[.!?])\s+(\S.*)", story, re.S)
    if kind < 0.4 and name:
        msgs.append({"role": "user", "content": f"Tell me a story about {name.group(1)}."})
        answer = story
    elif kind < 0.7 and first:
        msgs.append({"role": "user", "content": f"Continue the story: {first.group(1)}"})
        answer = first.group(2)
    else:
        msgs.append({"role": "user", "content": rng.choice(CHAT_ASKS)})
        answer = story
    msgs.append({"role": "assistant", "content": answer})
    return render_chat(msgs)


def prepare(args):
    files, manifest = read_corpus(args.corpus)
    rng = random.Random(args.seed)
    stories = tiny_stories(files)
    tiny_train = [s for s in stories if not is_heldout_story(s)]
    tiny_val = [s for s in stories if is_heldout_story(s)]
    book_train, book_val, ref_chunks, books = [], [], [], {}
    for name in sorted(files):
        if name in TINY_FILES or name in EXCLUDED or not name.startswith("gutenberg"):
            continue
        chunks = chunk_paragraphs(book_paragraphs(files[name]))
        books[name] = sum(map(len, chunks))
        for i, c in enumerate(chunks):
            if i % 25 == 12:
                book_val.append(c)
                if name == REFERENCE_BOOK:
                    ref_chunks.append(c)
            else:
                book_train.append(c)
    # Training documents: text with the tokenizer's special tokens spelled out.
    tiny_docs = [as_chat(s, rng) if rng.random() < args.chat_fraction else BOS + s + EOS for s in tiny_train]
    stats = {
        "stories": len(stories), "stories_train": len(tiny_train), "stories_heldout": len(tiny_val),
        "story_chars": sum(map(len, stories)), "book_chars": sum(books.values()),
        "book_chunks_train": len(book_train), "book_chunks_heldout": len(book_val),
        "books": books, "chat_docs": sum(d.startswith(BOS + "<|") for d in tiny_docs),
    }
    return dict(files=files, manifest=manifest, tiny_docs=tiny_docs, tiny_val=tiny_val,
                book_train=book_train, book_val=book_val, ref_chunks=ref_chunks, stats=stats)


# ----------------------------------------------------------------------------------------------
# 2. Tokenizer
def train_tokenizer(data, vocab_size):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    plain = [d[len(BOS):-len(EOS)] for d in data["tiny_docs"] if not d.startswith(BOS + "<|")]

    def texts():
        for _ in range(3):  # weight the simple stories up in the merges too
            yield from plain
        yield from data["book_train"]

    tok.train_from_iterator(texts(), trainer=trainer)
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    bos = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos)])
    return tok


def tokenizer_config(max_len):
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": None,
        "add_bos_token": True, "add_eos_token": False,
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": False,
        "padding_side": "left",
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {
            str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True} for i, s in enumerate(SPECIALS)},
    }


def generation_config(args):
    import transformers
    return {"bos_token_id": SPECIALS.index(BOS), "eos_token_id": SPECIALS.index(EOS),
            "pad_token_id": SPECIALS.index(PAD), "do_sample": True, "temperature": 0.8, "top_p": 0.95,
            "max_new_tokens": 256, "transformers_version": transformers.__version__}


def encode_docs(tok, docs):
    ids = []
    for e in tok.encode_batch(docs, add_special_tokens=False):
        ids.extend(e.ids)
    return ids


# ----------------------------------------------------------------------------------------------
# 3. Model and training
def model_config(args, vocab):
    from transformers import LlamaConfig
    return LlamaConfig(
        vocab_size=vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=args.kv_heads,
        hidden_act="silu", max_position_embeddings=args.seq_len, rms_norm_eps=1e-5, initializer_range=0.02,
        tie_word_embeddings=True, attention_bias=False, mlp_bias=False, attention_dropout=0.0,
        bos_token_id=SPECIALS.index(BOS), eos_token_id=SPECIALS.index(EOS), pad_token_id=SPECIALS.index(PAD))


def add_dropout(model, p):
    import torch.nn.functional as F

    def hook(mod, inp, out):
        if isinstance(out, tuple):
            return (F.dropout(out[0], p, mod.training),) + tuple(out[1:])
        return F.dropout(out, p, mod.training)

    hs = [model.model.embed_tokens.register_forward_hook(hook)]
    for layer in model.model.layers:
        hs.append(layer.self_attn.register_forward_hook(hook))
        hs.append(layer.mlp.register_forward_hook(hook))
    return hs


def export(model, tok, args, out_dir):
    """HF folder: bf16 safetensors + configs + tokenizer. `model` is left unchanged."""
    import copy
    import torch
    os.makedirs(out_dir, exist_ok=True)
    m = copy.deepcopy(model).to(torch.bfloat16)
    m.save_pretrained(out_dir)  # safetensors (the default)
    del m
    cfg_path = os.path.join(out_dir, "config.json")
    cfg = json.load(open(cfg_path))
    cfg.setdefault("dtype", "bfloat16")
    json.dump(cfg, open(cfg_path, "w"), indent=2, sort_keys=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    json.dump(tokenizer_config(args.seq_len), open(os.path.join(out_dir, "tokenizer_config.json"), "w"), indent=2)
    json.dump(generation_config(args), open(os.path.join(out_dir, "generation_config.json"), "w"), indent=2)
    for extra in ("chat_template.jinja", "special_tokens_map.json"):
        p = os.path.join(out_dir, extra)
        if os.path.exists(p):
            os.remove(p)


def check_export(out_dir, model=None, device="cuda"):
    """Reload with Auto* classes; check bos handling, the chat template, and logits against `model`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    ht = AutoTokenizer.from_pretrained(out_dir)
    hm = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32).to(device).eval()
    enc = ht("Once upon a time").input_ids
    assert enc[0] == SPECIALS.index(BOS) and enc[-1] != SPECIALS.index(EOS), enc
    assert ht("Once upon a time", add_special_tokens=False).input_ids == enc[1:]
    msgs = CHAT_EXAMPLES[1] + [{"role": "assistant", "content": "Lucy had a red hat."}]
    a = ht.apply_chat_template(msgs, tokenize=False)
    assert a == render_chat(msgs), (a, render_chat(msgs))
    a = ht.apply_chat_template(CHAT_EXAMPLES[0], tokenize=False, add_generation_prompt=True)
    assert a == render_chat(CHAT_EXAMPLES[0], True), a
    assert ht.decode(enc, skip_special_tokens=True) == "Once upon a time"
    ids = torch.tensor([enc], device=device)
    out = hm.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=4,
                      temperature=None, top_p=None, pad_token_id=ht.pad_token_id)
    assert out.shape[1] >= ids.shape[1] + 1
    diff = None
    if model is not None:
        with torch.no_grad():
            ref = model.to(torch.float32)(ids).logits.float()
            hb = hm(ids).logits.float()
        diff = (ref - hb).abs().max().item()
    return ht, hm, diff


def train(args, data, tok):
    import torch
    import torch.nn.functional as F
    from transformers import LlamaForCausalLM

    dev = "cuda"
    torch.manual_seed(args.seed)
    torch.set_float32_matmul_precision("high")  # TF32 for the few fp32 matmuls; training runs in bf16 autocast

    t = time.time()
    tiny = encode_docs(tok, data["tiny_docs"])
    books = encode_docs(tok, [BOS + c + EOS for c in data["book_train"]])
    tiny_val = encode_docs(tok, [BOS + s + EOS for s in data["tiny_val"]])
    book_val = encode_docs(tok, [BOS + c + EOS for c in data["book_val"]])
    log(f"tokens: stories train {len(tiny):,} heldout {len(tiny_val):,}; books train {len(books):,} "
        f"heldout {len(book_val):,} ({time.time() - t:.1f}s)")
    data["stats"].update(tokens_story_train=len(tiny), tokens_story_heldout=len(tiny_val),
                         tokens_book_train=len(books), tokens_book_heldout=len(book_val))
    S = lambda x: torch.tensor(x, dtype=torch.long, device=dev)
    tiny, books, tiny_val, book_val = S(tiny), S(books), S(tiny_val), S(book_val)

    vocab = tok.get_vocab_size()
    cfg = model_config(args, vocab)
    model = LlamaForCausalLM(cfg).to(dev)
    nparams = sum(p.numel() for p in model.parameters())
    log(f"model: {nparams:,} parameters (tied embeddings), attn={getattr(model.config, '_attn_implementation', '?')}")

    # Dry run of the whole export/reload path with the untrained model: fail fast.
    dry = os.path.join(args.work_dir, "dry_export")
    export(model, tok, args, dry)
    _, _, diff = check_export(dry, model)
    model.to(dev).float()
    log(f"dry-run export/reload ok (max |logit diff| bf16 vs fp32 {diff:.3g})")

    hooks = add_dropout(model, args.dropout)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    T, B = args.seq_len, args.batch
    n_tiny = int(round(B * args.story_weight))
    ar = torch.arange(T + 1, device=dev)

    def windows(stream, n):
        offs = torch.randint(0, stream.numel() - T - 1, (n,), device=dev)
        return stream[offs[:, None] + ar[None]]

    def batch():
        x = torch.cat([windows(tiny, n_tiny), windows(books, B - n_tiny)])
        return x[:, :-1], x[:, 1:]

    def loss_fn(x, y):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x, use_cache=False).logits
        return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))

    @torch.no_grad()
    def evaluate(stream):
        model.eval()
        n = (stream.numel() - 1) // T
        x = stream[: n * T].view(n, T)
        y = stream[1: n * T + 1].view(n, T)
        tot = 0.0
        for i in range(0, n, 64):
            tot += loss_fn(x[i:i + 64], y[i:i + 64]).item() * x[i:i + 64].size(0)
        model.train()
        return tot / n

    def heldout():
        a, b = evaluate(tiny_val), evaluate(book_val)
        return args.story_weight * a + (1 - args.story_weight) * b, a, b

    def snapshot():
        return ({k: v.detach().clone() for k, v in model.state_dict().items()},
                {k: ({kk: (vv.clone() if torch.is_tensor(vv) else vv) for kk, vv in v.items()})
                 for k, v in opt.state.items()})

    model.train()
    t_start = time.time()
    budget = args.time_budget
    step, phase, bad, cool_start, cool_steps = 0, "constant", 0, 0, 0
    best = (float("inf"), None, -1, None)  # (loss, parts, step, snapshot)
    history = []
    tokens_seen = 0
    loss_ema = None
    while True:
        elapsed = time.time() - t_start
        # learning rate
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        elif phase == "constant":
            lr = args.lr
        else:
            lr = args.lr * max(0.0, 1 - (step - cool_start) / cool_steps) + args.lr * 0.01
        for g in opt.param_groups:
            g["lr"] = lr
        every = args.eval_every if phase == "constant" else max(10, args.eval_every // 2)
        if step % every == 0 or elapsed > budget:
            h, ht_, hb = heldout()
            history.append({"step": step, "time": round(elapsed, 1), "phase": phase, "lr": lr,
                            "train_loss": loss_ema, "heldout": h, "heldout_stories": ht_, "heldout_books": hb})
            improved = h < best[0] - args.min_delta
            if h < best[0]:
                best = (h, (ht_, hb), step, snapshot())
            bad = 0 if improved else bad + 1
            log(f"step {step:5d} {phase:8s} lr {lr:.2e} train {loss_ema if loss_ema else float('nan'):.3f} "
                f"heldout {h:.3f} (stories {ht_:.3f} ppl {math.exp(ht_):.2f}, books {hb:.3f}) "
                f"{'*' if h == best[0] else ' '} tok {tokens_seen / 1e6:.1f}M {elapsed:.0f}s")
            if elapsed > budget or step >= args.max_steps:
                log("stop: time budget or max steps")
                break
            if phase == "constant" and step >= args.warmup and (bad >= args.patience or elapsed > 0.75 * budget):
                # early stop of the constant phase: cool down from the best checkpoint
                model.load_state_dict(best[3][0])
                for p, st in best[3][1].items():
                    opt.state[p] = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in st.items()}
                phase, cool_start, bad = "cooldown", step, 0
                rate = step / max(elapsed, 1e-6)
                cool_steps = int(max(args.min_cooldown, args.cooldown_frac * best[2]))
                cool_steps = int(min(cool_steps, rate * (budget - elapsed) * 0.95))
                log(f"early stop of the constant phase (best at step {best[2]}): restored it, "
                    f"cooldown over {cool_steps} steps")
                if cool_steps < 10:
                    break
            if phase == "cooldown" and (bad >= args.patience or step - cool_start >= cool_steps):
                log("stop: cooldown finished" if step - cool_start >= cool_steps else "stop: early stopping in cooldown")
                break
        x, y = batch()
        loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += x.numel()
        if step % 10 == 0:
            lv = loss.item()
            loss_ema = lv if loss_ema is None else 0.9 * loss_ema + 0.1 * lv
    train_time = time.time() - t_start
    for hk in hooks:
        hk.remove()
    model.load_state_dict(best[3][0])
    model.eval()
    info = {"parameters": nparams, "steps": step, "best_step": best[2], "tokens_seen": tokens_seen,
            "train_seconds": round(train_time, 1), "best_heldout_mixed_loss_bf16_autocast": best[0],
            "history": history, "device": torch.cuda.get_device_name(0),
            "torch": torch.__version__,
            "story_epochs_at_best": best[2] * n_tiny * T / tiny.numel(),
            "book_epochs_at_best": best[2] * (B - n_tiny) * T / books.numel()}
    return model, info, {"tiny_val": tiny_val.tolist(), "book_val": book_val.tolist()}


# ----------------------------------------------------------------------------------------------
# 4. Evaluation, reference data, model card
def perplexity(hm, stream, T, device):
    import torch
    import torch.nn.functional as F
    n = (len(stream) - 1) // T
    x = torch.tensor(stream[: n * T], device=device).view(n, T)
    y = torch.tensor(stream[1: n * T + 1], device=device).view(n, T)
    tot = 0.0
    with torch.no_grad():
        for i in range(0, n, 32):
            lg = hm(x[i:i + 32], use_cache=False).logits.float()
            tot += F.cross_entropy(lg.reshape(-1, lg.size(-1)), y[i:i + 32].reshape(-1), reduction="sum").item()
    return math.exp(tot / (n * T)), n * T


def make_reference(out_dir, data, ht, args):
    """fp32 on the CPU (no TF32), from the shipped bf16 weights."""
    import torch
    from transformers import AutoModelForCausalLM
    import transformers
    m = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32).eval()
    # a held-out passage of a public-domain book, at most ~380 tokens, cut at a sentence end
    chunk = data["ref_chunks"][0]
    ids = ht(chunk, add_special_tokens=False).input_ids[:380]
    text = ht.decode(ids)
    cut = max(text.rfind(". "), text.rfind(".\n"), text.rfind('." '))
    text = text[: cut + 1] if cut > 200 else text
    ids = ht(text).input_ids  # with bos
    assert len(ids) <= 400 and ids[0] == ht.bos_token_id
    with torch.no_grad():
        lg = m(torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(lg, -1)
    tok_lp = [lp[i, ids[i + 1]].item() for i in range(len(ids) - 1)]
    top2 = torch.topk(lg[:-1], 2, dim=-1)
    ref = {
        "about": "Reference outputs of transformers for models/default, computed in float32 on the CPU from "
                 "the bf16 checkpoint (SDPA attention). Produced by tools/train_default_model.py.",
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        "passage": {"source": f"{REFERENCE_BOOK} (Project Gutenberg, public domain), a held-out chunk",
                    "text": text, "token_ids": ids,
                    "note": "token_ids = tokenizer(text) with add_special_tokens=True (bos first); "
                            "logprobs[i] = log p(token_ids[i+1] | token_ids[:i+1])",
                    "logprobs": tok_lp, "argmax_ids": top2.indices[:, 0].tolist(),
                    "top2_margins": (top2.values[:, 0] - top2.values[:, 1]).tolist(),
                    "mean_logprob": sum(tok_lp) / len(tok_lp),
                    "perplexity": math.exp(-sum(tok_lp) / len(tok_lp))},
        "greedy": [],
    }
    for p in REFERENCE_PROMPTS:
        pid = ht(p).input_ids
        cur, new, margins = list(pid), [], []
        for _ in range(32):
            with torch.no_grad():
                l = m(torch.tensor([cur])).logits[0, -1].float()
            v, i = torch.topk(l, 2)
            new.append(int(i[0]))
            margins.append(float(v[0] - v[1]))
            cur.append(int(i[0]))
            if new[-1] == ht.eos_token_id:
                break
        ref["greedy"].append({"prompt": p, "prompt_ids": pid, "output_ids": new, "top2_margins": margins,
                              "text": ht.decode(new), "max_new_tokens": 32,
                              "note": "greedy (argmax, first index on ties), stops after eos"})
    msgs = CHAT_EXAMPLES[1]
    chat_text = ht.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ref["chat"] = {"messages": msgs, "add_generation_prompt": True, "text": chat_text,
                   "token_ids": ht(chat_text, add_special_tokens=False).input_ids}
    json.dump(ref, open(os.path.join(out_dir, "reference.json"), "w"), indent=1)
    return ref


def make_samples(hm, ht, device, seed):
    import torch
    out = {"stories": [], "chat": []}
    for i, p in enumerate(STORY_OPENINGS):
        ids = ht(p, return_tensors="pt").input_ids.to(device)
        g = hm.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=120,
                        temperature=None, top_p=None, pad_token_id=ht.pad_token_id)
        torch.manual_seed(seed + i)
        s = hm.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.8, top_p=0.95,
                        max_new_tokens=120, pad_token_id=ht.pad_token_id)
        out["stories"].append({"prompt": p,
                               "greedy": ht.decode(g[0, ids.shape[1]:], skip_special_tokens=True),
                               "sampled": ht.decode(s[0, ids.shape[1]:], skip_special_tokens=True)})
    for i, msgs in enumerate(CHAT_EXAMPLES):
        text = ht.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        ids = ht(text, add_special_tokens=False, return_tensors="pt").input_ids.to(device)
        torch.manual_seed(seed + 100 + i)
        s = hm.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.8, top_p=0.95,
                        max_new_tokens=200, pad_token_id=ht.pad_token_id)
        out["chat"].append({"messages": msgs, "sampled": ht.decode(s[0, ids.shape[1]:], skip_special_tokens=True)})
    return out


def model_card(args, data, info, metrics, samples, manifest):
    st = data["stats"]
    size = os.path.getsize(os.path.join(args.out_dir, "model.safetensors"))
    rows = []
    for f in TINY_FILES + sorted(st["books"]):
        r = manifest.get(f, {})
        rows.append(f"| `{f}` | {r.get('repo', '?')} | {int(r.get('bytes', 0)):,} | {r.get('licence', '?')} |")
    L = [
        "# vllm-cpp default model (tiny story Llama)",
        "",
        "The model `make serve` serves when no `--model` is given: a small Llama-architecture causal LM "
        "trained from scratch by `tools/train_default_model.py`. It writes short, simple English stories. "
        "**Intended use: demos and tests of vllm-cpp** (it is small enough to ship in the repository and to "
        "run anywhere). It knows little about the world, follows no instructions beyond \"tell a story\", "
        "and is not meant for any real use.",
        "",
        "## Model",
        "",
        f"- `LlamaForCausalLM` (transformers), {info['parameters']:,} parameters "
        f"({info['parameters'] / 1e6:.1f}M, tied input/output embeddings), bf16 safetensors, "
        f"{size / 1e6:.1f} MB.",
        f"- hidden {args.hidden}, {args.layers} layers, {args.heads} attention heads, {args.kv_heads} KV heads "
        f"(GQA, head dim {args.hidden // args.heads}), SiLU MLP {args.intermediate}, RMSNorm (eps 1e-5), "
        f"RoPE theta 10000, context {args.seq_len} tokens.",
        f"- Tokenizer: byte-level BPE trained with HF `tokenizers` on the training split, "
        f"{metrics['vocab_size']} entries. Special tokens: `<|pad|>`=0, `<|bos|>`=1, `<|eos|>`=2, "
        "`<|system|>`=3, `<|user|>`=4, `<|assistant|>`=5.",
        "- bos: `tokenizer.json` has a `TemplateProcessing` post-processor that prepends `<|bos|>` when special "
        "tokens are added (`add_special_tokens=True`, the default for completions); `add_bos_token: true` in "
        "`tokenizer_config.json` records this. No eos is appended. Plain text was trained as "
        "`<|bos|> text <|eos|>`.",
        "- Chat template: `<|bos|>` then, for each turn, `<|role|>\\n` content `<|eos|>\\n` (roles system, user, "
        "assistant); the generation prompt is `<|assistant|>\\n`. The rendered template contains the bos, so it "
        "is tokenized without special tokens. About 15% of the training stories were wrapped in this template "
        "(\"Tell me a story about Tom.\", \"Continue the story: ...\").",
        "- `generation_config.json`: temperature 0.8, top_p 0.95, max_new_tokens 256, eos `<|eos|>`.",
        "",
        "## Data",
        "",
        "From the project's corpus tarball (`../shared/data/corpus.tar.xz`, its MANIFEST.tsv gives source "
        "commits and hashes). The data is not redistributed here.",
        "",
        f"- TinyStories samples (synthetic children's stories, CDLA-Sharing-1.0 upstream): {st['stories']:,} "
        f"unique stories, {st['story_chars'] / 1e6:.1f} MB; {st['stories_heldout']} (4%, by hash) held out.",
        f"- {len(st['books'])} public-domain Project Gutenberg books: {st['book_chars'] / 1e6:.1f} MB, unwrapped "
        "into paragraphs, Gutenberg headers removed, cut into ~6,000-character chunks; every 25th chunk held out.",
        "- Left out: " + "; ".join(f"`{k}` ({v})" for k, v in EXCLUDED.items()) + ".",
        f"- Mixture: every batch takes {args.story_weight:.0%} of its rows from the stories and the rest from the "
        f"books. Tokens: stories {st['tokens_story_train']:,} train / {st['tokens_story_heldout']:,} held out; "
        f"books {st['tokens_book_train']:,} / {st['tokens_book_heldout']:,}.",
        "",
        "| file | from | bytes | licence (MANIFEST) |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        "Licences: TinyStories (roneneldan/TinyStories) is CDLA-Sharing-1.0: its sharing terms cover the data "
        "and enhanced data, not the results of computational use such as a trained model, so the weights can "
        "be shipped while the story text itself is not (no TinyStories text is in this folder). The books are "
        "public domain in the US; `reference.json` quotes one held-out passage of one of them.",
        "",
        "## Training",
        "",
        f"- One {info['device']}, torch {info['torch']}, {info['train_seconds']:.0f} s of training "
        f"(the whole script, tokenizer, evaluation and samples included: {metrics.get('script_seconds', 0):.0f} s; "
        f"{info['steps']} steps of {args.batch}x{args.seq_len} tokens, {info['tokens_seen'] / 1e6:.0f}M tokens "
        f"seen); best held-out checkpoint at step {info['best_step']} "
        f"(~{info['story_epochs_at_best']:.0f} passes over the stories, ~{info['book_epochs_at_best']:.1f} over the books).",
        f"- AdamW (betas 0.9/0.95, weight decay {args.weight_decay}), peak lr {args.lr}, {args.warmup} warmup steps, "
        f"constant lr until the held-out loss stopped improving for {args.patience} evaluations (early "
        "stopping), then a linear cooldown from the best checkpoint; the best held-out checkpoint is shipped. "
        f"Dropout {args.dropout} on embeddings and residual branches during training, bf16 autocast, "
        f"gradient clipping 1.0, seed {args.seed}.",
        "",
        "## Held-out perplexity",
        "",
        "Shipped bf16 weights, float32 compute, non-overlapping 512-token windows:",
        "",
        f"- TinyStories held-out: **{metrics['ppl_stories']:.2f}** ({metrics['ppl_stories_tokens']:,} tokens)",
        f"- Gutenberg books held-out: **{metrics['ppl_books']:.2f}** ({metrics['ppl_books_tokens']:,} tokens)",
        "",
        "`reference.json` (for vllm-cpp's tests) holds a held-out passage of *The Wonderful Wizard of Oz* "
        "(public domain) with transformers' per-token log-probabilities (perplexity "
        f"{metrics['ref_passage_ppl']:.2f}), greedy continuations of three prompts with top-2 logit margins "
        "(so a test can allow divergence at near-ties only), and a rendered chat prompt with its token ids. "
        "vllm-cpp's tokenizer and chat-template renderer reproduce those token ids exactly.",
        "",
        "## Examples",
        "",
        "Story openings (prompt in bold), 120 new tokens at most; greedy, then sampled "
        "(temperature 0.8, top_p 0.95), produced by transformers from the shipped weights "
        "(` / ` marks a line break):",
        "",
    ]
    for i, s in enumerate(samples["stories"], 1):
        L += [f"{i}. **{s['prompt']}**", "", f"   - greedy: {s['greedy'].strip()}".replace("\n", " / "),
              f"   - sampled: {s['sampled'].strip()}".replace("\n", " / "), ""]
    L += ["Chat (sampled, with the chat template):", ""]
    for c in samples["chat"]:
        turns = " / ".join(f"{m['role']}: {m['content']}" for m in c["messages"])
        L += [f"- {turns}", f"  - assistant: {c['sampled'].strip()}".replace("\n", " / "), ""]
    L += ["## Limitations", "",
          "Tiny and trained on a few MB of text: grammatical, simple sentences for a few lines, but repetitive "
          "(greedy decoding especially: \"The dog ... the dog\"), inconsistent over longer spans (characters and "
          "objects drift), no factual knowledge, English only. In chat it tells a story but often ignores the "
          "requested name or topic. Prompts in the style of the old books get old-fashioned but weaker text "
          "(held-out perplexity there is much higher). Outputs can reproduce phrases of the training stories. "
          "For demos and tests only.", ""]
    open(os.path.join(args.out_dir, "README.md"), "w").write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "../../shared/data/corpus.tar.xz"))
    ap.add_argument("--out-dir", default="models/default")
    ap.add_argument("--work-dir", default="/tmp/train_default_model")
    ap.add_argument("--time-budget", type=float, default=300, help="seconds of training (the loop stops after)")
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--intermediate", type=int, default=1152)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--story-weight", type=float, default=0.7)
    ap.add_argument("--chat-fraction", type=float, default=0.15)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--min-delta", type=float, default=0.002)
    ap.add_argument("--min-cooldown", type=int, default=300)
    ap.add_argument("--cooldown-frac", type=float, default=0.3)
    ap.add_argument("--prep-only", action="store_true")
    ap.add_argument("--card-only", metavar="METRICS_JSON",
                    help="rewrite OUT_DIR/README.md from a finished run's WORK_DIR/metrics.json (no training)")
    args = ap.parse_args()
    random.seed(args.seed)
    if args.card_only:
        m = json.load(open(args.card_only))
        _, manifest = read_corpus(args.corpus)
        model_card(args, {"stats": m["stats"]}, m["info"], m["metrics"], m["samples"], manifest)
        return
    os.makedirs(args.work_dir, exist_ok=True)

    data = prepare(args)
    log("corpus:", json.dumps({k: v for k, v in data["stats"].items() if k != "books"}))
    if args.prep_only:
        for k, v in data["stats"]["books"].items():
            print(f"  {k}: {v:,} chars")
        print(data["tiny_docs"][0][:300], "\n---\n", [d for d in data["tiny_docs"] if d.startswith(BOS + "<|")][:2])
        return

    import torch
    t = time.time()
    tok = train_tokenizer(data, args.vocab)
    log(f"tokenizer: {tok.get_vocab_size()} entries ({time.time() - t:.1f}s)")

    model, info, val = train(args, data, tok)
    export(model, tok, args, args.out_dir)
    log("exported", sorted(os.listdir(args.out_dir)))
    log("config.json:", open(os.path.join(args.out_dir, "config.json")).read())
    metrics = {"vocab_size": tok.get_vocab_size()}
    json.dump({"stats": data["stats"], "info": info}, open(os.path.join(args.work_dir, "metrics.json"), "w"), indent=1)

    torch.set_float32_matmul_precision("highest")  # evaluation in true fp32
    ht, hm, diff = check_export(args.out_dir, model)
    metrics["export_logit_diff_bf16"] = diff
    metrics["ppl_stories"], metrics["ppl_stories_tokens"] = perplexity(hm, val["tiny_val"], args.seq_len, "cuda")
    metrics["ppl_books"], metrics["ppl_books_tokens"] = perplexity(hm, val["book_val"], args.seq_len, "cuda")
    log("held-out perplexity:", metrics)
    ref = make_reference(args.out_dir, data, ht, args)
    metrics["ref_passage_ppl"] = ref["passage"]["perplexity"]
    log("reference passage ppl", metrics["ref_passage_ppl"], "greedy:", [g["text"] for g in ref["greedy"]])
    samples = make_samples(hm, ht, "cuda", args.seed)
    json.dump({"stats": data["stats"], "info": info, "metrics": metrics, "samples": samples},
              open(os.path.join(args.work_dir, "metrics.json"), "w"), indent=1)
    for s in samples["stories"]:
        log("PROMPT", s["prompt"], "\n  GREEDY:", s["greedy"], "\n  SAMPLED:", s["sampled"])
    for c in samples["chat"]:
        log("CHAT", c["messages"][-1]["content"], "\n  ->", c["sampled"])
    metrics["script_seconds"] = round(time.time() - T0, 1)
    json.dump({"stats": data["stats"], "info": info, "metrics": metrics, "samples": samples},
              open(os.path.join(args.work_dir, "metrics.json"), "w"), indent=1)
    model_card(args, data, info, metrics, samples, data["manifest"])
    log("done")


if __name__ == "__main__":
    main()
