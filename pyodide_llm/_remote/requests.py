"""The bodies of ``/v1/chat/completions`` and ``/v1/completions`` for ``chat``/``complete``'s keywords.

Why only what was given: an OpenAI-compatible server rejects or misreads fields it
does not know, and its own defaults are the operator's choice. So the keywords are
checked exactly as the local ``LLM`` checks them (the same errors for the same
mistakes), and then only those the caller passed are sent, under the names
llama-server reads (``top_k``, ``min_p``, ``repeat_penalty``, ``grammar``,
``cache_prompt`` are llama.cpp's extensions; vLLM reads the first two too).
``max_tokens`` is always sent (the local default, 256), so a call means the
same length in both places.
"""

from __future__ import annotations

import json
from typing import Any

from .._chat import Message, chat_options
from .._options import Sampling, logprobs_count, sampling_from_kwargs
from .._schema import Schema, to_schema


def sampling_fields(sampling: dict[str, Any]) -> tuple[Sampling, dict[str, Any]]:
    """The checked sampling keywords, and the request fields for those given."""
    s = sampling_from_kwargs(sampling)
    fields: dict[str, Any] = {"max_tokens": s.max_tokens}
    for name in sampling:
        if name in ("max_tokens", "json_schema"):
            continue
        value = getattr(s, name)
        if name == "stop":
            value = list(value)
        if name == "seed" and value is None:
            continue
        fields[name] = value
    return s, fields


def _logprob_fields(logprobs: Any, top_logprobs: Any, legacy: bool) -> dict[str, Any]:
    n = logprobs_count(logprobs, top_logprobs)
    if n < 0:
        return {}
    if legacy:  # /v1/completions: the number of alternatives (0 would mean none on llama-server)
        return {"logprobs": max(n, 1)}
    # llama-server sends log-probabilities only when asked for alternatives; the stream keeps n of them
    return {"logprobs": True, "top_logprobs": max(n, 1)}


def _schema(json_schema: Any, sampling: dict[str, Any]) -> Schema | None:
    if json_schema is None:
        return None
    if sampling.get("grammar"):
        raise ValueError("give either grammar= or json_schema=, not both: the schema becomes a grammar itself")
    return to_schema(json_schema)


def chat_body(model: str, messages: list[Message], *, tools: Any, tool_choice: Any, parallel_tool_calls: bool,
              enable_thinking: bool, json_schema: Any, logprobs: bool, top_logprobs: int,
              sampling: dict[str, Any]) -> tuple[dict[str, Any], Sampling, Schema | None]:
    """The chat request, its checked sampling, and the schema (for ``stream.json()``)."""
    calls = chat_options(tools, tool_choice, parallel_tool_calls, enable_thinking,
                         json_schema is not None or bool(sampling.get("grammar")))
    schema = _schema(json_schema, sampling)
    s, fields = sampling_fields(sampling)
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True,
                            "stream_options": {"include_usage": True}, **fields,
                            **_logprob_fields(logprobs, top_logprobs, False)}
    if calls.box.specs:
        body["tools"] = calls.box.specs
        body["tool_choice"] = calls.choice  # a named tool: the only one offered, and required (as locally)
        body["parallel_tool_calls"] = parallel_tool_calls
    if not enable_thinking:  # the Qwen3-style switch; llama-server and vLLM pass it to the template
        body["chat_template_kwargs"] = {"enable_thinking": False}
    if schema is not None:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "answer", "schema": json.loads(schema.text())}}
    return body, s, schema


def completion_body(model: str, prompt: str, *, json_schema: Any, logprobs: bool, top_logprobs: int,
                    sampling: dict[str, Any]) -> tuple[dict[str, Any], Sampling, Schema | None]:
    """The completion request, its checked sampling, and the schema."""
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    schema = _schema(json_schema, sampling)
    s, fields = sampling_fields(sampling)
    body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": True,
                            "stream_options": {"include_usage": True}, **fields,
                            **_logprob_fields(logprobs, top_logprobs, True)}
    if schema is not None:  # llama-server's field; vLLM's is response_format, sent too
        body["json_schema"] = json.loads(schema.text())
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "answer", "schema": body["json_schema"]}}
    return body, s, schema
