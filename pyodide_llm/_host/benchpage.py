"""``python -m pyodide_llm bench-page OUT``: a static page that measures CPU against WebGPU on a real GPU.

Why: the project's own machines have no GPU; their WebGPU timings come from a
software GPU (``bench/gpu.py``) and prove only that the path works. Figures from
real hardware must come from people who have it, so this writes a folder anyone
can serve (``python -m pyodide_llm serve OUT``, or any static host: the COOP/COEP
header files are included) and open: it loads a model from a URL or a local file,
runs the CPU engine, then the WebGPU engine with every layer offloaded, shows load
time, prefill and decode tokens/s, the backend llama.cpp really used and the
adapter, and copies the whole record as JSON. No Pyodide and no CDN: the page
drives the engine worker through the package's own JS client (``js/client.mjs``),
as the Python API does, with the engine files of this installation.

Layout of OUT::

    index.html  bench.mjs            the page (``pyodide_llm/_host/benchpage/``)
    bench.json                       what the page reads: version, engines, the model shipped
    pyodide_llm/protocol.json  pyodide_llm/js/*.mjs
    pyodide_llm/_wasm/<variant>/plm-engine.{mjs,wasm}   the CPU engine, and the WebGPU one if shipped
    models/NAME.gguf                 only with ``--model``
    _headers  vercel.json  .htaccess COOP/COEP for Netlify / Cloudflare Pages, Vercel, Apache
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .. import __version__
from .._variants import GPU_VARIANT, MAX_AUTO_THREADS, TABLE
from .bundle import BundleError, empty_folder, place, write_header_files

PACKAGE = Path(__file__).resolve().parent.parent  # the installed pyodide_llm whose engines the page runs
PAGE = Path(__file__).resolve().parent / "benchpage"  # index.html, bench.mjs
# The CPU side of the comparison: the CPU variant the WebGPU one is built like (memory64,
# threads, relaxed SIMD), so the difference is the backend and any model the GPU engine
# holds runs on both (wasm32-relaxed-mt, faster for models under 4 GiB, would not).
CPU_VARIANT = "wasm64-mt"
ENGINE_FILES = ("plm-engine.mjs", "plm-engine.wasm")


def _shipped(variant: str) -> bool:
    return all((PACKAGE / "_wasm" / variant / f).is_file() for f in ENGINE_FILES)


def _engine(variant: str) -> dict[str, Any]:
    """bench.json's record of one engine: its name and what the page must offer to run it."""
    v = TABLE[variant]
    return {"variant": variant, "requires": [*v.requires, *(["threads"] if v.threads else [])]}


def _copy_package(out: Path, variants: list[str]) -> None:
    """The JS client, worker and binding, the protocol table, and the engines, in the package's layout."""
    dest = out / "pyodide_llm"
    (dest / "js").mkdir(parents=True)
    for f in sorted((PACKAGE / "js").glob("*.mjs")):
        shutil.copy2(f, dest / "js" / f.name)
    shutil.copy2(PACKAGE / "protocol.json", dest / "protocol.json")
    for variant in variants:
        (dest / "_wasm" / variant).mkdir(parents=True)
        for name in ENGINE_FILES:
            # Copied, not linked: a rebuild rewrites the package's files in place.
            shutil.copy2(PACKAGE / "_wasm" / variant / name, dest / "_wasm" / variant / name)


def bench_page(out: Path, *, model: Path | None = None, force: bool = False) -> Path:
    """Write the benchmark page into ``out``; returns ``out``.

    Parameters
    ----------
    out
        The folder to write; it must be empty unless ``force``.
    model
        A ``.gguf`` to ship with the page (linked where possible), offered as its
        default model; without it the page asks for a URL or a file.
    force
        Replace the contents of a non-empty ``out``.

    Raises
    ------
    BundleError
        This installation lacks the CPU engine (the WebGPU one is optional: the
        page then says it is not shipped and runs the CPU only), ``model`` is not
        a file, or ``out`` is not empty.
    """
    if not _shipped(CPU_VARIANT):
        raise BundleError(f"this pyodide_llm installation has no {CPU_VARIANT} engine ({PACKAGE / '_wasm'}); "
                          "install the wheel (or run `make wasm` in a checkout)")
    if model is not None and not model.is_file():
        raise BundleError(f"--model {model}: no such file")
    empty_folder(out, force)
    for f in sorted(PAGE.iterdir()):
        if f.suffix in (".html", ".mjs"):
            shutil.copy2(f, out / f.name)
    gpu = GPU_VARIANT if _shipped(GPU_VARIANT) else None
    _copy_package(out, [CPU_VARIANT, *([gpu] if gpu else [])])
    config: dict[str, Any] = {"version": __version__, "cpu": _engine(CPU_VARIANT),
                              "gpu": _engine(gpu) if gpu else None, "model": None,
                              "max_auto_threads": MAX_AUTO_THREADS}
    if model is not None:
        (out / "models").mkdir()
        place(model, out / "models" / model.name)
        config["model"] = f"./models/{model.name}"
    (out / "bench.json").write_text(json.dumps(config, indent=2) + "\n")
    write_header_files(out)
    return out
