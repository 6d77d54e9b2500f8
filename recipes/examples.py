"""``make example-chat`` / ``make example-data-app``: bundle an example site, ready to serve.

Gathers the pinned inputs (offline Pyodide, PyScript, the wheel just built, the
SmolLM2 model, and all-MiniLM-L6-v2 for the data app's search) and runs the package's own bundler, as a user would with
``python -m pyodide_llm bundle``. The site goes to ``dist/sites/<example>``.
"""

from __future__ import annotations

import sys

from pyodide_llm._host.bundle import EXAMPLES, BundleError, bundle

from .build import log
from .embedmodel import embedding_model
from .errors import RecipeError
from .pins import REPO, load_pins
from .pyodide_dist import pyodide_dist
from .pyscript_dist import pyscript_dist
from .source import model_file


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in EXAMPLES:
        print(f"usage: python -m recipes.examples {{{','.join(EXAMPLES)}}}", file=sys.stderr)
        return 2
    example = argv[0]
    pins = load_pins()
    wheels = sorted((REPO / "dist").glob("pyodide_llm-*-py3-none-any.whl"))
    try:
        if not wheels:
            raise RecipeError("no wheel in dist/", "run `make wheel` first (the make targets do)")
        out = bundle(REPO / "dist" / "sites" / example, example, pyodide_dist(pins, log),
                     pyscript=pyscript_dist(pins, log), wheel=wheels[-1], model=model_file(pins, "smollm2", log),
                     embed_model=embedding_model(pins, "minilm", log) if example == "data-app" else None, force=True)
    except (RecipeError, BundleError) as e:
        print(f"[recipes] ERROR: {e}", file=sys.stderr)
        return 1
    log(f"{example}: {out.relative_to(REPO)}; serve it with: python -m pyodide_llm serve {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
