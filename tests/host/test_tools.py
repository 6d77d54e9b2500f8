"""Tools over a fake engine: functions as tool schemas, calls in the stream, the run() loop, reasoning.

The fake's template writes a call as ``<call>{"name": ..., "arguments": {...}}</call>``
and reasons in ``<think>``; its parser (fake_transport.fake_parse) stands in for
llama.cpp's, which the node and browser tiers test for real.
"""

from __future__ import annotations

import asyncio
import enum
import json
from dataclasses import dataclass
from typing import Literal

import pytest

from fake_transport import FakeTransport
from pyodide_llm import LLM, ToolCall, ToolCallError
from pyodide_llm._tools import function_spec, make_toolbox

ASK = [{"role": "user", "content": "Weather in Paris?"}]


def run(coro):
    return asyncio.run(coro)


def call(name: str, **args) -> list[bytes]:
    return [b"<call>", json.dumps({"name": name, "arguments": args}).encode(), b"</call>"]


class Unit(enum.Enum):
    C = "c"
    F = "f"


def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict:
    """Current weather in a city.

    Longer text that is not the summary.

    Parameters
    ----------
    city : str
        The city's English name.
    unit : str
        Celsius or Fahrenheit.
    """
    return {"city": city, "temp": 21 if unit == "c" else 70}


async def get_time(city: str) -> str:
    """Local time in a city."""
    await asyncio.sleep(0)
    return f"12:00 in {city}"


# -- tool specs ---------------------------------------------------------------------


def test_a_function_becomes_an_openai_tool_from_its_signature_and_docstring() -> None:
    spec = function_spec(get_weather)
    assert spec == {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": {"type": "object", "required": ["city"], "properties": {
            "city": {"type": "string", "description": "The city's English name."},
            "unit": {"enum": ["c", "f"], "description": "Celsius or Fahrenheit."}}}}}


@dataclass
class Place:
    city: str
    country: str | None = None


def test_tool_hints_of_every_supported_kind_have_schemas() -> None:
    def book(place: Place, nights: int, unit: Unit, tags: list[str], ratio: float = 1.0, ok: bool = True) -> None:
        """Book."""

    props = function_spec(book)["function"]["parameters"]["properties"]
    assert props["place"]["type"] == "object" and props["place"]["required"] == ["city"]
    assert props["nights"] == {"type": "integer"} and props["unit"] == {"enum": ["c", "f"]}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert function_spec(book)["function"]["parameters"]["required"] == ["place", "nights", "unit", "tags"]


@pytest.mark.parametrize(("fn", "message"), [
    (lambda x: None, "a tool name must be"),
])
def test_a_lambda_has_no_usable_name(fn, message) -> None:
    with pytest.raises(ValueError, match=message):
        function_spec(fn)


def test_unserialisable_or_missing_hints_are_type_errors_naming_the_parameter() -> None:
    def opaque(handle: object) -> None: ...

    def untyped(city) -> None: ...

    def varargs(*cities: str) -> None: ...

    with pytest.raises(TypeError, match=r"opaque\(handle\).*has no JSON schema"):
        function_spec(opaque)
    with pytest.raises(TypeError, match="'city' needs a type hint"):
        function_spec(untyped)
    with pytest.raises(TypeError, match=r"\*cities cannot be a tool parameter"):
        function_spec(varargs)


def test_malformed_tool_lists_are_refused() -> None:
    with pytest.raises(TypeError, match="list of OpenAI tool dicts or Python functions"):
        make_toolbox(get_weather)
    with pytest.raises(ValueError, match=r'tools\[0\] must look like'):
        make_toolbox([{"name": "x"}])
    with pytest.raises(ValueError, match="given twice"):
        make_toolbox([get_weather, get_weather])
    with pytest.raises(TypeError, match=r"tools\[0\] must be an OpenAI tool dict or a function"):
        make_toolbox([42])


# -- chat with tools ------------------------------------------------------------------


def test_chat_with_tools_yields_text_then_parsed_calls_and_sends_the_grammar() -> None:
    t = FakeTransport([b"Let me check.", *call("get_weather", city="Paris")])

    async def main():
        llm = await LLM.load("m.gguf", transport=t)
        stream = llm.chat(ASK, tools=[get_weather], temperature=0)
        return [p async for p in stream], stream

    pieces, stream = run(main())
    assert pieces[0] == "Let me check."
    calls = pieces[1:]
    assert len(calls) == 1 and isinstance(calls[0], ToolCall)
    assert (calls[0].name, calls[0].arguments) == ("get_weather", {"city": "Paris"})
    assert calls[0].id.startswith("call_") and stream.tool_calls == calls
    assert stream.finish_reason == "tool_calls"
    assert stream.message == {"role": "assistant", "content": "Let me check.",
                              "tool_calls": [calls[0].to_openai()]}
    fmt = next(p for _, ty, p in t.sent if ty == "chat_format")
    assert fmt["tools"] == [function_spec(get_weather)] and fmt["tool_choice"] == "auto"
    gen = next(p for _, ty, p in t.sent if ty == "generate")
    assert gen["syntax"]["format"] == 1 and gen["sampling"]["chat"]["grammar"] == "root ::= call"


def test_tool_choice_by_name_sends_that_tool_only_as_required() -> None:
    t = FakeTransport(call("get_time", city="Rome"))

    async def main():
        llm = await LLM.load("m.gguf", transport=t)
        return await llm.chat(ASK, tools=[get_weather, get_time], tool_choice="get_time").text(), llm

    text, _ = run(main())
    assert text == ""
    fmt = next(p for _, ty, p in t.sent if ty == "chat_format")
    assert [s["function"]["name"] for s in fmt["tools"]] == ["get_time"] and fmt["tool_choice"] == "required"


def test_tool_choice_none_and_no_tools_do_not_parse() -> None:
    t = FakeTransport()

    async def main():
        llm = await LLM.load("m.gguf", transport=t)
        a = await llm.chat(ASK, tools=[get_weather], tool_choice="none").text()
        b = await llm.chat(ASK).text()
        return a, b

    assert run(main()) == ("Hello, world.", "Hello, world.")
    assert all("syntax" not in p for _, ty, p in t.sent if ty == "generate")
    assert t.count("chat_parse") == 0


@pytest.mark.parametrize(("kw", "error", "message"), [
    ({"tool_choice": "get_time"}, ValueError, "not one of the tools"),
    ({"tool_choice": "sometimes"}, ValueError, "not one of the tools"),
    ({"tool_choice": 3}, ValueError, "tool_choice must be"),
    ({"json_schema": {"type": "object"}}, ValueError, "cannot be combined with json_schema"),
    ({"grammar": 'root ::= "x"'}, ValueError, "cannot be combined"),
    ({"parallel_tool_calls": "yes"}, ValueError, "parallel_tool_calls must be True or False"),
    ({"presence_penalty": 3}, ValueError, "presence_penalty must be"),
])
def test_bad_tool_options_raise_before_anything_is_sent(kw, error, message) -> None:
    t = FakeTransport()

    async def main():
        llm = await LLM.load("m.gguf", transport=t)
        llm.chat(ASK, tools=[get_weather], **kw)

    with pytest.raises(error, match=message):
        run(main())
    assert t.count("chat_format") == 0


def test_required_without_tools_and_bad_messages_are_value_errors() -> None:
    async def main(**kw):
        llm = await LLM.load("m.gguf", transport=FakeTransport())
        llm.chat(**kw)

    with pytest.raises(ValueError, match="needs tools="):
        run(main(messages=ASK, tool_choice="required"))
    with pytest.raises(ValueError, match="None only for an assistant message with tool_calls"):
        run(main(messages=[{"role": "user", "content": None}]))
    with pytest.raises(ValueError, match="role must be one of"):
        run(main(messages=[{"role": "robot", "content": "x"}]))


def test_a_reasoning_template_streams_the_answer_and_keeps_the_reasoning_apart() -> None:
    t = FakeTransport([b"<think>", b"Paris is", b" in France.", b"</think>", b"It is sunny."], thinking=True)

    async def main():
        llm = await LLM.load("m.gguf", transport=t)
        stream = llm.chat(ASK, enable_thinking=True)
        return [p async for p in stream], stream

    pieces, stream = run(main())
    assert "".join(pieces) == "It is sunny." and stream.reasoning == "Paris is in France."
    assert stream.message == {"role": "assistant", "content": "It is sunny.",
                              "reasoning_content": "Paris is in France."}


def test_chat_template_is_sent_with_the_load_and_an_empty_one_is_refused() -> None:
    t = FakeTransport()
    run(LLM.load("m.gguf", transport=t, chat_template="{{ messages }}"))
    assert next(p for _, ty, p in t.sent if ty == "load")["chat_template"] == "{{ messages }}"
    with pytest.raises(ValueError, match="chat_template must be"):
        run(LLM.load("m.gguf", transport=FakeTransport(), chat_template=" "))


# -- run() ----------------------------------------------------------------------------


def test_run_calls_sync_and_async_tools_and_feeds_results_back() -> None:
    seen = []

    def weather(city: str) -> dict:
        """Weather."""
        seen.append(("weather", city))
        return {"temp": 21}

    async def local_time(city: str) -> str:
        """Time."""
        await asyncio.sleep(0)
        seen.append(("time", city))
        return "12:00"

    t = FakeTransport(script=[call("weather", city="Paris") + call("local_time", city="Paris"),
                              [b"It is 21 C", b" at 12:00."]])
    messages = list(ASK)

    async def main():
        llm = await LLM.load("m.gguf", transport=t)
        return await llm.run(messages, tools=[weather, local_time], parallel_tool_calls=True, temperature=0)

    assert run(main()) == "It is 21 C at 12:00."
    assert seen == [("weather", "Paris"), ("time", "Paris")]
    assert messages == ASK, "the caller's list is not changed"
    second = [p for _, ty, p in t.sent if ty == "chat_format"][1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert second[2]["content"] == '{"temp": 21}' and second[3]["content"] == "12:00"
    assert second[2]["tool_call_id"] == second[1]["tool_calls"][0]["id"]


def test_a_failing_or_invented_tool_is_reported_to_the_model_unless_asked_to_raise() -> None:
    def weather(city: str) -> dict:
        """Weather."""
        raise ValueError(f"no station in {city}")

    def script():
        return [call("weather", city="Atlantis") + call("teleport", to="Mars"), [b"Sorry."]]

    t = FakeTransport(script=script())

    async def main(transport, **kw):
        llm = await LLM.load("m.gguf", transport=transport)
        return await llm.run(ASK, tools=[weather], parallel_tool_calls=True, **kw)

    assert run(main(t)) == "Sorry."
    tool_msgs = [m for m in [p for _, ty, p in t.sent if ty == "chat_format"][1]["messages"] if m["role"] == "tool"]
    assert tool_msgs[0]["content"] == "error: ValueError: no station in Atlantis"
    assert tool_msgs[1]["content"].startswith("error: LookupError: the model called 'teleport', which is not")
    with pytest.raises(ToolCallError, match="no station in Atlantis") as e:
        run(main(FakeTransport(script=script()), raise_tool_errors=True))
    assert e.value.code == "tool_error" and isinstance(e.value.__cause__, ValueError)
    assert e.value.call.name == "weather"


def test_run_stops_calling_after_max_rounds_and_asks_for_an_answer() -> None:
    def ping(n: int) -> int:
        """Ping."""
        return n

    t = FakeTransport(script=[call("ping", n=1), call("ping", n=2), [b"Done."]])

    async def main():
        llm = await LLM.load("m.gguf", transport=t)
        return await llm.run(ASK, tools=[ping], tool_choice="required", max_rounds=2)

    assert run(main()) == "Done."
    choices = [p.get("tool_choice") for _, ty, p in t.sent if ty == "chat_format"]
    assert choices == ["required", "auto", "none"]


def test_run_refuses_what_it_cannot_run() -> None:
    async def main(**kw):
        llm = await LLM.load("m.gguf", transport=FakeTransport())
        return await llm.run(ASK, **kw)

    with pytest.raises(ValueError, match="needs Python functions"):
        run(main(tools=[function_spec(get_weather)]))
    with pytest.raises(ValueError, match="max_rounds must be"):
        run(main(tools=[get_weather], max_rounds=0))
    with pytest.raises(ValueError, match="does not take json_schema"):
        run(main(tools=[get_weather], json_schema={"type": "object"}))
