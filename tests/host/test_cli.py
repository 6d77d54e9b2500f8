"""``python -m pyodide_llm serve`` and ``bundle`` on the host: headers, MIME types, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyodide_llm", *args], cwd=ROOT, capture_output=True, text=True)


def test_serve_sends_isolation_headers_mime_types_and_ranges(tmp_path) -> None:
    (tmp_path / "a.mjs").write_text("export const x = 1;\n")
    (tmp_path / "m.gguf").write_bytes(b"GGUF" + bytes(100))
    for isolated in (True, False):
        args = [sys.executable, "-m", "pyodide_llm", "serve", str(tmp_path), "--port", "0"]
        proc = subprocess.Popen(args + ([] if isolated else ["--no-isolation"]), cwd=ROOT, stdout=subprocess.PIPE,
                                text=True)
        try:
            line = proc.stdout.readline()  # "serving DIR at http://127.0.0.1:PORT/ (...)"
            url = line.split(" at ")[1].split()[0]
            assert url.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(url + "a.mjs") as r:
                assert r.headers["Content-Type"] == "text/javascript"
                assert (r.headers["Cross-Origin-Embedder-Policy"] == "require-corp") is isolated
                assert (r.headers["Cross-Origin-Opener-Policy"] == "same-origin") is isolated
            req = urllib.request.Request(url + "m.gguf", headers={"Range": "bytes=0-3"})
            with urllib.request.urlopen(req) as r:
                assert r.status == 206 and r.read() == b"GGUF"
        finally:
            os.kill(proc.pid, signal.SIGTERM)  # by PID; SIGINT is ignored in background jobs
            proc.wait(timeout=10)


def test_serve_refuses_a_missing_folder(tmp_path) -> None:
    r = cli("serve", str(tmp_path / "nope"))
    assert r.returncode != 0 and "bundle" in r.stderr


def test_bundle_refuses_bad_inputs_with_a_hint(tmp_path) -> None:
    out = str(tmp_path / "out")
    r = cli("bundle", out, "--pyodide", str(tmp_path))
    assert r.returncode == 2 and "not a Pyodide distribution" in r.stderr
    r = cli("bundle", out, "--pyodide", str(tmp_path), "--example", "nope")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    fake = tmp_path / "pyodide"
    fake.mkdir()
    for name in ("pyodide.mjs", "pyodide.asm.wasm", "python_stdlib.zip"):
        (fake / name).write_text("")
    (fake / "pyodide-lock.json").write_text('{"packages": {}}')
    r = cli("bundle", out, "--pyodide", str(fake))
    assert r.returncode == 2 and "micropip" in r.stderr
    (fake / "micropip-0.11.1-py3-none-any.whl").write_text("")
    (fake / "pyodide-lock.json").write_text(
        '{"packages": {"micropip": {"file_name": "micropip-0.11.1-py3-none-any.whl"}}}')
    r = cli("bundle", out, "--pyodide", str(fake))
    assert r.returncode == 2 and "--pyscript" in r.stderr
    r = cli("bundle", out, "--pyodide", str(fake), "--pyscript", str(tmp_path), "--example", "chat")
    assert r.returncode == 2 and "core.js" in r.stderr
