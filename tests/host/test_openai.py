"""OpenAI's call shapes and the Llama facade over the fake engine: every field, streaming, usage, refusals."""

from __future__ import annotations

import asyncio
import json

import pytest

from fake_transport import FakeTransport
from pyodide_llm import LLM, Llama

ASK = [{"role": "user", "content": "hi"}]


def run(coro):
    return asyncio.run(coro)


async def load(transport: FakeTransport | None = None) -> LLM:
    return await LLM.load("m.gguf", transport=transport or FakeTransport())


def check_chat_completion(r: dict) -> None:
    assert set(r) == {"id", "object", "created", "model", "choices", "usage"}
    assert r["id"].startswith("chatcmpl-") and r["object"] == "chat.completion"
    assert isinstance(r["created"], int) and r["model"] == "Fake"
    [choice] = r["choices"]
    assert set(choice) == {"index", "message", "logprobs", "finish_reason"} and choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in ("stop", "length", "tool_calls")
    u = r["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert all(isinstance(v, int) for v in u.values())


def test_chat_completion_has_every_field_and_streamed_chunks_add_up_to_it() -> None:
    async def main():
        llm = await load()
        whole = await llm.create_chat_completion(ASK, temperature=0, max_tokens=8, logprobs=True, top_logprobs=2)
        chunks = [c async for c in await llm.create_chat_completion(ASK, temperature=0, max_tokens=8, stream=True,
                                                                    stream_options={"include_usage": True})]
        return whole, chunks

    whole, chunks = run(main())
    check_chat_completion(whole)
    msg = whole["choices"][0]["message"]
    assert msg == {"role": "assistant", "content": "Hello, world."}
    content = whole["choices"][0]["logprobs"]["content"]
    assert [c["token"] for c in content] == ["Hello", ",", " world", "."]
    assert content[0]["top_logprobs"][0] == {"token": "\x01", "logprob": -0.1, "bytes": [1]}
    assert whole["usage"]["completion_tokens"] == len(content) == 4
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == msg["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]


def test_chat_completion_maps_keywords_onto_the_engine_request() -> None:
    t = FakeTransport([b'{"a": 1}'])

    async def main():
        llm = await load(t)
        return await llm.create_chat_completion(
            ASK, model="anything", response_format={"type": "json_object", "schema": {"type": "object"}},
            max_completion_tokens=5, stop=["END"], seed=7, temperature=0.5, top_p=0.9, presence_penalty=0.5,
            frequency_penalty=0.25, user="u1")

    r = run(main())
    assert json.loads(r["choices"][0]["message"]["content"]) == {"a": 1}
    gen = next(p for _, ty, p in t.sent if ty == "generate")
    assert gen["max_tokens"] == 5
    s = gen["sampling"]
    assert (s["seed"], s["temperature"], s["top_p"], s["presence_penalty"], s["frequency_penalty"]) == \
        (7, 0.5, 0.9, 0.5, 0.25)
    assert json.loads(s["json_schema"]) == {"type": "object"}


def test_tool_calls_come_back_in_openai_shape() -> None:
    t = FakeTransport([b"<call>", json.dumps({"name": "f", "arguments": {"x": 1}}).encode(), b"</call>"])
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}

    async def main():
        llm = await load(t)
        whole = await llm.create_chat_completion(ASK, tools=[tool], tool_choice={"type": "function",
                                                                                 "function": {"name": "f"}})
        chunks = [c async for c in await llm.create_chat_completion(ASK, tools=[tool], stream=True)]
        return whole, chunks

    whole, chunks = run(main())
    check_chat_completion(whole)
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"] == {"name": "f", "arguments": '{"x": 1}'}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    streamed = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert streamed[0]["index"] == 0 and streamed[0]["function"] == call["function"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_completion_has_the_legacy_shape_and_usage_equals_tokenize() -> None:
    async def main():
        llm = await load()
        whole = await llm.create_completion("Say hi", logprobs=1, temperature=0)
        chunks = [c async for c in await llm.create_completion("Say hi", stream=True, temperature=0)]
        return whole, chunks, await llm.tokenize("Say hi")

    whole, chunks, tokens = run(main())
    assert set(whole) == {"id", "object", "created", "model", "choices", "usage"}
    assert whole["object"] == "text_completion" and whole["id"].startswith("cmpl-")
    [choice] = whole["choices"]
    assert choice["text"] == "Hello, world." and choice["finish_reason"] == "stop"
    lp = choice["logprobs"]
    assert lp["tokens"] == ["Hello", ",", " world", "."] and lp["token_logprobs"] == [-0.1] * 4
    assert lp["text_offset"] == [6, 11, 12, 18] and lp["top_logprobs"][0] == {"\x01": -0.1}
    assert whole["usage"]["completion_tokens"] == 4
    # The fake's prompt is the text itself: its usage counts what tokenize counts.
    assert whole["usage"]["prompt_tokens"] == len("Say hi") == len(tokens)
    assert "".join(c["choices"][0]["text"] for c in chunks) == choice["text"]


@pytest.mark.parametrize(("kw", "message"), [
    ({"logit_bias": {"1": 5}}, "logit_bias is not supported"),
    ({"n": 2}, "one choice per call"),
    ({"top_logprobs": 3}, "top_logprobs needs logprobs=True"),
    ({"logprobs": True, "top_logprobs": 99}, "top_logprobs must be an integer from 0 to 20"),
    ({"response_format": {"type": "xml"}}, "response_format must be"),
    ({"response_format": {"type": "json_schema"}}, "needs {'json_schema'"),
    ({"mystery": 1}, "unsupported keyword"),
    ({"functions": [{"name": "f"}]}, "pass tools= and tool_choice="),
    ({"presence_penalty": 5}, "presence_penalty must be"),
])
def test_unsupported_or_bad_keywords_are_value_errors(kw, message) -> None:
    async def main():
        llm = await load()
        return await llm.create_chat_completion(ASK, **kw)

    with pytest.raises(ValueError, match=message):
        run(main())


def test_the_llama_facade_speaks_llama_cpp_python() -> None:
    t = FakeTransport()

    async def main():
        llm = await Llama.load("m.gguf", n_ctx=1024, seed=3, verbose=False, transport=t)
        out = await llm("Q:", max_tokens=4)
        chat = await llm.create_chat_completion(ASK)
        ids = await llm.tokenize(b"hi")
        text = await llm.detokenize(ids)
        n = llm.n_ctx()
        await llm.close()
        return out, chat, ids, text, n

    out, chat, ids, text, n = run(main())
    assert out["object"] == "text_completion" and chat["object"] == "chat.completion"
    assert ids == [ord("h"), ord("i")] and text == b"hi" and n == 1024
    gens = [p for _, ty, p in t.sent if ty == "generate"]
    assert all(g["sampling"]["seed"] == 3 for g in gens) and gens[0]["max_tokens"] == 4
    assert next(p for _, ty, p in t.sent if ty == "load")["n_gpu_layers"] == 0
    with pytest.raises(TypeError, match="tokenize takes bytes"):
        run(Llama(None).tokenize("hi"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chat_format= is not supported"):
        run(Llama.load("m.gguf", chat_format="chatml", transport=FakeTransport()))
