"""``make docs`` (recipes/docs.py): the strict build, and our own checks able to fail.

The build runs Sphinx with ``-W -n`` over the guides and the API reference generated
from the docstrings, so a docstring whose markup breaks, or a reference that no longer
resolves, fails this test. The tools are pinned in recipes/docs/requirements.txt and
installed here the way ``make docs`` installs them when this Python lacks them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recipes import docs
from recipes.errors import RecipeError


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> docs.DocsReport:
    if docs.tool_mismatches():
        docs.install_tools()
    return docs.build(tmp_path_factory.mktemp("docs") / "html")


def test_the_docs_build_strictly_with_every_link_resolving(built: docs.DocsReport) -> None:
    # build() raised RecipeError on any warning, broken link or anchor, undocumented name
    # or troubleshooting gap; here, what it produced.
    assert {"index.html", "api.html", "troubleshooting.html", "deploying.html"} <= set(built.pages)
    assert docs.check_links(built.out).broken == []
    assert all(url.startswith(("http://", "https://")) for url in built.external)


def test_every_public_name_has_an_entry_in_the_api_reference(built: docs.DocsReport) -> None:
    assert docs.missing_api_entries(built.out) == []


def _page(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>")


def test_the_link_check_finds_missing_files_and_anchors(tmp_path: Path) -> None:
    _page(tmp_path / "a.html", '<h1 id="top">A</h1><a href="b.html#there">ok</a><a href="#top">ok</a>'
                               '<a href="b.html#nowhere">x</a><a href="gone.html">x</a><a href="#missing">x</a>'
                               '<img src="_static/logo.png"><a href="https://example.org/x">out</a>')
    _page(tmp_path / "sub" / "b.html", "")
    _page(tmp_path / "b.html", '<p id="there"></p><a href="sub/">dir</a>')
    _page(tmp_path / "sub" / "index.html", '<a href="../a.html#top">up</a>')
    report = docs.check_links(tmp_path)
    assert sorted(report.broken) == [
        "a.html: #missing (no #missing in a.html)",
        "a.html: _static/logo.png (no such file)",
        "a.html: b.html#nowhere (no #nowhere in b.html)",
        "a.html: gone.html (no such file)",
    ]
    assert report.external == {"https://example.org/x": ["a.html"]}


def test_the_troubleshooting_check_wants_every_class_and_code_in_its_place() -> None:
    guide = docs.TROUBLESHOOTING.read_text()
    assert docs.troubleshooting_problems(guide) == []
    moved = guide.replace("``busy``\n", "").replace("``timed_out``\n", "``busy``\n``timed_out``\n")
    assert docs.troubleshooting_problems(moved) == [
        "code busy raises LLMError (protocol.json) but is listed under ['ModelSourceError']"]
    no_section = guide.replace("RateLimitError\n--------------\n", "")
    problems = docs.troubleshooting_problems(no_section)
    assert "no section for RateLimitError" in problems
    assert "code rate_limited raises RateLimitError (protocol.json) but is listed under ['AuthenticationError']" \
        in problems
    stale = guide + "\n``no_such_code``\n   Gone.\n"
    assert docs.troubleshooting_problems(stale) == ["code no_such_code is not in protocol.json's error_codes"]


def test_an_output_folder_that_is_not_a_docs_build_is_never_emptied(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RecipeError, match="not a Sphinx build"):
        docs.prepare_out(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
