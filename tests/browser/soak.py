"""Hours of use in one page, compressed: the phases of the soak, at any size.

Why one module for two sizes: ``make soak`` runs it long (500 generations, 50
cycles; ``recipes/soak.py``) and ``make test`` runs it short
(``test_soak.py``); both must measure the same things the same way.

In one cross-origin isolated page (wasm32-relaxed-mt, 2 threads), SmolLM2:

1. warm-up: load, the greedy reference answer, 10 generations;
2. ``generations`` mixing chat and complete with random lengths and sampling,
   every 5th broken off (``break`` after a few pieces), every 7th cancelled as an
   asyncio task while it runs;
3. ``cycles`` load/generate/close cycles of a second model beside the first (its
   engine waits idle between cycles, as ``close()`` keeps it: growth is counted
   from after the first cycle);
4. two models loaded at once, generating concurrently, ``rounds`` times;
5. the greedy answer again (equal to the first), then everything closed.

After each phase: the renderer's resident memory (VmRSS of the page's renderer
processes, /proc) and the engine workers Chromium lists (CDP); at the end, the
client's own count of engines it started and did not end (Chromium 156 sometimes
lists a worker it was told to terminate: client.mjs ``endedEngines``). Errors are
every exception a generation raised that the soak did not ask for.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.memory import renderer_rss_mib

SETUP = """
import asyncio, random
from pyodide_llm import LLM
QUESTIONS = ["What is the capital of France?", "Name three colors.", "Why is the sky blue?",
             "Write a haiku about rain.", "What is 12 times 7?", "Say hello in Spanish."]
STARTS = ["Once upon a time", "The recipe calls for", "1, 2, 3,", "def fib(n):", "Dear Sir,"]
REFERENCE = [{"role": "user", "content": "What is the capital of France? Answer in two sentences."}]
soak = {"done": 0, "broken": 0, "cancelled": 0, "errors": [], "rng": random.Random(1234)}

async def greedy(llm):
    return await llm.chat(REFERENCE, max_tokens=32, temperature=0).text()

async def one(llm, i):
    rng = soak["rng"]
    opts = dict(max_tokens=rng.randint(1, 48), temperature=rng.choice([0.0, 0.3, 0.7, 1.0, 1.3]),
                top_k=rng.choice([0, 20, 40]), top_p=rng.choice([1.0, 0.9, 0.5]), seed=rng.randint(0, 2**31))
    try:
        if i % 2:
            stream = llm.complete(rng.choice(STARTS), **opts)
        else:
            stream = llm.chat([{"role": "user", "content": rng.choice(QUESTIONS)}], **opts)
        if i % 7 == 0:  # cancelled as a task, while it runs
            async def consume():
                return [p async for p in stream]
            task = asyncio.ensure_future(consume())
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            task.cancel()
            try:
                await task
                soak["done"] += 1  # it ended before the cancel came
            except asyncio.CancelledError:
                soak["cancelled"] += 1
        elif i % 5 == 0:  # broken off after a few pieces, as a reader who has seen enough
            n = rng.randint(0, 3)
            k = 0
            async for _ in stream:
                k += 1
                if k > n:
                    break
            soak["broken"] += 1
        else:
            "".join([p async for p in stream])
            soak["done"] += 1
    except Exception as e:
        soak["errors"].append(f"generation {i}: {type(e).__name__}: {e}")
"""

WARM_UP = """
llm = await LLM.load("models/smollm2.gguf", n_ctx=1024, cache=False)
reference = await greedy(llm)
for i in range(1, 11):
    await one(llm, i)
_json.dumps({"variant": llm.info.variant, "threads": llm.info.n_threads, "errors": soak["errors"]})
"""

GENERATE = """
for i in range({first}, {last}):
    await one(llm, i)
_json.dumps({{k: soak[k] for k in ("done", "broken", "cancelled", "errors")}})
"""

CYCLES = """
for c in range({first}, {last}):
    try:
        m = await LLM.load("models/smollm2.gguf", n_ctx=256, cache=False)
        await m.complete("1, 2, 3,", max_tokens=4, temperature=0).text()
        await m.close()
    except Exception as e:
        soak["errors"].append(f"cycle {{c}}: {{type(e).__name__}}: {{e}}")
_json.dumps(soak["errors"])
"""

TWO_MODELS = """
second = await LLM.load("models/smollm2.gguf", n_ctx=512, cache=False, variant="wasm32-mt")
for r in range({rounds}):
    a, b = await asyncio.gather(llm.chat(REFERENCE, max_tokens=24, temperature=0).text(),
                                second.complete("The recipe calls for", max_tokens=24, temperature=0.8,
                                                seed=r).text(),
                                return_exceptions=True)
    for x in (a, b):
        if isinstance(x, BaseException):
            soak["errors"].append(f"two models, round {{r}}: {{type(x).__name__}}: {{x}}")
await second.close(keep_engine=False)
_json.dumps(soak["errors"])
"""

FINISH = """
again = await greedy(llm)
await llm.close(keep_engine=False)
from pyodide_llm._browser.files import module
client = await module("js/client.mjs")
client.endIdleEngines()
_json.dumps({"reference": reference, "again": again, "errors": soak["errors"],
             "live": client.startedEngines() - client.endedEngines()})
"""


@dataclass
class SoakReport:
    """The figures of one soak: memory and workers after each phase, counts, errors."""

    rss_mib: dict[str, float] = field(default_factory=dict)
    workers: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    reference: str = ""
    again: str = ""
    variant: str = ""
    live_engines: int = -1  # engine workers the client started and did not end, after everything closed

    def growth(self, before: str, after: str) -> float:
        """Relative RSS growth from phase ``before`` to ``after`` (0.01 = 1 %)."""
        return self.rss_mib[after] / self.rss_mib[before] - 1.0

    def lines(self) -> list[str]:
        """The report as ``SOAK`` lines (the figures ``make soak`` prints)."""
        rss = ", ".join(f"{k} {v:.0f}" for k, v in self.rss_mib.items())
        workers = ", ".join(f"{k} {v}" for k, v in self.workers.items())
        return [
            f"SOAK page: {self.variant}",
            f"SOAK renderer RSS MiB: {rss}",
            f"SOAK growth: generations {self.growth('warm', 'generations'):+.1%}, "
            f"cycles {self.growth('cycles warm', 'cycles'):+.1%}",
            f"SOAK engine workers (CDP, with pthreads): {workers}; the client's own count of live engines "
            f"after closing: {self.live_engines}",
            f"SOAK generations: {self.counts}",
            f"SOAK errors: {len(self.errors)}" + "".join(f"\nSOAK error: {e}" for e in self.errors[:20]),
            f"SOAK greedy answer unchanged: {self.reference == self.again} ({self.reference!r})",
        ]


def run_soak(page, generations: int, cycles: int, rounds: int, chunk: int = 50, log=print) -> SoakReport:
    """The soak's phases in ``page`` (conftest.Page, isolated); ``log`` gets progress lines."""
    from conftest import poll

    report = SoakReport()

    def measure(phase: str) -> None:
        report.rss_mib[phase] = renderer_rss_mib(page.driver)
        report.workers[phase] = len(page.engine_workers())
        log(f"SOAK after {phase}: renderer {report.rss_mib[phase]:.0f} MiB, {report.workers[phase]} engine workers")

    page.run(SETUP + "_json.dumps(True)")
    r = page.run(WARM_UP, timeout=300)
    report.variant = f"{r['variant']}, {r['threads']} threads"
    measure("warm")
    for first in range(11, 11 + generations, chunk):
        last = min(first + chunk, 11 + generations)
        report.counts = page.run(GENERATE.format(first=first, last=last), timeout=60 + 10 * (last - first))
        report.counts.pop("errors", None)
        log(f"SOAK generations {last - 11}/{generations}: {report.counts}")
    measure("generations")
    # The first cycle starts the second engine (kept idle between cycles, by design):
    # growth is counted from there.
    page.run(CYCLES.format(first=0, last=1), timeout=180)
    measure("cycles warm")
    page.run(CYCLES.format(first=1, last=cycles), timeout=120 + 20 * cycles)
    measure("cycles")
    page.run(TWO_MODELS.format(rounds=rounds), timeout=120 + 30 * rounds)
    measure("two models")
    r = page.run(FINISH, timeout=300)
    report.reference, report.again, report.errors = r["reference"], r["again"], r["errors"]
    report.live_engines = int(r["live"])
    # Closed with keep_engine=False and the idle ones ended: no engine worker may stay.
    try:
        poll("the engine workers to end", lambda: not page.engine_workers(), 30)
    except AssertionError:
        pass  # counted below: a leak is a figure of the report, not a crash of the soak
    measure("closed")
    return report
