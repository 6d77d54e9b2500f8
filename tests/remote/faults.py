"""Servers that misbehave on purpose, on 127.0.0.1, for LLM.connect's error paths.

Each runs in a thread of the test process and is stopped by the test (no
process to leak). They answer CORS preflights, so a browser page on another
port meets the same faults as plain CPython does.

- ``Silent``: accepts connections and never answers.
- ``Backlogged``: never completes a connection (a full accept queue drops the handshake).
- ``Proxy(upstream, cut_after=N)``: relays to a real server byte for byte and cuts
  the connection after N bytes of the response (mid-stream, mid-chunk).
- ``Canned(response)``: answers every request with fixed bytes (a status with
  ``Retry-After``, a garbage event stream, an HTML page) and closes, or stalls
  after a first event (``hold=True``).
"""

from __future__ import annotations

import socket
import threading

# A page reads Retry-After only if the server exposes it (it is not a CORS-safelisted header).
CORS = b"Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: Retry-After\r\n"
PREFLIGHT = (b"HTTP/1.1 204 No Content\r\n" + CORS + b"Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
             b"Access-Control-Allow-Headers: authorization, content-type, accept\r\n"
             b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def read_request(conn: socket.socket) -> bytes:
    """One HTTP request (headers and a Content-Length body), as bytes; b"" if the client left."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            return b""
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        part = conn.recv(65536)
        if not part:
            break
        body += part
    return head + b"\r\n\r\n" + body


class _Server:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.requests: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            req = read_request(conn)
            if not req:
                return
            self.requests.append(req)
            if req.startswith(b"OPTIONS "):
                conn.sendall(PREFLIGHT)
                conn.close()
                return
            self.handle(conn, req)
        except OSError:
            pass

    def handle(self, conn: socket.socket, req: bytes) -> None:
        raise NotImplementedError

    def hold_open(self, conn: socket.socket) -> None:
        """Say nothing more until the client leaves or the server stops."""
        while not self._stop:
            try:
                if not conn.recv(1024):
                    return
            except OSError:
                return

    def stop(self) -> None:
        self._stop = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


class Silent(_Server):
    """Accepts, reads the request, and never answers (until stopped)."""

    def handle(self, conn: socket.socket, req: bytes) -> None:
        self.hold_open(conn)


class Backlogged:
    """A port whose accept queue is full: new connections are never completed (SYNs dropped).

    Listens with a backlog of 0, never accepts, and holds the one connection the
    queue takes; the next client waits in the handshake, as with a host that drops
    packets, so a connect timeout is produced for real on 127.0.0.1.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held = socket.create_connection(self.sock.getsockname(), timeout=2)

    def stop(self) -> None:
        self.held.close()
        self.sock.close()


class Canned(_Server):
    """Answers with fixed bytes: ``routes[path]`` for a path it names, else ``default``.

    It closes the connection after, unless ``hold``: then the default answer stalls
    there (headers and a first event sent, then silence), as a hung upstream does.
    """

    def __init__(self, default: bytes, routes: dict[str, bytes] | None = None, hold: bool = False) -> None:
        self.default = default
        self.routes = routes or {}
        self.hold = hold
        super().__init__()

    def handle(self, conn: socket.socket, req: bytes) -> None:
        path = req.split(b" ", 2)[1].decode()
        conn.sendall(self.routes.get(path, self.default))
        if self.hold and path not in self.routes:
            self.hold_open(conn)
        conn.close()


class Proxy(_Server):
    """Relays to ``upstream`` (host, port) and cuts every response after ``cut_after`` bytes."""

    def __init__(self, upstream: str, cut_after: int) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.cut_after = cut_after
        super().__init__()

    def handle(self, conn: socket.socket, req: bytes) -> None:
        up = socket.create_connection(self.upstream)
        self.conns.append(up)
        head, _, body = req.partition(b"\r\n\r\n")
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
        up.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body)  # one request per connection
        sent = 0
        while sent < self.cut_after:
            part = up.recv(min(65536, self.cut_after - sent))
            if not part:
                break
            conn.sendall(part)
            sent += len(part)
        # An abrupt cut (RST), as a crashed proxy or a dropped link looks.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()
        up.close()


def response(status: str, body: bytes, content_type: str = "application/json", extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 response that closes its connection."""
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode()
            + CORS + extra + b"Connection: close\r\n\r\n" + body)


# A stream that sends one event and then nothing (with Canned(..., hold=True)).
STALLED_STREAM = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + CORS + b"\r\n"
                  b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n')
GARBAGE_STREAM = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + CORS + b"Connection: close\r\n\r\n"
                  b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
                  b"data: {this is not json\n\n")
HTML_PAGE = response("200 OK", b"<html><body>captive portal</body></html>", "text/html")
RATE_LIMITED = response("429 Too Many Requests",
                        b'{"error":{"message":"slow down","type":"rate_limit_error"}}', extra=b"Retry-After: 7\r\n")
UNAVAILABLE = response("503 Service Unavailable", b'{"error":{"message":"Loading model","type":"unavailable_error"}}',
                       extra=b"Retry-After: 2\r\n")
MODELS = response("200 OK", b'{"object":"list","data":[{"id":"m","object":"model"}]}')
