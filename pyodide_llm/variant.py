"""Choosing the engine variant and thread count from the page's capabilities."""

from __future__ import annotations

from typing import Any

from .errors import UnsupportedEnvironmentError
from .options import LoadOptions

MAX_AUTO_THREADS = 8  # ggml's pool spins: more threads than cores only slows it down

# WebAssembly features each variant is compiled with (emscripten.toml; a host test
# keeps the two in step). The memory64 build also uses relaxed SIMD: every engine
# that ships memory64 has it, and its dot products are our fastest kernels.
REQUIRES: dict[str, tuple[str, ...]] = {
    "wasm64-mt": ("memory64", "relaxed_simd"),
    "wasm32-mt": (),
    "wasm32-st": (),
}


def choose_variant(caps: dict[str, Any], opts: LoadOptions) -> tuple[str, int]:
    """Return ``(variant, n_threads)`` for these capabilities and load options.

    Threaded variants need SharedArrayBuffer, i.e. a cross-origin isolated page
    (COOP/COEP headers); memory64 needs engine support. ``variant="auto"`` picks
    memory64 (+ relaxed SIMD) + threads, else wasm32 + threads, else the
    single-thread build.
    """
    isolated = bool(caps.get("cross_origin_isolated")) and bool(caps.get("threads"))
    mem64 = all(caps.get(f) for f in REQUIRES["wasm64-mt"])
    cores = max(1, int(caps.get("hardware_concurrency") or 1))
    v = opts.variant
    if v == "auto":
        v = ("wasm64-mt" if mem64 else "wasm32-mt") if isolated else "wasm32-st"
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
