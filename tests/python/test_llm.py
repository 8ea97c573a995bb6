"""vllm_cpp.LLM over the default model (models/default): generate and chat give the CLI's tokens."""
import json
import os
import subprocess
import sys
import threading
import unittest

from support import DEFAULT_MODEL, cli_binary, needs_module, vllm_cpp

HERE = os.path.dirname(os.path.abspath(__file__))


def run_cli(*args):
    """`vllm-cpp generate --json` lines for the default model at temperature 0."""
    command = [cli_binary(), "generate", "--model", DEFAULT_MODEL, "--max-model-len", "512", "--temperature", "0",
               "--max-tokens", "24", "--json", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@needs_module
@unittest.skipUnless(os.path.exists(os.path.join(DEFAULT_MODEL, "config.json")), "models/default is absent")
class LLMTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = vllm_cpp.LLM(model=DEFAULT_MODEL, max_model_len=512)
        cls.greedy = vllm_cpp.SamplingParams(temperature=0, max_tokens=24)

    @unittest.skipIf(cli_binary() is None, "the vllm-cpp executable is not built")
    def test_vllm_style_script_matches_the_cli(self):
        script = subprocess.run([sys.executable, os.path.join(HERE, "vllm_style_script.py"), DEFAULT_MODEL],
                                capture_output=True, text=True, check=True, env=os.environ)
        lines = [json.loads(line) for line in script.stdout.splitlines()]
        generated = [line for line in lines if line["kind"] == "generate"]
        chats = [line for line in lines if line["kind"] == "chat"]
        cli = run_cli("-p", "Once upon a time", "-p", "The little dog")
        self.assertEqual(len(generated), 2)
        for ours, theirs in zip(generated, cli):
            self.assertEqual(ours["prompt"], theirs["prompt"])
            self.assertEqual(ours["token_ids"], theirs["outputs"][0]["token_ids"])
            self.assertEqual(ours["text"], theirs["outputs"][0]["text"])
            self.assertGreater(len(ours["token_ids"]), 0)
        cli_chat = run_cli("--chat", "-p", "Tell me a story about Tom.")
        self.assertEqual(len(chats), 1)
        self.assertEqual(chats[0]["token_ids"], cli_chat[0]["outputs"][0]["token_ids"])
        self.assertEqual(chats[0]["prompt"], cli_chat[0]["prompt"])

    def test_prompt_forms_give_the_same_tokens(self):
        text = "Once upon a time"
        ids = self.llm.get_tokenizer().encode(text)
        by_text = self.llm.generate(text, self.greedy)[0]
        self.assertEqual(by_text.prompt, text)
        self.assertEqual(by_text.prompt_token_ids, ids)
        for prompt in ({"prompt": text}, {"prompt_token_ids": ids}, vllm_cpp.TokensPrompt(prompt_token_ids=ids)):
            output = self.llm.generate(prompt, self.greedy)[0]
            self.assertEqual(output.outputs[0].token_ids, by_text.outputs[0].token_ids, prompt)
        self.assertIsNone(self.llm.generate({"prompt_token_ids": ids}, self.greedy)[0].prompt)
        batch = self.llm.generate([text, "The little dog"], self.greedy)
        self.assertEqual([output.prompt for output in batch], [text, "The little dog"])
        self.assertEqual(batch[0].outputs[0].token_ids, by_text.outputs[0].token_ids)
        self.assertTrue(all(output.finished for output in batch))

    def test_one_sampling_params_per_prompt(self):
        short = vllm_cpp.SamplingParams(temperature=0, max_tokens=3, ignore_eos=True)
        long = vllm_cpp.SamplingParams(temperature=0, max_tokens=7, ignore_eos=True)
        outputs = self.llm.generate(["Once upon a time", "The little dog"], [short, long])
        self.assertEqual([len(output.outputs[0].token_ids) for output in outputs], [3, 7])
        self.assertEqual([output.outputs[0].finish_reason for output in outputs], ["length", "length"])
        self.assertIsNone(outputs[0].outputs[0].stop_reason)
        with self.assertRaisesRegex(ValueError, "sampling params for"):
            self.llm.generate(["a", "b", "c"], [short, long])

    def test_default_sampling_params_come_from_generation_config(self):
        with open(os.path.join(DEFAULT_MODEL, "generation_config.json")) as file:
            config = json.load(file)
        defaults = self.llm.get_default_sampling_params()
        self.assertAlmostEqual(defaults.temperature, config["temperature"])
        self.assertAlmostEqual(defaults.top_p, config["top_p"])
        self.assertEqual(defaults.max_tokens, config["max_new_tokens"])

    def test_n_and_logprobs(self):
        params = vllm_cpp.SamplingParams(n=2, temperature=0.8, seed=1, max_tokens=5, ignore_eos=True, logprobs=2)
        output = self.llm.generate("Once upon a time", params)[0]
        self.assertEqual([completion.index for completion in output.outputs], [0, 1])
        for completion in output.outputs:
            self.assertEqual(len(completion.logprobs), len(completion.token_ids))
            total = 0.0
            for token, position in zip(completion.token_ids, completion.logprobs):
                self.assertIn(token, position)  # the sampled token, then the top 2
                self.assertIsInstance(position[token], vllm_cpp.Logprob)
                self.assertLessEqual(position[token].logprob, 0.0)
                self.assertTrue(any(entry.rank == 1 for entry in position.values()))
                total += position[token].logprob
            self.assertAlmostEqual(completion.cumulative_logprob, total, places=4)
        greedy = self.llm.generate("Once upon a time", vllm_cpp.SamplingParams(temperature=0, max_tokens=5,
                                                                                logprobs=0))[0].outputs[0]
        for token, position in zip(greedy.token_ids, greedy.logprobs):
            self.assertEqual(position[token].rank, 1)  # greedy picks the most likely token
        self.assertIsNone(self.llm.generate("Once", self.greedy)[0].outputs[0].cumulative_logprob)

    def test_prompt_logprobs(self):
        output = self.llm.generate("Once upon a time", vllm_cpp.SamplingParams(max_tokens=1, prompt_logprobs=1))[0]
        self.assertEqual(len(output.prompt_logprobs), len(output.prompt_token_ids))
        self.assertIsNone(output.prompt_logprobs[0])  # nothing predicts the first token
        for token, position in zip(output.prompt_token_ids[1:], output.prompt_logprobs[1:]):
            self.assertIn(token, position)

    def test_stop_string_sets_stop_reason(self):
        free = self.llm.generate("Once upon a time", vllm_cpp.SamplingParams(temperature=0, max_tokens=24))[0]
        text = free.outputs[0].text
        stop = text.split()[2]  # a word the greedy continuation is known to contain
        output = self.llm.generate("Once upon a time", vllm_cpp.SamplingParams(temperature=0, max_tokens=24,
                                                                               stop=[stop]))[0].outputs[0]
        self.assertEqual(output.finish_reason, "stop")
        self.assertEqual(output.stop_reason, stop)
        self.assertEqual(output.text, text[:text.index(stop)])

    def test_chat_forms_and_template(self):
        conversation = [{"role": "user", "content": "Tell me a story about Tom."}]
        one = self.llm.chat(conversation, self.greedy)
        two = self.llm.chat([conversation, conversation], self.greedy)
        self.assertEqual(len(one), 1)
        self.assertEqual(len(two), 2)
        self.assertEqual(two[1].outputs[0].token_ids, one[0].outputs[0].token_ids)
        # models/default's template (its README): <|bos|>, "<|role|>\n" content "<|eos|>\n", then the
        # generation prompt "<|assistant|>\n".
        expected = "<|bos|><|user|>\nTell me a story about Tom.<|eos|>\n<|assistant|>\n"
        self.assertEqual(one[0].prompt, expected)
        tokenizer = self.llm.get_tokenizer()
        self.assertEqual(tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True),
                         expected)
        self.assertEqual(tokenizer.apply_chat_template(conversation, add_generation_prompt=True),
                         one[0].prompt_token_ids)
        no_prompt = self.llm.chat(conversation, self.greedy, add_generation_prompt=False)[0]
        self.assertFalse(no_prompt.prompt.endswith("<|assistant|>\n"))
        custom = self.llm.chat(conversation, self.greedy, chat_template="{% for m in messages %}{{ m.content }}{% endfor %}")
        self.assertEqual(custom[0].prompt, "Tell me a story about Tom.")

    def test_tokenizer(self):
        tokenizer = self.llm.get_tokenizer()
        ids = tokenizer.encode("Once upon a time")
        self.assertEqual(ids[0], 1)  # <|bos|> (models/default/README.md)
        self.assertEqual(tokenizer.decode(ids, skip_special_tokens=True), "Once upon a time")
        self.assertEqual(tokenizer.encode("Once upon a time", add_special_tokens=False), ids[1:])
        self.assertEqual(tokenizer.eos_token_id, 2)
        self.assertEqual(tokenizer.convert_ids_to_tokens(2), "<|eos|>")
        self.assertEqual(tokenizer.convert_tokens_to_ids("<|assistant|>"), 5)
        self.assertEqual(len(tokenizer), 8192)

    def test_errors_raise_and_the_engine_keeps_working(self):
        with self.assertRaisesRegex(ValueError, "out of vocabulary|vocab"):
            self.llm.generate({"prompt_token_ids": [1, 99999]}, self.greedy)
        with self.assertRaises(TypeError):
            self.llm.generate(3.5, self.greedy)
        with self.assertRaises(TypeError):
            self.llm.generate("Once", {"temperature": 0})
        with self.assertRaisesRegex(ValueError, "only supported for pooling models"):
            self.llm.embed("Once upon a time")
        with self.assertRaises(NotImplementedError):
            self.llm.generate("Once", self.greedy, lora_request=object())
        self.assertEqual(len(self.llm.generate("Once upon a time", self.greedy)[0].outputs[0].token_ids), 24)

    def test_bad_engine_arguments_raise(self):
        with self.assertRaises(FileNotFoundError):
            vllm_cpp.LLM(model=os.path.join(DEFAULT_MODEL, "no-such-folder"))
        with self.assertRaisesRegex(ValueError, "dtype"):
            vllm_cpp.LLM(model=DEFAULT_MODEL, dtype="float8")

    def test_the_gil_is_released_while_the_engine_runs(self):
        # With a switch interval of minutes, a thread holding the GIL keeps it until it blocks or ends;
        # this thread can then run during the generation only if the engine call releases the GIL.
        params = vllm_cpp.SamplingParams(temperature=0, max_tokens=200, ignore_eos=True)
        started = threading.Event()

        def work():
            started.set()
            self.llm.generate(["Once upon a time"] * 4, params)

        interval = sys.getswitchinterval()
        sys.setswitchinterval(300)
        try:
            worker = threading.Thread(target=work)
            worker.start()
            started.wait()
            turns_during_generation = 0
            while worker.is_alive():
                turns_during_generation += 1
                worker.join(0.01)  # blocks, so the worker can take the GIL back when its C++ call returns
        finally:
            sys.setswitchinterval(interval)
        self.assertGreater(turns_during_generation, 0)

if __name__ == "__main__":
    unittest.main()
