"""vLLM's offline `LLM` class over the C++ engine (vllm::LLM, src/api/llm.h)."""

import json
from typing import Any, Optional, Sequence, Union

from . import _vllm_cpp
from .outputs import (ClassificationOutput, ClassificationRequestOutput, EmbeddingOutput, EmbeddingRequestOutput,
                      PoolingOutput, PoolingRequestOutput, ScoringOutput, ScoringRequestOutput,
                      _nested, _pooled, _request_output)
from .sampling_params import PoolingParams, SamplingParams

# The engine's flag names ("max-model-len", "no-enable-prefix-caching", ...): the keyword arguments
# vllm_cpp.LLM takes are exactly these, spelled with underscores, as vLLM's EngineArgs fields.
_ENGINE_FLAGS = frozenset(_vllm_cpp.engine_arg_names())

# vLLM keyword arguments whose engine flag is spelled differently.
_RENAMED = {"kv_cache_memory_bytes": "kv-cache-memory", "override_pooler_config": "pooler-config"}

# vLLM arguments that mean nothing to a native engine and are accepted with any value:
# there is no remote Python code to trust, no torch.compile, no CPU swap space, no custom all-reduce.
_IGNORED = frozenset({"trust_remote_code", "disable_log_stats", "disable_log_requests", "compilation_config",
                      "swap_space", "disable_custom_all_reduce", "disable_async_output_proc", "use_tqdm_on_load"})

# vLLM arguments this engine does not implement yet, with the value that means "not used"; any other
# value raises NotImplementedError.
_UNSUPPORTED = {
    "tensor_parallel_size": 1, "pipeline_parallel_size": 1, "data_parallel_size": 1,
    "distributed_executor_backend": None, "quantization": None, "revision": None, "tokenizer_revision": None,
    "code_revision": None, "hf_token": None, "download_dir": None, "cpu_offload_gb": 0, "enable_lora": False,
    "max_loras": None, "max_lora_rank": None, "speculative_config": None, "mm_processor_kwargs": None,
    "limit_mm_per_prompt": None, "allowed_local_media_path": "", "logits_processors": None,
    "kv_transfer_config": None, "enable_sleep_mode": False, "num_gpu_blocks_override": None,
    "tokenizer_mode": "auto", "enable_expert_parallel": False, "hf_config_path": None, "max_cpu_loras": None,
}


def _json_default(value: Any) -> Any:
    """JSON for pydantic models and dataclass-like objects inside messages, tools and configs."""
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    if hasattr(value, "__dict__"):
        return {key: item for key, item in vars(value).items() if item is not None}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def engine_flags(model: Optional[str], kwargs: dict) -> list:
    """vLLM's LLM keyword arguments -> the engine's command-line flags (as `vllm-cpp serve` takes them).

    Unknown names raise TypeError, as Python does for an unexpected keyword argument; names vLLM knows
    that this engine does not implement raise NotImplementedError unless given their "off" value.
    """
    flags = ["--model", str(model)] if model is not None else []
    for name, value in kwargs.items():
        flag = _RENAMED.get(name, name.replace("_", "-"))
        if flag in _ENGINE_FLAGS:
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    flags.append("--" + flag)
                elif "no-" + flag in _ENGINE_FLAGS:
                    flags.append("--no-" + flag)
            elif isinstance(value, (list, tuple)):
                flags += ["--" + flag] + [str(item) for item in value]
            elif isinstance(value, (str, int, float)):
                flags += ["--" + flag, str(value)]
            else:
                flags += ["--" + flag, _dumps(value)]
        elif name in _IGNORED:
            continue
        elif name in _UNSUPPORTED:
            if value is not None and value != _UNSUPPORTED[name]:
                raise NotImplementedError(f"LLM: {name}={value!r} is not supported by vllm_cpp "
                                          f"(leave it at {_UNSUPPORTED[name]!r}); see docs/python.md")
        else:
            raise TypeError(f"LLM.__init__() got an unexpected keyword argument '{name}'")
    return flags


def _is_token_ids(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(item, int) for item in value)


def _prompt(prompt: Any) -> Union[str, list]:
    """One prompt: text, a TextPrompt/TokensPrompt dict, or token ids."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, dict):
        if prompt.get("multi_modal_data") or prompt.get("prompt_embeds") is not None:
            raise NotImplementedError("vllm_cpp.LLM: multi_modal_data and prompt_embeds prompts are not supported")
        if "prompt_token_ids" in prompt:
            return [int(token) for token in prompt["prompt_token_ids"]]
        if "prompt" in prompt:
            return str(prompt["prompt"])
        raise ValueError(f"a prompt dict needs 'prompt' or 'prompt_token_ids', got keys {sorted(prompt)}")
    if _is_token_ids(prompt):
        return [int(token) for token in prompt]
    raise TypeError(f"a prompt must be a str, a TextPrompt/TokensPrompt dict or a list of token ids, "
                    f"got {type(prompt).__name__}")


def _prompts(prompts: Any) -> list:
    """A prompt or a sequence of prompts (vLLM's parse_and_batch_prompt) -> a list of prompts."""
    if isinstance(prompts, (str, dict)) or _is_token_ids(prompts):
        return [_prompt(prompts)]
    return [_prompt(prompt) for prompt in prompts]


def _params_json(params: Union[None, SamplingParams, Sequence[SamplingParams]]) -> list:
    if params is None:
        return []  # the model's defaults (generation_config.json), as vLLM's get_default_sampling_params
    if isinstance(params, SamplingParams):
        return [params._to_json()]
    for item in params:
        if not isinstance(item, SamplingParams):
            raise TypeError(f"sampling_params must be SamplingParams or a list of them, got {type(item).__name__}")
    return [item._to_json() for item in params]


def _pooling_fields(pooling_params: Optional[PoolingParams], truncate_prompt_tokens: Optional[int]) -> dict:
    if isinstance(pooling_params, (list, tuple)):
        raise NotImplementedError("vllm_cpp.LLM: one PoolingParams per prompt is not supported; pass one")
    fields = (pooling_params or PoolingParams())._to_dict()
    if truncate_prompt_tokens is not None:
        fields["truncate_prompt_tokens"] = truncate_prompt_tokens
    return fields


def _no_lora(lora_request: Any) -> None:
    if lora_request is not None:
        raise NotImplementedError("vllm_cpp.LLM: lora_request is not supported")


class Tokenizer:
    """The engine's tokenizer with the methods of a Hugging Face tokenizer that scripts call most."""

    def __init__(self, engine: "_vllm_cpp.Engine"):
        self._engine = engine
        info = engine.tokenizer_info()
        self.vocab_size = info["vocab_size"]
        self.bos_token, self.eos_token = info["bos_token"], info["eos_token"]
        self.bos_token_id, self.eos_token_id = info["bos_token_id"], info["eos_token_id"]

    def encode(self, text: str, add_special_tokens: bool = True) -> list:
        return self._engine.encode(text, add_special_tokens)

    def decode(self, token_ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._engine.decode([int(token) for token in token_ids], skip_special_tokens)

    def __call__(self, text: Union[str, list], add_special_tokens: bool = True) -> dict:
        if isinstance(text, str):
            return {"input_ids": self.encode(text, add_special_tokens)}
        return {"input_ids": [self.encode(item, add_special_tokens) for item in text]}

    def __len__(self) -> int:
        return self.vocab_size

    def convert_ids_to_tokens(self, ids: Union[int, Sequence[int]]) -> Union[str, list]:
        if isinstance(ids, int):
            return self._engine.convert_ids_to_tokens([ids])[0]
        return self._engine.convert_ids_to_tokens([int(token) for token in ids])

    def convert_tokens_to_ids(self, tokens: Union[str, Sequence[str]]) -> Union[Optional[int], list]:
        if isinstance(tokens, str):
            return self._engine.convert_token_to_id(tokens)
        return [self._engine.convert_token_to_id(token) for token in tokens]

    def apply_chat_template(self, conversation: list, tools: Optional[list] = None, add_generation_prompt: bool = False,
                            continue_final_message: bool = False, tokenize: bool = True,
                            chat_template: Optional[str] = None, **chat_template_kwargs: Any) -> Union[str, list]:
        """transformers' apply_chat_template (its defaults: tokenize=True, add_generation_prompt=False)."""
        text = self._engine.render_chat(_dumps(conversation), chat_template or "", add_generation_prompt,
                                        continue_final_message, _dumps(tools) if tools else "",
                                        _dumps(chat_template_kwargs) if chat_template_kwargs else "")
        return self.encode(text, add_special_tokens=False) if tokenize else text


class LLM:
    """vLLM's offline LLM over the C++ engine: `LLM(model=..., **engine_args)`.

    The keyword arguments are vLLM's engine argument names (docs/python.md lists them). Every call
    runs the batch to completion with the GIL released.
    """

    def __init__(self, model: Optional[str] = None, **kwargs: Any):
        self._engine = _vllm_cpp.Engine(engine_flags(model, kwargs))
        self._tokenizer: Optional[Tokenizer] = None

    # --- generation ---------------------------------------------------------------------------
    def generate(self, prompts: Any, sampling_params: Union[None, SamplingParams, Sequence[SamplingParams]] = None,
                 use_tqdm: Any = True, lora_request: Any = None, priority: Optional[list] = None) -> list:
        """Completions for each prompt, in order (`use_tqdm` is accepted; no progress bar is drawn)."""
        _no_lora(lora_request)
        items = self._engine.generate(_prompts(prompts), _params_json(sampling_params))
        return [_request_output(item) for item in items]

    def chat(self, messages: list, sampling_params: Union[None, SamplingParams, Sequence[SamplingParams]] = None,
             use_tqdm: Any = True, lora_request: Any = None, chat_template: Optional[str] = None,
             chat_template_content_format: str = "auto", add_generation_prompt: bool = True,
             continue_final_message: bool = False, tools: Optional[list] = None,
             chat_template_kwargs: Optional[dict] = None, mm_processor_kwargs: Optional[dict] = None) -> list:
        """One conversation (a list of messages) or a list of conversations, through the chat template."""
        _no_lora(lora_request)
        if chat_template_content_format != "auto":
            raise NotImplementedError("vllm_cpp.LLM.chat: chat_template_content_format is set per engine; pass "
                                      "LLM(..., chat_template_content_format=...)")
        conversations = [messages] if messages and isinstance(messages[0], dict) else list(messages)
        items = self._engine.chat([_dumps(conversation) for conversation in conversations],
                                  _params_json(sampling_params), chat_template or "", add_generation_prompt,
                                  continue_final_message, _dumps(tools) if tools else "",
                                  _dumps(chat_template_kwargs) if chat_template_kwargs else "")
        return [_request_output(item) for item in items]

    def get_default_sampling_params(self) -> SamplingParams:
        return SamplingParams(**self._engine.default_sampling_params())

    def get_tokenizer(self) -> Tokenizer:
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(self._engine)
        return self._tokenizer

    # --- pooling (--runner pooling models) ------------------------------------------------------
    def embed(self, prompts: Any, pooling_params: Optional[PoolingParams] = None,
              truncate_prompt_tokens: Optional[int] = None, use_tqdm: Any = True,
              lora_request: Any = None) -> list:
        _no_lora(lora_request)
        items = self._engine.embed(_prompts(prompts), _pooling_fields(pooling_params, truncate_prompt_tokens))
        return [_pooled(item, EmbeddingRequestOutput, EmbeddingOutput(list(item["data"]))) for item in items]

    def classify(self, prompts: Any, pooling_params: Optional[PoolingParams] = None,
                 truncate_prompt_tokens: Optional[int] = None, use_tqdm: Any = True,
                 lora_request: Any = None) -> list:
        _no_lora(lora_request)
        items = self._engine.classify(_prompts(prompts), _pooling_fields(pooling_params, truncate_prompt_tokens))
        return [_pooled(item, ClassificationRequestOutput, ClassificationOutput(list(item["data"])))
                for item in items]

    def score(self, data_1: Union[str, Sequence[str]], data_2: Union[str, Sequence[str]],
              truncate_prompt_tokens: Optional[int] = None, use_tqdm: Any = True,
              pooling_params: Optional[PoolingParams] = None, lora_request: Any = None) -> list:
        """1:1, 1:N or N:N text pairs: a cross-encoder's score, or the cosine of two embeddings."""
        _no_lora(lora_request)
        first = [data_1] if isinstance(data_1, str) else list(data_1)
        second = [data_2] if isinstance(data_2, str) else list(data_2)
        items = self._engine.score(first, second, _pooling_fields(pooling_params, truncate_prompt_tokens))
        return [_pooled(item, ScoringRequestOutput, ScoringOutput(float(item["data"]))) for item in items]

    def encode(self, prompts: Any, pooling_params: Optional[PoolingParams] = None,
               truncate_prompt_tokens: Optional[int] = None, use_tqdm: Any = True, lora_request: Any = None,
               pooling_task: Optional[str] = None) -> list:
        """The raw pooled output per prompt (PoolingOutput.data: nested lists of the pooled shape)."""
        _no_lora(lora_request)
        items = self._engine.encode_pooled(_prompts(prompts), _pooling_fields(pooling_params, truncate_prompt_tokens))
        return [_pooled(item, PoolingRequestOutput, PoolingOutput(_nested(list(item["data"]), list(item["shape"]))))
                for item in items]

    def reward(self, prompts: Any, truncate_prompt_tokens: Optional[int] = None, use_tqdm: Any = True,
               pooling_params: Optional[PoolingParams] = None, lora_request: Any = None) -> list:
        return self.encode(prompts, pooling_params, truncate_prompt_tokens, use_tqdm, lora_request, "reward")
