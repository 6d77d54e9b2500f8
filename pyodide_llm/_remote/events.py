"""The events of one streamed response, and OpenAI's raw chunks for ``create_*(stream=True)``.

Why shared: the token stream and the pass-through chunk stream must end the same
way, a ``[DONE]`` or a ``finish_reason`` is a complete answer, a body that stops
before either is a lost connection, an ``{"error": ...}`` event is the typed
error its status says, and a stop asked for by the caller is a clean end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from .._errors import LLMError, RemoteConnectionError
from .connection import Connection
from .http import HttpResponse, error_for_status
from .sse import DONE, EventDecoder


def error_event(err: Any, url: str, model: str | None) -> LLMError:
    """The exception for an ``{"error": ...}`` event sent in the middle of a stream."""
    status = err.get("code") if isinstance(err, dict) else None
    data = json.dumps({"error": err}).encode()
    return error_for_status(status if isinstance(status, int) and status >= 400 else 500, {}, data, url, model)


def lost(url: str) -> RemoteConnectionError:
    return RemoteConnectionError(f"{url} ended the stream before the answer was complete (no finish_reason, "
                                 "no [DONE])", "connection_lost")


class EventReader:
    """Reads a response's body a chunk at a time and decodes its events."""

    def __init__(self, resp: HttpResponse) -> None:
        self.resp = resp
        self._chunks: AsyncIterator[bytes] = resp.chunks().__aiter__()
        self._decoder = EventDecoder(resp.url)

    async def read(self) -> tuple[list[Any], bool]:
        """The events of the next chunk, and whether the body ended."""
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            return list(self._decoder.end()), True
        return list(self._decoder.feed(chunk)), False


class ChunkStream:
    """``create_chat_completion(stream=True)``'s chunks, as the server sent them.

    The request goes out on the first iteration; ``break`` (once the iterator is
    dropped), ``aclose()`` or a cancelled task closes the connection, as with
    :class:`TokenStream`. Not an ``async def`` generator for the reason given in
    ``pyodide_llm._stream``: a browser's event loop may never finalize one.
    """

    def __init__(self, conn: Connection, path: str, body: dict[str, Any], model: str) -> None:
        self._conn = conn
        self._path = path
        self._body = body
        self._model = model
        self._reader: EventReader | None = None
        self._pending: list[dict[str, Any]] = []
        self._finished = False  # a finish_reason or [DONE] was seen
        self._closed = False
        self._stopped = False  # the caller stopped it

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._reader is None and not self._closed:
            self._closed = True  # until the response is there: a failed request ends the stream
            self._reader = EventReader(await self._conn.stream(self._path, self._body, self._model))
            self._closed = False
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._closed or self._reader is None:
                raise StopAsyncIteration
            try:
                events, ended = await self._reader.read()
            except asyncio.CancelledError:
                await self.aclose()
                raise
            except BaseException:
                self._abort()
                raise
            self._take(events, ended)

    def _take(self, events: list[Any], ended: bool) -> None:
        assert self._reader is not None
        for event in events:
            if event is DONE:
                self._finished = True
                self._abort()
                return
            if isinstance(event, dict) and "error" in event:
                self._abort()
                raise error_event(event["error"], self._reader.resp.url, self._model)
            if isinstance(event, dict):
                self._pending.append(event)
                if any(c.get("finish_reason") for c in event.get("choices") or [] if isinstance(c, dict)):
                    self._finished = True
        if ended:
            self._closed = True
            if not (self._finished or self._stopped):
                raise lost(self._reader.resp.url)

    def _abort(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.resp.abort()

    async def aclose(self) -> None:
        """Stop the stream (the server sees the connection close and stops generating)."""
        if not self._closed:
            self._stopped = True
        self._abort()

    def __del__(self) -> None:
        try:
            self._abort()
        except Exception:  # interpreter shutdown
            pass
