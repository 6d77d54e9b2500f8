"""PyScript's ``dist/`` folder from the pinned npm package, for the example sites.

Why a recipe: PyScript pages otherwise load PyScript (and Pyodide) from a CDN;
the examples must work offline from any static server, so its files are served
next to the offline Pyodide folder.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path
from typing import Any

from .pins import cache_root, digest
from .pyodide_dist import _npm_pack


def pyscript_dist(pins: dict[str, Any], log=print) -> Path:
    """Return a folder with PyScript's core.js, core.css and their chunks (no source maps)."""
    ps = pins["pyscript"]
    out = cache_root() / "pyscript" / f"pyscript-{ps['version']}-{digest(ps)}"
    if (out / ".complete").exists():
        return out
    tgz = _npm_pack(f"{ps['npm_package']}@{ps['version']}", ps["npm_sha256"], ps["npm_file"], log)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tgz) as tf:
        for member in tf.getmembers():
            name = member.name.removeprefix("package/dist/")
            if member.isfile() and member.name.startswith("package/dist/") and not name.endswith(".map"):
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(member) as src, open(tmp / name, "wb") as dst:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, dst)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    (out / ".complete").write_text("ok\n")
    log(f"pyscript: {out}")
    return out
