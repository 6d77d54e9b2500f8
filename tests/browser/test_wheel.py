"""The wheel `make wheel` built: pure, and exactly the files it should hold."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from pyodide_llm._variants import VARIANTS
from recipes.errors import RecipeError
from recipes.wheel import check_wheel, expected_members

ROOT = Path(__file__).resolve().parents[2]


def built_wheel() -> Path:
    wheels = sorted((ROOT / "dist").glob("pyodide_llm-*.whl"))
    assert len(wheels) == 1, f"expected exactly one wheel in dist/, found {wheels}"
    return wheels[0]


def test_wheel_is_pure_and_holds_code_shim_and_every_engine() -> None:
    whl = built_wheel()
    assert whl.name.endswith("-py3-none-any.whl")
    check_wheel(whl)
    with zipfile.ZipFile(whl) as zf:
        names = set(zf.namelist())
        sizes = {i.filename: i.file_size for i in zf.infolist()}
    assert len(VARIANTS) == 5
    for v in VARIANTS:
        assert sizes[f"pyodide_llm/_wasm/{v}/plm-engine.wasm"] > 1_000_000
    assert not any(n.endswith((".pyc", ".map", ".o", ".a", ".log", "manifest.json")) for n in names)
    assert "pyodide_llm/_browser/engine.py" in names and "pyodide_llm/js/worker.mjs" in names


def test_wheel_check_refuses_leftovers_and_missing_files(tmp_path) -> None:
    whl = built_wheel()
    extra = tmp_path / whl.name
    shutil.copy2(whl, extra)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("pyodide_llm/_wasm/wasm64-mt/build.log", "leftover")
    with pytest.raises(RecipeError, match="unexpected"):
        check_wheel(extra)
    missing = tmp_path / "missing" / whl.name
    missing.parent.mkdir()
    with zipfile.ZipFile(whl) as src, zipfile.ZipFile(missing, "w") as dst:
        for item in src.infolist():
            if not item.filename.endswith("wasm32-st/plm-engine.wasm"):
                dst.writestr(item, src.read(item.filename))
    with pytest.raises(RecipeError, match="missing"):
        check_wheel(missing)
    assert "pyodide_llm/_wasm/wasm32-st/plm-engine.wasm" in expected_members()


def test_wheel_check_refuses_a_worker_of_another_protocol_version(tmp_path) -> None:
    whl = built_wheel()
    other = tmp_path / whl.name
    with zipfile.ZipFile(whl) as src, zipfile.ZipFile(other, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "pyodide_llm/js/worker.mjs":
                data = data.replace(b"export const PROTOCOL_VERSION = ", b"export const PROTOCOL_VERSION = 9")
            dst.writestr(item, data)
    with pytest.raises(RecipeError, match="speaks protocol"):
        check_wheel(other)
