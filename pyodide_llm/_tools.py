"""Tools for ``tools=``: OpenAI tool dicts or plain Python functions, and the calls a model makes.

Why Python builds only the tool list: rendering the tools into the prompt, the
grammar that constrains a call and parsing the model's output back into calls
are llama.cpp's common chat code, in the engine (what llama-server does), so
every template family it knows works. Here a function's name, docstring,
signature and type hints become the OpenAI tool dict that code takes, and a
parsed call becomes a :class:`ToolCall` that can be run against the function.
"""

from __future__ import annotations

import inspect
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from ._schema import build_typed, type_schema

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ToolCall:
    """A call the model made: the tool's ``name`` and its parsed ``arguments``.

    ``id`` pairs the call with its result (``{"role": "tool", "tool_call_id": id,
    ...}``); llama.cpp's parser gives one when the template has ids, else it is
    made here (``call_`` + random hex, as OpenAI's look). ``arguments_json`` is the
    arguments as the model wrote them.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    arguments_json: str = ""

    def to_openai(self) -> dict[str, Any]:
        """The call as an OpenAI ``tool_calls`` entry (for an assistant message)."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments_json or json.dumps(self.arguments)}}


@dataclass
class Toolbox:
    """The tools of one request: their OpenAI dicts, and the Python functions behind them."""

    specs: list[dict[str, Any]] = field(default_factory=list)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [s["function"]["name"] for s in self.specs]


def make_toolbox(tools: Any) -> Toolbox:
    """``tools=``'s value (OpenAI tool dicts and/or functions) as a :class:`Toolbox`.

    Raises
    ------
    TypeError
        A tool that is neither a dict nor a function, or a parameter whose type hint
        has no JSON schema (the message names the function and the parameter).
    ValueError
        A malformed tool dict, an invalid or repeated name.
    """
    if tools is None:
        return Toolbox()
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence) or callable(tools):
        raise TypeError("tools must be a list of OpenAI tool dicts or Python functions")
    box = Toolbox()
    for i, tool in enumerate(tools):
        if isinstance(tool, Mapping):
            spec = _dict_spec(tool, i)
        elif callable(tool):
            spec = function_spec(tool)
            box.functions[spec["function"]["name"]] = tool
        else:
            raise TypeError(f"tools[{i}] must be an OpenAI tool dict or a function, not {tool!r}")
        name = spec["function"]["name"]
        if name in box.names():
            raise ValueError(f"tools: the name {name!r} is given twice")
        box.specs.append(spec)
    return box


def _dict_spec(tool: Mapping[str, Any], i: int) -> dict[str, Any]:
    try:
        spec: dict[str, Any] = json.loads(json.dumps(tool))
    except (TypeError, ValueError) as e:
        raise ValueError(f"tools[{i}] must be JSON: {e}") from None
    fn = spec.get("function")
    if spec.get("type") != "function" or not isinstance(fn, dict):
        raise ValueError(f'tools[{i}] must look like {{"type": "function", "function": {{"name": ..., '
                         f'"parameters": {{...}}}}}}, got {tool!r}')
    _check_name(fn.get("name"), f"tools[{i}]")
    params = fn.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(params, dict):
        raise ValueError(f"tools[{i}]: parameters must be a JSON schema object")
    return spec


def _check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{where}: a tool name must be 1-64 letters, digits, '_', '.' or '-', got {name!r}")


def function_spec(fn: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI tool dict of a Python function: its name, docstring and typed parameters.

    The description is the docstring's first paragraph; a numpydoc ``Parameters``
    section gives each parameter's description. A parameter with a default is
    optional; ``*args``/``**kwargs`` are not allowed (a model cannot fill them).
    """
    name = getattr(fn, "__name__", "")
    _check_name(name, f"the function {fn!r}")
    try:
        hints = get_type_hints(fn)
    except Exception as e:
        raise TypeError(f"{name}: cannot read its type hints: {e}") from None
    doc = inspect.getdoc(fn) or ""
    described = _param_docs(doc)
    props: dict[str, Any] = {}
    required = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{name}: *{p.name} cannot be a tool parameter; name every parameter")
        if p.name not in hints:
            raise TypeError(f"{name}: the parameter {p.name!r} needs a type hint (it becomes the JSON schema)")
        schema = type_schema(hints[p.name], f"{name}({p.name})")
        if p.name in described:
            schema["description"] = described[p.name]
        props[p.name] = schema
        if p.default is p.empty:
            required.append(p.name)
    params: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        params["required"] = required
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    return {"type": "function", "function": {"name": name, "description": summary, "parameters": params}}


def _param_docs(doc: str) -> dict[str, str]:
    """Parameter descriptions of a numpydoc ``Parameters`` section (name -> text)."""
    m = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][a-z]+\n-+\n|\Z)", doc, re.S | re.M)
    if not m:
        return {}
    out: dict[str, str] = {}
    current = None
    for line in m.group(1).splitlines():
        if line and not line[0].isspace():
            current = line.split(":", 1)[0].strip()
            out[current] = ""
        elif current and line.strip():
            out[current] = (out[current] + " " + line.strip()).strip()
    return {k: v for k, v in out.items() if v}


def parse_calls(message: dict[str, Any]) -> list[ToolCall]:
    """The engine's parsed tool calls (``chat_parse``'s message) as :class:`ToolCall` objects.

    Arguments that are not a JSON object (a template whose calls llama.cpp parsed
    but whose arguments the model left broken) are kept as ``{}`` with the text in
    ``arguments_json``.
    """
    calls = []
    for c in message.get("tool_calls") or []:
        text = str(c.get("arguments") or "{}")
        try:
            args = json.loads(text)
        except ValueError:
            args = None
        calls.append(ToolCall(str(c.get("id") or "call_" + secrets.token_hex(12)), str(c.get("name", "")),
                              args if isinstance(args, dict) else {}, text))
    return calls


async def run_call(box: Toolbox, call: ToolCall) -> Any:
    """Call the Python function behind ``call`` (awaited if it is async) with its arguments.

    Arguments are converted to the parameter's type (a dataclass or an Enum built
    from its JSON). Raises what the function raises; ``LookupError`` for a name
    that is not one of the tools (the model invented it) or a tool given only as
    a dict (no function to run).
    """
    fn = box.functions.get(call.name)
    if fn is None:
        known = ", ".join(box.functions) or "none"
        raise LookupError(f"the model called {call.name!r}, which is not a Python function among the tools "
                          f"(those are: {known})")
    hints = get_type_hints(fn)
    kwargs = {k: build_typed(hints[k], v) if k in hints else v for k, v in call.arguments.items()}
    result = fn(**kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def result_text(value: Any) -> str:
    """A tool's return value as the text of its tool message (JSON unless it is a string)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)
