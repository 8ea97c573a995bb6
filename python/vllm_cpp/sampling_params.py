"""vLLM's SamplingParams, StructuredOutputsParams and PoolingParams, with vLLM's field names and defaults.

The C++ engine (src/engine/sampling_params.h) owns validation: a SamplingParams is checked when it
is made, and again when a request is sent, and bad values raise ValueError with vLLM's message.
"""

import copy
import json
from typing import Any, Optional

from . import _vllm_cpp


class StructuredOutputsParams:
    """One output constraint (vLLM's StructuredOutputsParams): json, regex, choice, grammar,
    json_object or structural_tag, with the whitespace options."""

    _FIELDS = ("json", "regex", "choice", "grammar", "json_object", "disable_fallback",
               "disable_any_whitespace", "disable_additional_properties", "whitespace_pattern",
               "structural_tag")

    def __init__(self, json: Any = None, regex: Optional[str] = None, choice: Optional[list] = None,
                 grammar: Optional[str] = None, json_object: Optional[bool] = None,
                 disable_fallback: bool = False, disable_any_whitespace: bool = False,
                 disable_additional_properties: bool = False, whitespace_pattern: Optional[str] = None,
                 structural_tag: Optional[str] = None):
        # A pydantic model class gives its JSON schema, as vLLM accepts.
        if json is not None and hasattr(json, "model_json_schema"):
            json = json.model_json_schema()
        self.json = json
        self.regex = regex
        self.choice = choice
        self.grammar = grammar
        self.json_object = json_object
        self.disable_fallback = disable_fallback
        self.disable_any_whitespace = disable_any_whitespace
        self.disable_additional_properties = disable_additional_properties
        self.whitespace_pattern = whitespace_pattern
        self.structural_tag = structural_tag
        constraints = [name for name in ("json", "regex", "choice", "grammar", "json_object", "structural_tag")
                       if getattr(self, name) is not None]
        if len(constraints) > 1:
            raise ValueError("You can only use one kind of structured outputs constraint but multiple are "
                             f"specified: {constraints}")

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self._FIELDS
                if getattr(self, name) is not None and getattr(self, name) is not False}

    def __repr__(self) -> str:
        return f"StructuredOutputsParams({self.to_dict()})"


# vLLM's older name (guided_decoding=GuidedDecodingParams(...)).
GuidedDecodingParams = StructuredOutputsParams


class RequestOutputKind:
    """vLLM's RequestOutputKind; the offline LLM returns finished outputs only (FINAL_ONLY)."""
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


# Field -> default, in vLLM's order (vllm/sampling_params.py).
_SAMPLING_DEFAULTS = {
    "n": 1,
    "best_of": None,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "repetition_penalty": 1.0,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "min_p": 0.0,
    "seed": None,
    "stop": None,
    "stop_token_ids": None,
    "bad_words": None,
    "ignore_eos": False,
    "max_tokens": 16,
    "min_tokens": 0,
    "logprobs": None,
    "prompt_logprobs": None,
    "detokenize": True,
    "skip_special_tokens": True,
    "spaces_between_special_tokens": True,
    "logits_processors": None,
    "include_stop_str_in_output": False,
    "truncate_prompt_tokens": None,
    "output_kind": RequestOutputKind.CUMULATIVE,
    "structured_outputs": None,
    "guided_decoding": None,
    "logit_bias": None,
    "allowed_token_ids": None,
    "extra_args": None,
}

# Fields the C++ request parser reads (SamplingParams::from_json); the rest stay Python-side.
_ENGINE_FIELDS = ("n", "best_of", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature",
                  "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "bad_words", "ignore_eos",
                  "max_tokens", "min_tokens", "logprobs", "prompt_logprobs", "detokenize", "skip_special_tokens",
                  "spaces_between_special_tokens", "include_stop_str_in_output", "truncate_prompt_tokens",
                  "logit_bias", "allowed_token_ids")


class SamplingParams:
    """Sampling parameters for text generation, as vLLM's SamplingParams (same names and defaults).

    Unknown keyword arguments raise TypeError; invalid values raise ValueError. `logits_processors`
    (Python callables) cannot run inside the C++ engine and raise NotImplementedError.
    """

    def __init__(self, **kwargs: Any):
        unknown = sorted(set(kwargs) - set(_SAMPLING_DEFAULTS))
        if unknown:
            raise TypeError(f"SamplingParams.__init__() got an unexpected keyword argument '{unknown[0]}'")
        for name, default in _SAMPLING_DEFAULTS.items():
            setattr(self, name, copy.copy(kwargs.get(name, default)))
        if self.logits_processors:
            raise NotImplementedError("SamplingParams: logits_processors (Python callables) are not supported by "
                                      "vllm_cpp; use logit_bias, allowed_token_ids or structured_outputs")
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        if self.structured_outputs is None and self.guided_decoding is not None:
            self.structured_outputs = self.guided_decoding
        _vllm_cpp.validate_sampling_params(self._to_json())

    @staticmethod
    def from_optional(**kwargs: Any) -> "SamplingParams":
        """vLLM's from_optional: None means the default."""
        return SamplingParams(**{name: value for name, value in kwargs.items() if value is not None})

    def clone(self) -> "SamplingParams":
        return copy.deepcopy(self)

    @property
    def sampling_type(self) -> str:
        if self.temperature < 1e-5:
            return "greedy"
        return "random_seed" if self.seed is not None else "random"

    @property
    def all_stop_token_ids(self) -> set:
        return set(self.stop_token_ids or [])

    def _to_dict(self) -> dict:
        """The request body the C++ engine parses (vLLM's OpenAI request fields)."""
        body = {}
        for name in _ENGINE_FIELDS:
            value = getattr(self, name)
            if value is None and name != "max_tokens":
                continue
            if name == "logit_bias":
                value = {str(token): bias for token, bias in value.items()}
            body[name] = value
        if self.structured_outputs is not None:
            constraint = self.structured_outputs
            body["structured_outputs"] = constraint.to_dict() if hasattr(constraint, "to_dict") else dict(constraint)
        return body

    def _to_json(self) -> str:
        return json.dumps(self._to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SamplingParams) and vars(self) == vars(other)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _SAMPLING_DEFAULTS
                           if name not in ("guided_decoding", "extra_args", "output_kind"))
        return f"SamplingParams({fields})"


class PoolingParams:
    """vLLM's PoolingParams for embed / classify / score / reward / encode."""

    def __init__(self, truncate_prompt_tokens: Optional[int] = None, dimensions: Optional[int] = None,
                 normalize: Optional[bool] = None, activation: Optional[bool] = None,
                 use_activation: Optional[bool] = None, task: Optional[str] = None):
        self.truncate_prompt_tokens = truncate_prompt_tokens
        self.dimensions = dimensions
        self.normalize = normalize
        self.activation = activation if activation is not None else use_activation
        self.task = task

    def _to_dict(self) -> dict:
        return {"truncate_prompt_tokens": self.truncate_prompt_tokens, "dimensions": self.dimensions,
                "normalize": self.normalize, "activation": self.activation}

    def __repr__(self) -> str:
        return f"PoolingParams({self._to_dict()})"
