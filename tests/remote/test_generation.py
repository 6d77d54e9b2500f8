"""LLM.connect from plain CPython against llama-server (SmolLM2, MiniLM): the local API's calls.

Greedy parity with the in-browser engine is tests/browser/test_remote.py's (the
page runs both); here the server's greedy text is checked against native
llama.cpp's own engine run on the same source (recipes' plm-native).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
import urllib.request
from dataclasses import dataclass

import pytest
from llama_servers import API_KEY, FEWSHOT

import pyodide_llm as p

CHAT = [{"role": "user", "content": "What is the capital of France? Answer in two sentences."}]
# Every one of its 8 greedy steps has a clear winner in native llama.cpp (tests/browser/conftest.py).
NATIVE_PROMPT = "1, 2, 3, 4, 5,"


def run(coro):
    return asyncio.run(coro)


def get_json(url: str, path: str):
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())


def test_chat_streams_pieces_with_stats_and_message(chat_server) -> None:
    async def go():
        async with await p.LLM.connect(chat_server.url) as llm:
            assert llm.info.model == "SmolLM2-135M-Instruct.Q4_1" and llm.info.models == (llm.info.model,)
            assert await llm.models() == [llm.info.model]
            stream = llm.chat(CHAT, temperature=0, max_tokens=40)
            assert isinstance(stream, p.TokenStream)
            pieces = [x async for x in stream]
            return pieces, stream, llm.last_stats

    pieces, stream, stats = run(go())
    text = "".join(pieces)
    assert len(pieces) > 3 and "Paris" in text, pieces
    assert stream.finish_reason == "stop" and stream.message == {"role": "assistant", "content": text}
    assert stats is not None and stats.generated_tokens >= len(pieces) and stats.prompt_tokens > 10
    assert stats.decode_ms > 0 and stats.prefill_ms > 0


def test_greedy_complete_equals_native_llama_cpp(chat_server) -> None:
    from recipes.build import log, test_env
    from recipes.pins import load_pins
    from recipes.toolchain import ensure_toolchain

    env = test_env()
    script = "\n".join([
        "load " + json.dumps({"path": env["PLM_MODEL"], "n_ctx": 512, "n_threads": 2}),
        "generate_start " + json.dumps({"prompt": NATIVE_PROMPT, "sampling": {"temperature": 0}}),
        *["step {}"] * 8]) + "\n"
    r = ensure_toolchain(load_pins(), log).run(
        f"printf %s {shlex.quote(script)} | {shlex.quote(env['PLM_NATIVE'])}", capture=True)
    replies = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    native = b"".join(bytes(s["bytes"]) for s in replies[2:] if s.get("ok") and not s.get("eog")).decode()

    async def go():
        async with await p.LLM.connect(chat_server.url + "/v1") as llm:  # /v1 or not: the same server
            return await llm.complete(NATIVE_PROMPT, temperature=0, max_tokens=8).text()

    assert run(go()) == native, native


@dataclass
class Person:
    name: str
    age: int


def test_json_schema_through_the_server_builds_the_class(chat_server) -> None:
    async def go():
        async with await p.LLM.connect(chat_server.url) as llm:
            a = await llm.chat([{"role": "user", "content": "Invent a person."}], json_schema=Person, temperature=0,
                               max_tokens=60).json()
            b = await llm.complete("A person as JSON:", json_schema={"type": "object", "properties": {
                "n": {"type": "integer"}}, "required": ["n"]}, temperature=0, max_tokens=60).json()
            return a, b

    a, b = run(go())
    assert isinstance(a, Person) and isinstance(a.age, int) and a.name
    assert isinstance(b, dict) and isinstance(b["n"], int)


def get_weather(city: str) -> str:
    """The weather in a city.

    Parameters
    ----------
    city
        The city's name.
    """
    return f"sunny in {city}"


def test_tool_calls_and_run_through_the_server(tool_server) -> None:
    async def go():
        async with await p.LLM.connect(tool_server.url, api_key=API_KEY) as llm:
            stream = llm.chat(FEWSHOT, tools=[get_weather], tool_choice="required", temperature=0, max_tokens=60)
            items = [x async for x in stream]
            answer = await llm.run(FEWSHOT, tools=[get_weather], temperature=0, max_tokens=60)
            return items, stream, answer

    items, stream, answer = run(go())
    calls = [x for x in items if isinstance(x, p.ToolCall)]
    assert len(calls) == 1 and calls[0].name == "get_weather" and set(calls[0].arguments) == {"city"}, items
    assert stream.tool_calls == calls and stream.finish_reason == "tool_calls"
    assert stream.message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert isinstance(answer, str) and answer


def test_logprobs_and_tokens(chat_server) -> None:
    async def go():
        async with await p.LLM.connect(chat_server.url) as llm:
            s = llm.chat(CHAT, temperature=0, max_tokens=6, logprobs=True, top_logprobs=3)
            text = await s.text()
            plain = llm.chat(CHAT, temperature=0, max_tokens=6, logprobs=True)
            await plain.text()
            ids = await llm.tokenize("Hello world", add_special=False)
            return text, s.logprobs, plain.logprobs, ids, await llm.detokenize(ids)

    text, records, plain, ids, back = run(go())
    assert [(r.token, r.logprob) for r in plain] == [(r.token, r.logprob) for r in records]
    assert all(r.top == [] for r in plain)  # logprobs=True alone: the chosen tokens', no alternatives
    assert len(records) == 6 and "".join(r.text for r in records) == text
    for r in records:
        assert r.logprob <= 0 and len(r.top) == 3 and r.top[0][0] == r.token  # greedy: the best is chosen
    assert back == "Hello world" and ids == [19556, 905]


def test_embeddings_rank_as_the_original_model(embed_server) -> None:
    from pathlib import Path

    ref = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json").read_text())

    async def go():
        async with await p.LLM.connect(embed_server.url) as llm:
            vectors = await llm.embed([ref["query"], *ref["candidates"]])
            one = await llm.embed("Hello world")
            raw = await llm.create_embedding(["Hello world"])
            return vectors, one, raw

    vectors, one, raw = run(go())
    assert vectors.shape == (6, 384)
    sims = [float(vectors[0] @ v) for v in vectors[1:]]
    assert all(abs(s - r) < 2e-3 for s, r in zip(sims, ref["cosine"], strict=True)), (sims, ref["cosine"])
    assert all(abs(float(a) - b) < 2e-3 for a, b in zip(one[:6], ref["hello_world_first6"], strict=True))
    assert raw["data"][0]["index"] == 0 and len(raw["data"][0]["embedding"]) == 384


def test_openai_call_shapes_pass_through(chat_server) -> None:
    async def go():
        async with await p.LLM.connect(chat_server.url) as llm:
            whole = await llm.create_chat_completion(CHAT, temperature=0, max_tokens=12)
            chunks = [c async for c in await llm.create_chat_completion(CHAT, temperature=0, max_tokens=12,
                                                                         stream=True)]
            legacy = await llm.create_completion(NATIVE_PROMPT, temperature=0, max_tokens=8)
            return whole, chunks, legacy

    whole, chunks, legacy = run(go())
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert whole["object"] == "chat.completion" and whole["choices"][0]["message"]["content"] == text
    assert legacy["object"] == "text_completion" and legacy["choices"][0]["text"]


def _busy(url: str) -> bool:
    return any(s.get("is_processing") for s in get_json(url, "/slots"))


def _predicted(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("llamacpp:tokens_predicted_total"):
                return float(line.split()[-1])
    raise AssertionError("no tokens_predicted_total in /metrics")


@pytest.mark.parametrize("how", ["break", "aclose", "task_cancel"])
def test_stopping_a_stream_stops_the_server(chat_server, how) -> None:
    url = chat_server.url
    before = _predicted(url)

    async def go():
        llm = await p.LLM.connect(url)
        counted = NATIVE_PROMPT + " 6, 7, 8, 9, 10,"
        stream = llm.complete(counted, temperature=0, max_tokens=3000, ignore_eos=True)
        if how == "task_cancel":
            del stream  # the task's stream only: a cancel may land outside the stream's own awaits
            started = asyncio.Event()

            async def consume():
                async for _ in llm.complete(counted, temperature=0, max_tokens=3000, ignore_eos=True):
                    started.set()
                    await asyncio.sleep(0)
            task = asyncio.ensure_future(consume())
            await asyncio.wait_for(started.wait(), 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif how == "aclose":
            got = 0
            async for _ in stream:
                got += 1
                if got == 5:
                    break
            await stream.aclose()
        else:  # break out of a loop over the call itself: nothing else holds the stream
            del stream
            got = 0
            async for _ in llm.complete(counted, temperature=0, max_tokens=3000, ignore_eos=True):
                got += 1
                if got == 5:
                    break
        t0 = time.monotonic()
        while _busy(url) and time.monotonic() - t0 < 10:
            await asyncio.sleep(0.05)
        stopped_in = time.monotonic() - t0
        after = await llm.complete("The capital of France is", temperature=0, max_tokens=4).text()
        await llm.close()
        return stopped_in, after

    stopped_in, after = run(go())
    assert not _busy(url), "the server kept generating after the stream was stopped"
    generated = _predicted(url) - before
    # 3000 tokens were asked for; SmolLM2 natively makes ~100+ a second, so a server that
    # kept going would be busy for tens of seconds and count thousands.
    assert generated < 600, (generated, stopped_in)
    assert after.strip(), "the server must still answer after a cancelled stream"


def test_map_runs_rows_concurrently_as_one_at_a_time(chat_server) -> None:
    rows = [NATIVE_PROMPT, CHAT, "The capital of France is", [{"role": "user", "content": "Name a color."}],
            "1, 2, 3,", CHAT]
    seen = []

    async def go():
        async with await p.LLM.connect(chat_server.url) as llm:
            single = [await (llm.complete(r, temperature=0, max_tokens=12) if isinstance(r, str)
                             else llm.chat(r, temperature=0, max_tokens=12)).text() for r in rows]
            job = llm.map(rows, concurrency=4, temperature=0, max_tokens=12,
                          progress=lambda done, total, stage: seen.append((done, total, stage)))
            order = [i async for i, _ in job]
            together = await llm.map(rows, concurrency=3, temperature=0, max_tokens=12).collect()
            # Stopped from another task while its rows run (one on this 1-slot server, three queued there).
            stopped = llm.map(rows * 3, concurrency=4, temperature=0, max_tokens=2000, ignore_eos=True)
            consumer = asyncio.ensure_future(stopped.collect())
            await asyncio.sleep(1.0)
            await stopped.aclose()
            with pytest.raises(p.GenerationCancelled):  # collect(): rows that never finished have no text
                await asyncio.wait_for(consumer, 10)
            return single, together, order, job

    single, together, order, job = run(go())
    assert together == single and sorted(order) == list(range(len(rows)))
    assert job.stats.rows == len(rows) and job.stats.peak_concurrency == 4 and job.stats.generated_tokens > 0
    assert seen[-1] == (len(rows), len(rows), "map") and len(seen) == len(rows)
    assert set(job.finish_reasons.values()) <= {"stop", "length"}
    t0 = time.monotonic()
    while _busy(chat_server.url) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    assert not _busy(chat_server.url), "rows kept generating after the map was closed"
