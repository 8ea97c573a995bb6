#!/usr/bin/env python3
"""Builds the HF parity fixtures for pooling models (issue 25).

Each fixture is a tiny random-weight checkpoint (bf16 safetensors, weights rounded to bf16 before
the reference runs in fp32) with a hand-written config.json, and `expected.json` holding, per
prompt, its token ids and what the model's pooling task must return:
  - "embedding": the last token's final hidden state, L2-normalised (vLLM's as_embedding_model)
    and "mean_embedding": the normalised mean over the prompt (for --pooler-config MEAN);
  - "logits" / "probs": a classifier's raw scores and its activation (softmax for >= 2 labels,
    sigmoid for one, as vLLM's PoolerClassify);
  - "token_scores": a reward model's per-token head output [L, num_labels];
  - "step_probs" / "step_logits": STEP pooling (rows whose token is step_tag_id, columns
    returned_token_ids when set) with and without softmax;
  - "score": the Qwen3-Reranker conversion (softmax over the "no"/"yes" logits, the "yes" share).
Prompts use token ids 3.. (never the pad id 0), so HF's "last non-pad token" of
*ForSequenceClassification is the last token, as vLLM pools it.

Runs where PyTorch, transformers and tokenizers are installed (no network, < 2 min CPU):
    python3 tools/make_pooling_fixtures.py --out tests/data/pooling
"""
import argparse
import json
import math
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authors_code_reference  # noqa: E402

VOCAB = 512
PROMPT_LENGTHS = (5, 13, 27)
STEP_TAG = 7          # the PRM fixtures' step tag token (vLLM takes it from --pooler-config)
RETURNED = [10, 11]   # the Llama PRM's returned_token_ids
NO_TOKEN, YES_TOKEN = 3, 4  # the reranker tokenizer's "no" and "yes"


def base(arch, model_type, **extra):
    config = {
        "architectures": [arch], "model_type": model_type, "vocab_size": VOCAB, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
        "pad_token_id": 0, "tie_word_embeddings": False, "rope_theta": 10000.0, "torch_dtype": "bfloat16",
    }
    config.update(extra)
    return config


def labels(n):
    return {"id2label": {str(i): f"LABEL_{i}" for i in range(n)}, "label2id": {f"LABEL_{i}": i for i in range(n)}}


def randomize(model, generator, gemma_norms=False):
    """Weights with clear margins; norm weights away from 1 (from 0 for Gemma's (1 + w)); then
    every parameter rounded to bf16 so the fp32 reference reads what the checkpoint stores."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name or "ln_" in name or (param.dim() == 1 and not name.endswith("bias")):
                param.copy_((0.0 if gemma_norms else 1.0) + 0.2 * torch.randn(param.shape, generator=generator))
            elif name.endswith("bias"):
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
            else:
                param.copy_(torch.randn(param.shape, generator=generator) * (1.5 / math.sqrt(param.shape[-1])))
            param.copy_(param.to(torch.bfloat16).float())


def save(directory, config, state, tokenizer=None):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    state = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in state.items()}
    save_file(state, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.save(os.path.join(directory, "tokenizer.json"))
        with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": "<pad>", "bos_token": "<s>",
                       "eos_token": "</s>", "model_max_length": 256}, f, indent=2)


def word_tokenizer():
    """A WordLevel tokenizer over the fixture vocabulary: "<pad>" 0, "<s>" 1, "</s>" 2, "no" 3,
    "yes" 4, "w5".."w511"; whitespace-split, no post-processor (a pair is the two texts' tokens)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "no": NO_TOKEN, "yes": YES_TOKEN}
    vocab.update({f"w{i}": i for i in range(5, VOCAB)})
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer


def word(i):
    return {0: "<pad>", 1: "<s>", 2: "</s>", NO_TOKEN: "no", YES_TOKEN: "yes"}.get(i, f"w{i}")


def hf_config_of(config):
    """The transformers config of `config` with eager attention: sdpa drops Gemma 2's
    attn_logit_softcapping, so an sdpa reference is not the model the config describes."""
    hf_config = transformers.AutoConfig.for_model(**{k: v for k, v in config.items() if k != "architectures"})
    hf_config._attn_implementation = "eager"
    return hf_config


def prompts(generator, step_tag=False):
    out = []
    for length in PROMPT_LENGTHS:
        ids = torch.randint(5, VOCAB, (length,), generator=generator)
        if step_tag:  # a step tag after every few tokens, and last
            ids[2::4] = STEP_TAG
            ids[-1] = STEP_TAG
        out.append(ids.tolist())
    return out


def hidden_of(model, ids):
    return model(torch.tensor([ids])).last_hidden_state[0].float()


def embeddings(hidden):
    return {"embedding": nn.functional.normalize(hidden[-1], dim=-1).tolist(),
            "mean_embedding": nn.functional.normalize(hidden.mean(0), dim=-1).tolist()}


def classify(logits):
    probs = torch.sigmoid(logits) if logits.numel() == 1 else torch.softmax(logits, dim=-1)
    return {"logits": logits.tolist(), "probs": probs.tolist()}


def write_expected(directory, name, task, records, **extra):
    expected = {"transformers": transformers.__version__, "torch": torch.__version__, "task": task,
                "prompts": records, **extra}
    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump(expected, f)
    size = sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory))
    print(f"{name}: {size // 1024} KB")


# --- fixtures ---------------------------------------------------------------------------------

def embedder(directory, name, generator, config, model_class, gemma=False, prefix=""):
    """A base model (Qwen3Model, Qwen2Model, Gemma2Model: no `model.` prefix, no lm_head) or a
    CausalLM (`prefix` "model.", served with --convert embed)."""
    hf_config = hf_config_of(config)
    model = model_class(hf_config).eval()
    randomize(model, generator, gemma)
    save(directory, config, model.state_dict())
    trunk = model.model if prefix else model
    records = []
    with torch.no_grad():
        for ids in prompts(generator):
            records.append({"input_ids": ids, **embeddings(hidden_of(trunk, ids))})
    write_expected(directory, name, "embed", records)


def classifier(directory, name, generator, config, model_class, gemma=False, tokenizer=None):
    hf_config = hf_config_of(config)
    model = model_class(hf_config).float().eval()  # transformers 5 builds parts in the config dtype
    randomize(model, generator, gemma)
    save(directory, config, model.state_dict(), tokenizer)
    records = []
    with torch.no_grad():
        for ids in prompts(generator):
            logits = model(torch.tensor([ids])).logits[0].float()
            record = {"input_ids": ids, **classify(logits)}
            if tokenizer is not None:
                record["text"] = " ".join(word(i) for i in ids)
            records.append(record)
    write_expected(directory, name, "classify", records)


class RewardReference(nn.Module):
    """Qwen2ForRewardModel / Qwen2ForProcessRewardModel (Qwen's modeling_qwen2_rm.py /
    modeling_qwen2_prm.py): Qwen2Model, then score = Linear(H, H) -> ReLU -> Linear(H, num_labels)
    on every token."""

    def __init__(self, config, num_labels):
        super().__init__()
        self.model = transformers.Qwen2Model(config)
        h = config.hidden_size
        self.score = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, num_labels))

    def forward(self, ids):
        return self.score(self.model(torch.tensor([ids])).last_hidden_state[0]).float()


def qwen2_reward(directory, name, generator, process):
    arch = "Qwen2ForProcessRewardModel" if process else "Qwen2ForRewardModel"
    num_labels = 2 if process else 1
    config = base(arch, "qwen2", num_labels=num_labels, use_sliding_window=False, sliding_window=None,
                  max_window_layers=2)
    hf_config = hf_config_of(config)
    model = RewardReference(hf_config, num_labels).eval()
    randomize(model, generator)
    save(directory, config, model.state_dict())
    records = []
    with torch.no_grad():
        for ids in prompts(generator, step_tag=process):
            scores = model(ids)
            record = {"input_ids": ids, "token_scores": scores.tolist()}
            if process:  # vLLM: STEP pooling with softmax; step_tag_id from --pooler-config
                rows = scores[torch.tensor(ids) == STEP_TAG]
                record["step_probs"] = torch.softmax(rows, dim=-1).tolist()
            records.append(record)
    write_expected(directory, name, "encode", records, step_tag_id=STEP_TAG if process else None)


class InternLM2RewardReference(nn.Module):
    """InternLM2ForRewardModel (internlm's modeling_internlm2.py): InternLM2Model (the Llama layout
    with grouped wqkv, rebuilt here as LlamaModel) and v_head = Linear(H, 1, bias=False) on every
    token."""

    def __init__(self, config):
        super().__init__()
        self.model = transformers.LlamaModel(config)
        self.v_head = nn.Linear(config.hidden_size, 1, bias=False)

    def forward(self, ids):
        return self.v_head(self.model(torch.tensor([ids])).last_hidden_state[0]).float()


def internlm2_reward(directory, name, generator):
    config = base("InternLM2ForRewardModel", "internlm2", bias=False)
    llama = {k: v for k, v in config.items() if k not in ("architectures", "bias")}
    llama["model_type"] = "llama"
    model = InternLM2RewardReference(hf_config_of(llama)).eval()
    randomize(model, generator)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    v_head = state.pop("v_head.weight")
    state = authors_code_reference.CONVERTERS["internlm2"](state, config)
    state["v_head.weight"] = v_head
    save(directory, config, state)
    records = []
    with torch.no_grad():
        for ids in prompts(generator):
            records.append({"input_ids": ids, "token_scores": model(ids).tolist()})
    write_expected(directory, name, "encode", records)


def llama_prm(directory, name, generator):
    """LlamaForCausalLM as a process reward model (math-shepherd style): STEP pooling over the
    logits, columns returned_token_ids, rows whose token is step_tag_id."""
    config = base("LlamaForCausalLM", "llama")
    model = transformers.LlamaForCausalLM(
        hf_config_of(config)).eval()
    randomize(model, generator)
    save(directory, config, model.state_dict())
    records = []
    with torch.no_grad():
        for ids in prompts(generator, step_tag=True):
            logits = model(torch.tensor([ids])).logits[0].float()
            rows = logits[torch.tensor(ids) == STEP_TAG][:, RETURNED]
            records.append({"input_ids": ids, "step_logits": rows.tolist(),
                            "step_probs": torch.softmax(rows, dim=-1).tolist()})
    write_expected(directory, name, "encode", records, step_tag_id=STEP_TAG, returned_token_ids=RETURNED)


def qwen3_reranker(directory, name, generator):
    """A Qwen3-Reranker-style checkpoint: Qwen3ForCausalLM whose score is P(yes) over {no, yes} at
    the last token; served with --hf-overrides '{"architectures": ["Qwen3ForSequenceClassification"],
    "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}'."""
    config = base("Qwen3ForCausalLM", "qwen3", head_dim=16, attention_bias=False, use_sliding_window=False,
                  sliding_window=None, max_window_layers=2)
    model = transformers.Qwen3ForCausalLM(
        hf_config_of(config)).eval()
    randomize(model, generator)
    save(directory, config, model.state_dict(), word_tokenizer())
    records = []
    with torch.no_grad():
        ps = prompts(generator)
        for ids in ps:
            logits = model(torch.tensor([ids])).logits[0, -1].float()
            pair = torch.stack([logits[NO_TOKEN], logits[YES_TOKEN]])
            records.append({"input_ids": ids, "text": " ".join(word(i) for i in ids),
                            "score": float(torch.softmax(pair, dim=-1)[1])})
        # A query/document pair: the tokenizer has no pair template, so the pair is the two texts'
        # tokens one after the other.
        query, document = ps[0], ps[1]
        logits = model(torch.tensor([query + document])).logits[0, -1].float()
        pair = {"query": " ".join(word(i) for i in query), "document": " ".join(word(i) for i in document),
                "score": float(torch.softmax(torch.stack([logits[NO_TOKEN], logits[YES_TOKEN]]), dim=-1)[1])}
    write_expected(directory, name, "score", records, pair=pair)


def qwen_extra(**extra):
    return dict(use_sliding_window=False, sliding_window=None, max_window_layers=2, **extra)


def build(out_dir, only):
    T = transformers
    jobs = {
        "qwen3_model_embed": lambda d, n, g: embedder(
            d, n, g, base("Qwen3Model", "qwen3", head_dim=16, attention_bias=False, **qwen_extra()), T.Qwen3Model),
        "qwen2_model_embed": lambda d, n, g: embedder(
            d, n, g, base("Qwen2Model", "qwen2", **qwen_extra()), T.Qwen2Model),
        "gemma2_model_embed": lambda d, n, g: embedder(
            d, n, g, base("Gemma2Model", "gemma2", head_dim=16, hidden_activation="gelu_pytorch_tanh",
                          hidden_act="gelu_pytorch_tanh", rms_norm_eps=1e-6, query_pre_attn_scalar=16,
                          sliding_window=8, attn_logit_softcapping=5.0, final_logit_softcapping=3.0,
                          tie_word_embeddings=True), T.Gemma2Model, gemma=True),
        "llama_convert_embed": lambda d, n, g: embedder(
            d, n, g, base("LlamaForCausalLM", "llama"), T.LlamaForCausalLM, prefix="model."),
        "qwen2_seq_cls": lambda d, n, g: classifier(
            d, n, g, base("Qwen2ForSequenceClassification", "qwen2", **qwen_extra(**labels(3))),
            T.Qwen2ForSequenceClassification, tokenizer=word_tokenizer()),
        "qwen3_seq_cls": lambda d, n, g: classifier(
            d, n, g, base("Qwen3ForSequenceClassification", "qwen3", head_dim=16, attention_bias=False,
                          **qwen_extra(**labels(1))), T.Qwen3ForSequenceClassification),
        "gpt2_seq_cls": lambda d, n, g: classifier(
            d, n, g, {"architectures": ["GPT2ForSequenceClassification"], "model_type": "gpt2", "vocab_size": VOCAB,
                      "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 64, "n_inner": 128,
                      "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "bos_token_id": 1,
                      "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "bfloat16", **labels(2)},
            T.GPT2ForSequenceClassification),
        "gemma_seq_cls": lambda d, n, g: classifier(
            d, n, g, base("GemmaForSequenceClassification", "gemma", head_dim=16, num_key_value_heads=1,
                          hidden_act="gelu_pytorch_tanh", hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
                          tie_word_embeddings=True, **labels(2)),
            T.GemmaForSequenceClassification, gemma=True),
        # A LlamaForCausalLM config over a checkpoint with score.weight: --convert classify.
        "llama_convert_classify": lambda d, n, g: classifier(
            d, n, g, base("LlamaForCausalLM", "llama", **labels(3)), T.LlamaForSequenceClassification),
        "qwen2_reward": lambda d, n, g: qwen2_reward(d, n, g, process=False),
        "qwen2_process_reward": lambda d, n, g: qwen2_reward(d, n, g, process=True),
        "internlm2_reward": internlm2_reward,
        "llama_process_reward": llama_prm,
        "qwen3_reranker": qwen3_reranker,
    }
    failures = 0
    for index, (name, job) in enumerate(sorted(jobs.items())):
        if only and name not in only:
            continue
        directory = os.path.join(out_dir, name)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        try:
            job(directory, name, torch.Generator().manual_seed(2000 + index))
        except Exception as error:  # keep going: report every broken fixture in one run
            failures += 1
            import traceback
            traceback.print_exc()
            print(f"{name}: FAILED {type(error).__name__}: {error}", file=sys.stderr)
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    torch.manual_seed(0)
    sys.exit(1 if build(args.out, args.only) else 0)


if __name__ == "__main__":
    main()
