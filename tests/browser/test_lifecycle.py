"""Engine workers over a model's life: close keeps one idle engine, the next load takes it over,
and loading and closing in a loop does not grow the tab (Chromium's own worker list and the
renderer's resident memory, read from /proc on this machine)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import _page_on

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.memory import renderer_rss_mib


@pytest.fixture(scope="module")
def fresh(servers):
    """An isolated page of this module's own (its memory is measured)."""
    yield from _page_on(servers["isolated"])


def test_close_keeps_one_idle_engine_that_the_next_load_takes_over(fresh):
    r = fresh.run("""
from pyodide_llm import LLM, LLMError
first = await LLM.load("models/smollm2.gguf", n_ctx=128, variant="wasm32-mt", cache=False)
reused = first.load_report.engine_reused
await first.close()
try:
    await first.tokenize("x")
    after = "no error"
except LLMError as e:
    after = e.code
_json.dumps({"variant": first.info.variant, "reused": reused, "after": after})
""", timeout=180)
    assert r == {"variant": "wasm32-mt", "reused": False, "after": "no_model"}
    idle = sorted(fresh.engine_workers("wasm32-mt"))
    assert idle, "close() should keep the freed engine idle"
    r = fresh.run("""
second = await LLM.load("models/smollm2.gguf", n_ctx=128, variant="wasm32-mt", cache=False)
text = "".join([p async for p in second.complete("1, 2, 3, 4, 5,", max_tokens=4, temperature=0)])
_json.dumps({"reused": second.load_report.engine_reused, "text": text})
""", timeout=180)
    assert r["reused"] and r["text"].startswith(" 6,"), r
    assert sorted(fresh.engine_workers("wasm32-mt")) == idle  # the same worker and pthreads, no new ones
    before = fresh.ended_engines()
    assert fresh.run("await second.close(keep_engine=False)\nfrom pyodide_llm._browser.files import module\n"
                     "_json.dumps((await module('js/client.mjs')).idleEngines())") == 0, "none parked"
    fresh.wait_ended("the engine closed with keep_engine=False", "wasm32-mt", before)


def test_load_close_cycles_do_not_grow_the_tab(fresh):
    cycle = """
for _ in range({n}):
    m = await LLM.load("models/smollm2.gguf", n_ctx=256, cache=False)
    reused.append(m.load_report.engine_reused)
    "".join([p async for p in m.complete("1, 2, 3,", max_tokens=4, temperature=0)])
    await m.close()
_json.dumps(reused)
"""
    fresh.run("from pyodide_llm import LLM\nreused = []\n" + cycle.format(n=5), timeout=300)
    before = renderer_rss_mib(fresh.driver)
    reused = fresh.run(cycle.format(n=20), timeout=600)
    after = renderer_rss_mib(fresh.driver)
    assert reused[0] is False and all(reused[1:]), reused  # one worker for all 25 loads
    assert len(fresh.engine_workers("wasm32-relaxed-mt")) >= 1  # idle, waiting for the next load
    # Before idle engines were kept, every cycle left ~13 MiB behind (260 MiB over 20).
    assert after - before < 40, (f"renderer RSS grew {after - before:.0f} MiB over 20 cycles "
                                 f"({before:.0f} -> {after:.0f})")
