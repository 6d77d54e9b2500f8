"""What each benchmark model gets in ``make bench`` (runs, tokens, engines, the long prompt)."""

from __future__ import annotations

from dataclasses import dataclass

from report import ENGINES


@dataclass(frozen=True)
class Plan:
    """What one model gets, so that six models fit in 45 minutes on 2 cores.

    Models over 500 MiB (the 1B and 3B shapes) decode 32 tokens (the rate settles within
    a few), run once, and skip Firefox; the 512-token prompt is measured by the py, js
    and native rows only (wllama's and native128's K-quant prefill would take minutes
    alone on the 3B shape, and the targets compare with native).
    """

    n_gen: int
    reps: int
    warm: int
    engines: tuple[str, ...]
    long: tuple[str, ...] = ("py", "js", "native")

    @classmethod
    def for_model(cls, file_mib: float, reps: int) -> Plan:
        if file_mib > 500:
            return cls(32, 1, 4, tuple(e for e in ENGINES if e != "py-firefox"))
        return cls(128, reps, 16, ENGINES)
