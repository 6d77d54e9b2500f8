"""The static server of the tests and ``make demo``: the package's own (``python -m pyodide_llm serve``)."""

from pyodide_llm._host.serve import Handler, StaticServer

__all__ = ["Handler", "StaticServer"]
