"""``python -m pyodide_llm serve-model MODEL.gguf``: llama.cpp's llama-server for a local notebook.

Why a command of ours: the server a page talks to needs the right flags every
time (loopback only, CORS open to local pages only, the chat template's Jinja,
metrics and slots for checking a cancel), and the one-line switch from
``LLM.load`` to ``LLM.connect`` should come with the line to type. The binary is
llama.cpp's own: ``--llama-server PATH``, ``$LLAMA_SERVER``, or ``llama-server`` on
``PATH`` (``make serve-model`` uses the one the recipes build from the pinned source).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def server_args(model: Path | str, *, port: int, host: str = "127.0.0.1", n_ctx: int = 4096,
                threads: int | None = None, api_key: str | None = None, embeddings: bool = False,
                parallel: int = 1, cors_origins: str = "localhost", alias: str | None = None,
                chat_template_file: Path | str | None = None) -> list[str]:
    """llama-server's arguments (without the program) for serving ``model`` to local pages.

    ``cors_origins="localhost"`` is llama-server's mode that answers CORS for
    ``localhost``/``127.0.0.1`` pages only: a page elsewhere on the web cannot use a
    model on this machine. ``embeddings=True`` serves ``/v1/embeddings`` only (that
    is how llama-server is built: one server, one use). ``parallel`` is the number of
    requests it answers at once (its slots; the context is shared among them; more
    wait in its queue). ``alias`` is the model's name
    in ``/v1/models`` (default: the file name without ``.gguf``).
    """
    args = ["-m", str(model), "--host", host, "--port", str(port), "-c", str(n_ctx), "-np", str(parallel),
            "--jinja", "--metrics", "--slots", "--no-webui", "--cors-origins", cors_origins,
            # named, not "*": a wildcard does not cover Authorization in the Fetch standard
            "--cors-headers", "authorization,content-type,accept"]
    if threads:
        args += ["-t", str(threads)]
    if api_key:
        args += ["--api-key", api_key]
    if embeddings:
        args += ["--embeddings"]
    args += ["--alias", alias or Path(model).name.removesuffix(".gguf")]
    if chat_template_file:
        args += ["--chat-template-file", str(chat_template_file)]
    return args


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 120.0) -> None:
    """Wait for ``GET /health`` to answer 200 (the model is loaded); fail if the process ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"llama-server exited with status {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"llama-server at {url} was not ready within {timeout:g} s")


def find_binary(given: str | None) -> str:
    """The llama-server to run: ``given``, ``$LLAMA_SERVER``, or the one on ``PATH``."""
    path = given or os.environ.get("LLAMA_SERVER") or shutil.which("llama-server")
    if not path:
        raise FileNotFoundError("no llama-server found: pass --llama-server PATH, set LLAMA_SERVER, or put "
                                "llama.cpp's llama-server on PATH (in this repository: make serve-model MODEL=...)")
    return path


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_model(model: Path, *, port: int, binary: str | None, **options: object) -> int:
    """Run llama-server in the foreground until Ctrl-C or SIGTERM; print the line that connects to it.

    Why SIGTERM as well: ``kill PID``, a service manager or a container stop ends the
    command with it, and Python's default would exit at once and leave llama-server
    running on the port. Either signal stops the server (SIGINT, then SIGKILL after
    10 s) and the command exits 0. A SIGINT that was ignored when the command started
    (a background job of a non-interactive shell, ``nohup``) stays ignored, as Unix
    programs do.
    """
    if not model.is_file():
        print(f"pyodide_llm serve-model: {model} is not a file", file=sys.stderr)
        return 2
    try:
        program = find_binary(binary)
    except FileNotFoundError as e:
        print(f"pyodide_llm serve-model: {e}", file=sys.stderr)
        return 2
    host = "127.0.0.1"
    argv = [program, *server_args(model, port=port, host=host, **options)]  # type: ignore[arg-type]
    # Before the server starts: a SIGTERM from then on stops it too (children get the default).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        proc = subprocess.Popen(argv)
    except OSError as e:  # not there, not executable, not a program
        signal.signal(signal.SIGTERM, previous)
        print(f"pyodide_llm serve-model: cannot run {program}: {e.strerror or e}; pass llama.cpp's "
              "llama-server with --llama-server PATH", file=sys.stderr)
        return 2
    url = f"http://{host}:{port}"
    try:
        wait_healthy(url, proc)
        print(f"serving {model.name} at {url}; in a notebook on this machine:\n"
              f"    llm = await LLM.connect({url!r})", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, TimeoutError) as e:
        print(f"pyodide_llm serve-model: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
