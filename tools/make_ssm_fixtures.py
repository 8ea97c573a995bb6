#!/usr/bin/env python3
"""Builds the HF parity fixtures of the state-space models (tests/data/ssm, read by
tests/models/test_ssm_parity.cpp).

Each fixture is a tiny random-weight checkpoint (bf16 safetensors) with a hand-written
config.json in the transformers 4.x or 5.x spelling, plus `expected.json` with transformers' fp32
outputs: the top-k logprobs at every prompt position and a greedy continuation (HF `generate`
with its recurrent cache) with each step's top-k and top-2 margin. Without the mamba_ssm /
causal_conv1d kernels transformers runs its slow torch path, which is the reference here.

The fixtures vary d_state, head_dim, n_groups, the conv kernel, time_step_rank ("auto" or a
number), use_bias / use_conv_bias, tied embeddings, Mamba-2's time_step_limit and chunk_size (small,
so HF's chunked SSD path spans several chunks).

Runs wherever PyTorch and transformers are installed (e.g. the GPU machine):
    python3 tools/make_ssm_fixtures.py --out tests/data/ssm
"""
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures  # noqa: E402  (make(): randomize, save bf16, record HF's outputs)

VOCAB = make_fixtures.VOCAB


def ssm(arch, model_type, spelling, **extra):
    config = {
        "architectures": [arch],
        "model_type": model_type,
        "vocab_size": VOCAB,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "layer_norm_epsilon": 1e-5,
        "hidden_act": "silu",
        "residual_in_fp32": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
    }
    # transformers 4.x wrote torch_dtype, 5.x writes dtype.
    config["torch_dtype" if spelling == "4x" else "dtype"] = "bfloat16"
    config.update(extra)
    return config


def fixtures():
    return {
        # 4.x spelling: time_step_rank "auto" (ceil(64 / 16) = 4), tie_word_embeddings left to the default (True).
        "mamba_4x": ssm("MambaForCausalLM", "mamba", "4x", state_size=16, expand=2, conv_kernel=4,
                        time_step_rank="auto", use_bias=True, use_conv_bias=True),
        "mamba_rank8_no_bias_5x": ssm("MambaForCausalLM", "mamba", "5x", state_size=8, expand=2,
                                      intermediate_size=128, conv_kernel=3, time_step_rank=8, use_bias=False,
                                      use_conv_bias=False, tie_word_embeddings=False),
        "falcon_mamba_4x": ssm("FalconMambaForCausalLM", "falcon_mamba", "4x", state_size=16, expand=2,
                               conv_kernel=4, time_step_rank="auto", use_bias=False, use_conv_bias=True,
                               mixer_rms_eps=1e-6, tie_word_embeddings=False),
        "mamba2_4x": ssm("Mamba2ForCausalLM", "mamba2", "4x", num_heads=8, head_dim=16, state_size=16, expand=2,
                         n_groups=1, conv_kernel=4, chunk_size=8, use_bias=False, use_conv_bias=True,
                         tie_word_embeddings=False),
        "mamba2_groups_limits_5x": ssm("Mamba2ForCausalLM", "mamba2", "5x", num_heads=16, head_dim=8, state_size=8,
                                       expand=2, n_groups=2, conv_kernel=3, chunk_size=8, use_bias=True,
                                       use_conv_bias=False, time_step_limit=[0.01, 2.0], tie_word_embeddings=True),
    }


def main():
    sys.exit(make_fixtures.run_cli(fixtures(), first_seed=3000))


if __name__ == "__main__":
    main()
