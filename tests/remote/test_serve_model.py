"""``python -m pyodide_llm serve-model``: the user's command, end to end, and its refusals.

The binary is the recipes' llama-server; it runs in the toolchain root, so the
test hands the command a small launcher as ``--llama-server`` (what a user's own
llama-server on PATH would be).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from llama_servers import ROOT, smollm2

import pyodide_llm as p
from recipes.llama_server import LlamaServer, free_port

LAUNCHER = """#!{python}
import os, shlex, sys
sys.path.insert(0, {root!r})
from recipes.pins import load_pins
from recipes.toolchain import ensure_toolchain
argv = ensure_toolchain(load_pins(), lambda m: None).argv(
    "exec " + " ".join(shlex.quote(a) for a in [{binary!r}, *sys.argv[1:]]))
os.execvp(argv[0], argv)
"""


def _as_from_a_terminal() -> None:
    # A shell's background job (how a CI often runs) starts with SIGINT ignored, and a
    # Python started so keeps ignoring it; at a terminal Ctrl-C reaches the command.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pyodide_llm", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_as_from_a_terminal, **kw)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_serve_model_serves_and_stops_on_a_signal(tmp_path, stop: signal.Signals) -> None:
    launcher = tmp_path / "llama-server"
    binary = LlamaServer(smollm2()).binary  # built (or found in the cache) by the recipes
    launcher.write_text(LAUNCHER.format(python=sys.executable, root=str(ROOT), binary=str(binary)))
    launcher.chmod(0o755)
    port = free_port()
    proc = cli("serve-model", str(smollm2()), "--port", str(port), "--threads", "1", "--llama-server", str(launcher))
    # llama-server logs to the command's stderr: drained as it comes, so a full pipe can
    # never block the server (and with it the shutdown this test waits for).
    log: list[str] = []
    drain = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
    drain.start()
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving SmolLM2") and f"127.0.0.1:{port}" in line, (line, "".join(log[-40:]))
        assert f"LLM.connect('http://127.0.0.1:{port}')" in proc.stdout.readline()

        async def ask():
            async with await p.LLM.connect(f"http://127.0.0.1:{port}") as llm:
                return llm.info.model, await llm.complete("1, 2, 3,", max_tokens=3, temperature=0).text()

        name, text = asyncio.run(ask())
        assert name == "SmolLM2-135M-Instruct.Q4_1" and text.strip()
    finally:
        proc.send_signal(stop)
        try:
            status = proc.wait(60)  # a hang guard: the command gives llama-server 10 s, then kills it
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"serve-model did not stop on {stop.name}:\n" + "".join(log[-40:])) from None
        assert status == 0, "".join(log[-40:])
    with pytest.raises(p.RemoteConnectionError):  # the server went with the command
        asyncio.run(p.LLM.connect(f"http://127.0.0.1:{port}"))


def test_serve_model_refuses_a_missing_model_or_binary(tmp_path) -> None:
    r = cli("serve-model", str(tmp_path / "nope.gguf"), "--llama-server", "/bin/true")
    assert r.wait(30) == 2 and "is not a file" in r.stderr.read()
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    env = {k: v for k, v in os.environ.items() if k != "LLAMA_SERVER"}
    env["PATH"] = str(tmp_path)  # no llama-server on it
    r = cli("serve-model", str(model), env=env)
    assert r.wait(30) == 2 and "no llama-server found" in r.stderr.read()
    for bad, why in ((tmp_path / "missing", "No such file"), (model, "Permission denied")):
        r = cli("serve-model", str(model), "--llama-server", str(bad))
        err = r.stderr.read()
        assert r.wait(30) == 2 and f"cannot run {bad}: {why}" in err and "Traceback" not in err, err
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    r = cli("serve-model", str(model), "--port", str(free_port()), "--llama-server", str(broken))
    assert r.wait(30) == 1 and "exited with status 3" in r.stderr.read()


def test_the_arguments_keep_the_server_local() -> None:
    from pyodide_llm._host.llama_server import server_args

    args = server_args(Path("/m/x.gguf"), port=9, api_key="k", embeddings=True)
    pairs = dict(zip(args[::2], args[1::2], strict=False))
    assert pairs["--host"] == "127.0.0.1" and "--cors-origins" in args and "localhost" in args
    assert args[args.index("--alias") + 1] == "x" and args[args.index("--api-key") + 1] == "k"
    assert "--embeddings" in args and "--jinja" in args and "--metrics" in args
