"""Build the pure wheel (``py3-none-any``) and check exactly what it holds."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pyodide_llm._variants import VARIANTS  # the one list of variants

from .errors import RecipeError
from .pins import REPO
from .variants import ENGINE_LICENSES

# The licence files (pyproject.toml's license-files): ours, and those of the source compiled
# into the engines. Each ships twice: as package data (the engines' beside them) and in the
# wheel's .dist-info/licenses/ (PEP 639), where tools look for them.
LICENSE_FILES = {"pyodide_llm/LICENSE", *(f"pyodide_llm/_wasm/{name}" for name in ENGINE_LICENSES)}


def expected_members(root: Path = REPO) -> set[str]:
    """Files the wheel built from ``root`` must contain besides its .dist-info: code, shim, engines, licences."""
    pkg = root / "pyodide_llm"
    files = {f"pyodide_llm/{p.name}" for p in pkg.glob("*.py")} | {"pyodide_llm/protocol.json", "pyodide_llm/py.typed"}
    for sub in ("_host", "_browser", "_remote"):
        files |= {f"pyodide_llm/{sub}/{p.name}" for p in (pkg / sub).glob("*.py")}
    for example in ("pyscript", "data-app"):  # the pages `python -m pyodide_llm bundle` writes
        files |= {f"pyodide_llm/_examples/{example}/{p.name}" for p in (root / "examples" / example).iterdir()
                  if p.suffix in (".html", ".py", ".csv")}
    files |= {f"pyodide_llm/_host/benchpage/{p.name}" for p in (pkg / "_host" / "benchpage").iterdir()
              if p.suffix in (".html", ".mjs")}  # the page `python -m pyodide_llm bench-page` writes
    files |= {f"pyodide_llm/js/{p.name}" for p in (pkg / "js").iterdir() if p.suffix in (".mjs", ".js")}
    files |= {f"pyodide_llm/_wasm/{v}/plm-engine.{ext}" for v in VARIANTS for ext in ("mjs", "wasm")}
    return files | LICENSE_FILES


def check_wheel(whl: Path, root: Path = REPO) -> None:
    """Refuse a wheel with missing files, build leftovers or licences, or whose worker speaks another protocol."""
    with zipfile.ZipFile(whl) as zf:
        names = {n for n in zf.namelist() if ".dist-info/" not in n}
        want = expected_members(root)
        missing, extra = want - names, names - want
        if missing or extra:
            raise RecipeError(f"{whl.name}: missing {sorted(missing)}; unexpected {sorted(extra)}",
                              "run `make wasm` first; keep build leftovers out of pyodide_llm/")
        licenses = {n.partition(".dist-info/licenses/")[2] for n in zf.namelist() if ".dist-info/licenses/" in n}
        if licenses != LICENSE_FILES:
            raise RecipeError(f"{whl.name}: .dist-info/licenses/ holds {sorted(licenses)}, not {sorted(LICENSE_FILES)}",
                              "keep pyproject.toml's license-files in step with recipes/wheel.py's LICENSE_FILES")
        table = json.loads(zf.read("pyodide_llm/protocol.json"))["version"]
        worker = re.findall(r"^export const PROTOCOL_VERSION = (\d+);$", zf.read("pyodide_llm/js/worker.mjs").decode(),
                            re.M)
    if worker != [str(table)]:
        raise RecipeError(f"{whl.name}: js/worker.mjs speaks protocol {worker or '?'}, protocol.json is {table}",
                          "bump PROTOCOL_VERSION in pyodide_llm/js/worker.mjs with the table's version")


def build_wheel(log=print) -> Path:
    """Build dist/pyodide_llm-*.whl from the working tree (after `make wasm`)."""
    dist = REPO / "dist"
    dist.mkdir(exist_ok=True)
    for old in dist.glob("pyodide_llm-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                            "-w", tmp, str(REPO)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RecipeError(f"building the wheel failed:\n{(r.stdout + r.stderr)[-1500:]}",
                              "check pyproject.toml and that setuptools can be installed")
        built = list(Path(tmp).glob("pyodide_llm-*-py3-none-any.whl"))
        if len(built) != 1:
            raise RecipeError(f"expected one py3-none-any wheel, got {[p.name for p in Path(tmp).iterdir()]}",
                              "the package must stay pure Python with package data")
        check_wheel(built[0])
        out = dist / built[0].name
        shutil.move(str(built[0]), out)
    shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools' scratch tree
    for egg in REPO.glob("*.egg-info"):
        shutil.rmtree(egg, ignore_errors=True)
    log(f"wheel: {out.relative_to(REPO)} ({out.stat().st_size:,} bytes)")
    return out
