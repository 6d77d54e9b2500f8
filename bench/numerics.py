"""``make bench-numerics``: how far the wasm engines' numbers are from native llama.cpp's.

Scores the first 2,000 tokens of a text (llama.cpp's README from the pinned source)
with SmolLM2 (real weights: a random-weight model has no meaningful perplexity),
token by token, natively (plm-native: the same engine code built for this CPU, AVX-512
here) and in each CPU variant in node (bench/numerics_node.mjs). Prints a NUMERICS
line per variant: the largest and mean |log-probability difference| to native, and
the perplexity of each with their relative difference (issue 18's target: within 0.3 %).
Not part of ``make bench``: about five minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from pyodide_llm._variants import CPU_VARIANTS  # noqa: E402
from recipes.build import DIST, cmd_native, cmd_wasm, log  # noqa: E402
from recipes.pins import load_pins  # noqa: E402
from recipes.source import llama_source, model_file  # noqa: E402
from recipes.toolchain import ensure_toolchain  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--variants", help="comma-separated (default: every CPU variant)")
    args = ap.parse_args()
    pins = load_pins()
    cmd_wasm([])
    env = {"PLM_MODEL": str(model_file(pins, "smollm2", log)), "PLM_NATIVE": str(cmd_native() / "plm-native"),
           "PLM_WASM_DIR": str(DIST), "PLM_VARIANTS": ",".join(CPU_VARIANTS),
           "PLM_LLAMA_SRC": str(llama_source(pins, log))}
    tc = ensure_toolchain(pins, log)
    cmd = f"node {shlex.quote(str(ROOT / 'bench' / 'numerics_node.mjs'))} --tokens {args.tokens}"
    if args.variants:
        cmd += f" --variants {shlex.quote(args.variants)}"
    r = tc.run(cmd, env=env, capture=True, check=False)
    rows = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith('{"variant"')]
    if r.returncode != 0 or not rows:
        print(r.stdout[-3000:], file=sys.stderr)
        return 1
    for x in rows:
        print(f"NUMERICS {x['variant']} smollm2-135m-q4_1 tokens={x['n']} max_logprob_dev={x['max_dev']:.4f} "
              f"(token {x['max_at']}) mean_logprob_dev={x['mean_dev']:.5f} ppl={x['ppl']:.4f} "
              f"ppl_native={x['ppl_native']:.4f} ppl_diff={100 * x['ppl_rel']:+.3f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
