"""pytest-pyodide on the project's offline Pyodide, Debian's Chromium, the real wheel and model.

``python3 -m pytest tests/pyodide`` needs no options: this file picks Chromium
(``--runtime chrome``) and the Pyodide folder the recipes assemble
(``--dist-dir``), and replaces pytest-pyodide's web server (it binds every
interface) by the project's own on 127.0.0.1, cross-origin isolated. That
server's root is the browser tier's site (``tests/browser/testsite.py``: the
wheel under ``/wheels/``, SmolLM2 at ``/models/smollm2.gguf``, broken model
files next to it) with Pyodide's files linked in at the top, where
pytest-pyodide's page (``/module_test.html``, from its own templates) imports
``./pyodide.mjs``. Chromium, its flags and the native reference output come from
``tests/browser/conftest.py``, so both tiers run the same browser the same way.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS = ROOT / "tests" / "browser"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BROWSER_TESTS))

from pytest_pyodide import get_global_config  # noqa: E402
from pytest_pyodide.fixture import selenium_common  # noqa: E402
from pytest_pyodide.server import DefaultHandler  # noqa: E402

from pyodide_llm._host.serve import Handler, StaticServer  # noqa: E402
from testsite import build_site  # noqa: E402


def _browser_conftest():
    """tests/browser/conftest.py as a module: pytest imports every conftest as ``conftest``, so not by name."""
    spec = importlib.util.spec_from_file_location("browser_conftest", BROWSER_TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_browser = _browser_conftest()
native_complete = _browser.native_complete  # a fixture: greedy output of native llama.cpp

# pytest-pyodide starts Chrome(options) without a driver path: Selenium reads SE_CHROMEDRIVER,
# so Selenium Manager (which downloads drivers and sends telemetry) is never asked.
os.environ.setdefault("SE_CHROMEDRIVER", "/usr/bin/chromedriver")
os.environ.setdefault("SE_OFFLINE", "true")
# set_flags replaces pytest-pyodide's own list, which holds only --expose-gc.
get_global_config().set_flags("chrome", ["--js-flags=--expose-gc", *_browser.CHROMIUM_FLAGS])


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config) -> None:
    """Fill in pytest-pyodide's options where they were left at its defaults (before it reads them)."""
    if config.option.runtime == "node":  # its default; node has no Web Worker, no COOP/COEP, no DOM
        config.option.runtime = "chrome"
    if Path(config.option.dist_dir) == Path("pyodide"):  # its default, a folder named pyodide in the cwd
        from recipes.build import log
        from recipes.pins import load_pins
        from recipes.pyodide_dist import pyodide_dist

        config.option.dist_dir = pyodide_dist(load_pins(), log)


@pytest.fixture(autouse=True, scope="module")
def _in_a_browser(runtime) -> None:
    if runtime == "node":
        pytest.fail("tests/pyodide need a browser; pytest-pyodide read --runtime before this conftest "
                    "was loaded: run them on their own (python3 -m pytest tests/pyodide) or pass --runtime chrome")


class PageHandler(DefaultHandler, Handler):
    """The project's handler (MIME types, no-store, COOP/COEP when isolated, Range, request log)
    with pytest-pyodide's page templates in front (``/module_test.html``)."""

    log_message = Handler.log_message  # quiet: DefaultHandler prints every request


@pytest.fixture(scope="session")
def site(request, tmp_path_factory) -> Path:
    """The served folder: the browser tier's site, plus Pyodide's files at its root."""
    from recipes.build import log
    from recipes.embedmodel import embedding_model
    from recipes.pins import load_pins
    from recipes.source import model_file

    wheels = sorted((ROOT / "dist").glob("pyodide_llm-*-py3-none-any.whl"))
    if not wheels:
        pytest.fail("no wheel in dist/: run `make wheel` (make test-pyodide does)")
    dist = Path(request.config.option.dist_dir)
    root = build_site(tmp_path_factory.mktemp("site"), dist, wheels[-1], model_file(load_pins(), "smollm2", log))
    for f in dist.iterdir():  # links, so the recipe's cached folder is only read
        os.symlink(f, root / f.name)
    os.symlink(embedding_model(load_pins(), "minilm", log), root / "models" / "minilm.gguf")
    return root


@pytest.fixture(scope="session")
def served(site) -> dict[str, str]:
    """Server paths of what the tests load (join with ``js.location.origin`` in the page)."""
    return {"wheel": "/wheels/" + next(site.glob("wheels/*.whl")).name,
            "model": "/models/smollm2.gguf",
            "embed_model": "/models/minilm.gguf",
            "missing": "/models/missing.gguf",
            "html": "/models/not-a-model.gguf",
            "truncated": "/models/truncated.gguf"}


def _serve(site: Path, isolated: bool, ranges: bool):
    _browser.ensure_chromium()  # every browser fixture of pytest-pyodide starts from a server
    server = StaticServer(site, isolated=isolated, ranges=ranges, base=PageHandler)
    try:
        yield "127.0.0.1", server.port, None  # pytest-pyodide's shape: host, port, log file
    finally:
        server.stop()


@pytest.fixture(scope="session")
def web_server_main(site):
    """Overrides pytest-pyodide's: 127.0.0.1 only, cross-origin isolated (threads)."""
    yield from _serve(site, isolated=True, ranges=True)


@pytest.fixture(scope="session")
def web_server_plain(site):
    """The same site without COOP/COEP (no SharedArrayBuffer: one thread).

    Like the browser tier's plain server it also lacks Range support, the other way static servers differ.
    """
    yield from _serve(site, isolated=False, ranges=False)


@pytest.fixture
def selenium_plain(request, runtime, web_server_plain, playwright_browsers):
    """A fresh Chromium with Pyodide loaded on a page that is not cross-origin isolated."""
    with selenium_common(request, runtime, web_server_plain, browsers=playwright_browsers) as selenium:
        selenium.set_script_timeout(180)
        yield selenium
