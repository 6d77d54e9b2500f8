"""A chat request: messages in OpenAI's shape, tools and tool_choice, checked before they travel.

Why here: ``LLM.chat``, ``LLM.run`` and ``create_chat_completion`` all send the
same ``chat_format`` request, and a bad message or an unknown tool name must be a
``ValueError`` naming it, in Python, not a template error from the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._tools import Toolbox, ToolCall, make_toolbox

Message = dict[str, Any]
_ROLES = ("system", "user", "assistant", "tool", "developer")


def check_messages(messages: Any) -> list[Message]:
    """``messages`` as plain JSON dicts llama.cpp's OpenAI parser reads.

    Accepts ``{"role", "content"}`` dicts with ``content`` a string or a list of
    ``{"type": "text", "text": ...}`` parts; assistant messages with
    ``tool_calls`` (OpenAI dicts or :class:`ToolCall` objects; ``content`` may then be
    ``None``) and ``reasoning_content``; tool messages with ``tool_call_id`` and ``name``.
    """
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    return [_message(m, i) for i, m in enumerate(messages)]


def _message(m: Any, i: int) -> Message:
    where = f"messages[{i}]"
    if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
        raise ValueError(f"{where} must be a dict with a string 'role' and 'content', got {m!r}")
    role = m["role"]
    if role not in _ROLES:
        raise ValueError(f"{where}: role must be one of {', '.join(_ROLES)}, got {role!r}")
    out: Message = {"role": role}
    calls = m.get("tool_calls")
    content = m.get("content")
    if isinstance(content, list) and all(isinstance(p, Mapping) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        out["content"] = [{"type": "text", "text": p["text"]} for p in content]
    elif isinstance(content, str) or (content is None and role == "assistant" and calls):
        out["content"] = content
    else:
        raise ValueError(f"{where} must have a string 'content' (None only for an assistant message with "
                         f"tool_calls; a list only of text parts), got {content!r}")
    if calls is not None:
        if role != "assistant" or not isinstance(calls, Sequence) or isinstance(calls, (str, bytes)):
            raise ValueError(f"{where}: tool_calls must be a list, on an assistant message")
        out["tool_calls"] = [_call(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(calls)]
    for key in ("tool_call_id", "name", "reasoning_content"):
        if m.get(key) is not None:
            if not isinstance(m[key], str):
                raise ValueError(f"{where}: {key} must be a string")
            out[key] = m[key]
    return out


def _call(c: Any, where: str) -> dict[str, Any]:
    if isinstance(c, ToolCall):
        return c.to_openai()
    fn = c.get("function") if isinstance(c, Mapping) else None
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        raise ValueError(f"{where} must be an OpenAI tool call {{'id', 'type': 'function', 'function': "
                         f"{{'name', 'arguments'}}}} or a ToolCall, got {c!r}")
    args = fn.get("arguments", "{}")
    if not isinstance(args, str):
        try:
            args = json.dumps(args)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: arguments must be JSON: {e}") from None
    out = {"type": "function", "function": {"name": fn["name"], "arguments": args}}
    if isinstance(c.get("id"), str):
        out["id"] = c["id"]
    return out


@dataclass(frozen=True)
class ToolRequest:
    """The tools of a chat request, and the ``tool_choice`` llama.cpp takes for them."""

    box: Toolbox
    choice: str  # "auto" | "required" | "none"; a named function is "required" over that one tool

    @property
    def active(self) -> bool:
        """Whether the model may call a tool (and its output must be parsed for calls)."""
        return bool(self.box.specs) and self.choice != "none"

    def payload(self) -> dict[str, Any]:
        if not self.box.specs:
            return {}
        return {"tools": self.box.specs, "tool_choice": self.choice}


def tool_request(tools: Any, tool_choice: Any) -> ToolRequest:
    """``tools=`` and ``tool_choice=`` checked: ``"auto"``, ``"required"``, ``"none"``, a tool's
    name, or OpenAI's ``{"type": "function", "function": {"name": ...}}``."""
    box = make_toolbox(tools)
    if isinstance(tool_choice, Mapping):
        tool_choice = (tool_choice.get("function") or {}).get("name")
    if not isinstance(tool_choice, str):
        raise ValueError(f"tool_choice must be 'auto', 'required', 'none' or a tool's name, got {tool_choice!r}")
    if tool_choice in ("auto", "required", "none"):
        if tool_choice == "required" and not box.specs:
            raise ValueError("tool_choice='required' needs tools=")
        return ToolRequest(box, tool_choice)
    named = [s for s in box.specs if s["function"]["name"] == tool_choice]
    if not named:
        raise ValueError(f"tool_choice={tool_choice!r} is not one of the tools ({', '.join(box.names()) or 'none'})")
    fns = {k: v for k, v in box.functions.items() if k == tool_choice}
    return ToolRequest(Toolbox(named, fns), "required")


def chat_options(tools: Any, tool_choice: Any, parallel_tool_calls: Any, enable_thinking: Any,
                 constrained: bool) -> ToolRequest:
    """``chat``'s tool and flag keywords checked (for the engine and a server alike).

    ``constrained``: ``json_schema=`` or ``grammar=`` was given too, which a tool
    call's own grammar cannot be combined with.
    """
    calls = tool_request(tools, tool_choice)
    if calls.active and constrained:
        raise ValueError("tools= cannot be combined with json_schema= or grammar=: the tool-call grammar is "
                         "the constraint (use tool_choice='none' to constrain the answer instead)")
    for name, value in (("parallel_tool_calls", parallel_tool_calls), ("enable_thinking", enable_thinking)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    return calls
