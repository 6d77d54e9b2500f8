"""The pure-Python GGUF header reader under hypothesis: mutated real headers and generated ones.

Every input must end in one of the reader's typed outcomes, a parsed header whose
summary (``GGUFInfo``, what ``inspect`` and the sizing read) builds, or
``NeedMoreBytes`` / ``NotGGUFError`` (``ModelLoadError`` for callers), within a
bounded time and memory. ``PLM_FUZZ_EXAMPLES`` sets the examples per property
(default 300 here; a soak run takes thousands).
"""

from __future__ import annotations

import os
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyodide_llm._gguf import GGUFInfo, NeedMoreBytes, NotGGUFError, parse_header
from pyodide_llm._sizing import estimate
from test_gguf_header import _small_model

EXAMPLES = int(os.environ.get("PLM_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=1000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_PEAK = 64 << 20  # bytes a single header may make the reader allocate


@pytest.fixture(scope="module")
def seed(tmp_path_factory) -> bytes:
    path = _small_model(tmp_path_factory.mktemp("fuzz") / "small.gguf")
    data = path.read_bytes()
    return data[:parse_header(data).header_size]


def outcome(data: bytes) -> str:
    """What the reader made of ``data``; anything but a typed outcome fails the test."""
    tracemalloc.start()
    try:
        header = parse_header(data)
        info = GGUFInfo.from_header("fuzz.gguf", header, len(data))
        estimate(info, 512, 512)  # the sizing LLM.load does with it
        return "parsed"
    except NeedMoreBytes as e:
        assert e.needed > len(data) or e.needed > 0
        return "need_more"
    except NotGGUFError:
        return "refused"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MAX_PEAK, f"{peak} bytes for a {len(data)}-byte input"


# Values that break readers: lengths and counts at their limits, NaN/inf floats' bits.
EXTREMES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1]


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "u64", "u32", "cut", "insert", "nan"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "u64":
            data[at:at + 8] = struct.pack("<Q", draw(st.sampled_from(EXTREMES)))
        elif kind == "u32":
            data[at:at + 4] = struct.pack("<I", draw(st.sampled_from(EXTREMES[:5])))
        elif kind == "nan":
            data[at:at + 8] = struct.pack("<d", draw(st.sampled_from([float("nan"), float("inf"), -1e308])))
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def test_mutated_real_headers_end_typed(seed) -> None:
    seen: dict[str, int] = {}

    @FUZZ
    @given(mutated(seed))
    def check(data: bytes) -> None:
        kind = outcome(data)
        seen[kind] = seen.get(kind, 0) + 1

    check()
    assert set(seen) >= {"refused", "need_more"}, seen  # the mutations reach both failure paths


@FUZZ
@given(version=st.sampled_from([2, 3]), counts=st.tuples(st.sampled_from(EXTREMES), st.sampled_from(EXTREMES)),
       body=st.binary(max_size=2048))
def test_generated_headers_end_typed(version: int, counts: tuple[int, int], body: bytes) -> None:
    outcome(b"GGUF" + struct.pack("<IQQ", version, *counts) + body)


@FUZZ
@given(key=st.text(min_size=1, max_size=40), vtype=st.integers(0, 13), payload=st.binary(max_size=256))
def test_one_key_of_any_type_and_bytes_ends_typed(key: str, vtype: int, payload: bytes) -> None:
    raw = key.encode()
    outcome(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(raw)) + raw + struct.pack("<I", vtype)
            + payload)


# The keys the summary and the sizing read, each given values of every GGUF type.
KEYS = ["general.architecture", "general.file_type", "split.no", "split.count", "split.tensors.count",
        "tokenizer.chat_template", "tokenizer.ggml.tokens", "llama.context_length", "llama.block_count",
        "llama.embedding_length", "llama.attention.head_count", "llama.attention.head_count_kv",
        "llama.feed_forward_length", "llama.vocab_size", "general.alignment"]


def _string(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(raw)) + raw


VALUES = st.one_of(
    st.tuples(st.just(8), st.text(max_size=20).map(_string)),
    st.tuples(st.just(4), st.integers(0, 2**32 - 1).map(lambda v: struct.pack("<I", v))),
    st.tuples(st.just(5), st.integers(-2**31, 2**31 - 1).map(lambda v: struct.pack("<i", v))),
    st.tuples(st.just(10), st.sampled_from(EXTREMES).map(lambda v: struct.pack("<Q", v))),
    st.tuples(st.just(11), st.integers(-2**63, 2**63 - 1).map(lambda v: struct.pack("<q", v))),
    st.tuples(st.just(6), st.floats(width=32).map(lambda v: struct.pack("<f", v))),
    st.tuples(st.just(12), st.floats().map(lambda v: struct.pack("<d", v))),
    st.tuples(st.just(7), st.booleans().map(lambda v: struct.pack("<?", v))),
    st.tuples(st.just(9), st.lists(st.integers(0, 2**31 - 1), max_size=5).map(
        lambda xs: struct.pack("<IQ", 4, len(xs)) + b"".join(struct.pack("<I", x) for x in xs))),
)


@FUZZ
@given(entries=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=12),
       tensors=st.lists(st.tuples(st.lists(st.sampled_from(EXTREMES[:5]), min_size=1, max_size=4),
                                  st.integers(0, 45)), max_size=3))
def test_well_formed_headers_with_odd_values_end_typed(entries, tensors) -> None:
    """Every key the summary reads, with a value of any type (NaN, inf, strings, arrays where numbers go)."""
    body = b"".join(_string(k) + struct.pack("<I", vtype) + payload for k, (vtype, payload) in entries)
    for i, (dims, ggml_type) in enumerate(tensors):
        body += _string(f"t{i}") + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        body += struct.pack("<IQ", ggml_type, 0)
    outcome(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(entries)) + body + bytes(64))


def test_the_seed_itself_parses(seed) -> None:
    assert outcome(seed) == "parsed"  # written by the gguf package (tests/host/test_gguf_header.py)


@pytest.mark.parametrize(("key", "vtype", "payload", "expect"), [
    ("split.no", 8, _string("abc"), "refused"),          # was int("abc"): a bare ValueError
    ("split.count", 12, struct.pack("<d", 2.5), "refused"),
    ("general.alignment", 4, struct.pack("<I", 3), "refused"),
    ("llama.context_length", 6, struct.pack("<f", float("inf")), "parsed"),  # was int(inf): OverflowError
    ("llama.block_count", 6, struct.pack("<f", float("nan")), "parsed"),     # was int(nan): ValueError
])
def test_values_the_fuzzer_found(key: str, vtype: int, payload: bytes, expect: str) -> None:
    entries = _string("general.architecture") + struct.pack("<I", 8) + _string("llama")
    entries += _string(key) + struct.pack("<I", vtype) + payload
    assert outcome(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + entries + bytes(64)) == expect
