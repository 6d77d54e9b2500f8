"""The engine variants, and choosing one for a page and a model.

This is the one list of variants: the recipes build these names (with the
flags of ``emscripten.toml [variants.NAME]``, which a host test keeps in step
with the features below), the wheel ships them, and the node and browser tests
run them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._errors import ModelLoadError, UnsupportedEnvironmentError
from ._sizing import GIB, MIB, MemoryEstimate

MAX_AUTO_THREADS = 8  # ggml's pool spins: more threads than cores only slows it down
# variant="auto" takes the 32-bit relaxed build only with this much of its 4 GiB to spare:
# near the limit an estimate's error would fail a load that wasm64-mt (5-15 % slower
# decoding) holds with ease. Named explicitly, the variant gets the whole 4 GiB.
AUTO_WASM32_HEADROOM = 512 * MIB


@dataclass(frozen=True)
class Variant:
    """One build of the engine and what a browser needs to run it."""

    name: str
    memory64: bool  # 64-bit linear memory: models over 4 GB
    threads: bool  # pthreads: needs SharedArrayBuffer, i.e. a cross-origin isolated page
    relaxed_simd: bool  # compiled with -mrelaxed-simd (our fastest dot products)
    max_memory: int  # bytes of linear memory it can address (emscripten's MAXIMUM_MEMORY)
    webgpu: bool = False  # llama.cpp's WebGPU backend; its GPU waits suspend through JSPI

    @property
    def requires(self) -> tuple[str, ...]:
        """The ``capabilities()`` features (besides threads) the browser must have."""
        return tuple(f for f in ("memory64", "relaxed_simd") if getattr(self, f)) + (("jspi",) if self.webgpu else ())


# In order of preference. wasm32-relaxed-mt comes first for the models that fit 4 GiB:
# V8 checks the bounds of every memory64 access, so the same kernels run 5-40 % faster
# on 32-bit memory (bench/RESULTS.md). wasm64-mt holds the bigger ones; wasm32-mt and
# wasm32-st are the fallbacks for engines without relaxed SIMD (Firefox ESR 140, Safari)
# or without cross-origin isolation.
TABLE: dict[str, Variant] = {v.name: v for v in (
    Variant("wasm32-relaxed-mt", memory64=False, threads=True, relaxed_simd=True, max_memory=4 * GIB),
    Variant("wasm64-mt", memory64=True, threads=True, relaxed_simd=True, max_memory=16 * GIB),
    Variant("wasm32-mt", memory64=False, threads=True, relaxed_simd=False, max_memory=4 * GIB),
    Variant("wasm32-st", memory64=False, threads=False, relaxed_simd=False, max_memory=4 * GIB),
    # Never chosen by variant="auto": only by the GPU choice (gpu=, _gpu.py) or by name.
    Variant("wasm64-webgpu", memory64=True, threads=True, relaxed_simd=True, max_memory=16 * GIB, webgpu=True),
)}
VARIANTS: tuple[str, ...] = tuple(TABLE)
CPU_VARIANTS: tuple[str, ...] = tuple(n for n, v in TABLE.items() if not v.webgpu)
GPU_VARIANT = "wasm64-webgpu"


def fits(need: MemoryEstimate, variant: str) -> bool:
    """Whether a model with this memory need fits the variant's address space."""
    return need.total <= TABLE[variant].max_memory


def _too_large(need: MemoryEstimate, v: str, can_64: bool) -> ModelLoadError:
    if not fits(need, "wasm64-mt"):
        advice = "no engine variant can hold it; choose a smaller quantization or a smaller n_ctx"
    elif can_64:
        advice = "use variant='wasm64-mt' (or 'auto')"
    else:
        advice = ("it needs the wasm64-mt variant: a cross-origin isolated page (COOP/COEP) in a browser with "
                  "WebAssembly memory64 and relaxed SIMD")
    return ModelLoadError(f"the model needs {need.describe()}, more than the {TABLE[v].max_memory // GIB} GiB "
                          f"variant {v} can address; {advice}", "out_of_memory")


def choose_variant(caps: dict[str, Any], variant: str = "auto", n_threads: int | None = None,
                   need: MemoryEstimate | None = None) -> tuple[str, int]:
    """Return ``(variant, n_threads)`` for these capabilities and load options.

    Threaded variants need SharedArrayBuffer, i.e. a cross-origin isolated page
    (COOP/COEP headers); memory64 needs engine support. ``variant="auto"`` picks
    the fastest build the page can run that holds the model: wasm32 + relaxed
    SIMD + threads when ``need`` fits 4 GiB with :data:`AUTO_WASM32_HEADROOM` to
    spare, or when the page has no memory64 (V8 bounds-checks memory64 accesses,
    so 32-bit memory runs the same kernels faster); memory64 + relaxed SIMD +
    threads for bigger models or an unknown ``need``; else wasm32 + threads;
    else the single-thread build. With ``need`` (from the model's header) a
    model that does not fit the chosen variant's address space is refused up
    front with ``ModelLoadError`` (code ``out_of_memory``) naming the need and
    the limit.
    """
    isolated = bool(caps.get("cross_origin_isolated")) and bool(caps.get("threads"))
    can_64 = isolated and all(caps.get(f) for f in TABLE["wasm64-mt"].requires)
    cores = max(1, int(caps.get("hardware_concurrency") or 1))
    if variant == "auto":
        roomy = need is not None and need.total + AUTO_WASM32_HEADROOM <= TABLE["wasm32-relaxed-mt"].max_memory
        if isolated and caps.get("relaxed_simd") and (roomy or not can_64):
            variant = "wasm32-relaxed-mt"
        else:  # the best the page can run that holds the most
            variant = "wasm64-mt" if can_64 else "wasm32-mt" if isolated else "wasm32-st"
    v = variant
    if need is not None and not fits(need, v):
        raise _too_large(need, v, can_64)
    chosen = TABLE[v]
    if chosen.threads and not isolated:
        raise UnsupportedEnvironmentError(
            f"variant {v!r} needs threads, but this page is not cross-origin isolated; serve it with "
            "'Cross-Origin-Opener-Policy: same-origin' and 'Cross-Origin-Embedder-Policy: require-corp', "
            "or use variant='wasm32-st'", "unsupported_environment")
    missing = [f for f in chosen.requires if not caps.get(f)]
    if missing:
        raise UnsupportedEnvironmentError(f"variant {v!r} needs WebAssembly {' and '.join(missing)}, which this "
                                          "browser lacks; use 'wasm32-mt' or 'wasm32-st'", "unsupported_environment")
    if not chosen.threads:
        if n_threads not in (None, 1):
            raise ValueError("the single-thread variant runs exactly 1 thread; serve the page cross-origin "
                             "isolated for more")
        return v, 1
    return v, n_threads or min(cores, MAX_AUTO_THREADS)
