"""The package's JS and wasm files as URLs, and the JS modules imported from them.

Why Blob URLs by default: the files live in Pyodide's virtual file system, which
the browser cannot fetch from; a worker and ``import()`` need URLs. Each file
becomes one Blob URL for the life of the page (made on first use, shared by every
engine), and modules are imported with ``run_js`` (JS ``eval``).

A page with a strict Content-Security-Policy allows neither (no ``'unsafe-eval'``,
no ``blob:`` scripts). Such a page serves the files itself (``bundle`` copies them
to ``pyodide_llm/``) and runs ``pyodide_llm/js/assets.mjs``, a module of its own
origin that sets ``globalThis.pyodideLLM = {assets, import}``: the folder's URL and
a function that imports a URL. Then every URL here is a same-origin one and nothing
is evaluated.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import js
from pyodide.code import run_js
from pyodide.ffi import JsException, to_js

from .._errors import UnsupportedEnvironmentError

_MIME = {".mjs": "text/javascript", ".wasm": "application/wasm"}
_urls: dict[str, str] = {}
_modules: dict[str, Any] = {}

CSP_HELP = ("serve the package's files from the site and load pyodide_llm/js/assets.mjs in the page "
            "(`python -m pyodide_llm bundle` does both; README, 'Strict pages'), or allow what it names")


def _served() -> Any:
    """The page's ``globalThis.pyodideLLM`` ({assets, import}), or None."""
    hook = getattr(js.globalThis, "pyodideLLM", None)
    return hook if hook is not None and getattr(hook, "assets", None) else None


def to_js_object(value: Any) -> Any:
    """A Python value as JS, dicts as plain objects (what the JS side expects)."""
    return to_js(value, dict_converter=js.Object.fromEntries)


def url(relpath: str) -> str:
    """The URL of a package file (``js/client.mjs``, ``_wasm/<variant>/plm-engine.wasm``, ...):
    the page's copy when it serves them (``pyodideLLM.assets``), else a Blob URL."""
    served = _served()
    if served is not None:
        return str(js.URL.new(relpath, str(served.assets)).href)
    if relpath not in _urls:
        data = resources.files("pyodide_llm").joinpath(relpath).read_bytes()
        mime = _MIME[relpath[relpath.rindex("."):]]
        blob = js.Blob.new(to_js([to_js(data)]), to_js_object({"type": mime}))
        _urls[relpath] = str(js.URL.createObjectURL(blob))
    return _urls[relpath]


def engine_files(variant: str) -> Any:
    """What the client hands the worker: the URLs of the shim's modules and of one variant's engine."""
    return to_js_object({
        "worker": url("js/worker.mjs"),
        "binding": url("js/binding.mjs"),
        "store": url("js/store.mjs"),
        "download": url("js/download.mjs"),
        "engine": url(f"_wasm/{variant}/plm-engine.mjs"),
        "wasm": url(f"_wasm/{variant}/plm-engine.wasm"),
    })


def shipped(variant: str) -> bool:
    """Whether this wheel holds the variant's engine (a wheel built without the WebGPU one still works)."""
    return resources.files("pyodide_llm").joinpath(f"_wasm/{variant}/plm-engine.wasm").is_file()


async def module(relpath: str) -> Any:
    """A JS module of the package (``js/client.mjs``, ``js/store.mjs``), imported once per page.

    Raises
    ------
    UnsupportedEnvironmentError
        The page's Content-Security-Policy forbids ``eval`` and serves no files of ours.
    """
    if relpath not in _modules:
        served = _served()
        if served is not None and getattr(served, "import", None) is not None:
            _modules[relpath] = await getattr(served, "import")(url(relpath))
            return _modules[relpath]
        try:
            _modules[relpath] = await run_js(f"import({url(relpath)!r})")
        except JsException as e:
            if "EvalError" in str(e) or "Content Security Policy" in str(e):
                what = "eval (script-src without 'unsafe-eval')"
            elif "dynamically imported module: blob:" in str(e):  # a Blob URL fails for no other reason
                what = "blob: scripts (script-src without blob:)"
            else:
                raise
            raise UnsupportedEnvironmentError(
                f"this page's Content-Security-Policy blocks {what}, which pyodide_llm uses to import its JS "
                f"modules from Blob URLs: {CSP_HELP}", "blocked_by_csp") from None
    return _modules[relpath]
