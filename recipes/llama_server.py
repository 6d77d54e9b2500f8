"""llama.cpp's llama-server, built by the recipes, run on 127.0.0.1 (tests, ``make serve-model``).

The binary comes from ``build_native`` (the pinned source, the same build as
``make native``) and runs in the toolchain root like every native program here.
Arguments come from the package's own ``serve-model`` (``server_args``), so the
tests exercise the flags users get. Each server is stopped by the PID it was
started with (the toolchain's command line execs all the way down).
"""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyodide_llm._host.llama_server import server_args, wait_healthy

from .build import log
from .pins import load_pins
from .source import llama_source
from .toolchain import ensure_toolchain
from .variants import build_native


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """One llama-server process serving ``model``; ``url`` once started, stopped by its PID."""

    def __init__(self, model: Path, *, port: int | None = None, log_file: Path | None = None, **options: Any) -> None:
        pins = load_pins()
        self._tc = ensure_toolchain(pins, log)
        self.binary = build_native(self._tc, pins, llama_source(pins, log), log) / "llama-server"
        self.model = model
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = server_args(model, port=self.port, **options)
        self._log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> LlamaServer:
        cmd = "exec " + " ".join(shlex.quote(a) for a in [str(self.binary), *self._args])
        out = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL
        self.proc = subprocess.Popen(self._tc.argv(cmd), stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_healthy(self.url, self.proc, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL after 10 s (idempotent)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """``make serve-model MODEL=path [PORT=8080]``: serve a model to local pages until Ctrl-C."""
    if not argv:
        print("usage: python -m recipes.llama_server MODEL.gguf [PORT]", file=sys.stderr)
        return 2
    model = Path(argv[0]).resolve()
    if not model.is_file():
        print(f"{model} is not a file", file=sys.stderr)
        return 2
    server = LlamaServer(model, port=int(argv[1]) if len(argv) > 1 else 8080)
    server.start()
    print(f"serving {model.name} at {server.url} (Ctrl-C stops it); in a notebook on this machine:\n"
          f"    llm = await LLM.connect({server.url!r})", flush=True)
    try:
        assert server.proc is not None
        return server.proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
