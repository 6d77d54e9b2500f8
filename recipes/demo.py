"""``make demo``: serve the demo page and stream its chat answer to the terminal.

Builds what is missing (engines, wheel, offline Pyodide, model), serves a site
on 127.0.0.1 with COOP/COEP, opens it in headless Chromium, prints the answer as
it streams into the page, then keeps serving so the URL can be opened in a real
browser (Ctrl-C stops; ``--no-wait`` exits at once).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pyodide_llm._host.serve import StaticServer

from .build import cmd_wasm, log
from .pins import REPO, load_pins
from .pyodide_dist import pyodide_dist
from .source import model_file
from .wheel import build_wheel

QUESTION = "Explain WebAssembly in two sentences."


def make_site(root: Path, wheel: Path, model: Path, dist: Path) -> None:
    (root / "wheels").mkdir(parents=True)
    (root / "models").mkdir()
    os.symlink(dist, root / "pyodide")
    os.symlink(model, root / "models" / model.name)
    shutil.copy2(wheel, root / "wheels" / wheel.name)
    shutil.copy2(REPO / "examples" / "demo" / "index.html", root / "index.html")
    (root / "demo.json").write_text(json.dumps({"wheel": f"./wheels/{wheel.name}",
                                                "model": f"./models/{model.name}", "question": QUESTION}))


def stream_in_chromium(url: str, timeout: float = 600) -> int:
    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from conftest import _driver  # the same Chromium set-up as the browser tests

    driver = _driver()
    try:
        driver.get(url)
        shown, t0 = "", time.monotonic()
        while time.monotonic() - t0 < timeout:
            text = driver.execute_script("return document.getElementById('answer').textContent")
            if text != shown:
                print(text[len(shown):], end="", flush=True)
                shown = text
            done = driver.execute_script("return document.getElementById('status').dataset.done || ''")
            if done:
                status = driver.execute_script("return document.getElementById('status').textContent")
                print(f"\n\n[{status}]")
                return 0 if done == "1" else 1
            time.sleep(0.05)
        print("\n[demo] timed out waiting for the answer", file=sys.stderr)
        return 1
    finally:
        driver.quit()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-wait", action="store_true", help="exit after the headless run")
    args = ap.parse_args()
    pins = load_pins()
    cmd_wasm([])
    wheel = build_wheel(log)
    dist, model = pyodide_dist(pins, log), model_file(pins, "smollm2", log)
    with tempfile.TemporaryDirectory(prefix="pyodide_llm-demo-") as tmp:
        make_site(Path(tmp), wheel, model, dist)
        server = StaticServer(Path(tmp), isolated=True)
        try:
            print(f"\n[demo] {QUESTION}\n")
            rc = stream_in_chromium(server.url + "/index.html")
            if args.no_wait or rc != 0:
                return rc
            print(f"[demo] open {server.url}/ in a browser to run it yourself (Ctrl-C stops the server)")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
