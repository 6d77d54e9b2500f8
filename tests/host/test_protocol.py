"""protocol.json against every side that speaks it: Python, the JS client and worker, the C++ engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyodide_llm._protocol import PROTOCOL, check_payload, check_reply, describe_limits, in_limits

ROOT = Path(__file__).resolve().parents[2]
JS = {p.name: p.read_text() for p in (ROOT / "pyodide_llm/js").glob("*.mjs")}
CPP = "\n".join(p.read_text() for p in (ROOT / "wasm").glob("*.[ch]*") if p.suffix in (".cpp", ".h"))
PY = "\n".join(p.read_text() for p in (ROOT / "pyodide_llm").rglob("*.py"))


def test_the_worker_handles_exactly_the_protocol_requests() -> None:
    worker = JS["worker.mjs"]
    block = worker[worker.index("const handlers = {"): worker.index("};", worker.index("const handlers = {"))]
    assert set(re.findall(r"^  (\w+)[,:]", block, re.M)) == set(PROTOCOL["requests"])


def test_the_worker_speaks_the_protocol_version() -> None:
    found = re.findall(r"^export const PROTOCOL_VERSION = (\d+);$", JS["worker.mjs"], re.M)
    assert found == [str(PROTOCOL["version"])]


def test_the_worker_sends_only_events_in_the_table() -> None:
    sent = set(re.findall(r'event\(id, "(\w+)"', JS["worker.mjs"]))
    sent |= set(re.findall(r'event: "(\w+)"', JS["worker.mjs"]))
    assert sent == set(PROTOCOL["events"]) | set(PROTOCOL["worker_events"]), sent


def test_python_sends_only_protocol_requests() -> None:
    used = set(re.findall(r'\.(?:start|call)\("(\w+)"', PY))
    assert used and used <= set(PROTOCOL["requests"]), used - set(PROTOCOL["requests"])


def test_the_engine_implements_exactly_the_engine_actions() -> None:
    actions = re.findall(r'^        \{"(\w+)", \[\]\(const json &', (ROOT / "wasm/actions.cpp").read_text(), re.M)
    actions += re.findall(r'^    h\["(\w+)"\] = \[\]\(const json &', (ROOT / "wasm/seq_actions.cpp").read_text(), re.M)
    assert len(actions) == len(set(actions))
    assert set(actions) == set(PROTOCOL["engine_actions"])


def test_js_calls_only_engine_actions_in_the_table() -> None:
    called = set()
    for text in JS.values():
        called |= set(re.findall(r'action(?:Raw)?\("(\w+)"', text))
    assert called and called <= set(PROTOCOL["engine_actions"]), called - set(PROTOCOL["engine_actions"])


def _codes_in(text: str) -> set[str]:
    patterns = [r'fail\(id, "(\w+)"', r'code: "(\w+)"', r'(?:storeError|sourceError|EngineError)\("(\w+)"',
                r'constexpr const char \* \w+\s*= "(\w+)"', r'Error\([^()]*(?:\([^()]*\)[^()]*)*, "(\w+)"(?:\)|, )',
                r'"code": "(\w+)"']
    return {c for p in patterns for c in re.findall(p, text, re.S)}


def test_every_error_code_in_any_source_is_in_the_table_and_none_is_stale() -> None:
    table = set(PROTOCOL["error_codes"])
    by_side = {"js": set().union(*(_codes_in(t) for t in JS.values())), "cpp": _codes_in(CPP), "py": _codes_in(PY)}
    for side, codes in by_side.items():
        assert codes, side
        assert codes <= table, (side, codes - table)
    assert table <= set().union(*by_side.values()), table - set().union(*by_side.values())


def test_every_error_code_names_an_exception_class() -> None:
    import pyodide_llm

    for code, name in PROTOCOL["error_codes"].items():
        assert issubclass(getattr(pyodide_llm, name), pyodide_llm.LLMError), code


def test_payload_and_reply_checks_can_fail() -> None:
    check_payload("tokenize", {"text": "x"})
    with pytest.raises(AssertionError, match="missing"):
        check_payload("tokenize", {})
    with pytest.raises(AssertionError, match="unknown"):
        check_payload("tokenize", {"text": "x", "txt": "y"})
    with pytest.raises(AssertionError, match="not a request"):
        check_payload("tokenise", {})
    check_reply("tokenize", {"ok": True, "tokens": [1]})
    check_reply("generate", {"ok": False, "code": "aborted", "message": "", "stats": {}})
    with pytest.raises(AssertionError):
        check_reply("tokenize", {"ok": True, "ids": [1]})


@pytest.mark.parametrize(("name", "inside", "outside", "words"), [
    ("n_threads", [1, 256], [0, 257], "in 1..256"),
    ("top_p", [1e-9, 1], [0, 1.01], "in (0, 1]"),
    ("min_p", [0, 1], [-0.1, 1.1], "in [0, 1]"),
    ("temperature", [0, 5], [-0.01], ">= 0"),
    ("repeat_penalty", [0.01], [0], "> 0"),
])
def test_limits(name, inside, outside, words) -> None:
    assert all(in_limits(name, v) for v in inside)
    assert not any(in_limits(name, v) for v in outside)
    assert describe_limits(name) == words
