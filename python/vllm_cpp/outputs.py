"""vLLM's output classes (vllm/outputs.py, vllm/logprobs.py) with the same field names."""

from dataclasses import dataclass, field
from typing import Any, Optional, Union


@dataclass
class Logprob:
    """One token's log probability, its rank (1: most likely) and its text."""
    logprob: float
    rank: Optional[int] = None
    decoded_token: Optional[str] = None


# Per position: token id -> Logprob (the chosen token and the top-k), as vLLM's SampleLogprobs.
def _logprob_dict(entries: list) -> dict:
    return {token_id: Logprob(logprob, rank, text) for token_id, logprob, rank, text in entries}


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list
    cumulative_logprob: Optional[float]
    logprobs: Optional[list]
    finish_reason: Optional[str] = None
    stop_reason: Union[int, str, None] = None
    lora_request: Any = None

    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class RequestOutput:
    request_id: str
    prompt: Optional[str]
    prompt_token_ids: Optional[list]
    prompt_logprobs: Optional[list]
    outputs: list
    finished: bool
    metrics: Any = None
    lora_request: Any = None
    encoder_prompt: Optional[str] = None
    encoder_prompt_token_ids: Optional[list] = None
    num_cached_tokens: Optional[int] = None
    multi_modal_placeholders: dict = field(default_factory=dict)
    kv_transfer_params: Optional[dict] = None


def _completion(item: dict) -> CompletionOutput:
    logprobs = None
    cumulative_logprob = None
    if item["logprobs"] is not None:
        logprobs = [_logprob_dict(position) for position in item["logprobs"]]
        # The chosen token comes first at each position (vLLM sums the sampled tokens' logprobs).
        cumulative_logprob = sum(position[0][1] for position in item["logprobs"] if position)
    return CompletionOutput(index=item["index"], text=item["text"], token_ids=list(item["token_ids"]),
                            cumulative_logprob=cumulative_logprob, logprobs=logprobs,
                            finish_reason=item["finish_reason"], stop_reason=item["stop_reason"])


def _request_output(item: dict) -> RequestOutput:
    prompt_logprobs = None
    if item["prompt_logprobs"] is not None:
        prompt_logprobs = [None if position is None else _logprob_dict(position)
                           for position in item["prompt_logprobs"]]
    return RequestOutput(request_id=item["request_id"], prompt=item["prompt"] or None,
                         prompt_token_ids=list(item["prompt_token_ids"]), prompt_logprobs=prompt_logprobs,
                         outputs=[_completion(completion) for completion in item["outputs"]],
                         finished=item["finished"], num_cached_tokens=item["num_cached_tokens"])


@dataclass
class PoolingOutput:
    """The raw pooled values: a nested list of `shape` (vLLM gives a torch.Tensor)."""
    data: Any


@dataclass
class EmbeddingOutput:
    embedding: list

    @property
    def hidden_size(self) -> int:
        return len(self.embedding)


@dataclass
class ClassificationOutput:
    probs: list

    @property
    def num_classes(self) -> int:
        return len(self.probs)


@dataclass
class ScoringOutput:
    score: float


@dataclass
class PoolingRequestOutput:
    request_id: str
    outputs: Any
    prompt_token_ids: list
    finished: bool


class EmbeddingRequestOutput(PoolingRequestOutput):
    pass


class ClassificationRequestOutput(PoolingRequestOutput):
    pass


class ScoringRequestOutput(PoolingRequestOutput):
    pass


def _nested(data: list, shape: list) -> Any:
    """Row-major values -> nested lists of `shape`."""
    if len(shape) <= 1:
        return list(data)
    step = len(data) // shape[0] if shape[0] else 0
    return [_nested(data[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _pooled(item: dict, output_class: type, outputs: Any) -> PoolingRequestOutput:
    return output_class(request_id=item["request_id"], outputs=outputs,
                        prompt_token_ids=list(item["prompt_token_ids"]), finished=item["finished"])
