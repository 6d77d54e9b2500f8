"""The token stream of a server's answer: OpenAI's streamed chunks as a :class:`TokenStream`.

Why a subclass: users hold one stream type whatever runs the model (``async for``,
``break``, ``aclose()``, ``text()``, ``json()``, ``tool_calls``, ``message``);
``text()``, ``json()`` and ``shown`` are the local stream's own. What differs is
where pieces come from: here the chunks of ``/v1/chat/completions`` or
``/v1/completions``, read when the consumer asks for the next piece (so the
server is never more than a socket buffer ahead), and stopping is closing the
connection, which llama-server and vLLM take as a cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .._results import GenerationStats
from .._schema import Schema
from .._stream import TokenLogprob, TokenStream
from .._tools import ToolCall, parse_calls
from .connection import Connection
from .events import EventReader, error_event, lost
from .http import HttpResponse
from .sse import DONE


def stats_from(usage: dict[str, Any] | None, timings: dict[str, Any] | None) -> GenerationStats | None:
    """``last_stats`` from OpenAI's ``usage`` and llama-server's ``timings`` (either may be missing)."""
    if not usage and not timings:
        return None
    u, t = usage or {}, timings or {}
    cached = int(t.get("cache_n") or (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    prompt = int(u.get("prompt_tokens") or (int(t.get("prompt_n") or 0) + cached))
    return GenerationStats(prompt_tokens=prompt, cached_tokens=cached,
                           generated_tokens=int(u.get("completion_tokens") or t.get("predicted_n") or 0),
                           prefill_ms=float(t.get("prompt_ms") or 0.0), decode_ms=float(t.get("predicted_ms") or 0.0))


def _records(logprobs: Any) -> list[TokenLogprob]:
    """Token log-probabilities of a chunk: the chat shape (``content``) or the legacy one (``tokens``)."""
    if not isinstance(logprobs, dict):
        return []
    out = []
    for item in logprobs.get("content") or []:
        top = [(int(a.get("id", -1)), float(a["logprob"])) for a in item.get("top_logprobs") or []]
        out.append(TokenLogprob(int(item.get("id", -1)), str(item.get("token", "")), float(item["logprob"]), top))
    tokens = logprobs.get("tokens") or []
    for i, (tok, lp) in enumerate(zip(tokens, logprobs.get("token_logprobs") or [], strict=False)):
        alts = (logprobs.get("top_logprobs") or [])
        top = [(-1, float(v)) for v in (alts[i] if i < len(alts) else {}).values()]
        out.append(TokenLogprob(-1, str(tok), float(lp), top))
    return out


class RemoteStream(TokenStream):
    """The pieces of one server answer (see :class:`TokenStream`)."""

    def __init__(self, conn: Connection, path: str, body: dict[str, Any], model: str, schema: Schema | None,
                 on_stats: Callable[[GenerationStats | None], None], top_logprobs: int = 20) -> None:
        # Not TokenStream.__init__: that one wires an engine transport; the shared
        # methods (text, json, shown, __anext__) need only the fields set here.
        self._conn = conn
        self._path = path
        self._body = body
        self._model = model
        self._schema = schema
        self._on_stats = on_stats
        self._top = top_logprobs
        self._pieces: list[str] = []
        self.logprobs: list[TokenLogprob] = []
        self.tool_calls: list[ToolCall] = []
        self.reasoning = ""
        self._message: dict[str, Any] | None = None
        self._resp: HttpResponse | None = None
        self._reader: EventReader | None = None
        self._pending: list[str | ToolCall] = []
        self._calls: dict[int, dict[str, str]] = {}
        self._usage: dict[str, Any] | None = None
        self._timings: dict[str, Any] | None = None
        self._reason: str | None = None
        self._done = False  # [DONE] seen, or the body ended after a finish_reason
        self._closed = False
        self._cancelled = False
        self._ok = False

    async def _next(self) -> str | ToolCall:
        if self._resp is None and not self._closed:
            try:
                self._resp = await self._conn.stream(self._path, self._body, self._model)
            except BaseException:
                self._closed = True
                raise
            self._reader = EventReader(self._resp)
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._closed:
                raise StopAsyncIteration
            try:
                await self._read()
            except asyncio.CancelledError:
                self._cancel()
                raise
            except BaseException:
                self._abort()
                raise

    async def _read(self) -> None:
        """One chunk of the body, its events taken in; the end of the answer settled."""
        assert self._reader is not None
        events, ended = await self._reader.read()
        for event in events:
            self._event(event)
        if ended and not self._done:
            if self._cancelled:  # stopped by aclose() from another task while this one waited
                self._closed = True
                return
            if self._reason is None:
                raise lost(self._reader.resp.url)
            self._done = True
        if self._done:
            self._settle()

    def _event(self, event: Any) -> None:
        if event is DONE:
            self._done = True
            return
        if not isinstance(event, dict):
            return
        if event.get("error") is not None:
            raise error_event(event["error"], self._reader.resp.url if self._reader else self._path, self._model)
        if event.get("usage"):
            self._usage = event["usage"]
        if event.get("timings"):
            self._timings = event["timings"]
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            text = (delta or {}).get("content") if delta is not None else choice.get("text")
            if isinstance(text, str) and text:
                self._pending.append(text)
            if delta:
                # llama-server's field; vLLM's is "reasoning" (it dropped reasoning_content)
                self.reasoning += str(delta.get("reasoning_content") or delta.get("reasoning") or "")
                for call in delta.get("tool_calls") or []:
                    slot = self._calls.setdefault(int(call.get("index", len(self._calls))),
                                                  {"id": "", "name": "", "arguments": ""})
                    fn = call.get("function") or {}
                    slot["id"] = call.get("id") or slot["id"]
                    slot["name"] += str(fn.get("name") or "")
                    slot["arguments"] += str(fn.get("arguments") or "")
            for rec in _records(choice.get("logprobs")):
                self.logprobs.append(TokenLogprob(rec.token, rec.text, rec.logprob, rec.top[:self._top]))
            if choice.get("finish_reason"):
                self._reason = str(choice["finish_reason"])

    def _settle(self) -> None:
        """The answer is complete: its tool calls, message and stats."""
        self._closed = True
        self._ok = True
        if self._resp is not None:
            self._resp.abort()  # the body is over; frees the connection at once
        self.tool_calls = parse_calls({"tool_calls": [self._calls[i] for i in sorted(self._calls)]})
        self._pending.extend(self.tool_calls)
        content = "".join(self._pieces) + "".join(p for p in self._pending if isinstance(p, str))
        self._message = {"role": "assistant", "content": content or None}
        if self.tool_calls:
            self._message["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.reasoning:
            self._message["reasoning_content"] = self.reasoning
        self._on_stats(stats_from(self._usage, self._timings))

    def _abort(self) -> None:
        self._closed = True
        if self._resp is not None:
            self._resp.abort()

    def _cancel(self) -> None:
        """Stop the answer: close the connection, which the server takes as a cancel (idempotent)."""
        if not self._closed:
            self._cancelled = True
        self._abort()

    async def aclose(self) -> None:
        """Stop the answer (the server stops generating when it sees the connection close)."""
        self._cancel()

    def __del__(self) -> None:
        try:
            self._cancel()
        except Exception:  # interpreter shutdown
            pass

    @property
    def message(self) -> dict[str, Any] | None:
        """The assistant message to append to the conversation, once the stream is consumed."""
        return self._message

    @property
    def finish_reason(self) -> str | None:
        """'stop', 'length', 'tool_calls', 'cancelled', or None while running."""
        if self.tool_calls:
            return "tool_calls"
        if self._cancelled:
            return "cancelled"
        return self._reason if self._ok else None

