"""The JupyterLite example in Chromium: the notebook as a user runs it, and a kernel restart mid-generation.

The site is built by ``recipes.jupyterlite`` (the example's one build command)
and served from 127.0.0.1; Chromium resolves no other host name, so anything
fetched from a CDN or PyPI would fail. The notebook is driven through JupyterLab's
own objects (``window.jupyterapp``, exposed by the example's jupyter-lite.json):
"run all cells", the kernel's execute requests, "restart kernel" and its dialog.
The page is polled in short calls (one long script would hit selenium's timeout).

Engine workers are seen with the Chrome DevTools Protocol: ``Target.getTargets``
lists every worker with its parent, and the engine worker (and its pthreads) are
the only workers the kernel's worker starts. CDP does not report a worker's
``name`` (our "pyodide_llm <variant>"), so they are recognised by that parentage.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

import conftest
from conftest import ROOT
from pyodide_llm._host.serve import Handler, StaticServer
from recipes.jupyterlite import KERNEL_PLUGIN, MODEL_PATH
from simple_index import IndexHandler, build_index

NOTEBOOK = ROOT / "examples" / "jupyterlite" / "chat.ipynb"
GREEDY = " 6, 7, 8"  # native llama.cpp's greedy continuation of "1, 2, 3, 4, 5," (as in test_delivery)
KERNEL_WORKER = "pyodide-kernel-extension"  # in the kernel worker script's URL
# How long a worker tree may take to end (the old kernel's after a restart, an engine's after
# close()), from the click or the call. A worker ends only after every worker it started
# (kernel > engine > the engine's thread workers), and Chromium gives one still running script
# 2 s before stopping it by force (kForcibleTerminationDelay in Blink's worker_thread.cc); ggml's
# thread never returns to its event loop, so a restart always waits for that once. Measured
# over 56 restarts mid-generation, alone and beside two busy loops on the 2 cores: 1.99-2.66 s
# in 42, 3.27-5.12 s in 14 (the kernel or the engine was busy too: one more 2 s). Three levels
# make 6 s at most; 15 s leaves room for a loaded machine. A teardown that hangs never ends (see
# worker.mjs's pool size), so a longer bound would only fail later, with the same timeline.
TEARDOWN_S = 15
# Long enough to be still streaming when the kernel restarts (n_ctx is 2048 in the notebook).
LONG_GENERATION = """
async for piece in llm.complete("Once upon a time", max_tokens=1900, ignore_eos=True, temperature=0.8):
    print(piece, end="", flush=True)
"""


def _code_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _cell(marker: str) -> int:
    """Index (among code cells) of the notebook's cell whose source contains ``marker``."""
    [index] = [i for i, src in enumerate(_code_cells()) if marker in src]
    return index


@pytest.fixture(scope="session")
def lite_site(tmp_path_factory) -> Path:
    from recipes.build import log
    from recipes.jupyterlite import build_site

    wheels = sorted((ROOT / "dist").glob("pyodide_llm-*-py3-none-any.whl"))
    if not wheels:
        pytest.fail("no wheel in dist/: run `make wheel` (make test does)")
    t = time.monotonic()
    site = build_site(tmp_path_factory.mktemp("jupyterlite") / "site", wheels[-1], log=log)
    print(f"\nJUPYTERLITE site built in {time.monotonic() - t:.1f} s")
    return site


@pytest.fixture(scope="module")
def servers(lite_site):
    """The site with COOP/COEP (threads) and without (one thread; the kernel uses its other channel)."""
    started = {"isolated": StaticServer(lite_site, isolated=True), "plain": StaticServer(lite_site, isolated=False)}
    yield started
    for srv in started.values():
        srv.stop()


@pytest.fixture
def browser():
    """A fresh headless Chromium (empty profile: an empty model cache) that resolves no host name
    but 127.0.0.1 (conftest.CHROMIUM_FLAGS)."""
    driver = conftest._driver()
    yield driver
    driver.quit()


class Notebook:
    """chat.ipynb open in JupyterLite's Notebook app, driven through ``window.jupyterapp``."""

    PANEL = "window.jupyterapp.shell.currentWidget"

    def __init__(self, driver, server: StaticServer) -> None:
        self.driver = driver
        self.server = server
        self.opened = time.monotonic()
        self.restarted_at: float | None = None  # see restart_kernel()
        driver.get(f"{server.url}/notebooks/index.html?path={NOTEBOOK.name}")
        self.wait_for_kernel()

    def js(self, body: str, *args):
        return self.driver.execute_script(body, *args)

    def wait(self, what: str, probe, timeout: float = 180):
        """Poll ``probe()`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
        return conftest.poll(what, probe, timeout, lambda: (
            f"cells: {json.dumps(self.cells(), indent=1)[-3000:]}\nconsole: {self.console()}\n"
            f"workers: {json.dumps(conftest.worker_targets(self.driver), indent=1)}"))

    def wait_for_kernel(self) -> None:
        self.wait("an idle kernel", lambda: self.js(f"""
            const k = window.jupyterapp && {self.PANEL}?.sessionContext?.session?.kernel;
            return k?.status === "idle";
        """))

    def cells(self) -> list[dict]:
        """Each code cell: done (ran to its end), its stream output text, its errors."""
        if not self.js("return !!window.jupyterapp"):
            return []
        return self.js(f"""
            return {self.PANEL}.content.widgets.filter((c) => c.model.type === "code").map((c) => ({{
              done: c.model.executionCount !== null && !c.promptNode.innerText.includes("*"),
              // The outputs' model, not the page's text: JupyterLab renders only the cells near the
              // viewport, and a cell scrolled away shows no text (innerText "") though it has output.
              text: c.model.outputs.toJSON().map((o) => [].concat(o.text ?? []).join("")).join(""),
              errors: c.model.outputs.toJSON().filter((o) => o.output_type === "error")
                       .map((o) => `${{o.ename}}: ${{o.evalue}}`),
            }}));
        """)

    def record_output(self, index: int) -> None:
        """Keep every state a cell's output text passes through (seen in the page, not by polling)."""
        self.js(f"""
            const cell = {self.PANEL}.content.widgets.filter((c) => c.model.type === "code")[arguments[0]];
            window.__states = [];
            new MutationObserver(() => window.__states.push(cell.outputArea.node.innerText))
              .observe(cell.outputArea.node, {{ subtree: true, childList: true, characterData: true }});
        """, index)

    def recorded(self) -> list[str]:
        return self.js("return window.__states")

    def run_all(self, timeout: float = 300) -> tuple[list[dict], float]:
        """Run every cell as the "Run All" menu does; the cells once all ran, and the first output's time."""
        self.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        first: list[float] = []

        def finished():
            cells = self.cells()
            if not first and any(c["text"].strip() for c in cells):
                first.append(time.monotonic() - self.opened)
            failed = [e for c in cells for e in c["errors"]]
            assert not failed, f"a cell failed: {failed}\n{json.dumps(cells, indent=1)}"
            return cells if cells and all(c["done"] for c in cells) else None

        cells = self.wait("every cell to run", finished, timeout)
        return cells, first[0]

    def start(self, code: str) -> None:
        """Send ``code`` to the kernel (an execute request) without waiting; see :meth:`result`."""
        self.js(f"""
            const k = {self.PANEL}.sessionContext.session.kernel;
            const run = {{ out: [], reply: null }};
            window.__run = run;
            const future = k.requestExecute({{ code: arguments[0] }});
            future.onIOPub = (m) => {{
              if (m.header.msg_type === "stream") run.out.push(m.content.text);
              if (m.header.msg_type === "error") {{
                run.out.push(`${{m.content.ename}}: ${{m.content.evalue}}`);
                run.traceback = m.content.traceback;
              }}
            }};
            future.done.then((m) => (run.reply = m.content.status), (e) => (run.reply = `cancelled: ${{e}}`));
        """, code)

    def output(self) -> str:
        return self.js("return window.__run.out.join('')")

    def result(self, timeout: float = 180) -> str:
        reply = self.wait("the kernel's reply", lambda: self.js("return window.__run.reply"), timeout)
        assert reply == "ok", f"{reply}\n{self.output()}"
        return self.output()

    def execute(self, code: str, timeout: float = 180) -> str:
        self.start(code)
        return self.result(timeout)

    def restart_kernel(self) -> list[str]:
        """Kernel > Restart Kernel..., then the dialog's Restart button, as a user does.

        Returns the kernel statuses seen until it is idle again (the kernel keeps its id);
        ``restarted_at`` is when the Restart button was clicked.
        """
        self.js(f"""
            window.__statuses = [];
            {self.PANEL}.sessionContext.statusChanged.connect((_, status) => window.__statuses.push(status));
            window.jupyterapp.commands.execute("kernelmenu:restart");
        """)
        self.wait("the restart dialog", lambda: self.js(
            "return document.querySelector('.jp-Dialog .jp-mod-accept') !== null"), 30)
        self.restarted_at = time.monotonic()
        self.js("document.querySelector('.jp-Dialog .jp-mod-accept').click()")
        return self.wait("the restarted kernel to be idle", lambda: self.js("""
            const seen = window.__statuses;
            return seen.some((s) => s !== "idle" && s !== "busy") && seen.at(-1) === "idle" ? seen : null;
        """))

    def workers(self) -> dict[str, list[str]]:
        """Worker targets by kind: the kernel's workers, and those started under them (engine + pthreads)."""
        workers = conftest.worker_targets(self.driver)
        kernels = [w for w, t in workers.items() if KERNEL_WORKER in t["url"]]
        return {"kernel": kernels, "engine": [w for w in conftest.started_under(workers, kernels) if w not in kernels]}

    def console(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def model_requests(self) -> list[str]:
        return [r for r in self.server.requests if r.startswith("/files/models/")]


def _xfail_if_chromium_kept_it(nb: Notebook, e: AssertionError) -> None:
    """An xfail when the kernel's client did terminate its engine worker and Chromium kept it.

    Chromium 156 sometimes keeps a terminated worker that has pthread workers (client.mjs,
    ``endedEngines``); a worker the client never ended stays a failure (the caller re-raises).
    """
    ended = nb.execute('from pyodide_llm._browser.files import module\n'
                       'print((await module("js/client.mjs")).endedEngines())', 60)
    if ended.strip() not in ("", "0"):
        pytest.xfail(f"Chromium kept an engine worker the client terminated ({ended.strip()} ended): {e}")


def _assert_offline_and_clean(nb: Notebook) -> None:
    """Nothing was fetched from outside the site, and nothing of ours logged an error."""
    errors = nb.console()
    unresolved = [e for e in errors if "ERR_NAME_NOT_RESOLVED" in e]
    assert not unresolved, f"something tried to leave 127.0.0.1: {unresolved}"
    not_found = [e for e in errors if "status of 404" in e and "/favicon.ico" not in e]
    assert not not_found, not_found
    ours = [e for e in errors if "blob:" in e or "pyodide_llm" in e]
    assert not ours, ours
    for e in errors:  # JupyterLite's own noise (its favicon), shown for the record
        print(f"console: {e[:200]}")


RELATIVE_URLS = """
import os
import pyodide_llm
os.chdir("models")
try:
    info = await pyodide_llm.inspect("SmolLM2-135M-Instruct.Q4_1.gguf")
    print("inspect:", info.architecture, info.file_size)
    try:
        await pyodide_llm.LLM.load("no-such.gguf")
    except pyodide_llm.ModelSourceError as e:
        print("missing:", e.code, e)
finally:
    os.chdir("..")
"""


def _seconds(line: str) -> float:
    return float(re.search(r"in ([0-9.]+) s", line).group(1))


@pytest.mark.parametrize("mode", ["isolated", "plain"])
def test_the_notebook_runs_offline_streams_and_reloads_from_the_cache(browser, servers, mode):
    nb = Notebook(browser, servers[mode])
    print(f"\nJUPYTERLITE kernel idle {time.monotonic() - nb.opened:.1f} s after opening the notebook")
    chat = _cell("llm.chat(")
    nb.record_output(chat)
    cells, first_output = nb.run_all()
    load, answer = cells[_cell("first_s = ")]["text"], cells[chat]["text"]
    completion, reload = cells[_cell("llm.complete(")]["text"], cells[_cell("second load")]["text"]

    # The first load came over the network with a progress bar drawn in the cell.
    assert re.search(r"download +\[#+\] 100\.0%", load) and re.search(r"load +\[#+\] 100\.0%", load), load
    [first_line] = [ln for ln in load.splitlines() if ln.startswith("first load:")]
    assert first_line.startswith("first load: ('network',) in"), load

    # The chat answer: model text, then the token count the library reports.
    text, _, count = answer.rstrip().rpartition("\n")
    tokens = int(re.fullmatch(r"\[(\d+) tokens\]", count).group(1))
    assert text.strip() and tokens > 0, answer
    # ...streamed into the cell: the page showed it growing, each state a beginning of the end result.
    states = [s for s in dict.fromkeys(nb.recorded()) if s.strip()]
    partial = [s for s in states if s.rstrip() != answer.rstrip()]
    assert len(partial) >= 2 and all(answer.startswith(s.rstrip()) for s in partial), states

    assert completion.strip() == f"completion: {GREEDY!r}", completion
    # No llama-server on this machine's port 8080: the server cell says so and the notebook goes on.
    remote = cells[_cell("LLM.connect(")]["text"]
    assert remote.startswith("no llama-server at http://127.0.0.1:8080: skipped"), remote

    # The second load read the browser's cache: the engine fetched nothing (the server-side proof
    # is in the restart test, where the load runs alone).
    [second_line] = [ln for ln in reload.splitlines() if ln.startswith("second load:")]
    assert re.match(r"second load: \('cache',\) in [0-9.]+ s, 0 network requests", second_line), reload
    assert "cache    [" in reload and "download" not in reload, reload
    assert nb.model_requests(), "the first load fetched nothing from the site"

    # The last cell closed the model with keep_engine=False: no engine worker is left.
    try:
        nb.wait("the engine worker to end after close()", lambda: not nb.workers()["engine"], 30)
    except AssertionError as e:
        _xfail_if_chromium_kept_it(nb, e)
        raise
    _assert_offline_and_clean(nb)
    assert nb.js("return crossOriginIsolated") == (mode == "isolated")

    # Relative model URLs mean the kernel's working folder in the site's contents, as files do in
    # Jupyter: from models/ the bare name finds the same file (the same cache entry), and a missing
    # model's error names the URL it was looked for at.
    served = len(nb.model_requests())
    out = nb.execute(RELATIVE_URLS)
    assert f"inspect: llama {(nb.server.root / 'files' / MODEL_PATH).stat().st_size}" in out, out
    assert nb.model_requests()[served:] == ["/files/models/no-such.gguf"], "the header was not read from the cache"
    assert f"missing: http_error HTTP 404 File not found for {nb.server.url}/files/models/no-such.gguf" in out, out
    print(f"JUPYTERLITE {mode}: the site's Atomics.waitAsync fix was needed "
          f"{nb.js('return Atomics.waitAsync.settledAtCall')} times; "
          f"first output {first_output:.1f} s after opening; load network {_seconds(first_line):.1f} s, "
          f"cache {_seconds(second_line):.1f} s; {tokens} tokens streamed in {len(partial) + 1} steps")


@pytest.mark.parametrize("mode", ["isolated", "plain"])
def test_restarting_the_kernel_mid_generation_leaves_no_engine_worker(browser, servers, mode):
    nb = Notebook(browser, servers[mode])
    cells = _code_cells()
    load = cells[_cell("%pip")] + "\n" + cells[_cell("first_s = ")]
    assert not nb.workers()["engine"]
    nb.execute(load)
    nb.start(LONG_GENERATION)
    nb.wait("the long generation to stream", lambda: len(nb.output()) > 100, 60)
    before = nb.workers()
    # Isolated, the engine worker has its pthreads under it too.
    assert len(before["kernel"]) == 1 and before["engine"], before

    with conftest.TargetEvents(browser) as targets:
        statuses = nb.restart_kernel()
        # The old kernel's worker ended, and with it the engine worker it started and the engine's threads.
        ended = targets.wait_destroyed("the old kernel's workers to end", before["kernel"] + before["engine"],
                                       nb.restarted_at, TEARDOWN_S)
        after = nb.workers()
        assert after["engine"] == [] and len(after["kernel"]) == 1 and after["kernel"][0] not in before["kernel"], after
        streamed = nb.output()
        assert nb.js("return window.__run.reply").startswith("cancelled"), "the generation ended before the restart"

        # The new kernel installs, loads (from the browser's cache: the server sees no request) and generates.
        served = len(nb.model_requests())
        out = nb.execute(load + "\n" + cells[_cell("llm.complete(")])
        assert "first load: ('cache',)" in out and f"completion: {GREEDY!r}" in out, out
        assert len(nb.model_requests()) == served
        engine = nb.workers()["engine"]
        assert engine, "the new kernel's engine worker is not there"
        closing = time.monotonic()
        nb.execute("await llm.close(keep_engine=False)")
        try:
            closed = targets.wait_destroyed("the engine worker to end after close(keep_engine=False)", engine,
                                            closing, TEARDOWN_S)
        except AssertionError as e:
            _xfail_if_chromium_kept_it(nb, e)
            raise
    _assert_offline_and_clean(nb)
    print(f"\nJUPYTERLITE restart ({mode}): {len(streamed)} characters streamed before it; kernel statuses "
          f"{statuses}; engine workers before {len(before['engine'])}, after 0; the old kernel's workers ended "
          f"{max(ended.values()):.2f} s after the click; the closed engine's {max(closed.values()):.2f} s after "
          "close()")


def test_the_server_cell_streams_from_a_running_llama_server(browser, servers, tmp_path_factory):
    """The notebook's LLM.connect cell, as written, against a real llama-server (its URL swapped in)."""
    sys.path.insert(0, str(ROOT / "tests" / "remote"))
    from llama_servers import smollm2, start

    server = start(tmp_path_factory, smollm2(), "jupyterlite")
    try:
        nb = Notebook(browser, servers["isolated"])
        cells = _code_cells()
        cell = cells[_cell("LLM.connect(")]
        assert 'SERVER = "http://127.0.0.1:8080"' in cell
        setup = "from pyodide_llm import LLM\n" + cells[_cell("llm.chat(")].partition("\n")[0]  # messages = [...]
        out = nb.execute(cells[_cell("%pip")] + "\n" + setup + "\n" + cell.replace("http://127.0.0.1:8080", server.url))
    finally:
        server.stop()
    text, _, count = out.rstrip().rpartition("\n")
    assert text.strip() and "skipped" not in out, out
    assert re.fullmatch(rf"\[\d+ tokens from SmolLM2-135M-Instruct\.Q4_1 at {re.escape(server.url)}\]", count), out


class WithoutOurWheel(Handler):
    """The site as a JupyterLite deployment that does not ship our wheel (any public one, after a release).

    piplite's site index (``pypi/all.json``) lacks pyodide-llm, and the kernel may look
    further (``disablePyPIFallback`` false, JupyterLite's default): ``%pip install`` then
    asks micropip's index, PyPI, which the test replaces with a local one.
    """

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path not in ("/jupyter-lite.json", "/pypi/all.json"):
            return super().do_GET()
        self.log.append(self.path)
        data = json.loads(Path(self.translate_path(path)).read_text())
        if path == "/pypi/all.json":
            del data["pyodide-llm"]
        else:
            data["jupyter-config-data"]["litePluginSettings"][KERNEL_PLUGIN]["disablePyPIFallback"] = False
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_pip_install_by_name_from_a_package_index(browser, lite_site, tmp_path_factory):
    """``%pip install pyodide-llm`` on a site without our wheel: piplite asks micropip's index (PyPI's stand-in).

    piplite 0.8.6 resolves a name in the site's ``all.json`` files first (how the example
    site installs: ``pipliteUrls``), then, unless ``disablePyPIFallback``, through micropip's
    index URLs. Its ``%pip`` has no ``--index-url``, so the index is set as micropip's
    default (``micropip.set_index_urls``), where PyPI is for users.
    """
    [wheel] = (lite_site / "pypi").glob("pyodide_llm-*.whl")
    index_root = tmp_path_factory.mktemp("lite-index")
    index_server = StaticServer(index_root, isolated=False, base=IndexHandler)
    site_server = StaticServer(lite_site, isolated=True, base=WithoutOurWheel)
    try:
        index = build_index(index_root, wheel, index_server.url)
        nb = Notebook(browser, site_server)
        refused = nb.execute(f"%pip install --index-url {index} pyodide-llm\n"
                             "import importlib.util\nprint('found:', importlib.util.find_spec('pyodide_llm'))")
        nb.execute(f"import micropip\nmicropip.set_index_urls([{index!r}])")
        cells = _code_cells()
        out = nb.execute(cells[_cell("%pip")] + "\n" + cells[_cell("first_s = ")] + "\n" + cells[_cell("llm.complete(")]
                         + "\nimport pyodide_llm\nprint('installed:', pyodide_llm.__version__, "
                         "micropip.list()['pyodide-llm'].source)\nawait llm.close(keep_engine=False)")
    finally:
        index_server.stop()
        site_server.stop()
    # piplite's %pip knows no --index-url: the line installs nothing, and says nothing either.
    assert refused.strip().endswith("found: None"), refused
    assert f"completion: {GREEDY!r}" in out, out
    assert f"installed: {wheel.name.split('-')[1]} pypi" in out, out  # "pypi": from an index, its sha256 checked
    assert index_server.requests == ["/simple/pyodide-llm/ as JSON", f"/files/{wheel.name}.metadata",
                                     f"/files/{wheel.name}"], index_server.requests
    assert f"/pypi/{wheel.name}" not in site_server.requests, "installed from the site's own copy"
    _assert_offline_and_clean(nb)
    print(f"\nJUPYTERLITE %pip install pyodide-llm from {index}: {index_server.requests}")



STOPPED = "generation interrupted: the engine stopped, the model is still loaded"
INTERRUPTIBLE = """
pieces = 0
async for piece in llm.complete("Once upon a time", max_tokens=1900, ignore_eos=True, temperature=0.8):
    pieces += 1
    print(piece, end="", flush=True)
print("\\nthe loop ended without an interrupt")
"""


@pytest.mark.parametrize("mode", ["isolated", "plain"])
def test_the_stop_button_stops_the_generation_and_keeps_the_model(browser, servers, mode):
    """Kernel > Interrupt (the toolbar's stop button and ``I, I`` run the same command) mid-generation."""
    nb = Notebook(browser, servers[mode])
    cells = _code_cells()
    nb.execute(cells[_cell("%pip")] + "\n" + cells[_cell("first_s = ")])
    engine = nb.workers()["engine"]
    nb.start(INTERRUPTIBLE)
    nb.wait("the generation to stream", lambda: len(nb.output()) > 100, 60)
    shown = nb.js("""
        window.jupyterapp.commands.execute("notebook:interrupt-kernel");
        return window.__run.out.length;  // stream messages the page had when the button was pressed
    """)
    reply = nb.wait("the interrupted cell's reply", lambda: nb.js("return window.__run.reply"), 30)
    after = nb.js("return window.__run.out.slice(arguments[0])", shown)
    assert reply == "error", (reply, nb.output()[-300:])
    # One short line, not a traceback through the package; at most a token or two after the press
    # (one may be in flight each way), and the loop did not go on.
    [error] = [m for m in after if m.endswith(STOPPED)]
    assert "GenerationCancelled" in error, error
    assert len([m for m in after if m is not error and m]) <= 2, after  # a flush can be an empty message
    assert "without an interrupt" not in nb.output()
    assert nb.js("return window.__run.traceback") == [STOPPED], nb.js("return window.__run.traceback")
    # The model is still loaded in the kernel and answers the next cell; the same engine worker.
    out = nb.execute(cells[_cell("llm.complete(")] + "\nprint('stats:', llm.last_stats.generated_tokens)")
    assert f"completion: {GREEDY!r}" in out, out
    assert nb.workers()["engine"] == engine
    nb.execute("await llm.close(keep_engine=False)")
    _assert_offline_and_clean(nb)
    print(f"\nJUPYTERLITE stop button ({mode}): {len([m for m in after if m]) - 1} pieces after the press")
