"""The one seam between the Python API and the JS engine client.

A transport starts requests of the protocol and returns :class:`PendingCall`
objects; replies are plain dicts (``{"ok": True, ...}`` or
``{"ok": False, "code": ..., "message": ...}``) and events are delivered to a
callback. The browser transport (``_browser/engine.py``) wraps the JS client; host
tests use a fake one. Nothing above this module touches ``js``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._errors import error_from_reply

EventHandler = Callable[[str, dict[str, Any]], None]


@dataclass
class PendingCall:
    """A request in flight: its protocol id and the future of its reply."""

    id: int
    type: str
    future: asyncio.Future[dict[str, Any]] = field(repr=False)
    cancelled: bool = False


class Transport(ABC):
    """Sends protocol requests to one engine worker."""

    reused_engine: bool = False  # the engine was an idle one, taken over (no new worker, no compile)

    @abstractmethod
    def start(self, type: str, payload: dict[str, Any], on_event: EventHandler | None = None) -> PendingCall:
        """Send a request now; the reply arrives in ``call.future``.

        If the worker dies, every pending future resolves with an
        ``engine_crashed`` error reply rather than hanging.
        """

    @abstractmethod
    async def close(self, keep_engine: bool = True) -> None:
        """Free the model and release everything the transport holds.

        With ``keep_engine`` the engine may stay idle for the next load of the
        same variant (the browser transport keeps one per variant, briefly);
        otherwise it ends.
        """

    @abstractmethod
    def terminate(self) -> None:
        """End the worker now, without asking it (idempotent).

        For paths that cannot wait for a reply: a load cancelled mid-download,
        or a transport garbage-collected without ``close()``.
        """

    async def call(self, type: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Start a request and wait for its reply (errors raised as exceptions)."""
        reply = await self.start(type, payload or {}).future
        if not reply.get("ok"):
            raise error_from_reply(reply)
        return reply
