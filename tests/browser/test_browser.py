"""Engine workers' lifetimes, seen in Chromium's worker list (CDP): the real wheel, worker, wasm and model.

The rest of the Python API's browser tests run through pytest-pyodide in
``tests/pyodide/test_api_in_browser.py``. These stay on the project's harness
(``conftest.Page``): between steps in the page they read Chromium's worker
list through the DevTools protocol (``Page.engine_workers``).
"""

from __future__ import annotations

import pytest

LOAD = """
from pyodide_llm import LLM
llm = await LLM.load("models/smollm2.gguf", n_ctx=512)
"""


@pytest.fixture(scope="module")
def loaded(page):
    page.run(LOAD + "_json.dumps(True)", timeout=180)
    return page


def test_an_llm_dropped_without_close_ends_its_worker(loaded):
    # A stream keeps its model's worker: the LLM object itself is gone here.
    r = loaded.run("""
import gc
from pyodide_llm import LLM
stream = (await LLM.load("models/smollm2.gguf", n_ctx=128, variant="wasm32-mt")).complete(
    "1, 2, 3, 4, 5,", max_tokens=4, temperature=0)
gc.collect()
_json.dumps(True)
""", timeout=180)
    assert loaded.engine_workers("wasm32-mt")
    before = loaded.ended_engines()
    r = loaded.run("""
text = "".join([p async for p in stream])
del stream
gc.collect()
_json.dumps(text)
""")
    assert r.startswith(" 6,"), r
    # Rebinding or deleting the last reference frees the engine, as re-running a notebook cell does.
    loaded.wait_ended("the dropped engine's workers", "wasm32-mt", before)
    assert loaded.run("_json.dumps(len(await llm.tokenize('still here')) > 0)") is True


def test_a_load_cancelled_mid_download_ends_its_worker(loaded):
    loaded.run("""
import asyncio
from pyodide_llm import LLM
arrived = asyncio.Event()
def progress(done, total, stage):
    if stage == "download" and done > 0:
        arrived.set()
# The server sends 2 MB, then trickles: the download is still running when the task is cancelled.
loading = asyncio.ensure_future(LLM.load("models/smollm2.gguf?slow=2000000", n_ctx=128, variant="wasm32-mt",
                                         cache=False, progress=progress))
await asyncio.wait_for(arrived.wait(), 60)
_json.dumps(True)
""", timeout=90)
    assert loaded.engine_workers("wasm32-mt")
    before = loaded.ended_engines()
    r = loaded.run("""
loading.cancel()
try:
    await loading
    outcome = "loaded"
except asyncio.CancelledError:
    outcome = "cancelled"
_json.dumps(outcome)
""")
    assert r == "cancelled"
    loaded.wait_ended("the cancelled load's workers", "wasm32-mt", before)
    assert loaded.run("_json.dumps(len(await llm.tokenize('still here')) > 0)") is True


@pytest.mark.parametrize("variant", ["wasm64-mt", "wasm32-st"])
def test_an_abort_inside_llama_cpp_ends_its_engine_and_the_next_load_works(loaded, variant):
    # aborts.gguf loads, then llama.cpp aborts as it computes (GGML_ABORT in ggml's binary
    # ops, testsite.py): the worker's engine is gone, the page and the other model are not.
    before = loaded.ended_engines()
    r = loaded.run(f"""
from pyodide_llm import LLM, EngineCrashedError
bad = await LLM.load("models/aborts.gguf", n_ctx=128, variant={variant!r}, cache=False)
try:
    await bad.complete("The capital of France is", max_tokens=4).text()
    outcome = "no error"
except EngineCrashedError as e:
    outcome = str(e)
try:
    await bad.tokenize("x")
    after = "no error"
except EngineCrashedError:
    after = "EngineCrashedError"
good = await LLM.load("models/smollm2.gguf", n_ctx=128, variant={variant!r}, cache=False)
text = await good.complete("1, 2, 3, 4, 5,", max_tokens=4, temperature=0).text()
await good.close(keep_engine=False)
_json.dumps({{"outcome": outcome, "after": after, "text": text}})
""", timeout=240)
    assert "llama.cpp aborted" in r["outcome"] and "binary" in r["outcome"], r
    assert r["after"] == "EngineCrashedError" and r["text"].startswith(" 6,"), r
    # The client ended both engines: the crashed one, and the good one closed after it.
    loaded.wait_for("the client to end both engines", lambda: loaded.ended_engines() >= before + 2)
    assert loaded.run("_json.dumps(len(await llm.tokenize('still here')) > 0)") is True
