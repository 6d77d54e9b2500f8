"""The package's import graph has no circles, counting imports inside functions too.

A circle hidden by an import inside a function is still a circle (the modules
cannot be understood or loaded apart); the one import that is deliberately inside
a function, ``_env.browser()`` importing ``_browser`` (which imports ``js``), is
counted like any other, so nothing below ``_browser`` may import ``_env``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "pyodide_llm"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every pyodide_llm module ``path`` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else base if node.level else node.module
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                out.add(candidate if (PKG.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                        or (PKG.parent / candidate.replace(".", "/")).is_dir() else str(target))
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m and m.startswith("pyodide_llm") and m != name}


def graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p, _module_name(p)) for p in PKG.rglob("*.py")}


def test_the_graph_reads_real_imports() -> None:
    g = graph()
    assert "pyodide_llm._errors" in g["pyodide_llm._env"]
    assert "pyodide_llm._browser" in g["pyodide_llm._env"]  # the import inside browser() counts
    assert "pyodide_llm._sources" in g["pyodide_llm._browser.fetch"]


def test_no_import_circles() -> None:
    g = graph()
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            raise AssertionError("import circle: " + " -> ".join([*path[path.index(m):], m]))
        if m in done or m not in g:
            return
        for dep in sorted(g[m]):
            visit(dep, [*path, m])
        done.add(m)

    for m in sorted(g):
        visit(m, [])
