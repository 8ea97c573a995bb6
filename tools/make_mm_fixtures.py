#!/usr/bin/env python3
"""Builds the multimodal HF parity fixture: a tiny random LlavaForConditionalGeneration.

Writes one folder (default tests/data/mm/llava_tiny) with the checkpoint (fp32 safetensors,
transformers' own save_pretrained names), its tokenizer (a word-level tokenizer whose "<image>" is
the image token) and chat template, the CLIPImageProcessor's preprocessor_config.json, two test
images made here (a non-square PNG and a JPEG, in images/), and expected.json with, per case
(one image, two images, text only): the chat messages, the prompt token ids LlavaProcessor makes
(placeholders expanded), the slow CLIPImageProcessor's pixel values per image (and the fast
processor's when it exists), the top-5 logprobs of the first generated token and a greedy
continuation from HF's fp32 forward. tests/multimodal/test_hf_parity.cpp reads it.

Runs where PyTorch, transformers (5.x) and Pillow are installed, without network:
    python3 tools/make_mm_fixtures.py --out tests/data/mm/llava_tiny
"""
import argparse
import json
import os

import torch
from PIL import Image
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
from transformers import (CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor,
                          PreTrainedTokenizerFast)

WORDS = ["<unk>", "<s>", "</s>", "user:", "assistant:", "what", "is", "this", "a", "cat", "dog", "red", "blue",
         "and", "the", "picture", "hello", "world"]
VOCAB = 64
IMAGE_TOKEN = VOCAB - 1
IMAGE_SIZE = 56
PATCH = 14
TOP_K = 5
NEW_TOKENS = 6
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}{% if c['type'] == 'image' %}"
                 "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


def make_tokenizer():
    vocab = {word: i for i, word in enumerate(WORDS)}
    for i in range(len(WORDS), IMAGE_TOKEN):
        vocab[f"w{i}"] = i
    vocab["<image>"] = IMAGE_TOKEN
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    assert fast.convert_tokens_to_ids("<image>") == IMAGE_TOKEN
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_model():
    config = LlavaConfig(
        text_config={"model_type": "llama", "vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "eos_token_id": 2, "bos_token_id": 1},
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 3, "num_attention_heads": 4, "image_size": IMAGE_SIZE,
                       "patch_size": PATCH, "hidden_act": "quick_gelu"},
        image_token_id=IMAGE_TOKEN, vision_feature_layer=-2, vision_feature_select_strategy="default",
        projector_hidden_act="gelu")
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval().float()
    with torch.no_grad():  # weights large enough that the image moves the logits
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.dim() >= 2 or "embedding" in name:
                p.normal_(0.0, 0.15)
            else:
                p.normal_(0.0, 0.05)
    return model


def make_images(folder):
    os.makedirs(folder, exist_ok=True)
    png = Image.new("RGB", (75, 50))
    png.putdata([((x * 7) % 256, (y * 11) % 256, (x * y) % 256) for y in range(50) for x in range(75)])
    png.save(os.path.join(folder, "wide.png"))
    jpeg = Image.new("RGB", (40, 64))
    jpeg.putdata([((x * 13 + y) % 256, (255 - y * 4) % 256, (x * 5) % 256) for y in range(64) for x in range(40)])
    jpeg.save(os.path.join(folder, "tall.jpg"), quality=90)
    return ["images/wide.png", "images/tall.jpg"]


def compact(expected):
    """Keeps the fixture small: pixel values to 7 significant digits (float32 holds about 7), and
    the fast processor's values only where they differ from the slow one's."""
    for case in expected["cases"]:
        if case.get("pixel_values_fast") == case.get("pixel_values"):
            case.pop("pixel_values_fast", None)
        for key in ("pixel_values", "pixel_values_fast"):
            if key in case:
                case[key] = [[float(f"{v:.7g}") for v in image] for image in case[key]]
    return expected


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/data/mm/llava_tiny")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tokenizer = make_tokenizer()
    image_processor = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                         crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=PATCH,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE, image_token="<image>")
    model = make_model()
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    image_processor.save_pretrained(args.out)
    files = make_images(os.path.join(args.out, "images"))
    try:
        from transformers import CLIPImageProcessorFast
        fast = CLIPImageProcessorFast(size={"shortest_edge": IMAGE_SIZE},
                                      crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    except ImportError:
        fast = None

    cases = []
    for name, images in (("one_image", files[:1]), ("two_images", files), ("text_only", [])):
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": "what is this picture"}]
        messages = [{"role": "user", "content": content}]
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        pil = [Image.open(os.path.join(args.out, f)).convert("RGB") for f in images]
        inputs = processor(text=prompt, images=pil or None, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            top = torch.topk(logprobs, TOP_K)
            generated = model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                                       do_sample=False)
        case = {
            "name": name,
            "images": images,
            "text": "what is this picture",
            "prompt": prompt,
            "prompt_token_ids": inputs["input_ids"][0].tolist(),
            "top_logprobs": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
            "top2_margin": float(top.values[0] - top.values[1]),
            "greedy": generated[0, inputs["input_ids"].shape[1]:].tolist(),
        }
        if pil:
            case["pixel_values"] = [p.flatten().tolist() for p in inputs["pixel_values"]]
            case["pixel_shape"] = list(inputs["pixel_values"].shape[1:])
            if fast is not None:
                case["pixel_values_fast"] = [p.flatten().tolist()
                                             for p in fast(images=pil, return_tensors="pt")["pixel_values"]]
        cases.append(case)
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(compact({"transformers": __import__("transformers").__version__, "top_k": TOP_K, "cases": cases}), f)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
