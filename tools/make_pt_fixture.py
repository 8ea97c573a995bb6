#!/usr/bin/env python3
"""Writes a tiny random Llama checkpoint three ways, for tests/loader/test_torch_checkpoint.cpp:

  tests/data/models/pt_fixture/bin/pytorch_model.bin        torch.save(state_dict) (zip + pickle)
  tests/data/models/pt_fixture/wrapped/model.pt             torch.save({"model": state_dict, "step": 1}),
                                                            a training checkpoint as fairseq2 keeps one
  tests/data/models/pt_fixture/safetensors/model.safetensors  the same tensors as safetensors

each folder with the model's config.json. Weights are bfloat16, with tied embeddings (one storage
shared by two names in the pickle) and one float32 tensor. Needs torch, transformers and
safetensors; no network. Run from the repository root:

  python3 tools/make_pt_fixture.py
"""
import os

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "models", "pt_fixture")


def main():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    state = model.state_dict()
    state["model.norm.weight"] = state["model.norm.weight"].float()  # one float32 tensor
    for folder in ("bin", "wrapped", "safetensors"):
        os.makedirs(os.path.join(ROOT, folder), exist_ok=True)
        config.save_pretrained(os.path.join(ROOT, folder))
    torch.save(state, os.path.join(ROOT, "bin", "pytorch_model.bin"))
    torch.save({"model": state, "step": 1}, os.path.join(ROOT, "wrapped", "model.pt"))
    # safetensors refuses shared storage: each tensor its own contiguous copy.
    save_file({name: tensor.contiguous().clone() for name, tensor in state.items()},
              os.path.join(ROOT, "safetensors", "model.safetensors"))
    print("wrote", os.path.normpath(ROOT), "with", len(state), "tensors")


if __name__ == "__main__":
    main()
