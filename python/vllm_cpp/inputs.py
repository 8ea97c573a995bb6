"""vLLM's prompt dicts (vllm/inputs/data.py)."""

from typing import TypedDict, Union

try:
    from typing import NotRequired
except ImportError:  # Python < 3.11
    from typing_extensions import NotRequired


class TextPrompt(TypedDict):
    prompt: str
    multi_modal_data: NotRequired[dict]
    mm_processor_kwargs: NotRequired[dict]


class TokensPrompt(TypedDict):
    prompt_token_ids: list
    prompt: NotRequired[str]
    token_type_ids: NotRequired[list]
    multi_modal_data: NotRequired[dict]


PromptType = Union[str, TextPrompt, TokensPrompt]
