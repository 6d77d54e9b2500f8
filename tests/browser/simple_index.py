"""A PyPI-style package index on 127.0.0.1, for installing our wheel by name as users will.

The folder :func:`build_index` writes holds what PyPI's "simple" API serves::

    simple/index.html, simple/index.json          every project (PEP 503 HTML, PEP 691 JSON)
    simple/pyodide-llm/index.html                 the project's files: links with #sha256=... (PEP 503),
    simple/pyodide-llm/index.json                 data-core-metadata / "core-metadata" (PEP 658/714)
    files/pyodide_llm-...whl, files/....whl.metadata   the wheel and its METADATA

:class:`IndexHandler` serves it from another origin than the page (another port), with
``Access-Control-Allow-Origin: *`` as PyPI's file host does, so the page's fetches are
real CORS requests. With ``negotiate`` it picks a project page's format from the Accept
header as PyPI does (PEP 691: micropip asks for JSON first); without, it is a static
host, which has only index.html (text/html). micropip 0.11.1 reads both, but joins a
relative file URL only in HTML pages, so the JSON pages name absolute URLs, as PyPI's do.
"""

from __future__ import annotations

import hashlib
import html
import json
import shutil
import zipfile
from pathlib import Path

from pyodide_llm._host.serve import Handler

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _metadata(wheel: Path) -> tuple[bytes, str]:
    """The wheel's METADATA bytes and its Requires-Python."""
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        data = zf.read(name)
    requires = next((line.split(":", 1)[1].strip() for line in data.decode().splitlines()
                     if line.startswith("Requires-Python:")), "")
    return data, requires


def build_index(root: Path, wheel: Path, base_url: str, prefix: str = "", sha256: str | None = None) -> str:
    """Write the index for ``wheel`` under ``root/prefix``; return its URL (``base_url/prefix/simple``).

    ``base_url`` is where ``root`` will be served (JSON pages name absolute file URLs);
    ``sha256`` replaces the wheel's true hash in both formats (a tampered index).
    """
    project = "pyodide-llm"
    top = root / prefix if prefix else root
    files, simple = top / "files", top / "simple"
    (simple / project).mkdir(parents=True, exist_ok=True)
    files.mkdir(exist_ok=True)
    shutil.copy2(wheel, files / wheel.name)
    metadata, requires = _metadata(wheel)
    (files / f"{wheel.name}.metadata").write_bytes(metadata)
    digest = sha256 or _sha256(wheel.read_bytes())
    files_url = f"{base_url}/{prefix + '/' if prefix else ''}files"
    version = wheel.name.split("-")[1]
    (simple / project / "index.json").write_text(json.dumps({
        "meta": {"api-version": "1.1"}, "name": project, "versions": [version],
        "files": [{"filename": wheel.name, "url": f"{files_url}/{wheel.name}", "hashes": {"sha256": digest},
                   "requires-python": requires, "core-metadata": {"sha256": _sha256(metadata)},
                   "size": wheel.stat().st_size, "yanked": False}],
    }))
    (simple / project / "index.html").write_text(
        f"<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\">"
        f"<title>Links for {project}</title></head><body><h1>Links for {project}</h1>\n"
        f"<a href=\"../../files/{wheel.name}#sha256={digest}\" data-requires-python=\"{html.escape(requires)}\" "
        f"data-core-metadata=\"sha256={_sha256(metadata)}\">{wheel.name}</a><br>\n</body></html>\n")
    (simple / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"},
                                                   "projects": [{"name": project}]}))
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body><a href=\"{project}/\">{project}</a>"
                                       "</body></html>\n")
    return f"{base_url}/{prefix + '/' if prefix else ''}simple"


def prefers_json(accept: str) -> bool:
    """Whether an Accept header ranks PEP 691's JSON above HTML (q-values; ``*/*`` counts for both)."""
    ranks: dict[str, float] = {}
    for item in accept.split(","):
        kind, *params = (p.strip() for p in item.split(";"))
        q = next((float(p[2:]) for p in params if p.startswith("q=")), 1.0)
        ranks[kind.lower()] = max(q, ranks.get(kind.lower(), 0.0))
    wild = ranks.get("*/*", 0.0)
    as_json = ranks.get(JSON_TYPE, wild)
    as_html = max(ranks.get("text/html", wild), ranks.get("application/vnd.pypi.simple.v1+html", wild))
    return as_json > as_html


class IndexHandler(Handler):
    """Serve an index folder to pages of another origin (CORS); ``negotiate``: PEP 691 by Accept header."""

    negotiate = True

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Vary", "Accept")
        super().end_headers()

    def do_OPTIONS(self) -> None:  # a CORS preflight (micropip's Accept value needs none; a header of a user may)
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET")
        self.send_header("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers", "*"))
        self.end_headers()

    def do_GET(self) -> None:
        page = Path(self.translate_path(self.path)) / "index.json"
        if self.negotiate and self.path.endswith("/") and page.is_file() and prefers_json(self.headers["Accept"] or ""):
            self.log.append(f"{self.path} as JSON")
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()
