"""Exceptions raised by pyodide_llm.

::

    LLMError (Exception)                   base of everything below
    ├── ModelSourceError (LLMError, OSError)    network, HTTP status, file not found, sha256 mismatch,
    │                                           a Hub repository without the model asked for
    ├── CacheError (LLMError, OSError)     the browser's storage is full or unavailable
    ├── ModelLoadError (LLMError, ValueError)   not GGUF, truncated, unknown architecture, too big,
    │                                           split parts that are not one model
    ├── ContextOverflowError (LLMError, ValueError)  prompt does not fit in n_ctx
    ├── SessionStateError (LLMError, ValueError)  a saved session that is damaged, not
    │                                           ours, or from another model or n_ctx
    ├── BadRequestError (LLMError, ValueError)  the engine refused a request's values
    ├── GenerationCancelled (LLMError)     the engine stopped a generation on request
    ├── ToolCallError (LLMError)           llm.run(raise_tool_errors=True): a tool raised, or the
    │                                      model called a tool that is not there
    ├── EngineCrashedError (LLMError, RuntimeError)  the worker died; the model is gone
    │   └── GPUDeviceLostError             the WebGPU device was lost (driver reset, GPU
    │                                      process crash, tab in the background too long)
    ├── UnsupportedEnvironmentError (LLMError, RuntimeError)  not in a browser, or a
    │                                      capability the request needs is missing (gpu=True
    │                                      where WebGPU is not usable, /tokenize on a server
    │                                      that has none)
    └── RemoteError (LLMError, OSError)    LLM.connect: the server failed (5xx) or sent what is
        │                                  not an OpenAI answer; ``status``, ``retry_after``
        ├── RemoteConnectionError (.., ConnectionError)  refused, DNS, CORS, dropped mid-stream
        ├── RemoteTimeoutError (.., TimeoutError)  no answer, or no event, within the timeout
        ├── AuthenticationError (.., PermissionError)  401/403: a missing or wrong api_key
        ├── RateLimitError                 429: slow down (``retry_after`` seconds, if sent)
        └── ModelNotFoundError (.., LookupError)  the server does not serve that model (404)

    A server's 400 is a BadRequestError (a prompt over its context a ContextOverflowError),
    with the server's own message.

    GPUFallbackWarning (RuntimeWarning)    a warning, not an error: the GPU was chosen but
                                           llama.cpp kept some or all layers on the CPU

Every error carries ``code`` (the engine's stable error code, see protocol.json)
and pickles, so test harnesses can move it between processes. Bad arguments
caught in Python before anything is sent raise plain ``ValueError``/``TypeError``;
the same kind of mistake caught by the engine is a :class:`BadRequestError`,
which is a ``ValueError`` too, so one ``except ValueError`` covers both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._protocol import ERROR_CLASSES

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CacheError",
    "ContextOverflowError",
    "EngineCrashedError",
    "GPUDeviceLostError",
    "GPUFallbackWarning",
    "GenerationCancelled",
    "LLMError",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelSourceError",
    "RateLimitError",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteTimeoutError",
    "SessionStateError",
    "ToolCallError",
    "UnsupportedEnvironmentError",
    "crashed_reply",
    "error_from_reply",
]


class LLMError(Exception):
    """Base class of every pyodide_llm error.

    Parameters
    ----------
    message
        What happened and what to do about it.
    code
        The engine's error code (``protocol.json`` ``error_codes``), if any.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __reduce__(self) -> tuple[type[LLMError], tuple[str, str | None]]:  # keep ``code`` across pickling
        return (type(self), (self.message, self.code))


class ModelSourceError(LLMError, OSError):
    """The model could not be fetched: HTTP error, network failure, missing file.

    ``status`` is the HTTP status when a server answered with one (None otherwise),
    so a caller can tell "not there" (404) from "not for you" (401/403).
    """

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code)
        self.status = status

    def __reduce__(self) -> tuple[type[LLMError], tuple[Any, ...]]:  # keep every field across pickling
        return (type(self), (self.message, self.code, self.status))


class CacheError(LLMError, OSError):
    """The model cache cannot take the model (quota); the message says how much space it needed."""


class ModelLoadError(LLMError, ValueError):
    """The bytes are not a model llama.cpp can load (or it does not fit in memory)."""


class ContextOverflowError(LLMError, ValueError):
    """The prompt is longer than the context window (``n_ctx``)."""


class SessionStateError(LLMError, ValueError):
    """A saved session state that cannot be restored here: damaged, not a state of
    ours, or from another model or ``n_ctx`` (the message says which)."""


class BadRequestError(LLMError, ValueError):
    """The engine refused a request: a value out of range, a malformed field, an unknown action."""


class IncompleteJSONError(LLMError, ValueError):
    """``stream.json()`` got no complete JSON value (code ``incomplete_json``).

    The generation ended before the value was closed: ``max_tokens`` ran out (raise
    it), a stop string cut it, or it was cancelled. The text so far is in ``text``.
    """

    text: str = ""


class GenerationCancelled(LLMError):
    """The generation was cancelled before it finished."""


class ToolCallError(LLMError):
    """A tool call failed in ``llm.run(..., raise_tool_errors=True)`` (code ``tool_error``).

    The tool raised (the exception is ``__cause__``), or the model called a name
    that is not one of the Python functions given (``LookupError`` as the cause).
    ``call`` is the :class:`ToolCall`. Without ``raise_tool_errors`` the error is
    reported to the model as the tool's result instead.
    """

    call: object = None


class EngineCrashedError(LLMError, RuntimeError):
    """The engine worker died; load the model again."""


class GPUDeviceLostError(EngineCrashedError):
    """The WebGPU device was lost while the engine used it (code ``gpu_device_lost``).

    The engine is gone with its device, like any crash (so ``except EngineCrashedError``
    covers it); the page stays alive. Load the model again: ``gpu=False`` keeps it on
    the CPU if the device keeps getting lost.
    """


class UnsupportedEnvironmentError(LLMError, RuntimeError):
    """Called outside a browser (plain CPython), or the browser lacks what is needed."""


class RemoteError(LLMError, OSError):
    """A server behind :meth:`LLM.connect` failed: a 5xx, or a reply that is not OpenAI's shape.

    ``status`` is the HTTP status (None when there was no response), ``retry_after``
    the seconds of a ``Retry-After`` header (429, 503), for a caller that retries.
    """

    def __init__(self, message: str, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, code)
        self.status = status
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[LLMError], tuple[Any, ...]]:  # keep every field across pickling
        return (type(self), (self.message, self.code, self.status, self.retry_after))


class RemoteConnectionError(RemoteError, ConnectionError):
    """The server could not be reached (refused, DNS, CORS in a browser), or the connection broke mid-answer."""


class RemoteTimeoutError(RemoteError, TimeoutError):
    """The server sent nothing within the timeout: no response, or no event between two (``timeout=``)."""


class AuthenticationError(RemoteError, PermissionError):
    """The server refused the API key (401) or the request (403); pass ``api_key=``."""


class RateLimitError(RemoteError):
    """The server asked to slow down (429); ``retry_after`` says when to try again, if it said."""


class ModelNotFoundError(RemoteError, LookupError):
    """The server does not serve the model named (``model=``); the message lists the ones it does."""


class GPUFallbackWarning(RuntimeWarning):
    """``LLM.load`` chose the GPU, but llama.cpp offloaded fewer layers than asked, or none.

    A warning, not an error: the model is loaded and works, only slower than the
    GPU would run it. Typical causes: a tensor larger than the adapter's
    ``maxStorageBufferBindingSize``/``maxBufferSize``, or a device that refused to
    be created. ``llm.info.backend`` and ``llm.info.n_gpu_layers`` say what runs where.
    """


_CLASSES: tuple[type[LLMError], ...] = (
    LLMError, ModelSourceError, CacheError, ModelLoadError, ContextOverflowError, SessionStateError, BadRequestError,
    IncompleteJSONError, GenerationCancelled, ToolCallError, EngineCrashedError, GPUDeviceLostError,
    UnsupportedEnvironmentError, RemoteError, RemoteConnectionError, RemoteTimeoutError, AuthenticationError,
    RateLimitError, ModelNotFoundError)
_BY_NAME: dict[str, type[LLMError]] = {cls.__name__: cls for cls in _CLASSES}


def error_from_reply(reply: Mapping[str, Any]) -> LLMError:
    """The exception for an ``{"ok": false, "code", "message"}`` reply (of the worker or the engine).

    The class comes from ``protocol.json`` ``error_codes``; a code the table does
    not know becomes a plain :class:`LLMError` that still carries it.
    """
    code = str(reply.get("code") or "internal")
    message = str(reply.get("message") or f"the engine failed ({code})")
    return _BY_NAME[ERROR_CLASSES.get(code, "LLMError")](message, code)


def crashed_reply(message: str) -> dict[str, Any]:
    """The reply every pending request gets when its engine is gone (closed, terminated or dead)."""
    return {"ok": False, "code": "engine_crashed", "message": message}
