"""Strict pages: the engine under a Content-Security-Policy without 'unsafe-eval' or blob: scripts.

The sites are ``bundle``'s chat example (its own copy of the package's files in
pyodide_llm/) with two pages of ours beside it, all served with a CSP header:

- STRICT (the issue's policy) on a plain Pyodide page that loads
  pyodide_llm/js/assets.mjs: the engine runs from the site's own files, nothing is
  evaluated, and the page records no violation;
- on a page that does not, four policies refusing a different step of the default
  (Blob URL) start: ``LLM.load`` raises UnsupportedEnvironmentError (``blocked_by_csp``)
  naming what the policy refuses, and the page lives on;
- CHAT_CSP, the chat example's documented minimal policy (README, "Strict pages"):
  PyScript itself compiles code with Function(), so it needs 'unsafe-eval'; the
  example streams an answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Page, _driver
from pyodide_llm._host.serve import StaticServer
from test_examples import _bundle, ask, last_answer, wait_state

STRICT = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:"
CHAT_CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>strict page</title>{assets}
<script type="module" src="./strict.mjs"></script></head><body></body></html>
"""
# No inline script: script-src 'self' forbids them. Violations are kept for the test.
SCRIPT = """
import { loadPyodide } from "./pyodide/pyodide.mjs";
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));
window.pyodideReady = (async () => {
  const pyodide = await loadPyodide({ indexURL: "./pyodide/" });
  await pyodide.loadPackage("micropip");
  return pyodide;
})();
"""
ASSETS = '\n<script type="module" src="./pyodide_llm/js/assets.mjs"></script>'


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = _bundle(tmp_path_factory.mktemp("csp") / "site", "chat")
    (root / "strict.mjs").write_text(SCRIPT)
    (root / "strict.html").write_text(PAGE.format(assets=ASSETS))
    (root / "strict-no-assets.html").write_text(PAGE.format(assets=""))
    return root


@pytest.fixture
def browser():
    driver = _driver()
    yield driver
    driver.quit()


def open_page(driver, server: StaticServer, name: str) -> Page:
    driver.get(f"{server.url}/{name}")
    page = Page(driver, server)
    page.wait_for("the page's module script", lambda: driver.execute_script(
        "return window.pyodideReady !== undefined"), 30)
    wheel = next((server.root / "wheels").glob("*.whl")).name
    page.run(f"import micropip\nawait micropip.install({server.url + '/wheels/' + wheel!r})\n_json.dumps(True)",
             timeout=120)
    return page


CHAT = """
from pyodide_llm import LLM
llm = await LLM.load("models/SmolLM2-135M-Instruct.Q4_1.gguf", n_ctx=256, cache=False)
pieces = [p async for p in llm.chat([{"role": "user", "content": "What is the capital of France?"}],
                                    max_tokens=12, temperature=0)]
info = llm.info
await llm.close(keep_engine=False)
_json.dumps({"pieces": pieces, "variant": info.variant, "threads": info.n_threads})
"""


def test_the_engine_runs_on_a_strict_page_from_the_sites_own_files(site, browser):
    server = StaticServer(site, isolated=True, csp=STRICT)
    try:
        page = open_page(browser, server, "strict.html")
        r = page.run(CHAT, timeout=240)
        assert len(r["pieces"]) > 1 and "".join(r["pieces"]).strip(), r
        assert (r["variant"], r["threads"]) == ("wasm32-relaxed-mt", 2), r
        assert browser.execute_script("return window.cspViolations") == []
        assert any("/pyodide_llm/_wasm/wasm32-relaxed-mt/plm-engine.wasm" in u for u in server.requests), \
            "the engine came from the site's own files"
    finally:
        server.stop()


# Where each refusal is met: the page's eval, the page's import of a Blob URL, the page
# starting the worker (client.mjs), the worker fetching the wasm (worker.mjs).
BLOB_SCRIPTS = "default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval' blob:"


@pytest.mark.parametrize(("policy", "named"), [
    (STRICT, "unsafe-eval"), (CHAT_CSP, "blob: scripts"), (BLOB_SCRIPTS + "; worker-src 'self'", "worker-src"),
    (BLOB_SCRIPTS + "; worker-src 'self' blob:", "connect-src")],
    ids=["no-eval", "no-blob-scripts", "no-blob-workers", "no-blob-fetch"])
def test_a_strict_page_without_the_sites_files_gets_a_typed_error(site, browser, policy, named):
    server = StaticServer(site, isolated=True, csp=policy)
    try:
        page = open_page(browser, server, "strict-no-assets.html")
        r = page.run("""
from pyodide_llm import LLM, UnsupportedEnvironmentError
try:
    await LLM.load("models/SmolLM2-135M-Instruct.Q4_1.gguf", n_ctx=256, cache=False)
    outcome = {"error": None}
except UnsupportedEnvironmentError as e:
    outcome = {"error": type(e).__name__, "code": e.code, "message": str(e)}
_json.dumps(outcome)
""", timeout=120)
        assert r["error"] == "UnsupportedEnvironmentError" and r["code"] == "blocked_by_csp", r
        assert named in r["message"] and "assets.mjs" in r["message"], r
        assert page.alive()
    finally:
        server.stop()


def test_the_chat_example_runs_under_its_documented_csp(site, browser):
    server = StaticServer(site, isolated=True, csp=CHAT_CSP)
    try:
        browser.get(server.url + "/index.html")
        wait_state(browser, "ready")
        ask(browser, "What is the capital of France?")
        wait_state(browser, "done", timeout=120)
        assert last_answer(browser).strip()
        refused = [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
        assert not refused, refused
        assert any("/pyodide_llm/js/worker.mjs" in u for u in server.requests), "the site's own engine files"
    finally:
        server.stop()
