"""Named byte records in the Origin Private File System (see :mod:`pyodide_llm._storage`).

``pyodide_llm-data/<kind>/<name>``: one file per record. Appends keep the file's
bytes and write at its end (a checkpoint line per finished row); a tab closed in the
middle of a write loses at most that write (OPFS commits a writable on close).
"""

from __future__ import annotations

from typing import Any

import js
from pyodide.ffi import to_js

from .._errors import CacheError

ROOT = "pyodide_llm-data"


def _opts(**kw: Any) -> Any:
    return to_js(kw, dict_converter=js.Object.fromEntries)


class OpfsRecords:
    """Records of this origin in OPFS."""

    async def _dir(self, kind: str, create: bool) -> Any:
        try:
            root = await js.navigator.storage.getDirectory()
            top = await root.getDirectoryHandle(ROOT, _opts(create=create))
            return await top.getDirectoryHandle(kind, _opts(create=create))
        except Exception as e:
            if "NotFoundError" in str(e):
                return None
            raise CacheError(f"the browser's storage (OPFS) is not available: {e}", "unsupported_environment") from None

    async def read(self, kind: str, name: str) -> bytes | None:
        d = await self._dir(kind, False)
        if d is None:
            return None
        try:
            handle = await d.getFileHandle(name)
        except Exception:
            return None
        file = await handle.getFile()
        return bytes((await file.arrayBuffer()).to_py())

    async def _write(self, kind: str, name: str, data: bytes, keep: bool) -> None:
        d = await self._dir(kind, True)
        handle = await d.getFileHandle(name, _opts(create=True))
        at = int((await handle.getFile()).size) if keep else 0
        try:
            w = await handle.createWritable(_opts(keepExistingData=keep))
            await w.write(_opts(type="write", position=at, data=to_js(data)))
            await w.close()
        except Exception as e:
            if "QuotaExceeded" in str(e):
                raise CacheError(f"the browser's storage quota cannot hold {len(data)} more bytes for "
                                 f"{kind}/{name}: {e}", "quota_exceeded") from None
            raise

    async def write(self, kind: str, name: str, data: bytes) -> None:
        await self._write(kind, name, data, False)

    async def append(self, kind: str, name: str, data: bytes) -> None:
        await self._write(kind, name, data, True)

    async def delete(self, kind: str, name: str) -> bool:
        d = await self._dir(kind, False)
        if d is None:
            return False
        try:
            await d.removeEntry(name)
        except Exception:
            return False
        return True

    async def list(self, kind: str) -> dict[str, int]:
        d = await self._dir(kind, False)
        out: dict[str, int] = {}
        if d is None:
            return out
        it = d.entries()
        while True:
            step = await it.next()
            if step.done:
                break
            name, handle = step.value
            if handle.kind == "file":
                out[str(name)] = int((await handle.getFile()).size)
        return dict(sorted(out.items()))
