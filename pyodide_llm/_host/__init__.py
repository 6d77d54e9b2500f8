"""Host-side tools (plain CPython, never imported in the browser): ``python -m pyodide_llm``.

``serve`` runs a static server with the headers the library needs; ``bundle``
writes a self-contained static site of an example; ``bench-page`` writes a page
that measures the CPU engine against the WebGPU engine on a real GPU. See
:mod:`pyodide_llm.__main__`.
"""
