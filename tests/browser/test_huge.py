"""Beyond 4 GB: a Llama-3.1-8B-shape model (Q4_1, ~5.0 GB) from split files, in the memory64 variant.

The model is written on the host with ``gguf`` (recipes/synthetic.py, patterned
weights, SmolLM2's tokenizer) as parts under 2 GB, once per machine (about a
minute, 5 GB of disk under the recipes' cache). Loading it streams ~5 GB into one
wasm64 linear memory, part by part, and maps the weights in place. Slow
(minutes on 2 cores): ``make test`` runs it; skip it locally with
``-m "not slow"`` (``make test-browser PYTEST_ARGS='-m "not slow"'``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big_parts(site) -> list[str]:
    from recipes.pins import cache_root
    from recipes.synthetic import cached_big_model

    parts = cached_big_model((site / "models" / "smollm2.gguf").resolve(), cache_root() / "models" / "synthetic")
    folder = site / "models" / "big"
    folder.mkdir(exist_ok=True)
    for p in parts:
        if not (folder / p.name).exists():
            os.symlink(p, folder / p.name)
    return [f"models/big/{p.name}" for p in parts]


def test_a_model_over_4_5_gb_loads_from_split_files_in_memory64_and_generates(page, big_parts, site):
    sizes = [Path(site / p).stat().st_size for p in big_parts]
    assert sum(sizes) > 4.5e9 and max(sizes) < 2**31 and len(sizes) >= 3
    r = page.run(f"""
import time
from pyodide_llm import LLM
t = time.perf_counter()
llm = await LLM.load({big_parts[0]!r}, n_ctx=128, n_batch=16, cache=False)
load_s = time.perf_counter() - t
t = time.perf_counter()
pieces = [p async for p in llm.complete("Once upon a time", max_tokens=4, temperature=0, ignore_eos=True)]
gen_s = time.perf_counter() - t
s = llm.last_stats
i = llm.info
rep = llm.load_report
await llm.close()
_json.dumps({{"load_s": load_s, "gen_s": gen_s, "variant": i.variant, "threads": i.n_threads,
             "file_size": i.file_size, "params": i.n_params, "arch": i.architecture, "n_layer": i.n_layer,
             "generated": s.generated_tokens, "prompt": s.prompt_tokens, "decode_tps": s.decode_tokens_per_s,
             "prefill_tps": s.prefill_tokens_per_s, "sources": list(rep.sources), "worker_ms": rep.total_ms,
             "llama_load_ms": rep.load_ms}})
""", timeout=1800)
    assert r["variant"] == "wasm64-mt"
    assert r["file_size"] == sum(sizes) and r["arch"] == "llama" and r["n_layer"] == 32
    assert r["params"] > 8e9
    assert r["sources"] == ["network"] * len(big_parts)
    assert r["generated"] == 4
    assert page.alive()
    print(f"\nHUGE {sum(sizes) / 1e9:.2f} GB in {len(sizes)} parts: load {r['load_s']:.1f} s (worker "
          f"{r['worker_ms'] / 1000:.1f} s, llama.cpp {r['llama_load_ms'] / 1000:.1f} s), prefill "
          f"{r['prefill_tps']:.2f} tok/s ({r['prompt']} tokens), decode {r['decode_tps']:.2f} tok/s, "
          f"{r['threads']} threads")
