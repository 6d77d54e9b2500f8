"""Peak resident memory of the Chromium renderer that ran a benchmark page.

Why /proc and not a JS API: ``performance.measureUserAgentSpecificMemory`` reports
live JS/wasm objects at some later GC, not the high-water mark, and it misses
what llama.cpp touched and freed. The kernel's ``VmHWM`` of the renderer process
is the peak that decides whether a tab gets killed. A dedicated worker runs in
its page's renderer process, so the engine's wasm memory is included.

Each benchmark page runs in a fresh browser, so the renderer's high-water mark
belongs to that page alone.
"""

from __future__ import annotations

from pathlib import Path


def _children(pid: int) -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(d.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree, out, todo = _children(root), [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def _status_kib(pid: int, field: str) -> int:
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith(field + ":"):
            return int(ln.split()[1])
    return 0


def renderer_peak_mib(driver) -> float:
    """Return the largest ``VmHWM`` among the renderers started by this WebDriver session, in MiB."""
    peaks = []
    for pid in _descendants(driver.service.process.pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"--type=renderer" in cmd and b"--extension-process" not in cmd:
                peaks.append(_status_kib(pid, "VmHWM"))
        except OSError:
            continue
    if not peaks:
        raise RuntimeError("no Chromium renderer process found under the WebDriver session")
    return max(peaks) / 1024


def renderer_rss_mib(driver) -> float:
    """The resident memory now of every renderer this WebDriver session started, summed, in MiB.

    A page's dedicated workers (our engines and their pthreads) live in its renderer,
    so this is what a tab costs the machine at this moment.
    """
    total = 0
    for pid in _descendants(driver.service.process.pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"--type=renderer" in cmd and b"--extension-process" not in cmd:
                total += _status_kib(pid, "VmRSS")
        except OSError:
            continue
    return total / 1024


def is_firefox_tab_process(cmdline: bytes) -> bool:
    """Whether a ``/proc/PID/cmdline`` is a Firefox web content process (``-contentproc ... tab``).

    Firefox 153's fork server rewrites a forked child's arguments into one space-separated
    string, so the words are split on spaces as well as on NULs.
    """
    words = cmdline.replace(b"\0", b" ").split()
    return b"-contentproc" in words and words[-1:] == [b"tab"]


def firefox_content_peak_mib(firefox_pid: int) -> float:
    """The largest ``VmHWM`` among a Firefox's web content processes, in MiB.

    Firefox runs a page, its dedicated workers and their wasm memory in one content
    process (``-contentproc ... tab``), the counterpart of Chromium's renderer.
    """
    peaks = []
    for pid in _descendants(firefox_pid):
        try:
            if is_firefox_tab_process(Path(f"/proc/{pid}/cmdline").read_bytes()):
                peaks.append(_status_kib(pid, "VmHWM"))
        except OSError:
            continue
    if not peaks:
        raise RuntimeError(f"no Firefox content process found under pid {firefox_pid}")
    return max(peaks) / 1024
