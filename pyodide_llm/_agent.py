"""``LLM.run``: chat, run the tools the model calls, feed their results back, until it answers.

Why a module: the loop is the one place that executes user code on the model's
say-so, so its rules (what a failing tool does, how rounds end) live together
and are tested on the host with a fake engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ._chat import Message, check_messages, tool_request
from ._errors import ToolCallError
from ._stream import TokenStream
from ._tools import Toolbox, ToolCall, result_text, run_call


class Chat(Protocol):
    """What the loop needs of a model: ``LLM.chat``."""

    def chat(self, messages: Sequence[Message], **options: Any) -> TokenStream: ...


async def run_tools(llm: Chat, messages: Sequence[Message], *, tools: Any, tool_choice: Any, max_rounds: int,
                    raise_tool_errors: bool, options: dict[str, Any]) -> str:
    """See :meth:`LLM.run`."""
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
        raise ValueError(f"max_rounds must be an integer >= 1, got {max_rounds!r}")
    if not isinstance(raise_tool_errors, bool):
        raise ValueError("raise_tool_errors must be True or False")
    request = tool_request(tools, tool_choice)  # checked once, before anything runs
    if not request.box.functions:
        raise ValueError("run() needs Python functions among tools= (dicts alone have nothing to run)")
    for key in ("json_schema", "grammar"):
        if options.get(key) is not None:
            raise ValueError(f"run() does not take {key}=: tool calls are constrained by their own grammar")
    history = check_messages(messages)
    choice: Any = tool_choice
    for _ in range(max_rounds):
        stream = llm.chat(history, tools=tools, tool_choice=choice, **options)
        answer = await stream.text()
        if not stream.tool_calls:
            return answer
        assert stream.message is not None  # a consumed, parsed stream has one
        history.append(stream.message)
        for call in stream.tool_calls:
            history.append({"role": "tool", "tool_call_id": call.id, "name": call.name,
                            "content": await _result(request.box, call, raise_tool_errors)})
        choice = "auto"
    return await llm.chat(history, tools=tools, tool_choice="none", **options).text()


async def _result(box: Toolbox, call: ToolCall, raise_errors: bool) -> str:
    """The tool message's content for ``call``: the function's result, or the error it met."""
    try:
        return result_text(await run_call(box, call))
    except Exception as e:
        if raise_errors:
            err = ToolCallError(f"the tool call {call.name}({call.arguments_json or call.arguments}) failed: "
                                f"{type(e).__name__}: {e}", "tool_error")
            err.call = call
            raise err from e
        return f"error: {type(e).__name__}: {e}"
