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


@dataclass(frozen=True)
class LoadReport:
    """How the model got into the engine (``LLM.load_report``).

    ``sources`` has one entry per file: ``"network"``, ``"cache"``, ``"bytes"`` or
    ``"blob"``; ``network_requests`` lists the model URLs the engine worker fetched
    (from the browser's resource timing), so a load served from the cache shows none.
    """

    sources: tuple[str, ...]
    notices: tuple[str, ...]
    network_requests: tuple[str, ...]
    total_ms: float  # worker side: fetching or reading, verifying, and llama.cpp's load
    load_ms: float  # llama.cpp's part of it
    engine_reused: bool = False  # loaded into an idle engine a closed model left (see LLM.close)

    @classmethod
    def from_reply(cls, reply: dict[str, Any], engine_reused: bool = False) -> LoadReport:
        return cls(sources=tuple(reply.get("sources") or ()), notices=tuple(reply.get("notices") or ()),
                   network_requests=tuple(f["url"] for f in reply.get("fetched") or ()),
                   total_ms=float(reply.get("total_ms") or 0.0), load_ms=float(reply.get("load_ms") or 0.0),
                   engine_reused=engine_reused)
