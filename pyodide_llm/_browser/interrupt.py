"""A BroadcastChannel listened to for the life of this Python (the Stop button: see ``_interrupt``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import js
from pyodide.ffi import create_proxy

_channels: dict[str, Any] = {}


def listen_channel(name: str, on_message: Callable[[Mapping[str, Any]], int]) -> None:
    """Call ``on_message(data)`` for each message on the origin's channel ``name`` (once per name)."""
    if name in _channels:
        return

    def relay(event: Any) -> None:
        data = event.data.to_py() if hasattr(event.data, "to_py") else {}
        if isinstance(data, dict):
            on_message(data)

    channel = js.BroadcastChannel.new(name)
    channel.onmessage = create_proxy(relay)  # kept for the life of the kernel, like the channel
    _channels[name] = channel
