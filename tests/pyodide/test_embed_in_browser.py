"""LLM.embed in headless Chromium: the real wheel, worker and wasm, all-MiniLM-L6-v2 (recipes/embedmodel.py).

The vectors' ranking is the original model's (tests/fixtures/minilm_reference.json); their
parity with native llama-embedding is tests/node/embed.test.mjs's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.driver_timeout(180)

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json").read_text())


@run_in_pyodide(packages=["micropip"])
async def _embed_in_page(selenium, served, ref):
    import warnings

    import js
    import micropip

    await micropip.install(js.location.origin + served["wheel"])
    import pyodide_llm as p

    llm = await p.LLM.load(served["embed_model"], n_ctx=512)
    try:
        vectors = await llm.embed([ref["query"], *ref["candidates"]])
        vectors = [list(map(float, v)) for v in vectors]  # numpy rows or lists, whichever Pyodide gave
        assert len(vectors) == 6 and all(len(v) == 384 for v in vectors)
        sims = [sum(a * b for a, b in zip(vectors[0], v, strict=True)) for v in vectors[1:]]
        order = sorted(range(5), key=lambda i: -sims[i])
        assert order == sorted(range(5), key=lambda i: -ref["cosine"][i]), (sims, ref["cosine"])
        assert all(abs(s - r) < 2e-3 for s, r in zip(sims, ref["cosine"], strict=True)), (sims, ref["cosine"])
        one = [float(x) for x in await llm.embed("Hello world")]
        assert all(abs(a - b) < 2e-3 for a, b in zip(one[:6], ref["hello_world_first6"], strict=True)), one[:6]
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            await llm.embed("word " * 700)
        assert any("truncated" in str(w.message) for w in seen), [str(w.message) for w in seen]
        try:
            await llm.embed("word " * 700, truncate=False)
        except p.ContextOverflowError as e:
            assert e.code == "context_overflow"
        else:
            raise AssertionError("no ContextOverflowError with truncate=False")
        for bad in ([], [1], ""):
            try:
                await llm.embed(bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"no ValueError for {bad!r}")
        assert len(await llm.embed(["still usable"])) == 1
    finally:
        await llm.close(keep_engine=False)


def test_embeddings_rank_like_the_original_model(selenium_module_scope, served):
    selenium_module_scope.set_script_timeout(180)
    _embed_in_page(selenium_module_scope, served, REFERENCE)
