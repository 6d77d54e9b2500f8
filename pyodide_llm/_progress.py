"""Load progress for people: a bar in notebooks, a callback for programs.

Why a module of its own: ``LLM.load(progress=...)`` takes a callback, ``True``
(a bar: tqdm's notebook widget when ipywidgets is there, else a one-line text
bar) or ``False``; the default is a bar inside a notebook kernel (JupyterLite)
and nothing elsewhere. Updates are throttled so that drawing never slows a load.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

ProgressCallback = Callable[[int, int, str], None]
MIB = 1 << 20
COUNTED = {"map": "rows"}  # stages that count items, not bytes (LLM.map)


class TextBar:
    """A one-line bar redrawn in place, at most every ``min_interval`` s or 1 % (and at stage ends)."""

    def __init__(self, out: TextIO | None = None, min_interval: float = 0.1, width: int = 30) -> None:
        self.out = out or sys.stdout
        self.min_interval = min_interval
        self.width = width
        self._last: tuple[str | None, float, float] = (None, -1.0, 0.0)  # stage, fraction drawn, time drawn

    def __call__(self, loaded: int, total: int, stage: str) -> None:
        frac = loaded / total if total else 0.0
        last_stage, last_frac, last_t = self._last
        now = time.monotonic()
        done = bool(total) and loaded >= total
        if stage == last_stage and not done and frac - last_frac < 0.01 and now - last_t < self.min_interval:
            return
        if stage == last_stage and done and last_frac >= 1.0:
            return
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        if stage in COUNTED:
            size = f"{loaded}/{total} {COUNTED[stage]}"
        else:
            size = f"{loaded / MIB:.0f}/{total / MIB:.0f} MiB" if total else f"{loaded / MIB:.0f} MiB"
        end = "\n" if done else ""
        self.out.write(f"\r{stage:<8s} [{bar}] {frac * 100:5.1f}% {size}{end}")
        self.out.flush()
        self._last = (stage, frac, now)


class _TqdmBar:
    def __init__(self, tqdm_cls: Any) -> None:
        self._tqdm = tqdm_cls
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, loaded: int, total: int, stage: str) -> None:
        if stage != self._stage:
            if self._bar is not None:
                self._bar.close()
            unit = COUNTED.get(stage, "B")
            self._bar = self._tqdm(total=total or None, desc=stage, unit=unit, unit_scale=unit == "B",
                                   mininterval=0.1)
            self._stage = stage
        self._bar.update(loaded - self._bar.n)
        if total and loaded >= total:
            self._bar.close()


def in_notebook() -> bool:
    """True inside an IPython kernel (JupyterLite's, or Jupyter's)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and hasattr(shell, "kernel")


def resolve(progress: ProgressCallback | bool | None) -> ProgressCallback | None:
    """Turn ``LLM.load``'s ``progress`` argument into a callback (or None)."""
    if progress is None:
        progress = in_notebook()
    if progress is False:
        return None
    if progress is True:
        if "ipywidgets" in sys.modules or _importable("ipywidgets"):
            try:
                from tqdm.notebook import tqdm

                return _TqdmBar(tqdm)
            except ImportError:
                pass
        return TextBar()
    if not callable(progress):
        raise ValueError("progress must be a callable (loaded, total, stage), True, False or None")
    return progress


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
