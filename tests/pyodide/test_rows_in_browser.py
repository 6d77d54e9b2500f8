"""LLM.map and sessions in headless Chromium: the real wheel, worker, wasm and SmolLM2.

Greedy rows decoded together equal the same rows one at a time; a checkpoint survives a
page reload; a session reuses its cache turn after turn, saves to OPFS and comes back
after a reload with the same next answer; bad states are typed and the model stays.
"""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.driver_timeout(300)

# Short rows, so that the whole cache stays under 512 cells (README: map's rounding note).
ROWS = ["The capital of France is", "Bees make", [{"role": "user", "content": "Name a primary colour."}],
        "Two plus two equals", [{"role": "user", "content": "What do bees make?"}]]


def _reload(selenium) -> None:
    """A closed and reopened tab: a new page, a new Pyodide; the origin's storage stays."""
    selenium.refresh()
    selenium.load_pyodide()
    selenium.initialize_pyodide()
    selenium.save_state()


@run_in_pyodide(packages=["micropip"])
async def _map_then_stop(selenium, served, rows):
    import json

    import js
    import micropip

    await micropip.install(js.location.origin + served["wheel"])
    import pyodide_llm as p

    await p.cache.delete_checkpoint("labels")
    llm = await p.LLM.load(served["model"], n_ctx=2048)
    opts = {"temperature": 0, "max_tokens": 12, "cache_prompt": False}
    one_by_one = []
    for row in rows:
        s = llm.chat(row, **opts) if isinstance(row, list) else llm.complete(row, **opts)
        one_by_one.append(await s.text())
    job = llm.map(rows, concurrency=4, **opts)
    order = [i async for i, _ in job]
    together = await llm.map(rows, concurrency=4, **opts).collect()
    assert together == one_by_one, (together, one_by_one)
    assert sorted(order) == list(range(len(rows))) and job.stats.peak_concurrency == 4, (order, job.stats)
    # With the cache's prefixes (the default) and a JSON schema on every row.
    schema = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 20}},
              "required": ["answer"], "additionalProperties": False}
    parsed = [json.loads(t) for t in await llm.map(rows[2::2], json_schema=schema, temperature=0,
                                                   max_tokens=40).collect()]
    assert all(isinstance(p_["answer"], str) for p_ in parsed), parsed
    # A checkpointed job broken off after two rows, as a closed tab would.
    job = llm.map(rows, concurrency=1, checkpoint="labels", **opts)
    first = [await job.__anext__(), await job.__anext__()]
    await job.aclose()
    assert (await p.cache.checkpoints())["labels"] > 0
    await llm.close()
    return one_by_one, [i for i, _ in first]


@run_in_pyodide(packages=["micropip"])
async def _map_after_reload(selenium, served, rows):
    import js
    import micropip

    await micropip.install(js.location.origin + served["wheel"])
    import pyodide_llm as p

    llm = await p.LLM.load(served["model"], n_ctx=2048)
    job = llm.map(rows, temperature=0, max_tokens=12, cache_prompt=False, concurrency=1, checkpoint="labels")
    texts = await job.collect()
    stats = job.stats
    await p.cache.delete_checkpoint("labels")
    await llm.close()
    return texts, stats.from_checkpoint, stats.rows


def test_map_equals_one_at_a_time_and_a_checkpoint_survives_a_reload(selenium, served) -> None:
    one_by_one, first = _map_then_stop(selenium, served, ROWS)
    assert all(one_by_one) and len(set(one_by_one)) == len(ROWS), one_by_one
    _reload(selenium)
    texts, from_checkpoint, generated = _map_after_reload(selenium, served, ROWS)
    assert texts == one_by_one
    assert from_checkpoint == 2 and generated == len(ROWS) - 2, (from_checkpoint, generated, first)


@run_in_pyodide(packages=["micropip"])
async def _session_then_save(selenium, served):
    import js
    import micropip

    await micropip.install(js.location.origin + served["wheel"])
    import pyodide_llm as p

    llm = await p.LLM.load(served["model"], n_ctx=2048)
    chat = llm.session(system="You are a helpful assistant.")
    await chat.send("What is the capital of France?", temperature=0, max_tokens=24).text()
    first = llm.last_stats
    other = llm.session(system="You answer in French.")
    await other.send("Hello!", temperature=0, max_tokens=8).text()
    await chat.send("And of Italy?", temperature=0, max_tokens=24).text()
    second = llm.last_stats
    data = await chat.save("notebook")
    nxt = await chat.send("And of Spain?", temperature=0, max_tokens=24).text()
    # The saved bytes restore in this page too; foreign or damaged states are refused.
    again = await llm.session_from(data)
    assert await again.send("And of Spain?", temperature=0, max_tokens=24).text() == nxt
    errors = []
    for bad in (b"hello", data[:-5]):
        try:
            await llm.session_from(bad)
        except p.SessionStateError as e:
            errors.append(e.code)
    small = await p.LLM.load(served["model"], n_ctx=1024)
    try:
        await small.session_from(data)
    except p.SessionStateError as e:
        errors.append(str(e))
    await small.close()
    assert await llm.complete("The sky is", temperature=0, max_tokens=4).text()
    await llm.close()
    try:
        chat.send("after close")
    except p.LLMError as e:
        errors.append(e.code)
    return {"first_cached": first.cached_tokens, "second_cached": second.cached_tokens,
            "second_prompt": second.prompt_tokens, "next": nxt, "errors": errors, "size": len(data)}


@run_in_pyodide(packages=["micropip"])
async def _session_after_reload(selenium, served):
    import js
    import micropip

    await micropip.install(js.location.origin + served["wheel"])
    import pyodide_llm as p

    llm = await p.LLM.load(served["model"], n_ctx=2048)
    chat = await llm.session_from("notebook")
    answer = await chat.send("And of Spain?", temperature=0, max_tokens=24).text()
    stats = llm.last_stats
    listed = await p.cache.sessions()
    await p.cache.delete_session("notebook")
    await llm.close()
    return answer, stats.cached_tokens, stats.prompt_tokens, len(chat.messages), listed


def test_a_session_reuses_its_cache_and_comes_back_after_a_reload(selenium, served) -> None:
    r = _session_then_save(selenium, served)
    assert r["first_cached"] == 0
    # The second turn evaluated only what was new, although another session ran in between.
    assert r["second_cached"] > 30 and r["second_prompt"] - r["second_cached"] < 30, r
    assert r["errors"][:2] == ["bad_state", "bad_state"] and "n_ctx=2048" in r["errors"][2], r["errors"]
    assert r["errors"][3] == "no_model" and r["size"] > 100_000
    _reload(selenium)
    answer, cached, prompt, n_messages, listed = _session_after_reload(selenium, served)
    assert answer == r["next"]
    assert cached > 30 and prompt - cached < 30, (cached, prompt)
    assert n_messages == 7 and "notebook" in listed


DOCUMENT = " ".join(f"Paragraph {i}: the harbour town kept its old market, its boats and its stories, and the "
                    f"visitors came back every summer for the light over the bay." for i in range(60))


@run_in_pyodide(packages=["micropip"])
async def _ask_document(selenium, served, document, question, clear_after):
    import asyncio

    import js
    import micropip

    await micropip.install(js.location.origin + served["wheel"])
    import pyodide_llm as p

    llm = await p.LLM.load(served["model"], n_ctx=2048, prompt_cache=True)
    prompt = document + "\n\nQuestion: " + question + "\nAnswer:"
    t0 = js.performance.now()
    stream = llm.complete(prompt, temperature=0, max_tokens=8)
    first = None
    async for _ in stream:
        first = first or js.performance.now() - t0
    await asyncio.gather(*llm._prompt_cache.saves)
    s = llm.last_stats
    kept = await p.cache.prompt_cache()
    if clear_after:
        assert await p.cache.clear_prompt_cache() == len(kept)
        assert await p.cache.prompt_cache() == []
    await llm.close()
    return {"ttft_ms": first, "prompt": s.prompt_tokens, "cached": s.cached_tokens, "kept": kept}


def test_a_long_prompt_is_restored_from_the_prompt_cache_after_a_reload(selenium, served) -> None:
    cold = _ask_document(selenium, served, DOCUMENT, "What did the visitors come back for?", False)
    assert cold["prompt"] > 1400 and cold["cached"] == 0, cold
    assert len(cold["kept"]) >= 1 and max(k["tokens"] for k in cold["kept"]) >= cold["prompt"] - 1, cold["kept"]
    _reload(selenium)
    warm = _ask_document(selenium, served, DOCUMENT, "What did the town keep?", True)
    assert warm["cached"] > 1400 and warm["prompt"] - warm["cached"] < 30, warm
    print(f"prompt cache: time to first token on a {cold['prompt']}-token prompt {cold['ttft_ms']:.0f} ms cold, "
          f"{warm['ttft_ms']:.0f} ms restored after a reload ({warm['cached']} tokens from the cache)")


@run_in_pyodide(packages=["micropip"])
async def _session_past_n_ctx(selenium, served):
    import warnings

    import js
    import micropip

    await micropip.install(js.location.origin + served["wheel"])
    import pyodide_llm as p

    llm = await p.LLM.load(served["model"], n_ctx=512)
    chat = llm.session(system="You are terse.")
    long = "Tell me about the harbour town, its market, its boats and its stories. " * 6
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(5):
            await chat.send(long, temperature=0, max_tokens=16).text()
    dropped = [str(w.message) for w in seen if "oldest message" in str(w.message)]
    strict = llm.session(system="You are terse.", overflow="error")
    codes = []
    try:
        for _ in range(5):
            await strict.send(long, temperature=0, max_tokens=16).text()
    except p.ContextOverflowError as e:
        codes.append(e.code)
    still = await llm.complete("The sky is", temperature=0, max_tokens=4).text()
    await llm.close()
    return dropped, chat.messages[0], len(chat.messages), codes, still


def test_a_session_past_n_ctx_drops_its_oldest_turns_or_raises(selenium, served) -> None:
    dropped, first, n_messages, codes, still = _session_past_n_ctx(selenium, served)
    assert dropped and first == {"role": "system", "content": "You are terse."}, dropped
    assert n_messages < 11 and codes == ["context_overflow"] and still
