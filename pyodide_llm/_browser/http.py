"""``LLM.connect`` in the browser: the page's ``fetch``, its body read as a stream.

Why fetch and not pyodide-http or a sync XHR: the body must arrive chunk by
chunk while the page stays responsive, and ``break`` must stop the server, which
``AbortController.abort()`` does by closing the connection. The browser gives
one error for a refused connection, a DNS failure and a CORS refusal alike (a
``TypeError``), so the message names all three.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import js

from .._errors import RemoteConnectionError, RemoteTimeoutError
from .._remote.http import HttpClient, HttpResponse, Timeouts
from .files import to_js_object


def _unreachable(url: str, e: object) -> RemoteConnectionError:
    origin = str(js.location.origin)
    return RemoteConnectionError(
        f"could not reach {url} ({e}): the server is not running there, the name does not resolve, or it does "
        f"not allow this page's origin {origin} (CORS; llama-server allows every origin unless started with "
        "--cors-origins, `python -m pyodide_llm serve-model` allows local pages)", "connect_failed")


class FetchResponse(HttpResponse):
    def __init__(self, resp: Any, controller: Any, url: str, timeouts: Timeouts) -> None:
        self._resp = resp
        self._controller = controller
        self._timeouts = timeouts
        self.status = int(resp.status)
        self.headers = {str(k).lower(): str(v) for k, v in resp.headers.entries()}
        self.url = url
        self._aborted = False

    async def chunks(self) -> AsyncIterator[bytes]:
        body = self._resp.body
        if not body:  # JS null (a 204, a HEAD): jsnull in Pyodide 314, None in older ones
            return
        reader = body.getReader()
        try:
            while True:
                try:
                    part = await asyncio.wait_for(reader.read(), self._timeouts.read)
                except TimeoutError:
                    self.abort()
                    raise RemoteTimeoutError(f"{self.url} sent nothing more for {self._timeouts.read:g} s "
                                             "(timeout=)", "read_timeout") from None
                except asyncio.CancelledError:
                    self.abort()
                    raise
                except Exception as e:  # a JS TypeError: the connection broke (or we aborted)
                    if self._aborted:
                        return
                    raise RemoteConnectionError(f"the connection to {self.url} broke before the answer was "
                                                f"complete: {e}", "connection_lost") from None
                if part.done:
                    return
                yield part.value.to_bytes()
        finally:
            if not self._aborted:
                reader.releaseLock()

    def abort(self) -> None:
        if not self._aborted:
            self._aborted = True
            self._controller.abort()


class FetchClient(HttpClient):
    """Requests through the page's (or the worker's) ``fetch``."""

    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                   timeouts: Timeouts) -> HttpResponse:
        controller = js.AbortController.new()
        init: dict[str, Any] = {"method": method, "headers": dict(headers), "signal": controller.signal,
                                "cache": "no-store"}
        if body is not None:
            init["body"] = body.decode()
        # fetch resolves with the headers: the connect wait and the wait for a first answer
        # are one here (a browser does not say when the connection opened).
        limit = timeouts.connect + timeouts.read
        try:
            resp = await asyncio.wait_for(js.fetch(url, to_js_object(init)), limit)
        except TimeoutError:
            controller.abort()
            raise RemoteTimeoutError(f"{url} sent no response within {limit:g} s (connect_timeout= + timeout=)",
                                     "read_timeout") from None
        except asyncio.CancelledError:
            controller.abort()
            raise
        except Exception as e:
            raise _unreachable(url, e) from None
        return FetchResponse(resp, controller, url, timeouts)
