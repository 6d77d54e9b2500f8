"""The one place that decides whether we run inside Pyodide (a browser) or not."""

from __future__ import annotations

import sys

IN_PYODIDE: bool = sys.platform == "emscripten" or "pyodide" in sys.modules
