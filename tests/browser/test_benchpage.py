"""The page of ``python -m pyodide_llm bench-page`` in headless Chromium (no GPU here).

The page is written by the command of the built wheel (unpacked and run as is, so a
page file or engine missing from the wheel fails here), with SmolLM2 shipped next to
it, and served cross-origin isolated. Headless Chromium offers no WebGPU adapter, so
the CPU run must fill its row with real figures and the WebGPU row must say why it
was skipped; the record behind "Copy results as JSON" must hold both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, _driver, poll
from pyodide_llm._host.serve import StaticServer

N_CTX, PROMPT_TOKENS, MAX_TOKENS = 512, 64, 16


@pytest.fixture(scope="module")
def bench_site(tmp_path_factory) -> Path:
    from recipes.build import log
    from recipes.pins import load_pins
    from recipes.source import model_file

    wheels = sorted((ROOT / "dist").glob("pyodide_llm-*-py3-none-any.whl"))
    if not wheels:
        pytest.fail("no wheel in dist/: run `make wheel` (make test does)")
    tmp = tmp_path_factory.mktemp("benchpage")
    with zipfile.ZipFile(wheels[-1]) as zf:
        zf.extractall(tmp / "wheel")
    model = model_file(load_pins(), "smollm2", log)
    out = tmp / "page"
    r = subprocess.run([sys.executable, "-m", "pyodide_llm", "bench-page", str(out), "--model", str(model)],
                       cwd=tmp / "wheel", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def finished(bench_site):
    """The page after a run started by its query string: (driver, the record it offers to copy)."""
    server = StaticServer(bench_site, isolated=True)
    driver = _driver()
    try:
        driver.get(f"{server.url}/index.html?n_ctx={N_CTX}&prompt_tokens={PROMPT_TOKENS}&max_tokens={MAX_TOKENS}"
                   "&threads=2&run=1")
        state = poll("the benchmark page to finish", lambda: driver.execute_script(
            "const s = document.body.dataset.state; return s === 'done' || s === 'failed' ? s : null"), 300,
            lambda: f"status: {text(driver, 'status')}\nconsole: {driver.get_log('browser')[-20:]}")
        assert state == "done", f"status: {text(driver, 'status')}\nconsole: {driver.get_log('browser')[-20:]}"
        record = json.loads(driver.execute_script("return document.getElementById('results-json').value"))
        yield driver, record
    finally:
        driver.quit()
        server.stop()


def text(driver, element_id: str) -> str:
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def test_the_cpu_row_fills_in_with_positive_rates(finished) -> None:
    driver, record = finished
    cpu = record["runs"][0]
    assert cpu["status"] == "done" and cpu["variant"] == "wasm64-mt", cpu
    assert cpu["backend"] == "cpu" and cpu["n_gpu_layers"] == 0, cpu
    assert cpu["prefill_tok_s"] > 0 and cpu["decode_tok_s"] > 0 and cpu["load_ms"] > 0, cpu
    assert cpu["n_generated"] == MAX_TOKENS and abs(cpu["n_prompt"] - PROMPT_TOKENS) <= 4, cpu
    for cell in ("cpu-prefill_tok_s", "cpu-decode_tok_s", "cpu-load_ms"):
        assert float(text(driver, cell)) > 0, cell
    assert text(driver, "cpu-status") == "done" and text(driver, "cpu-variant") == "wasm64-mt"


def test_the_webgpu_row_says_why_it_was_skipped(finished) -> None:
    driver, record = finished
    gpu = record["runs"][1]
    assert gpu["variant"] == "wasm64-webgpu" and gpu["status"] == "skipped", gpu
    assert "no adapter" in gpu["reason"], gpu
    assert gpu["reason"] == record["capabilities"]["webgpu"]["reason"]
    assert text(driver, "gpu-status").startswith("skipped: no adapter")
    assert text(driver, "gpu-variant") == "wasm64-webgpu"
    assert "not usable" in text(driver, "webgpu-summary")


def test_the_record_says_what_ran_and_the_copy_button_answers(finished) -> None:
    driver, record = finished
    assert record["tool"] == "pyodide_llm bench-page" and record["version"]
    assert record["settings"]["n_ctx"] == N_CTX and record["settings"]["threads"] == 2
    # No ?model=: the model bench-page shipped (bench.json) is the form's default.
    assert "/models/" in record["model"]["url"] and record["model"]["bytes"] > 0
    assert record["download_ms"] is not None
    assert record["capabilities"]["cross_origin_isolated"] is True
    driver.execute_script("document.getElementById('copy').click()")
    status = poll("the copy button's answer", lambda: text(driver, "copy-status"), 10)
    assert "cop" in status, status  # "copied", or the fallback that asks to copy the selected text by hand
