"""A stand-in for the Hugging Face Hub on 127.0.0.1: its URLs, its tree API, CORS and Range as the Hub answers them.

What it copies from the Hub, because the browser path depends on each:

- ``GET /api/models/{owner}/{repo}/tree/{revision}?recursive=true``: a JSON list of
  ``{type, oid, size, path, lfs: {oid, size, pointerSize}}``, paged with a
  ``Link: <...>; rel="next"`` header (``page`` entries a page, small here so paging runs);
  an unknown repository or revision is a 404 with ``{"error": ...}``.
- ``GET /{owner}/{repo}/resolve/{revision}/{path}``: a 302 to where the bytes are (the Hub
  sends LFS files to its CDN), which answers Range requests; a gated repository's files
  are a 401 with the Hub's message, a missing file a 404.
- CORS on every answer (``Access-Control-Allow-Origin: *``, the headers the page must
  read exposed, preflights answered), since the page is on another origin.

A repository is a mapping of paths to real files (served) or to sizes (listed only: a
file too large to exist here, which a correct client never downloads).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from pyodide_llm._host.serve import Handler, StaticServer

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Range, Content-Length, ETag, Accept-Ranges, Link, X-Repo-Commit, "
                                     "X-Error-Code, X-Error-Message",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class HubHandler(Handler):
    repos: dict[str, dict[str, Path | int]] = {}  # noqa: RUF012 (set per server, like Handler.log)
    gated: frozenset[str] = frozenset()
    page = 3

    def end_headers(self) -> None:
        for name, value in CORS.items():
            self.send_header(name, value)
        super().end_headers()

    def do_OPTIONS(self) -> None:  # a preflight (the Range header, if the browser does not safelist it)
        self.log.append("OPTIONS " + self.path)
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD")
        self.send_header("Access-Control-Allow-Headers", "Range, Authorization, Content-Type")
        self.send_header("Access-Control-Max-Age", "86400")
        self.end_headers()

    def do_HEAD(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/api/models/") or "/resolve/" in path:
            return self.do_GET()  # the answers above send no body to a HEAD
        return super().do_HEAD()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path.startswith("/api/models/"):
            self.log.append(self.path)
            return self._tree(path[len("/api/models/"):], url.query)
        if "/resolve/" in path:
            self.log.append(self.path)
            return self._resolve(path)
        return super().do_GET()  # /cdn/...: the bytes, with Range

    def _json(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _tree(self, rest: str, query: str) -> None:
        owner, name, kind, revision = [*rest.split("/", 3), "", "", ""][:4]
        files = self.repos.get(f"{owner}/{name}")
        if kind != "tree" or files is None or revision != "main":
            return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        entries = []
        for path, what in files.items():
            size = what if isinstance(what, int) else what.stat().st_size
            oid = _sha256(what) if isinstance(what, Path) else hashlib.sha256(path.encode()).hexdigest()
            entries.append({"type": "file", "oid": oid[:40], "size": size, "path": path,
                            "lfs": {"oid": oid, "size": size, "pointerSize": 134}})
        start = int(dict(p.partition("=")[::2] for p in query.split("&")).get("cursor") or 0)
        headers = {}
        if start + self.page < len(entries):
            headers["Link"] = (f'<http://{self.headers["Host"]}/api/models/{owner}/{name}/tree/main?recursive=true'
                               f'&cursor={start + self.page}>; rel="next"')
        self._json(200, entries[start:start + self.page], headers)

    def _resolve(self, path: str) -> None:
        repo, _, rest = path.strip("/").partition("/resolve/")
        revision, _, file = rest.partition("/")
        what = self.repos.get(repo, {}).get(file)
        if repo in self.gated:
            return self._json(401, {"error": f"Access to model {repo} is restricted. You must have access to it and "
                                             "be authenticated to access it. Please log in."},
                              {"X-Error-Code": "GatedRepo"})
        if not isinstance(what, Path) or revision != "main":
            return self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        self.send_response(302)
        self.send_header("Location", f"/cdn/{quote(repo)}/{quote(file)}")
        self.send_header("Content-Length", "0")
        self.end_headers()


class HubMimic:
    """Serve ``repos`` (repo id -> {path: file or listed size}) the Hub's way on 127.0.0.1; ``gated`` refuse files."""

    def __init__(self, root: Path, repos: dict[str, dict[str, Path | int]], gated: tuple[str, ...] = ()) -> None:
        for repo, files in repos.items():
            for path, what in files.items():
                if isinstance(what, Path):
                    link = root / "cdn" / repo / path
                    link.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(what.resolve(), link)
        base = type("HubHandler", (HubHandler,), {"repos": repos, "gated": frozenset(gated)})
        self.server = StaticServer(root, isolated=False, base=base)
        self.url = self.server.url
        self.requests = self.server.requests

    def stop(self) -> None:
        self.server.stop()
