"""A static file server on 127.0.0.1: ``python -m pyodide_llm serve DIR``, the tests and ``make demo``.

Serves ``.mjs`` as JavaScript and ``.wasm`` as application/wasm, and, when
``isolated``, the COOP/COEP headers that make a page cross-origin isolated
(SharedArrayBuffer, hence threads). With ``ranges`` it answers HTTP Range
requests (206), as static hosts and CDNs do; without, it always sends the whole
file, like the simplest servers. Records request paths so tests can assert what
was fetched.
"""

from __future__ import annotations

import functools
import signal
import socket
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

# The response headers that make a page cross-origin isolated (SharedArrayBuffer, so
# threads); served here, and written by ``bundle`` into static hosts' header files.
ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class Handler(SimpleHTTPRequestHandler):
    # Not a ClassVar (RUF012): the base class declares extensions_map an instance attribute.
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",  # noqa: RUF012
                      ".js": "text/javascript", ".wasm": "application/wasm", ".gguf": "application/octet-stream",
                      ".whl": "application/zip", ".json": "application/json"}
    isolated = False
    ranges = True
    csp: str | None = None  # a Content-Security-Policy for every response (tests of strict pages)
    # "no-store" so every test starts cold; the benchmark's repeat visits use "no-cache"
    # (cached, revalidated each time: what static hosts' defaults come down to).
    cache_control = "no-store"
    # Class-level on purpose: each server makes a subclass with its own list, shared by its requests.
    log: ClassVar[list[str]] = []

    def end_headers(self) -> None:
        self.send_header("Cache-Control", self.cache_control)
        if self.isolated:
            for name, value in ISOLATION.items():
                self.send_header(name, value)
        if self.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if self.csp:
            self.send_header("Content-Security-Policy", self.csp)
        super().end_headers()

    def do_GET(self) -> None:
        self.log.append(self.path)
        spec = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if self.ranges and spec.startswith("bytes=") and "," not in spec and path.is_file():
            return self._send_range(path, spec[len("bytes="):])
        super().do_GET()

    def _send_range(self, path: Path, spec: str) -> None:
        size = path.stat().st_size
        first, _, last = spec.partition("-")
        try:
            start = int(first) if first else max(0, size - int(last))
            end = min(int(last), size - 1) if first and last else size - 1
        except ValueError:
            return self.send_error(400, "bad Range header")
        if start >= size or end < start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            self.wfile.write(f.read(end - start + 1))

    def log_message(self, *args: Any) -> None:  # quiet: the request list is kept instead
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        """A client that hangs up mid-response (a cancelled download) is normal, not an error."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class StaticServer:
    """Serve ``root`` on 127.0.0.1 (free port) in a thread; stop with :meth:`stop`."""

    def __init__(self, root: Path, isolated: bool, ranges: bool = True, base: type[Handler] = Handler,
                 csp: str | None = None, cache_control: str = "no-store") -> None:
        self.requests: list[str] = []
        handler = type("Handler", (base,), {"isolated": isolated, "ranges": ranges, "log": self.requests,
                                            "csp": csp, "cache_control": cache_control})
        self.root = root
        self.httpd = _Server(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def serve_forever(root: Path, port: int = 8000, isolated: bool = True) -> None:
    """``python -m pyodide_llm serve``: serve ``root`` on 127.0.0.1 until Ctrl-C."""
    if not root.is_dir():
        raise SystemExit(f"{root} is not a folder; run `python -m pyodide_llm bundle {root}` first")
    handler = type("Handler", (Handler,), {"isolated": isolated, "ranges": True, "log": []})
    try:
        httpd = _Server(("127.0.0.1", port), functools.partial(handler, directory=str(root)))
    except OSError as e:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port} ({e}); pass --port 0 for a free port") from None
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    mode = "cross-origin isolated (threads)" if isolated else "not isolated (one thread)"
    print(f"serving {root} at {url} ({mode}); Ctrl-C stops", flush=True)
    # SIGTERM (kill PID) stops it as cleanly as Ctrl-C: a server started in the background
    # by a non-interactive shell has SIGINT ignored, so a script must be able to use TERM.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
