"""Renderer memory over load/generate/close cycles in one page: a closed model's engine
kept idle for the next load (``close()``) against a new worker per load
(``close(keep_engine=False)``, every load before idle engines were kept).

    python3 bench/cycles.py [--cycles 40] [--every 10]

Prints the summed resident memory (VmRSS) of the session's renderer processes after
a warm-up cycle and every ``--every`` cycles, one fresh Chromium per mode, SmolLM2
with ``cache=False`` on an isolated page (wasm32-relaxed-mt, 2 threads).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

from conftest import FaultyHandler, _driver, _open  # noqa: E402
from memory import renderer_rss_mib  # noqa: E402
from pyodide_llm._host.serve import StaticServer  # noqa: E402
from recipes.build import log  # noqa: E402
from recipes.pins import load_pins  # noqa: E402
from recipes.pyodide_dist import pyodide_dist  # noqa: E402
from recipes.source import model_file  # noqa: E402
from recipes.wheel import build_wheel  # noqa: E402
from testsite import build_site  # noqa: E402

CYCLE = """
for _ in range({n}):
    m = await LLM.load("models/smollm2.gguf", n_ctx=256, cache=False)
    "".join([p async for p in m.complete("1, 2, 3,", max_tokens=4, temperature=0)])
    await m.close(keep_engine={keep})
_json.dumps(True)
"""


def measure(server: StaticServer, keep: bool, cycles: int, every: int) -> list[tuple[int, float]]:
    driver = _driver()
    try:
        page = _open(driver, server)
        page.run("from pyodide_llm import LLM\n" + CYCLE.format(n=1, keep=keep), timeout=300)
        points = [(1, renderer_rss_mib(driver))]
        done = 1
        while done < cycles:
            n = min(every, cycles - done)
            page.run(CYCLE.format(n=n, keep=keep), timeout=600)
            done += n
            points.append((done, renderer_rss_mib(driver)))
        return points
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=40)
    ap.add_argument("--every", type=int, default=10)
    args = ap.parse_args()
    pins = load_pins()
    with tempfile.TemporaryDirectory() as tmp:
        site = build_site(Path(tmp) / "site", pyodide_dist(pins, log), build_wheel(log),
                          model_file(pins, "smollm2", log))
        server = StaticServer(site, isolated=True, base=FaultyHandler)
        try:
            for keep in (False, True):
                points = measure(server, keep, args.cycles, args.every)
                per = (points[-1][1] - points[0][1]) / max(points[-1][0] - points[0][0], 1)
                label = "idle engine kept" if keep else "new worker per load"
                trace = ", ".join(f"{n}: {mib:.0f}" for n, mib in points)
                print(f"CYCLES {label:20s} renderer RSS MiB after cycle {trace}; {per:+.1f} MiB/cycle", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
