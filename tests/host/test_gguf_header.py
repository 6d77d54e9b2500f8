"""pyodide_llm._gguf against the field's own reader (the ``gguf`` package)."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from pyodide_llm._errors import ModelLoadError
from pyodide_llm._gguf import FILE_TYPES, GGML_TYPES, MAX_ARRAY_KEEP, NeedMoreBytes, NotGGUFError, parse_header
from recipes.pins import load_pins
from recipes.source import model_file


def _small_model(path: Path) -> Path:
    """A small llama-shaped GGUF with F32, F16 and Q8_0 tensors and every value type."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_context_length(4096)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    w.add_token_list([f"t{i}" for i in range(300)])
    w.add_bool("test.flag", True)
    w.add_int8("test.i8", -5)
    w.add_uint64("test.u64", 2**40)
    w.add_float64("test.f64", 0.125)
    w.add_array("test.small", [1, 2, 3])
    w.add_array("test.strings", ["a", "bb", "ccc"])
    w.add_tensor("token_embd.weight", np.ones((300, 64), dtype=np.float16))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))
    q = gguf.quantize(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32),
                      gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _files(tmp_path: Path) -> list[Path]:
    return [_small_model(tmp_path / "small.gguf"), model_file(load_pins(), "smollm2", lambda m: None)]


def _reader_value(field):
    return field.contents()


def test_header_agrees_with_the_gguf_package(tmp_path: Path) -> None:
    for path in _files(tmp_path):
        ref = gguf.GGUFReader(path)
        data = path.read_bytes()
        h = parse_header(data)
        assert h.header_size == ref.data_offset, path.name
        assert [t.name for t in h.tensors] == [t.name for t in ref.tensors]
        for mine, theirs in zip(h.tensors, ref.tensors, strict=True):
            assert mine.type == theirs.tensor_type.name
            assert mine.shape == tuple(int(d) for d in theirs.shape)
            assert h.header_size + mine.offset == theirs.data_offset
            assert mine.n_elements == theirs.n_elements
            assert mine.n_bytes == theirs.n_bytes
        for key, f in ref.fields.items():
            if key.startswith("GGUF."):
                continue  # the reader's own pseudo-fields (version, counts)
            want = _reader_value(f)
            if isinstance(want, list) and len(want) > MAX_ARRAY_KEEP:
                assert h.array_lengths[key] == len(want), key
                assert h.metadata[key] is None
            elif isinstance(want, float):
                assert h.metadata[key] == pytest.approx(want), key
            else:
                assert h.metadata[key] == want, key
        assert h.n_params == sum(int(t.n_elements) for t in ref.tensors)


def test_summary_fields_of_smollm2() -> None:
    h = parse_header(model_file(load_pins(), "smollm2", lambda m: None).read_bytes()[:4 << 20])
    assert h.architecture == "llama"
    assert h.quantization == "Q4_1"
    assert h.arch_value("context_length") == 8192
    assert h.n_vocab == 49152
    assert "<|im_start|>" in h.metadata["tokenizer.chat_template"]
    assert 130e6 < h.n_params < 140e6
    assert h.split == (0, 1)


def test_a_short_prefix_asks_for_more_and_never_guesses(tmp_path: Path) -> None:
    data = _small_model(tmp_path / "m.gguf").read_bytes()
    full = parse_header(data)
    for n in (4, 8, 23, 24, 100, 1000, full.header_size // 2, full.header_size - 40):
        with pytest.raises(NeedMoreBytes) as e:
            parse_header(data[:n])
        assert e.value.needed > n
    assert parse_header(data[:full.header_size]).tensors == full.tensors


@pytest.mark.parametrize(("data", "match"), [
    (b"<!doctype html><html>not found</html>", "not a GGUF file"),
    (b"GGUF" + struct.pack("<I", 1) + bytes(16), "version 1"),
    (b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0), "corrupt"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 3) + b"key" + struct.pack("<I", 99), "value type 99"),
])
def test_bad_headers_are_refused_with_a_reason(data: bytes, match: str) -> None:
    with pytest.raises(NotGGUFError, match=match):
        parse_header(data)


def test_type_tables_match_the_gguf_package() -> None:
    for tid, (name, block, size) in GGML_TYPES.items():
        qt = gguf.GGMLQuantizationType(tid)
        assert qt.name == name
        assert gguf.GGML_QUANT_SIZES[qt] == (block, size)
    for fid, name in FILE_TYPES.items():
        assert gguf.LlamaFileType(fid).name.removeprefix("MOSTLY_").removeprefix("ALL_") == name


def _fetcher(data: bytes, ranges: bool, calls: list[int]):
    async def fetch(url: str, size: int) -> tuple[bytes, int | None]:
        calls.append(size)
        return (data[:size] if ranges else data[:max(size, 1 << 16)]), len(data)
    return fetch


def test_inspect_grows_the_range_until_the_header_parses() -> None:
    from pyodide_llm import inspect

    data = model_file(load_pins(), "smollm2", lambda m: None).read_bytes()
    calls: list[int] = []
    info = asyncio.run(inspect("m.gguf", fetch=_fetcher(data, True, calls)))
    assert info.architecture == "llama" and info.quantization == "Q4_1" and info.n_vocab == 49152
    assert info.file_size == len(data) and info.context_length == 8192 and info.n_layer == 30
    assert calls[0] == 1 << 20 and len(calls) >= 2, calls  # SmolLM2's header is ~1.8 MB
    assert max(calls) < 8 << 20, "only the header is fetched"


def test_inspect_refuses_truncated_and_foreign_files() -> None:
    from pyodide_llm import inspect

    data = model_file(load_pins(), "smollm2", lambda m: None).read_bytes()
    with pytest.raises(ModelLoadError, match="truncated"):
        asyncio.run(inspect("t.gguf", fetch=_fetcher(data[:300_000], True, [])))
    with pytest.raises(ModelLoadError, match="tensors end at byte"):  # header intact, data cut off
        asyncio.run(inspect("t.gguf", fetch=_fetcher(data[:5_000_000], True, [])))
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        asyncio.run(inspect("x.html", fetch=_fetcher(b"<!doctype html>" * 100, True, [])))
