"""What each benchmark model gets in ``make bench`` (runs, tokens, engines, the long prompt)."""

from __future__ import annotations

from dataclasses import dataclass

from report import ENGINES


@dataclass(frozen=True)
class Plan:
    """What one model gets, so that six models fit in 45 minutes on 2 cores.

    Models over 500 MiB (the 1B and 3B shapes, Qwen's Q8_0) decode 32 tokens (the rate
    settles within a few), run once, and skip Firefox; there native128 skips the K-quants
    too (ggml has no x86 kernel for them below AVX: its scalar code took 4 of the first
    run's 51 minutes to say 1.4-3.8 tok/s). The 512-token prompt is measured by the py,
    js, js64 and native rows only (the targets compare with native; wllama's would take
    minutes alone on the 3B shape). js64 (the js page on wasm64-mt) runs everywhere js does:
    it is what the WASM32 lines compare with.
    """

    n_gen: int
    reps: int
    warm: int
    engines: tuple[str, ...]
    long: tuple[str, ...] = ("py", "js", "js64", "native")

    @classmethod
    def for_model(cls, file_mib: float, reps: int, k_quant: bool = False) -> Plan:
        if file_mib > 500:
            skip = {"py-firefox", "native128"} if k_quant else {"py-firefox"}
            return cls(32, 1, 4, tuple(e for e in ENGINES if e not in skip))
        return cls(128, reps, 16, ENGINES)
