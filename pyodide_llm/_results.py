"""Plain data returned by the API: model info and generation timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded, and how (``LLM.info``).

    The model's fields come from llama.cpp once it has loaded the model, not from
    the request: ``n_ctx`` is the context it made, ``n_gpu_layers`` the layers it
    really offloaded.

    Attributes
    ----------
    variant, n_threads
        The engine build that runs the model (``wasm64-webgpu`` on the GPU) and its threads.
    backend
        ``"webgpu"`` when llama.cpp offloaded at least one layer to the GPU, else ``"cpu"``
        (also in the WebGPU engine, when it kept everything on its CPU backend).
    n_gpu_layers
        Layers llama.cpp offloaded: ``n_layer + 1`` is all of them (the output layer
        counts), ``0`` on the CPU.
    gpu_device
        llama.cpp's name for the GPU device holding those layers, ``""`` on the CPU.
    gpu_model_bytes
        Weights llama.cpp placed in GPU memory (its own report, to 0.01 MiB). An
        offloaded layer whose tensors exceed the adapter's buffer limits keeps them in
        CPU memory, and the ops using them run on the CPU: compare with ``size``.
    gpu_kv_bytes
        The KV cache in GPU memory; ``0`` on the CPU, or when one layer's cache is
        larger than the adapter can bind (it then stays on the CPU, with a warning).
    gpu_adapter
        The WebGPU adapter detection found (``vendor``, ``architecture``,
        ``description``, ``is_fallback``) when the GPU runs the model, else ``None``.
    """

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
    backend: str
    n_gpu_layers: int
    gpu_device: str
    gpu_model_bytes: int
    gpu_kv_bytes: int
    gpu_adapter: dict[str, Any] | None = field(default=None, hash=False)

    @classmethod
    def from_engine(cls, info: dict[str, Any], variant: str, adapter: dict[str, Any] | None = None) -> ModelInfo:
        """The engine's ``info`` record; ``adapter`` (detection's) is kept only if the GPU holds layers."""
        keys = set(cls.__dataclass_fields__) - {"variant", "gpu_adapter"}
        on_gpu = info["backend"] == "webgpu"
        return cls(variant=variant, gpu_adapter=dict(adapter) if adapter and on_gpu else None,
                   **{k: info[k] for k in keys})


@dataclass(frozen=True)
class ScoreResult:
    """``LLM.score(text)``: each token's log-probability given the ones before it.

    ``logprobs[i]`` belongs to ``tokens[i + 1]`` (the first token is only context);
    ``total`` is their sum, the log-probability of the text after its first token.
    """

    tokens: list[int]
    logprobs: list[float]
    total: float


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
