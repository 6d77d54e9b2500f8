"""Which threads of a benchmark page's renderer used the CPU while it decoded.

Why: on a 2-core machine, Pyodide consuming tokens on the page's main thread may
take CPU time from the engine's two threads (a dedicated worker and its pthread
worker). The page reports when its measured decode began and ended (epoch
milliseconds, ``decode_t0``/``decode_t1``); a thread here samples every thread of
the renderer processes from /proc meanwhile, and :meth:`CpuSampler.share` turns the
samples inside that window into cores used: the page's main thread
(``CrRendererMain``), its workers (``DedicatedWorker``: the engine, its pthreads),
and everything else (V8's compiler and GC helpers, IO).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from memory import _descendants

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _renderers(root: int) -> list[int]:
    out = []
    for pid in _descendants(root):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--type=renderer" in cmd and b"--extension-process" not in cmd:
            out.append(pid)
    return out


def _threads(pid: int) -> dict[int, tuple[str, int]]:
    """Each thread of ``pid``: its group (main, workers, other) and CPU time so far (user + system, ticks)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        tid = int(task.name)
        group = "main" if tid == pid else "workers" if name.startswith("DedicatedWorker") else "other"
        out[tid] = (group, int(fields[11]) + int(fields[12]))  # utime, stime
    return out


class CpuSampler:
    """Sample the renderers under a WebDriver session every ``period`` seconds until :meth:`stop`."""

    def __init__(self, driver, period: float = 0.05) -> None:
        self.root = driver.service.process.pid
        self.period = period
        self.samples: list[Sample] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pids: list[int] = []
        while not self._done.is_set():
            if not pids:
                pids = _renderers(self.root)
            snap: dict[int, tuple[str, int]] = {}
            for pid in pids:
                try:
                    snap |= _threads(pid)
                except OSError:  # the renderer went away (the page navigated): find it again
                    pids = []
            self.samples.append((time.time() * 1000, snap))
            self._done.wait(self.period)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def share(self, t0_ms: float, t1_ms: float) -> dict[str, float]:
        """Cores each thread group used in the window [t0, t1] (see :func:`cores_used`)."""
        return cores_used(self.samples, t0_ms, t1_ms)


Sample = tuple[float, dict[int, tuple[str, int]]]


def cores_used(samples: list[Sample], t0_ms: float, t1_ms: float) -> dict[str, float]:
    """Cores each thread group used between the first and last samples inside [t0, t1].

    A thread that appeared after the first of them counts from zero. Empty when fewer
    than two samples fall inside (a window shorter than the sampling period).
    """
    inside = [s for s in samples if t0_ms <= s[0] <= t1_ms]
    if len(inside) < 2:
        return {}
    (a_ms, a), (b_ms, b) = inside[0], inside[-1]
    used = {"main": 0, "workers": 0, "other": 0}
    for tid, (group, ticks) in b.items():
        used[group] += ticks - a.get(tid, (group, 0))[1]
    seconds = (b_ms - a_ms) / 1000
    return {f"cpu_{k}": v * TICK_S / seconds for k, v in used.items()}
