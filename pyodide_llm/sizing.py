"""How much engine memory a model needs, from its header, before anything is downloaded.

Why: a model that does not fit kills the tab (or the worker) minutes into a
download. From the header we know the weights (the mapped file), the KV cache
for the requested context and a bound on llama.cpp's compute buffers, so the
variant can be chosen by size, and a model too large for every variant is
refused with the numbers, before a byte of it is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from .inspection import GGUFInfo

GIB = 1 << 30
MIB = 1 << 20
# Linear memory each variant can address (emscripten.toml MAXIMUM_MEMORY).
LIMITS = {"wasm32-st": 4 * GIB, "wasm32-mt": 4 * GIB, "wasm64-mt": 16 * GIB}
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

    The KV cache is F16 K and V for every layer; the compute buffer bound is one
    batch of logits plus the widest activations (llama.cpp reported 49 MiB for
    SmolLM2 at n_ubatch 512, this gives 110 MiB: a bound, not a guess).
    """
    ctx = n_ctx or info.context_length or 4096
    size = file_size if file_size is not None else (info.file_size or 0)
    n_embd, n_head = info.n_embd or 0, info.n_head or 1
    n_head_kv = info.n_head_kv or n_head
    kv = (info.n_layer or 0) * ctx * 2 * n_head_kv * (n_embd // n_head) * 2
    compute = min(n_batch, ctx) * (info.n_vocab + 8 * n_embd) * 4
    return MemoryEstimate(weights=size, kv_cache=kv, compute=compute, overhead=OVERHEAD, n_ctx=ctx)


def fits(need: MemoryEstimate, variant: str) -> bool:
    return need.total <= LIMITS[variant]
