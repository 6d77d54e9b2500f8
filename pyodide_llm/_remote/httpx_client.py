"""``LLM.connect`` on plain CPython: the HTTP client is httpx (``pip install "pyodide-llm[remote]"``).

Why httpx: async, streams a response body chunk by chunk, separate connect and
read timeouts, and trusted. Its exceptions become ours here, so the layers above
see one error tree in both places the package runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._errors import RemoteConnectionError, RemoteTimeoutError, UnsupportedEnvironmentError
from .http import HttpClient, HttpResponse, Timeouts


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise UnsupportedEnvironmentError(
            'LLM.connect on plain CPython needs httpx: pip install "pyodide-llm[remote]" (or pip install httpx)',
            "unsupported_environment") from None
    return httpx


def _timeouts(httpx: Any, t: Timeouts) -> Any:
    return httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect)


def translate(httpx: Any, e: Exception, url: str, t: Timeouts, started: bool) -> Exception:
    """httpx's exception as ours (``started``: the response had begun, so a break is a lost connection)."""
    if isinstance(e, httpx.ConnectTimeout | httpx.PoolTimeout):
        what = f"could not connect to {url} within {t.connect:g} s (connect_timeout=)"
        return RemoteTimeoutError(what, "connect_timeout")
    if isinstance(e, httpx.TimeoutException):
        what = "sent nothing more" if started else "accepted the connection but sent no response"
        return RemoteTimeoutError(f"{url} {what} for {t.read:g} s (timeout=)", "read_timeout")
    if isinstance(e, httpx.ConnectError):
        return RemoteConnectionError(f"could not connect to {url}: {e or type(e).__name__}; is the server "
                                     "running at that address?", "connect_failed")
    if isinstance(e, httpx.HTTPError):
        if started:
            return RemoteConnectionError(f"the connection to {url} broke before the answer was complete: "
                                         f"{e or type(e).__name__}", "connection_lost")
        return RemoteConnectionError(f"{url} closed the connection without a response: {e or type(e).__name__}",
                                     "connection_lost")
    return e


_closing: set[asyncio.Task[None]] = set()


class HttpxResponse(HttpResponse):
    def __init__(self, httpx: Any, resp: Any, url: str, timeouts: Timeouts) -> None:
        self._httpx = httpx
        self._resp = resp
        self._timeouts = timeouts
        self.status = int(resp.status_code)
        self.headers = {k.lower(): v for k, v in resp.headers.items()}
        self.url = url
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.aiter_bytes():
                yield chunk
        except Exception as e:
            if self._closed:
                return
            raise translate(self._httpx, e, self.url, self._timeouts, True) from None
        finally:
            await self._close()

    async def _close(self) -> None:
        self._closed = True
        await self._resp.aclose()

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            task = asyncio.get_running_loop().create_task(self._resp.aclose())
        except RuntimeError:  # no loop (interpreter shutdown): the socket goes with the process
            return
        _closing.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_closing.discard)


class HttpxClient(HttpClient):
    """One httpx ``AsyncClient`` (a connection pool) per connected server."""

    def __init__(self) -> None:
        self._httpx = _httpx()
        self._client: Any = None

    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                   timeouts: Timeouts) -> HttpResponse:
        httpx = self._httpx
        if self._client is None:  # redirects followed, as the browser's fetch does
            self._client = httpx.AsyncClient(timeout=_timeouts(httpx, timeouts), follow_redirects=True)
        try:
            request = self._client.build_request(method, url, headers=dict(headers), content=body,
                                                 timeout=_timeouts(httpx, timeouts))
        except httpx.InvalidURL as e:
            raise ValueError(f"{url} is not a URL httpx can request: {e}") from None
        try:
            resp = await self._client.send(request, stream=True)
        except Exception as e:
            raise translate(httpx, e, url, timeouts, False) from None
        return HttpxResponse(httpx, resp, url, timeouts)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
