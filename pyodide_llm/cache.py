"""``pyodide_llm.cache``: the models this site keeps in the browser's storage.

Why: a model downloaded once is read from the Origin Private File System (or
the Cache API where OPFS is missing) on every later load, with no network.
These functions show what is kept, how much space it takes and what the
browser allows, and remove entries. All are coroutines (browser storage is
asynchronous); they work only in the browser.

Entries are keyed by the model's absolute URL. ``LLM.load(..., cache=False)``
neither reads nor writes the cache.

Beside the models, the site keeps small records of its own: the finished rows of
``LLM.map(..., checkpoint=name)`` jobs and sessions saved with
``Session.save(name)``; :func:`checkpoints` and :func:`sessions` list them (name to
bytes), :func:`delete_checkpoint` and :func:`delete_session` remove one. The prompt
cache (``LLM.load(..., prompt_cache=True)``) is listed by :func:`prompt_cache` and
emptied by :func:`clear_prompt_cache`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._env import browser
from ._prompt_cache import clear as _clear_prompts
from ._prompt_cache import listing as _prompt_listing
from ._sources import model_parts
from ._storage import check_name, record_store

__all__ = ["CachedModel", "checkpoints", "clear", "clear_prompt_cache", "delete", "delete_checkpoint",
           "delete_session", "list", "prompt_cache", "sessions", "size", "usage"]


@dataclass(frozen=True)
class CachedModel:
    """One cached file (a whole model, or one part of a split model)."""

    url: str | None  # None for an interrupted download, which is never read
    size: int  # bytes the file has
    stored_bytes: int  # bytes on disk now
    sha256: str | None  # known when the model was loaded with sha256=
    checksum: str | None  # the fast checksum every cached load verifies
    etag: str | None
    stored_at: datetime | None
    complete: bool

    @classmethod
    def from_js(cls, d: dict[str, Any]) -> CachedModel:
        at = d.get("stored_at")
        return cls(url=d.get("url"), size=int(d.get("size") or d.get("stored_bytes") or 0),
                   stored_bytes=int(d.get("stored_bytes") or 0), sha256=d.get("sha256"),
                   checksum=d.get("checksum"), etag=d.get("etag"),
                   stored_at=datetime.fromtimestamp(at / 1000, UTC) if at else None,
                   complete=bool(d.get("complete")))


async def _store(storage: str) -> Any:
    return await browser("pyodide_llm.cache").open_store(storage)


async def list(*, storage: str = "auto") -> builtins.list[CachedModel]:  # shadows list(): the module's verb
    """Every cached file, complete or interrupted, newest first.

    ``storage`` is ``"auto"`` (OPFS, else the Cache API), ``"opfs"`` or ``"cache-api"``.
    """
    store = await _store(storage)
    if store is None:
        return []
    entries = [CachedModel.from_js(e) for e in (await store.list()).to_py()]
    epoch = datetime.fromtimestamp(0, UTC)
    return sorted(entries, key=lambda e: e.stored_at or epoch, reverse=True)


async def size(*, storage: str = "auto") -> int:
    """Bytes the cached files take on disk (interrupted downloads included)."""
    return sum(e.stored_bytes for e in await list(storage=storage))


async def usage() -> dict[str, int]:
    """What the browser reports for this site: ``{"usage": bytes used, "quota": bytes allowed}``."""
    estimate: dict[str, int] = await browser("pyodide_llm.cache").storage_estimate()
    return estimate


async def delete(url: str | Sequence[str], *, storage: str = "auto") -> int:
    """Remove a cached model: a URL (page-relative is fine), a split model's first URL or its part list.

    Returns the number of files that were cached. A file that a page of this site
    is downloading or reading (another tab's load, or one in this page) is deleted
    once that is done; if it is not done within 10 s, :class:`~pyodide_llm.CacheError`
    (``cache_busy``) and the file stays.
    """
    store = await _store(storage)
    if store is None:
        return 0
    removed = 0
    b = browser("pyodide_llm.cache")
    for part in model_parts(url):
        href = b.absolute_url(part.url)
        if await store.lookup(href) is not None:
            removed += 1
        try:
            await store.removeWhenFree(href)
        except Exception as e:  # a JS Error with a protocol code (cache_busy)
            raise b.js_error(e, "cache_busy") from None
    return removed


async def clear(*, storage: str = "auto") -> int:
    """Remove every cached file, interrupted downloads included; returns how many there were."""
    store = await _store(storage)
    if store is None:
        return 0
    n = len((await store.list()).to_py())
    await store.clear()
    return n


async def checkpoints() -> dict[str, int]:
    """The ``LLM.map`` checkpoints kept here: name to bytes."""
    return await record_store().list("checkpoints")


async def delete_checkpoint(name: str) -> bool:
    """Forget a map checkpoint (the next run of that job generates every row); True if it existed."""
    return await record_store().delete("checkpoints", check_name(name, "name"))


async def sessions() -> dict[str, int]:
    """The sessions saved here with ``Session.save(name)``: name to bytes."""
    return await record_store().list("sessions")


async def delete_session(name: str) -> bool:
    """Remove a saved session; True if it existed."""
    return await record_store().delete("sessions", check_name(name, "name"))


async def prompt_cache() -> builtins.list[dict[str, Any]]:
    """The prompt prefixes kept by ``LLM.load(..., prompt_cache=True)``: bytes, tokens, last use."""
    return await _prompt_listing(record_store())


async def clear_prompt_cache() -> int:
    """Remove every kept prompt prefix; returns how many there were."""
    return await _clear_prompts(record_store())
