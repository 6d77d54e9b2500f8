"""The token stream returned by ``LLM.chat`` and ``LLM.complete``.

Why a class and not an ``async def`` generator: leaving an ``async for`` with
``break`` only finalizes an async generator when the event loop's asyncgen hooks
run, which browser event loops do not promise. This object sends the cancel
request synchronously as soon as it is closed, cancelled or garbage collected,
so the engine stops within one token in every case.
"""

from __future__ import annotations

import asyncio
import json as _json
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import _interrupt
from ._errors import IncompleteJSONError, error_from_reply
from ._options import Sampling
from ._schema import Schema
from ._text import TextAssembler
from ._tools import ToolCall, parse_calls
from ._transport import PendingCall, Transport


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token's log-probability under the model (``stream.logprobs``).

    ``logprob`` is the log-softmax of the model's raw logits (before temperature,
    penalties and grammar); ``top`` the best alternatives as ``(token id, logprob)``,
    best first (``top_logprobs=k``). ``text`` is the token's bytes as UTF-8 (a
    character split across tokens shows as U+FFFD in each part).
    """

    token: int
    text: str
    logprob: float
    top: list[tuple[int, float]] = field(default_factory=list)


# Run on the first iteration: renders the prompt into the 'generate' payload, plus extra stop strings.
# A payload with "syntax" is parsed as it streams (tools, reasoning): see TokenStream.
Prepare = Callable[[], Awaitable[tuple[dict[str, Any], tuple[str, ...]]]]


class TokenStream:
    """Async iterator of the pieces of one generation: ``str``, then :class:`ToolCall` objects.

    Use with ``async for``; ``await stream.aclose()`` (or ``break``) stops the
    engine. Timings are stored on the model (``LLM.last_stats``) when it ends.

    With ``tools=``, or a template that reasons (``<think>``), the engine parses the
    output as it streams (llama.cpp's chat parser): the ``str`` pieces are the
    answer's text only, the reasoning goes to :attr:`reasoning`, and each tool call
    is yielded as a :class:`ToolCall` once the output is complete (all of them in
    :attr:`tool_calls`). :attr:`message` is the assistant message to append to the
    conversation for the next turn.
    """

    def __init__(self, transport: Transport, sampling: Sampling,
                 prepare: Prepare,
                 on_done: Callable[[PendingCall, dict[str, Any] | None], None],
                 on_start: Callable[[PendingCall], None] = lambda call: None, schema: Schema | None = None,
                 on_state: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._transport = transport
        self._sampling = sampling
        self._prepare = prepare
        # (token bytes, parsed delta or None); None: the call ended
        self._queue: asyncio.Queue[tuple[bytes, dict[str, Any] | None] | None] = asyncio.Queue()
        self._text = TextAssembler(sampling.stop)
        self._on_done = on_done
        self._on_start = on_start
        self._on_state = on_state
        self._closed = False
        self._reply: dict[str, Any] | None = None
        self._schema = schema
        self._pieces: list[str] = []  # what the consumer was given, for text() and json()
        #: One :class:`TokenLogprob` per generated token when logprobs were asked for (``logprobs=True``).
        self.logprobs: list[TokenLogprob] = []
        self.call: PendingCall | None = None
        self._syntax: dict[str, Any] | None = None  # the chat parser's syntax, when the output is parsed
        self._said: list[str] = []  # text the stop strings let through (what the parser reads at the end)
        self._after: list[str | ToolCall] = []  # pieces of the final parse, still to be yielded
        #: The reasoning (``<think>`` ...) of a template that reasons, as it streams.
        self.reasoning = ""
        #: The tool calls the model made (complete once the stream is).
        self.tool_calls: list[ToolCall] = []
        self._message: dict[str, Any] | None = None  # the parsed assistant message
        self._interrupted = False  # the notebook's Stop button (see _interrupt): end with GenerationCancelled

    async def _start(self) -> None:
        """First iteration: render the prompt, wait for the engine to be free, send 'generate'."""
        payload, extra_stops = await self._prepare()
        self._syntax = payload.get("syntax")
        self._text = TextAssembler(self._sampling.stop + tuple(s for s in extra_stops if s))
        # The callbacks hold the queue, not this object: a stream dropped after
        # `break` must be garbage collected (and so cancelled) right away.
        queue = self._queue

        records = self.logprobs
        on_state = self._on_state

        def on_event(type: str, data: dict[str, Any]) -> None:
            if type == "state" and on_state is not None:  # the prompt's keys/values (prompt cache)
                on_state(data)
            if type == "token":
                raw = bytes(data["bytes"])
                queue.put_nowait((raw, data.get("delta")))
                if "logprob" in data:
                    records.append(TokenLogprob(int(data["token"]), raw.decode("utf-8", "replace"),
                                                float(data["logprob"]),
                                                [(int(t), float(lp)) for t, lp in data.get("top_logprobs") or []]))

        self.call = self._transport.start("generate", payload, on_event)
        self._on_start(self.call)
        self.call.future.add_done_callback(lambda _f: queue.put_nowait(None))
        _interrupt.register(self)

    def __aiter__(self) -> TokenStream:
        return self

    async def __anext__(self) -> str | ToolCall:
        piece = await self._next()
        if isinstance(piece, str):
            self._pieces.append(piece)
        return piece

    async def text(self) -> str:
        """Consume the rest of the stream; return the whole text (the pieces already taken included).

        For a parsed stream (tools, reasoning) that is the answer's text only.
        """
        async for _ in self:
            pass
        return "".join(self._pieces)

    async def json(self) -> Any:
        """Consume the stream and parse its text as JSON (the ``json_schema=`` class, if one was given).

        Raises
        ------
        IncompleteJSONError
            The text is not one complete JSON value: ``max_tokens`` ran out before the
            value closed (``finish_reason == "length"``), a stop string cut it, or it was
            cancelled. Its ``text`` attribute holds what was generated.
        """
        text = await self.text()
        try:
            value = _json.loads(text)
        except ValueError as e:
            why = {"length": "max_tokens ran out before the JSON value was complete; raise max_tokens",
                   "cancelled": "the generation was cancelled"}.get(self.finish_reason or "", f"it is not JSON ({e})")
            err = IncompleteJSONError(f"no complete JSON value in the output: {why}", "incomplete_json")
            err.text = text
            raise err from None
        return self._schema.build(value) if self._schema is not None else value

    async def _next(self) -> str | ToolCall:
        if self.call is None and not self._closed:
            try:
                await self._start()
            except BaseException:
                self._closed = True
                raise
        while not self._closed:
            try:
                item = await self._queue.get()
            except (asyncio.CancelledError, KeyboardInterrupt):  # a task cancelled; a kernel's own interrupt
                self._cancel()
                raise
            if item is None:
                return await self._finish()
            raw, delta = item
            piece = self._text.feed(raw)
            if self._syntax is not None:
                self._said.append(piece)
                self.reasoning += (delta or {}).get("reasoning", "")
                piece = "" if self._text.stopped else (delta or {}).get("content", "")
            if self._text.stopped:
                self._cancel()
                if self._syntax is not None:
                    await self._parse_final()
                    return self._pop_after()
                if piece:
                    return piece
                continue
            if piece:
                return piece
        return self._pop_after()

    def _pop_after(self) -> str | ToolCall:
        if self._after:
            return self._after.pop(0)
        raise StopAsyncIteration

    async def _finish(self) -> str | ToolCall:
        """The generate request ended: raise its error, or return the held-back tail (the parse's pieces)."""
        call = self.call
        assert call is not None  # the end marker comes from this call's future
        reply = call.future.result()
        self._reply = reply
        self._closed = True
        self._on_done(call, reply)
        _interrupt.unregister(self)
        if self._interrupted:  # the engine has stopped (or had just finished): the cell stops here
            raise error_from_reply({"ok": False, "code": "interrupted", "message": _interrupt.MESSAGE})
        if not reply.get("ok"):
            if call.cancelled and reply.get("code") == "aborted":
                raise StopAsyncIteration  # we asked for it: a clean end, not an error
            raise error_from_reply(reply)
        tail = self._text.flush()
        if self._syntax is not None:
            self._said.append(tail)
            await self._parse_final()
            return self._pop_after()
        if tail:
            return tail
        raise StopAsyncIteration

    async def _parse_final(self) -> None:
        """Parse the whole output once (llama.cpp's parser, not partial): the message, its calls.

        The answer's text the deltas have not shown yet (a parser holds back what
        might still become a tool call) is yielded first, then each call.
        """
        assert self._syntax is not None
        text = "".join(self._said)
        reply = await self._transport.call("chat_parse", {"text": text, "syntax": self._syntax})
        if reply.get("ok"):
            msg = reply["message"]
        else:  # the parser refused the text: keep it as the answer, say so
            warnings.warn(f"llama.cpp's chat parser could not read the output ({reply.get('message')}); "
                          "it is returned as plain text", RuntimeWarning, stacklevel=2)
            msg = {"content": text, "reasoning_content": "", "tool_calls": []}
        content, shown = str(msg.get("content") or ""), "".join(self._pieces)
        if content.startswith(shown) and len(content) > len(shown):
            self._after.append(content[len(shown):])
        self.reasoning = str(msg.get("reasoning_content") or self.reasoning)
        self.tool_calls = parse_calls(msg)
        self._after.extend(self.tool_calls)
        self._message = {"role": "assistant", "content": content or None}
        if self.tool_calls:
            self._message["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.reasoning:
            self._message["reasoning_content"] = self.reasoning

    @property
    def shown(self) -> str:
        """The text the consumer has been given so far."""
        return "".join(self._pieces)

    @property
    def message(self) -> dict[str, Any] | None:
        """The assistant message (OpenAI shape: ``content``, ``tool_calls``) to append to the
        conversation, once the stream is consumed; ``None`` before, or after an error."""
        if self._message is not None:
            return self._message
        if (self._closed and (self._reply or {}).get("ok")) or self._text.stopped:
            return {"role": "assistant", "content": "".join(self._pieces)}
        return None

    def interrupt(self) -> bool:
        """The Stop button (``_interrupt``): cancel in the engine; the consumer gets
        :class:`~pyodide_llm.GenerationCancelled` (code ``interrupted``) once the engine confirms."""
        if self.call is None or self.call.future.done() or self._closed:
            return False
        self._interrupted = True
        if not self.call.cancelled:
            self.call.cancelled = True
            self._transport.start("cancel", {"target": self.call.id})
        return True

    def _cancel(self) -> None:
        """Ask the worker to stop this generation (synchronous send; idempotent)."""
        if self.call is None:
            self._closed = True
            return
        if not self.call.cancelled and not self.call.future.done():
            self.call.cancelled = True
            self._transport.start("cancel", {"target": self.call.id})
        if not self._closed:
            self._closed = True
            self._on_done(self.call, None)
            _interrupt.unregister(self)

    async def aclose(self) -> None:
        """Stop the generation and wait until the engine is idle again."""
        self._cancel()
        if self.call is not None and not self.call.future.done():
            await asyncio.wait_for(asyncio.shield(self.call.future), timeout=30)

    def __del__(self) -> None:
        try:
            self._cancel()
        except Exception:  # interpreter shutdown: nothing left to cancel
            pass

    @property
    def finish_reason(self) -> str | None:
        """'stop', 'length', 'tool_calls', 'cancelled' or None while running."""
        if self.tool_calls:
            return "tool_calls"
        if self._text.stopped:
            return "stop"
        if self.call is not None and self.call.cancelled:
            return "cancelled"
        return (self._reply or {}).get("finish_reason")
