"""A static file server on 127.0.0.1 for the browser tests (and ``make demo``).

Serves ``.mjs`` as JavaScript and ``.wasm`` as application/wasm, and, when
``isolated``, the COOP/COEP headers that make a page cross-origin isolated
(SharedArrayBuffer, hence threads). Records request paths so tests can assert
what was fetched.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".gguf": "application/octet-stream",
                      ".whl": "application/zip", ".json": "application/json"}
    isolated = False
    log: list[str] = []

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def do_GET(self) -> None:
        self.log.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:  # quiet: the request list is kept instead
        pass


class StaticServer:
    """Serve ``root`` on 127.0.0.1 (free port) in a thread; stop with :meth:`stop`."""

    def __init__(self, root: Path, isolated: bool) -> None:
        handler = type("Handler", (_Handler,), {"isolated": isolated, "log": []})
        self.root = root
        self.requests: list[str] = handler.log
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
