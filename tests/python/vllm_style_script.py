# A vLLM offline-inference script (vLLM's examples/offline_inference/basic.py shape) whose only
# change is its import line. test_llm.py runs it and compares its tokens with `vllm-cpp generate`.
# Usage: vllm_style_script.py MODEL_DIR  (prints one JSON line per output)
import json
import sys

from vllm_cpp import LLM, SamplingParams  # was: from vllm import LLM, SamplingParams

prompts = [
    "Once upon a time",
    "The little dog",
]
sampling_params = SamplingParams(temperature=0, max_tokens=24)

llm = LLM(model=sys.argv[1], max_model_len=512, seed=0)
outputs = llm.generate(prompts, sampling_params)
for output in outputs:
    print(json.dumps({"kind": "generate", "prompt": output.prompt, "text": output.outputs[0].text,
                      "token_ids": output.outputs[0].token_ids}))

conversation = [{"role": "user", "content": "Tell me a story about Tom."}]
outputs = llm.chat(conversation, sampling_params, use_tqdm=False)
for output in outputs:
    print(json.dumps({"kind": "chat", "prompt": output.prompt, "text": output.outputs[0].text,
                      "token_ids": output.outputs[0].token_ids}))
