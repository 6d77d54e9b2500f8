"""Exceptions raised by pyodide_llm.

::

    LLMError (Exception)                   base of everything below
    ├── ModelSourceError (LLMError, OSError)    network, HTTP status, file not found, sha256 mismatch
    ├── CacheError (LLMError, OSError)     the browser's storage is full or unavailable
    ├── ModelLoadError (LLMError, ValueError)   not GGUF, truncated, unknown architecture, too big,
    │                                           split parts that are not one model
    ├── ContextOverflowError (LLMError, ValueError)  prompt does not fit in n_ctx
    ├── GenerationCancelled (LLMError)     the engine stopped a generation on request
    ├── EngineCrashedError (LLMError, RuntimeError)  the worker died; the model is gone
    └── UnsupportedEnvironmentError (LLMError, RuntimeError)  not in a browser, or a
                                           capability the request needs is missing

Every error carries ``code`` (the engine's stable error code, see protocol.json)
and pickles, so test harnesses can move it between processes.
"""

from __future__ import annotations

__all__ = [
    "CacheError",
    "ContextOverflowError",
    "EngineCrashedError",
    "GenerationCancelled",
    "LLMError",
    "ModelLoadError",
    "ModelSourceError",
    "UnsupportedEnvironmentError",
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

    def __reduce__(self):  # keep ``code`` across pickling
        return (type(self), (self.message, self.code))


class ModelSourceError(LLMError, OSError):
    """The model could not be fetched: HTTP error, network failure, missing file."""


class CacheError(LLMError, OSError):
    """The model cache cannot take the model (quota); the message says how much space it needed."""


class ModelLoadError(LLMError, ValueError):
    """The bytes are not a model llama.cpp can load (or it does not fit in memory)."""


class ContextOverflowError(LLMError, ValueError):
    """The prompt is longer than the context window (``n_ctx``)."""


class GenerationCancelled(LLMError):
    """The generation was cancelled before it finished."""


class EngineCrashedError(LLMError, RuntimeError):
    """The engine worker died; load the model again."""


class UnsupportedEnvironmentError(LLMError, RuntimeError):
    """Called outside a browser (plain CPython), or the browser lacks what is needed."""


_BY_NAME: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (LLMError, ModelSourceError, CacheError, ModelLoadError, ContextOverflowError, GenerationCancelled,
                EngineCrashedError, UnsupportedEnvironmentError)
}
_BY_NAME["ValueError"] = ValueError


def error_from_reply(code: str, message: str) -> Exception:
    """Rebuild the right exception from an ``{code, message}`` error reply."""
    from .protocol import PROTOCOL

    name = PROTOCOL["error_codes"].get(code, "LLMError")
    cls = _BY_NAME[name]
    if cls is ValueError:
        err = ValueError(message)
        err.code = code  # type: ignore[attr-defined]
        return err
    return cls(message, code)
