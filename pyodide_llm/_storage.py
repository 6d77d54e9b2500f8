"""Small named byte records kept by the package: map checkpoints and saved sessions.

Why apart from the model cache: these are kilobytes to a few megabytes, written
often (a checkpoint grows by one line per finished row) and named by the user. In
a browser they live in the Origin Private File System under ``pyodide_llm-data/``
(:mod:`pyodide_llm._browser.records`); on plain CPython (host tests, custom
transports) in this process's memory.
"""

from __future__ import annotations

import re
from typing import Protocol

from ._env import IN_PYODIDE

KINDS = ("checkpoints", "sessions")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def check_name(name: object, what: str) -> str:
    """A record name: letters, digits, ``.``, ``_``, ``-`` (it becomes a file name)."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise ValueError(f"{what} must be 1-128 letters, digits, '.', '_' or '-', got {name!r}")
    return name


class RecordStore(Protocol):
    """Where records live; every method is a coroutine."""

    async def read(self, kind: str, name: str) -> bytes | None: ...

    async def write(self, kind: str, name: str, data: bytes) -> None: ...

    async def append(self, kind: str, name: str, data: bytes) -> None: ...

    async def delete(self, kind: str, name: str) -> bool: ...

    async def list(self, kind: str) -> dict[str, int]: ...


class MemoryStore:
    """Records in this process (plain CPython)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], bytes] = {}

    async def read(self, kind: str, name: str) -> bytes | None:
        return self._data.get((kind, name))

    async def write(self, kind: str, name: str, data: bytes) -> None:
        self._data[(kind, name)] = bytes(data)

    async def append(self, kind: str, name: str, data: bytes) -> None:
        self._data[(kind, name)] = self._data.get((kind, name), b"") + bytes(data)

    async def delete(self, kind: str, name: str) -> bool:
        return self._data.pop((kind, name), None) is not None

    async def list(self, kind: str) -> dict[str, int]:
        return {n: len(d) for (k, n), d in sorted(self._data.items()) if k == kind}


_memory = MemoryStore()


def record_store() -> RecordStore:
    """The browser's records (OPFS) inside Pyodide, else this process's."""
    if IN_PYODIDE:
        from ._browser.records import OpfsRecords

        return OpfsRecords()
    return _memory
