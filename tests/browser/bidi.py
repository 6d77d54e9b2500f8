"""Firefox for the browser tests, driven over WebDriver BiDi without geckodriver.

Debian's ``firefox-esr`` speaks WebDriver BiDi itself when started with
``--remote-debugging-port``; no registry reachable here ships geckodriver. This is
the small part of a driver the tests use (``get``, ``execute_script``,
``execute_async_script``, ``set_script_timeout``, ``get_log``, ``quit``), with
selenium's calling conventions, so ``conftest.Page`` runs on it unchanged.

Values cross as JSON text: a script's result is ``JSON.stringify``-ed in the page
and parsed here, which is all the tests return (strings, numbers, dicts).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# user.js of the test profile: no first-run pages, updates or telemetry; every host but
# 127.0.0.1 goes to a proxy that refuses, so a fetch from a CDN fails at once (the
# offline proof that Chromium gets from --host-resolver-rules). Firefox never proxies
# localhost addresses (network.proxy.allow_hijacking_localhost stays false).
PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "app.update.disabledForTesting": True,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "extensions.update.enabled": False,
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "",
    "dom.disable_open_during_load": False,
}


def ensure_firefox() -> str:
    """Path of Debian's firefox-esr, installed when missing (needs root)."""
    found = shutil.which("firefox-esr") or shutil.which("firefox")
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "firefox-esr"], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "firefox-esr"], env=env, check=True)
    return shutil.which("firefox-esr") or "firefox-esr"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BiDiError(AssertionError):
    """A BiDi command failed, or the page's script threw (its message and stack)."""


class Firefox:
    """One headless Firefox with one tab, driven over its own WebDriver BiDi socket."""

    def __init__(self, prefs: dict[str, Any] | None = None, start_timeout: float = 60) -> None:
        import websocket

        self.binary = ensure_firefox()
        self.profile = Path(tempfile.mkdtemp(prefix="plm-firefox-"))
        (self.profile / "user.js").write_text("".join(
            f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in {**PREFS, **(prefs or {})}.items()))
        port = _free_port()
        self.proc = subprocess.Popen(
            [self.binary, "--headless", "--no-remote", "--profile", str(self.profile),
             "--remote-debugging-port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + start_timeout
        while True:
            try:
                # Without an Origin header: Firefox refuses BiDi websockets that carry one.
                self._ws = websocket.create_connection(f"ws://127.0.0.1:{port}/session", suppress_origin=True,
                                                       timeout=10)
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    self.quit()
                    raise BiDiError(f"Firefox did not open its BiDi port {port} within {start_timeout:.0f} s") \
                        from None
                time.sleep(0.2)
        self._ws.settimeout(None)
        self._lock = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._next = 0
        self._logs: list[dict] = []
        self.script_timeout = 30.0
        threading.Thread(target=self._read, name="bidi-reader", daemon=True).start()
        caps = self._call("session.new", {"capabilities": {}})["capabilities"]
        self.version = caps.get("browserVersion", "?")
        self.capabilities = {"browserName": "firefox", "browserVersion": self.version}
        self.context = self._call("browsingContext.getTree", {})["contexts"][0]["context"]
        self._call("session.subscribe", {"events": ["log.entryAdded"]})

    def _read(self) -> None:
        while True:
            try:
                msg = json.loads(self._ws.recv())
            except Exception:  # closed: quit() or the browser is gone
                with self._lock:
                    self._replies[-1] = {"error": "closed", "message": "the BiDi connection closed"}
                    self._lock.notify_all()
                return
            with self._lock:
                if "id" in msg:
                    self._replies[msg["id"]] = msg
                elif msg.get("method") == "log.entryAdded":
                    self._logs.append(msg["params"])
                self._lock.notify_all()

    def _call(self, method: str, params: dict, timeout: float = 60) -> dict:
        with self._lock:
            self._next += 1
            n = self._next
        self._ws.send(json.dumps({"id": n, "method": method, "params": params}))
        with self._lock:
            if not self._lock.wait_for(lambda: n in self._replies or -1 in self._replies, timeout):
                raise TimeoutError(f"Firefox did not answer {method} within {timeout:.0f} s")
            msg = self._replies.pop(n, None) or self._replies[-1]
        if msg.get("type") == "error" or "error" in msg:
            raise BiDiError(f"{method}: {msg.get('error')}: {msg.get('message')}")
        return msg["result"]

    # -- the selenium-shaped part ------------------------------------------------------

    def get(self, url: str) -> None:
        """Open ``url`` and wait for its load; a page that navigates on its own while loading
        (a reload, a redirect by script) ends that wait early, as selenium's ``get`` does."""
        try:
            self._call("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})
        except BiDiError as e:
            if "NS_BINDING_ABORTED" not in str(e):
                raise

    def set_script_timeout(self, seconds: float) -> None:
        self.script_timeout = seconds

    def _run(self, body: str, args: tuple, asynchronous: bool) -> Any:
        # The script sees ``arguments`` as selenium gives it; an async one gets ``done`` last.
        call = ("new Promise((done) => { (function () {" + body + "\n}).apply(null, [...args, done]); })"
                if asynchronous else "(function () {" + body + "\n}).apply(null, args)")
        declaration = (f"async function (argsJson) {{ const args = JSON.parse(argsJson); "
                       f"const v = await {call}; return JSON.stringify(v === undefined ? null : v); }}")
        r = self._call("script.callFunction", {
            "functionDeclaration": declaration, "awaitPromise": True, "target": {"context": self.context},
            "arguments": [{"type": "string", "value": json.dumps(list(args))}],
        }, timeout=self.script_timeout + 5)
        if r.get("type") == "exception":
            details = r["exceptionDetails"]
            raise BiDiError(f"the page's script threw: {details.get('text')}")
        return json.loads(r["result"]["value"])

    def execute_script(self, script: str, *args: Any) -> Any:
        return self._run(script, args, asynchronous=False)

    def execute_async_script(self, script: str, *args: Any) -> Any:
        return self._run(script, args, asynchronous=True)

    def get_log(self, kind: str = "browser") -> list[dict]:
        """Console messages and uncaught errors so far, as selenium's ``browser`` log (level, message)."""
        with self._lock:
            logs, self._logs = self._logs, []
        return [{"level": e.get("level", "").upper(), "message": e.get("text", "")} for e in logs]

    def quit(self) -> None:
        try:
            if hasattr(self, "_ws"):
                self._call("session.end", {}, timeout=5)
        except Exception:  # the browser may already be gone; the process is ended below either way
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
        if hasattr(self, "_ws"):
            self._ws.close()
        shutil.rmtree(self.profile, ignore_errors=True)
