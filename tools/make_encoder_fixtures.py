#!/usr/bin/env python3
"""Builds the HF parity fixtures for the encoder (pooling) models of issue 25.

Each fixture is a tiny random-weight checkpoint: config.json in the spelling published
checkpoints use, model.safetensors (bf16, under the published weight names) and expected.json with
the fp32 reference run on the bf16-rounded weights:
  sequences[i].input_ids / token_type_ids   the inputs (one sequence is ~40 tokens)
  sequences[i].hidden                       last_hidden_state, every row [T][H]
  sequences[i].pooled                       the default pooling (CLS or MEAN) of `hidden`, raw
  sequences[i].embedding                    `pooled` L2-normalised (vLLM's Embed default)
  sequences[i].logits                       classifiers only: the raw logits [num_labels]
Transformers classes give the reference where transformers has the architecture; NomicBertModel
and the Alibaba "new" GTE (GteNewModel, Snowflake's GteModel) are authors' code (trust_remote_code),
written out below from the authors' published modelling files (their weight names and config keys).
Every sequence runs alone (batch of one, no padding), so no attention mask enters the reference.

One more fixture is a sentence-transformers folder (modules.json, 1_Pooling, 2_Normalize, a tiny
WordPiece tokenizer): its expected embeddings come from SentenceTransformer(folder).encode.

Runs on CPU in well under two minutes, no network:
    python3 tools/make_encoder_fixtures.py --out tests/data/encoders
"""
import argparse
import json
import math
import os
import shutil

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file

VOCAB = 200
LENGTHS = (3, 9, 17, 41)


# ---------------------------------------------------------------------------------------------
# Weights: random with clear structure, rounded to bf16 so the fp32 reference and the bf16 file
# hold the same numbers.

def randomize(model, seed):
    """Every parameter redrawn: matrices N(0, 0.08) (attention far from uniform), norm weights
    around 1, biases N(0, 0.05); then rounded to bf16 in place."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.08)
            elif "norm" in name.lower() or "ln" in name.split(".")[-2].lower():
                if name.endswith("weight"):
                    p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.1)
                else:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


def save_weights(tensors, path):
    """bf16 safetensors; shared (tied) tensors are written as separate copies, as HF does."""
    out = {name: t.detach().to(torch.bfloat16).contiguous().clone() for name, t in tensors.items()}
    save_file(out, path, metadata={"format": "pt"})


def sequences(seed, with_types=False, pad_id=None, low=5):
    """Input ids of several lengths (ids from `low`, never the padding id), and for sentence pairs
    token type ids (second segment 1 from the middle on)."""
    gen = torch.Generator().manual_seed(1000 + seed)
    out = []
    for n in LENGTHS:
        ids = torch.randint(low, VOCAB, (n,), generator=gen)
        if pad_id is not None:
            ids[ids == pad_id] = pad_id + 1
        seq = {"input_ids": ids.tolist()}
        if with_types:
            types = [0] * n
            for i in range(n // 2, n):
                types[i] = 1
            seq["token_type_ids"] = types
        out.append(seq)
    return out


def pool(hidden, pooling):
    return hidden[0] if pooling == "CLS" else hidden.mean(dim=0)


def record(seq, hidden, pooling, logits=None):
    pooled = pool(hidden, pooling)
    seq["hidden"] = [[round(v, 6) for v in row] for row in hidden.tolist()]
    seq["pooled"] = [round(v, 6) for v in pooled.tolist()]
    seq["embedding"] = [round(v, 6) for v in F.normalize(pooled, dim=0).tolist()]
    if logits is not None:
        seq["logits"] = [round(v, 6) for v in logits.tolist()]


def write_fixture(out_dir, name, config, tensors, seqs, pooling, extra=None):
    path = os.path.join(out_dir, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    save_weights(tensors, os.path.join(path, "model.safetensors"))
    expected = {"architecture": config["architectures"][0], "pooling": pooling, "sequences": seqs}
    if extra:
        expected.update(extra)
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(expected, f)
    size = sum(os.path.getsize(os.path.join(path, x)) for x in os.listdir(path))
    print(f"{name}: {config['architectures'][0]}, {len(tensors)} tensors, {size // 1024} KB")


# ---------------------------------------------------------------------------------------------
# Transformers architectures.

def bert_config(arch, model_type, **extra):
    config = {"architectures": [arch], "model_type": model_type, "vocab_size": VOCAB, "hidden_size": 48,
              "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 96,
              "hidden_act": "gelu", "max_position_embeddings": 64, "type_vocab_size": 2,
              "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "torch_dtype": "bfloat16"}
    config.update(extra)
    return config


def hf_model(config):
    fields = {k: v for k, v in config.items() if k not in ("architectures", "model_type", "torch_dtype")}
    hf_config = transformers.AutoConfig.for_model(config["model_type"], **fields)
    hf_config.architectures = config["architectures"]
    hf_config._attn_implementation = "eager"
    model = getattr(transformers, config["architectures"][0])(hf_config)
    return model.float().eval()


def run_transformers(out_dir, name, config, seed, pooling, base_attr=None, with_types=False, pad_id=None,
                     with_logits=True):
    """base_attr: the encoder inside a task model (`bert`, `roberta`, `model`); None: the model is
    the encoder. with_logits: record the task model's logits (classifiers; not a masked LM's)."""
    torch.manual_seed(seed)
    model = hf_model(config)
    randomize(model, seed)
    encoder = getattr(model, base_attr) if base_attr else model
    seqs = sequences(seed, with_types, pad_id)
    with torch.no_grad():
        for seq in seqs:
            ids = torch.tensor([seq["input_ids"]])
            kwargs = {}
            if "token_type_ids" in seq:
                kwargs["token_type_ids"] = torch.tensor([seq["token_type_ids"]])
            hidden = encoder(input_ids=ids, **kwargs).last_hidden_state[0]
            logits = model(input_ids=ids, **kwargs).logits[0] if base_attr and with_logits else None
            record(seq, hidden, pooling, logits)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    write_fixture(out_dir, name, config, state, seqs, pooling)


def transformers_fixtures(out_dir):
    # BERT as sentence-transformers saves it: no prefix, pooler weights present; head size 24.
    run_transformers(out_dir, "bert_model", bert_config("BertModel", "bert"), 1, "CLS", with_types=True)
    # BERT cross-encoder: `bert.` prefix, pooler + classifier; one head of 48, gelu_new, 2 labels.
    run_transformers(out_dir, "bert_classifier",
                     bert_config("BertForSequenceClassification", "bert", num_attention_heads=1, intermediate_size=64,
                                 num_hidden_layers=3, hidden_act="gelu_new", layer_norm_eps=1e-7,
                                 id2label={"0": "NO", "1": "YES"}, label2id={"NO": 0, "YES": 1}),
                     2, "CLS", base_attr="bert", with_types=True)
    # BERT reranker with one label (sigmoid by default), relu.
    run_transformers(out_dir, "bert_reranker_one_label",
                     bert_config("BertForSequenceClassification", "bert", hidden_act="relu",
                                 id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}),
                     3, "CLS", base_attr="bert", with_types=True)
    # RoBERTa: position ids from padding_idx + 1, one token type, pooler weights present.
    roberta = dict(pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1, max_position_embeddings=66,
                   layer_norm_eps=1e-5)
    run_transformers(out_dir, "roberta_model", bert_config("RobertaModel", "roberta", **roberta), 4, "CLS",
                     pad_id=1)
    run_transformers(out_dir, "roberta_masked_lm",
                     bert_config("RobertaForMaskedLM", "roberta", hidden_act="gelu_pytorch_tanh", **roberta),
                     5, "CLS", base_attr="roberta", pad_id=1, with_logits=False)
    run_transformers(out_dir, "roberta_classifier",
                     bert_config("RobertaForSequenceClassification", "roberta", hidden_size=72,
                                 num_attention_heads=3, id2label={"0": "a", "1": "b", "2": "c"},
                                 label2id={"a": 0, "b": 1, "c": 2}, **roberta),
                     6, "CLS", base_attr="roberta", pad_id=1)
    # XLM-R with another padding id (the offset moves with it) and silu.
    xlmr = dict(roberta, pad_token_id=3, max_position_embeddings=68, hidden_act="silu")
    run_transformers(out_dir, "xlm_roberta_model", bert_config("XLMRobertaModel", "xlm-roberta", **xlmr), 7,
                     "CLS", pad_id=3)
    run_transformers(out_dir, "xlm_roberta_classifier",
                     bert_config("XLMRobertaForSequenceClassification", "xlm-roberta",
                                 id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}, **dict(xlmr, hidden_act="gelu")),
                     8, "CLS", base_attr="roberta", pad_id=3)
    # ModernBERT: rotary, global every 2nd layer, local window 16 (+-8) < 41 tokens, no biases.
    modern = {"architectures": ["ModernBertModel"], "model_type": "modernbert", "vocab_size": VOCAB,
              "hidden_size": 48, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
              "hidden_activation": "gelu", "max_position_embeddings": 128, "norm_eps": 1e-5, "norm_bias": False,
              "attention_bias": False, "mlp_bias": False, "classifier_bias": False, "classifier_pooling": "mean",
              "classifier_activation": "gelu", "global_attn_every_n_layers": 2, "local_attention": 16,
              "global_rope_theta": 160000.0, "local_rope_theta": 10000.0, "pad_token_id": 3, "bos_token_id": 1,
              "eos_token_id": 2, "cls_token_id": 1, "sep_token_id": 2, "tie_word_embeddings": True,
              "attention_dropout": 0.0, "mlp_dropout": 0.0, "embedding_dropout": 0.0, "classifier_dropout": 0.0,
              "torch_dtype": "bfloat16"}
    run_transformers(out_dir, "modernbert_model", modern, 9, "MEAN", pad_id=3)
    classifier = dict(modern, architectures=["ModernBertForSequenceClassification"],
                      num_attention_heads=1, num_hidden_layers=4, global_attn_every_n_layers=3, local_attention=10,
                      norm_bias=True, attention_bias=True, mlp_bias=True, classifier_bias=True,
                      classifier_pooling="cls", classifier_activation="gelu_pytorch_tanh",
                      hidden_activation="gelu_pytorch_tanh",
                      id2label={"0": "a", "1": "b", "2": "c"}, label2id={"a": 0, "b": 1, "c": 2})
    run_transformers(out_dir, "modernbert_classifier_cls", classifier, 10, "CLS", base_attr="model", pad_id=3)
    mean_classifier = dict(classifier, classifier_pooling="mean", num_attention_heads=2, id2label={"0": "a", "1": "b"},
                           label2id={"a": 0, "b": 1})
    run_transformers(out_dir, "modernbert_classifier_mean", mean_classifier, 11, "MEAN", base_attr="model",
                     pad_id=3)


# ---------------------------------------------------------------------------------------------
# Authors' code: NomicBertModel (nomic-ai/nomic-bert-2048) and the Alibaba "new" GTE
# (Alibaba-NLP/new-impl), as small torch modules with the published parameter names.

def rotate_neox(x, positions, rotary_dim, theta):
    """GPT-NeoX (non-interleaved) rotary on the first rotary_dim of each head; x [T, heads, D]."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, rotary_dim, 2, dtype=torch.float32) / rotary_dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    cos = torch.cat([freqs.cos(), freqs.cos()], dim=-1)[:, None, :]
    sin = torch.cat([freqs.sin(), freqs.sin()], dim=-1)[:, None, :]
    rot, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    half = rotary_dim // 2
    rotated = torch.cat([-rot[..., half:], rot[..., :half]], dim=-1)
    return torch.cat([rot * cos + rotated * sin, rest], dim=-1)


def attend(q, k, v):
    """Bidirectional attention, q/k/v [T, heads, D] -> [T, heads * D]."""
    scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(q.shape[-1])
    out = torch.einsum("hqk,khd->qhd", scores.softmax(dim=-1), v)
    return out.reshape(q.shape[0], -1)


ACTIVATIONS = {"gelu": F.gelu, "silu": F.silu, "swiglu": F.silu, "relu": F.relu,
               "gelu_new": lambda x: F.gelu(x, approximate="tanh")}


class NomicBert(torch.nn.Module):
    """nomic-ai's NomicBertModel with prenorm false (post-norm), SwiGLU, fused Wqkv, partial rotary."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        H, inner = c["n_embd"], c["n_inner"]
        self.embeddings = torch.nn.Module()
        self.embeddings.word_embeddings = torch.nn.Embedding(c["vocab_size"], H)
        if c["type_vocab_size"] > 0:
            self.embeddings.token_type_embeddings = torch.nn.Embedding(c["type_vocab_size"], H)
        self.emb_ln = torch.nn.LayerNorm(H, eps=c["layer_norm_epsilon"])
        self.encoder = torch.nn.Module()
        self.encoder.layers = torch.nn.ModuleList()
        for _ in range(c["n_layer"]):
            layer = torch.nn.Module()
            layer.attn = torch.nn.Module()
            layer.attn.Wqkv = torch.nn.Linear(H, 3 * H, bias=c["qkv_proj_bias"])
            layer.attn.out_proj = torch.nn.Linear(H, H, bias=c["qkv_proj_bias"])
            layer.mlp = torch.nn.Module()
            layer.mlp.fc11 = torch.nn.Linear(H, inner, bias=c["mlp_fc1_bias"])
            layer.mlp.fc12 = torch.nn.Linear(H, inner, bias=c["mlp_fc1_bias"])
            layer.mlp.fc2 = torch.nn.Linear(inner, H, bias=c["mlp_fc2_bias"])
            layer.norm1 = torch.nn.LayerNorm(H, eps=c["layer_norm_epsilon"])
            layer.norm2 = torch.nn.LayerNorm(H, eps=c["layer_norm_epsilon"])
            self.encoder.layers.append(layer)

    def forward(self, ids, types):
        c = self.c
        heads = c["n_head"]
        head_dim = c["n_embd"] // heads
        rotary_dim = int(head_dim * c["rotary_emb_fraction"])
        positions = torch.arange(ids.shape[0])
        x = self.embeddings.word_embeddings(ids)
        if c["type_vocab_size"] > 0:
            x = x + self.embeddings.token_type_embeddings(types)
        x = self.emb_ln(x)
        for layer in self.encoder.layers:
            q, k, v = layer.attn.Wqkv(x).view(x.shape[0], 3, heads, head_dim).unbind(dim=1)
            q = rotate_neox(q, positions, rotary_dim, c["rotary_emb_base"])
            k = rotate_neox(k, positions, rotary_dim, c["rotary_emb_base"])
            x = layer.norm1(x + layer.attn.out_proj(attend(q, k, v)))
            mlp = layer.mlp.fc2(layer.mlp.fc11(x) * F.silu(layer.mlp.fc12(x)))
            x = layer.norm2(x + mlp)
        return x


class GteNew(torch.nn.Module):
    """Alibaba-NLP's NewModel (gte-*-v1.5, gte-multilingual): rope, packed qkv, gated MLP
    up_gate_proj (up first, gate second), post-norm LayerNorms attn_ln / mlp_ln."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        H, inner = c["hidden_size"], c["intermediate_size"]
        self.embeddings = torch.nn.Module()
        self.embeddings.word_embeddings = torch.nn.Embedding(c["vocab_size"], H)
        if c["type_vocab_size"] > 0:
            self.embeddings.token_type_embeddings = torch.nn.Embedding(c["type_vocab_size"], H)
        self.embeddings.LayerNorm = torch.nn.LayerNorm(H, eps=c["layer_norm_eps"])
        self.encoder = torch.nn.Module()
        self.encoder.layer = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = torch.nn.Module()
            layer.attention = torch.nn.Module()
            layer.attention.qkv_proj = torch.nn.Linear(H, 3 * H, bias=True)
            layer.attention.o_proj = torch.nn.Linear(H, H, bias=True)
            layer.mlp = torch.nn.Module()
            layer.mlp.up_gate_proj = torch.nn.Linear(H, 2 * inner, bias=False)
            layer.mlp.down_proj = torch.nn.Linear(inner, H, bias=True)
            layer.attn_ln = torch.nn.LayerNorm(H, eps=c["layer_norm_eps"])
            layer.mlp_ln = torch.nn.LayerNorm(H, eps=c["layer_norm_eps"])
            self.encoder.layer.append(layer)

    def forward(self, ids, types):
        c = self.c
        heads = c["num_attention_heads"]
        head_dim = c["hidden_size"] // heads
        inner = c["intermediate_size"]
        act = ACTIVATIONS[c["hidden_act"]]
        positions = torch.arange(ids.shape[0])
        x = self.embeddings.word_embeddings(ids)
        if c["type_vocab_size"] > 0:
            x = x + self.embeddings.token_type_embeddings(types)
        x = self.embeddings.LayerNorm(x)
        for layer in self.encoder.layer:
            q, k, v = layer.attention.qkv_proj(x).view(x.shape[0], 3, heads, head_dim).unbind(dim=1)
            q = rotate_neox(q, positions, head_dim, c["rope_theta"])
            k = rotate_neox(k, positions, head_dim, c["rope_theta"])
            x = layer.attn_ln(x + layer.attention.o_proj(attend(q, k, v)))
            up, gate = layer.mlp.up_gate_proj(x).split([inner, inner], dim=-1)
            x = layer.mlp_ln(x + layer.mlp.down_proj(act(gate) * up))
        return x


def run_authors(out_dir, name, config, module, seed, pooling, with_types):
    torch.manual_seed(seed)
    model = module(config).float().eval()
    randomize(model, seed)
    seqs = sequences(seed, with_types)
    with torch.no_grad():
        for seq in seqs:
            ids = torch.tensor(seq["input_ids"])
            types = torch.tensor(seq.get("token_type_ids", [0] * len(seq["input_ids"])))
            record(seq, model(ids, types), pooling)
    write_fixture(out_dir, name, config, dict(model.state_dict()), seqs, pooling)


def nomic_config(**extra):
    config = {"architectures": ["NomicBertModel"], "model_type": "nomic_bert",
              "auto_map": {"AutoConfig": "nomic-ai/nomic-bert-2048--configuration_hf_nomic_bert.NomicBertConfig",
                           "AutoModel": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert.NomicBertModel"},
              "activation_function": "swiglu", "vocab_size": VOCAB, "n_embd": 72, "n_head": 3, "n_inner": 64,
              "n_layer": 2, "n_positions": 2048, "layer_norm_epsilon": 1e-12, "rotary_emb_fraction": 1.0,
              "rotary_emb_base": 1000, "rotary_emb_interleaved": False, "rotary_emb_scale_base": None,
              "rotary_scaling_factor": None, "qkv_proj_bias": False, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
              "prenorm": False, "causal": False, "type_vocab_size": 2, "use_rms_norm": False, "parallel_block": False,
              "pad_vocab_size_multiple": 8, "torch_dtype": "bfloat16"}
    config.update(extra)
    return config


def gte_config(arch, model_type, **extra):
    config = {"architectures": [arch], "model_type": model_type, "vocab_size": VOCAB, "hidden_size": 48,
              "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "hidden_act": "gelu",
              "max_position_embeddings": 8192, "layer_norm_eps": 1e-12, "layer_norm_type": "layer_norm",
              "position_embedding_type": "rope", "rope_theta": 500000.0, "rope_scaling": None,
              "type_vocab_size": 2, "pack_qkv": True, "logn_attention_scale": False,
              "logn_attention_clip1": False, "unpad_inputs": False, "use_memory_efficient_attention": False,
              "pad_token_id": 0, "torch_dtype": "bfloat16"}
    config.update(extra)
    return config


def authors_fixtures(out_dir):
    run_authors(out_dir, "nomic_bert", nomic_config(), NomicBert, 20, "MEAN", True)
    # Half of one 48-wide head rotated, biased qkv and fc1/fc2 (the nomic-bert-2048 switches).
    run_authors(out_dir, "nomic_bert_partial_rotary",
                nomic_config(n_embd=48, n_head=1, n_inner=48, rotary_emb_fraction=0.5, rotary_emb_base=10000,
                             qkv_proj_bias=True, mlp_fc1_bias=True, mlp_fc2_bias=True, layer_norm_epsilon=1e-5),
                NomicBert, 21, "MEAN", True)
    # gte-base-en-v1.5 / gte-multilingual-base published as NewModel; served as GteNewModel
    # (vLLM's --hf-overrides '{"architectures": ["GteNewModel"]}').
    run_authors(out_dir, "gte_new", gte_config("GteNewModel", "new", auto_map={
        "AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
        "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel"}), GteNew, 22, "CLS", True)
    # Snowflake's arctic-embed-m-v2.0 (GteModel, model_type "gte"): the same layers, one token type.
    run_authors(out_dir, "gte_snowflake", gte_config("GteModel", "gte", hidden_size=72, num_attention_heads=3,
                                                     type_vocab_size=1, rope_theta=160000.0, hidden_act="silu",
                                                     layer_norm_eps=1e-5),
                GteNew, 23, "CLS", False)


# ---------------------------------------------------------------------------------------------
# A sentence-transformers folder: BertModel + MEAN pooling + Normalize, with a WordPiece tokenizer.

WORDS = ("the cat dog sat on mat a bird flew over house red blue green tree sky sun moon star "
         "run jump play eat food water fire stone river city road car book read write").split()


def sentence_transformers_fixture(out_dir):
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    name = "st_bert_mean_normalize"
    path = os.path.join(out_dir, name)
    os.makedirs(path, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz")
    pieces = specials + WORDS + ["##s", "##ed", "##ing", "##er"] + letters + ["##" + c for c in letters]
    vocab = {p: i for i, p in enumerate(pieces)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                                model_max_length=64)
    fast.save_pretrained(path)

    config = bert_config("BertModel", "bert", vocab_size=len(pieces), hidden_size=48, num_attention_heads=2)
    torch.manual_seed(30)
    model = hf_model(config)
    randomize(model, 30)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    save_weights(state, os.path.join(path, "model.safetensors"))
    with open(os.path.join(path, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize"}], f, indent=2)
    with open(os.path.join(path, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": 64, "do_lower_case": False}, f, indent=2)
    os.makedirs(os.path.join(path, "1_Pooling"), exist_ok=True)
    with open(os.path.join(path, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 48, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
                   "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
                   "pooling_mode_weightedmean_tokens": False, "pooling_mode_lasttoken": False,
                   "include_prompt": True}, f, indent=2)
    os.makedirs(os.path.join(path, "2_Normalize"), exist_ok=True)

    texts = ["the cat sat", "a red bird flew over the green tree", "dogs running on the road",
             " ".join(WORDS) + " reading writer jumped"]
    st = SentenceTransformer(path, device="cpu").float()
    embeddings = st.encode(texts, convert_to_tensor=True, batch_size=1).float()
    seqs = []
    with torch.no_grad():
        for text, embedding in zip(texts, embeddings):
            ids = fast(text)["input_ids"]
            hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0]
            seq = {"text": text, "input_ids": ids}
            record(seq, hidden, "MEAN")
            seq["st_embedding"] = [round(v, 6) for v in embedding.tolist()]
            seqs.append(seq)
    expected = {"architecture": "BertModel", "pooling": "MEAN", "normalize": True, "sequences": seqs}
    with open(os.path.join(path, "expected.json"), "w") as f:
        json.dump(expected, f)
    print(f"{name}: sentence-transformers folder, {len(texts)} texts "
          f"(token counts {[len(s['input_ids']) for s in seqs]})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="tests/data/encoders")
    parser.add_argument("--clean", action="store_true", help="remove the output folder first")
    args = parser.parse_args()
    if args.clean and os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out, exist_ok=True)
    torch.set_grad_enabled(False)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    transformers_fixtures(args.out)
    authors_fixtures(args.out)
    sentence_transformers_fixture(args.out)


if __name__ == "__main__":
    main()
