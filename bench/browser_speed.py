"""Quick in-browser speed check of the Python API (issue 3's note; issue 4 builds the full benchmark).

Loads SmolLM2 through the real wheel in headless Chromium (COOP/COEP page) and
reports prefill and decode tokens/s for 1 and 2 threads (wasm64-mt) and for the
single-thread build on a page without isolation. Medians of 3 runs after a warm-up.

    python3 bench/browser_speed.py      (after `make wheel`)
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

from conftest import _driver, _open  # noqa: E402
from testsite import build_site  # noqa: E402

from recipes.build import log  # noqa: E402
from recipes.pins import load_pins  # noqa: E402
from recipes.pyodide_dist import pyodide_dist  # noqa: E402
from recipes.serve import StaticServer  # noqa: E402
from recipes.source import model_file  # noqa: E402

CODE = """
from pyodide_llm import LLM
prompt = " ".join(["The history of the city is long and full of interesting events."] * 9)
out = []
async with await LLM.load("models/smollm2.gguf", n_ctx=512, n_threads={threads}, variant={variant!r}) as llm:
    for i in range(4):
        async for _ in llm.complete(f"Run {{i}}. " + prompt, max_tokens=64, temperature=0, ignore_eos=True):
            pass
        s = llm.last_stats
        out.append([s.prompt_tokens - s.cached_tokens, s.prefill_tokens_per_s, s.decode_tokens_per_s])
    info = [llm.info.variant, llm.info.n_threads]
_json.dumps({{"runs": out[1:], "info": info}})
"""


def main() -> None:
    import tempfile

    pins = load_pins()
    wheel = sorted((ROOT / "dist").glob("pyodide_llm-*.whl"))[-1]
    with tempfile.TemporaryDirectory() as tmp:
        site = build_site(Path(tmp) / "site", pyodide_dist(pins, log), wheel, model_file(pins, "smollm2", log))
        for isolated, variant, threads in ((True, "wasm64-mt", 1), (True, "wasm64-mt", 2), (False, "wasm32-st", 1)):
            server = StaticServer(site, isolated=isolated)
            driver = _driver()
            try:
                page = _open(driver, server)
                r = page.run(CODE.format(threads=threads, variant=variant), timeout=600)
                pp = statistics.median(x[1] for x in r["runs"])
                tg = statistics.median(x[2] for x in r["runs"])
                print(json.dumps({"variant": r["info"][0], "threads": r["info"][1], "prompt_tokens": r["runs"][0][0],
                                  "prefill_tok_s": round(pp, 1), "decode_tok_s": round(tg, 1)}))
            finally:
                driver.quit()
                server.stop()


if __name__ == "__main__":
    main()
