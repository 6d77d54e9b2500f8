"""How much engine memory a model needs, from its header, before anything is downloaded.

Why: a model that does not fit kills the tab (or the worker) minutes into a
download. From the header we know the weights (the mapped file), the KV cache
for the requested context and a bound on llama.cpp's compute buffers, so the
variant can be chosen by size, and a model too large for every variant is
refused with the numbers, before a byte of it is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._gguf import GGUFInfo

GIB = 1 << 30
MIB = 1 << 20
OVERHEAD = 96 * MIB  # C++ runtime, vocabulary tables, the thread stacks, allocator slack


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes of linear memory a model needs; ``total`` is what is compared with a variant's limit."""

    weights: int  # the whole file: the worker maps it where it was downloaded
    kv_cache: int
    compute: int
    overhead: int
    n_ctx: int

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute + self.overhead

    def describe(self) -> str:
        return (f"about {self.total / GIB:.2f} GiB (weights {self.weights / GIB:.2f} GiB + KV cache "
                f"{self.kv_cache / MIB:.0f} MiB for n_ctx {self.n_ctx} + compute {self.compute / MIB:.0f} MiB + "
                f"{self.overhead / MIB:.0f} MiB runtime)")


def estimate(info: GGUFInfo, n_ctx: int, n_batch: int, file_size: int | None = None) -> MemoryEstimate:
    """Estimate the memory a model needs with this context and batch size.

    The KV cache is F16 K and V for every layer (one cache for every sequence). The
    engine asks llama.cpp for at most 16 rows of logits per batch (``n_outputs_max``:
    one per sequence of a batched step), so the compute buffer holds those rows, the
    activations of one ubatch (the residual stream and attention in ``n_embd``, the
    feed-forward in ``n_ff``) and the F16 attention mask of ubatch x context. Fitted
    to llama.cpp's reported sizes within 10 % (SmolLM2: 3.6-17.5 MiB, a Qwen2.5-0.5B
    shape: 8.9-39.5 MiB, n_ctx 256-4096, ubatch 128-512); a quarter is added so it
    stays a bound for other architectures.
    """
    ctx = n_ctx or info.context_length or 4096
    size = file_size if file_size is not None else (info.file_size or 0)
    n_embd, n_head = info.n_embd or 0, info.n_head or 1
    n_head_kv = info.n_head_kv or n_head
    kv = (info.n_layer or 0) * ctx * 2 * n_head_kv * (n_embd // n_head) * 2
    ubatch = min(n_batch, ctx)
    activations = ubatch * (16 * n_embd + 12 * _n_ff(info, n_embd)) + 2 * ubatch * ctx
    compute = int(1.25 * (info.n_vocab * 4 * 16 + activations)) + MIB
    return MemoryEstimate(weights=size, kv_cache=kv, compute=compute, overhead=OVERHEAD, n_ctx=ctx)


def layer_kv_bytes(info: GGUFInfo, n_ctx: int) -> int:
    """One layer's K (or V) cache in F16 at ``n_ctx``: the largest buffer the GPU binds for it."""
    ctx = n_ctx or info.context_length or 4096
    n_embd, n_head = info.n_embd or 0, info.n_head or 1
    return ctx * (info.n_head_kv or n_head) * (n_embd // n_head) * 2


def _n_ff(info: GGUFInfo, n_embd: int) -> int:
    """The feed-forward width one token goes through (the used experts' for a mixture of experts)."""
    def widest(key: str) -> int:
        v = info.metadata.get(f"{info.architecture}.{key}")
        if isinstance(v, list):  # per-layer widths
            v = max((x for x in v if isinstance(x, int)), default=0)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    experts = widest("expert_feed_forward_length") * widest("expert_used_count")
    return max(widest("feed_forward_length"), experts) or 4 * n_embd
