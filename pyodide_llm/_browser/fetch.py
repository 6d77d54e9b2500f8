"""URLs as the user means them, and the first bytes of model files (for headers and sizing).

Every model URL is resolved here once (:func:`absolute_url`); the worker, the
cache keys and the error messages all use the result.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import js
from pyodide.ffi import JsProxy

from .._errors import ModelSourceError
from .._hub import HttpReply
from .._sources import PrefixFetcher, base_url
from .files import to_js_object
from .store import open_store


def absolute_url(url: str) -> str:
    """``url`` resolved as a user means it (see :func:`pyodide_llm._sources.base_url`)."""
    return str(js.URL.new(url, base_url(str(js.location.href), os.getcwd())).href)


def is_blob(obj: Any) -> bool:
    """A JS File or Blob proxy (what PyScript's <input type=file> hands over)."""
    return isinstance(obj, JsProxy) and bool(js.Blob.prototype.isPrototypeOf(obj))


async def _network_prefix(href: str, size: int, timeout: float = 60.0, have: bytes = b"") -> tuple[bytes, int | None]:
    """At least the first ``size`` bytes of ``href`` (fewer only if the file is shorter), and its size.

    Asks for a Range; a server that ignores it sends the whole file, of which
    only the first ``size`` bytes are read before the download is cancelled.
    ``have``: a prefix already read (a header that needed more bytes); only the
    bytes after it are asked for. The whole read is bounded by ``timeout``
    (LLM.load's): a server that never answers, or stalls, is a ``timed_out``
    error rather than a load that never ends.
    """
    controller = js.AbortController.new()
    try:
        return await asyncio.wait_for(_prefix(href, size, controller, have), timeout)
    except TimeoutError:
        controller.abort()
        raise ModelSourceError(f"{href} did not send the model's header within {timeout:g} s; LLM.load(timeout=) "
                               "sets how long to wait", "timed_out") from None


async def _prefix(href: str, size: int, controller: Any, have: bytes = b"") -> tuple[bytes, int | None]:
    start = len(have)
    try:
        resp = await js.fetch(href, to_js_object({"headers": {"Range": f"bytes={start}-{size - 1}"},
                                                  "signal": controller.signal}))
    except Exception as e:  # a JS TypeError: DNS, refused connection, CORS, a redirect loop
        raise ModelSourceError(f"network error fetching {href}: {e}", "network_error") from None
    if resp.status == 416 and start:  # nothing after what was read: the file ends there
        return have, start
    if not resp.ok:
        raise ModelSourceError(f"HTTP {resp.status} {resp.statusText} for {href}", "http_error", int(resp.status))
    try:
        if resp.status == 206:
            data = (await resp.arrayBuffer()).to_bytes()
            span, _, total = str(resp.headers.get("content-range") or "").removeprefix("bytes ").partition("/")
            if span.partition("-")[0] != str(start):  # not the bytes asked for: read from the start
                return await _prefix(href, size, controller) if start else (data, None)
            return have + data, int(total) if total.isdigit() else None
        length = str(resp.headers.get("content-length") or "")
        chunks: list[bytes] = []
        got = 0
        reader = resp.body.getReader()
        while got < size:
            part = await reader.read()
            if part.done:
                break
            chunk = part.value.to_bytes()
            chunks.append(chunk)
            got += len(chunk)
        await reader.cancel()
    except Exception as e:  # the connection broke while the header arrived
        raise ModelSourceError(f"network error reading the header of {href}: {e}", "network_error") from None
    return b"".join(chunks), int(length) if length.isdigit() else None


async def http_get(url: str, timeout: float = 60.0, limit: int = 64 << 20) -> HttpReply:
    """GET ``url`` whole (a JSON listing, not a model): status, headers and body, within ``timeout`` seconds.

    The browser says nothing about why a request failed (DNS, a refused connection
    and a CORS refusal are one ``TypeError``), so the message names all three.
    """
    controller = js.AbortController.new()

    async def get() -> HttpReply:
        resp = await js.fetch(url, to_js_object({"signal": controller.signal}))
        length = str(resp.headers.get("content-length") or "")
        if length.isdigit() and int(length) > limit:
            controller.abort()
            raise ModelSourceError(f"{url} sent {int(length) >> 20} MiB; that is not a file listing", "http_error",
                                   int(resp.status))
        headers = {str(k).lower(): str(v) for k, v in resp.headers.entries()}
        return HttpReply(int(resp.status), headers, (await resp.arrayBuffer()).to_bytes())

    try:
        return await asyncio.wait_for(get(), timeout)
    except TimeoutError:
        controller.abort()
        raise ModelSourceError(f"{url} did not answer within {timeout:g} s", "timed_out") from None
    except ModelSourceError:
        raise
    except Exception as e:  # a JS TypeError
        raise ModelSourceError(f"could not reach {url} ({e}): no network, a name that does not resolve, or a server "
                               f"that does not allow this page's origin {js.location.origin} (CORS)",
                               "network_error") from None


def _blob_prefix(blob: Any) -> PrefixFetcher:
    async def fetch(url: str, size: int) -> tuple[bytes, int | None]:
        return (await blob.slice(0, size).arrayBuffer()).to_bytes(), int(blob.size)
    return fetch


def _cached_or_network(cache: str | bool, timeout: float) -> PrefixFetcher:
    # What the network sent of each file so far: a header that needs more bytes than the
    # first read asks for the rest only (SmolLM2's first load: 2.1 MB read, not 3.1 MB).
    read: dict[str, tuple[bytes, int | None]] = {}

    async def fetch(url: str, size: int) -> tuple[bytes, int | None]:
        href = absolute_url(url)
        store = await open_store(cache) if cache else None
        if store is not None:
            entry = await store.lookup(href)
            if entry is not None and getattr(entry, "blob", None) is not None:
                blob = entry.blob
                return (await blob.slice(0, size).arrayBuffer()).to_bytes(), int(blob.size)
        have, total = read.get(href, (b"", None))
        if len(have) >= size or (total is not None and len(have) >= total):
            return have, total
        read[href] = await _network_prefix(href, size, timeout, have)
        return read[href]
    return fetch


def prefix_fetcher(blob: Any = None, cache: str | bool = "auto", timeout: float = 60.0) -> PrefixFetcher:
    """How to read the first bytes of a model: slices of a File/Blob, or by URL from the model cache
    when it holds the file (``cache`` as ``LLM.load`` takes it), else with HTTP Range requests
    (each file's read bounded by ``timeout`` seconds)."""
    return _blob_prefix(blob) if blob is not None else _cached_or_network(cache, timeout)
