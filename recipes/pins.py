"""Read ``emscripten.toml`` and derive the cache keys of every build step.

Why: each cached artefact (toolchain root, source tree, wasm variant, native
reference) is keyed by the hash of exactly the inputs it depends on, so an
unchanged rebuild is a cache hit and a changed pin rebuilds only what it touches.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PINS_FILE = REPO / "emscripten.toml"


def load_pins() -> dict[str, Any]:
    """Return the parsed pin file."""
    with PINS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def cache_root() -> Path:
    """Directory outside the repository that holds every cached artefact.

    ``PYODIDE_LLM_CACHE`` overrides it; the default survives fresh clones on the
    same machine, which is what lets CI reuse a build.
    """
    root = Path(os.environ.get("PYODIDE_LLM_CACHE", "/var/cache/pyodide_llm"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def digest(*parts: Any) -> str:
    """Stable short hash of JSON-able values and file contents (``Path`` parts)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            # Python's bytecode caches are not inputs (emscripten imports wasm/webgpu's port file).
            files = (sorted(p for p in part.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
                     if part.is_dir() else [part])
            for f in files:
                h.update(str(f.relative_to(part if part.is_dir() else part.parent)).encode())
                h.update(f.read_bytes())
        else:
            h.update(json.dumps(part, sort_keys=True).encode())
    return h.hexdigest()[:16]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (the sdist is 76 MB)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
