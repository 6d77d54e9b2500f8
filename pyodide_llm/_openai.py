"""OpenAI's call shapes over ``LLM``: ``create_chat_completion`` and ``create_completion``.

Why a module of its own: code written against OpenAI's client or llama-cpp-python
passes their keywords and reads their dicts. Every keyword is mapped onto
``LLM.chat``/``LLM.complete`` here, and one llama.cpp cannot honour is a
``ValueError`` naming it, never silently dropped.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from ._results import GenerationStats
from ._stream import TokenLogprob, TokenStream
from ._tools import ToolCall

# Keywords of the OpenAI / llama-cpp-python calls that llama.cpp cannot honour here.
_REFUSED = {
    "logit_bias": "logit_bias is not supported",
    "suffix": "suffix (fill-in-the-middle) is not supported",
    "echo": "echo=True is not supported (the prompt is not returned)",
    "best_of": "best_of is not supported",
    "functions": "functions/function_call are OpenAI's old tool API: pass tools= and tool_choice=",
    "function_call": "functions/function_call are OpenAI's old tool API: pass tools= and tool_choice=",
    "mirostat_mode": "mirostat is not supported",
    "tfs_z": "tfs_z is not supported",
    "typical_p": "typical_p is not supported",
    "audio": "audio output is not supported",
    "modalities": "only text output is supported",
    "prediction": "predicted outputs are not supported",
}
# Accepted and without effect: they describe the caller, not the generation.
_IGNORED = {"model", "user", "metadata", "store", "service_tier"}
_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty",
             "seed", "stop", "grammar")


class Model(Protocol):
    """What the call shapes need of a model (``LLM``)."""

    @property
    def last_stats(self) -> GenerationStats | None: ...

    def chat(self, messages: Any, **kw: Any) -> TokenStream: ...

    def complete(self, prompt: str, **kw: Any) -> TokenStream: ...

    async def detokenize(self, ids: Any) -> str: ...


def _common(kw: dict[str, Any]) -> dict[str, Any]:
    """The sampling keywords of both calls, checked; pops what it takes from ``kw``."""
    for key in list(kw):
        if key in _REFUSED and kw[key] not in (None, False):
            raise ValueError(f"{key}: {_REFUSED[key]}")
        if key in _REFUSED or key in _IGNORED:
            kw.pop(key)
    n = kw.pop("n", 1)
    if n != 1:
        raise ValueError(f"n={n!r}: one choice per call (run the call again for another)")
    out = {k: kw.pop(k) for k in _SAMPLING if kw.get(k) is not None}
    for key in _SAMPLING:
        kw.pop(key, None)
    max_tokens = kw.pop("max_completion_tokens", None) or kw.pop("max_tokens", None)
    kw.pop("max_tokens", None)
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    return out


def _reject_unknown(kw: dict[str, Any], call: str) -> None:
    if kw:
        raise ValueError(f"{call}: unsupported keyword(s) {', '.join(sorted(kw))}; see the table of differences "
                         "in pyodide_llm's README")


def _response_format(value: Any) -> Any:
    """``response_format`` as ``json_schema=`` (None for text)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or value.get("type") not in ("text", "json_object", "json_schema"):
        raise ValueError(f"response_format must be {{'type': 'text' | 'json_object' | 'json_schema', ...}}, "
                         f"got {value!r}")
    if value["type"] == "text":
        return None
    if value["type"] == "json_object":  # llama-cpp-python's spelling may add a schema
        return value.get("schema") or {"type": "object"}
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("schema"), Mapping):
        raise ValueError("response_format json_schema needs {'json_schema': {'name': ..., 'schema': {...}}}")
    return spec["schema"]


def _logprobs_option(logprobs: Any, top_logprobs: Any) -> tuple[bool, int]:
    if logprobs in (None, False):
        if top_logprobs not in (None, 0):
            raise ValueError("top_logprobs needs logprobs=True")
        return False, 0
    if logprobs is not True:
        raise ValueError(f"logprobs must be True or False, got {logprobs!r}")
    return True, 0 if top_logprobs is None else top_logprobs


class _Ids:
    """The ids and timestamps of one completion."""

    def __init__(self, prefix: str, model: str) -> None:
        self.id = f"{prefix}-{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.model = model


async def _piece_texts(model: Model, records: list[TokenLogprob]) -> dict[int, str]:
    """The text of every alternative token id in ``records`` (one detokenize each, deduplicated)."""
    ids = sorted({t for r in records for t, _ in r.top})
    texts = await asyncio.gather(*(model.detokenize([i]) for i in ids))
    return dict(zip(ids, texts, strict=True))


def _usage(stats: GenerationStats | None) -> dict[str, int]:
    prompt = stats.prompt_tokens if stats else 0
    done = stats.generated_tokens if stats else 0
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


def _finish(stream: TokenStream) -> str:
    reason = stream.finish_reason or "stop"
    return {"context_full": "length", "cancelled": "stop"}.get(reason, reason)


async def _chat_logprobs(model: Model, records: list[TokenLogprob]) -> dict[str, Any]:
    texts = await _piece_texts(model, records)
    return {"content": [{"token": r.text, "logprob": r.logprob, "bytes": list(r.text.encode()),
                         "top_logprobs": [{"token": texts[t], "logprob": lp, "bytes": list(texts[t].encode())}
                                          for t, lp in r.top]} for r in records]}


def _tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [c.to_openai() for c in calls]


async def create_chat_completion(llm: Model, name: str, messages: Any, *, stream: bool = False,
                                 **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
    """See :meth:`LLM.create_chat_completion`."""
    options = _common(kw)
    want, top = _logprobs_option(kw.pop("logprobs", None), kw.pop("top_logprobs", None))
    schema = _response_format(kw.pop("response_format", None))
    for key in ("tools", "tool_choice", "parallel_tool_calls"):
        if kw.get(key) is not None:
            options[key] = kw.pop(key)
        kw.pop(key, None)
    include_usage = bool((kw.pop("stream_options", None) or {}).get("include_usage"))
    _reject_unknown(kw, "create_chat_completion")
    s = llm.chat(messages, json_schema=schema, logprobs=want, top_logprobs=top, **options)
    ids = _Ids("chatcmpl", name)
    if stream:
        return _chat_chunks(llm, s, ids, want, include_usage)
    text = await s.text()
    await s.aclose()  # the engine has settled: its stats are the usage
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not s.tool_calls else None}
    if s.tool_calls:
        message["tool_calls"] = _tool_calls(s.tool_calls)
    if s.reasoning:
        message["reasoning_content"] = s.reasoning
    return {"id": ids.id, "object": "chat.completion", "created": ids.created, "model": ids.model,
            "choices": [{"index": 0, "message": message,
                         "logprobs": await _chat_logprobs(llm, s.logprobs) if want else None,
                         "finish_reason": _finish(s)}],
            "usage": _usage(llm.last_stats)}


async def _chat_chunks(model: Model, s: TokenStream, ids: _Ids, want: bool,
                       include_usage: bool) -> AsyncIterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> dict[str, Any]:
        return {"id": ids.id, "object": "chat.completion.chunk", "created": ids.created, "model": ids.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    seen = 0
    index = 0
    async for piece in s:
        if isinstance(piece, ToolCall):
            call = piece.to_openai()
            yield chunk({"tool_calls": [{"index": index, **call}]})
            index += 1
            continue
        lp = None
        if want and len(s.logprobs) > seen:
            lp = await _chat_logprobs(model, s.logprobs[seen:])
            seen = len(s.logprobs)
        yield chunk({"content": piece}, logprobs=lp)
    await s.aclose()
    yield chunk({}, _finish(s))
    if include_usage:
        yield {"id": ids.id, "object": "chat.completion.chunk", "created": ids.created, "model": ids.model,
               "choices": [], "usage": _usage(model.last_stats)}


async def create_completion(llm: Model, name: str, prompt: Any, *, stream: bool = False,
                            **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
    """See :meth:`LLM.create_completion`."""
    if not isinstance(prompt, str):
        raise ValueError("prompt must be a string (one prompt per call)")
    options = _common(kw)
    logprobs = kw.pop("logprobs", None)  # the legacy API: how many alternatives, 0-20
    if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int)):
        raise ValueError(f"logprobs must be an integer (alternatives per token) or None, got {logprobs!r}")
    schema = _response_format(kw.pop("response_format", None))
    include_usage = bool((kw.pop("stream_options", None) or {}).get("include_usage"))
    _reject_unknown(kw, "create_completion")
    s = llm.complete(prompt, json_schema=schema, logprobs=logprobs is not None, top_logprobs=logprobs or 0,
                       **options)
    ids = _Ids("cmpl", name)

    async def legacy(records: list[TokenLogprob], offset: int) -> dict[str, Any]:
        texts = await _piece_texts(llm, records)
        offsets = []
        for r in records:
            offsets.append(offset)
            offset += len(r.text)
        return {"tokens": [r.text for r in records], "token_logprobs": [r.logprob for r in records],
                "top_logprobs": [{texts[t]: lp for t, lp in r.top} for r in records], "text_offset": offsets}

    def body(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": ids.id, "object": "text_completion", "created": ids.created, "model": ids.model,
                "choices": choices}

    if stream:
        async def chunks() -> AsyncIterator[dict[str, Any]]:
            seen, offset = 0, len(prompt)
            async for piece in s:
                lp = None
                if logprobs is not None and len(s.logprobs) > seen:
                    lp = await legacy(s.logprobs[seen:], offset)
                    seen = len(s.logprobs)
                offset += len(str(piece))
                yield body([{"text": piece, "index": 0, "logprobs": lp, "finish_reason": None}])
            await s.aclose()
            yield body([{"text": "", "index": 0, "logprobs": None, "finish_reason": _finish(s)}])
            if include_usage:
                yield {**body([]), "usage": _usage(llm.last_stats)}
        return chunks()
    text = await s.text()
    await s.aclose()
    lp = await legacy(s.logprobs, len(prompt)) if logprobs is not None else None
    return {**body([{"text": text, "index": 0, "logprobs": lp, "finish_reason": _finish(s)}]),
            "usage": _usage(llm.last_stats)}
