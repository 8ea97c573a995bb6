#!/usr/bin/env python3
"""Embedding throughput: vllm-cpp against sentence-transformers on the same checkpoint.

The checkpoint has a real model's shapes (bge-base-en-v1.5: BertModel 12 x 768, CLS pooling,
normalized; Qwen3-Embedding-0.6B: Qwen3Model 28 x 1024, last-token pooling, normalized) with
random bf16 weights and a word-level tokenizer whose words are single tokens, so every prompt is
exactly --input-len tokens in both engines. Throughput does not depend on the weights' values.

  python3 bench/embed_vs_st.py --shape bge-base --binary .carry/bin/vllm-cpp --device cuda
  python3 bench/embed_vs_st.py --shape bge-base --binary build/vllm-cpp --device cpu --num-prompts 500

Both engines get --num-prompts prompts of --input-len tokens. sentence-transformers runs
`SentenceTransformer.encode` (tokenization included) at each --st-batch-sizes and reports its best;
vllm-cpp runs `vllm-cpp bench throughput` (token ids in, no tokenization).

First run: session 10, bge-base on an H100 (docs/benchmarks.md).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
import transformers
from safetensors.torch import save_file

SHAPES = {
    "bge-base": dict(
        config={"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 30522, "hidden_size": 768,
                "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2,
                "layer_norm_eps": 1e-12, "pad_token_id": 0, "torch_dtype": "bfloat16"},
        model_class="BertModel", pooling="cls", bert_special=True),
    "qwen3-emb-0.6b": dict(
        config={"architectures": ["Qwen3Model"], "model_type": "qwen3", "vocab_size": 151669, "hidden_size": 1024,
                "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
                "intermediate_size": 3072, "hidden_act": "silu", "max_position_embeddings": 32768,
                "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True,
                "attention_bias": False, "use_sliding_window": False, "sliding_window": None,
                "max_window_layers": 28, "bos_token_id": 151643, "eos_token_id": 151643, "pad_token_id": 151643,
                "torch_dtype": "bfloat16"},
        model_class="Qwen3Model", pooling="lasttoken", bert_special=False),
}


def make_checkpoint(directory, shape):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    spec = SHAPES[shape]
    config = spec["config"]
    os.makedirs(os.path.join(directory, "1_Pooling"), exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    hf_config = transformers.AutoConfig.for_model(**{k: v for k, v in config.items() if k != "architectures"})
    with torch.device("cpu"):
        model = getattr(transformers, spec["model_class"])(hf_config)
    state = {k: (0.02 * torch.randn(v.shape)).to(torch.bfloat16) for k, v in model.state_dict().items()}
    save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})

    vocab = {f"w{i}": i for i in range(config["vocab_size"])}
    if spec["bert_special"]:
        vocab.update({"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102})
        for name, i in (("w0", 0), ("w100", 100), ("w101", 101), ("w102", 102)):
            vocab.pop(name, None)
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 101), ("[SEP]", 102)])
        special = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    else:
        pad = config["pad_token_id"]
        vocab.pop(f"w{pad}")
        vocab["<|endoftext|>"] = pad
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
        tokenizer.post_processor = processors.TemplateProcessing(
            single="$A <|endoftext|>", pair="$A <|endoftext|> $B <|endoftext|>",
            special_tokens=[("<|endoftext|>", pad)])
        special = {"pad_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(os.path.join(directory, "tokenizer.json"))
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 8192, **special}, f)

    with open(os.path.join(directory, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize"}], f)
    with open(os.path.join(directory, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 512, "do_lower_case": False}, f)
    pooling = {"word_embedding_dimension": config["hidden_size"], "pooling_mode_cls_token": spec["pooling"] == "cls",
               "pooling_mode_mean_tokens": False, "pooling_mode_lasttoken": spec["pooling"] == "lasttoken"}
    with open(os.path.join(directory, "1_Pooling", "config.json"), "w") as f:
        json.dump(pooling, f)
    os.makedirs(os.path.join(directory, "2_Normalize"), exist_ok=True)


def texts(n, words, vocab_size, bert_special):
    generator = torch.Generator().manual_seed(0)
    skip = {0, 100, 101, 102} if bert_special else set()
    out = []
    for _ in range(n):
        ids = [i for i in torch.randint(200, vocab_size - 200, (words,), generator=generator).tolist() if i not in skip]
        out.append(" ".join(f"w{i}" for i in ids))
    return out


def run_st(directory, prompts, device, batch_sizes, tokens_per_prompt):
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(directory, device=device, model_kwargs={"torch_dtype": torch.bfloat16})
    model.encode(prompts[:256], batch_size=64)  # warm-up
    best = None
    for batch_size in batch_sizes:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        model.encode(prompts, batch_size=batch_size)
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        rate = len(prompts) / elapsed
        print(f"sentence-transformers batch_size {batch_size}: {rate:.1f} requests/s, "
              f"{rate * tokens_per_prompt:.0f} tokens/s ({elapsed:.2f} s)", flush=True)
        best = max(best or 0.0, rate)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=sorted(SHAPES), default="bge-base")
    parser.add_argument("--binary", required=True)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--num-prompts", type=int, default=10000)
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--st-batch-sizes", type=int, nargs="*", default=[32, 128, 512])
    parser.add_argument("--dir", help="checkpoint folder (made when absent)")
    parser.add_argument("--vllm-args", default="", help="extra vllm-cpp engine flags")
    args = parser.parse_args()
    spec = SHAPES[args.shape]
    directory = args.dir or os.path.join(tempfile.gettempdir(), f"embed-bench-{args.shape}")
    if not os.path.exists(os.path.join(directory, "model.safetensors")):
        make_checkpoint(directory, args.shape)
    words = args.input_len - (2 if spec["bert_special"] else 1)
    prompts = texts(args.num_prompts, words, spec["config"]["vocab_size"], spec["bert_special"])

    command = [args.binary, "bench", "throughput", "--model", directory, "--runner", "pooling",
               "--input-len", str(args.input_len), "--num-prompts", str(args.num_prompts),
               "--device", args.device] + args.vllm_args.split()
    print("$", " ".join(command), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    print(result.stdout + result.stderr[-3000:], flush=True)
    ours = None
    for line in result.stdout.splitlines():
        if line.startswith("Throughput"):
            ours = float(line.split(":")[1].split()[0])
    st = run_st(directory, prompts, args.device, args.st_batch_sizes, args.input_len)
    print(f"{args.shape} on {args.device}, {args.num_prompts} x {args.input_len} tokens: "
          f"vllm-cpp {ours} requests/s, sentence-transformers best {st:.1f} requests/s"
          + (f", ratio {ours / st:.2f}x" if ours else ""))
    sys.exit(0 if ours else 1)


if __name__ == "__main__":
    main()
