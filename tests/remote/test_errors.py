"""Every failure of LLM.connect produced for real: stopped servers, keys, models, silence, cuts, garbage.

Each must end in its typed exception within its timeout, with the server's
message kept, and leave the real server usable.
"""

from __future__ import annotations

import asyncio
import time

import faults
import pytest
from llama_servers import API_KEY, smollm2

import pyodide_llm as p
from recipes.llama_server import LlamaServer, free_port

CHAT = [{"role": "user", "content": "Count from one to fifty in words."}]


def run(coro):
    return asyncio.run(coro)


async def first_error(url: str, **kw) -> Exception:
    """The exception LLM.connect + a streamed chat raise at ``url`` (AssertionError if none)."""
    try:
        llm = await p.LLM.connect(url, **kw)
        try:
            await llm.chat(CHAT, temperature=0, max_tokens=200).text()
        finally:
            await llm.close()
    except p.LLMError as e:
        return e
    raise AssertionError(f"no error from {url}")


def test_a_stopped_server_and_an_empty_port_refuse(tmp_path) -> None:
    server = LlamaServer(smollm2(), threads=1, log_file=tmp_path / "stopped.log").start()

    async def go():
        llm = await p.LLM.connect(server.url)
        assert (await llm.complete("1, 2, 3,", max_tokens=3, temperature=0).text()).strip()
        server.stop()  # by its PID, while the connection object lives on
        with pytest.raises(p.RemoteConnectionError) as during:
            await llm.chat(CHAT, max_tokens=5).text()
        await llm.close()
        return during.value, await first_error(server.url), await first_error(f"http://127.0.0.1:{free_port()}")

    during, later, empty = run(go())
    for e in (during, later, empty):
        assert isinstance(e, p.RemoteConnectionError) and isinstance(e, ConnectionError), repr(e)
        assert e.code in ("connect_failed", "connection_lost") and "127.0.0.1" in str(e)
    assert empty.code == "connect_failed"


def test_dns_failure_is_a_connection_error() -> None:
    e = run(first_error("http://no-such-host.invalid:8080", connect_timeout=5))
    assert isinstance(e, p.RemoteConnectionError | p.RemoteTimeoutError), repr(e)


def test_api_keys(tool_server) -> None:
    missing = run(first_error(tool_server.url))
    wrong = run(first_error(tool_server.url, api_key="wrong"))
    for e in (missing, wrong):
        assert isinstance(e, p.AuthenticationError) and isinstance(e, PermissionError)
        assert e.status == 401 and e.code == "unauthorized" and "Invalid API Key" in str(e) and "api_key=" in str(e)

    async def right():
        async with await p.LLM.connect(tool_server.url, api_key=API_KEY) as llm:
            return await llm.complete("Hi", max_tokens=2, temperature=0).text()

    assert isinstance(run(right()), str)


def test_an_unknown_model_names_the_served_ones(chat_server) -> None:
    e = run(first_error(chat_server.url, model="llama-70b"))
    assert isinstance(e, p.ModelNotFoundError) and isinstance(e, LookupError) and e.code == "model_not_found"
    assert "SmolLM2-135M-Instruct.Q4_1" in str(e) and "llama-70b" in str(e)


def test_a_server_that_never_answers_times_out() -> None:
    silent = faults.Silent()
    try:
        t0 = time.monotonic()
        e = run(first_error(silent.url, timeout=1.5, connect_timeout=1.5))
        took = time.monotonic() - t0
    finally:
        silent.stop()
    assert isinstance(e, p.RemoteTimeoutError) and isinstance(e, TimeoutError) and e.code == "read_timeout", repr(e)
    assert took < 15, took
    assert silent.requests, "the request reached the silent server"


def test_a_stream_that_stalls_times_out_between_events() -> None:
    stalled = faults.Canned(faults.STALLED_STREAM, {"/v1/models": faults.MODELS}, hold=True)
    try:
        async def go():
            llm = await p.LLM.connect(stalled.url, timeout=1.5)
            pieces = []
            t0 = time.monotonic()
            with pytest.raises(p.RemoteTimeoutError) as e:
                async for x in llm.chat(CHAT, max_tokens=50):
                    pieces.append(x)
            took = time.monotonic() - t0
            await llm.close()
            return e.value, pieces, took
        e, pieces, took = run(go())
    finally:
        stalled.stop()
    assert e.code == "read_timeout" and "sent nothing more" in str(e) and pieces == ["Hel"], (e, pieces)
    assert took < 15, took


def test_a_connection_that_never_opens_times_out_connecting() -> None:
    port = faults.Backlogged()
    try:
        t0 = time.monotonic()
        e = run(first_error(port.url, connect_timeout=1.0, timeout=30))
        took = time.monotonic() - t0
    finally:
        port.stop()
    assert isinstance(e, p.RemoteTimeoutError) and e.code == "connect_timeout" and "connect_timeout=" in str(e), e
    assert took < 10, took


def test_a_proxy_that_cuts_the_stream(chat_server) -> None:
    proxy = faults.Proxy(chat_server.url, cut_after=4000)
    try:
        async def go():
            llm = await p.LLM.connect(proxy.url)
            pieces = []
            with pytest.raises(p.RemoteConnectionError) as cut:
                async for x in llm.chat(CHAT, temperature=0, max_tokens=200):
                    pieces.append(x)
            await llm.close()
            return cut.value, pieces
        e, pieces = run(go())
    finally:
        proxy.stop()
    assert e.code == "connection_lost" and pieces, (e, pieces)

    async def still():
        async with await p.LLM.connect(chat_server.url) as llm:
            return await llm.complete("1, 2, 3,", max_tokens=3, temperature=0).text()

    assert run(still()).strip()


@pytest.mark.parametrize(("reply", "code", "cls", "status", "retry"), [
    (faults.GARBAGE_STREAM, "bad_response", p.RemoteError, None, None),
    (faults.HTML_PAGE, "bad_response", p.RemoteError, 200, None),
    (faults.RATE_LIMITED, "rate_limited", p.RateLimitError, 429, 7.0),
    (faults.UNAVAILABLE, "server_error", p.RemoteError, 503, 2.0),
])
def test_bad_replies_are_typed(reply, code, cls, status, retry) -> None:
    server = faults.Canned(reply, {"/v1/models": faults.MODELS})
    try:
        e = run(first_error(server.url))
    finally:
        server.stop()
    assert type(e) is cls and e.code == code and e.status == status and e.retry_after == retry, repr(e)


def test_the_servers_400s_keep_its_message(chat_server) -> None:
    async def go():
        async with await p.LLM.connect(chat_server.url) as llm:
            with pytest.raises(p.BadRequestError) as bad:
                await llm.chat(CHAT, grammar="root ::= (", max_tokens=5).text()
            with pytest.raises(p.ContextOverflowError) as long:
                await llm.complete("word " * 6000, max_tokens=5).text()
            ok = await llm.complete("1, 2, 3,", max_tokens=3, temperature=0).text()
            return bad.value, long.value, ok

    bad, long, ok = run(go())
    assert bad.code == "bad_request" and "grammar" in str(bad).lower(), str(bad)
    assert long.code == "context_overflow" and "context" in str(long), str(long)
    assert ok.strip()


def test_bad_arguments_fail_before_any_request(chat_server) -> None:
    async def go():
        for kw in ({"timeout": 0}, {"timeout": "5"}, {"connect_timeout": -1}, {"api_key": ""}, {"model": ""}):
            with pytest.raises(ValueError):
                await p.LLM.connect(chat_server.url, **kw)
        for url in ("", "ftp://x", "127.0.0.1:8080", None):
            with pytest.raises(ValueError):
                await p.LLM.connect(url)
        async with await p.LLM.connect(chat_server.url) as llm:
            with pytest.raises(ValueError):
                llm.chat(CHAT, temperature=-1)
            with pytest.raises(TypeError):
                llm.complete("x", nucleus=0.5)
            with pytest.raises(p.UnsupportedEnvironmentError):
                await llm.embed("x", pooling="cls")
            with pytest.raises(p.UnsupportedEnvironmentError):  # a chat server has no /v1/embeddings (501)
                await llm.embed("x")
            with pytest.raises(p.UnsupportedEnvironmentError):
                llm.map(["a"], checkpoint="labels")
            with pytest.raises(ValueError):
                llm.map(["a", [{"role": "robot", "content": "x"}]])  # every row is checked first
            with pytest.raises(ValueError):
                llm.map(["a"], concurrency=65)
        with pytest.raises(p.LLMError, match="closed"):
            llm.chat(CHAT)

    run(go())
