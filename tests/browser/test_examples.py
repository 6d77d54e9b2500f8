"""The PyScript chat and data-app examples, bundled by ``python -m pyodide_llm bundle`` and driven in Chromium.

The sites are written by the real CLI (offline Pyodide, PyScript, our wheel,
SmolLM2), then served by our server with COOP/COEP (threads); test_static_host.py
serves them from the standard library's plain http.server. The tests type, click
and read the page like a user.
"""

from __future__ import annotations

import csv
import functools
import io
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import ROOT, _driver
from pyodide_llm._host.serve import StaticServer

CATEGORIES = {"billing", "bug", "feature request", "account", "other"}


def _bundle(out: Path, example: str) -> Path:
    from recipes.build import log
    from recipes.pins import load_pins
    from recipes.pyodide_dist import pyodide_dist
    from recipes.pyscript_dist import pyscript_dist
    from recipes.source import model_file

    pins = load_pins()
    wheel = sorted((ROOT / "dist").glob("pyodide_llm-*-py3-none-any.whl"))[-1]
    cmd = [sys.executable, "-m", "pyodide_llm", "bundle", str(out), "--example", example,
           "--pyodide", str(pyodide_dist(pins, log)), "--pyscript", str(pyscript_dist(pins, log)),
           "--wheel", str(wheel), "--model", str(model_file(pins, "smollm2", log))]
    if example == "data-app":  # its search ranks tickets with an embedding model
        from recipes.embedmodel import embedding_model
        cmd += ["--embed-model", str(embedding_model(pins, "minilm", log))]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def chat_site(tmp_path_factory) -> Path:
    return _bundle(tmp_path_factory.mktemp("chat") / "site", "chat")


class PlainServer:
    """The standard library's http.server, as it comes: no COOP/COEP, no Range."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None  # type: ignore[attr-defined]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def browser():
    driver = _driver()
    yield driver
    driver.quit()


def wait_state(driver, *states: str, timeout: float = 180) -> str:
    end = time.monotonic() + timeout
    state = ""
    while time.monotonic() < end:
        state = driver.execute_script("return document.body.dataset.state")
        if state in states:
            return state
        if state == "error":
            break
        time.sleep(0.2)
    status = driver.execute_script("return document.getElementById('status').textContent")
    raise AssertionError(f"page state {state!r}, wanted {states}: {status}{_diagnosis(driver)}")


def _diagnosis(driver) -> str:
    """What the page and (in Chromium) its console said, so a page stuck in a state says why.

    Best effort: a failing look must not hide the failure being reported.
    """
    lines = []
    try:
        lines.append("page: " + repr(driver.execute_script(
            "return {isolated: self.crossOriginIsolated, controlled: !!(navigator.serviceWorker && "
            "navigator.serviceWorker.controller), isolation: window.pyodideLLMIsolation || null, "
            "navigation: (performance.getEntriesByType('navigation')[0] || {}).type || null}")))
    except Exception as e:
        lines.append(f"page unavailable: {e}")
    get_log = getattr(driver, "get_log", None)  # Chromium's driver; Firefox's BiDi one has none
    if get_log is not None:
        try:
            lines += ["console:"] + [e.get("message", "") for e in get_log("browser")[-40:]]
        except Exception as e:
            lines.append(f"console unavailable: {e}")
    return "".join("\n" + ln for ln in lines)


def last_answer(driver) -> str:
    return driver.execute_script(
        "const a = document.querySelectorAll('#log .assistant'); return a.length ? a[a.length - 1].textContent : ''")


def ask(driver, text: str) -> None:
    box = driver.find_element("id", "question")
    box.send_keys(text)
    driver.find_element("id", "send").click()


def test_chat_streams_incrementally_stays_responsive_and_stops(chat_site, browser):
    server = StaticServer(chat_site, isolated=True)
    try:
        browser.get(server.url + "/index.html")
        wait_state(browser, "ready")
        model = browser.find_element("id", "model").text
        assert "wasm32-relaxed-mt" in model and "thread(s)" in model and "Q4_1" in model, model
        assert browser.execute_script("return document.getElementById('notice').hidden")

        ask(browser, "Tell me a long story about a lighthouse keeper.")
        wait_state(browser, "generating", timeout=30)
        lengths = []
        while len(set(lengths) - {0}) < 4:
            lengths.append(len(last_answer(browser)))  # each poll is a round trip to a responsive page
            assert browser.execute_script("return document.body.dataset.state") == "generating"
            time.sleep(0.05)
        assert lengths == sorted(lengths)  # the answer only grows, piece by piece
        browser.find_element("id", "stop").click()
        wait_state(browser, "stopped", timeout=30)
        frozen = last_answer(browser)
        time.sleep(1.0)
        assert last_answer(browser) == frozen and frozen  # nothing arrives after stop

        browser.find_element("id", "stop").click()  # pressed again with nothing running
        browser.find_element("id", "stop").click()
        assert browser.execute_script("return document.body.dataset.state") == "stopped"

        # Stop before the first token: send and stop in the same task of the page.
        browser.find_element("id", "question").send_keys("Hello!")
        browser.execute_script("document.getElementById('send').click(); document.getElementById('stop').click();")
        wait_state(browser, "stopped", timeout=30)

        ask(browser, "Say hello in French.")
        wait_state(browser, "done", timeout=120)
        assert last_answer(browser).strip()
        assert browser.find_element("id", "send").is_enabled()
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
        assert not errors, errors
    finally:
        server.stop()


def test_the_bundle_has_what_static_hosts_need(chat_site):
    headers = (chat_site / "_headers").read_text()
    assert "Cross-Origin-Embedder-Policy: require-corp" in headers
    assert "Cross-Origin-Opener-Policy" in (chat_site / "vercel.json").read_text()
    assert "AddType text/javascript .mjs" in (chat_site / ".htaccess").read_text()
    assert (chat_site / "pyodide_llm-sw.js").read_bytes() == (chat_site / "pyodide_llm/js/isolation-sw.js").read_bytes()
    for f in ("index.html", "main.py", "site.json", "pyscript.json", "pyodide/pyodide.mjs", "pyscript/core.js"):
        assert (chat_site / f).is_file(), f
    assert len(list((chat_site / "wheels").glob("*.whl"))) == 1
    assert len(list((chat_site / "models").glob("*.gguf"))) == 1
    # No page of the site names an external host: everything is served from the folder.
    for f in list(chat_site.glob("*.html")) + list(chat_site.glob("*.json")) + list(chat_site.glob("*.py")):
        assert "https://" not in f.read_text(), f


def _run_all(browser) -> list[float]:
    browser.find_element("id", "run").click()
    progress = []
    while browser.execute_script("return document.body.dataset.state") != "done":
        progress.append(browser.execute_script("return document.getElementById('progress').value"))
        wait_state(browser, "extracting", "done", timeout=300)
        time.sleep(0.2)
    return progress


def test_data_app_extracts_schema_fields_from_every_row(tmp_path_factory, browser):
    site = _bundle(tmp_path_factory.mktemp("data") / "site", "data-app")
    server = StaticServer(site, isolated=True)
    try:
        browser.get(server.url + "/index.html")
        wait_state(browser, "ready")
        progress = _run_all(browser)
        shown = {f: [td.text for td in browser.find_elements("css selector", f"#rows td.{f}")]
                 for f in ("category", "urgency", "summary")}
        exported = list(csv.DictReader(io.StringIO(browser.execute_script("return document.body.dataset.csv"))))
        first_run = browser.execute_script("return document.body.dataset.resumed")
        # Search by meaning (all-MiniLM-L6-v2 in the page): the refund ticket ranks first.
        browser.find_element("id", "query").send_keys("I want my money back")
        browser.find_element("id", "search").click()
        deadline = time.monotonic() + 120
        while not browser.execute_script("return document.body.dataset.ranking") and time.monotonic() < deadline:
            time.sleep(0.2)
        ranking = (browser.execute_script("return document.body.dataset.ranking") or "").split(",")
        shown_order = [tr.find_element("css selector", "td").text
                       for tr in browser.find_elements("css selector", "#rows tr")]
        # A reloaded page runs the same job again: every row comes from the checkpoint.
        browser.get(server.url + "/index.html")
        wait_state(browser, "ready")
        _run_all(browser)
        resumed = browser.execute_script("return document.body.dataset.resumed")
        again = list(csv.DictReader(io.StringIO(browser.execute_script("return document.body.dataset.csv"))))
    finally:
        server.stop()
    assert ranking[0] == "1" and sorted(ranking) == [str(i) for i in range(1, 9)], ranking
    assert shown_order == ranking
    assert (first_run, resumed) == ("0", "8") and again == exported
    source = list(csv.DictReader(io.StringIO((site / "tickets.csv").read_text())))
    assert len(exported) == len(source) == 8 and all(len(v) == 8 for v in shown.values())
    assert set(shown["category"]) <= CATEGORIES, shown
    assert set(shown["urgency"]) <= {"low", "medium", "high"}, shown
    assert all(3 <= len(s) <= 60 for s in shown["summary"]), shown  # the schema's minLength/maxLength
    assert [[r[f] for f in shown] for r in exported] == [list(t) for t in zip(*shown.values(), strict=True)]
    assert [r["id"] for r in exported] == [r["id"] for r in source]
    assert any(0 < p < 1 for p in progress), progress  # per-row progress was shown on the way


def test_installing_the_wheel_twice_is_harmless(chat_site, browser):
    """A notebook cell run twice (or two pages' configs) installs the same wheel again."""
    server = StaticServer(chat_site, isolated=True)
    try:
        browser.get(server.url + "/index.html")
        wait_state(browser, "ready")
        wheel = next((chat_site / "wheels").glob("*.whl")).name
        browser.set_script_timeout(120)
        r = browser.execute_async_script("""
            const [wheel, done] = arguments;
            (async () => {
              const { loadPyodide } = await import("./pyodide/pyodide.mjs");
              const py = await loadPyodide({ indexURL: "./pyodide/" });
              await py.loadPackage("micropip");
              return await py.runPythonAsync(`
import micropip, json, js
await micropip.install("./wheels/${wheel}")
await micropip.install("./wheels/${wheel}")
import pyodide_llm
from pyodide_llm import LLM
site = json.loads(await (await js.fetch("./site.json")).text())
llm = await LLM.load(site["model"], n_ctx=256)
text = "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
await llm.close()
json.dumps([pyodide_llm.__version__, text, len(micropip.list())])
`);
            })().then((v) => done(v), (e) => done("ERROR " + e));
        """, wheel)
    finally:
        server.stop()
    assert not r.startswith("ERROR"), r
    import json

    version, text, _ = json.loads(r)
    assert version == "0.0.1" and text == " 6, 7, 8"
