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


# ---------------------------------------------------------------------------------------------
# Architectures without a transformers twin: `Decoder` is a Llama-layout decoder written out in
# PyTorch with the switches these authors' modeling files add (no KV cache: the whole sequence is
# recomputed each step). `DECODER_CONFIGS[name](config)` reads the authors' config.json into its
# switches; `CONVERTERS[name]` rewrites its Llama-layout state dict in the authors' names.
#   JAISLMHeadModel (inceptionai modeling_jais.py): GPT-2 blocks (LayerNorm, Conv1D weights, biases)
#     with SwiGLU (c_fc * silu(c_fc2)), ALiBi or learned positions, (tokens + positions) *
#     embeddings_scale, q.k / head_dim when scale_qk_dot_by_d, logits * width_scale.
#   TeleChat2ForCausalLM (Tele-AI modeling_telechat2.py): Llama blocks; bias on `dense` (o) and
#     `down_proj` only; key_value fused per kv head as [k_h; v_h].
#   DeciLMForCausalLM (nvidia modeling_decilm.py): Llama blocks whose kv heads
#     (num_heads / n_heads_in_group) and FFN width (ffn_mult) vary per layer; a block's attention
#     or FFN may be a no-op (skipped with its norm).
#   OrionForCausalLM (OrionStarAI modeling_orion.py): Llama with nn.LayerNorm (weight and bias).
#   SolarForCausalLM (upstage modeling_solar.py): Llama plus bskcn skip connections: the stream
#     entering layer i is saved when i is in bskcn_1 / bskcn_2 and replaced by
#     saved * tv + stream * (1 - tv) when i is in bskcn_3 / bskcn_4 (tv = bskcn_tv[1] at inference).
# ---------------------------------------------------------------------------------------------
from torch import nn  # noqa: E402


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Decoder(nn.Module):
    """s: hidden, vocab, heads, head_dim, eps, norm ("rms" | "layer"), layers [{kv_heads (0: no
    attention), intermediate (0: no FFN)}], qkv_bias, o_bias, gate_up_bias, down_bias, norm_bias,
    positions ("rope" | "alibi" | "learned"), theta, max_positions, attention_scale,
    embedding_scale, logits_scale, tie, skips ({bskcn_1..4, tv})."""

    def __init__(self, s):
        super().__init__()
        self.s = s
        hidden = s["hidden"]
        norm = (lambda: nn.LayerNorm(hidden, eps=s["eps"], bias=s.get("norm_bias", True))) \
            if s["norm"] == "layer" else (lambda: RMSNorm(hidden, s["eps"]))
        self.embed_tokens = nn.Embedding(s["vocab"], hidden)
        if s["positions"] == "learned":
            self.embed_positions = nn.Embedding(s["max_positions"], hidden)
        self.layers = nn.ModuleList()
        q_size = s["heads"] * s["head_dim"]
        for layer in s["layers"]:
            block = nn.Module()
            if layer["kv_heads"]:
                kv_size = layer["kv_heads"] * s["head_dim"]
                block.input_layernorm = norm()
                block.q_proj = nn.Linear(hidden, q_size, bias=s.get("qkv_bias", False))
                block.k_proj = nn.Linear(hidden, kv_size, bias=s.get("qkv_bias", False))
                block.v_proj = nn.Linear(hidden, kv_size, bias=s.get("qkv_bias", False))
                block.o_proj = nn.Linear(q_size, hidden, bias=s.get("o_bias", False))
            if layer["intermediate"]:
                block.post_attention_layernorm = norm()
                block.gate_proj = nn.Linear(hidden, layer["intermediate"], bias=s.get("gate_up_bias", False))
                block.up_proj = nn.Linear(hidden, layer["intermediate"], bias=s.get("gate_up_bias", False))
                block.down_proj = nn.Linear(layer["intermediate"], hidden, bias=s.get("down_bias", False))
            self.layers.append(block)
        self.norm = norm()
        if not s.get("tie"):
            self.lm_head = nn.Linear(hidden, s["vocab"], bias=False)

    def attention(self, block, kv_heads, x):
        s, length = self.s, x.shape[0]
        heads, head_dim = s["heads"], s["head_dim"]
        q = block.q_proj(x).view(length, heads, head_dim).transpose(0, 1)
        k = block.k_proj(x).view(length, kv_heads, head_dim).transpose(0, 1)
        v = block.v_proj(x).view(length, kv_heads, head_dim).transpose(0, 1)
        positions = torch.arange(length, dtype=torch.float32)
        if s["positions"] == "rope":
            inv_freq = 1.0 / (s["theta"] ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
            angles = torch.cat([positions[:, None] * inv_freq[None, :]] * 2, dim=-1)
            q = q * angles.cos() + _rotate_half(q) * angles.sin()
            k = k * angles.cos() + _rotate_half(k) * angles.sin()
        k = k.repeat_interleave(heads // kv_heads, dim=0)
        v = v.repeat_interleave(heads // kv_heads, dim=0)
        scores = q @ k.transpose(-1, -2) * s.get("attention_scale", head_dim ** -0.5)
        if s["positions"] == "alibi":  # slope * (j - i); the per-row constant cancels in softmax
            scores = scores + bloom_alibi_slopes(heads)[:, None, None] * (positions[None, :] - positions[:, None])
        scores = scores + torch.full((length, length), float("-inf")).triu(1)
        out = torch.softmax(scores, dim=-1) @ v
        return block.o_proj(out.transpose(0, 1).reshape(length, heads * head_dim))

    @torch.no_grad()
    def forward(self, ids):
        s = self.s
        ids = ids[0]
        x = self.embed_tokens(ids)
        if s["positions"] == "learned":
            x = x + self.embed_positions(torch.arange(ids.shape[0]))
        x = x * s.get("embedding_scale", 1.0)
        skips, saved = s.get("skips"), {}
        for i, (block, layer) in enumerate(zip(self.layers, s["layers"])):
            if skips:
                for key, slot in (("bskcn_1", 1), ("bskcn_2", 2)):
                    if i in skips[key]:
                        saved[slot] = x.clone()
                for key, slot in (("bskcn_3", 1), ("bskcn_4", 2)):
                    if i in skips[key]:
                        x = saved[slot] * skips["tv"] + x * (1 - skips["tv"])
            if layer["kv_heads"]:
                x = x + self.attention(block, layer["kv_heads"], block.input_layernorm(x))
            if layer["intermediate"]:
                h = block.post_attention_layernorm(x)
                x = x + block.down_proj(nn.functional.silu(block.gate_proj(h)) * block.up_proj(h))
        head = self.embed_tokens.weight if s.get("tie") else self.lm_head.weight
        return (self.norm(x) @ head.T) * s.get("logits_scale", 1.0)


def _uniform_layers(config, layers, kv_heads, intermediate):
    return [{"kv_heads": kv_heads, "intermediate": intermediate} for _ in range(layers)]


def jais_decoder(c):
    """Newer JAIS configs spell the muP fields embeddings_scale, width_scale and scale_qk_dot_by_d;
    older ones mup_embeddings_scale, mup_output_alpha * mup_width_scale and mup_scale_qk_dot_by_d."""
    hidden, heads = c["n_embd"], c["n_head"]
    c = dict(c)
    c.setdefault("embeddings_scale", c.get("mup_embeddings_scale", 1.0))
    c.setdefault("width_scale", c.get("mup_output_alpha", 1.0) * c.get("mup_width_scale", 1.0))
    c.setdefault("scale_qk_dot_by_d", c.get("mup_scale_qk_dot_by_d", False))
    return {"hidden": hidden, "vocab": c["vocab_size"], "heads": heads, "head_dim": hidden // heads,
            "eps": c["layer_norm_epsilon"], "norm": "layer",
            "layers": _uniform_layers(c, c["n_layer"], heads, c["n_inner"]),
            "qkv_bias": True, "o_bias": True, "gate_up_bias": True, "down_bias": True,
            "positions": "alibi" if c["position_embedding_type"] == "alibi" else "learned",
            "max_positions": c["n_positions"],
            "attention_scale": (hidden // heads) ** (-1.0 if c["scale_qk_dot_by_d"] else -0.5),
            "embedding_scale": c["embeddings_scale"], "logits_scale": c["width_scale"], "tie": True}


def telechat2_decoder(c):
    hidden, heads = c["hidden_size"], c["n_head"]
    return {"hidden": hidden, "vocab": c["vocab_size"], "heads": heads, "head_dim": hidden // heads,
            "eps": c["layer_norm_epsilon"], "norm": "rms",
            "layers": _uniform_layers(c, c["n_layer"], c["num_key_value_heads"], c["ffn_hidden_size"]),
            "o_bias": True, "down_bias": True, "positions": "rope", "theta": c.get("rope_theta", 10000.0)}


def decilm_intermediate(ffn_mult, hidden):
    """modeling_decilm.py's _ffn_mult_to_intermediate_size: int(2 * mult * hidden / 3) up to a multiple of 256."""
    size = int(2 * ffn_mult * hidden / 3)
    return size if size % 256 == 0 else size + 256 - size % 256


def decilm_decoder(c):
    hidden, heads = c["hidden_size"], c["num_attention_heads"]
    layers = [{"kv_heads": 0 if b["attention"].get("no_op") else heads // b["attention"]["n_heads_in_group"],
               "intermediate": 0 if b["ffn"].get("no_op") else decilm_intermediate(b["ffn"]["ffn_mult"], hidden)}
              for b in c["block_configs"]]
    return {"hidden": hidden, "vocab": c["vocab_size"], "heads": heads, "head_dim": hidden // heads,
            "eps": c["rms_norm_eps"], "norm": "rms", "layers": layers, "positions": "rope",
            "theta": c["rope_theta"]}


def llama_decoder(c, **extra):
    hidden, heads = c["hidden_size"], c["num_attention_heads"]
    s = {"hidden": hidden, "vocab": c["vocab_size"], "heads": heads, "head_dim": hidden // heads,
         "eps": c["rms_norm_eps"], "norm": "rms", "positions": "rope", "theta": c["rope_theta"],
         "layers": _uniform_layers(c, c["num_hidden_layers"], c["num_key_value_heads"], c["intermediate_size"])}
    s.update(extra)
    return s


def orion_decoder(c):
    return llama_decoder(c, norm="layer")


def solar_decoder(c):
    return llama_decoder(c, skips={k: c[k] for k in ("bskcn_1", "bskcn_2", "bskcn_3", "bskcn_4")} |
                         {"tv": c["bskcn_tv"][1]})


DECODER_CONFIGS = {"jais": jais_decoder, "telechat2": telechat2_decoder, "decilm": decilm_decoder,
                   "orion": orion_decoder, "solar": solar_decoder}


def _decoder_layer_map(state):
    """Decoder's flat block names -> Llama's (self_attn. / mlp.)."""
    out = {}
    for name, tensor in state.items():
        for part in ("q_proj", "k_proj", "v_proj", "o_proj"):
            name = name.replace(f".{part}.", f".self_attn.{part}.")
        for part in ("gate_proj", "up_proj", "down_proj"):
            name = name.replace(f".{part}.", f".mlp.{part}.")
        out[("model." + name) if not name.startswith("lm_head.") else name] = tensor
    return out


def decoder_to_llama(state, config):
    """Orion, Solar, DeciLM: Llama's checkpoint names."""
    return _decoder_layer_map(state)


def decoder_to_jais(state, config):
    """JAIS: GPT-2 names, Conv1D weights stored [in, out]; c_fc is the up and c_fc2 the gate projection."""
    out = {}
    for name, tensor in state.items():
        if name == "embed_tokens.weight":
            out["transformer.wte.weight"] = tensor
            continue
        if name == "embed_positions.weight":
            out["transformer.wpe.weight"] = tensor
            continue
        if name.startswith("norm."):
            out["transformer.ln_f." + name[5:]] = tensor
            continue
        parts = name.split(".")
        layer, module, kind = parts[1], parts[2], parts[3]
        prefix = f"transformer.h.{layer}."
        simple = {"input_layernorm": "ln_1", "post_attention_layernorm": "ln_2", "o_proj": "attn.c_proj",
                  "gate_proj": "mlp.c_fc2", "up_proj": "mlp.c_fc", "down_proj": "mlp.c_proj"}
        if module in simple:
            conv = module.endswith("_proj") and kind == "weight"
            out[prefix + simple[module] + "." + kind] = tensor.t().contiguous() if conv else tensor
        elif module == "q_proj":
            fused = torch.cat([state[f"layers.{layer}.{m}.{kind}"] for m in ("q_proj", "k_proj", "v_proj")])
            out[prefix + "attn.c_attn." + kind] = fused.t().contiguous() if kind == "weight" else fused
    return out


def decoder_to_telechat2(state, config):
    """TeleChat2: transformer.h.N.self_attention.{query, key_value ([k_h; v_h] per kv head), dense}."""
    heads = config["n_head"]
    head_dim = config["hidden_size"] // heads
    kv_heads = config["num_key_value_heads"]
    out = {}
    for name, tensor in state.items():
        if name == "embed_tokens.weight":
            out["transformer.word_embeddings.weight"] = tensor
        elif name.startswith("norm."):
            out["transformer.ln_f." + name[5:]] = tensor
        elif name.startswith("lm_head."):
            out[name] = tensor
        else:
            parts = name.split(".")
            layer, module, kind = parts[1], parts[2], parts[3]
            prefix = f"transformer.h.{layer}."
            if module == "q_proj":
                out[prefix + "self_attention.query." + kind] = tensor
            elif module == "k_proj":
                k = tensor.view(kv_heads, head_dim, -1)
                v = state[f"layers.{layer}.v_proj.{kind}"].view(kv_heads, head_dim, -1)
                out[prefix + "self_attention.key_value." + kind] = torch.cat([k, v], dim=1).reshape(-1, k.shape[-1])
            elif module == "o_proj":
                out[prefix + "self_attention.dense." + kind] = tensor
            elif module in ("gate_proj", "up_proj", "down_proj"):
                out[prefix + "mlp." + module + "." + kind] = tensor
            elif module != "v_proj":
                out[prefix + module + "." + kind] = tensor
    return out


def to_fairseq2(state, config):
    """fairseq2's Llama names; q/k rows in fairseq2's interleaved-pair rotary order (the inverse of
    vLLM's Fairseq2LlamaForCausalLM.reshape_fairseq2_weights permute)."""
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    hidden = config["hidden_size"]
    head_dim = hidden // heads

    def unpermute(w, n):
        return w.view(n, 2, head_dim // 2, hidden).transpose(1, 2).reshape(n * head_dim, hidden)

    for i in _layers(state):
        p = f"model.layers.{i}.self_attn."
        state[p + "q_proj.weight"] = unpermute(state[p + "q_proj.weight"], heads)
        state[p + "k_proj.weight"] = unpermute(state[p + "k_proj.weight"], kv_heads)
    out = {}
    for name, tensor in state.items():
        for old, new in (("model.embed_tokens.", "decoder_frontend.embed."), ("lm_head.", "final_proj."),
                         ("model.norm.", "decoder.layer_norm."), ("model.", "decoder.")):
            if name.startswith(old):
                name = new + name[len(old):]
                break
        for old, new in ((".input_layernorm.", ".self_attn_layer_norm."),
                         (".post_attention_layernorm.", ".ffn_layer_norm."),
                         (".self_attn.o_proj.", ".self_attn.output_proj."), (".mlp.gate_proj.", ".ffn.gate_proj."),
                         (".mlp.up_proj.", ".ffn.inner_proj."), (".mlp.down_proj.", ".ffn.output_proj.")):
            name = name.replace(old, new)
        out[name] = tensor
    return out


def to_gemma3n(state, config):
    """Gemma3nForConditionalGeneration keeps the text model under model.language_model."""
    out = {}
    for name, tensor in state.items():
        if name == "lm_head.weight":
            continue  # tied
        if name.startswith("model.") and not name.startswith("model.language_model."):
            name = "model.language_model." + name[len("model."):]
        out[name] = tensor
    return out


def prepare_gemma3n(model):
    """AltUp's coefficient maps at a tenth of the fixture's usual scale, so that four stacked
    streams stay in range over the layers (real checkpoints' coefficients are small too)."""
    with torch.no_grad():
        for layer in model.model.layers:
            layer.altup.prediction_coefs.weight.mul_(0.1)
            layer.altup.correction_coefs.weight.mul_(0.1)


def prepare_deepseek(model):
    """DeepSeek-MoE V1 from transformers' Qwen2-MoE: no q/k/v biases (zero, dropped in the
    conversion) and shared_expert_gate = 0, so the shared expert is scaled by sigmoid(0) = 1/2
    exactly; the conversion halves its down_proj (exact in bf16) to the ungated DeepSeek expert."""
    with torch.no_grad():
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                if proj.bias is not None:
                    proj.bias.zero_()
            if hasattr(layer.mlp, "shared_expert_gate"):
                layer.mlp.shared_expert_gate.weight.zero_()


def to_deepseek(state, config):
    """DeepSeek V1 names: mlp.shared_experts (ungated, down_proj / 2 for the dropped sigmoid(0)),
    no attention biases."""
    out = {}
    for name, tensor in state.items():
        if name.endswith(("q_proj.bias", "k_proj.bias", "v_proj.bias", "mlp.shared_expert_gate.weight")):
            continue
        if ".mlp.shared_expert.down_proj." in name:
            tensor = tensor * 0.5
        out[name.replace(".mlp.shared_expert.", ".mlp.shared_experts.")] = tensor.contiguous()
    return out


def prepare_bailing(model):
    """Bailing MoE from transformers' Qwen2-MoE: shared_expert_gate = 0 (as DeepSeek V1 above);
    q/k/v biases zero when the Bailing config has no use_qkv_bias (dropped in the conversion)."""
    with torch.no_grad():
        for layer in model.model.layers:
            if not getattr(model.config, "use_qkv_bias", False):
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    if proj.bias is not None:
                        proj.bias.zero_()
            if hasattr(layer.mlp, "shared_expert_gate"):
                layer.mlp.shared_expert_gate.weight.zero_()


def to_bailing(state, config):
    """Bailing names: word_embeddings, attention.query_key_value = q | k | v (bias with
    use_qkv_bias), attention.dense, mlp.shared_experts (ungated, down_proj / 2)."""
    for i in _layers(state):
        p = f"model.layers.{i}.self_attn."
        kinds = ("weight", "bias") if config.get("use_qkv_bias") else ("weight",)
        for kind in kinds:
            state[p + "query_key_value." + kind] = torch.cat([state.pop(f"{p}{n}_proj.{kind}") for n in "qkv"])
        for n in "qkv":
            state.pop(f"{p}{n}_proj.bias", None)
    out = {}
    for name, tensor in state.items():
        if name.endswith("mlp.shared_expert_gate.weight"):
            continue
        if ".mlp.shared_expert.down_proj." in name:
            tensor = tensor * 0.5
        name = name.replace(".mlp.shared_expert.", ".mlp.shared_experts.")
        name = name.replace(".self_attn.query_key_value.", ".attention.query_key_value.")
        name = name.replace(".self_attn.o_proj.", ".attention.dense.")
        if name.startswith("model.embed_tokens."):
            name = "model.word_embeddings." + name[len("model.embed_tokens."):]
        out[name] = tensor.contiguous()
    return out


PREPARE = {"gemma3n": prepare_gemma3n, "deepseek": prepare_deepseek, "bailing": prepare_bailing}
CONVERTERS["deepseek"] = to_deepseek
CONVERTERS["bailing"] = to_bailing
CONVERTERS.update({"jais": decoder_to_jais, "telechat2": decoder_to_telechat2, "decilm": decoder_to_llama,
                   "orion": decoder_to_llama, "solar": decoder_to_llama, "fairseq2": to_fairseq2,
                   "gemma3n": to_gemma3n})
