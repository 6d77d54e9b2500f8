"""The release build (``python3 -m recipes.build release``): sdist, wheel from it, twine check.

It runs the real recipe (``python -m build`` + ``twine check --strict``, about 15 s) on a
copy of the tree with stand-in engines and licence texts, so it needs no wasm build; the
built wheel and its install by name are tested in tests/browser/test_install_by_name.py.
"""

from __future__ import annotations

import email
import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

import pyodide_llm
from pyodide_llm._variants import VARIANTS
from recipes.build import copy_engine_licenses
from recipes.errors import RecipeError
from recipes.release import STAGED, build_release, check_sdist
from recipes.variants import ENGINE_LICENSES
from recipes.wheel import LICENSE_FILES

ROOT = Path(__file__).resolve().parents[2]
HOME = "https://github.com/pyodide-llm/pyodide-llm"  # the intended home (pyproject.toml's [project.urls])


def engine(variant: str, ext: str) -> bytes:
    return b"\0asm" + variant.encode() if ext == "wasm" else f"// {variant}\n".encode()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(tree, sdist, wheel): the release of a copy of the tree whose engines are stand-ins."""
    tree = tmp_path_factory.mktemp("tree")
    for name in STAGED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("_wasm", "__pycache__"))
        else:
            shutil.copy2(ROOT / name, tree / name)
    wasm = tree / "pyodide_llm" / "_wasm"
    for v in VARIANTS:
        (wasm / v).mkdir(parents=True)
        for ext in ("mjs", "wasm"):
            (wasm / v / f"plm-engine.{ext}").write_bytes(engine(v, ext))
    (wasm / "manifest.json").write_text("{}\n")  # the recipe's build record: never shipped
    for name in ENGINE_LICENSES:
        (wasm / name).write_text(f"stand-in {name}\n")
    sdist, wheel = build_release(tree / "dist" / "release", root=tree, log=lambda msg: None)
    return tree, sdist, wheel


def test_the_wheel_rebuilt_from_the_sdist_carries_every_engine_and_licence(release) -> None:
    tree, sdist, wheel = release
    version = pyodide_llm.__version__
    assert (sdist.name, wheel.name) == (f"pyodide_llm-{version}.tar.gz", f"pyodide_llm-{version}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        for v in VARIANTS:
            for ext in ("mjs", "wasm"):
                assert zf.read(f"pyodide_llm/_wasm/{v}/plm-engine.{ext}") == engine(v, ext)
        for name in LICENSE_FILES:  # as package data and in .dist-info/licenses/ (PEP 639)
            assert zf.read(name) == zf.read(f"pyodide_llm-{version}.dist-info/licenses/{name}")
            assert zf.read(name) == (tree / name).read_bytes()
        assert not any(n.endswith("manifest.json") for n in zf.namelist())
    assert not list(tree.glob("*.egg-info")) and not (tree / "build").exists(), "build leftovers in the tree"


def test_the_metadata_is_complete(release) -> None:
    _, _, wheel = release
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(zf.read(name))
    assert meta["Metadata-Version"] == "2.4" and meta["Name"] == "pyodide-llm"
    assert meta["Version"] == pyodide_llm.__version__
    assert meta["License-Expression"] == "MIT" and sorted(meta.get_all("License-File")) == sorted(LICENSE_FILES)
    assert meta["Requires-Python"] == ">=3.11"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Source", "Issues", "Documentation"}
    assert all(u.startswith(HOME) for u in urls.values()), urls
    classifiers = set(meta.get_all("Classifier"))
    assert {"Framework :: Pyodide", "Typing :: Typed", "Topic :: Scientific/Engineering :: Artificial Intelligence",
            "Programming Language :: Python :: 3.12", "Programming Language :: Python :: 3.13",
            "Programming Language :: Python :: 3.14", "Operating System :: OS Independent"} <= classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert any(c.startswith("Intended Audience ::") for c in classifiers)
    assert "pyodide" in meta["Keywords"].split(",")
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().strip() == (ROOT / "README.md").read_text().strip()


def test_an_sdist_without_an_engine_is_refused(tmp_path) -> None:
    sdist = tmp_path / "pyodide_llm-0.0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for name in ("PKG-INFO", "pyproject.toml", "README.md", *LICENSE_FILES):
            info = tarfile.TarInfo(f"pyodide_llm-0.0.1/{name}")
            tf.addfile(info, io.BytesIO())
    with pytest.raises(RecipeError, match=r"lacks .*plm-engine\.wasm") as e:
        check_sdist(sdist)
    assert "package-data" in e.value.fix


def test_a_llama_cpp_tree_without_its_licences_is_refused(tmp_path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(RecipeError, match="has no LICENSE, licenses/LICENSE-jsonhpp") as e:
        copy_engine_licenses(tmp_path / "src", tmp_path / "dest")
    assert "ENGINE_LICENSES" in e.value.fix
