"""The files a release uploads: ``python3 -m recipes.build release [OUT]`` (default ``dist/release/``).

Steps, each checked:

1. Stage what setuptools packages (pyproject.toml, README.md, ``pyodide_llm/``,
   ``examples/``) in a scratch folder, so no ``*.egg-info`` or ``build/`` lands in
   the working tree, and no stale ``SOURCES.txt`` from an earlier build can add
   files to the sdist (setuptools reads an existing one).
2. ``python -m build``: the sdist, then the wheel built *from that sdist*, as pip
   and Pyodide's builders do. The engines are package data, which setuptools also
   puts in the sdist, so a wheel that passes :func:`recipes.wheel.check_wheel`
   proves the sdist rebuilds it whole. The backend is the one ``[release]`` in
   emscripten.toml pins (a pip constraint on the isolated build environment).
3. ``twine check --strict`` on both files: the metadata PyPI would accept and a
   long description it renders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from pyodide_llm._variants import VARIANTS

from .errors import RecipeError
from .pins import REPO, load_pins
from .wheel import LICENSE_FILES, check_wheel

# What setuptools reads to make the sdist (pyproject.toml's package-dir maps examples/).
STAGED = ("pyproject.toml", "README.md", "pyodide_llm", "examples")
TOOLS_FIX = f"install the pinned build tools: {sys.executable} -m pip install -r tests/requirements.txt"


def _run(cmd: list[str], what: str, fix: str, **kw) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RecipeError(f"{what} failed (exit {r.returncode}):\n{(r.stdout + r.stderr)[-2000:]}", fix)
    return r.stdout


def stage(root: Path, dest: Path) -> Path:
    """Copy the packaged inputs of ``root`` into ``dest`` (without bytecode caches); ``dest``."""
    dest.mkdir(parents=True)
    for name in STAGED:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def check_sdist(sdist: Path) -> None:
    """The sdist carries every engine and licence (the wheel built from it is checked too)."""
    with tarfile.open(sdist) as tf:
        names = {m.name.partition("/")[2] for m in tf.getmembers()}
    want = {f"pyodide_llm/_wasm/{v}/plm-engine.{ext}" for v in VARIANTS for ext in ("mjs", "wasm")}
    want |= LICENSE_FILES | {"PKG-INFO", "pyproject.toml", "README.md"}
    if missing := sorted(want - names):
        raise RecipeError(f"{sdist.name} lacks {missing}",
                          "list them in pyproject.toml's [tool.setuptools.package-data] (the sdist's file list)")


def engine_sizes(whl: Path) -> dict[str, tuple[int, int]]:
    """Each variant's engine files in the wheel: (bytes, compressed bytes)."""
    sizes = {}
    with zipfile.ZipFile(whl) as zf:
        for v in VARIANTS:
            infos = [zf.getinfo(f"pyodide_llm/_wasm/{v}/plm-engine.{ext}") for ext in ("mjs", "wasm")]
            sizes[v] = (sum(i.file_size for i in infos), sum(i.compress_size for i in infos))
    return sizes


def build_release(out: Path, root: Path = REPO, log=print) -> tuple[Path, Path]:
    """Build and check the sdist and wheel of ``root`` into ``out``; (sdist, wheel)."""
    _run([sys.executable, "-m", "build", "--version"], "python -m build", TOOLS_FIX)
    _run([sys.executable, "-m", "twine", "--version"], "twine", TOOLS_FIX)
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("pyodide_llm-*.whl"), *out.glob("pyodide_llm-*.tar.gz")]:
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        src = stage(root, Path(tmp) / "src")
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(load_pins()["release"]["backend_constraints"]) + "\n")
        _run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], "python -m build",
             "read the build log above; check pyproject.toml and that pip can reach the configured package index",
             env=dict(os.environ, PIP_CONSTRAINT=str(constraints)))
    sdists, wheels = sorted(out.glob("pyodide_llm-*.tar.gz")), sorted(out.glob("pyodide_llm-*-py3-none-any.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise RecipeError(f"expected one sdist and one py3-none-any wheel in {out}, got {sorted(os.listdir(out))}",
                          "the package must stay pure Python with package data")
    [sdist], [wheel] = sdists, wheels
    check_sdist(sdist)
    check_wheel(wheel, root)
    _run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)], "twine check --strict",
         "fix the metadata in pyproject.toml (or README.md's markup) that twine names")
    for f in (sdist, wheel):
        log(f"release: {f.relative_to(REPO) if REPO in f.parents else f} ({f.stat().st_size:,} bytes)")
    for v, (size, packed) in engine_sizes(wheel).items():
        log(f"release: {v:14s} engine {size:10,d} bytes, {packed:10,d} compressed in the wheel")
    log("release: twine check --strict passed; upload with `python -m twine upload` the two files above")
    return sdist, wheel
