"""Browser tests: headless Chromium (Debian's) + offline Pyodide + the real wheel and model.

Everything the tests need is built by the recipes (wheel, Pyodide folder,
model) and served from 127.0.0.1, once with COOP/COEP (threads) and once without.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyodide_llm._host.serve import StaticServer  # noqa: E402
from testsite import FaultyHandler, build_site  # noqa: E402

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
                  "--disable-dev-shm-usage",
                  # Offline proof: every host name but 127.0.0.1 fails to resolve, so a fetch from a
                  # CDN or a package index fails at once instead of passing unnoticed.
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]


def ensure_chromium() -> None:
    """Install Debian's chromium and chromedriver when missing (needs root)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], env=env, check=True)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "slow: minutes long (the > 4.5 GB model); skip with -m 'not slow'")


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    from recipes.build import log
    from recipes.pins import load_pins
    from recipes.pyodide_dist import pyodide_dist
    from recipes.source import model_file

    wheels = sorted((ROOT / "dist").glob("pyodide_llm-*-py3-none-any.whl"))
    if not wheels:
        pytest.fail("no wheel in dist/: run `make wheel` (make test does)")
    pins = load_pins()
    return build_site(tmp_path_factory.mktemp("site"), pyodide_dist(pins, log), wheels[-1],
                      model_file(pins, "smollm2", log))


@pytest.fixture(scope="session")
def servers(site):
    # The plain server also lacks Range support, the other way static servers differ.
    isolated = StaticServer(site, isolated=True, base=FaultyHandler)
    plain = StaticServer(site, isolated=False, ranges=False, base=FaultyHandler)
    yield {"isolated": isolated, "plain": plain}
    isolated.stop()
    plain.stop()


class Page:
    """One Chromium tab on the test page, with Pyodide and our wheel installed."""

    def __init__(self, driver, server: StaticServer) -> None:
        self.driver = driver
        self.server = server

    def run(self, code: str, timeout: float = 120):
        """Run async Python in the page; its last expression is returned through JSON."""
        self.driver.set_script_timeout(timeout)
        wrapped = "import json as _json\n" + code
        r = self.driver.execute_async_script("""
            const [code, done] = arguments;
            window.pyodideReady
              .then((py) => py.runPythonAsync(code))
              .then((v) => done({ ok: true, value: v === undefined ? null : String(v) }),
                    (e) => done({ ok: false, error: String(e) }));
        """, wrapped)
        if not r["ok"]:
            raise AssertionError(f"Python in the page failed:\n{r['error']}")
        return json.loads(r["value"]) if r["value"] not in (None, "None") else None

    def alive(self) -> bool:
        return self.driver.execute_script("return 1 + 1") == 2

    def engine_workers(self, variant: str = "") -> list[str]:
        """CDP target ids of our engine workers (named ``pyodide_llm <variant>``) and their pthreads."""
        return engine_workers(self.driver, variant)

    def wait_for(self, what: str, probe, timeout: float = 30):
        """Poll ``probe()`` until it is truthy; fail naming ``what`` and the workers Chromium still has."""
        return poll(what, probe, timeout, lambda: f"workers: {worker_targets(self.driver)}")

    def ended_engines(self) -> int:
        """How many engine workers the page's client has terminated (client.mjs ``endedEngines``)."""
        return self.run('from pyodide_llm._browser.files import module\n'
                        '_json.dumps((await module("js/client.mjs")).endedEngines())')

    def wait_ended(self, what: str, variant: str, ended_before: int) -> None:
        """Wait for the client to end an engine worker of ``variant`` and for Chromium to drop it.

        The client's part is asserted; Chromium 156 sometimes keeps a terminated worker
        that has pthread workers (client.mjs, ``endedEngines``): that is an xfail, reported.
        """
        self.wait_for(f"the client to end {what}", lambda: self.ended_engines() > ended_before)
        try:
            self.wait_for(what, lambda: not self.engine_workers(variant))
        except AssertionError as e:
            pytest.xfail(f"Chromium kept an engine worker the client terminated: {e}")


def poll(what: str, probe, timeout: float, detail=lambda: "", every: float = 0.1):
    """``probe()``'s first truthy result; after ``timeout`` s an AssertionError naming ``what`` + ``detail()``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if got := probe():
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail()}")


def worker_targets(driver) -> dict[str, dict]:
    """Every worker target Chromium knows of (CDP), by id: title (a worker's name), url, parentId."""
    infos = driver.execute_cdp_cmd("Target.getTargets", {})["targetInfos"]
    return {t["targetId"]: {k: t.get(k) for k in ("title", "url", "parentId")} for t in infos if t["type"] == "worker"}


class TargetEvents:
    """Chromium's target events (created, destroyed, crashed), each with when it arrived.

    chromedriver's ``execute_cdp_cmd`` sends commands but hands back no events, so this is a
    second DevTools client of the browser (chromedriver's ``debuggerAddress``, websocket-client
    being selenium's own dependency) subscribed with ``Target.setDiscoverTargets``. A test waits
    on ``Target.targetDestroyed`` itself, and a failure prints the timeline of every worker.
    Use it as a context manager; times are seconds of ``time.monotonic()``.
    """

    def __init__(self, driver) -> None:
        import websocket

        address = driver.capabilities["goog:chromeOptions"]["debuggerAddress"]
        with urllib.request.urlopen(f"http://{address}/json/version", timeout=10) as r:
            url = json.load(r)["webSocketDebuggerUrl"]
        # Without an Origin header: Chromium refuses DevTools websockets from origins it was not
        # started with (--remote-allow-origins), and a client that is not a page has none.
        self._ws = websocket.create_connection(url, suppress_origin=True, timeout=10)
        self._ws.settimeout(None)  # the reader waits for events as long as the test runs
        self._changed = threading.Condition()
        self._subscribed = False
        self.info: dict[str, dict] = {}  # targetId -> its latest targetInfo (type, url, parentId...)
        self.events: list[tuple[float, str, str]] = []  # (time, "created" | "destroyed" | "crashed", targetId)
        threading.Thread(target=self._read, name="cdp-target-events", daemon=True).start()
        self._ws.send(json.dumps({"id": 1, "method": "Target.setDiscoverTargets", "params": {"discover": True}}))
        with self._changed:
            if not self._changed.wait_for(lambda: self._subscribed, 10):
                raise AssertionError("Chromium did not answer Target.setDiscoverTargets within 10 s")

    def _read(self) -> None:
        kinds = {"Target.targetCreated": "created", "Target.targetDestroyed": "destroyed",
                 "Target.targetCrashed": "crashed"}
        while True:
            try:
                msg = json.loads(self._ws.recv())
            except Exception:  # closed (the test is done) or the browser is gone
                return
            with self._changed:
                if msg.get("id") == 1:
                    self._subscribed = True
                elif msg.get("method") == "Target.targetInfoChanged":  # a worker's URL comes after its creation
                    self.info[msg["params"]["targetInfo"]["targetId"]] = msg["params"]["targetInfo"]
                elif msg.get("method") in kinds:
                    params = msg["params"]
                    target = params.get("targetId") or params["targetInfo"]["targetId"]
                    if "targetInfo" in params:
                        self.info[target] = params["targetInfo"]
                    self.events.append((time.monotonic(), kinds[msg["method"]], target))
                self._changed.notify_all()

    def destroyed(self, targets) -> dict[str, float]:
        """When each of ``targets`` was destroyed (those that were), by id."""
        with self._changed:
            return {t: when for when, kind, t in self.events if kind == "destroyed" and t in targets}

    def wait_destroyed(self, what: str, targets, since: float, within: float) -> dict[str, float]:
        """Wait until every one of ``targets`` is destroyed, at most ``within`` s after ``since``.

        Returns each one's destruction in seconds after ``since``; fails naming ``what``, with
        the timeline of every worker since ``since``.
        """
        targets = set(targets)
        with self._changed:
            done = self._changed.wait_for(lambda: len(self.destroyed(targets)) == len(targets),
                                          max(0.0, since + within - time.monotonic()))
        if not done:
            left = sorted(targets - set(self.destroyed(targets)))
            raise AssertionError(f"{what}: {len(left)} of {len(targets)} workers still there {within:.0f} s later:\n"
                                 + "\n".join(f"  {self._describe(t)}" for t in left) + "\n" + self.timeline(since))
        return {t: round(when - since, 3) for t, when in self.destroyed(targets).items()}

    def _describe(self, target: str) -> str:
        info = self.info.get(target, {})
        return f"{target} (parent {info.get('parentId')}) {(info.get('title') or info.get('url') or '')[:80]}"

    def timeline(self, since: float) -> str:
        """Every worker event since ``since``, one line each: seconds after ``since``, event, worker."""
        with self._changed:
            lines = [f"  {when - since:+8.3f} s  {kind:9} {self._describe(target)}"
                     for when, kind, target in self.events
                     if when >= since and self.info.get(target, {}).get("type", "worker") == "worker"]
        return "worker events since the start of the wait:\n" + ("\n".join(lines) or "  none")

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> TargetEvents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def started_under(workers: dict[str, dict], roots) -> list[str]:
    """The workers in ``workers`` that are in ``roots`` or were started (at any depth) under one."""
    def below(w: str) -> bool:
        while w in workers:
            if w in roots:
                return True
            w = workers[w]["parentId"]
        return False

    return [w for w in workers if below(w)]


def engine_workers(driver, variant: str = "", under: str = "pyodide_llm") -> list[str]:
    """Workers whose title starts with ``under`` (+ `` variant``), with every worker started under them."""
    workers = worker_targets(driver)
    name = f"{under} {variant}" if variant else under
    return started_under(workers, {w for w, t in workers.items() if t["title"].startswith(name)})


def _driver(extra_flags: tuple[str, ...] = ()):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in (*CHROMIUM_FLAGS, *extra_flags):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")
    return webdriver.Chrome(options=opts, service=Service(executable_path=shutil.which("chromedriver")))


def _open(driver, server) -> Page:
    driver.get(server.url + "/index.html")
    page = Page(driver, server)
    # The page's module script defines pyodideReady; say why if it never ran (a failed import).
    try:
        page.wait_for("the test page's module script", lambda: driver.execute_script(
            "return window.pyodideReady !== undefined"), 30)
    except AssertionError as e:
        raise AssertionError(f"{e}\nconsole: {driver.get_log('browser')}\nserved: {server.requests[-20:]}") from None
    page.run(f"""
import micropip
await micropip.install({server.url + '/wheels/' + _wheel_name(server)!r})
import pyodide_llm
_json.dumps(pyodide_llm.__version__)
""", timeout=120)
    return page


def _wheel_name(server) -> str:
    return next(server.root.glob("wheels/*.whl")).name


def _page_on(server, extra_flags: tuple[str, ...] = ()):
    """A fresh Chromium on one server's test page, quit when the module is done."""
    driver = _driver(extra_flags)
    try:
        yield _open(driver, server)
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(servers):
    """A cross-origin isolated page (threads available)."""
    yield from _page_on(servers["isolated"])


@pytest.fixture(scope="module")
def unsafe_webgpu_page(servers):
    """A cross-origin isolated page in a Chromium that offers its software WebGPU adapter.

    Headless Chromium returns no adapter unless started with --enable-unsafe-webgpu;
    with it, the adapter is SwiftShader: a fallback adapter without shader-f16.
    """
    yield from _page_on(servers["isolated"], ("--enable-unsafe-webgpu",))


@pytest.fixture(scope="module")
def plain_page(servers):
    """A page served without COOP/COEP (no SharedArrayBuffer: single thread)."""
    yield from _page_on(servers["plain"])


# Every one of its 8 greedy steps has a clear winner in native llama.cpp (the top two
# logits at least 2.9 apart), so kernel-order rounding cannot flip a token.
NATIVE_PROMPT = "1, 2, 3, 4, 5,"


@pytest.fixture(scope="session")
def native_complete():
    """Greedy continuation of NATIVE_PROMPT (8 tokens) by native llama.cpp, same source."""
    from recipes.build import log, test_env
    from recipes.pins import load_pins
    from recipes.toolchain import ensure_toolchain

    env = test_env()
    script = "\n".join([
        "load " + json.dumps({"path": env["PLM_MODEL"], "n_ctx": 512, "n_threads": 2}),
        "generate_start " + json.dumps({"prompt": NATIVE_PROMPT, "sampling": {"temperature": 0}}),
        *["step {}"] * 8,
    ]) + "\n"
    tc = ensure_toolchain(load_pins(), log)
    r = tc.run(f"printf %s {shlex.quote(script)} | {shlex.quote(env['PLM_NATIVE'])}", capture=True)
    replies = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    pieces = b"".join(bytes(s["bytes"]) for s in replies[2:] if s.get("ok") and not s.get("eog"))
    return NATIVE_PROMPT, pieces.decode("utf-8")
