"""The test site: offline Pyodide, our wheel, the model and some bad model files."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pyodide_llm._host.serve import Handler
from recipes.pins import cache_root
from recipes.synthetic import cached_split, write_compute_abort, write_unknown_architecture

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
    # SmolLM2 as a 3-part split set; the same model split at other tensors (for mixing);
    # a 4-part set with its third part missing.
    splits = cache_root() / "models" / "split"
    for folder, parts in (("split", cached_split(model, 3, splits)), ("other", cached_split(model, 3, splits, 40)),
                          ("gap", cached_split(model, 4, splits)[:2] + cached_split(model, 4, splits)[3:])):
        (root / "models" / folder).mkdir()
        for part in parts:
            os.symlink(part, root / "models" / folder / part.name.replace(model.stem, "smollm2"))
    write_unknown_architecture(root / "models" / "unknown-arch.gguf")
    write_compute_abort(model, root / "models" / "aborts.gguf")
    (root / "index.html").write_text(PAGE)
    return root


class FaultyHandler(Handler):
    """The test server, plus broken connections on request.

    ``?cut=N``: a whole-file response stops after N bytes (a resumed Range
    request is then served in full). ``?cut_every=N``: every response, ranged or
    not, stops after N bytes of body. The connection is closed where it stops,
    as when a network drops mid download. ``?slow=N``: a whole-file response
    sends N bytes, then trickles 4 KiB every 0.1 s (a download still running
    when the test acts), until the client goes away. ``?stall=N``: a whole-file
    response sends N bytes and then nothing; ``?stall_all=1``: every response
    (the header's Range request too) sends its headers and then nothing.
    """

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        ranged = "Range" in self.headers and self.ranges
        if "stall_all" in query or ("stall" in query and not ranged):
            return self._stall(int((query.get("stall") or ["0"])[0]))
        if "slow" in query and not ranged:
            return self._trickle(int(query["slow"][0]))
        cut = int((query.get("cut_every") or query.get("cut") or ["0"])[0])
        if not cut or ("cut" in query and ranged):
            return super().do_GET()
        self.log.append(self.path)
        path = Path(self.translate_path(self.path))
        size = path.stat().st_size
        first, _, last = (self.headers["Range"].split("=")[1] if ranged else "0-").partition("-")
        start, end = int(first), min(int(last or size - 1), size - 1)
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end + 1 - start))
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            self.wfile.write(f.read(min(cut, end + 1 - start)))
        self.wfile.flush()
        self.close_connection = True

    def _stall(self, first: int) -> None:
        """Headers, ``first`` bytes of the file, then silence until the client leaves (30 s at most)."""
        path = self._whole_file_headers()
        with open(path, "rb") as f:
            self.wfile.write(f.read(first))
        self.wfile.flush()
        self.connection.settimeout(30)
        try:
            self.connection.recv(1)  # returns when the client closes (or the 30 s run out)
        except OSError:
            pass

    def _whole_file_headers(self) -> Path:
        """The headers of a whole-file 200 answer (its true length; the connection closes after); its path."""
        self.log.append(self.path)
        path = Path(self.translate_path(self.path))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        self.close_connection = True
        return path

    def _trickle(self, fast: int) -> None:
        path = self._whole_file_headers()
        with open(path, "rb") as f:
            try:
                self.wfile.write(f.read(fast))
                while chunk := f.read(4096):
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
