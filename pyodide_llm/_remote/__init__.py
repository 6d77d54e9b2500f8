"""``LLM.connect``: the package's API on an OpenAI-compatible server (llama-server, vLLM, ...).

==================  ===============================================================
``llm``             ``RemoteLLM`` (the generation methods) and ``connect``
``stream``          the token stream of a server answer (a ``TokenStream``)
``rows``            ``map``: many rows as concurrent requests
``events``          a streamed response's events; raw chunks for ``create_*(stream=True)``
``requests``        ``chat``/``complete``'s keywords as request bodies
``connection``      one server: URL, key, timeouts, error mapping
``http``            the HTTP seam (browser ``fetch`` in ``_browser/http.py``; httpx here)
``sse``             server-sent events to JSON
==================  ===============================================================
"""

from __future__ import annotations

from .llm import RemoteLLM, ServerInfo, connect

__all__ = ["RemoteLLM", "ServerInfo", "connect"]
