"""Sessions over the fake engine: turns kept, cache reuse per sequence, save/restore, overflow."""

from __future__ import annotations

import asyncio

import pytest

from fake_transport import FakeTransport
from pyodide_llm import LLM, ContextOverflowError, LLMError, SessionStateError
from pyodide_llm._session import MAGIC


def run(coro):
    return asyncio.run(coro)


async def loaded(t: FakeTransport | None = None, **kw) -> LLM:
    return await LLM.load("m.gguf", transport=t or FakeTransport(), **kw)


def test_send_keeps_both_turns_and_the_next_turn_reuses_the_cache() -> None:
    t = FakeTransport()

    async def go():
        llm = await loaded(t)
        chat = llm.session(system="Be brief.")
        first = await chat.send("Hi").text()
        s1 = llm.last_stats
        await chat.send("And then?").text()
        return chat, first, s1, llm.last_stats
    chat, first, s1, s2 = run(go())
    assert first == "Hello, world."
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert chat.messages[2]["content"] == "Hello, world."
    seqs = [p["seq"] for _, ty, p in t.sent if ty == "generate"]
    assert seqs == [1, 1]  # the session's own sequence, not the model's (0)
    assert s1.cached_tokens == 0 and s2.cached_tokens > 20  # the whole first exchange was cached


def test_sessions_get_sequences_of_their_own_and_plain_chat_stays_on_zero() -> None:
    t = FakeTransport()

    async def go():
        llm = await loaded(t)
        a, b = llm.session(system="A"), llm.session(system="B")
        await a.send("x").text()
        await b.send("y").text()
        await llm.chat([{"role": "user", "content": "z"}]).text()
        await a.send("x2").text()
        return llm.last_stats
    stats = run(go())
    assert [p["seq"] for _, ty, p in t.sent if ty == "generate"] == [1, 2, 0, 1]
    assert stats.cached_tokens > 10  # a's cache survived b's and the plain chat's turns


def test_save_and_restore_gives_the_same_history_and_the_cached_state() -> None:
    t1, t2 = FakeTransport(), FakeTransport()

    async def go():
        llm = await loaded(t1)
        chat = llm.session(system="S")
        await chat.send("one").text()
        data = await chat.save()
        llm2 = await loaded(t2)
        again = await llm2.session_from(data)
        await again.send("two").text()
        return data, chat, again, llm2.last_stats
    data, chat, again, stats = run(go())
    assert data.startswith(MAGIC)
    assert again.messages[:3] == chat.messages
    assert [ty for _, ty, _ in t2.sent if ty.startswith("seq_")] == ["seq_restore"]
    assert stats.cached_tokens > 10  # the restored sequence was reused, not recomputed


def test_save_by_name_survives_a_new_model_object() -> None:
    async def go():
        llm = await loaded()
        chat = llm.session()
        await chat.send("remember me").text()
        await chat.save("notebook-1")
        llm2 = await loaded()
        return await llm2.session_from("notebook-1")
    again = run(go())
    assert again.messages[0] == {"role": "user", "content": "remember me"}


def test_a_state_of_another_n_ctx_or_model_or_damaged_bytes_is_refused() -> None:
    async def go():
        llm = await loaded()
        chat = llm.session(system="S")
        await chat.send("hi").text()
        data = await chat.save()
        other_ctx = await loaded(n_ctx=1024)
        errors = []
        for bad, target in ((data, other_ctx), (b"not a session", llm), (data[:-3], llm),
                            (data[:-1] + bytes([data[-1] ^ 1]), llm)):
            with pytest.raises(SessionStateError) as e:
                await target.session_from(bad)
            errors.append(str(e.value))
        with pytest.raises(SessionStateError, match="no saved session named"):
            await llm.session_from("never-saved")
        return errors
    errors = run(go())
    assert "n_ctx=2048" in errors[0] and "not a saved pyodide_llm session" in errors[1]
    assert "damaged" in errors[2] and "damaged" in errors[3]


def test_a_state_the_engine_refuses_is_a_session_state_error_and_the_model_stays() -> None:
    import hashlib
    import json
    import struct

    async def go():
        llm = await loaded()
        chat = llm.session()
        await chat.send("hi").text()
        data = await chat.save()
        n = struct.unpack_from("<I", data, len(MAGIC))[0]
        header = json.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + n])
        state = b"GARBAGE!"
        header.update(state_size=len(state), state_sha256=hashlib.sha256(state).hexdigest())
        head = json.dumps(header).encode()
        forged = MAGIC + struct.pack("<I", len(head)) + head + state
        with pytest.raises(SessionStateError, match="refused"):
            await llm.session_from(forged)
        return await llm.complete("still here").text()
    assert run(go()) == "Hello, world."


def test_history_past_n_ctx_drops_the_oldest_turns_with_a_warning_or_raises() -> None:
    async def go(overflow):
        llm = await loaded(FakeTransport(n_ctx=200), n_ctx=200)
        chat = llm.session(system="sys", overflow=overflow)
        for i in range(6):
            await chat.send(f"question number {i} " + "x" * 20).text()
        return chat
    with pytest.warns(RuntimeWarning, match="oldest message"):
        chat = run(go("truncate"))
    assert chat.messages[0] == {"role": "system", "content": "sys"}
    assert chat.messages[1]["content"].startswith("question number") and len(chat.messages) < 12
    with pytest.raises(ContextOverflowError, match="does not fit"):
        run(go("error"))


def test_a_broken_off_answer_is_kept_as_far_as_it_went() -> None:
    async def go():
        llm = await loaded()
        chat = llm.session()
        stream = chat.send("hi")
        async for _ in stream:
            break
        await stream.aclose()
        await chat.send("go on").text()
        return chat.messages
    msgs = run(go())
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[1]["content"] == "Hello"


def test_sending_while_the_last_answer_streams_is_busy_and_unread_sends_are_withdrawn() -> None:
    async def go():
        llm = await loaded()
        chat = llm.session()
        s = chat.send("first")
        await s.__anext__()
        with pytest.raises(LLMError, match="still streaming"):
            chat.send("second")
        await s.text()
        chat.send("never read")
        await chat.send("third").text()
        return chat.messages
    msgs = run(go())
    assert [m["content"] for m in msgs if m["role"] == "user"] == ["first", "third"]


def test_bad_inputs_and_a_closed_model() -> None:
    async def go():
        llm = await loaded()
        with pytest.raises(ValueError, match="overflow must be"):
            llm.session(overflow="drop")
        with pytest.raises(ValueError, match="system must be"):
            llm.session(system=3)
        chat = llm.session()
        with pytest.raises(ValueError, match="text must be"):
            chat.send("")
        with pytest.raises(ValueError, match="name must be"):
            await chat.save("a/b")
        with pytest.raises(TypeError, match="saved session is bytes"):
            await llm.session_from(123)
        await llm.close()
        with pytest.raises(LLMError, match="closed"):
            chat.send("hi")
        with pytest.raises(LLMError, match="closed"):
            await chat.save()
    run(go())


def test_a_long_prompt_is_kept_and_restored_by_a_later_page() -> None:
    from pyodide_llm import cache
    from pyodide_llm._prompt_cache import SEQ

    doc = "A long document. " * 20  # 340 characters: 340 fake tokens, over the 256 kept

    async def page(question: str):
        t = FakeTransport()
        llm = await loaded(t, prompt_cache=True)
        text = await llm.complete(doc + question).text()
        await asyncio.gather(*llm._prompt_cache.saves)
        return t, llm.last_stats, text

    async def go():
        await cache.clear_prompt_cache()
        t1, s1, _ = await page("First question?")
        kept = await cache.prompt_cache()
        t2, s2, _ = await page("Second question?")
        return t1, s1, kept, t2, s2, await cache.clear_prompt_cache()
    t1, s1, kept, t2, s2, cleared = run(go())
    assert [p.get("save_prefix") for _, ty, p in t1.sent if ty == "generate"] == [True]
    assert len(kept) == 1 and kept[0]["tokens"] == len(doc) + len("First question?") and kept[0]["bytes"] > 0
    restores = [p for _, ty, p in t2.sent if ty == "seq_restore"]
    assert len(restores) == 1 and restores[0]["seq"] == SEQ
    assert s1.cached_tokens == 0 and s2.cached_tokens >= len(doc)  # the new page evaluated only its question
    assert [p.get("save_prefix") for _, ty, p in t2.sent if ty == "generate"] == [None]  # covered: not kept again
    assert cleared == 1


def test_prompt_cache_option_is_checked() -> None:
    with pytest.raises(ValueError, match="prompt_cache must be"):
        run(loaded(prompt_cache=-5))
