"""LLM.map over the fake engine: order, collect, stop strings, cancel, checkpoints, bad inputs."""

from __future__ import annotations

import asyncio

import pytest

from fake_transport import FakeTransport
from pyodide_llm import LLM, ContextOverflowError, GenerationCancelled, LLMError
from pyodide_llm._storage import record_store


def run(coro):
    return asyncio.run(coro)


async def loaded(t: FakeTransport | None = None) -> LLM:
    return await LLM.load("m.gguf", transport=t or FakeTransport())


ITEMS = ["label: a long first ticket", "b", "label: third", [{"role": "user", "content": "a chat row"}]]


def test_rows_arrive_as_they_finish_and_collect_keeps_the_order() -> None:
    async def go():
        llm = await loaded()
        seen = [pair async for pair in llm.map(ITEMS, temperature=0)]
        texts = await llm.map(ITEMS, temperature=0).collect()
        return seen, texts
    seen, texts = run(go())
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3]
    assert [i for i, _ in seen] != [0, 1, 2, 3]  # the short answer ("re:b") finished first
    assert texts == ["re:ticket", "re:b", "re: third", texts[3]]
    assert texts[3].startswith("re:") and dict(seen)[3] == texts[3]


def test_one_batch_request_carries_every_row_rendered() -> None:
    t = FakeTransport()

    async def go():
        llm = await loaded(t)
        await llm.map(ITEMS, concurrency=3, max_tokens=7, stop=["zz"]).collect()
    run(go())
    (_, _, p), = [x for x in t.sent if x[1] == "generate_batch"]
    assert p["concurrency"] == 3 and p["max_tokens"] == 7 and p["stops"] == ["zz"]
    # a chat row goes as chat_format's tokens (the fake's tokens are characters)
    assert p["items"][:3] == ITEMS[:3] and p["items"][3] == [ord(c) for c in "<|user|>a chat row\n<|assistant|>"]
    assert t.count("chat_format") == 1  # only the message-list row is rendered


def test_stop_strings_cut_a_row_as_they_cut_a_stream() -> None:
    async def go():
        llm = await loaded()
        job = llm.map(["x: ticket"], stop=["ck"])
        texts = await job.collect()
        return texts, job.finish_reasons
    texts, reasons = run(go())
    assert texts == ["re:ti"] and reasons == {0: "stop"}


def test_stats_and_progress() -> None:
    calls = []

    async def go():
        llm = await loaded()
        job = llm.map(ITEMS, progress=lambda d, t, s: calls.append((d, t, s)))
        await job.collect()
        return job.stats
    stats = run(go())
    assert calls[-1] == (4, 4, "map") and len(calls) == 4
    assert stats.rows == 4 and stats.generated_tokens > 0 and stats.peak_concurrency == 4 and stats.rows_per_second > 0


def test_too_much_concurrency_for_the_context_warns_and_runs_fewer() -> None:
    t = FakeTransport()
    t.row_room = 4

    async def go():
        llm = await loaded(t)
        job = llm.map(["a"] * 6, concurrency=8)
        with pytest.warns(RuntimeWarning, match="holds only 4"):
            out = await job.collect()
        return out, job.stats
    out, stats = run(go())
    assert out == ["re:a"] * 6 and stats.peak_concurrency == 4


def test_break_cancels_the_batch_and_the_model_stays_usable() -> None:
    t = FakeTransport()

    async def go():
        llm = await loaded(t)
        job = llm.map([f"row {i}" for i in range(12)], concurrency=2)
        async for _ in job:
            break
        await job.aclose()
        with pytest.raises(GenerationCancelled, match="stopped before"):  # not a KeyError for the missing rows
            await job.collect()
        return await llm.complete("again").text()
    assert run(go()) == "Hello, world."
    (rid, _, _), = [x for x in t.sent if x[1] == "generate_batch"]
    assert rid in t.cancelled


def test_a_second_generation_during_a_map_is_busy() -> None:
    async def go():
        llm = await loaded()
        job = llm.map(["row"] * 8, concurrency=1)
        await job.__anext__()
        with pytest.raises(LLMError, match="still streaming"):
            await llm.complete("x").text()
        await job.aclose()
    run(go())


def test_checkpoint_skips_rows_already_done() -> None:
    t1, t2 = FakeTransport(), FakeTransport()

    async def go():
        await record_store().delete("checkpoints", "job1")
        llm = await loaded(t1)
        job = llm.map(["r1", "r2", "r3", "r4"], concurrency=1, checkpoint="job1")
        first = [await job.__anext__(), await job.__anext__()]
        await job.aclose()  # the tab is closed after two rows
        llm2 = await loaded(t2)  # a new page: the same call
        job2 = llm2.map(["r1", "r2", "r3", "r4"], concurrency=1, checkpoint="job1")
        out = await job2.collect()
        return first, out, job2.stats
    first, out, stats = run(go())
    assert out == ["re:r1", "re:r2", "re:r3", "re:r4"]
    (_, _, p), = [x for x in t2.sent if x[1] == "generate_batch"]
    assert p["items"] == ["r3", "r4"] and stats.from_checkpoint == 2 and stats.rows == 2
    assert {i for i, _ in first} == {0, 1}


def test_checkpoint_rows_are_keyed_by_prompt_and_sampling() -> None:
    t = FakeTransport()

    async def go():
        await record_store().delete("checkpoints", "job2")
        llm = await loaded(t)
        await llm.map(["a1", "a2"], checkpoint="job2", temperature=0).collect()
        await llm.map(["a1", "a3"], checkpoint="job2", temperature=0).collect()  # a3 is new
        await llm.map(["a1"], checkpoint="job2", temperature=0.5).collect()  # other sampling: all new
    run(go())
    batches = [p["items"] for _, ty, p in t.sent if ty == "generate_batch"]
    assert batches == [["a1", "a2"], ["a3"], ["a1"]]


def test_a_row_longer_than_the_context_is_a_context_overflow() -> None:
    async def go():
        llm = await loaded(FakeTransport(n_ctx=50))
        await llm.map(["short", "x" * 80]).collect()
    with pytest.raises(ContextOverflowError, match="row 1"):
        run(go())


@pytest.mark.parametrize(("items", "kw", "message"), [
    ([], {}, "non-empty list"),
    ("one string", {}, "non-empty list"),
    (["ok", 3], {}, r"items\[1\] must be a prompt string"),
    (["ok", ""], {}, r"items\[1\] is an empty prompt"),
    ([[{"role": "robot", "content": "x"}]], {}, r"items\[0\]: messages\[0\]: role"),
    (["x"], {"concurrency": 0}, "concurrency must be an integer from 1 to 16"),
    (["x"], {"concurrency": 17}, "concurrency must be an integer from 1 to 16"),
    (["x"], {"concurrency": 2.5}, "concurrency must be an integer"),
    (["x"], {"checkpoint": "../etc"}, "checkpoint must be"),
    (["x"], {"temperature": -1}, "temperature"),
    (["x"], {"tools": [{"type": "function"}]}, "map does not take tools"),
    (["x"], {"logprobs": True}, "map does not take logprobs"),
])
def test_bad_inputs_raise_before_anything_is_sent(items, kw, message) -> None:
    t = FakeTransport()

    async def go():
        llm = await loaded(t)
        llm.map(items, **kw)
    with pytest.raises(ValueError, match=message):
        run(go())
    assert t.count("generate_batch") == 0


def test_map_on_a_closed_model_is_an_llm_error() -> None:
    async def go():
        llm = await loaded()
        await llm.close()
        llm.map(["x"])
    with pytest.raises(LLMError, match="closed"):
        run(go())


def test_a_progress_bar_counts_rows() -> None:
    import io

    from pyodide_llm._progress import TextBar

    out = io.StringIO()
    bar = TextBar(out, min_interval=0)

    async def go():
        llm = await loaded()
        await llm.map(["a", "b", "c"], progress=bar).collect()
    run(go())
    assert out.getvalue().endswith("3/3 rows\n"), out.getvalue()


def test_cache_lists_and_deletes_checkpoints() -> None:
    from pyodide_llm import cache

    async def go():
        llm = await loaded()
        await llm.map(["a"], checkpoint="listed").collect()
        listed = await cache.checkpoints()
        return listed, await cache.delete_checkpoint("listed"), await cache.delete_checkpoint("listed")
    listed, first, second = run(go())
    assert listed["listed"] > 0 and (first, second) == (True, False)
