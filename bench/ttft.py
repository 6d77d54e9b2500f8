"""Time to first token from a cold page, a first visit and a cached one: TTFT lines.

A visit is a navigation to bench/pages/ttft.html (the Python API: Pyodide, the
wheel, ``LLM.load`` with its default OPFS cache, a streamed chat) or
ttft-wllama.html (wllama with its own cache on); each stage is stamped in ms since
the navigation began. The first visit is a fresh Chromium (empty HTTP cache, empty
OPFS); the cached visit navigates the same browser to the same page again. The
server answers ``Cache-Control: no-cache`` (the browser keeps files but revalidates
each, one round trip apiece: what static hosts' defaults come down to), unlike the
other sections' ``no-store``.

On 127.0.0.1 a download costs nothing, so a first visit there measures only the CPU's
work. Each round is therefore run twice: on the bare loopback (``local``) and through
a simulated link (``LINK``: the server shares one 50 Mbit/s budget among all its
connections and answers each request 20 ms late), where a first visit pays for its
downloads as a user's would.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyodide_llm._host.serve import Handler, StaticServer

LINK = {"mbit_s": 50, "rtt_ms": 20}
PAGES = {"py": "ttft.html", "wllama": "ttft-wllama.html"}
VISITS = ("first", "cached")
STAGES = {"py": ("pyodide_ms", "wheel_ms", "loaded_ms", "first_token_ms"),
          "wllama": ("module_ms", "loaded_ms", "first_token_ms")}


class _Link:
    """One shared downlink: each chunk waits for its turn at ``bytes_per_s``, whichever connection sends it."""

    def __init__(self, bytes_per_s: float) -> None:
        self.rate = bytes_per_s
        self.lock = threading.Lock()
        self.free_at = 0.0

    def send(self, n: int) -> None:
        with self.lock:
            self.free_at = max(time.monotonic(), self.free_at) + n / self.rate
            until = self.free_at
        time.sleep(max(0.0, until - time.monotonic()))


class _SlowWriter:
    def __init__(self, raw: Any, link: _Link) -> None:
        self.raw, self.link = raw, link

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        for i in range(0, len(view), 1 << 16):
            chunk = view[i:i + (1 << 16)]
            self.link.send(len(chunk))
            self.raw.write(chunk)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _linked(mbit_s: float, rtt_ms: float) -> type[Handler]:
    link = _Link(mbit_s * 1e6 / 8)

    class LinkHandler(Handler):
        def setup(self) -> None:
            super().setup()
            self.wfile = _SlowWriter(self.wfile, link)  # type: ignore[assignment]

        def parse_request(self) -> bool:
            time.sleep(rtt_ms / 1000)
            return super().parse_request()

    return LinkHandler


def run_ttft_section(site: Path, model: str, threads: int, reps: int, run_page: Callable[[Any, str], dict],
                     new_driver: Callable[[], Any]) -> list[str]:
    """``reps`` rounds of (py, wllama), each a fresh browser visiting twice, over ``LINK``; one on loopback."""
    lines = []
    for profile, rounds in (("local", 1), ("link", reps)):
        base = _linked(**LINK) if profile == "link" else Handler
        server = StaticServer(site, isolated=True, cache_control="no-cache", base=base)
        try:
            lines += _rounds(server, profile, model, threads, rounds, run_page, new_driver)
        finally:
            server.stop()
    return lines


def _rounds(server: StaticServer, profile: str, model: str, threads: int, reps: int,
            run_page: Callable[[Any, str], dict], new_driver: Callable[[], Any]) -> list[str]:
    runs: dict[tuple[str, str], list[dict]] = {}
    for rep in range(reps):
        for engine, page in PAGES.items():
            driver = new_driver()
            try:
                for visit in VISITS:
                    before = len(server.requests)
                    r = run_page(driver, f"{server.url}/{page}?threads={threads}&model=./models/{model}.gguf")
                    r["model_gets"] = sum(1 for p in server.requests[before:] if p.partition("?")[0].endswith(".gguf"))
                    r["requests"] = len(server.requests) - before
                    runs.setdefault((engine, visit), []).append(r)
                    print(f"ttft {profile} rep {rep + 1} {engine:6s} {visit:6s} first token "
                          f"{r['first_token_ms']:6.0f} ms "
                          + " ".join(f"{s}={r[s]:.0f}" for s in STAGES[engine])
                          + f" model GETs {r['model_gets']}, requests {r['requests']}", flush=True)
            finally:
                driver.quit()
    return ttft_lines(runs, model, threads, profile)


def ttft_lines(runs: dict[tuple[str, str], list[dict]], model: str, threads: int, profile: str) -> list[str]:
    """A TTFT line per visit kind: each engine's stages (median [min-max] ms), and the ratios."""
    def med(engine: str, visit: str, key: str = "first_token_ms") -> float:
        return statistics.median(r[key] for r in runs[(engine, visit)])

    def col(engine: str, visit: str, key: str) -> str:
        v = [r[key] for r in runs[(engine, visit)]]
        return f"{statistics.median(v):.0f}" + (f" [{min(v):.0f}-{max(v):.0f}]" if len(v) > 1 else "")

    out = []
    for visit in VISITS:
        where = "127.0.0.1" if profile == "local" else f"{LINK['mbit_s']} Mbit/s {LINK['rtt_ms']} ms"
        parts = [f"TTFT {visit} {profile} ({where}) {model} t{threads}"]
        for engine, stages in STAGES.items():
            parts.append(f"{engine}: " + " ".join(f"{s.removesuffix('_ms')}={col(engine, visit, s)}" for s in stages)
                         + f" model_gets={col(engine, visit, 'model_gets')}")
        parts.append(f"py_vs_wllama={med('py', visit) / med('wllama', visit):.2f}")
        if visit != "first":
            parts.append(" ".join(f"{e}_vs_first={med(e, visit) / med(e, 'first'):.2f}" for e in STAGES))
        out.append("; ".join(parts) + " (ms since navigation)")
    return out
