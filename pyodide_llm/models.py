"""Plain data returned by the API: model info and generation timings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded, and how (``LLM.info``)."""

    architecture: str
    name: str
    description: str
    quantization: str
    n_params: int
    size: int
    file_size: int
    n_ctx_train: int
    n_ctx: int
    n_embd: int
    n_layer: int
    n_vocab: int
    chat_template: str
    variant: str
    n_threads: int

    @classmethod
    def from_engine(cls, info: dict[str, Any], variant: str) -> ModelInfo:
        keys = set(cls.__dataclass_fields__) - {"variant"}
        return cls(variant=variant, **{k: info[k] for k in keys})


@dataclass(frozen=True)
class GenerationStats:
    """Timings of the last generation (``LLM.last_stats``)."""

    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    prefill_ms: float
    decode_ms: float

    @property
    def prefill_tokens_per_s(self) -> float:
        evaluated = self.prompt_tokens - self.cached_tokens
        return evaluated * 1000 / self.prefill_ms if self.prefill_ms > 0 else 0.0

    @property
    def decode_tokens_per_s(self) -> float:
        return self.generated_tokens * 1000 / self.decode_ms if self.decode_ms > 0 else 0.0

    @classmethod
    def from_engine(cls, t: dict[str, Any]) -> GenerationStats:
        return cls(prompt_tokens=t["n_prompt"], cached_tokens=t["n_cached"], generated_tokens=t["n_generated"],
                   prefill_ms=t["prefill_ms"], decode_ms=t["decode_ms"])
