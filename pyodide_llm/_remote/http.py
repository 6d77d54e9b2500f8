"""The HTTP seam of ``LLM.connect``: one small client interface, two implementations.

Why a seam: everything above it (requests, event streams, errors, the
``RemoteLLM`` methods) is the same code in the browser and on plain CPython; only
how bytes move differs. In Pyodide the browser's ``fetch`` (``_browser/http.py``:
a streamed body, ``AbortController`` to stop); elsewhere httpx
(``httpx_client.py``). Host tests may pass their own :class:`HttpClient`.

Every wait is bounded: ``connect_timeout`` for the TCP/TLS handshake, ``timeout``
for the response's headers and then between any two chunks of its body. A server
that stops talking raises :class:`RemoteTimeoutError`, never hangs.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import (
    AuthenticationError,
    BadRequestError,
    ContextOverflowError,
    LLMError,
    ModelNotFoundError,
    RateLimitError,
    RemoteError,
    UnsupportedEnvironmentError,
)


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: for a connection, and for the response / the next chunk of its body."""

    connect: float = 10.0
    read: float = 120.0


class HttpResponse(ABC):
    """A response whose body is read as it arrives."""

    status: int
    headers: Mapping[str, str]  # lower-case names
    url: str

    @abstractmethod
    def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; each wait is bounded by the read timeout."""

    async def read(self, limit: int = 64 << 20) -> bytes:
        """The whole body (at most ``limit`` bytes: a server that sends more is not an API)."""
        out = bytearray()
        async for chunk in self.chunks():
            out += chunk
            if len(out) > limit:
                self.abort()
                raise RemoteError(f"{self.url} sent more than {limit >> 20} MiB; that is not an API reply",
                                  "bad_response", self.status)
        return bytes(out)

    @abstractmethod
    def abort(self) -> None:
        """Stop receiving now (synchronous, idempotent); the server sees the connection close."""


class HttpClient(ABC):
    """Sends requests; raises :class:`RemoteConnectionError` / :class:`RemoteTimeoutError` itself."""

    @abstractmethod
    async def send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                   timeouts: Timeouts) -> HttpResponse:
        """Send the request; return once the status and headers arrived (any status)."""

    async def aclose(self) -> None:  # noqa: B027 (a client without connections to release needs none)
        """Release connections (idempotent)."""


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (the header's delay form; a date form is not used by these servers)."""
    value = headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def server_message(body: bytes) -> str:
    """The error message in an OpenAI-shaped error body (``{"error": {"message": ...}}``), or its text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500] or "(no message)"
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:2000]
    return str(err)[:2000]


def _error_type(body: bytes) -> str:
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    return str(err.get("type") or err.get("code") or "") if isinstance(err, dict) else ""


def error_for_status(status: int, headers: Mapping[str, str], body: bytes, url: str,
                     model: str | None = None) -> LLMError:
    """The exception for an HTTP error reply, the server's message kept.

    ``model`` names the requested model, for the message of a 404 about it.
    """
    said = server_message(body)
    wait = retry_after(headers)
    kind = _error_type(body)
    low = said.lower()
    too_long = (kind == "exceed_context_size_error" or ("context" in low and "exceed" in low)
                or "maximum context length" in low or "maximum model length" in low  # vLLM's words
                or "too large to process" in low)  # llama-server: an embedding input over its batch (a 500)
    if too_long and (status in (400, 413, 422) or status >= 500):
        return ContextOverflowError(f"the server says the request does not fit its context: {said}",
                                    "context_overflow")
    if status == 400 or status == 422:
        return BadRequestError(f"the server refused the request (HTTP {status}): {said}", "bad_request")
    if status == 401:
        hint = "pass api_key= (the server's --api-key)"
        return AuthenticationError(f"HTTP 401 from {url}: {said}; {hint}", "unauthorized", status)
    if status == 403:
        return AuthenticationError(f"HTTP 403 from {url}: {said}; the server does not allow this request "
                                   "(or this key)", "forbidden", status)
    if status == 404:
        if model is not None and ("model" in said.lower() or kind == "model_not_found"):
            return ModelNotFoundError(f"the server does not serve model {model!r}: {said}", "model_not_found",
                                      status)
        return UnsupportedEnvironmentError(f"{url} does not exist on this server (HTTP 404: {said}); it may not "
                                           "be llama-server or an OpenAI-compatible API", "not_supported")
    if status == 501:  # llama-server: a feature this server was not started with (embeddings, ...)
        return UnsupportedEnvironmentError(f"the server does not do this (HTTP 501 on {url}): {said}",
                                           "not_supported")
    if status == 429:
        after = f"; retry after {wait:g} s" if wait is not None else ""
        return RateLimitError(f"the server is rate limiting (HTTP 429): {said}{after}", "rate_limited", status, wait)
    return RemoteError(f"the server failed (HTTP {status}) on {url}: {said}", "server_error", status, wait)


def json_body(data: Any) -> bytes:
    """A request body: compact JSON, UTF-8 (non-ASCII kept as is)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
