"""``python -m pyodide_llm bundle OUT``: a self-contained static site of one example.

Why: a page that loads Pyodide, PyScript or the model from a CDN is neither
offline nor private. The bundle holds everything (Pyodide core, PyScript when
the example uses it, our wheel, the example page, optionally the model) and the
header files common static hosts read to send COOP/COEP (threads need
cross-origin isolation), so any static file server can serve it.

Layout of OUT::

    index.html, main.py, ...   the example's own files
    site.json                  {"wheel": ..., "model": ..., "embed_model": ...} read by the page
    pyscript.json              PyScript's config (interpreter + our wheel), PyScript examples only
    pyodide/  pyscript/  wheels/  models/
    pyodide_llm/js/  pyodide_llm/_wasm/   the wheel's JS and engines, served (pages with a strict
                                          Content-Security-Policy: the page loads js/assets.mjs)
    _headers  vercel.json  .htaccess   COOP/COEP for Netlify / Cloudflare Pages, Vercel, Apache
    pyodide_llm-sw.js          COOP/COEP from a service worker, for hosts that read none of those
                               (GitHub Pages, http.server): the pages load js/isolation.js first
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

from .serve import ISOLATION

EXAMPLES = {  # name -> uses PyScript
    "chat": True,
    "data-app": True,
}
_FOLDERS = {"chat": "pyscript", "data-app": "data-app"}


class BundleError(Exception):
    """What is wrong with the bundle's inputs, and what to pass instead."""


def examples_root() -> Path:
    """The example pages: inside the installed wheel, or the repository's examples/ folder."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_examples", here.parent / "examples"):
        if candidate.is_dir():
            return candidate
    raise BundleError("the example pages are missing from this installation; reinstall pyodide-llm")


def _check_pyodide(folder: Path) -> None:
    for name in ("pyodide.mjs", "pyodide.asm.wasm", "pyodide-lock.json", "python_stdlib.zip"):
        if not (folder / name).is_file():
            raise BundleError(f"{folder} is not a Pyodide distribution ({name} is missing); pass --pyodide with "
                              "a folder holding Pyodide's core files, its lock file and the micropip wheel")
    lock = json.loads((folder / "pyodide-lock.json").read_text())
    micropip = lock.get("packages", {}).get("micropip", {}).get("file_name", "")
    if not micropip or not (folder / micropip).is_file():
        raise BundleError(f"{folder}/pyodide-lock.json names no micropip wheel that is in the folder; the site "
                          "would fetch it from a CDN. Put the micropip wheel next to the lock (and its sha256 in it)")


def repack_installed_wheel(dest: Path) -> Path:
    """Write a wheel of the installed pyodide-llm (code, shim, engines) into ``dest``."""
    from importlib import metadata

    try:
        dist = metadata.distribution("pyodide-llm")
    except metadata.PackageNotFoundError:
        raise BundleError("pyodide-llm is not installed in this Python; pass --wheel PATH") from None
    files = [f for f in dist.files or () if "__pycache__" not in f.parts and not str(f).endswith(".pyc")]
    name = f"pyodide_llm-{dist.version}-py3-none-any.whl"
    info = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    record = []
    with zipfile.ZipFile(dest / name, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            if str(f) == f"{info}/RECORD" or (f.parts[0] != info and f.parts[0] != "pyodide_llm"):
                continue
            data = Path(f.locate()).read_bytes()
            zf.writestr(str(f), data)
            digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{f},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return dest / name


def place(src: Path, dest: Path) -> None:
    """A hard link where possible (models are large), else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def serve_package_files(wheel: Path, dest: Path) -> None:
    """The wheel's ``js/`` and ``_wasm/`` under ``dest``, served by the site.

    Why: a page with a strict Content-Security-Policy cannot run them from Blob URLs;
    with ``js/assets.mjs`` loaded, the package takes them from here (files.py). They
    come from the site's own wheel, so they are the installed package's own.
    """
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            rel = name.removeprefix("pyodide_llm/")
            if rel != name and rel.split("/")[0] in ("js", "_wasm") and not name.endswith("/"):
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(name))


def write_header_files(out: Path) -> None:
    """The files common static hosts read to send COOP/COEP (threads need cross-origin isolation)."""
    lines = "".join(f"  {k}: {v}\n" for k, v in ISOLATION.items())
    (out / "_headers").write_text(f"/*\n{lines}")  # Netlify, Cloudflare Pages
    (out / "vercel.json").write_text(json.dumps({"headers": [{
        "source": "/(.*)", "headers": [{"key": k, "value": v} for k, v in ISOLATION.items()]}]}, indent=2) + "\n")
    (out / ".htaccess").write_text(  # Apache with mod_headers and mod_mime
        "".join(f'Header always set {k} "{v}"\n' for k, v in ISOLATION.items())
        + "AddType text/javascript .mjs\nAddType application/wasm .wasm\nAddType application/octet-stream .gguf\n")


def empty_folder(out: Path, force: bool) -> None:
    """Make ``out`` an empty folder; one with files in it only with ``force`` (they are deleted).

    Raises
    ------
    BundleError
        ``out`` holds files and ``force`` is false: a typo must not delete someone's folder.
    """
    if out.exists() and any(out.iterdir()):
        if not force:
            raise BundleError(f"{out} is not empty; pass --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def bundle(out: Path, example: str, pyodide: Path, *, pyscript: Path | None = None, wheel: Path | None = None,
           model: Path | None = None, embed_model: Path | None = None, force: bool = False) -> Path:
    """Write the site of ``example`` into ``out``; returns ``out``.

    Raises
    ------
    BundleError
        An unknown example, a missing or incomplete input folder, a non-empty ``out``.
    """
    if example not in EXAMPLES:
        raise BundleError(f"unknown example {example!r}; choose one of {', '.join(EXAMPLES)}")
    _check_pyodide(pyodide)
    if EXAMPLES[example] and (pyscript is None or not (pyscript / "core.js").is_file()):
        raise BundleError(f"the {example} example uses PyScript: pass --pyscript with the dist/ folder of "
                          "the @pyscript/core npm package (holding core.js)")
    for flag, path in (("--model", model), ("--embed-model", embed_model)):
        if path is not None and not path.is_file():
            raise BundleError(f"{flag} {path}: no such file")
    if wheel is not None and not (wheel.is_file() and wheel.name.endswith("-py3-none-any.whl")):
        raise BundleError(f"--wheel {wheel}: not a pyodide_llm py3-none-any wheel")
    empty_folder(out, force)
    shutil.copytree(examples_root() / _FOLDERS[example], out, dirs_exist_ok=True)
    shutil.copytree(pyodide, out / "pyodide", ignore=shutil.ignore_patterns(".complete", "*.partial"))
    if EXAMPLES[example]:
        shutil.copytree(pyscript, out / "pyscript", ignore=shutil.ignore_patterns(".complete"))  # type: ignore[arg-type]
    (out / "wheels").mkdir()
    if wheel is None:
        with tempfile.TemporaryDirectory() as tmp:
            wheel_path = repack_installed_wheel(Path(tmp))
            shutil.copy2(wheel_path, out / "wheels" / wheel_path.name)
            wheel_name = wheel_path.name
    else:
        shutil.copy2(wheel, out / "wheels" / wheel.name)
        wheel_name = wheel.name
    serve_package_files(out / "wheels" / wheel_name, out / "pyodide_llm")
    # At the root: a service worker's scope is its folder, and the pages are at the root.
    shutil.copy2(out / "pyodide_llm" / "js" / "isolation-sw.js", out / "pyodide_llm-sw.js")
    site = {"wheel": f"./wheels/{wheel_name}", "model": None, "embed_model": None}
    for key, path in (("model", model), ("embed_model", embed_model)):
        if path is not None:
            (out / "models").mkdir(exist_ok=True)
            place(path, out / "models" / path.name)
            site[key] = f"./models/{path.name}"
    (out / "site.json").write_text(json.dumps(site, indent=2) + "\n")
    if EXAMPLES[example]:
        config = {"interpreter": "./pyodide/pyodide.mjs", "packages": [site["wheel"]]}
        (out / "pyscript.json").write_text(json.dumps(config, indent=2) + "\n")
    write_header_files(out)
    return out
