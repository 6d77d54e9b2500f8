"""The pinned toolchain: a Debian root file system with emscripten, clang, node.

Why a root file system: Debian 12 ships emscripten 3.1.6 and node 20, both too
old (node 20 rejects memory64 modules). Debian's testing suite has the versions
we pin, so ``debootstrap`` makes a root once, it is cached outside the repo, and
every command runs in it through ``chroot`` inside a private mount namespace
(``unshare -m``) where the repository and the cache are bind-mounted at their
own paths. The mounts vanish with the command, so nothing needs cleaning up.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .pins import REPO, cache_root, digest

EM_CONFIG_PATH = "/etc/pyodide_llm/emscripten_config.py"
EM_CACHE_PATH = "/var/cache/pyodide_llm-emcache"
# Debian's emscripten ships a frozen cache of wasm32 libraries only; our own
# config unfreezes a writable one so the wasm64 system libraries can be built.
EM_CONFIG = f"""\
LLVM_ROOT = '/usr/lib/llvm-21/bin'
BINARYEN_ROOT = '/usr'
NODE_JS = '/usr/bin/node'
CACHE = '{EM_CACHE_PATH}'
FROZEN_CACHE = False
"""


def debian_mirror() -> str:
    """Return the Debian mirror URI from the host's own apt configuration.

    Why: only the machine's configured package mirror is reachable, and no host
    name may be written into the repository.
    """
    candidates: list[str] = []
    sources_d = Path("/etc/apt/sources.list.d")
    for f in sorted(sources_d.glob("*.sources")) if sources_d.is_dir() else []:
        for stanza in f.read_text().split("\n\n"):
            fields = dict(
                (k.strip().lower(), v.strip())
                for k, _, v in (ln.partition(":") for ln in stanza.splitlines() if ":" in ln and not ln.startswith("#"))
            )
            if "security" in fields.get("suites", "") or "deb" not in fields.get("types", "").split():
                continue
            candidates += fields.get("uris", "").split()
    for f in [Path("/etc/apt/sources.list"), *sorted(sources_d.glob("*.list"))] if sources_d.is_dir() else []:
        if f.is_file():
            for ln in f.read_text().splitlines():
                m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", ln)
                if m and "security" not in m.group(2):
                    candidates.append(m.group(1))
    for uri in candidates:
        if uri.startswith(("http://", "https://", "file:")) and "security" not in uri:
            return uri
    raise RecipeError(
        "no Debian mirror found in /etc/apt/sources.list{,.d}",
        "configure apt with a reachable Debian mirror (the same one `apt-get update` uses)",
    )


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def satisfies(version: str, spec: str) -> bool:
    """True if ``version`` meets a comma-separated ``>=a,<b`` style spec."""
    v = _version_tuple(version)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op, ref = re.match(r"(>=|<=|==|<|>)\s*(.+)", clause).groups()  # type: ignore[union-attr]
        r = _version_tuple(ref)
        n = max(len(v), len(r))
        a, b = v + (0,) * (n - len(v)), r + (0,) * (n - len(r))
        if op == "==" and v[: len(r)] != r:
            return False
        if (op == ">=" and a < b) or (op == ">" and a <= b) or (op == "<" and a >= b) or (op == "<=" and a > b):
            return False
    return True


VERSION_PROBES = {
    "emcc": ("emcc --version", r"\) (\d+\.\d+\.\d+)"),
    "clang": ("/usr/lib/llvm-21/bin/clang --version || clang --version", r"clang version (\d+\.\d+\.\d+)"),
    "wasm-opt": ("wasm-opt --version", r"version (\d+)"),
    "node": ("node --version", r"v(\d+\.\d+\.\d+)"),
    "cmake": ("cmake --version", r"cmake version (\d+\.\d+\.\d+)"),
    "ninja": ("ninja --version", r"(\d+\.\d+\.\d+)"),
}


class Toolchain:
    """Runs commands with the pinned toolchain, in the cached root or on the host.

    Parameters
    ----------
    root
        The root file system, or ``None`` when the host's own tools match the pins.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def run(self, cmd: str, *, cwd: Path | None = None, env: dict[str, str] | None = None,
            capture: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell command with the toolchain; paths under the repo and cache work as-is."""
        return subprocess.run(self.argv(cmd, cwd=cwd, env=env), check=check, text=True,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.STDOUT if capture else None)

    def argv(self, cmd: str, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> list[str]:
        """The host command line that runs ``cmd`` with the toolchain.

        A command that ends in ``exec PROGRAM`` keeps the process id of the returned
        command line all the way down (unshare, chroot and bash all exec), so a
        caller can stop a long-running program (llama-server) by the PID it started.
        """
        env_all = {"EM_CONFIG": EM_CONFIG_PATH, "HOME": "/root", "LANG": "C.UTF-8",
                   "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "EMCC_SKIP_SANITY_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env_all.items())
        inner = f"cd {shlex.quote(str(cwd or REPO))} && export {exports} && {cmd}"
        if self.root is None:
            argv = ["bash", "-c", inner]
        else:
            r = str(self.root)
            binds = []
            for p in sorted({str(REPO), str(cache_root()), "/proc", "/dev", "/tmp"}):
                binds.append(f"mkdir -p {shlex.quote(r + p)} && mount --rbind {shlex.quote(p)} {shlex.quote(r + p)}")
            setup = " && ".join(binds)
            argv = ["unshare", "--mount", "--propagation", "private", "bash", "-c",
                    f"{setup} && exec chroot {shlex.quote(r)} bash -c {shlex.quote(inner)}"]
        return argv

    def versions(self) -> dict[str, str]:
        """Versions of the pinned tools as this toolchain reports them."""
        found: dict[str, str] = {}
        for name, (cmd, rx) in VERSION_PROBES.items():
            out = self.run(cmd, capture=True, check=False).stdout or ""
            m = re.search(rx, out)
            found[name] = m.group(1) if m else f"missing ({out.strip()[:80]!r})"
        return found

    def check(self, specs: dict[str, str]) -> dict[str, str]:
        """Stop with a clear message if any tool drifted outside its pinned range."""
        found = self.versions()
        bad = [f"{k} {found[k]} (want {spec})" for k, spec in specs.items() if not satisfies(found[k], spec)]
        if bad:
            where = f"root {self.root}" if self.root else "host PATH"
            raise RecipeError(
                f"toolchain version drift in {where}: " + "; ".join(bad),
                "update [toolchain.versions] in emscripten.toml after checking the new versions build and "
                "pass `make test`, or delete the cached root so it is bootstrapped again"
                + (" (or remove the host emcc from PATH)" if self.root is None else ""),
            )
        return found


def _host_matches(specs: dict[str, str]) -> bool:
    if not shutil.which("emcc"):
        return False
    tc = Toolchain(None)
    found = tc.versions()
    return all(satisfies(found[k], s) for k, s in specs.items())


def ensure_toolchain(pins: dict[str, Any], log=print) -> Toolchain:
    """Return a ready toolchain, bootstrapping the cached root on first use."""
    tpins = pins["toolchain"]
    specs = tpins["versions"]
    if os.environ.get("PYODIDE_LLM_HOST_TOOLCHAIN") == "1" and _host_matches(specs):
        log("toolchain: using the host's emcc (versions match the pins)")
        return Toolchain(None)
    key = digest(tpins, EM_CONFIG)
    root = cache_root() / "toolchain" / f"{tpins['suite']}-{key}"
    marker = root / ".pyodide_llm-complete"
    if not marker.exists():
        _bootstrap(root, tpins, log)
        marker.write_text(key + "\n")
    tc = Toolchain(root)
    found = tc.check(specs)
    log("toolchain: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    return tc


def _bootstrap(root: Path, tpins: dict[str, Any], log) -> None:
    if os.geteuid() != 0:
        raise RecipeError("bootstrapping the toolchain root needs root (debootstrap, chroot)",
                          "run `make wasm` as root, or put emscripten 6.0.x on PATH and set "
                          "PYODIDE_LLM_HOST_TOOLCHAIN=1")
    if not shutil.which("debootstrap"):
        log("toolchain: installing debootstrap from the host's apt mirror")
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update"], check=False, capture_output=True)
            r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
                               capture_output=True, text=True)
        if r.returncode != 0:
            raise RecipeError(f"cannot install debootstrap: {r.stderr.strip()[-400:]}",
                              "check that `apt-get install debootstrap` works on this host")
    script = Path("/usr/share/debootstrap/scripts") / tpins["suite"]
    if not script.exists():
        script = Path("/usr/share/debootstrap/scripts") / tpins["debootstrap_script"]
    mirror = debian_mirror()
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    log(f"toolchain: debootstrap {tpins['suite']} into {root} (about a minute; once per machine)")
    cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(tpins["packages"]),
           tpins["suite"], str(tmp), mirror, str(script)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        log_tail = ""
        dlog = tmp / "debootstrap" / "debootstrap.log"
        if dlog.exists():
            log_tail = dlog.read_text()[-1500:]
        raise RecipeError(f"debootstrap failed ({r.returncode}): {(r.stderr or r.stdout)[-800:]}\n{log_tail}",
                          "check that the host's Debian mirror serves the pinned suite; delete "
                          f"{tmp} and retry")
    shutil.copy("/etc/resolv.conf", tmp / "etc" / "resolv.conf")
    cfg = tmp / EM_CONFIG_PATH.lstrip("/")
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(EM_CONFIG)
    (tmp / EM_CACHE_PATH.lstrip("/")).mkdir(parents=True, exist_ok=True)
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)


if __name__ == "__main__":  # pragma: no cover - manual probe
    from .pins import load_pins
    ensure_toolchain(load_pins())
    sys.exit(0)
