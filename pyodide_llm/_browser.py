"""Browser side of the transport seam (imported only inside Pyodide).

Why here and nowhere else: this is the only module that imports ``js`` and
``pyodide``; the API layer talks to :class:`JsTransport` through the abstract
:class:`~pyodide_llm.transport.Transport`.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from importlib import resources
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from .errors import ModelSourceError, error_from_reply
from .options import LoadOptions
from .protocol import PROTOCOL
from .sizing import MemoryEstimate
from .sources import base_url
from .transport import EventHandler, PendingCall, Transport
from .variant import choose_variant

_MIME = {".mjs": "text/javascript", ".wasm": "application/wasm"}


class _PackageFiles:
    """Blob URLs of the package's JS and wasm files, made once per file.

    The engine worker cannot import from the package's directory (it lives in
    Pyodide's virtual file system), so its files are handed over as Blob URLs.
    """

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}

    def url(self, relpath: str) -> str:
        if relpath not in self._urls:
            data = resources.files(__package__).joinpath(relpath).read_bytes()
            mime = _MIME[relpath[relpath.rindex("."):]]
            blob = js.Blob.new(to_js([to_js(data)]), to_js({"type": mime}, dict_converter=js.Object.fromEntries))
            self._urls[relpath] = js.URL.createObjectURL(blob)
        return self._urls[relpath]

    def for_variant(self, variant: str) -> Any:
        return to_js({
            "worker": self.url("js/worker.mjs"),
            "binding": self.url("js/engine.mjs"),
            "store": self.url("js/store.mjs"),
            "sources": self.url("js/sources.mjs"),
            "engine": self.url(f"_wasm/{variant}/plm-engine.mjs"),
            "wasm": self.url(f"_wasm/{variant}/plm-engine.wasm"),
        }, dict_converter=js.Object.fromEntries)


_FILES = _PackageFiles()
_client_module: Any = None


async def _client() -> Any:
    global _client_module
    if _client_module is None:
        url = _FILES.url("js/client.mjs")
        _client_module = await run_js(f"import({url!r})")
    return _client_module


async def detect() -> dict[str, Any]:
    """capabilities(): the client's feature detection, as a Python dict."""
    return (await _client()).detect().to_py()


def _js(value: Any) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


def _terminate(client: Any) -> None:
    client.terminate()


class JsTransport(Transport):
    """Requests to one engine worker through the JS client.

    A transport dropped without ``close()`` (a notebook cell that rebinds
    ``llm = await LLM.load(...)``) ends its worker when it is collected, so
    the old model's memory (hundreds of MB to GBs) does not stay behind.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._finalizer = weakref.finalize(self, _terminate, client)

    def start(self, type: str, payload: dict[str, Any], on_event: EventHandler | None = None) -> PendingCall:
        if self._client is None:
            done = asyncio.get_event_loop().create_future()
            done.set_result({"ok": False, "code": "engine_crashed", "message": "the engine was closed"})
            return PendingCall(id=0, type=type, future=done)
        handler = None
        if on_event is not None:
            def relay(name: str, data: Any) -> None:
                d = data.to_py()
                if "bytes" in d:
                    d["bytes"] = bytes(d["bytes"])
                on_event(name, d)

            handler = create_proxy(relay)
        js_call = self._client.request(type, _js(payload), handler)

        async def settle() -> dict[str, Any]:
            try:
                return (await js_call.promise).to_py()
            finally:
                if handler is not None:
                    handler.destroy()

        return PendingCall(id=int(js_call.id), type=type, future=asyncio.ensure_future(settle()))

    async def close(self) -> None:
        if self._client is None:
            return
        try:
            await asyncio.wait_for(self.start("close", {}).future, timeout=5)
        except asyncio.TimeoutError:
            pass
        finally:
            self.terminate()

    def terminate(self) -> None:
        self._finalizer()
        self._client = None


async def open_transport(opts: LoadOptions, need: MemoryEstimate | None = None) -> tuple[JsTransport, str, int]:
    """Start an engine worker of the right variant (by capabilities and memory need)."""
    client_mod = await _client()
    caps = client_mod.detect().to_py()
    variant, n_threads = choose_variant(caps, opts, need)
    r = await client_mod.EngineClient.start(_FILES.for_variant(variant), _js(PROTOCOL), variant, n_threads)
    if not r.ok:
        raise error_from_reply(r.code, r.message)
    return JsTransport(r.client), variant, n_threads


async def fetch_prefix(url: str, size: int) -> tuple[bytes, int | None]:
    """At least the first ``size`` bytes of ``url`` (fewer only if the file is shorter), and its size.

    Asks for a Range; a server that ignores it sends the whole file, of which
    only the first ``size`` bytes are read before the download is cancelled.
    """
    href = absolute_url(url)
    try:
        resp = await js.fetch(href, _js({"headers": {"Range": f"bytes=0-{size - 1}"}}))
    except Exception as e:  # a JS TypeError: DNS, refused connection, CORS
        raise ModelSourceError(f"network error fetching {href}: {e}", "network_error") from None
    if not resp.ok:
        raise ModelSourceError(f"HTTP {resp.status} {resp.statusText} for {href}", "http_error")
    try:
        if resp.status == 206:
            data = (await resp.arrayBuffer()).to_bytes()
            total = str(resp.headers.get("content-range") or "").rpartition("/")[2]
            return data, int(total) if total.isdigit() else None
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
        raise ModelSourceError(f"network error reading the header of {url}: {e}", "network_error") from None
    return b"".join(chunks), int(length) if length.isdigit() else None


def blob_prefix(blob: Any):
    """A PrefixFetcher over a browser File/Blob (for inspect and sizing): slices, no network."""
    async def fetch(url: str, size: int) -> tuple[bytes, int | None]:
        return (await blob.slice(0, size).arrayBuffer()).to_bytes(), int(blob.size)
    return fetch


def is_blob(obj: Any) -> bool:
    """A JS File or Blob proxy (what PyScript's <input type=file> hands over)."""
    from pyodide.ffi import JsProxy  # type: ignore[import-not-found]

    return isinstance(obj, JsProxy) and bool(js.Blob.prototype.isPrototypeOf(obj))


def absolute_url(url: str) -> str:
    """``url`` resolved as a user means it (see :func:`base_url`): the worker and the cache key it so."""
    return str(js.URL.new(url, base_url(str(js.location.href), os.getcwd())).href)


_store_module: Any = None


async def open_store(kind: str | bool = "auto") -> Any:
    """The JS model store (store.mjs) of this origin, or None when there is no browser storage."""
    global _store_module
    if _store_module is None:
        _store_module = await run_js(f"import({_FILES.url('js/store.mjs')!r})")
    try:
        return await _store_module.openStore("auto" if kind in (True, "revalidate") else kind)
    except Exception as e:  # a JS Error with a protocol code
        raise js_error(e, "unsupported_environment") from None


def cached_prefix(kind: str | bool = "auto"):
    """A PrefixFetcher that reads a file from the model cache when it is there, else with Range requests."""
    async def fetch(url: str, size: int) -> tuple[bytes, int | None]:
        store = await open_store(kind) if kind else None
        if store is not None:
            entry = await store.lookup(absolute_url(url))
            if entry is not None and getattr(entry, "blob", None) is not None:
                blob = entry.blob
                return (await blob.slice(0, size).arrayBuffer()).to_bytes(), int(blob.size)
        return await fetch_prefix(url, size)
    return fetch


def js_error(e: Exception, default_code: str) -> Exception:
    """Our exception for a JS Error thrown by store.mjs (which carries a protocol ``code``)."""
    err = getattr(e, "js_error", None)
    code = str(getattr(err, "code", None) or default_code)
    message = str(getattr(err, "message", None) or e)
    return error_from_reply(code, message)
