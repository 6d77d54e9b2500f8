"""Sphinx configuration of the docs; ``make docs`` (recipes/docs.py) builds them.

The build is offline and strict (``-W -n``: every warning and every reference that
does not resolve fails it); what cannot resolve is allowed below, by name, with the
reason. Facts the guides show that have a home elsewhere are read from it here:
the sampling defaults (``pyodide_llm._options.Sampling``), the COOP/COEP headers
(``pyodide_llm._host.serve.ISOLATION``) and the tested Pyodide and PyScript
versions (``emscripten.toml``).
"""

import dataclasses
import sys
import tomllib
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the package of this checkout, not an installed one

# After the path change: the package from this checkout.
import pyodide_llm  # noqa: E402
from pyodide_llm._host.serve import ISOLATION  # noqa: E402
from pyodide_llm._options import Sampling  # noqa: E402

project = "pyodide_llm"
release = version = pyodide_llm.__version__
extensions = ["sphinx.ext.autodoc", "numpydoc"]
root_doc = "index"
html_theme = "alabaster"
html_title = f"pyodide_llm {version}"
html_theme_options = {"description": "Local LLMs from Python in the browser", "show_powered_by": False,
                      "page_width": "1180px"}  # room for 100-character code lines
html_show_sphinx = False

# Documented in the order the source defines them; the type hints stay in the signatures.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# The browser-only modules (pyodide_llm/_browser) import these. Nothing documented imports
# them at import time; the mock keeps autodoc working if one ever does.
autodoc_mock_imports = ["js", "pyodide"]
numpydoc_show_class_members = False  # autodoc's :members: lists them

# Classes the package makes (LLM.load, llm.chat, llm.session, llm.map, LLM.connect,
# Llama.load) and users never call: their constructors take the package's private types,
# so the reference shows these classes without a constructor signature.
MADE_BY_THE_PACKAGE = {"LLM", "TokenStream", "Session", "MapJob", "RemoteLLM", "Llama"}

# Offline: there is no intersphinx inventory of Python's own docs, so standard-library
# types in signatures stay plain text.
nitpick_ignore_regex = [("py:class", r"(collections\.abc|datetime|typing)\.\w+")]
# Private types that public signatures name: LLM.load's test seam (transport=), and the
# server-side stream and row job RemoteLLM returns (they behave as TokenStream and MapJob).
nitpick_ignore = [
    ("py:class", "pyodide_llm._transport.Transport"),
    ("py:class", "pyodide_llm._remote.stream.RemoteStream"),
    ("py:class", "pyodide_llm._remote.rows.RemoteMapJob"),
]


def _sampling_defaults() -> str:
    """``max_tokens=256``, ``temperature=0.8``, ... as Sampling defines them (json_schema is set
    through ``json_schema=``, not as text)."""
    fields = (f for f in dataclasses.fields(Sampling) if f.name != "json_schema")
    return ", ".join(f"``{f.name}={getattr(Sampling(), f.name)!r}``" for f in fields)


_pins = tomllib.loads((REPO / "emscripten.toml").read_text())
rst_epilog = f"""
.. |pyodide_version| replace:: {_pins["pyodide"]["version"]}
.. |pyodide_matrix| replace:: {", ".join(_pins["pyodide_matrix"])}
.. |pyscript_version| replace:: {_pins["pyscript"]["version"]}
.. |sampling_defaults| replace:: {_sampling_defaults()}
"""


class IsolationHeaders(SphinxDirective):
    """``.. isolation-headers::``: the COOP/COEP headers ``serve`` sends and ``bundle`` writes."""

    def run(self) -> list[nodes.Node]:
        text = "\n".join(f"{name}: {value}" for name, value in ISOLATION.items())
        return [nodes.literal_block(text, text, language="text")]


def _no_constructor(app: Any, what: str, name: str, obj: Any, options: Any, signature: str | None,
                    return_annotation: str | None) -> tuple[str, None] | None:
    if what == "class" and name.removeprefix("pyodide_llm.") in MADE_BY_THE_PACKAGE:
        return "", None
    return None


def setup(app: Any) -> None:
    app.add_directive("isolation-headers", IsolationHeaders)
    app.connect("autodoc-process-signature", _no_constructor)
