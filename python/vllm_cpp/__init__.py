"""vllm_cpp: vLLM's Python API over vllm-cpp's native engine.

    from vllm_cpp import LLM, SamplingParams   # the only line a vLLM script changes

See docs/python.md.
"""

from . import _vllm_cpp
from .inputs import PromptType, TextPrompt, TokensPrompt
from .llm import LLM, Tokenizer
from .outputs import (ClassificationOutput, ClassificationRequestOutput, CompletionOutput, EmbeddingOutput,
                      EmbeddingRequestOutput, Logprob, PoolingOutput, PoolingRequestOutput, RequestOutput,
                      ScoringOutput, ScoringRequestOutput)
from .sampling_params import (GuidedDecodingParams, PoolingParams, RequestOutputKind, SamplingParams,
                              StructuredOutputsParams)

__version__ = "0.1.0"

__all__ = [
    "LLM", "SamplingParams", "PoolingParams", "StructuredOutputsParams", "GuidedDecodingParams",
    "RequestOutputKind", "RequestOutput", "CompletionOutput", "Logprob", "PoolingOutput", "PoolingRequestOutput",
    "EmbeddingOutput", "EmbeddingRequestOutput", "ClassificationOutput", "ClassificationRequestOutput",
    "ScoringOutput", "ScoringRequestOutput", "TextPrompt", "TokensPrompt", "PromptType", "Tokenizer",
]
