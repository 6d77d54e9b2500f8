"""The test site: offline Pyodide, our wheel, the model and some bad model files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pyodide_llm test page</title></head>
<body><pre id="out"></pre>
<script type="module">
import { loadPyodide } from "./pyodide/pyodide.mjs";
window.pyodideReady = (async () => {
  const pyodide = await loadPyodide({ indexURL: "./pyodide/" });
  await pyodide.loadPackage("micropip");
  return pyodide;
})();
</script></body></html>
"""


def build_site(root: Path, pyodide_dist: Path, wheel: Path, model: Path) -> Path:
    """Lay out the site folder; large files are linked, not copied."""
    if root.exists():
        shutil.rmtree(root)
    (root / "wheels").mkdir(parents=True)
    (root / "models").mkdir()
    os.symlink(pyodide_dist, root / "pyodide")
    shutil.copy2(wheel, root / "wheels" / wheel.name)
    os.symlink(model, root / "models" / "smollm2.gguf")
    (root / "models" / "not-a-model.gguf").write_text("<!doctype html><html><body>Sign in</body></html>\n")
    with open(model, "rb") as f:
        head = f.read(5_000_000)
    (root / "models" / "truncated.gguf").write_bytes(head)
    # A real header in front of 20 GiB (sparse on disk): larger than any variant can hold.
    with open(root / "models" / "huge.gguf", "wb") as f:
        f.write(head)
        f.truncate(20 << 30)
    (root / "index.html").write_text(PAGE)
    return root
