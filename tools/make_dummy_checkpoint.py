#!/usr/bin/env python3
"""Writes a random-weight Llama-layout checkpoint for a config.json (sharded bf16 safetensors),
for start-up and loading benchmarks of full-size shapes without downloading a model.

    python3 tools/make_dummy_checkpoint.py bench/configs/llama-3.1-8b OUT_DIR [--tokenizer-from DIR]
"""
import argparse
import json
import os
import shutil

import torch
from safetensors.torch import save_file


def parameters(c):
    h, i, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    heads, kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    d = c.get("head_dim", h // heads)
    yield "model.embed_tokens.weight", (c["vocab_size"], h)
    for n in range(layers):
        p = f"model.layers.{n}."
        yield p + "input_layernorm.weight", (h,)
        yield p + "self_attn.q_proj.weight", (heads * d, h)
        yield p + "self_attn.k_proj.weight", (kv * d, h)
        yield p + "self_attn.v_proj.weight", (kv * d, h)
        yield p + "self_attn.o_proj.weight", (h, heads * d)
        yield p + "post_attention_layernorm.weight", (h,)
        yield p + "mlp.gate_proj.weight", (i, h)
        yield p + "mlp.up_proj.weight", (i, h)
        yield p + "mlp.down_proj.weight", (h, i)
    yield "model.norm.weight", (h,)
    if not c.get("tie_word_embeddings", False):
        yield "lm_head.weight", (c["vocab_size"], h)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--shard-bytes", type=int, default=5 << 30)
    parser.add_argument("--tokenizer-from", help="copy tokenizer files from this folder")
    args = parser.parse_args()
    with open(os.path.join(args.config_dir, "config.json")) as f:
        config = json.load(f)
    os.makedirs(args.out_dir, exist_ok=True)
    shutil.copy(os.path.join(args.config_dir, "config.json"), args.out_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator(device=device).manual_seed(0)
    shards, current, size, weight_map = [], {}, 0, {}
    for name, shape in parameters(config):
        tensor = (torch.rand(shape, generator=generator, device=device, dtype=torch.float32) * 2e-3 - 1e-3)
        tensor = tensor.to(torch.bfloat16).cpu()
        current[name] = tensor
        size += tensor.numel() * 2
        if size >= args.shard_bytes:
            shards.append(current)
            current, size = {}, 0
    if current:
        shards.append(current)
    for index, shard in enumerate(shards):
        file = f"model-{index + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(args.out_dir, file), metadata={"format": "pt"})
        for name in shard:
            weight_map[name] = file
    with open(os.path.join(args.out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)
    if args.tokenizer_from:
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"):
            path = os.path.join(args.tokenizer_from, name)
            if os.path.exists(path):
                shutil.copy(path, args.out_dir)


if __name__ == "__main__":
    main()
