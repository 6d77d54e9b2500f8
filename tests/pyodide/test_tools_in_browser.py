"""Tool calls and OpenAI's call shapes in headless Chromium: the real wheel, worker, wasm and SmolLM2.

SmolLM2 is loaded with the Hermes-style tool template of tests/fixtures (``chat_template=``)
and a two-example conversation, as in tests/node/tools.test.mjs: greedy, it calls the
weather tool for Paris, then answers from the tool's result.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = pytest.mark.driver_timeout(180)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEMPLATE = (FIXTURES / "tool_template.jinja").read_text()
# A chatml template that reasons: its generation prompt opens <think> unless enable_thinking is false.
REASONING = (FIXTURES / "reasoning_template.jinja").read_text()


@run_in_pyodide(packages=["micropip"])
async def load_tool_llm(selenium, served, template):
    import js
    import micropip
    from pytest_pyodide.decorator import PyodideHandle

    await micropip.install(js.location.origin + served["wheel"])
    from pyodide_llm import LLM

    return PyodideHandle(await LLM.load(served["model"], n_ctx=1024, chat_template=template))


@run_in_pyodide
async def close_llm(selenium, llm):
    await llm.close(keep_engine=False)


@pytest.fixture(scope="module")
def tool_llm(selenium_module_scope, served):
    selenium_module_scope.set_script_timeout(180)
    handle = load_tool_llm(selenium_module_scope, served, TEMPLATE)
    yield handle
    close_llm(selenium_module_scope, handle)
    handle.__del__()


@run_in_pyodide
async def test_tool_calls_stream_parse_and_run(selenium, tool_llm):
    import json

    import pyodide_llm as p

    llm = tool_llm

    def call(city, i):
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": "get_weather",
                                                                  "arguments": json.dumps({"city": city})}}]}

    messages = [{"role": "user", "content": "Weather in London?"}, call("London", 1),
                {"role": "tool", "tool_call_id": "call_1", "content": "15 C"},
                {"role": "assistant", "content": "It is 15 C in London."},
                {"role": "user", "content": "Weather in Rome?"}, call("Rome", 2),
                {"role": "tool", "tool_call_id": "call_2", "content": "22 C"},
                {"role": "assistant", "content": "It is 22 C in Rome."},
                {"role": "user", "content": "Weather in Paris?"}]
    seen = []

    async def get_weather(city: str) -> str:
        """Current weather in a city.

        Parameters
        ----------
        city : str
            The city's English name.
        """
        seen.append(city)
        return "18 C"

    def get_time(city: str) -> str:
        """Local time in a city."""
        seen.append(("time", city))
        return "12:00"

    # One streamed turn: the call arrives as a ToolCall whose arguments fit the schema.
    stream = llm.chat(messages, tools=[get_weather, get_time], tool_choice="required", temperature=0,
                      max_tokens=64)
    pieces = [x async for x in stream]
    calls = [x for x in pieces if isinstance(x, p.ToolCall)]
    assert len(calls) == 1 and calls == stream.tool_calls, pieces
    assert (calls[0].name, calls[0].arguments) == ("get_weather", {"city": "Paris"}), calls
    assert stream.finish_reason == "tool_calls" and stream.message["tool_calls"][0]["id"] == calls[0].id

    # run(): the async tool runs with the parsed arguments, its result goes back, the model answers.
    answer = await llm.run(messages, tools=[get_weather, get_time], temperature=0, max_tokens=64)
    assert seen == ["Paris"], seen
    assert isinstance(answer, str) and "18" in answer, answer

    # A tool that raises is reported to the model (which answers anyway), or raised on request.
    def broken(city: str) -> str:
        """Current weather in a city."""
        raise RuntimeError("no station")

    broken.__name__ = "get_weather"
    answer = await llm.run(messages, tools=[broken], temperature=0, max_tokens=48)
    assert isinstance(answer, str) and answer, answer
    try:
        await llm.run(messages, tools=[broken], raise_tool_errors=True, temperature=0, max_tokens=48)
    except p.ToolCallError as e:
        assert e.code == "tool_error" and isinstance(e.__cause__, RuntimeError), e
        assert e.call.name == "get_weather"
    else:
        raise AssertionError("no ToolCallError")

    # OpenAI's shape of the same call.
    r = await llm.create_chat_completion(messages, tools=[{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                              "required": ["city"]}}}], tool_choice="required", temperature=0)
    choice = r["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None, r
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}, r

    # Bad inputs: a hint with no schema, a tool_choice that names no tool; the model stays usable.
    class Handle:
        pass

    def opaque(h: Handle) -> str:
        """Opaque."""
        return ""

    for bad, kw in ((TypeError, {"tools": [opaque]}), (ValueError, {"tools": [get_weather], "tool_choice": "fly"})):
        try:
            llm.chat(messages, **kw)
        except bad:
            pass
        else:
            raise AssertionError(f"no {bad.__name__} for {kw}")
    assert await llm.chat(messages, tools=[get_weather], tool_choice="none", max_tokens=4).text() is not None


@run_in_pyodide
async def test_openai_shapes_stream_and_usage(selenium, tool_llm):
    llm = tool_llm
    ask = [{"role": "user", "content": "What is the capital of France? Answer in two sentences."}]
    whole = await llm.create_chat_completion(ask, temperature=0, max_tokens=24, logprobs=True, top_logprobs=2)
    assert set(whole) == {"id", "object", "created", "model", "choices", "usage"}, whole
    assert whole["object"] == "chat.completion" and isinstance(whole["created"], int)
    choice = whole["choices"][0]
    content = choice["logprobs"]["content"]
    assert whole["usage"]["completion_tokens"] == len(content), whole["usage"]
    for record in content:  # greedy: the chosen token is the best of its alternatives
        assert record["logprob"] >= max(t["logprob"] for t in record["top_logprobs"]) - 1e-4, record
    chunks = [c async for c in await llm.create_chat_completion(ask, temperature=0, max_tokens=24, stream=True,
                                                                stream_options={"include_usage": True})]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == choice["message"]["content"], (text, choice)
    assert chunks[-1]["usage"] == whole["usage"]

    prompt = "1, 2, 3, 4, 5,"
    done = await llm.create_completion(prompt, max_tokens=6, temperature=0)
    assert done["object"] == "text_completion" and done["choices"][0]["text"].startswith(" 6,"), done
    assert done["usage"]["prompt_tokens"] == len(await llm.tokenize(prompt)), done["usage"]
    assert done["usage"]["completion_tokens"] == 6 and done["choices"][0]["finish_reason"] == "length"
    try:
        await llm.create_chat_completion(ask, logit_bias={"1": 5})
    except ValueError as e:
        assert "logit_bias" in str(e)
    else:
        raise AssertionError("no ValueError for logit_bias")


@run_in_pyodide
async def _reasoning_goes_apart(selenium, served, template):
    from pyodide_llm import LLM

    llm = await LLM.load(served["model"], n_ctx=256, chat_template=template)
    try:
        ask = [{"role": "user", "content": "What is the capital of France?"}]
        # Thinking on: the template opens <think>, SmolLM2 never closes it, so all it says is reasoning.
        stream = llm.chat(ask, temperature=0, max_tokens=24)
        text = await stream.text()
        assert text == "" and "Paris" in stream.reasoning, (text, stream.reasoning)
        assert stream.message == {"role": "assistant", "content": None, "reasoning_content": stream.reasoning}
        # Thinking off: the same words are the answer, and there is no reasoning.
        stream = llm.chat(ask, temperature=0, max_tokens=24, enable_thinking=False)
        text = await stream.text()
        assert "Paris" in text and stream.reasoning == "", (text, stream.reasoning)
        whole = await llm.create_chat_completion(ask, temperature=0, max_tokens=24)
        assert "Paris" in whole["choices"][0]["message"]["reasoning_content"], whole
    finally:
        await llm.close(keep_engine=False)


def test_a_reasoning_template_streams_reasoning_apart(selenium_module_scope, served):
    selenium_module_scope.set_script_timeout(180)
    _reasoning_goes_apart(selenium_module_scope, served, REASONING)
