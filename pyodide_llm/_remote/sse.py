"""Server-sent events (the WHATWG ``text/event-stream`` format) to JSON objects.

Why our own: it is thirty lines, both HTTP clients feed it the same bytes, and it
must refuse what is not an event stream with a typed error (a proxy's HTML page,
a cut in the middle of an event, a line that never ends) instead of hanging or
growing without bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .._errors import RemoteError

MAX_EVENT = 8 << 20  # bytes: the largest event a chat chunk could need, many times over
DONE = object()  # the ``data: [DONE]`` that ends an OpenAI stream


class EventDecoder:
    """Feed body bytes; get each event's ``data`` parsed as JSON (or :data:`DONE`)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._buf = bytearray()
        self._data: list[str] = []
        self._seen = False  # any field line at all: a body with none is not an event stream

    def feed(self, chunk: bytes) -> Iterator[Any]:
        self._buf += chunk
        while True:
            cut = min((i for i in (self._buf.find(b"\n"), self._buf.find(b"\r")) if i >= 0), default=-1)
            if cut < 0:
                if len(self._buf) > MAX_EVENT:
                    raise self._bad(f"a line of over {MAX_EVENT >> 20} MiB without an end")
                return
            line = bytes(self._buf[:cut])
            end = cut + 2 if self._buf[cut:cut + 2] == b"\r\n" else cut + 1
            if self._buf[cut:cut + 1] == b"\r" and end == len(self._buf):
                return  # a \r at the end of a chunk may be the first half of \r\n: wait
            del self._buf[:end]
            event = self._line(line)
            if event is not None:
                yield event

    def _line(self, raw: bytes) -> Any:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._bad("bytes that are not UTF-8") from None
        if not line:  # a blank line dispatches the event
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            if data.strip() == "[DONE]":
                return DONE
            try:
                return json.loads(data)
            except ValueError:
                raise self._bad(f"an event that is not JSON: {data[:200]!r}") from None
        if line.startswith(":"):  # a comment (keep-alive)
            self._seen = True
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            if sum(map(len, self._data)) > MAX_EVENT:
                raise self._bad(f"an event of over {MAX_EVENT >> 20} MiB")
        elif name not in ("event", "id", "retry"):
            if not self._seen and not self._data:
                raise self._bad(f"text that is not an event stream: {line[:200]!r}")
            # An unknown field is ignored, as the format says.
        self._seen = True
        return None

    def end(self) -> Iterator[Any]:
        """The body ended: an event not closed by a blank line still counts (servers often omit it)."""
        if self._buf:
            event = self._line(bytes(self._buf))
            self._buf.clear()
            if event is not None:
                yield event
        event = self._line(b"")
        if event is not None:
            yield event

    def _bad(self, what: str) -> RemoteError:
        return RemoteError(f"{self._url} sent {what}; it is not an OpenAI-compatible event stream",
                           "bad_response")
