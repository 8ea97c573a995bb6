"""vllm_cpp.SamplingParams, PoolingParams, the output classes and LLM's keyword arguments, without a model."""
import dataclasses
import json
import unittest

from support import needs_module, vllm_cpp


@needs_module
class SamplingParamsTest(unittest.TestCase):
    def test_defaults_are_vllms(self):
        # vLLM's defaults (vllm/sampling_params.py).
        expected = {
            "n": 1, "best_of": None, "presence_penalty": 0.0, "frequency_penalty": 0.0, "repetition_penalty": 1.0,
            "temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "seed": None, "stop": None,
            "stop_token_ids": None, "bad_words": None, "ignore_eos": False, "max_tokens": 16, "min_tokens": 0,
            "logprobs": None, "prompt_logprobs": None, "detokenize": True, "skip_special_tokens": True,
            "spaces_between_special_tokens": True, "include_stop_str_in_output": False,
            "truncate_prompt_tokens": None, "structured_outputs": None, "logit_bias": None,
            "allowed_token_ids": None,
        }
        params = vllm_cpp.SamplingParams()
        for name, value in expected.items():
            self.assertEqual(getattr(params, name), value, name)

    def test_fields_keep_given_values(self):
        params = vllm_cpp.SamplingParams(n=2, temperature=0.5, top_p=0.9, top_k=40, min_p=0.05, seed=7,
                                         stop=["\n\n"], stop_token_ids=[2], max_tokens=32, min_tokens=4,
                                         logprobs=3, prompt_logprobs=1, presence_penalty=0.5,
                                         frequency_penalty=-0.5, repetition_penalty=1.1, ignore_eos=True,
                                         skip_special_tokens=False)
        self.assertEqual((params.n, params.temperature, params.top_p, params.top_k, params.min_p, params.seed),
                         (2, 0.5, 0.9, 40, 0.05, 7))
        self.assertEqual((params.stop, params.stop_token_ids, params.max_tokens, params.min_tokens),
                         (["\n\n"], [2], 32, 4))
        self.assertEqual((params.logprobs, params.prompt_logprobs), (3, 1))
        self.assertEqual((params.presence_penalty, params.frequency_penalty, params.repetition_penalty),
                         (0.5, -0.5, 1.1))
        self.assertTrue(params.ignore_eos)
        self.assertFalse(params.skip_special_tokens)
        self.assertEqual(vllm_cpp.SamplingParams(stop="END").stop, ["END"])  # a string is one stop string

    def test_invalid_values_raise_value_error_with_vllms_message(self):
        with self.assertRaisesRegex(ValueError, "temperature must be non-negative"):
            vllm_cpp.SamplingParams(temperature=-1.0)
        with self.assertRaisesRegex(ValueError, "top_p must be in"):
            vllm_cpp.SamplingParams(top_p=0.0)
        with self.assertRaisesRegex(ValueError, "n must be at least 1"):
            vllm_cpp.SamplingParams(n=0)
        with self.assertRaisesRegex(ValueError, "max_tokens must be at least 1"):
            vllm_cpp.SamplingParams(max_tokens=0)
        with self.assertRaises(ValueError):
            vllm_cpp.SamplingParams(min_tokens=5, max_tokens=2)

    def test_unknown_field_raises_type_error(self):
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'temprature'"):
            vllm_cpp.SamplingParams(temprature=0.0)

    def test_python_logits_processors_are_refused(self):
        with self.assertRaises(NotImplementedError):
            vllm_cpp.SamplingParams(logits_processors=[lambda ids, logits: logits])

    def test_structured_outputs_become_the_request_field(self):
        constraint = vllm_cpp.StructuredOutputsParams(choice=["yes", "no"])
        body = json.loads(vllm_cpp.SamplingParams(structured_outputs=constraint)._to_json())
        self.assertEqual(body["structured_outputs"], {"choice": ["yes", "no"]})
        older = vllm_cpp.SamplingParams(guided_decoding=vllm_cpp.GuidedDecodingParams(regex="[0-9]+"))
        self.assertEqual(json.loads(older._to_json())["structured_outputs"], {"regex": "[0-9]+"})
        with self.assertRaises(ValueError):
            vllm_cpp.StructuredOutputsParams(choice=["a"], regex="a")

    def test_max_tokens_none_means_up_to_the_context(self):
        self.assertIsNone(json.loads(vllm_cpp.SamplingParams(max_tokens=None)._to_json())["max_tokens"])

    def test_clone_is_independent(self):
        params = vllm_cpp.SamplingParams(stop=["a"])
        copy = params.clone()
        copy.stop.append("b")
        self.assertEqual(params.stop, ["a"])
        self.assertEqual(params, vllm_cpp.SamplingParams(stop=["a"]))


@needs_module
class OutputClassesTest(unittest.TestCase):
    def test_field_names_are_vllms(self):
        def names(cls):
            return [field.name for field in dataclasses.fields(cls)]
        self.assertEqual(names(vllm_cpp.CompletionOutput)[:7],
                         ["index", "text", "token_ids", "cumulative_logprob", "logprobs", "finish_reason",
                          "stop_reason"])
        for name in ["request_id", "prompt", "prompt_token_ids", "prompt_logprobs", "outputs", "finished",
                     "num_cached_tokens"]:
            self.assertIn(name, names(vllm_cpp.RequestOutput))
        self.assertEqual(names(vllm_cpp.Logprob), ["logprob", "rank", "decoded_token"])
        self.assertEqual(names(vllm_cpp.EmbeddingOutput), ["embedding"])
        self.assertEqual(names(vllm_cpp.ClassificationOutput), ["probs"])
        self.assertEqual(names(vllm_cpp.ScoringOutput), ["score"])
        self.assertEqual(names(vllm_cpp.EmbeddingRequestOutput),
                         ["request_id", "outputs", "prompt_token_ids", "finished"])


@needs_module
class EngineKeywordsTest(unittest.TestCase):
    def flags(self, **kwargs):
        from vllm_cpp.llm import engine_flags
        return engine_flags("m", kwargs)

    def test_vllm_names_become_engine_flags(self):
        self.assertEqual(self.flags(max_model_len=128, dtype="float32", seed=3),
                         ["--model", "m", "--max-model-len", "128", "--dtype", "float32", "--seed", "3"])
        self.assertEqual(self.flags(enforce_eager=True, enable_prefix_caching=False),
                         ["--model", "m", "--enforce-eager", "--no-enable-prefix-caching"])
        self.assertEqual(self.flags(hf_overrides={"max_position_embeddings": 64}),
                         ["--model", "m", "--hf-overrides", '{"max_position_embeddings": 64}'])
        self.assertEqual(self.flags(kv_cache_memory_bytes=1 << 20), ["--model", "m", "--kv-cache-memory", "1048576"])
        self.assertEqual(self.flags(tokenizer=None), ["--model", "m"])  # None: vLLM's default

    def test_unknown_keyword_raises_type_error(self):
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'max_modle_len'"):
            self.flags(max_modle_len=128)
        with self.assertRaises(TypeError):
            vllm_cpp.LLM(model="unused", not_an_engine_arg=1)

    def test_known_but_unsupported_values_raise(self):
        with self.assertRaisesRegex(NotImplementedError, "tensor_parallel_size=2"):
            self.flags(tensor_parallel_size=2)
        with self.assertRaisesRegex(NotImplementedError, "quantization='awq'"):
            self.flags(quantization="awq")
        # Their "off" values, and arguments that mean nothing to a native engine, are accepted.
        self.assertEqual(self.flags(tensor_parallel_size=1, quantization=None, trust_remote_code=True,
                                    swap_space=4), ["--model", "m"])


if __name__ == "__main__":
    unittest.main()
