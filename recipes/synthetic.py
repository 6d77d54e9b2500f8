"""Synthetic GGUF files with real architectures, written with the ``gguf`` package.

Why: speed and memory depend on tensor shapes and types, not on weight values,
and only package registries are reachable here, so benchmark and test models
(Qwen2.5 / Llama shapes, an 8B-shape model over 4.5 GB, split sets, a file of
an unknown architecture) are written from SmolLM2's tokenizer and patterned
weights. Nothing here loads a model; llama.cpp does that in the tests.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
    tied_output: bool = True


# Bump when _Weights or write_model change what they write.
WEIGHTS_FORMAT = 1

# Llama-3.1-8B's hyper-parameters: with Q4_1 weights the file is ~5.0 GB.
LLAMA_8B = Shape("llama", 4096, 32, 32, 8, 14336, 128256, 5e5, False, 131072, tied_output=False)


def _tokenizer(w: Any, src: Any, n_vocab: int) -> None:
    """SmolLM2's BPE tokenizer, padded with unused tokens to ``n_vocab``."""
    import gguf

    tokens = list(src.get_field("tokenizer.ggml.tokens").contents())
    types = list(src.get_field("tokenizer.ggml.token_type").contents())
    pad = n_vocab - len(tokens)
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


class _Weights:
    """Patterned matrices that are views of one small pool, so a 5 GB model needs no 5 GB of RAM.

    F16: values ~N(0, 0.02). Q4_1: blocks of 32 weights with scale 0.002 and
    minimum -0.016 (weights in [-0.016, 0.014]) and random 4-bit codes.
    """

    def __init__(self, kind: str) -> None:
        import numpy as np

        rng = np.random.default_rng(0)
        self.kind = kind
        if kind == "F16":
            self.pool = (rng.standard_normal(1 << 22, dtype=np.float32) * 0.02).astype(np.float16)
        elif kind == "Q4_1":
            blocks = rng.integers(0, 256, size=(1 << 18, 20), dtype=np.uint8)
            blocks[:, 0:2] = np.frombuffer(np.float16(0.002).tobytes(), np.uint8)
            blocks[:, 2:4] = np.frombuffer(np.float16(-0.016).tobytes(), np.uint8)
            self.pool = blocks.reshape(-1)
        else:
            raise ValueError(f"synthetic weights are F16 or Q4_1, not {kind}")

    def add(self, w: Any, name: str, rows: int, cols: int, salt: int) -> None:
        import gguf
        import numpy as np

        if self.kind == "F16":
            w.add_tensor(name, np.resize(np.roll(self.pool, salt * 7919), (rows, cols)))
            return
        row_bytes = cols // 32 * 20
        step = 20 * (1 + salt % 7)  # whole blocks, so every row starts at a block
        need = (rows - 1) * step + row_bytes
        pool = self.pool if need <= len(self.pool) else np.resize(self.pool, need)
        view = np.lib.stride_tricks.as_strided(pool, shape=(rows, row_bytes), strides=(step, 1), writeable=False)
        w.add_tensor(name, view, raw_dtype=gguf.GGMLQuantizationType.Q4_1)  # shape from the byte shape


def _finish(w: Any, tmp: Path | None) -> list[Path]:
    """Write everything, then move the finished files (named ``partial-*`` until now) into place."""
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if tmp is None:
        return []
    written = w.format_shard_names(tmp)
    final = [f.with_name(f.name.removeprefix("partial-")) for f in written]
    for f, g in zip(written, final, strict=True):
        f.rename(g)
    return final


def write_model(shape: Shape, tokenizer_from: Path, dest: Path, weights: str = "F16",
                split_max_size: int = 0) -> list[Path]:
    """Write a model of ``shape``; with ``split_max_size``, as ``<dest stem>-0000i-of-0000N.gguf`` parts.

    Returns the files written (renamed into place only once complete).
    """
    import gguf
    import numpy as np

    src = gguf.GGUFReader(tokenizer_from)
    tmp = dest.with_name("partial-" + dest.name)
    w = gguf.GGUFWriter(str(tmp), shape.arch, split_max_size=split_max_size)
    a = shape.arch
    head_dim = shape.n_embd // shape.n_head
    w.add_name(f"pyodide_llm synthetic {a} {shape.n_embd}x{shape.n_layer} {weights}")
    w.add_context_length(shape.n_ctx_train)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(shape.rope_base)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if weights == "F16" else gguf.LlamaFileType.MOSTLY_Q4_1)
    _tokenizer(w, src, shape.n_vocab)

    mats = _Weights(weights)
    ones = np.ones(shape.n_embd, dtype=np.float32)
    kv = shape.n_head_kv * head_dim
    mats.add(w, "token_embd.weight", shape.n_vocab, shape.n_embd, 1)
    w.add_tensor("output_norm.weight", ones)
    if not shape.tied_output:
        mats.add(w, "output.weight", shape.n_vocab, shape.n_embd, 9)
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", ones)
        mats.add(w, p + "attn_q.weight", shape.n_embd, shape.n_embd, 10 * i + 2)
        mats.add(w, p + "attn_k.weight", kv, shape.n_embd, 10 * i + 3)
        mats.add(w, p + "attn_v.weight", kv, shape.n_embd, 10 * i + 4)
        if shape.qkv_bias:
            for t, n in (("q", shape.n_embd), ("k", kv), ("v", kv)):
                w.add_tensor(p + f"attn_{t}.bias", np.zeros(n, dtype=np.float32))
        mats.add(w, p + "attn_output.weight", shape.n_embd, shape.n_embd, 10 * i + 5)
        w.add_tensor(p + "ffn_norm.weight", ones)
        mats.add(w, p + "ffn_gate.weight", shape.n_ff, shape.n_embd, 10 * i + 6)
        mats.add(w, p + "ffn_up.weight", shape.n_ff, shape.n_embd, 10 * i + 7)
        mats.add(w, p + "ffn_down.weight", shape.n_embd, shape.n_ff, 10 * i + 8)
    return _finish(w, tmp)


def split_model(src: Path, dest_stem: Path, n_parts: int, first: int = 0) -> list[Path]:
    """Split a GGUF into ``n_parts`` files the way llama.cpp's gguf-split does (tensors in order).

    Part 1 keeps all metadata; every part gets ``split.no``/``split.count``/``split.tensors.count``.
    ``first`` tensors go into part 1 if given (another split of the same model, for mixing tests).
    """
    import gguf
    import numpy as np

    r = gguf.GGUFReader(src)
    arch = r.get_field("general.architecture").contents()
    dest_stem.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_stem.with_name("partial-" + dest_stem.name + ".gguf")
    rest = len(r.tensors) - first if first else len(r.tensors)
    per_part = -(-rest // (n_parts - 1 if first else n_parts))
    w = gguf.GGUFWriter(str(tmp), arch, split_max_tensors=per_part)
    if first:
        w.split_max_tensors = first  # part 1 closes after `first` tensors, then per_part each
    for name, field in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, field.contents(), vtype, sub_type=sub)
    for i, t in enumerate(r.tensors):
        if first and i == first:
            w.split_max_tensors = per_part
        quantized = t.data.dtype == np.uint8
        w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type if quantized else None)
    return _finish(w, tmp)


def write_unknown_architecture(dest: Path) -> None:
    """A well-formed GGUF whose architecture llama.cpp has never heard of."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(dest), "plm-no-such-arch")
    w.add_block_count(1)
    w.add_context_length(128)
    w.add_embedding_length(64)
    w.add_head_count(1)
    w.add_tensor("token_embd.weight", np.zeros((32, 64), dtype=np.float32))
    _finish(w, None)


def cached_split(model: Path, n_parts: int, root: Path, first: int = 0) -> list[Path]:
    """``model`` split into ``n_parts`` under ``root`` once (kept by the model's name and the split)."""
    out = root / (f"{model.stem}-split{n_parts}" + (f"-first{first}" if first else ""))
    parts = [out / f"{model.stem}-{i:05d}-of-{n_parts:05d}.gguf" for i in range(1, n_parts + 1)]
    if not all(p.exists() for p in parts):
        split_model(model, out / model.stem, n_parts, first)
    return parts


def cached_big_model(tokenizer_from: Path, root: Path, shape: Shape = LLAMA_8B,
                     split_max_size: int = 1_900_000_000) -> list[Path]:
    """The Llama-8B-shape Q4_1 model (~5 GB) as parts under 2 GB, written once under ``root``.

    A ``parts.txt`` listing the parts is written last: without it the set is incomplete.
    """
    import json
    from dataclasses import asdict

    from .pins import digest

    # Keyed by what the bytes depend on (not this file: an edit must not rewrite 5 GB).
    key = digest(json.dumps(asdict(shape)), split_max_size, WEIGHTS_FORMAT, tokenizer_from.name)
    stem = f"{shape.arch}-{shape.n_embd}x{shape.n_layer}-q4_1-"
    out = root / (stem + key)
    listing = out / "parts.txt"
    if listing.exists():
        return [out / name for name in listing.read_text().split()]
    for old in root.glob(stem + "*"):  # an older or interrupted set
        shutil.rmtree(old)
    out.mkdir(parents=True, exist_ok=True)
    parts = write_model(shape, tokenizer_from, out / "model.gguf", "Q4_1", split_max_size)
    listing.write_text("\n".join(p.name for p in parts) + "\n")
    return parts


def write_compute_abort(model: Path, dest: Path) -> None:
    """``model`` with its output norm's weights declared F16 (the bytes stay F32's).

    Why: llama.cpp loads it, then aborts when it computes (ggml's binary ops have no
    F32 x F16 case: GGML_ABORT in binary-ops.cpp), the one kind of llama.cpp abort a
    load cannot refuse; the browser tests show the engine's crash handling with it.
    """
    import struct

    name = b"output_norm.weight"
    with open(model, "rb") as f:
        head = f.read(8 << 20)
    at = head.find(struct.pack("<Q", len(name)) + name)
    if at < 0:
        raise ValueError(f"{model} has no {name.decode()} in its first 8 MiB")
    n_dims_at = at + 8 + len(name)
    (n_dims,) = struct.unpack_from("<I", head, n_dims_at)
    type_at = n_dims_at + 4 + 8 * n_dims
    shutil.copyfile(model, dest)
    with open(dest, "r+b") as f:
        f.seek(type_at)
        if struct.unpack("<I", f.read(4))[0] != 0:
            raise ValueError(f"{model}: {name.decode()} is not F32")
        f.seek(type_at)
        f.write(struct.pack("<I", 1))  # GGML_TYPE_F16
