"""``make soak``: long use, hostile files and hostile headers, with figures, outside ``make test``.

1. The page soak (tests/browser/soak.py) at full size: 500 mixed generations (every
   5th broken off, every 7th cancelled), 50 load/generate/close cycles, two models
   generating at once; renderer RSS and engine workers after each phase.
2. The engine's loader fuzzer (tests/node/loader_fuzz.test.mjs) on every CPU variant:
   ``--cases`` mutated or cut SmolLM2 files and a third as many MiniLM files each.
3. The GGUF header reader under hypothesis (tests/host/test_gguf_fuzz.py),
   ``--examples`` inputs per property.

Ends in one line: ``SOAK ok``, or ``SOAK FAIL`` with every target missed. Targets:
RSS growth <= 3 % over the generations and <= 5 % over the cycles, no engine worker
left after everything closed, no error, the greedy answer unchanged, every fuzz case
typed (tests/node/loader_fuzz.test.mjs says what counts).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .build import cmd_nodetest, log
from .pins import REPO, load_pins
from .pyodide_dist import pyodide_dist
from .source import model_file

GROWTH_GENERATIONS = 0.03
GROWTH_CYCLES = 0.05


def page_soak(generations: int, cycles: int, rounds: int) -> list[str]:
    """Phase 1; returns the targets it missed."""
    sys.path[:0] = [str(REPO / "tests" / "browser")]  # the browser tier's own helpers
    from conftest import FaultyHandler, _page_on
    from pyodide_llm._host.serve import StaticServer
    from soak import run_soak
    from testsite import build_site

    wheels = sorted((REPO / "dist").glob("pyodide_llm-*-py3-none-any.whl"))
    if not wheels:
        return ["no wheel in dist/: run `make wheel` (make soak does)"]
    pins = load_pins()
    with tempfile.TemporaryDirectory() as tmp:
        site = build_site(Path(tmp) / "site", pyodide_dist(pins, log), wheels[-1], model_file(pins, "smollm2", log))
        server = StaticServer(site, isolated=True, base=FaultyHandler)
        try:
            pages = _page_on(server)
            page = next(pages)
            try:
                report = run_soak(page, generations, cycles, rounds)
            finally:
                pages.close()
        finally:
            server.stop()
    for line in report.lines():
        print(line, flush=True)
    missed = []
    if report.growth("warm", "generations") > GROWTH_GENERATIONS:
        missed.append(f"RSS grew {report.growth('warm', 'generations'):+.1%} over the generations "
                      f"(target {GROWTH_GENERATIONS:.0%})")
    if report.growth("cycles warm", "cycles") > GROWTH_CYCLES:
        missed.append(f"RSS grew {report.growth('cycles warm', 'cycles'):+.1%} over the cycles "
                      f"(target {GROWTH_CYCLES:.0%})")
    if report.live_engines:
        missed.append(f"{report.live_engines} engine workers the client never ended")
    if report.errors:
        missed.append(f"{len(report.errors)} errors")
    if report.again != report.reference:
        missed.append(f"the greedy answer changed: {report.reference!r} -> {report.again!r}")
    return missed


def loader_fuzz(cases: int) -> list[str]:
    """Phase 2; returns the targets it missed."""
    os.environ["PLM_FUZZ_CASES"] = str(cases)
    rc = cmd_nodetest([str(REPO / "tests" / "node" / "loader_fuzz.test.mjs")])
    return [] if rc == 0 else ["the loader fuzzer found defects (FUZZ DEFECT lines above)"]


def header_fuzz(examples: int) -> list[str]:
    """Phase 3; returns the targets it missed."""
    env = dict(os.environ, PLM_FUZZ_EXAMPLES=str(examples))
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(REPO / "tests" / "host" / "test_gguf_fuzz.py")], cwd=REPO, env=env)
    return [] if rc == 0 else ["the GGUF header fuzzer failed (pytest output above)"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m recipes.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--generations", type=int, default=500)
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20, help="rounds of two models generating at once")
    ap.add_argument("--cases", type=int, default=1500, help="loader fuzz cases per variant (SmolLM2)")
    ap.add_argument("--examples", type=int, default=5000, help="hypothesis examples per GGUF property")
    args = ap.parse_args(argv)
    missed = page_soak(args.generations, args.cycles, args.rounds)
    missed += loader_fuzz(args.cases)
    missed += header_fuzz(args.examples)
    print("SOAK ok" if not missed else "SOAK FAIL: " + "; ".join(missed), flush=True)
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
