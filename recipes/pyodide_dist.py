"""An offline Pyodide distribution folder from the pinned npm core and PyPI wheels.

Why rewrite the lock: Pyodide's lock file lists its own builds of micropip and
packaging, whose sha256 differ from the PyPI wheels we can download; the lock is
trimmed to what we ship and re-hashed so Pyodide's integrity check passes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .pins import cache_root, digest, sha256_file
from .source import _pip_download


def _npm_pack(spec: str, sha256: str, filename: str, log) -> Path:
    dest = cache_root() / "downloads" / filename
    if dest.exists() and sha256_file(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not shutil.which("npm"):
        raise RecipeError("npm is not installed on this host", "apt-get install -y npm (Debian) and retry")
    log(f"npm pack {spec}")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", tmp],
                           capture_output=True, text=True)
        got = Path(tmp) / filename
        if r.returncode != 0 or not got.exists():
            raise RecipeError(f"npm pack {spec} failed: {(r.stderr or r.stdout)[-600:]}",
                              "check that npm can reach its configured registry (npm config get registry)")
        if sha256_file(got) != sha256:
            raise RecipeError(f"sha256 mismatch for {filename} from npm", "update [pyodide] npm_sha256 if trusted")
        shutil.move(str(got), dest)
    return dest


def publish(tmp: Path, out: Path, lock: dict[str, Any]) -> None:
    """Write the rewritten lock into the folder built in ``tmp``, move it to ``out``, mark it complete."""
    (tmp / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    (out / ".complete").write_text("ok\n")


def pyodide_dist(pins: dict[str, Any], log=print, version: str | None = None) -> Path:
    """Return a folder that serves Pyodide offline (core + micropip + packaging).

    ``version``: one of ``[pyodide_matrix]`` (an older core the wheel supports);
    default the pinned ``[pyodide]`` one.
    """
    pp = pins["pyodide"]
    if version is not None and version != pp["version"]:
        if version not in pins.get("pyodide_matrix", {}):
            raise RecipeError(f"Pyodide {version} is not pinned", "add it to [pyodide_matrix] in emscripten.toml")
        pp = {"npm_package": pp["npm_package"], "version": version, **pins["pyodide_matrix"][version]}
    out = cache_root() / "pyodide" / f"pyodide-{pp['version']}-{digest(pp)}"
    if (out / ".complete").exists():
        return out
    tgz = _npm_pack(f"{pp['npm_package']}@{pp['version']}", pp["npm_sha256"], f"pyodide-{pp['version']}.tgz", log)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tgz) as tf:
        for name in pp["core_files"]:
            member = tf.getmember(f"package/{name}")
            with tf.extractfile(member) as src, open(tmp / name, "wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst)
    lock = json.loads((tmp / "pyodide-lock.json").read_text())
    shipped = {}
    for spec, w in pp["wheels"].items():
        whl = _pip_download(spec, w["sha256"], w["file"], binary=True, log=log,
                            extra=["--python-version", pp["python_version"]])
        shutil.copy2(whl, tmp / whl.name)
        name = spec.split("==")[0]
        entry = lock["packages"][name]
        # Each lock's own dependencies among what is shipped (micropip 0.9 imports packaging).
        shipped_names = {s.split("==")[0] for s in pp["wheels"]}
        entry.update(file_name=whl.name, sha256=w["sha256"], version=spec.split("==")[1],
                     depends=[d for d in entry.get("depends", []) if d in shipped_names])
        shipped[name] = entry
    lock["packages"] = shipped
    publish(tmp, out, lock)
    log(f"pyodide: offline distribution in {out}")
    return out
