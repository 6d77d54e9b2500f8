"""The wheel in every Pyodide it supports: 0.27 (Python 3.12), 0.28 and 0.29 (3.13); 314 is every other test's.

Each core comes from npm, pinned in ``emscripten.toml [pyodide_matrix]``, served
offline like the main one (recipes/pyodide_dist.py). The site is the test site
with its ``pyodide/`` folder swapped; the page installs the same wheel by URL
and runs the core of the API in cross-origin isolated headless Chromium.
"""

from __future__ import annotations

import os

import pytest

from conftest import _driver, _open
from pyodide_llm._host.serve import StaticServer
from recipes.build import log
from recipes.pins import load_pins
from recipes.pyodide_dist import pyodide_dist

GREEDY = " 6, 7, 8"  # native llama.cpp's greedy continuation of conftest.NATIVE_PROMPT
MATRIX = {v: p["python_version"] for v, p in load_pins()["pyodide_matrix"].items()}

CORE = """
import asyncio, sys
import pyodide, pyodide_llm
from pyodide_llm import LLM, LLMError
out = {"python": "%d.%d" % sys.version_info[:2], "pyodide": pyodide.__version__}
llm = await LLM.load("models/smollm2.gguf", n_ctx=512)
out["variant"] = [llm.info.variant, llm.info.n_threads]
out["greedy"] = "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
pieces = [p async for p in llm.chat([{"role": "user", "content": "What is the capital of France? "
                                      "Answer in two sentences."}], max_tokens=24, temperature=0)]
out["chat"] = pieces
stream = llm.complete("Count: one, two, three,", max_tokens=100, temperature=0)
n = 0
async for _ in stream:
    n += 1
    if n == 2:
        break
await stream.aclose()
out["stopped"] = [llm.last_stats.generated_tokens, stream.finish_reason]
try:
    async for _ in llm.complete("word " * 600, max_tokens=4):
        pass
except LLMError as e:
    out["overflow"] = [type(e).__name__, e.code]
try:
    await LLM.load("models/missing.gguf")
except LLMError as e:
    out["missing"] = [type(e).__name__, e.code]
out["still_loaded"] = len(await llm.tokenize("still loaded")) > 0
await llm.close()
_json.dumps(out)
"""


@pytest.fixture(scope="module", params=sorted(MATRIX))
def old_pyodide_page(request, site, tmp_path_factory):
    """A Chromium page on the test site served with an older Pyodide core."""
    version = request.param
    root = tmp_path_factory.mktemp(f"site-pyodide-{version}")
    for entry in site.iterdir():
        os.symlink(pyodide_dist(load_pins(), log, version) if entry.name == "pyodide" else entry, root / entry.name)
    server = StaticServer(root, isolated=True)
    driver = _driver()
    try:
        yield version, _open(driver, server)
    finally:
        driver.quit()
        server.stop()


def test_the_core_api_runs_in_this_pyodide(old_pyodide_page):
    version, page = old_pyodide_page
    r = page.run(CORE, timeout=300)
    print(f"\nPYODIDE {r['pyodide']} Python {r['python']}: {r['variant']}")
    assert r["pyodide"] == version and r["python"] == MATRIX[version], r
    assert r["variant"] == ["wasm32-relaxed-mt", 2], r
    assert r["greedy"] == GREEDY, r
    assert len(r["chat"]) >= 5 and "Paris" in "".join(r["chat"]), r
    assert r["stopped"][1] == "cancelled" and 2 <= r["stopped"][0] <= 4, r
    assert r["overflow"] == ["ContextOverflowError", "context_overflow"], r
    assert r["missing"] == ["ModelSourceError", "http_error"], r
    assert r["still_loaded"] is True
