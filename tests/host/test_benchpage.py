"""``python -m pyodide_llm bench-page OUT``: the folder it writes, and what it refuses.

The command runs from a copy of the package with stand-in engine files, so these
tests need no wasm build; the page itself runs in Chromium in
``tests/browser/test_benchpage.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "pyodide_llm"
CPU, GPU = "wasm64-mt", "wasm64-webgpu"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A copy of the package without its engines (each test adds the ones it wants)."""
    shutil.copytree(PKG, tmp_path / "src" / "pyodide_llm", ignore=shutil.ignore_patterns("_wasm", "__pycache__"))
    return tmp_path / "src"


def add_engine(src: Path, variant: str) -> None:
    d = src / "pyodide_llm" / "_wasm" / variant
    d.mkdir(parents=True)
    (d / "plm-engine.mjs").write_text(f"// {variant}\n")
    (d / "plm-engine.wasm").write_bytes(b"\0asm" + variant.encode())


def bench_page(src: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, importing the copy in ``src`` (the current folder comes first on sys.path)."""
    return subprocess.run([sys.executable, "-m", "pyodide_llm", "bench-page", *args], cwd=src, capture_output=True,
                          text=True)


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_writes_the_page_the_js_client_the_protocol_and_both_engines(src: Path, tmp_path: Path) -> None:
    add_engine(src, CPU)
    add_engine(src, GPU)
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    out = tmp_path / "out"
    r = bench_page(src, str(out), "--model", str(model))
    assert r.returncode == 0, r.stderr
    assert f"python -m pyodide_llm serve {out}" in r.stdout
    js = {f"pyodide_llm/js/{p.name}" for p in (PKG / "js").glob("*.mjs")}
    engines = {f"pyodide_llm/_wasm/{v}/plm-engine.{e}" for v in (CPU, GPU) for e in ("mjs", "wasm")}
    assert files(out) == {"index.html", "bench.mjs", "bench.json", "pyodide_llm/protocol.json", *js, *engines,
                          "models/tiny.gguf", "_headers", "vercel.json", ".htaccess"}
    for name in js | {"pyodide_llm/protocol.json"}:
        assert (out / name).read_bytes() == (ROOT / name).read_bytes(), name
    assert (out / f"pyodide_llm/_wasm/{GPU}/plm-engine.wasm").read_bytes() == b"\0asm" + GPU.encode()
    config = json.loads((out / "bench.json").read_text())
    assert config["cpu"] == {"variant": CPU, "requires": ["memory64", "relaxed_simd", "threads"]}
    assert config["gpu"] == {"variant": GPU, "requires": ["memory64", "relaxed_simd", "jspi", "threads"]}
    assert config["model"] == "./models/tiny.gguf" and config["max_auto_threads"] >= 1
    assert "Cross-Origin-Embedder-Policy: require-corp" in (out / "_headers").read_text()


def test_the_page_needs_nothing_from_outside_its_folder(src: Path, tmp_path: Path) -> None:
    """Every module the page imports is in OUT, and no file of the page names another host."""
    add_engine(src, CPU)
    add_engine(src, GPU)
    out = tmp_path / "out"
    assert bench_page(src, str(out)).returncode == 0
    for page in ("index.html", "bench.mjs"):
        text = (out / page).read_text()
        assert not re.search(r"https?://", text), f"{page} names an external URL"
        imports = re.findall(r"""(?:from|import\()\s*["']([^"']+)["']""", text)
        assert imports, f"{page}: no import found (has the pattern gone stale?)"
        for spec in imports:
            assert (out / spec).is_file(), f"{page} imports {spec}, which bench-page does not write"
    shim = re.findall(r"""at\("([^"$]+)"\)""", (out / "bench.mjs").read_text())  # engineFiles(): the worker's
    assert len(shim) == 4, shim
    for rel in shim:
        assert (out / "pyodide_llm" / rel).is_file(), rel


def test_without_the_webgpu_engine_the_page_says_so_and_keeps_the_cpu(src: Path, tmp_path: Path) -> None:
    add_engine(src, CPU)
    out = tmp_path / "out"
    r = bench_page(src, str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "bench.json").read_text())["gpu"] is None
    assert not (out / "pyodide_llm" / "_wasm" / GPU).exists()


def test_refuses_a_package_without_the_cpu_engine_a_missing_model_and_a_full_folder(src: Path,
                                                                                   tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = bench_page(src, str(out))
    assert r.returncode == 2 and CPU in r.stderr and "make wasm" in r.stderr
    assert not out.exists()
    add_engine(src, CPU)
    r = bench_page(src, str(out), "--model", str(tmp_path / "nope.gguf"))
    assert r.returncode == 2 and "no such file" in r.stderr
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = bench_page(src, str(out))
    assert r.returncode == 2 and "--force" in r.stderr and (out / "keep.txt").exists()
    assert bench_page(src, str(out), "--force").returncode == 0
    assert not (out / "keep.txt").exists() and (out / "index.html").is_file()


def test_the_wheel_ships_the_page() -> None:
    from recipes.wheel import expected_members

    page = {f"pyodide_llm/_host/benchpage/{p.name}" for p in (PKG / "_host" / "benchpage").iterdir()}
    assert page == {"pyodide_llm/_host/benchpage/index.html", "pyodide_llm/_host/benchpage/bench.mjs"}
    assert page <= expected_members()
