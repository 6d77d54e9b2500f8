"""The core of the Python API in Firefox: install, load, stream, cancel, errors, cache, variant choice.

Debian's firefox-esr, headless, driven over WebDriver BiDi by ``bidi.Firefox``
(no geckodriver), on the same test site, wheel and SmolLM2 as the Chromium tiers.
What differs between the engines (which variant a browser can run, its stores) is
asserted from what the page itself reports, not assumed: Firefox 140 ESR has
memory64 but not relaxed SIMD (so ``wasm32-mt`` when isolated), later ones both
(so ``wasm32-relaxed-mt`` for these small models).
"""

from __future__ import annotations

import pytest

from bidi import Firefox
from conftest import _open

MODEL = "models/smollm2.gguf"
GREEDY = " 6, 7, 8"  # native llama.cpp's greedy continuation of conftest.NATIVE_PROMPT


def _firefox_page(server):
    driver = Firefox()
    try:
        page = _open(driver, server)
        print(f"\nFIREFOX {driver.version}")
        yield page
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def ff(servers):
    """Firefox on the cross-origin isolated test page, with SmolLM2 loaded as ``builtins.llm``."""
    yield from _firefox_page(servers["isolated"])


@pytest.fixture(scope="module")
def ff_plain(servers):
    """Firefox on the page served without COOP/COEP (and without Range support)."""
    yield from _firefox_page(servers["plain"])


@pytest.fixture(scope="module")
def loaded(ff):
    ff.run(f"""
import builtins
from pyodide_llm import LLM
builtins.llm = await LLM.load({MODEL!r}, n_ctx=512)
_json.dumps(True)
""", timeout=300)
    return ff


def expected_variant(caps: dict) -> str:
    """What ``variant="auto"`` must pick for these capabilities (pyodide_llm._variants' order)."""
    if not (caps["cross_origin_isolated"] and caps["threads"]):
        return "wasm32-st"
    return "wasm32-relaxed-mt" if caps["relaxed_simd"] else "wasm32-mt"  # the models here are under 4 GiB


def test_the_variant_follows_what_firefox_can_run(loaded):
    r = loaded.run("""
import builtins, pyodide_llm
caps = await pyodide_llm.capabilities()
i = builtins.llm.info
_json.dumps({"caps": caps, "variant": i.variant, "threads": i.n_threads, "arch": i.architecture})
""")
    caps = r["caps"]
    print(f"\nFIREFOX caps {caps} -> {r['variant']} x{r['threads']}")
    assert caps["cross_origin_isolated"] and caps["threads"] and caps["memory64"], caps
    assert caps["webgpu"]["available"] is False, caps  # no navigator.gpu in Firefox on Linux
    assert r["variant"] == expected_variant(caps), r
    assert r["threads"] == min(caps["hardware_concurrency"], 8) >= 2, r
    assert r["arch"] == "llama"


def test_a_streamed_chat_arrives_piece_by_piece(loaded):
    r = loaded.run("""
import builtins
llm = builtins.llm
pieces, running = [], []
stream = llm.chat([{"role": "user", "content": "What is the capital of France? Answer in two sentences."}],
                  max_tokens=48, temperature=0)
async for piece in stream:
    pieces.append(piece)
    running.append(not stream.call.future.done())
s = llm.last_stats
_json.dumps({"pieces": pieces, "running": running, "generated": s.generated_tokens,
             "decode": s.decode_tokens_per_s})
""")
    text = "".join(r["pieces"])
    assert "Paris" in text, text
    assert len(r["pieces"]) >= 5 and all(r["running"][:-1]), r
    assert r["generated"] >= len(r["pieces"])
    print(f"\nFIREFOX chat decode {r['decode']:.1f} tok/s")


def test_greedy_output_matches_native_llama_cpp(loaded, native_complete):
    prompt, native_text = native_complete
    out = loaded.run(f"""
import builtins
_json.dumps(["".join([p async for p in builtins.llm.complete({prompt!r}, max_tokens=8, temperature=0)])
             for _ in range(2)])
""")
    assert out[0] == out[1] == native_text, (out, native_text)


def test_break_and_task_cancellation_stop_within_a_token(loaded):
    r = loaded.run("""
import asyncio, builtins
llm = builtins.llm
n = 0
stream = llm.complete("List the numbers from one to one hundred: one, two,", max_tokens=200, temperature=0)
async for _piece in stream:
    n += 1
    if n == 3:
        break
await stream.aclose()
after_break = [llm.last_stats.generated_tokens, stream.finish_reason]

got, three = [], asyncio.Event()
stream = llm.complete("Count slowly: one, two, three,", max_tokens=200, temperature=0)
async def consume():
    async for p in stream:
        got.append(p)
        if len(got) == 3:
            three.set()
task = asyncio.ensure_future(consume())
await three.wait()
task.cancel()
try:
    await task
except asyncio.CancelledError:
    pass
await stream.aclose()
after_cancel = [llm.last_stats.generated_tokens, len(got), task.cancelled()]
again = "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
_json.dumps({"break": after_break, "cancel": after_cancel, "again": again})
""")
    stopped, reason = r["break"]
    assert 3 <= stopped <= 5 and reason == "cancelled", r
    stopped, seen, cancelled = r["cancel"]
    assert cancelled and stopped <= seen + 2, r
    assert r["again"] == GREEDY, r


def test_bad_inputs_are_typed_errors_and_the_model_survives(loaded):
    r = loaded.run("""
import builtins
import pyodide_llm as p
llm = builtins.llm
out = {}
async def failure(name, coro_fn):
    try:
        await coro_fn()
    except p.LLMError as e:
        out[name] = [type(e).__name__, e.code, str(e)[:200]]
        return
    out[name] = "no error"
await failure("missing", lambda: p.LLM.load("models/missing.gguf"))
await failure("html", lambda: p.LLM.load("models/not-a-model.gguf"))
await failure("truncated", lambda: p.LLM.load("models/truncated.gguf", cache=False))
await failure("huge", lambda: p.LLM.load("models/huge.gguf"))
async def overflow():
    async for _ in llm.complete("word " * 600, max_tokens=4):
        pass
await failure("overflow", overflow)
async def busy():
    first = llm.complete("Once upon a time", max_tokens=50, temperature=0)
    await first.__anext__()
    try:
        await llm.complete("Another", max_tokens=5).__anext__()
    finally:
        await first.aclose()
await failure("busy", busy)
out["after"] = "".join([x async for x in llm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
_json.dumps(out)
""", timeout=300)
    assert r["missing"][:2] == ["ModelSourceError", "http_error"] and "404" in r["missing"][2], r
    assert r["html"][0] == "ModelLoadError", r
    assert r["truncated"][0] == "ModelLoadError", r
    assert r["huge"][:2] == ["ModelLoadError", "out_of_memory"], r
    assert r["overflow"][:2] == ["ContextOverflowError", "context_overflow"], r
    assert r["busy"][:2] == ["LLMError", "busy"], r
    assert r["after"] == GREEDY, r


def test_the_second_load_comes_from_the_cache_without_a_request(loaded):
    page = loaded
    load = f"""
import time
from pyodide_llm import LLM
t = time.perf_counter()
m = await LLM.load({MODEL!r}, n_ctx=256)
ms = (time.perf_counter() - t) * 1000
text = "".join([x async for x in m.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
await m.close()
r = m.load_report
"""
    first = page.run(f"""
from pyodide_llm import cache
await cache.clear()
{load}
_json.dumps({{"text": text, "sources": list(r.sources), "ms": ms}})
""", timeout=300)
    served = len(page.server.requests)
    second = page.run(f"""
from pyodide_llm import cache
{load}
opfs = await cache.list(storage="opfs")
_json.dumps({{"text": text, "sources": list(r.sources), "requests": list(r.network_requests), "ms": ms,
             "opfs": [e.complete for e in opfs]}})
""", timeout=300)
    assert first["sources"] == ["network"] and first["text"] == GREEDY, first
    assert second["sources"] == ["cache"] and second["requests"] == [] and second["text"] == GREEDY, second
    assert page.server.requests[served:] == [], page.server.requests[served:]
    assert second["opfs"] == [True], second  # Firefox has OPFS: the model is kept there, not in the Cache API
    print(f"\nFIREFOX load cold {first['ms']:.0f} ms, cached {second['ms']:.0f} ms")


def test_without_isolation_it_runs_single_threaded(ff_plain):
    r = ff_plain.run(f"""
import pyodide_llm
from pyodide_llm import LLM
caps = await pyodide_llm.capabilities()
async with await LLM.load({MODEL!r}, n_ctx=256) as llm:
    text = "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
    info = [llm.info.variant, llm.info.n_threads]
_json.dumps({{"caps": caps, "text": text, "info": info}})
""", timeout=300)
    assert r["caps"]["cross_origin_isolated"] is False, r
    assert r["info"] == ["wasm32-st", 1] and r["text"] == GREEDY, r
