"""``make docs``: the HTML documentation, built offline into ``dist/docs/`` (``python3 -m recipes.docs [OUT]``).

The sources are ``recipes/docs/``: ``conf.py``, the guides and ``api.rst``, whose
reference is generated from the package's numpydoc docstrings (Sphinx autodoc +
numpydoc). The tools are pinned in ``recipes/docs/requirements.txt``; ``make docs``
installs them, and this checks the installed versions against the pins, since
another Sphinx finds other things.

The build is strict: ``-W -n --keep-going`` makes every warning and every
cross-reference that does not resolve an error (what cannot resolve offline is
allow-listed in ``conf.py``, with the reason). Then three checks of our own:

* every relative link and ``#anchor`` of the built HTML resolves; external links
  cannot be fetched here, so they are collected and listed, not checked;
* every name of ``pyodide_llm.__all__`` has an entry in the API reference;
* the troubleshooting guide has a section for every exception class of
  ``pyodide_llm/_errors.py``, and lists every error code of ``protocol.json``
  under the class that code raises (protocol.json's ``error_codes``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import RecipeError
from .pins import REPO

SOURCE = REPO / "recipes" / "docs"
REQUIREMENTS = SOURCE / "requirements.txt"
DEFAULT_OUT = REPO / "dist" / "docs"
API_PAGE = "api.html"
TROUBLESHOOTING = SOURCE / "troubleshooting.rst"


def log(msg: str) -> None:
    print(f"[docs] {msg}", flush=True)


# -- the pinned tools ------------------------------------------------------------------


def pins() -> dict[str, str]:
    """The ``name==version`` lines of recipes/docs/requirements.txt."""
    out = {}
    for line in REQUIREMENTS.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line.split("#")[0].strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def tool_mismatches() -> list[str]:
    """Each pinned tool whose installed version differs (or that is missing), in words."""
    wrong = []
    for name, want in pins().items():
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            got = None
        if got != want:
            wrong.append(f"{name} {want} is pinned but {got or 'none'} is installed")
    return wrong


def install_tools() -> None:
    """Install the pinned tools into this Python, as ``make docs`` does."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)]
    log(" ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RecipeError(f"pip could not install the doc tools (exit {r.returncode}):\n{r.stderr[-1500:]}",
                          "check that pip can reach PyPI (pip config list) and retry")


def check_tools() -> None:
    wrong = tool_mismatches()
    if wrong:
        raise RecipeError("; ".join(wrong) + f" in {sys.executable}",
                          f"{sys.executable} -m pip install -r {REQUIREMENTS} (or run `make docs`)")


# -- the build -------------------------------------------------------------------------


def prepare_out(out: Path) -> None:
    """Empty ``out`` for a fresh build; refuse a folder that is not an earlier docs build."""
    if out.exists() and any(out.iterdir()):
        if not (out / ".buildinfo").is_file():
            raise RecipeError(f"{out} holds files and is not a Sphinx build (no .buildinfo): not deleting it",
                              "pass an empty or new folder as OUT")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def sphinx_build(out: Path) -> None:
    """Sphinx's HTML builder, strict; its doctrees go to a temporary folder (never published)."""
    with tempfile.TemporaryDirectory(prefix="plm-doctrees-") as doctrees:
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "-n", "--keep-going", "-q", "-E",
               "-d", doctrees, str(SOURCE), str(out)]
        log(" ".join(cmd))
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise RecipeError(f"Sphinx failed (exit {r.returncode}):\n{(r.stdout + r.stderr).strip()[-6000:]}",
                          "fix the reported lines (a docstring, a guide, or conf.py's allow-lists for what "
                          "cannot resolve offline)")


# -- our checks over the built HTML ----------------------------------------------------


class _Page(HTMLParser):
    """The ids a page defines and the URLs it refers to (href and src)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.urls.append(value)


@dataclass
class LinkReport:
    broken: list[str] = field(default_factory=list)  # "page: url (why)"
    external: dict[str, list[str]] = field(default_factory=dict)  # url -> the pages that link to it


def check_links(out: Path) -> LinkReport:
    """Resolve every relative link and anchor of the HTML under ``out``; collect the external ones."""
    pages: dict[Path, _Page] = {}
    for path in sorted(out.rglob("*.html")):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.resolve()] = page
    report = LinkReport()
    for path, page in pages.items():
        where = path.relative_to(out.resolve()).as_posix()
        for url in page.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "javascript"):
                continue
            if parts.scheme or parts.netloc:
                report.external.setdefault(url, []).append(where)
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                report.broken.append(f"{where}: {url} (no such file)")
            elif parts.fragment and unquote(parts.fragment) not in (pages.get(target) or _Page()).ids:
                report.broken.append(f"{where}: {url} (no #{unquote(parts.fragment)} in {target.name})")
    return report


def _on_path() -> None:
    """The package of this checkout importable (as conf.py makes it for Sphinx)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def missing_api_entries(out: Path) -> list[str]:
    """Names of ``pyodide_llm.__all__`` with no entry (an anchor ``pyodide_llm.NAME``) in the API page."""
    _on_path()
    import pyodide_llm

    page = _Page()
    page.feed((out / API_PAGE).read_text(encoding="utf-8"))
    return [n for n in pyodide_llm.__all__
            if f"pyodide_llm.{n}" not in page.ids and f"module-pyodide_llm.{n}" not in page.ids]


def troubleshooting_problems(text: str) -> list[str]:
    """What the troubleshooting guide (reST ``text``) lacks or misplaces.

    Its sections are titled with a class name (underlined with ``-``); each code is a
    definition-list term (the code in double backquotes, alone on a line) in the section
    of the class that protocol.json's ``error_codes`` maps it to.
    """
    _on_path()
    from pyodide_llm import _errors
    from pyodide_llm._protocol import ERROR_CLASSES

    classes = {n for n, v in vars(_errors).items()  # every exception and warning class the module defines
               if isinstance(v, type) and issubclass(v, BaseException) and v.__module__ == _errors.__name__}
    lines = text.splitlines()
    section, sections, placed = "", [], {}
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1]) and line.strip():
            section = line.split()[0]
            sections.append(section)
        m = re.fullmatch(r"``([a-z0-9_]+)``", line)
        if m:
            placed.setdefault(m.group(1), []).append(section)
    problems = [f"no section for {c}" for c in sorted(classes - set(sections))]
    problems += [f"a section for {s}, which is not an exception of pyodide_llm/_errors.py"
                 for s in sections if s not in classes]
    for code, cls in sorted(ERROR_CLASSES.items()):
        if placed.get(code) != [cls]:
            problems.append(f"code {code} raises {cls} (protocol.json) but is listed under "
                            f"{placed.get(code) or 'no section'}")
    problems += [f"code {c} is not in protocol.json's error_codes" for c in sorted(set(placed) - set(ERROR_CLASSES))]
    return problems


# -- the recipe ------------------------------------------------------------------------


@dataclass
class DocsReport:
    out: Path
    pages: list[str]
    external: dict[str, list[str]]
    seconds: float


def build(out: Path = DEFAULT_OUT) -> DocsReport:
    """Build the docs into ``out`` and run every check; RecipeError naming each failure."""
    started = time.monotonic()
    check_tools()
    problems = [f"troubleshooting.rst: {p}" for p in troubleshooting_problems(TROUBLESHOOTING.read_text())]
    prepare_out(out)
    sphinx_build(out)
    links = check_links(out)
    problems += [f"broken link in {b}" for b in links.broken]
    problems += [f"{API_PAGE}: pyodide_llm.{n} (in __all__) is not documented" for n in missing_api_entries(out)]
    if problems:
        raise RecipeError("the docs build has problems:\n  " + "\n  ".join(problems),
                          "fix each one in recipes/docs/ (or the docstring it names)")
    pages = sorted(p.relative_to(out).as_posix() for p in out.glob("*.html"))
    return DocsReport(out, pages, links.external, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]).resolve() if args else DEFAULT_OUT
    try:
        report = build(out)
    except RecipeError as e:
        print(f"\n[docs] ERROR: {e}", file=sys.stderr)
        return 1
    log(f"external links, not fetched here ({len(report.external)}):")
    for url, where in sorted(report.external.items()):
        log(f"  {url}  ({', '.join(sorted(set(where)))})")
    log(f"{len(report.pages)} pages in {report.out} ({report.seconds:.1f} s); open {report.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
