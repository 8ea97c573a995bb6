#!/usr/bin/env python3
"""Builds the HF parity fixtures for the generic decoder.

Each fixture is a tiny random-weight checkpoint (bf16 safetensors) with a hand-written
config.json in either the transformers 4.x or 5.x spelling, plus `expected.json` with
transformers' fp32 outputs: the top-k logprobs at every prompt position and a greedy
continuation (HF `generate` with its KV cache) with each step's top-k and top-2 margin.

Runs wherever PyTorch and transformers are installed (e.g. the GPU machine):
    python3 tools/make_fixtures.py --out tests/data/models
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authors_code_reference  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM

VOCAB = 512
TOP_K = 5
NEW_TOKENS = 8
PROMPT_LENGTHS = (5, 13, 27)


def base(arch, model_type, **extra):
    config = {
        "architectures": [arch],
        "model_type": model_type,
        "vocab_size": VOCAB,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "tie_word_embeddings": False,
    }
    config.update(extra)
    return config


def rope_4x(config, theta, scaling=None, key="rope_type"):
    """transformers 4.x spelling: rope_theta + rope_scaling (type spelled `type` or `rope_type`)."""
    config["rope_theta"] = theta
    if scaling is not None:
        scaling = dict(scaling)
        kind = scaling.pop("rope_type")
        config["rope_scaling"] = {key: kind, **scaling}
    config["torch_dtype"] = "bfloat16"
    return config


def rope_5x(config, theta, scaling=None):
    """transformers 5.x spelling: rope_parameters + dtype."""
    params = {"rope_type": "default", "rope_theta": theta}
    if scaling is not None:
        params.update(scaling)
    config["rope_parameters"] = params
    config["dtype"] = "bfloat16"
    return config


def fixtures():
    f = {}
    f["llama_gqa_5x"] = rope_5x(base("LlamaForCausalLM", "llama", head_dim=16), 10000.0)
    f["llama_llama3_rope_4x"] = rope_4x(
        base("LlamaForCausalLM", "llama", num_hidden_layers=3, attention_bias=True, mlp_bias=True,
             max_position_embeddings=64),
        500000.0,
        {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 16})
    f["llama_linear_mqa_4x_type"] = rope_4x(
        base("LlamaForCausalLM", "llama", num_key_value_heads=1, hidden_size=96, num_attention_heads=6),
        10000.0, {"rope_type": "linear", "factor": 2.0}, key="type")
    f["llama_dynamic_4x"] = rope_4x(
        base("LlamaForCausalLM", "llama", max_position_embeddings=16), 10000.0,
        {"rope_type": "dynamic", "factor": 2.0})
    f["llama_yarn_5x"] = rope_5x(
        base("LlamaForCausalLM", "llama", num_attention_heads=2, num_key_value_heads=2, head_dim=32,
             max_position_embeddings=128),
        10000.0, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32,
                  "beta_fast": 32.0, "beta_slow": 1.0})
    f["mistral_sliding_4x"] = rope_4x(
        base("MistralForCausalLM", "mistral", sliding_window=8, head_dim=16), 1000000.0)
    f["qwen2_tied_bias_4x"] = rope_4x(
        base("Qwen2ForCausalLM", "qwen2", tie_word_embeddings=True, use_sliding_window=False,
             sliding_window=None, max_window_layers=2), 1000000.0)
    f["qwen3_qk_norm_5x"] = rope_5x(
        base("Qwen3ForCausalLM", "qwen3", head_dim=32, num_hidden_layers=3, attention_bias=False,
             use_sliding_window=False, sliding_window=None, max_window_layers=3), 1000000.0)
    f["gemma_4x"] = rope_4x(
        base("GemmaForCausalLM", "gemma", head_dim=32, num_key_value_heads=1, tie_word_embeddings=True,
             hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6),
        10000.0)
    f["gemma2_softcap_4x"] = rope_4x(
        base("Gemma2ForCausalLM", "gemma2", head_dim=16, num_hidden_layers=3, tie_word_embeddings=True,
             hidden_activation="gelu_pytorch_tanh", hidden_act="gelu_pytorch_tanh", rms_norm_eps=1e-6,
             query_pre_attn_scalar=24, sliding_window=8, attn_logit_softcapping=5.0,
             final_logit_softcapping=3.0),
        10000.0)
    f["gemma3_local_global_5x"] = rope_5x(
        base("Gemma3ForCausalLM", "gemma3_text", head_dim=32, num_hidden_layers=4, tie_word_embeddings=True,
             hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, query_pre_attn_scalar=32,
             sliding_window=8,
             layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"]),
        1000000.0)
    # 5.x keys rope parameters by layer type for Gemma 3: global layers scaled, local ones plain.
    f["gemma3_local_global_5x"]["rope_parameters"] = {
        "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
    }
    f["gemma3_pattern_4x"] = rope_4x(
        base("Gemma3ForCausalLM", "gemma3_text", head_dim=16, num_hidden_layers=3, tie_word_embeddings=True,
             hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, query_pre_attn_scalar=16,
             sliding_window=8, sliding_window_pattern=3, rope_local_base_freq=10000.0),
        1000000.0, {"rope_type": "linear", "factor": 4.0})
    f["phi3_longrope_4x"] = rope_4x(
        # original max 21: the 13-token prompt's continuation (at most 20 tokens per forward)
        # stays short and the 27-token prompt is long from its first token. HF 5.17's Phi-3
        # drops its cache when a sequence crosses the boundary mid-generation; that path is not
        # compared.
        base("Phi3ForCausalLM", "phi3", num_key_value_heads=4, max_position_embeddings=64,
             original_max_position_embeddings=21, sliding_window=None, hidden_act="silu",
             partial_rotary_factor=0.5, head_dim=16),
        10000.0,
        {"rope_type": "longrope", "short_factor": [1.0, 1.1, 1.2, 1.5], "long_factor": [1.5, 2.0, 3.0, 4.0]})
    f["phi3_fused_5x"] = rope_5x(
        base("Phi3ForCausalLM", "phi3", num_key_value_heads=2, hidden_act="silu", sliding_window=None), 10000.0)
    f["granite_multipliers_5x"] = rope_5x(
        base("GraniteForCausalLM", "granite", embedding_multiplier=6.0, residual_multiplier=0.5,
             attention_multiplier=0.1, logits_scaling=4.0, tie_word_embeddings=True), 10000.0)
    f.update(breadth_fixtures())
    return f


def gpt_base(arch, model_type, **extra):
    """GPT-2-era spelling: n_embd, n_layer, n_head, n_positions."""
    config = {"architectures": [arch], "model_type": model_type, "vocab_size": VOCAB, "n_embd": 64,
              "n_layer": 2, "n_head": 4, "n_positions": 64, "layer_norm_epsilon": 1e-5,
              "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
    config.update(extra)
    return config


def alias(arch, model_type, reference, **extra):
    """A Llama-layout architecture without a transformers class: HF's reference is `reference`
    (Llama, Qwen2) built from the same weights; config.json keeps the author's names."""
    config = rope_4x(base(arch, model_type, **extra), 10000.0)
    config["_hf"] = {"architectures": [reference[0]], "model_type": reference[1], **reference[2]}
    return config


def authors(arch, model_type, converter, reference, drop=(), **extra):
    """An authors'-code architecture: `reference` builds and runs it, `converter` renames its weights.
    `drop`: the twin's config fields the authors' config.json does not have (the reference keeps them)."""
    config = alias(arch, model_type, reference, **extra)
    for key in drop:
        config["_hf"].setdefault(key, config.pop(key))
    if converter:
        config["_convert"] = converter
    return config


def breadth_fixtures():
    f = {}
    f["gpt2_4x"] = gpt_base("GPT2LMHeadModel", "gpt2", n_inner=128, activation_function="gelu_new",
                            tie_word_embeddings=True)
    f["gpt_bigcode_mqa_4x"] = gpt_base("GPTBigCodeForCausalLM", "gpt_bigcode", n_inner=128, multi_query=True,
                                       activation_function="gelu_pytorch_tanh", tie_word_embeddings=True)
    f["gptj_partial_4x"] = gpt_base("GPTJForCausalLM", "gptj", rotary_dim=8, n_inner=128,
                                    activation_function="gelu_new", tie_word_embeddings=False)
    f["gpt_neox_parallel_4x"] = rope_4x(
        base("GPTNeoXForCausalLM", "gpt_neox", num_key_value_heads=4, hidden_act="gelu", layer_norm_eps=1e-5,
             rotary_pct=0.5, rotary_emb_base=10000, use_parallel_residual=True, max_position_embeddings=64), 10000.0)
    del f["gpt_neox_parallel_4x"]["rope_theta"]
    f["gpt_neox_serial_5x"] = rope_5x(
        base("GPTNeoXForCausalLM", "gpt_neox", num_key_value_heads=4, hidden_act="gelu_new", layer_norm_eps=1e-5,
             use_parallel_residual=False, attention_bias=False), 10000.0, {"partial_rotary_factor": 0.25})
    f["opt_4x"] = {"architectures": ["OPTForCausalLM"], "model_type": "opt", "vocab_size": VOCAB,
                   "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "ffn_dim": 128,
                   "max_position_embeddings": 64, "word_embed_proj_dim": 64, "do_layer_norm_before": True,
                   "activation_function": "relu", "enable_bias": True, "layer_norm_elementwise_affine": True,
                   "tie_word_embeddings": True, "pad_token_id": 1, "bos_token_id": 2, "eos_token_id": 2,
                   "torch_dtype": "bfloat16"}
    f["bloom_alibi_4x"] = {"architectures": ["BloomForCausalLM"], "model_type": "bloom", "vocab_size": VOCAB,
                           "hidden_size": 96, "n_layer": 2, "n_head": 6, "layer_norm_epsilon": 1e-5,
                           "apply_residual_connection_post_layernorm": False, "tie_word_embeddings": True,
                           "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "bfloat16"}
    falcon = {"architectures": ["FalconForCausalLM"], "model_type": "falcon", "vocab_size": VOCAB,
              "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "layer_norm_epsilon": 1e-5,
              "max_position_embeddings": 64, "rope_theta": 10000.0, "alibi": False, "bias": False,
              "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
    f["falcon_new_4x"] = dict(falcon, new_decoder_architecture=True, num_kv_heads=2, parallel_attn=True)
    f["falcon_mqa_4x"] = dict(falcon, new_decoder_architecture=False, multi_query=True, parallel_attn=True)
    f["falcon_serial_4x"] = dict(falcon, new_decoder_architecture=False, multi_query=False, parallel_attn=False,
                                 bias=True)
    f["phi_partial_4x"] = rope_4x(
        base("PhiForCausalLM", "phi", num_key_value_heads=4, hidden_act="gelu_new", layer_norm_eps=1e-5,
             partial_rotary_factor=0.5, qk_layernorm=False, max_position_embeddings=64), 10000.0)
    f["stablelm_qk_4x"] = rope_4x(
        base("StableLmForCausalLM", "stablelm", layer_norm_eps=1e-5, partial_rotary_factor=0.25,
             use_qkv_bias=True, qk_layernorm=True, use_parallel_residual=False), 10000.0)
    f["starcoder2_4x"] = rope_4x(
        base("Starcoder2ForCausalLM", "starcoder2", hidden_act="gelu_pytorch_tanh", norm_epsilon=1e-5,
             use_bias=True, sliding_window=8, tie_word_embeddings=True), 10000.0)
    f["olmo_clip_4x"] = rope_4x(base("OlmoForCausalLM", "olmo", clip_qkv=2.0), 10000.0)
    f["olmo2_5x"] = rope_5x(base("Olmo2ForCausalLM", "olmo2", rms_norm_eps=1e-6), 10000.0)
    # transformers 5's Olmo3 keeps rope parameters per layer type (its 4.x spelling: one rope_theta).
    olmo3 = base("Olmo3ForCausalLM", "olmo3", rms_norm_eps=1e-6, num_hidden_layers=4, sliding_window=8,
                 layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"])
    f["olmo3_sliding_5x"] = dict(
        olmo3, dtype="bfloat16",
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                         "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 50000.0}})
    f["olmo3_4x"] = rope_4x(dict(olmo3, layer_types=None), 10000.0)
    # transformers 5 sizes Helium's o_proj hidden x hidden: heads x head_dim must equal hidden_size.
    f["helium_4x"] = rope_4x(base("HeliumForCausalLM", "helium", hidden_size=96, head_dim=24, rms_norm_eps=1e-8), 10000.0)
    f["seed_oss_4x"] = rope_4x(
        base("SeedOssForCausalLM", "seed_oss", head_dim=24, attention_bias=True, attention_out_bias=False), 10000.0)
    f["smollm3_nope_4x"] = rope_4x(
        base("SmolLM3ForCausalLM", "smollm3", num_hidden_layers=4, no_rope_layers=[1, 1, 0, 1],
             use_sliding_window=False, tie_word_embeddings=True), 10000.0)
    f["smollm3_interval_5x"] = rope_5x(
        base("SmolLM3ForCausalLM", "smollm3", num_hidden_layers=4, no_rope_layer_interval=2, sliding_window=8,
             layer_types=["full_attention", "sliding_attention", "full_attention", "sliding_attention"],
             tie_word_embeddings=True), 2000000.0)
    f["cohere_qk_4x"] = rope_4x(
        base("CohereForCausalLM", "cohere", layer_norm_eps=1e-5, logit_scale=0.25, use_qk_norm=True,
             tie_word_embeddings=True), 10000.0)
    f["cohere2_5x"] = rope_5x(
        base("Cohere2ForCausalLM", "cohere2", layer_norm_eps=1e-5, logit_scale=0.5, sliding_window=8,
             num_hidden_layers=3, layer_types=["sliding_attention", "sliding_attention", "full_attention"],
             tie_word_embeddings=True), 10000.0)
    f["nemotron_4x"] = rope_4x(
        base("NemotronForCausalLM", "nemotron", head_dim=16, hidden_act="relu2", norm_eps=1e-5,
             partial_rotary_factor=0.5), 10000.0)
    f["glm_4x"] = rope_4x(
        base("GlmForCausalLM", "glm", head_dim=16, partial_rotary_factor=0.5, attention_bias=True), 10000.0)
    f["glm4_5x"] = rope_5x(
        base("Glm4ForCausalLM", "glm4", head_dim=16, attention_bias=True), 10000.0, {"partial_rotary_factor": 0.5})
    f["arcee_4x"] = rope_4x(base("ArceeForCausalLM", "arcee", hidden_act="relu2", head_dim=16), 10000.0)
    f["exaone4_5x"] = rope_5x(
        base("Exaone4ForCausalLM", "exaone4", head_dim=16, sliding_window=8, num_hidden_layers=3,
             layer_types=["sliding_attention", "sliding_attention", "full_attention"]), 10000.0)
    f["ernie4_5_4x"] = rope_4x(
        base("Ernie4_5ForCausalLM", "ernie4_5", head_dim=16, use_bias=True, tie_word_embeddings=True), 10000.0)
    f["hunyuan_dense_4x"] = rope_4x(
        base("HunYuanDenseV1ForCausalLM", "hunyuan_v1_dense", head_dim=16, use_qk_norm=True), 10000.0)
    f["persimmon_4x"] = rope_4x(
        base("PersimmonForCausalLM", "persimmon", num_key_value_heads=4, hidden_act="relu2", layer_norm_eps=1e-5,
             qk_layernorm=True, partial_rotary_factor=0.5), 25000.0)
    f["mpt_alibi_clip_4x"] = {"architectures": ["MptForCausalLM"], "model_type": "mpt", "vocab_size": VOCAB,
                              "d_model": 64, "n_heads": 4, "n_layers": 2, "expansion_ratio": 4, "max_seq_len": 64,
                              "no_bias": True, "layer_norm_epsilon": 1e-5,
                              "attn_config": {"alibi": True, "alibi_bias_max": 8, "clip_qkv": 2.0},
                              "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
    f["internlm_bias_4x"] = alias("InternLMForCausalLM", "internlm", ("LlamaForCausalLM", "llama",
                                  {"attention_bias": True}), bias=True)
    f["internlm3_4x"] = alias("InternLM3ForCausalLM", "internlm3", ("Qwen2ForCausalLM", "qwen2",
                              {"use_sliding_window": False}), head_dim=16, qkv_bias=True, bias=False)
    f["aquila_4x"] = alias("AquilaForCausalLM", "aquila", ("LlamaForCausalLM", "llama", {}))
    # Committed as copies of aquila_4x's weights and outputs under these names.
    f["xverse_4x"] = alias("XverseForCausalLM", "xverse", ("LlamaForCausalLM", "llama", {}))
    f["gritlm_4x"] = alias("GritLM", "gritlm", ("LlamaForCausalLM", "llama", {}))
    # Authors'-code architectures (tools/authors_code_reference.py): a transformers twin's
    # fixture, its checkpoint rewritten in the authors' names.
    f["internlm2_gqa_4x"] = authors("InternLM2ForCausalLM", "internlm2", "internlm2", ("LlamaForCausalLM", "llama", {}),
                                    bias=False)
    f["baichuan_7b_4x"] = authors("BaiChuanForCausalLM", "baichuan", "baichuan", ("LlamaForCausalLM", "llama", {}),
                                  num_key_value_heads=4)
    f["baichuan_13b_alibi_4x"] = authors("BaichuanForCausalLM", "baichuan", "baichuan",
                                         ("LlamaForCausalLM", "llama", {}), num_key_value_heads=4,
                                         drop=("rope_theta",))
    f["baichuan_13b_alibi_4x"]["_reference"] = "alibi"
    qwen = authors("QWenLMHeadModel", "qwen", "qwen", ("Qwen2ForCausalLM", "qwen2",
                   {"use_sliding_window": False, "intermediate_size": 128}),
                   num_key_value_heads=4, intermediate_size=256, layer_norm_epsilon=1e-5, kv_channels=16,
                   rotary_pct=1.0, rotary_emb_base=10000, seq_length=256, no_bias=True, use_logn_attn=False,
                   drop=("num_key_value_heads", "rms_norm_eps", "rope_theta"))
    f["qwen_v1_4x"] = qwen
    f["chatglm_4x"] = authors("ChatGLMModel", "chatglm", "chatglm", ("GlmForCausalLM", "glm",
                              {"partial_rotary_factor": 0.5, "attention_bias": True, "head_dim": 16,
                               "num_key_value_heads": 2, "intermediate_size": 128, "rms_norm_eps": 1e-5}),
                              num_layers=2, kv_channels=16, multi_query_attention=True, multi_query_group_num=2,
                              ffn_hidden_size=128, layernorm_epsilon=1e-5, padded_vocab_size=VOCAB, seq_length=256,
                              add_bias_linear=False, add_qkv_bias=True, rmsnorm=True, post_layer_norm=True,
                              apply_residual_connection_post_layernorm=False, original_rope=True, rope_ratio=1.0,
                              drop=("num_hidden_layers", "intermediate_size", "num_key_value_heads", "rms_norm_eps",
                                    "rope_theta", "max_position_embeddings"))
    f["exaone_4x"] = authors("ExaoneForCausalLM", "exaone", "exaone", ("LlamaForCausalLM", "llama",
                             {"rms_norm_eps": 1e-5}), num_layers=2, layer_norm_epsilon=1e-5,
                             activation_function="silu", drop=("num_hidden_layers", "rms_norm_eps"))
    f["minicpm_4x"] = authors("MiniCPMForCausalLM", "minicpm", None, ("GraniteForCausalLM", "granite",
                              {"embedding_multiplier": 12.0, "residual_multiplier": 1.4 / math.sqrt(2),
                               "logits_scaling": 64 / 16, "attention_multiplier": 0.25}),
                              scale_emb=12.0, scale_depth=1.4, dim_model_base=16, tie_word_embeddings=True)
    # transformers 5.x's eager Falcon adds the ALiBi bias twice (also folded into its causal mask);
    # its SDPA path (and vLLM) add it once. Not generated yet with SDPA.
    f["falcon_alibi_4x"] = dict(falcon, new_decoder_architecture=False, multi_query=False, parallel_attn=False,
                                bias=True, alibi=True, _attn="sdpa")
    f["gpt_bigcode_mha_4x"] = gpt_base("GPTBigCodeForCausalLM", "gpt_bigcode", n_inner=128, multi_query=False,
                                       activation_function="gelu_pytorch_tanh", tie_word_embeddings=True)
    f["mimo_4x"] = alias("MiMoForCausalLM", "mimo", ("Qwen2ForCausalLM", "qwen2", {"use_sliding_window": False}),
                         num_nextn_predict_layers=0)
    f.update(more_fixtures())
    return f


def decoder_fixture(arch, model_type, converter, **fields):
    """A fixture whose reference is authors_code_reference.Decoder (no transformers class)."""
    config = {"architectures": [arch], "model_type": model_type, "vocab_size": VOCAB, "bos_token_id": 1,
              "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "bfloat16", **fields}
    config["_reference"] = "decoder"
    config["_convert"] = converter
    return config


def more_fixtures():
    f = {}
    llama = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0,
                 tie_word_embeddings=False)
    # Llama-layout names.
    f["orion_4x"] = decoder_fixture("OrionForCausalLM", "orion", "orion", **llama)
    f["solar_bskcn_4x"] = decoder_fixture("SolarForCausalLM", "solar", "solar", **dict(
        llama, num_hidden_layers=5, bskcn_1=[1], bskcn_2=[2], bskcn_3=[3], bskcn_4=[4], bskcn_tv=[0.9, 0.6]))
    f["teleflm_mup_4x"] = authors("TeleFLMForCausalLM", "teleflm", None, ("GraniteForCausalLM", "granite",
                                  {"embedding_multiplier": 4.0, "residual_multiplier": 1.0,
                                   "logits_scaling": 4.0 / 1.0, "attention_multiplier": 0.25}),
                                  use_mup=True, input_mult=4.0, output_mult=1.0, mup_scale_factor=4.0)
    f["fairseq2_llama_4x"] = authors("Fairseq2LlamaForCausalLM", "llama", "fairseq2",
                                     ("LlamaForCausalLM", "llama", {}))
    # Authors'-code architectures.
    f["jais_alibi_4x"] = decoder_fixture(
        "JAISLMHeadModel", "jais", "jais", n_embd=64, n_layer=2, n_head=4, n_inner=128, n_positions=64,
        layer_norm_epsilon=1e-5, activation_function="swiglu", position_embedding_type="alibi",
        embeddings_scale=2.5, width_scale=0.5, scale_qk_dot_by_d=True, tie_word_embeddings=True)
    f["jais_learned_4x"] = decoder_fixture(
        "JAISLMHeadModel", "jais", "jais", n_embd=96, n_layer=2, n_head=6, n_inner=128, n_positions=64,
        layer_norm_epsilon=1e-5, activation_function="swiglu", position_embedding_type="learned",
        mup_embeddings_scale=3.0, mup_output_alpha=2.0, mup_width_scale=0.25, mup_scale_qk_dot_by_d=False,
        tie_word_embeddings=True)
    f["telechat2_4x"] = decoder_fixture(
        "TeleChat2ForCausalLM", "telechat", "telechat2", hidden_size=64, ffn_hidden_size=128, n_layer=2, n_head=4,
        num_key_value_heads=2, layer_norm_epsilon=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
        apply_residual_connection_post_layernorm=False)
    f["decilm_variable_4x"] = decoder_fixture(
        "DeciLMForCausalLM", "nemotron-nas", "decilm", hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
        rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=256, hidden_act="silu",
        tie_word_embeddings=False,
        block_configs=[
            {"attention": {"n_heads_in_group": 2, "no_op": False, "replace_with_linear": False},
             "ffn": {"ffn_mult": 2.0, "no_op": False, "replace_with_linear": False}},
            {"attention": {"n_heads_in_group": None, "no_op": True, "replace_with_linear": False},
             "ffn": {"ffn_mult": 7.0, "no_op": False, "replace_with_linear": False}},
            {"attention": {"n_heads_in_group": 4, "no_op": False, "replace_with_linear": False},
             "ffn": {"ffn_mult": None, "no_op": True, "replace_with_linear": False}},
            {"attention": {"n_heads_in_group": 1, "no_op": False, "replace_with_linear": False},
             "ffn": {"ffn_mult": 1.5, "no_op": False, "replace_with_linear": False}}])
    # Gemma 3n, text only: made with transformers' Gemma3nForCausalLM (no vision/audio towers), the
    # checkpoint renamed into Gemma3nForConditionalGeneration's model.language_model.
    text = {"architectures": ["Gemma3nForCausalLM"], "model_type": "gemma3n_text", "vocab_size": VOCAB,
            "vocab_size_per_layer_input": VOCAB, "hidden_size": 64, "hidden_size_per_layer_input": 16,
            "intermediate_size": [128, 96, 128, 64, 128], "num_hidden_layers": 5, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "hidden_activation": "gelu_pytorch_tanh",
            "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "sliding_window": 8,
            "layer_types": ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention",
                            "full_attention"],
            "final_logit_softcapping": 30.0, "altup_active_idx": 0, "altup_coef_clip": 120.0,
            "altup_correct_scale": True, "altup_num_inputs": 4, "num_kv_shared_layers": 2, "laurel_rank": 8,
            "activation_sparsity_pattern": [0.95, 0.95, 0.0, 0.0, 0.0], "rope_theta": 1000000.0,
            "rope_local_base_freq": 10000.0, "tie_word_embeddings": True, "pad_token_id": 0, "eos_token_id": 2,
            "bos_token_id": 1, "torch_dtype": "bfloat16"}
    outer = {"architectures": ["Gemma3nForConditionalGeneration"], "model_type": "gemma3n",
             "text_config": {k: v for k, v in text.items() if k != "architectures"},
             "eos_token_id": 2, "bos_token_id": 1, "pad_token_id": 0, "tie_word_embeddings": True,
             "torch_dtype": "bfloat16"}
    f["gemma3n_text_4x"] = dict(outer, _twin=text, _convert="gemma3n")
    f.update(moe_fixtures())
    return f


def moe_fixtures():
    """Mixtures of experts (issue 17): more experts than top-k, each routing rule (softmax top-k
    with and without renormalisation, top-k then softmax, sparsemixer, sigmoid with correction bias
    and group-limited top-k and scaling), shared experts with and without a gate, first-k dense
    layers, sparse steps, per-layer expert counts, head sizes 48 and 80."""
    f = {}
    moe = dict(intermediate_size=32)
    f["mixtral_top2_4x"] = rope_4x(
        base("MixtralForCausalLM", "mixtral", hidden_size=96, num_attention_heads=2, num_key_value_heads=1,
             head_dim=48, num_local_experts=8, num_experts_per_tok=2, sliding_window=None,
             router_jitter_noise=0.0, **moe), 1000000.0)
    f["mixtral_sliding_5x"] = rope_5x(
        base("MixtralForCausalLM", "mixtral", num_local_experts=4, num_experts_per_tok=3, sliding_window=8,
             router_jitter_noise=0.0, **moe), 10000.0)
    qwen2_moe = dict(num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, use_sliding_window=False,
                     sliding_window=None, max_window_layers=3, num_hidden_layers=3)
    f["qwen2_moe_shared_gate_4x"] = rope_4x(
        base("Qwen2MoeForCausalLM", "qwen2_moe", shared_expert_intermediate_size=48, norm_topk_prob=False,
             decoder_sparse_step=1, mlp_only_layers=[0], **qwen2_moe), 1000000.0)
    f["qwen2_moe_sparse_step_5x"] = rope_5x(
        base("Qwen2MoeForCausalLM", "qwen2_moe", shared_expert_intermediate_size=48, norm_topk_prob=True,
             decoder_sparse_step=2, mlp_only_layers=[], qkv_bias=True, **dict(qwen2_moe, num_hidden_layers=4,
                                                                             max_window_layers=4)), 1000000.0)
    f["qwen3_moe_renorm_5x"] = rope_5x(
        base("Qwen3MoeForCausalLM", "qwen3_moe", num_attention_heads=2, num_key_value_heads=1, head_dim=80,
             norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[], attention_bias=False,
             **dict(qwen2_moe, num_hidden_layers=2, max_window_layers=2)), 1000000.0)
    f["qwen3_moe_dense_layer_4x"] = rope_4x(
        base("Qwen3MoeForCausalLM", "qwen3_moe", head_dim=16, norm_topk_prob=False, decoder_sparse_step=1,
             mlp_only_layers=[1], attention_bias=False, **qwen2_moe), 1000000.0)
    f["olmoe_4x"] = rope_4x(
        base("OlmoeForCausalLM", "olmoe", num_experts=8, num_experts_per_tok=2, norm_topk_prob=False,
             clip_qkv=None, **moe), 10000.0)
    # A relative jitter of 0.2 makes sparsemixer's mask (logits more than 0.4 below the best, relative)
    # drop experts from the softmax; the default 0.01 would rarely mask anything.
    f["phimoe_sparsemixer_4x"] = rope_4x(
        base("PhimoeForCausalLM", "phimoe", num_local_experts=6, num_experts_per_tok=2, attention_bias=True,
             lm_head_bias=True, router_jitter_noise=0.2, input_jitter_noise=0.0, sliding_window=None, **moe),
        10000.0)
    f["phimoe_sparsemixer_4x"]["architectures"] = ["PhiMoEForCausalLM"]  # the checkpoints' spelling
    granite = dict(embedding_multiplier=6.0, residual_multiplier=0.5, attention_multiplier=0.1, logits_scaling=4.0,
                   num_local_experts=8, num_experts_per_tok=2, **moe)
    f["granitemoe_4x"] = rope_4x(base("GraniteMoeForCausalLM", "granitemoe", **granite), 10000.0)
    f["granitemoeshared_5x"] = rope_5x(
        base("GraniteMoeSharedForCausalLM", "granitemoeshared", shared_intermediate_size=48,
             tie_word_embeddings=True, **granite), 10000.0)
    f["deepseek_v1_4x"] = authors(
        "DeepseekForCausalLM", "deepseek", "deepseek",
        ("Qwen2MoeForCausalLM", "qwen2_moe",
         {"num_experts": 8, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
          "decoder_sparse_step": 1, "mlp_only_layers": [0], "norm_topk_prob": False, "use_sliding_window": False,
          "qkv_bias": False}),
        num_hidden_layers=3, n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
        n_shared_experts=2, first_k_dense_replace=1, moe_layer_freq=1, norm_topk_prob=False,
        scoring_func="softmax", topk_method="greedy", attention_bias=False)
    f["ernie4_5_moe_4x"] = rope_4x(
        base("Ernie4_5_MoeForCausalLM", "ernie4_5_moe", num_hidden_layers=3, moe_num_experts=8, moe_k=2,
             moe_intermediate_size=32, moe_num_shared_experts=1, moe_layer_start_index=1, moe_layer_end_index=-1,
             moe_layer_interval=1, moe_norm_min=1e-12, use_bias=False, tie_word_embeddings=True), 10000.0)
    f["glm4_moe_grouped_4x"] = rope_4x(
        base("Glm4MoeForCausalLM", "glm4_moe", num_hidden_layers=3, head_dim=16, partial_rotary_factor=0.5,
             attention_bias=True, use_qk_norm=True, n_routed_experts=8, num_experts_per_tok=3,
             moe_intermediate_size=32, n_shared_experts=1, n_group=4, topk_group=2, first_k_dense_replace=1,
             norm_topk_prob=True, routed_scaling_factor=2.5), 10000.0)
    f["dots1_5x"] = rope_5x(
        base("Dots1ForCausalLM", "dots1", num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=1,
             head_dim=48, n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, n_shared_experts=2,
             n_group=1, topk_group=1, first_k_dense_replace=1, norm_topk_prob=False, routed_scaling_factor=1.5,
             attention_bias=False, sliding_window=None, max_window_layers=3,
             layer_types=["full_attention"] * 3), 10000.0)
    # Per-layer lists of num_experts / moe_topk (the authors' config allows them) are refused by
    # transformers 5.x's config class, so the reference fixture uses one count for every layer.
    f["hunyuan_moe_4x"] = rope_4x(
        base("HunYuanMoEV1ForCausalLM", "hunyuan_v1_moe", head_dim=16, use_qk_norm=True, num_experts=8,
             moe_topk=2, **moe), 10000.0)
    # DeepSeek-V2/V3: multi-head latent attention (kv_lora_rank 24 and 40, not powers of two; no
    # q compression and a q_lora_rank; interleaved and NeoX rotary; yarn with mscale_all_dim),
    # softmax greedy and group-limited routing, V3's sigmoid router. num_key_value_heads equals the
    # head count: transformers repeats the per-head keys by heads / kv_heads.
    mla = dict(num_attention_heads=4, num_key_value_heads=4, qk_nope_head_dim=16, qk_rope_head_dim=8,
               n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, num_hidden_layers=3,
               first_k_dense_replace=1)
    f["deepseek_v2_lite_4x"] = rope_4x(
        base("DeepseekV2ForCausalLM", "deepseek_v2", q_lora_rank=None, kv_lora_rank=24, v_head_dim=12,
             n_shared_experts=2, topk_method="greedy", norm_topk_prob=False, routed_scaling_factor=1.0,
             n_group=None, topk_group=None, **mla), 10000.0)
    f["deepseek_v2_grouped_5x"] = rope_5x(
        base("DeepseekV2ForCausalLM", "deepseek_v2", q_lora_rank=32, kv_lora_rank=40, v_head_dim=16,
             n_shared_experts=1, topk_method="group_limited_greedy", n_group=4, topk_group=2,
             norm_topk_prob=False, routed_scaling_factor=2.0, **mla), 10000.0)
    f["deepseek_v3_yarn_5x"] = rope_5x(
        base("DeepseekV3ForCausalLM", "deepseek_v3", q_lora_rank=32, kv_lora_rank=40, v_head_dim=16,
             n_shared_experts=1, n_group=4, topk_group=2, norm_topk_prob=True, routed_scaling_factor=2.5,
             topk_method="noaux_tc", rope_interleave=True, attention_bias=True, **mla), 10000.0,
        {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64, "beta_fast": 32.0,
         "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0})
    f["deepseek_v3_neox_4x"] = rope_4x(
        base("DeepseekV3ForCausalLM", "deepseek_v3", q_lora_rank=None, kv_lora_rank=24, v_head_dim=12,
             n_shared_experts=1, n_group=1, topk_group=1, norm_topk_prob=False, routed_scaling_factor=1.0,
             topk_method="noaux_tc", rope_interleave=False, **mla), 10000.0)
    # DBRX: config nested under attn_config / ffn_config; head size 24; clip_qkv; fused Wqkv;
    # bare [E * I, H] expert tensors w1 / v1 / w2. moe_normalize_expert_weights 1 (renormalised)
    # and null (plain softmax weights, with top 1). If transformers' DbrxExperts fails on these
    # shapes (its 5.x modular code reshapes tokens by ffn_hidden_size), that is the cause.
    dbrx = {"architectures": ["DbrxForCausalLM"], "model_type": "dbrx", "vocab_size": VOCAB, "d_model": 96,
            "n_heads": 4, "n_layers": 2, "max_seq_len": 256, "tie_word_embeddings": False, "bos_token_id": 1,
            "eos_token_id": 2, "pad_token_id": 0}
    f["dbrx_clip_4x"] = dict(
        dbrx, torch_dtype="bfloat16",
        attn_config={"kv_n_heads": 2, "rope_theta": 500000.0, "clip_qkv": 1.5},
        ffn_config={"ffn_hidden_size": 32, "moe_num_experts": 6, "moe_top_k": 2, "ffn_act_fn": {"name": "silu"},
                    "moe_normalize_expert_weights": 1.0, "moe_jitter_eps": 0.01})
    f["dbrx_top1_5x"] = dict(
        dbrx, dtype="bfloat16", n_layers=3,
        # clip_qkv null: transformers 5's DbrxAttention calls clamp(None, None) and fails; a bound
        # no value reaches stands in for it.
        attn_config={"kv_n_heads": 1, "rope_theta": 10000.0, "clip_qkv": 1000.0},
        ffn_config={"ffn_hidden_size": 48, "moe_num_experts": 4, "moe_top_k": 1,
                    "moe_normalize_expert_weights": None})
    # Bailing MoE (inclusionAI Ling, authors' code): transformers' Qwen2-MoE twin with the shared
    # expert gate at 0 (x 1/2 folded into down_proj), checkpoint rewritten into query_key_value /
    # dense / word_embeddings / shared_experts (tools/authors_code_reference.py `bailing`). Head
    # size 24, first_k_dense_replace, shared experts, q/k/v bias on and off. rotary_dim, use_qk_norm,
    # norm_head and the sigmoid router have no twin here (tests/models/test_moe_families.cpp checks
    # rotary_dim and norm_head against its own reference).
    bailing = dict(hidden_size=96, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=3,
                   num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, num_shared_experts=2,
                   first_k_dense_replace=1, use_bias=False, norm_head=False, embedding_dropout=0.0)
    twin = {"num_experts": 8, "moe_intermediate_size": 32, "shared_expert_intermediate_size": 64,
            "decoder_sparse_step": 1, "mlp_only_layers": [0], "use_sliding_window": False}
    f["bailing_moe_qkv_bias_4x"] = authors(
        "BailingMoeForCausalLM", "bailing_moe", "bailing",
        ("Qwen2MoeForCausalLM", "qwen2_moe", dict(twin, qkv_bias=True, norm_topk_prob=True)),
        use_qkv_bias=True, norm_topk_prob=True, **bailing)
    f["bailing_moe_4x"] = authors(
        "BailingMoeForCausalLM", "bailing_moe", "bailing",
        ("Qwen2MoeForCausalLM", "qwen2_moe", dict(twin, qkv_bias=True, norm_topk_prob=False)),
        use_qkv_bias=False, norm_topk_prob=False, **dict(bailing, num_key_value_heads=1))
    # Arctic (authors' code) without the residual MLP is Mixtral under the same names
    # (block_sparse_moe.gate, experts.N.w1/w3/w2); the residual variant has no twin and is checked by
    # tests/models/test_moe_families.cpp's double-precision reference only.
    f["arctic_no_residual_4x"] = alias(
        "ArcticForCausalLM", "arctic", ("MixtralForCausalLM", "mixtral", {"sliding_window": None,
                                                                           "router_jitter_noise": 0.0}),
        hidden_size=96, num_attention_heads=4, num_key_value_heads=2, intermediate_size=32, num_local_experts=6,
        num_experts_per_tok=2, moe_layer_frequency=1, use_residual=False, parallel_attn_mlp_res=False)
    return f


def randomize(model, generator, gemma_norms):
    """Weights large enough for clear greedy margins; norm weights away from 1 to test them;
    MoE routers' correction biases (a buffer in DeepSeek-V3-style routers) small but non-zero."""
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
        for name, param in model.named_parameters():
            if name.endswith("e_score_correction_bias"):
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
            elif name.endswith("norm.weight") or "layernorm" in name or (param.dim() == 1 and not name.endswith("bias")):
                center = 0.0 if gemma_norms else 1.0
                param.copy_(center + 0.2 * torch.randn(param.shape, generator=generator))
            elif name.endswith("bias"):
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
            else:
                fan_in = param.shape[-1]
                param.copy_(torch.randn(param.shape, generator=generator) * (1.5 / math.sqrt(fan_in)))


def topk_entries(logprobs):
    values, ids = torch.topk(logprobs, TOP_K)
    return [[int(i), float(v)] for i, v in zip(ids.tolist(), values.tolist())]


def custom_prompt(forward, ids, config):
    """Prompt logprobs and a greedy continuation through authors_code_reference's forward (no
    cache: the whole sequence each step), EOS masked as HF's min_new_tokens does."""
    length = ids.shape[1]
    prompt_logprobs = torch.log_softmax(forward(ids).float(), dim=-1)
    seq, tokens, steps = ids, [], []
    for _ in range(NEW_TOKENS):
        logits = forward(seq)[-1].float()
        lp = torch.log_softmax(logits, dim=-1)
        top2 = torch.topk(lp, 2).values
        steps.append({"top": topk_entries(lp), "margin": float(top2[0] - top2[1])})
        masked = logits.clone()
        masked[config["eos_token_id"]] = float("-inf")
        token = int(torch.argmax(masked))
        tokens.append(token)
        seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
    return {"input_ids": ids[0].tolist(), "prompt_top": [topk_entries(prompt_logprobs[i]) for i in range(length)],
            "greedy_tokens": tokens, "greedy_steps": steps}


def write_expected(directory, name, prompts, bf16_error=None):
    expected = {"transformers": transformers.__version__, "torch": torch.__version__,
                "top_k": TOP_K, "prompts": prompts}
    if bf16_error is not None:
        expected["hf_bf16_max_error"] = bf16_error
    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump(expected, f)
    size = sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory))
    print(f"{name}: {size // 1024} KB, margins min "
          f"{min(s['margin'] for p in prompts for s in p['greedy_steps']):.4f}"
          + ("" if bf16_error is None else f", transformers bf16 drift {bf16_error:.4f}"))


MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
BF16_DRIFT_LIMIT = 0.1  # the GPU bf16 parity test allows 0.25; leave room for our own rounding
RESEEDS = 6  # then the seed that drifted least


def bf16_drift(model, prompts):
    """The largest |logprob| change over the recorded top entries when transformers itself runs the
    fixture in bf16. A router whose top-k gap is below bf16's rounding picks other experts in bf16,
    which no bf16 engine can match, so MoE fixtures are reseeded until this stays small (the GPU's
    float32 parity test is their strict check either way)."""
    half = copy.deepcopy(model).to(torch.bfloat16)
    worst = 0.0
    with torch.no_grad():
        for prompt in prompts:
            ids = torch.tensor([prompt["input_ids"]])
            logprobs = torch.log_softmax(half(ids).logits[0].float(), dim=-1)
            for position, top in enumerate(prompt["prompt_top"]):
                for token, value in top:
                    worst = max(worst, abs(float(logprobs[position, token]) - value))
    return worst


def make_decoder(name, config, directory, generator, converter):
    """A fixture whose reference is authors_code_reference.Decoder (weights rounded to bf16 first,
    as every other fixture's reference reads the bf16 checkpoint)."""
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    model = authors_code_reference.Decoder(authors_code_reference.DECODER_CONFIGS[converter](config))
    randomize(model, generator, gemma_norms=False)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.to(torch.bfloat16).float())
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    authors_code_reference.save_file(authors_code_reference.CONVERTERS[converter](state, config),
                                     os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    prompts = []
    for length in PROMPT_LENGTHS:
        ids = torch.randint(3, VOCAB, (1, length), generator=generator)
        prompts.append(custom_prompt(model, ids, config))
    write_expected(directory, name, prompts)


def make(name, config, out_dir, seed, tried=(), final=False):
    tried = list(tried)
    directory = os.path.join(out_dir, name)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    original, config = config, dict(config)
    hf_only = config.pop("_hf", {})
    converter = config.pop("_convert", None)
    attn_implementation = config.pop("_attn", "eager")
    custom_reference = config.pop("_reference", None)
    twin = config.pop("_twin", None)  # the transformers twin's whole config (ours is nested otherwise)
    prompt_lengths = config.pop("_prompt_lengths", PROMPT_LENGTHS)
    generator = torch.Generator().manual_seed(seed)
    if custom_reference == "decoder":  # authors_code_reference.Decoder, no transformers class at all
        return make_decoder(name, config, directory, generator, converter)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(twin if twin else {**config, **hf_only}, f, indent=2)
    hf_config = AutoConfig.from_pretrained(directory)
    model = AutoModelForCausalLM.from_config(hf_config, torch_dtype=torch.float32)
    randomize(model, generator,
              gemma_norms=config["model_type"].startswith("gemma") and config["model_type"] != "gemma3n")
    if converter in authors_code_reference.PREPARE:
        authors_code_reference.PREPARE[converter](model)
    model.to(torch.bfloat16).save_pretrained(directory, safe_serialization=True)
    # save_pretrained rewrote config.json in this transformers' spelling: put ours back.
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for extra in ("generation_config.json",):
        path = os.path.join(directory, extra)
        if os.path.exists(path):
            os.remove(path)

    reference_config = None
    if twin:
        merged = dict(twin)
        reference_config = AutoConfig.for_model(merged.pop("model_type"), **merged)
    elif hf_only:  # the reference class reads its own config; ours stays config.json
        merged = {**config, **hf_only}
        reference_config = AutoConfig.for_model(merged.pop("model_type"), **merged)
    model = AutoModelForCausalLM.from_pretrained(directory, config=reference_config, torch_dtype=torch.float32,
                                                 attn_implementation=attn_implementation).eval()

    prompts = []
    for length in prompt_lengths:
        ids = torch.randint(3, VOCAB, (1, length), generator=generator)
        if custom_reference:
            forward = (lambda seq: authors_code_reference.alibi_llama_logits(model, seq)) \
                if custom_reference == "alibi" else model
            prompts.append(custom_prompt(forward, ids, config))
            continue
        with torch.no_grad():
            logits = model(ids).logits[0].float()
            prompt_logprobs = torch.log_softmax(logits, dim=-1)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                                 min_new_tokens=NEW_TOKENS, do_sample=False, output_logits=True,
                                 return_dict_in_generate=True, pad_token_id=0)
        steps = []
        for step_logits in out.logits:
            lp = torch.log_softmax(step_logits[0].float(), dim=-1)
            top2 = torch.topk(lp, 2).values
            steps.append({"top": topk_entries(lp), "margin": float(top2[0] - top2[1])})
        prompts.append({
            "input_ids": ids[0].tolist(),
            "prompt_top": [topk_entries(prompt_logprobs[i]) for i in range(length)],
            "greedy_tokens": out.sequences[0, length:].tolist(),
            "greedy_steps": steps,
        })
    bf16_error = None
    if any(key in config for key in MOE_KEYS) or "moe_num_experts" in (config.get("ffn_config") or {}):
        bf16_error = bf16_drift(model, prompts)
        tried = tried + [(bf16_error, seed)]
        if bf16_error > BF16_DRIFT_LIMIT and not final:
            if len(tried) < RESEEDS:
                print(f"{name}: seed {seed} drifts {bf16_error:.3f} in bf16, reseeding")
                return make(name, original, out_dir, seed + 7919, tried)
            best_error, best_seed = min(tried)
            print(f"{name}: no seed within {BF16_DRIFT_LIMIT}; keeping seed {best_seed} ({best_error:.3f})")
            return make(name, original, out_dir, best_seed, tried, final=True)
    if converter:
        authors_code_reference.convert_checkpoint(os.path.join(directory, "model.safetensors"), converter, config)
    write_expected(directory, name, prompts, bf16_error)


def run_cli(all_fixtures, first_seed):
    """The command line of every fixture maker: --out DIR, --only NAME...; fixture i of the sorted
    names gets seed first_seed + i. Returns the exit status: 1 when any fixture failed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    torch.manual_seed(0)
    failures = 0
    for index, (name, config) in enumerate(sorted(all_fixtures.items())):
        if args.only and name not in args.only:
            continue
        try:
            make(name, config, args.out, seed=first_seed + index)
        except Exception as error:  # keep going: report every broken fixture in one run
            failures += 1
            print(f"{name}: FAILED {type(error).__name__}: {error}", file=sys.stderr)
    return 1 if failures else 0


def main():
    sys.exit(run_cli(fixtures(), first_seed=1000))


if __name__ == "__main__":
    main()
