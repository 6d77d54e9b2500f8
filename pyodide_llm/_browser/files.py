"""The package's JS and wasm files as Blob URLs, and the JS modules imported from them.

Why Blob URLs: the files live in Pyodide's virtual file system, which the
browser cannot fetch from; a worker and ``import()`` need URLs. Each file becomes
one Blob URL for the life of the page (made on first use, shared by every engine).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import js
from pyodide.code import run_js
from pyodide.ffi import to_js

_MIME = {".mjs": "text/javascript", ".wasm": "application/wasm"}
_urls: dict[str, str] = {}
_modules: dict[str, Any] = {}


def to_js_object(value: Any) -> Any:
    """A Python value as JS, dicts as plain objects (what the JS side expects)."""
    return to_js(value, dict_converter=js.Object.fromEntries)


def url(relpath: str) -> str:
    """The Blob URL of a package file (``js/client.mjs``, ``_wasm/<variant>/plm-engine.wasm``, ...)."""
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
    """A JS module of the package (``js/client.mjs``, ``js/store.mjs``), imported once per page."""
    if relpath not in _modules:
        _modules[relpath] = await run_js(f"import({url(relpath)!r})")
    return _modules[relpath]
