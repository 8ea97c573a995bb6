"""vllm_cpp.LLM.embed / classify / encode on the tiny pooling fixtures of tests/data/pooling, whose
expected values were computed by HF transformers (tools/make_pooling_fixtures.py)."""
import json
import os
import unittest

from support import POOLING_FIXTURES, needs_module, vllm_cpp


def fixture(name):
    path = os.path.join(POOLING_FIXTURES, name)
    if not os.path.exists(os.path.join(path, "expected.json")):
        raise unittest.SkipTest(f"tests/data/pooling/{name} is absent")
    with open(os.path.join(path, "expected.json")) as file:
        return path, json.load(file)


def pooling_llm(path, **kwargs):
    # The fixtures have no tokenizer: token-id prompts only.
    return vllm_cpp.LLM(model=path, runner="pooling", skip_tokenizer_init=True, dtype="float32", **kwargs)


@needs_module
class PoolingTest(unittest.TestCase):
    def assert_close(self, got, expected, what):
        self.assertEqual(len(got), len(expected), what)
        for index, (a, b) in enumerate(zip(got, expected)):
            self.assertAlmostEqual(a, b, delta=1e-3, msg=f"{what}[{index}]")

    def test_embed_matches_transformers(self):
        path, expected = fixture("qwen3_model_embed")
        llm = pooling_llm(path)
        prompts = [vllm_cpp.TokensPrompt(prompt_token_ids=item["input_ids"]) for item in expected["prompts"]]
        outputs = llm.embed(prompts)
        self.assertEqual(len(outputs), len(prompts))
        for output, item in zip(outputs, expected["prompts"]):
            self.assertIsInstance(output, vllm_cpp.EmbeddingRequestOutput)
            self.assertEqual(output.prompt_token_ids, item["input_ids"])
            self.assertTrue(output.finished)
            self.assert_close(output.outputs.embedding, item["embedding"], "embedding")
        # PoolingParams reach the engine: this model is not Matryoshka, so `dimensions` is refused as vLLM does.
        with self.assertRaisesRegex(ValueError, "matryoshka"):
            llm.embed(prompts[:1], pooling_params=vllm_cpp.PoolingParams(dimensions=8))
        # encode: the raw pooled output in its shape, one hidden-size row per prompt token.
        raw = llm.encode(prompts[:1])[0]
        self.assertIsInstance(raw.outputs, vllm_cpp.PoolingOutput)
        self.assertEqual(len(raw.outputs.data), len(expected["prompts"][0]["input_ids"]))
        self.assertEqual({len(row) for row in raw.outputs.data}, {len(expected["prompts"][0]["embedding"])})

    def test_classify_matches_transformers(self):
        path, expected = fixture("qwen3_seq_cls")
        llm = pooling_llm(path)
        prompts = [{"prompt_token_ids": item["input_ids"]} for item in expected["prompts"]]
        for output, item in zip(llm.classify(prompts), expected["prompts"]):
            self.assertIsInstance(output, vllm_cpp.ClassificationRequestOutput)
            self.assertEqual(output.outputs.num_classes, len(item["probs"]))
            self.assert_close(output.outputs.probs, item["probs"], "probs")
        raw = llm.classify(prompts[:1], pooling_params=vllm_cpp.PoolingParams(activation=False))[0]
        self.assert_close(raw.outputs.probs, expected["prompts"][0]["logits"], "logits")

    def test_generate_on_a_pooling_model_raises(self):
        path, expected = fixture("qwen3_model_embed")
        llm = pooling_llm(path)
        with self.assertRaises(ValueError):
            llm.generate({"prompt_token_ids": expected["prompts"][0]["input_ids"]})


if __name__ == "__main__":
    unittest.main()
