"""The WebGPU variant in ``make bench``: node 26 on a software GPU, next to the CPU variant.

Why node and not a page: headless Chromium offers only SwiftShader, which lacks
``shader-f16``, so llama.cpp's WebGPU backend registers no device there. The rig of
``make test-gpu`` (recipes/gpurig.py: node 26, Dawn's node binding, Mesa's lavapipe)
has it, so ``bench/gpu_node.mjs`` runs there, inside the toolchain root.

Why the CPU variant in the same run: lavapipe is a CPU rasterizer sharing the cores
with everything else, so its timings prove the GPU path runs and say what it costs on
this machine, never how fast a GPU is (``LABEL`` says so wherever they are shown). The
one comparison that means something is with the CPU engine measured by the same node
process minutes apart, hence the ``webgpu_sw/cpu_node`` ratio. Real GPUs are measured
with ``python -m pyodide_llm bench-page``.
"""

from __future__ import annotations

import json
import shlex
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipes.errors import RecipeError
from recipes.gpurig import ensure_rig
from recipes.toolchain import Toolchain, ensure_toolchain

SCRIPT = Path(__file__).resolve().parent / "gpu_node.mjs"
CPU, GPU = "cpu-node", "webgpu-sw"  # the engine names gpu_node.mjs prints
ENGINES = (CPU, GPU)
LABEL = "webgpu-sw (node, lavapipe: software GPU, correctness-grade timing, not a speed claim)"
LABELS = {CPU: "wasm64-mt in the same node 26 process as webgpu-sw (its reference)", GPU: LABEL}
DEFAULT_TOKENS = 32  # lavapipe decodes ~2.4 tok/s with SmolLM2: 32 keep a run near a minute

Results = dict[tuple[str, str, int], list[dict[str, Any]]]


@dataclass(frozen=True)
class NodeRig:
    """Where gpu_node.mjs runs: the toolchain root, and the rig's environment inside it."""

    tc: Toolchain
    env: dict[str, str]


def node_rig(pins: dict[str, Any], log: Callable[[str], None]) -> NodeRig:
    """Make the software GPU rig ready (as ``make test-gpu`` does) before the long browser runs.

    Raises
    ------
    RecipeError
        The rig cannot be made here (not x86-64, Mesa too old); its fix, plus how
        to bench without this section.
    """
    tc = ensure_toolchain(pins, log)
    try:
        return NodeRig(tc, ensure_rig(tc, pins, log))
    except RecipeError as e:
        raise RecipeError(e.cause, f"{e.fix}; or pass --gpu-models= to bench without the "
                          "software GPU section") from None


def run_pair(rig: NodeRig, model: Path, threads: int, tokens: int, n_ctx: int) -> dict[str, dict[str, Any]]:
    """One node run: the CPU and the WebGPU variant on ``model``; their records by engine name.

    Raises
    ------
    RuntimeError
        The run failed, or did not print both records (its output's tail says why).
    """
    cmd = (f"{shlex.quote(rig.env['PLM_NODE26'])} {shlex.quote(str(SCRIPT))} --model {shlex.quote(str(model))} "
           f"--threads {threads} --tokens {tokens} --n-ctx {n_ctx}")
    r = rig.tc.run(cmd, env=rig.env, capture=True, check=False)
    records = {}
    for line in r.stdout.splitlines():
        if line.startswith('{"engine"'):
            rec = json.loads(line)
            records[rec["engine"]] = rec
    if r.returncode != 0 or set(records) != set(ENGINES):
        raise RuntimeError(f"bench/gpu_node.mjs failed (exit {r.returncode}) on {model.name}, t{threads}:\n"
                           f"{r.stdout[-2000:]}")
    return records


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def section(results: Results) -> list[str]:
    """RESULTS.md's software-GPU section: a heading with the label, a table, RATIO_GPU lines.

    Medians over the repetitions; empty when ``results`` holds no run of this section.
    """
    runs = {k: v for k, v in results.items() if k[1] in ENGINES and v}
    if not runs:
        return []
    first = next(iter(runs.values()))[0]
    adapter = next((v[0]["adapter"] for k, v in runs.items() if k[1] == GPU), None) or {}
    rig = first.get("rig", {})
    lines = [f"## {LABEL}", "",
             f"node {rig.get('node', '?')}, Dawn's node binding on Mesa {rig.get('mesa', '?')} lavapipe "
             f"(adapter: {adapter.get('description') or adapter.get('architecture') or '?'}, "
             f"fallback {adapter.get('is_fallback')}, shader-f16 {adapter.get('shader_f16')}). Both engines in one "
             "node process, the CPU variant first: load (the model's bytes in linear memory, as in the browser), "
             f"a short warm-up, then the browser pages' prompt ({first['n_prompt']} tokens), then "
             f"{first['n_generated']} greedy tokens (EOS ignored). "
             "lavapipe runs the GPU's work on the same CPU cores: these figures show the GPU path works and "
             "what it costs here, not how fast a GPU is.", "",
             "| model | engine | variant | threads | backend | n_gpu_layers | prefill tok/s | decode tok/s | load ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    ratios = []
    models = list(dict.fromkeys(name for name, _, _ in runs))
    for name in models:
        for t in sorted({t for n, _, t in runs if n == name}):
            pair = {e: runs.get((name, e, t)) for e in ENGINES}
            for e, v in pair.items():
                if v:
                    lines.append(f"| {name} | {e} | {v[0]['variant']} | {t} | {v[0]['backend']} | "
                                 f"{v[0]['n_gpu_layers']} | {_median(v, 'prefill_tok_s'):.1f} | "
                                 f"{_median(v, 'decode_tok_s'):.2f} | {_median(v, 'load_ms'):.0f} |")
            cpu, gpu = pair[CPU], pair[GPU]
            if cpu and gpu:
                ratios.append(f"RATIO_GPU {name} t{t} webgpu_sw/cpu_node "
                              + " ".join(f"{k}={_median(gpu, f) / _median(cpu, f):.3f}" for k, f in (
                                  ("prefill", "prefill_tok_s"), ("decode", "decode_tok_s"), ("load", "load_ms"))))
    return [*lines, "", "```", *ratios, "```"]
