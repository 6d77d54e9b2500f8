"""The Python side of the worker protocol, read from ``protocol.json``.

Why a JSON file: the Python package, the JS client and worker, and the engine's
C ABI must agree on message types, fields, value limits and error codes; one file
states them, the package ships it, the JS client is handed it, and the tests of
every tier check their side against it (see the file's ``$comment``).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

PROTOCOL: dict[str, Any] = json.loads(resources.files(__package__).joinpath("protocol.json").read_text("utf-8"))
VERSION: int = PROTOCOL["version"]
REQUESTS: dict[str, dict[str, list[str]]] = PROTOCOL["requests"]
EVENTS: dict[str, list[str]] = PROTOCOL["events"]
LIMITS: dict[str, dict[str, Any]] = PROTOCOL["limits"]
ERROR_CLASSES: dict[str, str] = PROTOCOL["error_codes"]


def check_payload(type: str, payload: dict[str, Any]) -> None:
    """Refuse a request the worker would not understand (a bug on our side, not a user error).

    Raises
    ------
    AssertionError
        ``type`` is not a request of the protocol, a required field is missing
        or a field is not in its table.
    """
    spec = REQUESTS.get(type)
    assert spec is not None, f"{type!r} is not a request of protocol {VERSION}"
    unknown = set(payload) - set(spec["payload"])
    missing = set(spec["required"]) - set(payload)
    assert not unknown and not missing, f"{type}: unknown fields {sorted(unknown)}, missing {sorted(missing)}"


def check_reply(type: str, reply: dict[str, Any]) -> None:
    """Refuse a reply with fields its request's table does not list (tests and the fake transport use it)."""
    allowed = {"ok", "id"} | set(REQUESTS[type]["reply"] if reply.get("ok") else PROTOCOL["error_reply"])
    unknown = set(reply) - allowed
    assert not unknown, f"{type} reply has fields {sorted(unknown)} that protocol.json does not list"


def in_limits(name: str, value: float) -> bool:
    """Whether ``value`` is within ``limits[name]`` of the protocol (the engine's own bounds)."""
    lim = LIMITS[name]
    if "min" in lim and value < lim["min"]:
        return False
    if "above" in lim and value <= lim["above"]:
        return False
    return not ("max" in lim and value > lim["max"])


def describe_limits(name: str) -> str:
    """``limits[name]`` in words, for error messages: ``"in 1..256"``, ``">= 0"``, ``"in (0, 1]"``."""
    lim = LIMITS[name]
    low = f"[{lim['min']}" if "min" in lim else f"({lim['above']}" if "above" in lim else None
    if "max" in lim and low is not None:
        if low.startswith("[") and lim.get("integer"):
            return f"in {lim['min']}..{lim['max']}"
        return f"in {low}, {lim['max']}]"
    if "min" in lim:
        return f">= {lim['min']}"
    if "above" in lim:
        return f"> {lim['above']}"
    return f"<= {lim['max']}"
