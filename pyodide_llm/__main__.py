"""``python -m pyodide_llm``: host tools for sites that use pyodide_llm.

    python -m pyodide_llm bundle OUT --example chat --pyodide DIR --pyscript DIR [--model M.gguf]
    python -m pyodide_llm bench-page OUT [--model M.gguf]
    python -m pyodide_llm serve OUT [--port 8000] [--no-isolation]
    python -m pyodide_llm serve-model MODEL.gguf [--port 8080] [--api-key KEY] [--llama-server PATH]

``bundle`` writes a self-contained static site (no CDN); ``bench-page`` writes a
page that measures the CPU engine against the WebGPU engine on this machine's GPU;
``serve`` serves a folder on 127.0.0.1 with COOP/COEP (threads) and the right MIME types;
``serve-model`` runs llama.cpp's llama-server on 127.0.0.1 for ``LLM.connect`` from local pages.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from ._host.benchpage import bench_page
    from ._host.bundle import EXAMPLES, BundleError, bundle
    from ._host.llama_server import serve_model
    from ._host.serve import serve_forever

    ap = argparse.ArgumentParser(prog="python -m pyodide_llm", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle", help="write a self-contained static site of an example")
    b.add_argument("out", type=Path)
    b.add_argument("--example", choices=sorted(EXAMPLES), default="chat")
    b.add_argument("--pyodide", type=Path, required=True,
                   help="an offline Pyodide folder (core files, pyodide-lock.json, the micropip wheel)")
    b.add_argument("--pyscript", type=Path, help="the dist/ folder of @pyscript/core (PyScript examples)")
    b.add_argument("--wheel", type=Path, help="the pyodide_llm wheel (default: repack the installed one)")
    b.add_argument("--model", type=Path, help="a .gguf model to ship with the site")
    b.add_argument("--embed-model", type=Path, help="a .gguf embedding model to ship too (the data app's search)")
    b.add_argument("--force", action="store_true", help="replace OUT if it is not empty")
    p = sub.add_parser("bench-page", help="write a static page that benchmarks CPU against WebGPU here")
    p.add_argument("out", type=Path)
    p.add_argument("--model", type=Path, help="a .gguf model to ship with the page (its default model)")
    p.add_argument("--force", action="store_true", help="replace OUT if it is not empty")
    s = sub.add_parser("serve", help="serve a folder on 127.0.0.1 with COOP/COEP and MIME types")
    s.add_argument("dir", type=Path)
    s.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    s.add_argument("--no-isolation", action="store_true", help="omit COOP/COEP (single-thread engine)")
    m = sub.add_parser("serve-model", help="run llama-server on 127.0.0.1 for LLM.connect (CORS: local pages)")
    m.add_argument("model", type=Path)
    m.add_argument("--port", type=int, default=8080)
    m.add_argument("--ctx", type=int, default=4096, help="context size of the server (-c)")
    m.add_argument("--threads", type=int, help="llama-server's threads (default: its own choice)")
    m.add_argument("--api-key", help="require this key (LLM.connect(..., api_key=KEY))")
    m.add_argument("--embeddings", action="store_true", help="serve /v1/embeddings (an embedding model)")
    m.add_argument("--parallel", type=int, default=1, help="requests answered at once (slots sharing --ctx)")
    m.add_argument("--llama-server", help="the llama-server binary (default: $LLAMA_SERVER, then PATH)")
    args = ap.parse_args(argv)
    if args.cmd == "serve-model":
        return serve_model(args.model, port=args.port, binary=args.llama_server, n_ctx=args.ctx,
                           threads=args.threads, api_key=args.api_key, embeddings=args.embeddings,
                           parallel=args.parallel)
    if args.cmd == "bundle":
        try:
            out = bundle(args.out, args.example, args.pyodide, pyscript=args.pyscript, wheel=args.wheel,
                         model=args.model, embed_model=args.embed_model, force=args.force)
        except BundleError as e:
            print(f"pyodide_llm bundle: {e}", file=sys.stderr)
            return 2
        print(f"wrote {out}; serve it with: python -m pyodide_llm serve {out}")
        return 0
    if args.cmd == "bench-page":
        try:
            out = bench_page(args.out, model=args.model, force=args.force)
        except BundleError as e:
            print(f"pyodide_llm bench-page: {e}", file=sys.stderr)
            return 2
        print(f"wrote {out}; serve it with: python -m pyodide_llm serve {out}, then open http://127.0.0.1:8000/")
        return 0
    serve_forever(args.dir, args.port, isolated=not args.no_isolation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
