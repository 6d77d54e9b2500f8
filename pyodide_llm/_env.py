"""The one place that decides whether we run inside Pyodide (a browser) or not.

Everything browser-only lives in :mod:`pyodide_llm._browser` (the only modules
that import ``js``); the rest of the package reaches it through :func:`browser`,
so the package imports, and its host tests run, on plain CPython.
"""

from __future__ import annotations

import sys
from types import ModuleType

from ._errors import UnsupportedEnvironmentError

IN_PYODIDE: bool = sys.platform == "emscripten" or "pyodide" in sys.modules


def require_browser(what: str) -> None:
    """Raise :class:`UnsupportedEnvironmentError` naming ``what`` unless this is a browser."""
    if not IN_PYODIDE:
        raise UnsupportedEnvironmentError(
            f"{what} needs a browser (Pyodide, JupyterLite, PyScript); this is plain CPython. For a model on "
            "this machine use llama.cpp's llama-server or llama-cpp-python", "unsupported_environment")


def browser(what: str) -> ModuleType:
    """The browser side of the package (:mod:`pyodide_llm._browser`), after :func:`require_browser`."""
    require_browser(what)
    from . import _browser  # imports js: only importable inside Pyodide

    return _browser
