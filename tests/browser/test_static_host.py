"""The bundled chat site on a static host that sends no COOP/COEP: the standard library's http.server.

The bundle's service worker (pyodide_llm-sw.js, registered by js/isolation.js on
the first visit, then one reload) adds the headers, so the page becomes cross-origin
isolated and runs the threaded memory64 engine. Where service workers are off
(Firefox with ``dom.serviceWorkers.enabled`` false, as some policies and private
windows have it) the page still works: one thread, and the notice says why.
"""

from __future__ import annotations

import time

import pytest

from bidi import Firefox
from conftest import _driver
from test_examples import PlainServer, _bundle, wait_state

ASK = """
const [text] = arguments;
const box = document.getElementById("question");
box.value = text;
document.getElementById("send").click();
"""

STATE = """
const nav = performance.getEntriesByType("navigation")[0];
return {isolated: self.crossOriginIsolated, isolation: window.pyodideLLMIsolation || null,
        navigation: nav ? nav.type : null, variant: document.body.dataset.variant,
        threads: document.body.dataset.threads, notice: document.getElementById("notice").hidden
          ? null : document.getElementById("notice").textContent,
        controlled: !!(navigator.serviceWorker && navigator.serviceWorker.controller)};
"""


@pytest.fixture(scope="module")
def plain_chat_site(tmp_path_factory):
    server = PlainServer(_bundle(tmp_path_factory.mktemp("static") / "site", "chat"))
    yield server
    server.stop()


def answer(driver, question: str) -> str:
    driver.execute_script(ASK, question)
    wait_state(driver, "done", timeout=120)
    return driver.execute_script(
        "const a = document.querySelectorAll('#log .assistant'); return a[a.length - 1].textContent")


def ready_after_reload(driver, url: str) -> dict:
    """Open ``url`` (a first visit), wait for the chat to be ready, return the page's state."""
    driver.get(url)
    # The first document registers the worker and reloads; wait for the second one.
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if driver.execute_script("return document.readyState === 'complete' && "
                                     "performance.getEntriesByType('navigation')[0].type === 'reload'"):
                break
        except Exception:  # the page is between documents
            pass
        time.sleep(0.2)
    wait_state(driver, "ready")
    return driver.execute_script(STATE)


@pytest.mark.parametrize("browser", ["chromium", "firefox"])
def test_the_service_worker_isolates_a_plain_static_site(plain_chat_site, browser):
    driver = Firefox() if browser == "firefox" else _driver()
    try:
        state = ready_after_reload(driver, plain_chat_site.url + "/index.html")
        assert state["isolated"] and state["controlled"], state
        assert state["isolation"] == {"state": "isolated", "reason": ""}, state
        assert state["navigation"] == "reload", state  # exactly one reload: this document is the second
        # Threads either way; Firefox ESR 140 has no relaxed SIMD, so its threaded engine is wasm32-mt.
        want = ("wasm32-relaxed-mt", "wasm32-mt") if browser == "firefox" else ("wasm32-relaxed-mt",)
        assert state["variant"] in want and state["threads"] == "2" and state["notice"] is None, state
        assert answer(driver, "What is the capital of France?").strip()
        # A later visit is isolated from the start: no second reload.
        driver.get(plain_chat_site.url + "/index.html")
        wait_state(driver, "ready")
        again = driver.execute_script(STATE)
        assert again["isolated"] and again["navigation"] == "navigate", again
    finally:
        driver.quit()


def test_without_service_workers_the_page_runs_on_one_thread(plain_chat_site):
    driver = Firefox(prefs={"dom.serviceWorkers.enabled": False})
    try:
        driver.get(plain_chat_site.url + "/index.html")
        wait_state(driver, "ready")
        state = driver.execute_script(STATE)
        assert not state["isolated"] and state["navigation"] == "navigate", state
        assert state["isolation"]["state"] == "unavailable", state
        assert state["variant"] == "wasm32-st" and state["threads"] == "1", state
        assert "one thread" in state["notice"] and "service worker" in state["notice"].lower(), state
        assert answer(driver, "What is the capital of France?").strip()
    finally:
        driver.quit()
