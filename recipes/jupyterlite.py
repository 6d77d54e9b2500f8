"""``python3 -m recipes.jupyterlite [OUT]``: the JupyterLite example site, built offline.

OUT (default ``dist/sites/jupyterlite``, next to the other examples' sites)
becomes a static JupyterLite site: its Pyodide kernel loads Pyodide from
``OUT/static/pyodide/`` (never a CDN) and installs packages only from the site
(``disablePyPIFallback``); ``%pip install pyodide-llm`` finds our wheel in the
site's piplite index; ``chat.ipynb`` is the example notebook, and SmolLM2 sits
next to it in the site's contents (``OUT/files/models/``, shown in the file
browser), loaded by a path relative to the notebook. Serve OUT with any static server.

Why each step:

* The site builder (jupyterlite-core, its Pyodide kernel addon, and jupyter_server,
  which indexes the notebook into the site's contents) lives in a venv of its own
  under the recipes' cache, keyed by its pins and the host Python.
* The kernel installs ipython and jedi from Pyodide's lock when it starts, so its
  Pyodide folder is the project's (:func:`recipes.pyodide_dist.pyodide_dist`) plus
  that closure, downloaded from PyPI and re-hashed into the lock the same way.
  ``comm`` is in neither the lock nor the kernel's bundled wheels: it goes to the
  site's piplite index next to our wheel.
* ``jupyter lite build`` always runs on a fresh lite folder into an empty OUT: an
  incremental build can drop ``pyodideUrl`` from ``jupyter-lite.json``, and the
  kernel then silently goes to a CDN. The result is checked for it.
* One fix to JupyterLite's pages (:data:`WAIT_ASYNC_FIX`): on a cross-origin
  isolated page the kernel talks to its worker with coincident 1.x, which assumes
  ``Atomics.waitAsync`` always returns a promise. Chromium returns a plain
  ``"not-equal"`` when the worker has already answered; coincident then throws
  ("A(...).value.then is not a function"), the reply is lost and the kernel never
  starts or a cell stays at ``[*]``. On this project's 2-core machines 11 of 13
  isolated sessions without the fix hung so, none of 18 with it. The fix hands
  coincident the same answer as a settled promise.

* The notebook's Stop button: JupyterLite's interrupt stays on the page's side; the
  pages load ``static/pyodide_llm/jupyterlite-interrupt.js`` (from the wheel), which
  tells pyodide_llm in the kernel (:func:`_add_interrupt_bridge`).

Only the venv and the Pyodide folder are slow to make; both are cached, so a
rebuild takes seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .pins import REPO, cache_root, digest, load_pins
from .pyodide_dist import _npm_pack, publish, pyodide_dist
from .source import _pip_download, model_file

EXAMPLE = REPO / "examples" / "jupyterlite"
NOTEBOOK = "chat.ipynb"
# Where the notebook finds the model, relative to the notebook (see chat.ipynb): in the contents.
MODEL_PATH = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
INTERRUPT_SCRIPT = "jupyterlite-interrupt.js"  # pyodide_llm/js/: forwards the Stop button to the kernel
PYODIDE_URL = "./static/pyodide/pyodide.mjs"  # what the kernel addon writes for a local Pyodide
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
MARKER = ".pyodide_llm-jupyterlite"  # marks an OUT this recipe made (and may empty)
# Runs before JupyterLite's own scripts in every app page (see the module docstring).
WAIT_ASYNC_FIX = """<script>
  // Added by pyodide_llm's recipes/jupyterlite.py. coincident 1.x (jupyterlite-pyodide-kernel 0.8.6)
  // expects Atomics.waitAsync to return a promise, but it returns {async: false, value: "not-equal"}
  // when the kernel's worker answered first: the call then throws and its reply is lost.
  (() => {
    const waitAsync = Atomics.waitAsync;
    if (typeof waitAsync !== "function") return;
    const fixed = function (...args) {
      const r = waitAsync.apply(Atomics, args);
      if (r.async) return r;
      fixed.settledAtCall += 1;
      return { async: false, value: Promise.resolve(r.value) };
    };
    fixed.settledAtCall = 0;  // how often the fix was needed
    Atomics.waitAsync = fixed;
  })();
</script>
"""


def _run(cmd: list[str], what: str, fix: str, **kw: Any) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RecipeError(f"{what} failed (exit {r.returncode}):\n{(r.stdout + r.stderr)[-2000:]}", fix)
    return r


def tools_venv(pins: dict[str, Any], log=print) -> Path:
    """Return a venv with the pinned site builder (``bin/jupyter-lite``), made once."""
    jl = pins["jupyterlite"]
    key = digest(jl["tools"], jl["tool_constraints"], list(sys.version_info[:2]))
    venv = cache_root() / "jupyterlite" / f"venv-{key}"
    if (venv / ".complete").exists():
        return venv
    # A venv cannot be moved (its scripts name their interpreter), so it is made in
    # place; without the marker a half-made one is removed first.
    shutil.rmtree(venv, ignore_errors=True)
    wheels = [_pip_download(spec, w["sha256"], w["file"], binary=True, log=log) for spec, w in jl["tools"].items()]
    log(f"jupyterlite: creating the site builder's venv in {venv}")
    _run([sys.executable, "-m", "venv", str(venv)], "creating a venv",
         "install the host's venv module (apt-get install -y python3-venv) and retry")
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(jl["tool_constraints"]["versions"]) + "\n")
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              "-c", str(constraints), *map(str, wheels)],
             "installing jupyterlite-core and its dependencies",
             "check that pip can reach the configured package index (pip config list); if a pinned "
             "dependency has no release for this Python, update [jupyterlite.tool_constraints]")
    if not (venv / "bin" / "jupyter-lite").exists():
        raise RecipeError(f"{venv} has no bin/jupyter-lite after the install",
                          "check the [jupyterlite.tools] pins: jupyterlite-core provides jupyter-lite")
    (venv / ".complete").write_text(key + "\n")
    return venv


def _npm_lock(pins: dict[str, Any], log) -> dict[str, Any]:
    """Pyodide's own, untrimmed lock file, from the pinned npm tarball."""
    pp = pins["pyodide"]
    tgz = _npm_pack(f"{pp['npm_package']}@{pp['version']}", pp["npm_sha256"], f"pyodide-{pp['version']}.tgz", log)
    with tarfile.open(tgz) as tf, tf.extractfile("package/pyodide-lock.json") as fh:  # type: ignore[union-attr]
        return json.load(fh)


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def kernel_dist(pins: dict[str, Any], log=print) -> Path:
    """Return the offline Pyodide folder for the kernel: the project's plus ipython and jedi."""
    base = pyodide_dist(pins, log)
    wheels = pins["jupyterlite"]["lock_wheels"]
    out = cache_root() / "pyodide" / f"{base.name}-kernel-{digest(wheels)}"
    if (out / ".complete").exists():
        return out
    full = {_norm(k): v for k, v in _npm_lock(pins, log)["packages"].items()}
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base, tmp, ignore=shutil.ignore_patterns(".complete"))
    lock = json.loads((tmp / "pyodide-lock.json").read_text())
    for spec, w in wheels.items():
        name, _, version = spec.partition("==")
        entry = full.get(_norm(name))
        if entry is None or entry["version"] != version:
            raise RecipeError(f"[jupyterlite.lock_wheels] pins {spec}, but Pyodide's lock has "
                              f"{entry and entry['version']}", "pin the version Pyodide's lock lists")
        whl = _pip_download(spec, w["sha256"], w["file"], binary=True, log=log,
                            extra=["--python-version", pins["pyodide"]["python_version"]])
        shutil.copy2(whl, tmp / whl.name)
        # Unlike the base folder, the lock keeps its ``depends``: loadPackage("ipython")
        # brings the closure, which is why every member must be pinned.
        lock["packages"][_norm(name)] = dict(entry, file_name=whl.name, sha256=w["sha256"])
    shipped = set(lock["packages"])
    missing = sorted({_norm(d) for e in lock["packages"].values() for d in e["depends"]} - shipped)
    if missing:
        raise RecipeError(f"the kernel's Pyodide lock needs {missing}, which are not pinned",
                          "add them to [jupyterlite.lock_wheels] at the versions Pyodide's lock lists")
    publish(tmp, out, lock)
    log(f"jupyterlite: kernel Pyodide folder in {out}")
    return out


def _empty_output(out: Path) -> None:
    """Remove a previous build in ``out``; refuse to empty a folder this recipe did not make."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise RecipeError(f"{out} is not empty and is not a site this recipe built",
                          "pass an empty or new folder as OUT")
    shutil.rmtree(out, ignore_errors=True)


def _place(src: Path, dest: Path) -> None:
    """Hard-link a large file into the site (a copy across file systems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _fix_wait_async(out: Path) -> list[str]:
    """Put :data:`WAIT_ASYNC_FIX` first in the ``<head>`` of each JupyterLite app page; the apps patched."""
    patched = []
    for page in sorted(out.glob("*/index.html")):
        html = page.read_text()
        if 'id="jupyter-config-data"' not in html:
            continue
        head = html.find("<head>")
        if head < 0:
            raise RecipeError(f"{page} has no <head>", "check the jupyterlite-core pin: its pages changed")
        page.write_text(html[:head + len("<head>")] + "\n" + WAIT_ASYNC_FIX + html[head + len("<head>"):])
        patched.append(page.parent.name)
    if "notebooks" not in patched:
        raise RecipeError(f"no notebooks/index.html to patch in {out} (patched: {patched})",
                          "check the jupyterlite-core pin: its app layout changed")
    return patched


def _add_interrupt_bridge(out: Path, wheel: Path) -> list[str]:
    """Serve the wheel's ``js/jupyterlite-interrupt.js`` and load it in each JupyterLite app page.

    Why: JupyterLite's interrupt (the Stop button, ``I, I``) never reaches a Pyodide
    kernel's worker; this page script forwards it to pyodide_llm in the kernel
    (``pyodide_llm/_interrupt.py``). It reads ``window.jupyterapp``, which the
    example's ``exposeAppInBrowser`` provides. Taken from the site's own wheel, so
    the page and the kernel speak one version.
    """
    with zipfile.ZipFile(wheel) as z:
        script = z.read(f"pyodide_llm/js/{INTERRUPT_SCRIPT}")
    (out / "static" / "pyodide_llm").mkdir(parents=True, exist_ok=True)
    (out / "static" / "pyodide_llm" / INTERRUPT_SCRIPT).write_bytes(script)
    patched = []
    for page in sorted(out.glob("*/index.html")):
        html = page.read_text()
        if 'id="jupyter-config-data"' not in html:
            continue
        tag = f'<script src="../static/pyodide_llm/{INTERRUPT_SCRIPT}"></script>\n'
        page.write_text(html.replace("</head>", tag + "</head>", 1))
        patched.append(page.parent.name)
    return patched


def _check(out: Path) -> None:
    """The built site must use the local Pyodide and offer our wheel and the notebook."""
    config = json.loads((out / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = config.get("litePluginSettings", {}).get(KERNEL_PLUGIN, {})
    if kernel.get("pyodideUrl") != PYODIDE_URL or not (out / PYODIDE_URL).is_file():
        raise RecipeError(f"{out}/jupyter-lite.json does not point the kernel at the local Pyodide "
                          f"(pyodideUrl={kernel.get('pyodideUrl')!r}): the kernel would fetch it from a CDN",
                          "build into an empty folder (this recipe does) with the kernel's Pyodide at "
                          "static/pyodide/ of the lite folder")
    if not kernel.get("disablePyPIFallback"):
        raise RecipeError("the site's kernel may fall back to PyPI", "keep disablePyPIFallback in "
                          "examples/jupyterlite/jupyter-lite.json")
    index = json.loads((out / "pypi" / "all.json").read_text())
    for name in ("pyodide-llm", "comm"):
        if name not in index:
            raise RecipeError(f"piplite's index has no {name} (it has {sorted(index)})",
                              "check the wheels copied into the lite folder's pypi/")
    for path in (NOTEBOOK, MODEL_PATH):
        if not (out / "files" / path).is_file():
            raise RecipeError(f"the site has no files/{path}", "check examples/jupyterlite/ and jupyter_server")


def build_site(out: Path, wheel: Path, pins: dict[str, Any] | None = None, log=print) -> Path:
    """Build the example site into ``out`` (emptied first) and return ``out``."""
    pins = pins or load_pins()
    out = out.resolve()
    if not wheel.is_file() or not wheel.name.startswith("pyodide_llm-"):
        raise RecipeError(f"{wheel} is not a pyodide_llm wheel", "run `make wheel` and pass dist/'s wheel")
    venv = tools_venv(pins, log)
    dist = kernel_dist(pins, log)
    model = model_file(pins, "smollm2", log)
    extra = [_pip_download(spec, w["sha256"], w["file"], binary=True, log=log,
                           extra=["--python-version", pins["pyodide"]["python_version"]])
             for spec, w in pins["jupyterlite"]["piplite_wheels"].items()]
    _empty_output(out)
    work = cache_root() / "jupyterlite"
    with tempfile.TemporaryDirectory(prefix="lite-", dir=work) as tmp:
        lite = Path(tmp)
        # The kernel addon's well-known path: copied to OUT/static/pyodide/ and written
        # into jupyter-lite.json as pyodideUrl.
        (lite / "static").mkdir()
        os.symlink(dist, lite / "static" / "pyodide")
        (lite / "pypi").mkdir()
        for whl in (wheel, *extra):
            shutil.copy2(whl, lite / "pypi" / whl.name)
        (lite / "files").mkdir()
        shutil.copy2(EXAMPLE / NOTEBOOK, lite / "files" / NOTEBOOK)
        _place(model, lite / "files" / MODEL_PATH)
        shutil.copy2(EXAMPLE / "jupyter-lite.json", lite / "jupyter-lite.json")
        env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}")
        _run([str(venv / "bin" / "jupyter-lite"), "build", "--lite-dir", str(lite), "--output-dir", str(out)],
             "jupyter lite build", "read the build log above; rebuild the venv by removing "
             f"{venv} if it is damaged", cwd=lite, env=env)
    (out / "static" / "pyodide" / ".complete").unlink(missing_ok=True)  # the cache's marker, not the site's
    _check(out)
    log(f"jupyterlite: Atomics.waitAsync fix added to the {', '.join(_fix_wait_async(out))} pages")
    log(f"jupyterlite: the Stop button's bridge added to the {', '.join(_add_interrupt_bridge(out, wheel))} pages")
    (out / MARKER).write_text(f"built by recipes/jupyterlite.py at {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return out


def _wheel(log) -> Path:
    """Our wheel in dist/, built like ``make wheel`` when there is none."""
    found = sorted((REPO / "dist").glob("pyodide_llm-*-py3-none-any.whl"))
    if found:
        return found[-1]
    from .build import cmd_wasm
    from .wheel import build_wheel

    cmd_wasm([])
    return build_wheel(log)


def main(argv: list[str] | None = None) -> int:
    from .build import log

    ap = argparse.ArgumentParser(prog="python3 -m recipes.jupyterlite", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=REPO / "dist" / "sites" / "jupyterlite",
                    help="output folder (emptied first; default dist/sites/jupyterlite)")
    ap.add_argument("--wheel", type=Path, help="the pyodide_llm wheel (default: dist/'s, built when missing)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        out = build_site(args.out, args.wheel or _wheel(log), log=log)
    except RecipeError as e:
        print(f"\n[recipes] ERROR: {e}", file=sys.stderr)
        return 1
    log(f"jupyterlite: site in {out} ({time.monotonic() - t0:.1f} s); serve it with "
        f"`python3 -m pyodide_llm serve {out}` and open notebooks/index.html?path={NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
