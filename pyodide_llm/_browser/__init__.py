"""Browser side of the package: the only modules that import ``js`` and ``pyodide``.

Reached through :func:`pyodide_llm._env.browser`, never imported on plain CPython.
One module per concern:

- :mod:`.files`: the package's JS and wasm files as Blob URLs, and the JS modules imported from them
- :mod:`.engine`: feature detection and the engine worker transport (:class:`JsTransport`)
- :mod:`.fetch`: URLs as the user means them, and reading file headers (network, cache, File/Blob)
- :mod:`.store`: the model cache (store.mjs) and the browser's storage estimate
"""

from __future__ import annotations

from .engine import JsTransport, detect, start_engine
from .fetch import absolute_url, is_blob, prefix_fetcher
from .store import js_error, open_store, storage_estimate

__all__ = ["JsTransport", "absolute_url", "detect", "is_blob", "js_error", "open_store", "prefix_fetcher",
           "start_engine", "storage_estimate"]
