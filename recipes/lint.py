"""``make lint``: ruff, mypy (strict, the package) and ESLint (the JS shim and its tests).

Why a recipe: each tool is pinned and each failure names its fix. ruff and mypy
are pinned in ``tests/requirements.txt`` (installed with the other test tools);
this checks the installed versions against those pins, since another version
finds other things. ESLint is an npm package: ``lint/package-lock.json`` pins it
and every dependency by sha512, and ``npm ci`` installs exactly that tree into
the cache, outside the repository. The lock file has no ``resolved`` URLs, so
npm fetches from its own configured registry and no host name is written here.
To move ESLint: edit the exact versions in ``lint/package.json``, then in lint/
run ``npm install --package-lock-only --omit-lockfile-registry-resolved
--ignore-scripts`` and commit both files.
The configs: ``[tool.ruff]`` and ``[tool.mypy]`` in ``pyproject.toml``,
``eslint.config.mjs``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from .errors import RecipeError
from .pins import REPO, cache_root, digest
from .toolchain import satisfies

LINT_DIR = REPO / "lint"  # package.json + package-lock.json: the pinned ESLint
REQUIREMENTS = REPO / "tests" / "requirements.txt"
# ESLint, those that exist: the shim, the bench page, their tests, the benchmark's scripts.
JS_DIRS = ["pyodide_llm/js", "pyodide_llm/_host/benchpage", "tests/js", "tests/node", "tests/gpu", "bench"]

Log = Callable[[str], None]


def log(msg: str) -> None:
    print(f"[lint] {msg}", flush=True)


def pinned_version(name: str) -> str:
    """The ``name==version`` pin of a Python tool in tests/requirements.txt."""
    for line in REQUIREMENTS.read_text().splitlines():
        m = re.match(rf"^{re.escape(name)}==(\S+)", line.strip(), re.IGNORECASE)
        if m:
            return m.group(1)
    raise RecipeError(f"{name} has no `{name}==VERSION` pin in {REQUIREMENTS}",
                      "pin it there next to the other test tools")


def check_python_tool(name: str) -> None:
    """Stop unless the pinned version of ``name`` is installed in this Python."""
    want = pinned_version(name)
    try:
        got = metadata.version(name)
    except metadata.PackageNotFoundError:
        got = None
    if got != want:
        raise RecipeError(f"{name} {want} is pinned but {got or 'none'} is installed in {sys.executable}",
                          f"{sys.executable} -m pip install -r {REQUIREMENTS}")


def check_node(modules: Path) -> None:
    """Stop unless the host's node is one the installed ESLint's ``engines`` field accepts."""
    r = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    version = r.stdout.strip().lstrip("v")
    spec = json.loads((modules / "eslint" / "package.json").read_text())["engines"]["node"]
    if not any(satisfies(version, _clauses(alt)) for alt in spec.split("||")):
        raise RecipeError(f"node {version} cannot run the pinned ESLint (its engines: {spec})",
                          "install a nodejs that matches (Debian 12's 18.19 does) and retry")


def _clauses(npm_range: str) -> str:
    """One alternative of an npm range ("^20.9.0", ">=21.1.0") as ``satisfies`` clauses."""
    out = []
    for c in npm_range.split():
        out.append(f">={c[1:]},<{int(c[1:].split('.')[0]) + 1}" if c.startswith("^") else c)
    return ",".join(out)


def eslint_install(log: Log = log) -> Path:
    """Return the ``node_modules`` folder of the pinned ESLint (``npm ci`` once per lock file)."""
    if not (shutil.which("node") and shutil.which("npm")):
        raise RecipeError("ESLint needs node and npm, and this host lacks one",
                          "apt-get install -y nodejs npm (Debian) and retry")
    inputs = [LINT_DIR / "package.json", LINT_DIR / "package-lock.json"]
    out = cache_root() / "eslint" / f"eslint-{digest(*inputs)}"
    if (out / ".complete").exists():
        return out / "node_modules"
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in inputs:
        shutil.copy2(f, tmp / f.name)
    log(f"npm ci: the ESLint of {inputs[1]}, into {out}")
    # --ignore-scripts: a linter needs no install scripts; npm ci refuses any tarball
    # whose sha512 differs from the lock file's, and any drift between the two files.
    r = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=tmp,
                       capture_output=True, text=True)
    if r.returncode != 0:
        text = (r.stdout + r.stderr)[-1200:]
        if "EINTEGRITY" in text:
            raise RecipeError(f"npm served a file whose sha512 differs from lint/package-lock.json:\n{text}",
                              "check the npm registry mirror (npm config get registry); if the new file is "
                              "trusted, regenerate the lock file (recipes/lint.py's docstring)")
        raise RecipeError(f"npm ci for ESLint failed (exit {r.returncode}):\n{text}",
                          "check that npm can reach its configured registry (npm config get registry)")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    (out / ".complete").write_text("ok\n")
    return out / "node_modules"


def run_tool(argv: list[str], env: dict[str, str] | None = None) -> bool:
    """Run one linter from the repository root; True if it found nothing."""
    shown = "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items() if k == "NODE_PATH")
    log(shown + shlex.join(argv))
    return subprocess.run(argv, cwd=REPO, env=env, check=False).returncode == 0


def lint() -> list[str]:
    """Run every linter (all of them, even after a failure); return the failures with their fixes."""
    failed: list[str] = []
    for tool in ("ruff", "mypy"):
        check_python_tool(tool)
    # Which files: `include` of [tool.ruff] and `files` of [tool.mypy] (pyproject.toml).
    if not run_tool([sys.executable, "-m", "ruff", "check", "--output-format", "concise"]):
        failed.append("ruff: `python3 -m ruff check --fix` fixes the [*] ones; the rest by hand "
                      "(or a `# noqa: CODE` saying why)")
    if not run_tool([sys.executable, "-m", "mypy"]):
        failed.append("mypy: annotate the reported lines (strict mode, [tool.mypy] in pyproject.toml)")
    modules = eslint_install()
    check_node(modules)
    eslint = modules / "eslint" / "bin" / "eslint.js"
    dirs = [d for d in JS_DIRS if (REPO / d).is_dir()]
    # eslint.config.mjs loads @eslint/js and globals with require(), which reads NODE_PATH.
    env = {**os.environ, "NODE_PATH": str(modules)}
    if not run_tool(["node", str(eslint), "--max-warnings", "0", *dirs], env=env):
        failed.append("eslint: fix the reported lines (eslint.config.mjs holds the rules and globals; "
                      "`--fix` is available through the same command)")
    return failed


def main() -> int:
    try:
        failed = lint()
    except RecipeError as e:
        print(f"\n[lint] ERROR: {e}", file=sys.stderr)
        return 1
    if failed:
        print("\n[lint] FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    log("clean: ruff, mypy, eslint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
