"""References for architectures whose modeling code lives in the checkpoint repositories
(trust_remote_code) rather than in transformers, used by make_fixtures.py.

Each of these is, layer for layer, a transformers model under other weight names and fused
layouts (the mapping vLLM's own loaders implement): the fixture is built and run with that
transformers model, then its checkpoint is rewritten in the authors' names and layouts. The
ALiBi Baichuan (13B) has no transformers twin: `alibi_llama_logits` follows the authors'
BaichuanForCausalLM (ALiBi in place of rotary, Llama's RMSNorm and SwiGLU otherwise).
"""
import math

import torch
from safetensors.torch import load_file, save_file


def bloom_alibi_slopes(heads):
    """Bloom's get_alibi_slopes, which Baichuan-13B's _get_interleave equals."""
    closest = 2 ** math.floor(math.log2(heads))
    base = 2 ** (-(2 ** -(math.log2(closest) - 3)))
    slopes = [base ** (i + 1) for i in range(closest)]
    if closest != heads:
        extra = 2 ** (-(2 ** -(math.log2(2 * closest) - 3)))
        slopes += [extra ** (2 * i + 1) for i in range(min(closest, heads - closest))]
    return torch.tensor(slopes, dtype=torch.float32)


@torch.no_grad()
def alibi_llama_logits(model, ids):
    """Baichuan-13B's forward on a LlamaForCausalLM's weights: scores q.k / sqrt(d) plus
    slope * key_position, causal; no rotary. ids [1, T] -> logits [T, vocab]."""
    config, inner = model.config, model.model
    heads = config.num_attention_heads
    head_dim = config.hidden_size // heads
    length = ids.shape[1]
    x = inner.embed_tokens(ids)
    bias = bloom_alibi_slopes(heads)[:, None, None] * torch.arange(length, dtype=torch.float32)[None, None, :]
    causal = torch.full((length, length), float("-inf")).triu(1)
    for layer in inner.layers:
        h = layer.input_layernorm(x)
        attn = layer.self_attn
        q = attn.q_proj(h).view(1, length, heads, head_dim).transpose(1, 2)
        k = attn.k_proj(h).view(1, length, heads, head_dim).transpose(1, 2)
        v = attn.v_proj(h).view(1, length, heads, head_dim).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + bias + causal
        probs = torch.softmax(scores.float(), dim=-1)
        out = (probs @ v).transpose(1, 2).reshape(1, length, heads * head_dim)
        x = x + attn.o_proj(out)
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    return model.lm_head(inner.norm(x))[0]


def _layers(state):
    return sorted({int(k.split(".")[2]) for k in state if k.startswith("model.layers.")})


def _llama_renamed(state, prefix_map, layer_map, layer_prefix):
    """Renames a Llama-layout state dict: top-level names by prefix_map, per-layer suffixes by layer_map."""
    out = {}
    for name, tensor in state.items():
        if name.startswith("model.layers."):
            parts = name.split(".")
            index, rest = parts[2], ".".join(parts[3:])
            for old, new in layer_map.items():
                if rest.startswith(old):
                    rest = new + rest[len(old):]
                    break
            out[f"{layer_prefix}{index}.{rest}"] = tensor
        else:
            for old, new in prefix_map.items():
                if name.startswith(old):
                    name = new + name[len(old):]
                    break
            out[name] = tensor
    return out


def to_internlm2(state, config):
    """InternLM2: wqkv grouped per kv head as [kv_heads, q_per_kv + 2, head_dim] rows."""
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config["hidden_size"] // heads
    groups = heads // kv_heads
    for i in _layers(state):
        p = f"model.layers.{i}.self_attn."
        q = state.pop(p + "q_proj.weight").view(kv_heads, groups, head_dim, -1)
        k = state.pop(p + "k_proj.weight").view(kv_heads, 1, head_dim, -1)
        v = state.pop(p + "v_proj.weight").view(kv_heads, 1, head_dim, -1)
        state[p + "wqkv.weight"] = torch.cat([q, k, v], dim=1).reshape(-1, q.shape[-1])
    return _llama_renamed(state, {"model.embed_tokens.": "model.tok_embeddings.", "lm_head.": "output."},
                          {"self_attn.wqkv": "attention.wqkv", "self_attn.o_proj": "attention.wo",
                           "mlp.gate_proj": "feed_forward.w1", "mlp.up_proj": "feed_forward.w3",
                           "mlp.down_proj": "feed_forward.w2", "input_layernorm": "attention_norm",
                           "post_attention_layernorm": "ffn_norm"}, "model.layers.")


def to_baichuan(state, config):
    """Baichuan: W_pack = q | k | v."""
    for i in _layers(state):
        p = f"model.layers.{i}.self_attn."
        state[p + "W_pack.weight"] = torch.cat([state.pop(p + n + "_proj.weight") for n in "qkv"])
    return state


def to_qwen(state, config):
    """Qwen (1): c_attn = q | k | v with bias, w2 the gate and w1 the up projection."""
    for i in _layers(state):
        p = f"model.layers.{i}.self_attn."
        for kind in ("weight", "bias"):
            state[p + "c_attn." + kind] = torch.cat([state.pop(f"{p}{n}_proj.{kind}") for n in "qkv"])
    return _llama_renamed(state, {"model.embed_tokens.": "transformer.wte.", "model.norm.": "transformer.ln_f."},
                          {"self_attn.c_attn": "attn.c_attn", "self_attn.o_proj": "attn.c_proj",
                           "mlp.gate_proj": "mlp.w2", "mlp.up_proj": "mlp.w1", "mlp.down_proj": "mlp.c_proj",
                           "input_layernorm": "ln_1", "post_attention_layernorm": "ln_2"}, "transformer.h.")


def to_chatglm(state, config):
    """ChatGLM 2/3 and GLM-4 (THUDM code) from transformers' Glm: query_key_value = q | k | v."""
    for i in _layers(state):
        p = f"model.layers.{i}.self_attn."
        for kind in ("weight", "bias"):
            state[p + "query_key_value." + kind] = torch.cat([state.pop(f"{p}{n}_proj.{kind}") for n in "qkv"])
    return _llama_renamed(
        state, {"model.embed_tokens.": "transformer.embedding.word_embeddings.",
                "model.norm.": "transformer.encoder.final_layernorm.", "lm_head.": "transformer.output_layer."},
        {"self_attn.query_key_value": "self_attention.query_key_value", "self_attn.o_proj": "self_attention.dense",
         "mlp.gate_up_proj": "mlp.dense_h_to_4h", "mlp.down_proj": "mlp.dense_4h_to_h"},
        "transformer.encoder.layers.")


def to_exaone(state, config):
    """EXAONE 3: GPT-2-like names around Llama's blocks."""
    return _llama_renamed(state, {"model.embed_tokens.": "transformer.wte.", "model.norm.": "transformer.ln_f."},
                          {"self_attn.q_proj": "attn.attention.q_proj", "self_attn.k_proj": "attn.attention.k_proj",
                           "self_attn.v_proj": "attn.attention.v_proj", "self_attn.o_proj": "attn.attention.out_proj",
                           "mlp.gate_proj": "mlp.c_fc_0", "mlp.up_proj": "mlp.c_fc_1", "mlp.down_proj": "mlp.c_proj",
                           "input_layernorm": "ln_1", "post_attention_layernorm": "ln_2"}, "transformer.h.")


CONVERTERS = {"internlm2": to_internlm2, "baichuan": to_baichuan, "qwen": to_qwen, "chatglm": to_chatglm,
              "exaone": to_exaone}


def convert_checkpoint(path, converter, config):
    state = {k: v.clone() for k, v in load_file(path).items()}
    save_file(CONVERTERS[converter](state, config), path, metadata={"format": "pt"})
