"""Choosing the engine variant and thread count from the page's capabilities."""

from __future__ import annotations

from typing import Any

from .errors import ModelLoadError, UnsupportedEnvironmentError
from .options import LoadOptions
from .sizing import GIB, LIMITS, MemoryEstimate, fits

MAX_AUTO_THREADS = 8  # ggml's pool spins: more threads than cores only slows it down

# WebAssembly features each variant is compiled with (emscripten.toml; a host test
# keeps the two in step). The memory64 build also uses relaxed SIMD: every engine
# that ships memory64 has it, and its dot products are our fastest kernels.
REQUIRES: dict[str, tuple[str, ...]] = {
    "wasm64-mt": ("memory64", "relaxed_simd"),
    "wasm32-mt": (),
    "wasm32-st": (),
}


def _too_large(need: MemoryEstimate, v: str, can_64: bool) -> ModelLoadError:
    if not fits(need, "wasm64-mt"):
        advice = "no engine variant can hold it; choose a smaller quantization or a smaller n_ctx"
    elif can_64:
        advice = "use variant='wasm64-mt' (or 'auto')"
    else:
        advice = ("it needs the wasm64-mt variant: a cross-origin isolated page (COOP/COEP) in a browser with "
                  "WebAssembly memory64 and relaxed SIMD")
    return ModelLoadError(f"the model needs {need.describe()}, more than the {LIMITS[v] // GIB} GiB variant {v} can "
                          f"address; {advice}", "out_of_memory")


def choose_variant(caps: dict[str, Any], opts: LoadOptions,
                   need: MemoryEstimate | None = None) -> tuple[str, int]:
    """Return ``(variant, n_threads)`` for these capabilities and load options.

    Threaded variants need SharedArrayBuffer, i.e. a cross-origin isolated page
    (COOP/COEP headers); memory64 needs engine support. ``variant="auto"`` picks
    memory64 (+ relaxed SIMD) + threads, else wasm32 + threads, else the
    single-thread build. With ``need`` (from the model's header) a model that
    does not fit the chosen variant's address space is refused up front with
    ``ModelLoadError`` (code ``out_of_memory``) naming the need and the limit.
    """
    isolated = bool(caps.get("cross_origin_isolated")) and bool(caps.get("threads"))
    mem64 = all(caps.get(f) for f in REQUIRES["wasm64-mt"])
    cores = max(1, int(caps.get("hardware_concurrency") or 1))
    v = opts.variant
    can_64 = isolated and mem64
    if v == "auto":
        v = ("wasm64-mt" if mem64 else "wasm32-mt") if isolated else "wasm32-st"
        if need is not None and not fits(need, v) and can_64 and fits(need, "wasm64-mt"):
            v = "wasm64-mt"
    if need is not None and v in LIMITS and not fits(need, v):
        raise _too_large(need, v, can_64)
    if v.endswith("-mt") and not isolated:
        raise UnsupportedEnvironmentError(
            f"variant {v!r} needs threads, but this page is not cross-origin isolated; serve it with "
            "'Cross-Origin-Opener-Policy: same-origin' and 'Cross-Origin-Embedder-Policy: require-corp', "
            "or use variant='wasm32-st'", "unsupported_environment")
    missing = [f for f in REQUIRES.get(v, ()) if not caps.get(f)]
    if missing:
        raise UnsupportedEnvironmentError(f"variant {v!r} needs WebAssembly {' and '.join(missing)}, which this "
                                          "browser lacks; use 'wasm32-mt' or 'wasm32-st'", "unsupported_environment")
    if v == "wasm32-st":
        if opts.n_threads not in (None, 1):
            raise ValueError("the single-thread variant runs exactly 1 thread; serve the page cross-origin "
                             "isolated for more")
        return v, 1
    return v, opts.n_threads or min(cores, MAX_AUTO_THREADS)
