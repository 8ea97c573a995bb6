#!/usr/bin/env python3
"""HF parity fixtures with head sizes that are not powers of two and prompts past 64 tokens
(tests/data/models/*_head*_long_*, read by tests/models/test_hf_parity.cpp like every other
fixture there). Issue 26: a Gemma config with head_dim 24 drifted from transformers as the
prompt grew while short prompts agreed; these fixtures pin every family's attention paths
(prefill, chunked prefill, decode) at head sizes 24, 40, 80, 96 and 112 over 70-token prompts.

Runs wherever PyTorch and transformers are installed (e.g. the GPU machine):
    python3 tools/make_head_size_fixtures.py --out tests/data/models
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402  (make(): randomize, save bf16, record HF's outputs)
from make_fixtures import base, rope_4x, rope_5x  # noqa: E402

LONG = (9, 70)


def fixtures():
    gelu = {"hidden_activation": "gelu_pytorch_tanh", "hidden_act": "gelu_pytorch_tanh", "rms_norm_eps": 1e-6}
    f = {}
    f["gemma_head24_long_4x"] = rope_4x(
        base("GemmaForCausalLM", "gemma", head_dim=24, num_key_value_heads=1, tie_word_embeddings=True, **gelu),
        10000.0)
    f["gemma2_head40_long_4x"] = rope_4x(
        base("Gemma2ForCausalLM", "gemma2", head_dim=40, num_hidden_layers=2, tie_word_embeddings=True,
             query_pre_attn_scalar=40, sliding_window=24, attn_logit_softcapping=50.0,
             final_logit_softcapping=30.0, **gelu),
        10000.0)
    f["gemma3_head24_long_5x"] = rope_5x(
        base("Gemma3ForCausalLM", "gemma3_text", head_dim=24, num_hidden_layers=2, tie_word_embeddings=True,
             query_pre_attn_scalar=24, sliding_window=32, layer_types=["sliding_attention", "full_attention"],
             **gelu),
        1000000.0)
    f["gemma3_head24_long_5x"]["rope_parameters"] = {
        "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
    }
    f["llama_head80_long_5x"] = rope_5x(
        base("LlamaForCausalLM", "llama", num_attention_heads=2, num_key_value_heads=1, head_dim=80), 10000.0)
    f["qwen3_head112_long_4x"] = rope_4x(
        base("Qwen3ForCausalLM", "qwen3", num_attention_heads=2, num_key_value_heads=1, head_dim=112,
             num_hidden_layers=1, use_sliding_window=False, sliding_window=None, max_window_layers=1),
        1000000.0)
    f["mistral_head96_long_4x"] = rope_4x(
        base("MistralForCausalLM", "mistral", num_attention_heads=3, num_key_value_heads=1, head_dim=96,
             num_hidden_layers=1, sliding_window=40), 1000000.0)
    for config in f.values():
        config["_prompt_lengths"] = LONG
    return f


def main():
    sys.exit(make_fixtures.run_cli(fixtures(), first_seed=5000))


if __name__ == "__main__":
    main()
