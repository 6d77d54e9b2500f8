"""Browser side of the package: the only modules that import ``js`` and ``pyodide``.

Reached through :func:`pyodide_llm._env.browser`, never imported on plain CPython.
One module per concern:

- :mod:`.files`: the package's JS and wasm files as Blob URLs, and the JS modules imported from them
- :mod:`.engine`: feature detection and the engine worker transport (:class:`JsTransport`)
- :mod:`.fetch`: URLs as the user means them, reading file headers (network, cache, File/Blob), a JSON GET
- :mod:`.store`: the model cache (store.mjs) and the browser's storage estimate
- :mod:`.interrupt`: the origin's BroadcastChannels (the notebook's Stop button)
"""

from __future__ import annotations

from .engine import JsTransport, detect, start_engine
from .fetch import absolute_url, http_get, is_blob, prefix_fetcher
from .interrupt import listen_channel
from .store import js_error, open_store, storage_estimate

__all__ = ["JsTransport", "absolute_url", "detect", "http_get", "is_blob", "js_error", "listen_channel",
           "open_store", "prefix_fetcher", "start_engine", "storage_estimate"]
