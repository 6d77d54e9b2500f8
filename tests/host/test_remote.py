"""LLM.connect's pure parts on the host: the event-stream decoder, the status mapping, and the
stream's reading of OpenAI chunks, through a scripted HTTP client (the real servers are tests/remote's)."""

from __future__ import annotations

import asyncio
import json

import pytest

import pyodide_llm as p
from pyodide_llm._remote.http import HttpClient, HttpResponse, error_for_status
from pyodide_llm._remote.llm import connect
from pyodide_llm._remote.sse import DONE, MAX_EVENT, EventDecoder

STREAM = (b': keep-alive\n\ndata: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
          b'data: {"choices":[{"index":0,"delta":{"content":"lo \\u00e9"}}]}\r\n\r\n'
          b'event: message\ndata: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],\ndata: "usage":'
          b'{"prompt_tokens":5,"completion_tokens":2}}\n\ndata: [DONE]\n\n')


def decode(chunks: list[bytes]) -> list:
    d = EventDecoder("u")
    out = [e for c in chunks for e in d.feed(c)]
    return out + list(d.end())


def test_events_are_the_same_however_the_bytes_are_split() -> None:
    whole = decode([STREAM])
    assert len(whole) == 4 and whole[-1] is DONE and whole[2]["usage"]["completion_tokens"] == 2
    for cut in range(1, len(STREAM)):
        assert decode([STREAM[:cut], STREAM[cut:]]) == whole, cut
    assert decode([bytes([b]) for b in STREAM]) == whole


def test_an_event_without_its_blank_line_still_counts_at_the_end() -> None:
    assert decode([b'data: {"a": 1}']) == [{"a": 1}]


@pytest.mark.parametrize(("body", "what"), [
    (b"<html><body>portal</body></html>\n", "not an event stream"),
    (b"data: {nope\n\n", "not JSON"),
    (b"data: \xff\xfe\n\n", "not UTF-8"),
    (b"x" * (MAX_EVENT + 1), "without an end"),
])
def test_what_is_not_an_event_stream_is_a_typed_error(body, what) -> None:
    with pytest.raises(p.RemoteError, match=what) as e:
        decode([body])
    assert e.value.code == "bad_response"


@pytest.mark.parametrize(("status", "body", "cls", "code"), [
    (400, b'{"error":{"message":"bad grammar","type":"invalid_request_error"}}', p.BadRequestError, "bad_request"),
    (400, b'{"error":{"message":"too long","type":"exceed_context_size_error"}}', p.ContextOverflowError,
     "context_overflow"),
    (401, b'{"error":{"message":"Invalid API Key"}}', p.AuthenticationError, "unauthorized"),
    (403, b"forbidden", p.AuthenticationError, "forbidden"),
    (404, b'{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}', p.ModelNotFoundError,
     "model_not_found"),
    (404, b"Not Found", p.UnsupportedEnvironmentError, "not_supported"),
    (429, b"{}", p.RateLimitError, "rate_limited"),
    (500, b"boom", p.RemoteError, "server_error"),
    (501, b'{"error":{"message":"no embeddings"}}', p.UnsupportedEnvironmentError, "not_supported"),
])
def test_statuses_map_to_the_tree(status, body, cls, code) -> None:
    e = error_for_status(status, {"retry-after": "3"}, body, "http://h/v1/x", model="x")
    assert type(e) is cls and e.code == code
    if isinstance(e, p.RemoteError) and status >= 429:
        assert e.status == status and e.retry_after == 3.0


class Scripted(HttpClient):
    """Answers each request with the next (status, headers, chunks) of a script."""

    def __init__(self, script: list[tuple[int, dict[str, str], list[bytes]]]) -> None:
        self.script = script
        self.sent: list[tuple[str, str, dict | None]] = []
        self.aborted = 0

    async def send(self, method, url, headers, body, timeouts) -> HttpResponse:
        self.sent.append((method, url, json.loads(body) if body else None))
        status, hdrs, chunks = self.script.pop(0)
        client = self

        class R(HttpResponse):
            def __init__(self) -> None:
                self.status, self.headers, self.url = status, hdrs, url

            async def chunks(self):
                for c in chunks:
                    yield c

            def abort(self) -> None:
                client.aborted += 1

        return R()


MODELS = (200, {"content-type": "application/json"}, [b'{"data":[{"id":"m"}]}'])
SSE = {"content-type": "text/event-stream"}


def chunk(**delta) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode() + b"\n\n"


def test_tool_call_deltas_reasoning_and_stats_are_assembled() -> None:
    body = [chunk(reasoning_content="think "), chunk(content="Ok."),
            chunk(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "get_", "arguments": '{"ci'}}]),
            chunk(tool_calls=[{"index": 0, "function": {"name": "weather", "arguments": 'ty": "Paris"}'}}]),
            b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"timings":{"cache_n":2,'
            b'"prompt_n":3,"prompt_ms":10,"predicted_n":4,"predicted_ms":20}}\n\n', b"data: [DONE]\n\n"]
    http = Scripted([MODELS, (200, SSE, body)])

    async def go():
        llm = await connect("http://h:1/v1/", http=http)
        s = llm.chat([{"role": "user", "content": "w?"}], max_tokens=9, temperature=0, tools=[
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
        return [x async for x in s], s, llm

    items, s, llm = asyncio.run(go())
    assert items[0] == "Ok." and items[1] == p.ToolCall("c1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}')
    assert s.reasoning == "think " and s.finish_reason == "tool_calls" and s.message["reasoning_content"]
    assert llm.last_stats == p.GenerationStats(5, 2, 4, 10.0, 20.0)
    _, url, sent = http.sent[1]
    assert url == "http://h:1/v1/chat/completions" and sent["max_tokens"] == 9 and sent["temperature"] == 0
    assert sent["tools"][0]["function"]["name"] == "get_weather" and "top_k" not in sent  # only what was given


def test_a_stream_that_ends_early_is_a_lost_connection() -> None:
    http = Scripted([MODELS, (200, SSE, [chunk(content="Hal")])])

    async def go():
        llm = await connect("http://h:1", http=http)
        got = []
        with pytest.raises(p.RemoteConnectionError) as e:
            async for x in llm.complete("x"):
                got.append(x)
        return got, e.value

    got, e = asyncio.run(go())
    assert got == ["Hal"]
    assert e.code == "connection_lost"


def test_tokenize_on_a_server_without_it_is_unsupported() -> None:
    http = Scripted([MODELS, (404, {"content-type": "text/plain"}, [b"Not Found"])])

    async def go():
        llm = await connect("http://h:1", http=http)
        with pytest.raises(p.UnsupportedEnvironmentError, match="llama-server") as e:
            await llm.tokenize("x")
        return e.value

    assert asyncio.run(go()).code == "not_supported"
    assert http.sent[1][1] == "http://h:1/tokenize"


def test_an_error_event_mid_stream_is_typed_and_legacy_logprobs_are_read() -> None:
    err = b'data: {"error":{"code":400,"message":"the request exceeds the available context size","type":' \
          b'"exceed_context_size_error"}}\n\n'
    legacy = (b'data: {"choices":[{"index":0,"text":"Hi","logprobs":{"tokens":["Hi"],"token_logprobs":[-0.5],'
              b'"top_logprobs":[{"Hi":-0.5,"Ho":-1.5}]},"finish_reason":"length"}]}\n\n')
    http = Scripted([MODELS, (200, SSE, [chunk(content="a"), err]), (200, SSE, [legacy])])

    async def go():
        llm = await connect("http://h:1", http=http)
        got = []
        with pytest.raises(p.ContextOverflowError):
            async for x in llm.chat([{"role": "user", "content": "x"}]):
                got.append(x)
        s = llm.complete("x", logprobs=True, top_logprobs=2)
        return got, await s.text(), s.logprobs, s.finish_reason, http.sent[2][2]

    got, text, records, reason, sent = asyncio.run(go())
    assert got == ["a"] and text == "Hi" and reason == "length" and sent["logprobs"] == 2
    assert records == [p.TokenLogprob(-1, "Hi", -0.5, [(-1, -0.5), (-1, -1.5)])]


def test_vllm_reasoning_and_an_aclose_from_another_task() -> None:
    gate = asyncio.Event()

    class Slow(Scripted):
        async def send(self, method, url, headers, body, timeouts):
            resp = await super().send(method, url, headers, body, timeouts)
            if url.endswith("/chat/completions"):
                inner = resp.chunks

                async def chunks():
                    async for c in inner():
                        yield c
                    await gate.wait()  # the server goes quiet; the caller stops the stream
                resp.chunks = chunks
            return resp

    http = Slow([MODELS, (200, SSE, [chunk(reasoning="hmm "), chunk(content="Hi")])])

    async def go():
        llm = await connect("http://h:1", http=http)
        s = llm.chat([{"role": "user", "content": "x"}])
        got = []

        async def consume():
            async for x in s:
                got.append(x)

        task = asyncio.ensure_future(consume())
        while not got:
            await asyncio.sleep(0)
        await s.aclose()
        gate.set()
        await asyncio.wait_for(task, 5)  # a clean end, not a lost connection
        return got, s

    got, s = asyncio.run(go())
    assert got == ["Hi"] and s.reasoning == "hmm " and s.finish_reason == "cancelled" and http.aborted


def test_raw_chunk_streams_end_on_done_and_refuse_a_cut() -> None:
    done = [chunk(content="a"), b"data: [DONE]\n\n"]
    http = Scripted([MODELS, (200, SSE, done), (200, SSE, [chunk(content="a")])])

    async def go():
        llm = await connect("http://h:1", http=http)
        whole = [c async for c in await llm.create_chat_completion([{"role": "user", "content": "x"}], stream=True)]
        cut = await llm.create_chat_completion([{"role": "user", "content": "x"}], stream=True)
        got = []
        with pytest.raises(p.RemoteConnectionError, match="before the answer was complete"):
            async for c in cut:
                got.append(c)
        return whole, got

    whole, got = asyncio.run(go())
    assert len(whole) == 1 and whole[0]["choices"][0]["delta"]["content"] == "a" and len(got) == 1
