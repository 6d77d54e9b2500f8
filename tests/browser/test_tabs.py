"""Two tabs of one origin sharing the model cache (OPFS): Chromium, one profile, two pages.

- both load the same URL at the same time: one downloads, the other waits for it
  (a Web Lock per URL, store.mjs) and reads the cached copy; both answer alike;
- one reads the cached model while the other deletes it: the load is correct and
  the delete happens after it, or fails with CacheError (cache_busy);
- the storage is evicted between visits (the folder gone): the next load downloads.
No wrong bytes are ever mapped: every cached read is checked against its checksum
(download.mjs), and each outcome is a correct load or a typed error.
"""

from __future__ import annotations

import json

import pytest

from conftest import Page, _driver, _open, poll

LOAD = """
from pyodide_llm import LLM
llm = await LLM.load("models/smollm2.gguf", n_ctx=128)
text = await llm.complete("1, 2, 3, 4, 5,", max_tokens=4, temperature=0).text()
report = llm.load_report
await llm.close(keep_engine=False)
_json.dumps({"text": text, "sources": list(report.sources), "notices": list(report.notices)})
"""


class Tab:
    """One tab of the shared browser: Page.run in it, or a job started now and awaited later."""

    def __init__(self, driver, page: Page, handle: str) -> None:
        self.driver, self.page, self.handle = driver, page, handle

    def run(self, code: str, timeout: float = 180):
        self.driver.switch_to.window(self.handle)
        return self.page.run(code, timeout)

    def start(self, code: str) -> None:
        """Run ``code`` in the page without waiting (its result is read by :meth:`result`)."""
        self.driver.switch_to.window(self.handle)
        self.driver.execute_script("""
            window.job = null;
            window.pyodideReady.then((py) => py.runPythonAsync("import json as _json\\n" + arguments[0]))
              .then((v) => { window.job = { ok: true, value: String(v) }; },
                    (e) => { window.job = { ok: false, error: String(e) }; });
        """, code)

    def result(self, timeout: float = 180):
        def done():
            self.driver.switch_to.window(self.handle)
            return self.driver.execute_script("return window.job")
        job = poll("the tab's job", done, timeout, every=0.2)
        if not job["ok"]:
            raise AssertionError(f"Python in the tab failed:\n{job['error']}")
        return json.loads(job["value"])


@pytest.fixture(scope="module")
def tabs(servers):
    driver = _driver()
    try:
        first = _open(driver, servers["isolated"])
        a = Tab(driver, first, driver.current_window_handle)
        driver.switch_to.new_window("tab")
        second = _open(driver, servers["isolated"])
        b = Tab(driver, second, driver.current_window_handle)
        a.run("import pyodide_llm\nawait pyodide_llm.cache.clear()\n_json.dumps(True)")
        yield a, b
    finally:
        driver.quit()


def test_two_tabs_loading_one_url_download_it_once(tabs):
    a, b = tabs
    a.start(LOAD)
    b.start(LOAD)
    ra, rb = a.result(), b.result()
    assert ra["text"] == rb["text"] and ra["text"].startswith(" 6,"), (ra, rb)
    assert sorted([ra["sources"], rb["sources"]]) == [["cache"], ["network"]], (ra, rb)
    waited = rb if rb["sources"] == ["cache"] else ra
    # The tab that came second either waited for the lock (and says so) or came after the commit.
    assert all("downloading it again" not in n for n in waited["notices"]), waited


def test_a_delete_in_one_tab_while_the_other_reads_the_cached_model(tabs):
    a, b = tabs
    a.run(LOAD)  # cached now (if the first test did not leave it so)
    a.start(LOAD)
    b.start("""
import pyodide_llm
from pyodide_llm import CacheError
try:
    outcome = {"deleted": await pyodide_llm.cache.delete("models/smollm2.gguf")}
except CacheError as e:
    outcome = {"error": e.code}
_json.dumps(outcome)
""")
    ra, rb = a.result(), b.result()
    assert ra["text"].startswith(" 6,"), ra
    assert rb in ({"deleted": 1}, {"deleted": 0}, {"error": "cache_busy"}), rb
    after = a.run(LOAD)  # whatever happened, the next load is correct
    assert after["text"] == ra["text"], after


def test_storage_evicted_between_visits_downloads_again(tabs):
    a, _ = tabs
    a.run(LOAD)
    a.run("""
import js
root = await js.navigator.storage.getDirectory()
await root.removeEntry("pyodide_llm-models", js.Object.fromEntries([["recursive", True]]))
_json.dumps(True)
""")
    r = a.run(LOAD)
    assert r["sources"] == ["network"] and r["text"].startswith(" 6,"), r
