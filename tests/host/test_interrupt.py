"""The notebook's Stop button (pyodide_llm._interrupt) over the fake engine: which kernel, what stops."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from fake_transport import FakeTransport
from pyodide_llm import LLM, GenerationCancelled, _interrupt


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize(("message", "session", "meant"), [
    ({"type": "interrupt", "kernel": "k", "sessions": ["s1", "s2"]}, "s2", True),
    ({"type": "interrupt", "kernel": "k", "sessions": ["s1"]}, "s2", False),  # another notebook's kernel
    ({"type": "interrupt", "kernel": "k", "sessions": []}, "s2", True),  # no names: taken as ours
    ({"type": "interrupt", "kernel": "k", "sessions": ["s1"]}, None, True),  # not a JupyterLite kernel
    ({"type": "restart"}, "s1", False),
    ({}, None, False),
])
def test_a_message_is_for_this_kernel_only_when_it_names_its_session(message, session, meant) -> None:
    assert _interrupt.for_this_kernel(message, session) is meant


def test_the_session_comes_from_the_kernels_running_cell(monkeypatch) -> None:
    kernel = types.SimpleNamespace(_parent_header={"header": {"session": "abc", "msg_id": "1"}})
    monkeypatch.setitem(sys.modules, "pyodide_kernel", types.SimpleNamespace(kernel_instance=kernel))
    assert _interrupt.current_session() == "abc"
    kernel._parent_header = {}
    assert _interrupt.current_session() is None
    monkeypatch.delitem(sys.modules, "pyodide_kernel")
    assert _interrupt.current_session() is None


def test_an_interrupt_stops_the_engine_raises_once_it_stopped_and_keeps_the_model() -> None:
    t = FakeTransport([b"tok"] * 1000)

    async def main():
        llm = await LLM.load("model.gguf", transport=t)
        got = []
        with pytest.raises(GenerationCancelled) as e:
            async for piece in llm.complete("x", max_tokens=1000):
                got.append(piece)
                if len(got) == 3:
                    assert _interrupt.on_message({"type": "interrupt", "sessions": []}) == 1
        assert _interrupt.on_message({"type": "interrupt", "sessions": []}) == 0  # nothing runs now
        after = [p async for p in llm.complete("x", max_tokens=2)]
        return got, e.value, after

    got, err, after = run(main())
    assert err.code == "interrupted" and "still loaded" in str(err)
    assert 3 <= len(got) <= 5, got  # within a token of the interrupt (one may be in flight)
    assert t.count("cancel") == 1
    assert after == ["tok", "tok"]


def test_an_interrupt_for_another_kernel_leaves_the_generation_alone(monkeypatch) -> None:
    kernel = types.SimpleNamespace(_parent_header={"header": {"session": "mine"}})
    monkeypatch.setitem(sys.modules, "pyodide_kernel", types.SimpleNamespace(kernel_instance=kernel))
    t = FakeTransport([b"tok"] * 20)

    async def main():
        llm = await LLM.load("model.gguf", transport=t)
        got = []
        async for piece in llm.complete("x", max_tokens=8):
            got.append(piece)
            assert _interrupt.on_message({"type": "interrupt", "sessions": ["theirs"]}) == 0
        return got

    assert len(run(main())) == 8
    assert t.count("cancel") == 0


def test_ipython_shows_an_interrupt_as_one_line_and_other_errors_in_full(monkeypatch) -> None:
    installed = {}

    class Shell:
        class InteractiveTB:
            @staticmethod
            def structured_traceback(etype, value, tb, tb_offset=None):
                return ["Traceback (most recent call last):", f"{etype.__name__}: {value}"]

        def set_custom_exc(self, classes, handler):
            installed["classes"], installed["handler"] = classes, handler

        def _showtraceback(self, etype, value, stb):
            installed.setdefault("shown", []).append(stb)

    shell = Shell()
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    _interrupt.install_ipython_handler()
    assert installed["classes"] == (GenerationCancelled,)
    short = installed["handler"](shell, GenerationCancelled, GenerationCancelled("x", "interrupted"), None)
    assert short == [_interrupt.MESSAGE]
    full = installed["handler"](shell, GenerationCancelled, GenerationCancelled("map stopped", "aborted"), None)
    assert full[0].startswith("Traceback") and "map stopped" in full[1]
    assert installed["shown"] == [short, full]  # IPython leaves showing it to the handler
