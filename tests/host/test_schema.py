"""json_schema=: the schema a class means, the value built back, and stream.json() over a fake engine."""

from __future__ import annotations

import asyncio
import enum
import json
from dataclasses import dataclass, field
from typing import Literal, Optional, TypedDict

import pytest

from fake_transport import FakeTransport
from pyodide_llm import LLM, IncompleteJSONError
from pyodide_llm._schema import to_schema

CHAT = [{"role": "user", "content": "hi"}]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Address:
    city: str
    zip_code: Optional[str] = None  # noqa: UP045 (the Optional spelling is what users write too)


@dataclass
class Person:
    name: str
    age: int
    score: float
    tags: list[str]
    address: Address
    color: Color
    level: Literal["low", "high"]
    nickname: str | None = None
    extra: dict[str, int] = field(default_factory=dict)


class Ticket(TypedDict, total=False):
    title: str
    priority: int


def test_a_dataclass_becomes_an_object_schema_with_its_required_fields() -> None:
    s = to_schema(Person).schema
    assert s["type"] == "object" and s["additionalProperties"] is False
    assert s["required"] == ["name", "age", "score", "tags", "address", "color", "level"]
    p = s["properties"]
    assert p["name"] == {"type": "string"} and p["age"] == {"type": "integer"} and p["score"] == {"type": "number"}
    assert p["tags"] == {"type": "array", "items": {"type": "string"}}
    assert p["address"]["properties"]["zip_code"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert p["address"]["required"] == ["city"]
    assert p["color"] == {"enum": ["red", "blue"]} and p["level"] == {"enum": ["low", "high"]}
    assert p["extra"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    json.dumps(s)  # JSON all the way down


def test_the_parsed_value_is_built_back_into_the_classes() -> None:
    value = {"name": "Ada", "age": 36, "score": 9.5, "tags": ["x"], "address": {"city": "London"},
             "color": "red", "level": "high", "extra": {"a": 1}}
    ada = to_schema(Person).build(value)
    assert isinstance(ada, Person) and isinstance(ada.address, Address) and ada.address.zip_code is None
    assert ada.color is Color.RED and ada.extra == {"a": 1} and ada.nickname is None


def test_a_typeddict_and_a_plain_dict() -> None:
    s = to_schema(Ticket)
    assert s.schema["properties"] == {"title": {"type": "string"}, "priority": {"type": "integer"}}
    assert "required" not in s.schema, "total=False: every key optional"
    assert s.build({"title": "t"}) == {"title": "t"}
    plain = {"type": "array", "items": {"type": "integer"}, "minItems": 1}
    assert to_schema(plain).schema == plain and to_schema(plain).build([1]) == [1]


def test_bad_specs_are_refused_naming_the_problem() -> None:
    @dataclass
    class Bad:
        when: complex

    with pytest.raises(TypeError, match=r"Bad\.when.*has no JSON schema"):
        to_schema(Bad)
    with pytest.raises(TypeError, match="JSON Schema dict, a dataclass"):
        to_schema("not a schema")
    with pytest.raises(ValueError, match="must be JSON"):
        to_schema({"type": "object", "default": {1, 2}})


async def _load(tokens: list[bytes]) -> tuple[LLM, FakeTransport]:
    t = FakeTransport(tokens)
    return await LLM.load("model.gguf", transport=t), t


def test_stream_json_parses_the_output_into_the_class_and_sends_the_schema() -> None:
    async def main():
        llm, t = await _load([b'{"title": "Disk', b' full", "priority": 2}'])
        got = await llm.chat(CHAT, json_schema=Ticket, temperature=0).json()
        return got, t

    got, t = asyncio.run(main())
    assert got == {"title": "Disk full", "priority": 2}
    sampling = next(p for _, typ, p in t.sent if typ == "generate")["sampling"]
    assert json.loads(sampling["json_schema"]) == to_schema(Ticket).schema and "grammar" not in sampling


def test_stream_text_collects_everything_even_after_pieces_were_taken() -> None:
    async def main():
        llm, _ = await _load([b"a", b"b", b"c"])
        stream = llm.complete("x", max_tokens=8)
        first = await stream.__anext__()
        return first, await stream.text()

    assert asyncio.run(main()) == ("a", "abc")


def test_json_cut_by_max_tokens_is_an_incomplete_json_error_with_the_text() -> None:
    async def main():
        llm, _ = await _load([b'{"title": ', b'"Disk', b' full"}'])
        return await llm.chat(CHAT, json_schema=Ticket, max_tokens=2).json()

    with pytest.raises(IncompleteJSONError, match="max_tokens ran out") as e:
        asyncio.run(main())
    assert e.value.code == "incomplete_json" and e.value.text == '{"title": "Disk'


def test_json_schema_with_grammar_is_a_value_error_before_anything_is_sent() -> None:
    async def main():
        llm, t = await _load([b"x"])
        with pytest.raises(ValueError, match="either grammar= or json_schema="):
            llm.chat(CHAT, json_schema=Ticket, grammar='root ::= "x"')
        return t

    t = asyncio.run(main())
    assert not [typ for _, typ, _ in t.sent if typ == "generate"]


def test_logprobs_are_recorded_per_token_and_validated() -> None:
    from pyodide_llm import TokenLogprob

    async def main():
        llm, t = await _load([b"a", b"b"])
        stream = llm.complete("x", logprobs=True, top_logprobs=2, temperature=0)
        text = await stream.text()
        plain = llm.complete("x")
        await plain.text()
        return text, stream.logprobs, plain.logprobs, t

    text, records, none, t = asyncio.run(main())
    assert text == "ab" and none == []
    assert records == [TokenLogprob(1, "a", -0.1, [(1, -0.1), (2, -2.5)]), TokenLogprob(2, "b", -0.1, [(2, -0.1),
                                                                                                   (3, -2.5)])]
    sent = [p.get("logprobs") for _, typ, p in t.sent if typ == "generate"]
    assert sent == [2, None], "asked only when wanted"
    for bad in ({"top_logprobs": 99}, {"top_logprobs": -1}, {"logprobs": "yes"}, {"top_logprobs": True}):
        with pytest.raises(ValueError, match="logprobs"):
            asyncio.run(_load([b"a"]))[0].complete("x", **bad)


def test_score_returns_each_tokens_logprob_and_the_total() -> None:
    async def main():
        llm, _ = await _load([b"a"])
        return await llm.score("ab")

    r = asyncio.run(main())
    assert r.tokens == [97, 98] and r.logprobs == [-0.98] and r.total == pytest.approx(-0.98)
