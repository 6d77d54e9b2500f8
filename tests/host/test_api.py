"""The Python API over a fake transport: streaming, cancellation, errors, UTF-8."""

from __future__ import annotations

import asyncio
import pickle

import pytest

import pyodide_llm
from fake_transport import FakeTransport
from pyodide_llm import (
    LLM,
    CacheError,
    ContextOverflowError,
    LLMError,
    ModelLoadError,
    ModelSourceError,
    UnsupportedEnvironmentError,
)

CHAT = [{"role": "user", "content": "hi"}]


def run(coro):
    return asyncio.run(coro)


async def load(transport: FakeTransport, **kw) -> LLM:
    return await LLM.load("model.gguf", transport=transport, **kw)


async def collect(stream) -> list[str]:
    return [p async for p in stream]


def test_load_reports_info_and_progress() -> None:
    seen = []

    async def main():
        llm = await load(FakeTransport(), n_ctx=1024, n_threads=2, variant="wasm32-mt",
                         progress=lambda *a: seen.append(a))
        return llm.info

    info = run(main())
    assert info.architecture == "llama" and info.n_ctx == 1024 and info.n_threads == 2
    assert info.variant == "wasm32-mt" and info.quantization == "Q4_1"
    assert seen == [(50, 100, "download"), (100, 100, "download")]


@pytest.mark.parametrize(("code", "cls"), [("not_gguf", ModelLoadError), ("load_failed", ModelLoadError),
                                           ("http_error", ModelSourceError), ("network_error", ModelSourceError),
                                           ("unsupported_architecture", ModelLoadError),
                                           ("split_mismatch", ModelLoadError), ("checksum_mismatch", ModelSourceError),
                                           ("quota_exceeded", CacheError)])
def test_load_errors_map_to_exception_classes(code, cls) -> None:
    t = FakeTransport(load_error=(code, "it broke; do this"))
    with pytest.raises(cls, match="it broke") as e:
        run(load(t))
    assert e.value.code == code
    assert t.closed, "a failed load does not leave a worker behind"


def test_chat_streams_pieces_and_records_stats() -> None:
    async def main():
        llm = await load(FakeTransport())
        pieces = await collect(llm.chat(CHAT, max_tokens=16, temperature=0))
        return pieces, llm.last_stats

    pieces, stats = run(main())
    assert pieces == ["Hello", ",", " world", "."]
    assert stats.generated_tokens == 4 and stats.decode_tokens_per_s == pytest.approx(50.0)


def test_chat_generates_from_chat_formats_tokens_and_passes_parse_special() -> None:
    t = FakeTransport()

    async def main():
        llm = await load(t)
        await collect(llm.chat(CHAT, max_tokens=4))
        await collect(llm.chat(CHAT, max_tokens=4, parse_special=True))
        with pytest.raises(ValueError, match="parse_special must be True or False"):
            llm.chat(CHAT, parse_special=1)

    run(main())
    formats = [p for _, ty, p in t.sent if ty == "chat_format"]
    assert [f["parse_special"] for f in formats] == [False, True]  # the engine keeps message text by default
    gens = [p for _, ty, p in t.sent if ty == "generate"]
    assert len(gens) == 2 and all(g["tokens"] == [ord(c) for c in g["prompt"]] for g in gens)


def test_multibyte_characters_split_across_tokens_never_half_shown() -> None:
    toks = [b"caf", b"\xc3", b"\xa9 ", b"\xf0\x9f", b"\x98", b"\x80!", b"\xe2\x82", b"\xac"]

    async def main():
        llm = await load(FakeTransport(toks))
        return await collect(llm.complete("x", max_tokens=32))

    pieces = run(main())
    assert "".join(pieces) == "café 😀!€"
    assert all("\ufffd" not in p for p in pieces)
    assert pieces[0] == "caf" and "é " in pieces


def test_stop_string_across_tokens_ends_generation_and_cancels_engine() -> None:
    t = FakeTransport([b"Hello", b" ST", b"OP and", b" more", b" tokens"])

    async def main():
        llm = await load(t)
        pieces = await collect(llm.complete("x", stop=["STOP"]))
        again = await collect(llm.complete("y", max_tokens=1))
        return pieces, again

    pieces, again = run(main())
    assert "".join(pieces) == "Hello "
    assert t.count("cancel") == 1
    assert again == ["Hello"], "the model answers again after a stop"


def test_break_cancels_in_the_engine_and_the_next_call_works() -> None:
    t = FakeTransport([b"a", b"b", b"c", b"d", b"e", b"f"])

    async def main():
        llm = await load(t)
        async for piece in llm.complete("x"):
            assert piece == "a"
            break
        return await collect(llm.complete("x", max_tokens=2))

    assert run(main()) == ["a", "b"]
    assert t.count("cancel") == 1


def test_task_cancellation_reaches_the_engine() -> None:
    t = FakeTransport([b"tok"] * 1000)

    async def main():
        llm = await load(t)
        got = []

        async def consume():
            async for p in llm.complete("x", max_tokens=1000):
                got.append(p)

        task = asyncio.ensure_future(consume())
        while len(got) < 3:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await collect(llm.complete("x", max_tokens=2))
        return got, after

    got, after = run(main())
    assert 3 <= len(got) < 10 and after == ["tok", "tok"]
    assert t.count("cancel") == 1


def test_aclose_waits_until_the_engine_is_idle() -> None:
    t = FakeTransport([b"x"] * 50)

    async def main():
        llm = await load(t)
        s = llm.complete("p")
        assert await s.__anext__() == "x"
        await s.aclose()
        assert t.running is None
        assert s.finish_reason == "cancelled"

    run(main())


def test_second_concurrent_generation_is_refused_clearly() -> None:
    async def main():
        llm = await load(FakeTransport([b"x"] * 20))
        first = llm.complete("a")
        await first.__anext__()
        with pytest.raises(LLMError, match="still streaming") as e:
            await llm.complete("b").__anext__()
        assert e.value.code == "busy"
        rest = await collect(first)
        assert len(rest) == 19

    run(main())


@pytest.mark.parametrize("kw", [{"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"min_p": 2},
                                {"top_k": -1}, {"top_k": 1.5}, {"max_tokens": 0}, {"repeat_penalty": 0},
                                {"seed": -1}, {"temperature": float("nan")}, {"stop": [""]},
                                {"temperature": "hot"}, {"max_tokens": True}])
def test_invalid_sampling_raises_before_anything_is_sent(kw) -> None:
    t = FakeTransport()

    async def main():
        llm = await load(t)
        sent = len(t.sent)
        with pytest.raises(ValueError):
            llm.chat(CHAT, **kw)
        with pytest.raises(ValueError):
            llm.complete("x", **kw)
        assert len(t.sent) == sent

    run(main())


def test_unknown_option_and_bad_messages() -> None:
    async def main():
        llm = await load(FakeTransport())
        with pytest.raises(TypeError, match="temprature"):
            llm.chat(CHAT, temprature=0.1)
        for bad in ([], "hi", [{"role": "user"}], [{"role": 1, "content": "x"}]):
            with pytest.raises(ValueError):
                llm.chat(bad)

    run(main())


@pytest.mark.parametrize("kw", [{"n_ctx": -1}, {"n_threads": 0}, {"variant": "wasm128"}, {"n_batch": 0},
                                {"timeout": 0}, {"timeout": -5}, {"timeout": float("inf")}, {"timeout": "60"},
                                {"timeout": 86401}])
def test_invalid_load_options(kw) -> None:
    with pytest.raises(ValueError):
        run(load(FakeTransport(), **kw))


def test_the_load_timeout_reaches_the_worker() -> None:
    async def main():
        t = FakeTransport()
        await load(t, timeout=7.5)
        await load(u := FakeTransport())
        return t, u

    t, u = run(main())
    [(_, _, sent)] = [x for x in t.sent if x[1] == "load"]
    [(_, _, default)] = [x for x in u.sent if x[1] == "load"]
    assert sent["timeout"] == 7.5 and default["timeout"] == 60.0


def test_context_overflow_is_typed_and_model_survives() -> None:
    async def main():
        llm = await load(FakeTransport(n_ctx=10))
        with pytest.raises(ContextOverflowError):
            await collect(llm.complete("x" * 50))
        return await collect(llm.complete("short", max_tokens=1))

    assert run(main()) == ["Hello"]


def test_tokenize_detokenize_and_close() -> None:
    t = FakeTransport()

    async def main():
        async with await load(t) as llm:
            ids = await llm.tokenize("hey")
            assert await llm.detokenize(ids) == "hey"
        assert t.closed
        with pytest.raises(LLMError):
            await llm.tokenize("x")

    run(main())


def test_browser_calls_raise_on_plain_cpython() -> None:
    with pytest.raises(UnsupportedEnvironmentError, match="browser"):
        run(LLM.load("model.gguf"))
    with pytest.raises(UnsupportedEnvironmentError):
        run(pyodide_llm.capabilities())


def test_errors_pickle_with_their_code() -> None:
    for cls in (LLMError, ModelLoadError, ModelSourceError, ContextOverflowError, UnsupportedEnvironmentError):
        e = pickle.loads(pickle.dumps(cls("message", "some_code")))
        assert type(e) is cls and e.code == "some_code" and str(e) == "message"


def test_load_sends_parts_cache_and_sha256_and_reports_sources() -> None:
    async def main():
        t = FakeTransport()
        llm = await LLM.load("m/x-00001-of-00002.gguf", transport=t, cache="opfs", sha256=["A" * 64, "b" * 64])
        return t.sent[0][2], llm.load_report

    payload, report = run(main())
    assert payload["parts"] == [{"url": "m/x-00001-of-00002.gguf", "sha256": "a" * 64},
                                {"url": "m/x-00002-of-00002.gguf", "sha256": "b" * 64}]
    assert payload["cache"] == "opfs" and "url" not in payload
    assert report is not None and report.sources == ()


def test_load_checks_cache_and_sha256_arguments_before_any_request() -> None:
    import hashlib

    data = b"GGUF" + bytes(60)
    for kw, exc, match in [({"cache": "disk"}, ValueError, "cache must be"),
                           ({"sha256": "xyz"}, ValueError, "64 hexadecimal"),
                           ({"sha256": ["0" * 64, "1" * 64]}, ValueError, "one digest per part|1 parts|2 sha256")]:
        t = FakeTransport()
        with pytest.raises(exc, match=match):
            run(LLM.load("model.gguf", transport=t, **kw))
        assert t.sent == []
    t = FakeTransport()
    with pytest.raises(ModelSourceError, match="expected") as e:
        run(LLM.load(data, transport=t, sha256="0" * 64))
    assert e.value.code == "checksum_mismatch" and t.sent == []
    run(LLM.load(data, transport=t, sha256=hashlib.sha256(data).hexdigest()))
    assert t.sent[0][1] == "load"


def test_a_cancelled_load_terminates_its_worker() -> None:
    t = FakeTransport(hang_on_load=True)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(load(t), timeout=0.05)

    run(main())
    assert t.terminated and [s[1] for s in t.sent] == ["load"]


def test_a_failed_load_closes_its_worker() -> None:
    t = FakeTransport(load_error=("load_failed", "bad tensor"))
    with pytest.raises(ModelLoadError):
        run(load(t))
    assert t.closed and not t.terminated
