"""Reading a GGUF file's header in pure Python (no numpy in the browser).

Why our own reader: ``pyodide_llm.inspect`` must tell what a multi-GB model is
(architecture, size, quantization, context, template) from the first few MB,
fetched with HTTP Range requests, before anything is downloaded. The ``gguf``
package reads whole files through numpy memory maps; the host tests check that
this reader agrees with it on the same files.

The parser works on a prefix of the file and raises :class:`NeedMoreBytes` with
the length it needs when the prefix ends inside the header, so the caller can
fetch more and try again.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"GGUF"
# Arrays longer than this are not kept as values (tokenizer vocabularies and
# merges run to 150k+ strings); their length is kept instead.
MAX_ARRAY_KEEP = 64

# ggml_type id -> (name, weights per block, bytes per block) of the types stored in
# files (Q8_1 is only an intermediate; gguf-py still lists its old size); checked against
# gguf.GGML_QUANT_SIZES in tests/host/test_gguf_header.py.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}

# general.file_type -> name (llama.cpp's llama_ftype without the MOSTLY_ prefix).
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE",
}

# GGUF value types: id -> struct format (scalars), or the markers below.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class NeedMoreBytes(Exception):
    """The prefix ends inside the header; ``needed`` is the length known to be required."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"the GGUF header continues past this prefix; at least {needed} bytes are needed")
        self.needed = needed


class NotGGUFError(ValueError):
    """The bytes are not a GGUF file this reader understands (code ``not_gguf``)."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order: the fastest-varying dimension first
    type: str
    offset: int  # from the start of the data section
    n_elements: int
    n_bytes: int | None  # None for a type this reader does not know


@dataclass
class GGUFHeader:
    """Everything before the tensor data of a GGUF file."""

    version: int
    metadata: dict[str, Any]  # long arrays are replaced by ArrayInfo
    tensors: list[TensorInfo]
    header_size: int  # where the tensor data starts (aligned)
    array_lengths: dict[str, int] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    def arch_value(self, key: str, default: Any = None) -> Any:
        """``<architecture>.<key>``, e.g. ``context_length`` or ``attention.head_count_kv``."""
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def weights_bytes(self) -> int:
        return sum(t.n_bytes or 0 for t in self.tensors)

    @property
    def quantization(self) -> str:
        """The file type llama-quantize wrote, else the type holding most of the bytes."""
        ft = self.metadata.get("general.file_type")
        if isinstance(ft, int) and ft in FILE_TYPES:
            return FILE_TYPES[ft]
        by_type: dict[str, int] = {}
        for t in self.tensors:
            by_type[t.type] = by_type.get(t.type, 0) + (t.n_bytes or 0)
        return max(by_type, key=by_type.__getitem__) if by_type else "unknown"

    @property
    def n_vocab(self) -> int:
        return self.array_lengths.get("tokenizer.ggml.tokens", 0)

    @property
    def split(self) -> tuple[int, int]:
        """(index, count) of a split GGUF (``split.no``/``split.count``), (0, 1) otherwise."""
        return _count(self.metadata, "split.no", 0), _count(self.metadata, "split.count", 1)


def _count(metadata: dict[str, Any], key: str, default: int) -> int:
    """An integer key that must be a count; anything else (a string, a float, a negative) is corruption."""
    value = metadata.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NotGGUFError(f"'{key}' is {value!r}, not a count: the header is corrupt")
    return value


class _Cursor:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.data):
            raise NeedMoreBytes(end)
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > 1 << 30:
            raise NotGGUFError(f"a string of {n} bytes at offset {self.pos}: the header is corrupt")
        return bytes(self.take(n)).decode("utf-8", errors="replace")

    def value(self, vtype: int, key: str, lengths: dict[str, int]) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, n = self.unpack("<I"), self.unpack("<Q")
            if n > 1 << 32:
                raise NotGGUFError(f"array '{key}' claims {n} elements: the header is corrupt")
            lengths[key] = n
            keep = n <= MAX_ARRAY_KEEP
            if etype in _SCALARS and not keep:  # skip without decoding
                self.take(struct.calcsize(_SCALARS[etype]) * n)
                return None
            items = [self.value(etype, key, lengths) for _ in range(n)]
            return items if keep else None
        raise NotGGUFError(f"unknown GGUF value type {vtype} for key '{key}'")


def parse_header(data: bytes | memoryview) -> GGUFHeader:
    """Parse the header from a prefix of a GGUF file.

    Raises
    ------
    NeedMoreBytes
        The prefix is too short; fetch at least ``needed`` bytes and call again.
    NotGGUFError
        Not a GGUF file (wrong magic, unsupported version, corrupt lengths).
    """
    c = _Cursor(data)
    magic = bytes(c.take(4))
    if magic != MAGIC:
        raise NotGGUFError(f"not a GGUF file: it starts with {magic!r}, not b'GGUF' (an HTML error page?)")
    version = c.unpack("<I")
    if version not in (2, 3):
        raise NotGGUFError(f"GGUF version {version} is not supported (2 and 3 are; a big-endian file?)")
    n_tensors, n_kv = c.unpack("<Q"), c.unpack("<Q")
    if n_tensors > 1 << 24 or n_kv > 1 << 24:
        raise NotGGUFError(f"the header claims {n_tensors} tensors and {n_kv} keys: it is corrupt")
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(n_kv):
        key = c.string()
        metadata[key] = c.value(c.unpack("<I"), key, lengths)
    tensors = []
    for _ in range(n_tensors):
        name = c.string()
        n_dims = c.unpack("<I")
        if n_dims > 8:
            raise NotGGUFError(f"tensor '{name}' has {n_dims} dimensions: the header is corrupt")
        shape = tuple(c.unpack("<Q") for _ in range(n_dims))
        ttype, offset = c.unpack("<I"), c.unpack("<Q")
        n = 1
        for d in shape:
            n *= d
        tname, block, size = GGML_TYPES.get(ttype, (f"type_{ttype}", 0, 0))
        tensors.append(TensorInfo(name, shape, tname, offset, n, n // block * size if block else None))
    align = _count(metadata, "general.alignment", 32) or 32
    if align & (align - 1) or align > 1 << 20:
        raise NotGGUFError(f"'general.alignment' is {align}, not a power of two: the header is corrupt")
    header_size = (c.pos + align - 1) // align * align
    return GGUFHeader(version, metadata, tensors, header_size, lengths)


@dataclass(frozen=True)
class GGUFInfo:
    """What a model's header says it is (``inspect``'s result; the input of memory sizing).

    Lives beside the parser, not with the code that fetches headers, so that
    sizing and variant choice need no I/O module.
    """

    url: str
    architecture: str
    n_params: int
    quantization: str
    context_length: int | None
    chat_template: str | None
    n_tensors: int
    file_size: int | None
    n_vocab: int
    n_layer: int | None
    n_embd: int | None
    n_head: int | None
    n_head_kv: int | None
    split: tuple[int, int]
    header_bytes: int
    metadata: dict[str, Any]
    parts: tuple[str, ...] = ()  # every part's URL, for a split model

    @classmethod
    def from_header(cls, url: str, h: GGUFHeader, file_size: int | None) -> GGUFInfo:
        def opt_int(key: str) -> int | None:  # a sane count, or None (NaN, inf, negative, a string...)
            v = h.arch_value(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                return None
            return int(v)

        tmpl = h.metadata.get("tokenizer.chat_template")
        return cls(url=url, architecture=h.architecture, n_params=h.n_params, quantization=h.quantization,
                   context_length=opt_int("context_length"), chat_template=tmpl if isinstance(tmpl, str) else None,
                   n_tensors=len(h.tensors), file_size=file_size, n_vocab=h.n_vocab,
                   n_layer=opt_int("block_count"), n_embd=opt_int("embedding_length"),
                   n_head=opt_int("attention.head_count"), n_head_kv=opt_int("attention.head_count_kv"),
                   split=h.split, header_bytes=h.header_size, metadata=h.metadata)
