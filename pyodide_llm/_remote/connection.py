"""One OpenAI-compatible server: its base URL, key, timeouts, and the HTTP client that reaches it.

Why a class of its own: every request (JSON or a stream) goes through the same
three steps, URL, headers and error mapping, and both the model methods and
the streams need them.
"""

from __future__ import annotations

from typing import Any

from .._errors import RemoteError
from .http import HttpClient, HttpResponse, Timeouts, error_for_status, json_body


class Connection:
    """Requests to one server (``base_url`` without ``/v1``)."""

    def __init__(self, http: HttpClient, base_url: str, api_key: str | None, timeouts: Timeouts) -> None:
        self.http = http
        self.base_url = base_url
        self.timeouts = timeouts
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def url(self, path: str) -> str:
        return self.base_url + path

    async def _send(self, method: str, path: str, body: Any, accept: str | None = None) -> HttpResponse:
        headers = dict(self._headers)
        if accept:
            headers["Accept"] = accept
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json_body(body)
        return await self.http.send(method, self.url(path), headers, data, self.timeouts)

    async def json(self, method: str, path: str, body: Any = None, model: str | None = None) -> Any:
        """The JSON reply of a request; an HTTP error status raises its mapped exception."""
        resp = await self._send(method, path, body)
        data = await resp.read()
        if not 200 <= resp.status < 300:
            raise error_for_status(resp.status, resp.headers, data, resp.url, model)
        try:
            import json

            return json.loads(data)
        except ValueError:
            raise RemoteError(f"{resp.url} answered HTTP {resp.status} with what is not JSON: "
                              f"{data[:200].decode('utf-8', 'replace')!r}", "bad_response", resp.status) from None

    async def stream(self, path: str, body: Any, model: str | None = None) -> HttpResponse:
        """A streamed reply, its status checked (the body not read yet)."""
        resp = await self._send("POST", path, body, accept="text/event-stream")
        if not 200 <= resp.status < 300:
            data = await resp.read(1 << 20)
            raise error_for_status(resp.status, resp.headers, data, resp.url, model)
        kind = resp.headers.get("content-type", "")
        if "text/event-stream" not in kind:
            resp.abort()
            raise RemoteError(f"{resp.url} answered a streamed request with {kind or 'no content type'}, not "
                              "an event stream; it is not an OpenAI-compatible server (or a proxy rewrote it)",
                              "bad_response", resp.status)
        return resp
