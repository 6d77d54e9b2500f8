"""The Python side of the worker protocol, read from ``protocol.json``.

Why a JSON file: the JS client and worker and this package must agree on
message types, fields and error codes; one file states them and the host tests
check the JS sources against it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

PROTOCOL: dict[str, Any] = json.loads(resources.files(__package__).joinpath("protocol.json").read_text("utf-8"))
VERSION: int = PROTOCOL["version"]
REQUEST_TYPES: frozenset[str] = frozenset(PROTOCOL["requests"])
EVENT_TYPES: frozenset[str] = frozenset(PROTOCOL["events"])
