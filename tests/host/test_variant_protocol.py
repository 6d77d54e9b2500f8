"""Variant choice, and the protocol table against the JS and C sources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyodide_llm.errors import UnsupportedEnvironmentError
from pyodide_llm.options import LoadOptions
from pyodide_llm.protocol import PROTOCOL
from pyodide_llm.variant import choose_variant

ROOT = Path(__file__).resolve().parents[2]
ISOLATED = {"cross_origin_isolated": True, "threads": True, "memory64": True, "relaxed_simd": True,
            "hardware_concurrency": 2}


@pytest.mark.parametrize(("caps", "opts", "want"), [
    (ISOLATED, LoadOptions(), ("wasm64-mt", 2)),
    (dict(ISOLATED, memory64=False), LoadOptions(), ("wasm32-mt", 2)),
    (dict(ISOLATED, relaxed_simd=False), LoadOptions(), ("wasm32-mt", 2)),
    (dict(ISOLATED, cross_origin_isolated=False, threads=False), LoadOptions(), ("wasm32-st", 1)),
    (dict(ISOLATED, hardware_concurrency=32), LoadOptions(), ("wasm64-mt", 8)),
    (ISOLATED, LoadOptions(variant="wasm32-st"), ("wasm32-st", 1)),
    (ISOLATED, LoadOptions(n_threads=1), ("wasm64-mt", 1)),
])
def test_variant_choice(caps, opts, want) -> None:
    assert choose_variant(caps, opts) == want


def test_threaded_variant_on_a_page_without_isolation_explains_the_headers() -> None:
    with pytest.raises(UnsupportedEnvironmentError, match="Cross-Origin-Embedder-Policy"):
        choose_variant({"memory64": True, "hardware_concurrency": 4}, LoadOptions(variant="wasm64-mt"))
    with pytest.raises(UnsupportedEnvironmentError, match="memory64"):
        choose_variant(dict(ISOLATED, memory64=False), LoadOptions(variant="wasm64-mt"))
    with pytest.raises(UnsupportedEnvironmentError, match="relaxed_simd"):
        choose_variant(dict(ISOLATED, relaxed_simd=False), LoadOptions(variant="wasm64-mt"))
    with pytest.raises(ValueError, match="1 thread"):
        choose_variant({}, LoadOptions(n_threads=4))


def test_variant_requirements_match_the_build_flags() -> None:
    import tomllib

    from pyodide_llm.variant import REQUIRES
    pins = tomllib.loads((ROOT / "emscripten.toml").read_text())
    assert set(REQUIRES) == set(pins["variants"]) - {"common"}
    for name, needs in REQUIRES.items():
        v = pins["variants"][name]
        assert ("memory64" in needs) == v["memory64"], name
        assert ("relaxed_simd" in needs) == ("-mrelaxed-simd" in v["cflags"]), name


def test_memory_limits_match_the_build_flags() -> None:
    import tomllib

    from pyodide_llm.sizing import GIB, LIMITS
    pins = tomllib.loads((ROOT / "emscripten.toml").read_text())
    for name, limit in LIMITS.items():
        flag = next(f for f in pins["variants"][name]["ldflags"] if f.startswith("-sMAXIMUM_MEMORY="))
        assert limit == int(flag.split("=")[1].removesuffix("GB")) * GIB, name


def test_js_sources_use_only_protocol_request_types() -> None:
    worker = (ROOT / "pyodide_llm/js/worker.mjs").read_text()
    block = worker[worker.index("const handlers = {"): worker.index("};", worker.index("const handlers = {"))]
    handled = set(re.findall(r"^  (\w+)[,:]", block, re.M))
    assert handled == set(PROTOCOL["requests"])
    py_types = set()
    for f in (ROOT / "pyodide_llm").glob("*.py"):
        py_types |= set(re.findall(r'\.(?:start|call)\("(\w+)"', f.read_text()))
    assert py_types <= set(PROTOCOL["requests"]), py_types - set(PROTOCOL["requests"])


def test_every_engine_error_code_is_mapped() -> None:
    header = (ROOT / "wasm/engine.h").read_text()
    codes = set(re.findall(r'constexpr const char \* \w+\s*= "(\w+)"', header))
    assert codes and codes <= set(PROTOCOL["error_codes"]), codes - set(PROTOCOL["error_codes"])
    worker = (ROOT / "pyodide_llm/js/worker.mjs").read_text() + (ROOT / "pyodide_llm/js/client.mjs").read_text()
    js_codes = set(re.findall(r'(?:fail\(id, |code: )"(\w+)"', worker))
    assert js_codes <= set(PROTOCOL["error_codes"]), js_codes - set(PROTOCOL["error_codes"])


def _need(gib: float):
    from pyodide_llm.sizing import MemoryEstimate
    return MemoryEstimate(weights=int(gib * 2**30), kv_cache=0, compute=0, overhead=0, n_ctx=1024)


def test_memory_need_picks_or_refuses_variants() -> None:
    from pyodide_llm.errors import ModelLoadError
    plain = dict(ISOLATED, cross_origin_isolated=False, threads=False)
    assert choose_variant(ISOLATED, LoadOptions(), _need(1)) == ("wasm64-mt", 2)
    assert choose_variant(dict(ISOLATED, memory64=False), LoadOptions(), _need(3.5)) == ("wasm32-mt", 2)
    assert choose_variant(plain, LoadOptions(), _need(3.5)) == ("wasm32-st", 1)
    with pytest.raises(ModelLoadError, match="needs the wasm64-mt variant: a cross-origin isolated page") as e:
        choose_variant(plain, LoadOptions(), _need(5))
    assert e.value.code == "out_of_memory"
    with pytest.raises(ModelLoadError, match=r"more than the 4 GiB variant wasm32-mt.*variant='wasm64-mt'"):
        choose_variant(ISOLATED, LoadOptions(variant="wasm32-mt"), _need(5))
    with pytest.raises(ModelLoadError, match="no engine variant can hold it"):
        choose_variant(ISOLATED, LoadOptions(), _need(20))


def test_memory_estimate_of_smollm2() -> None:
    from pyodide_llm.gguf_header import parse_header
    from pyodide_llm.inspection import GGUFInfo
    from pyodide_llm.sizing import estimate
    from recipes.pins import load_pins
    from recipes.source import model_file

    path = model_file(load_pins(), "smollm2", lambda m: None)
    info = GGUFInfo.from_header("m", parse_header(path.read_bytes()[:4 << 20]), path.stat().st_size)
    e = estimate(info, 1024, 512)
    assert e.weights == path.stat().st_size
    assert e.kv_cache == 30 * 1024 * 2 * 3 * 64 * 2  # 30 layers, 3 KV heads of 64, F16 K and V
    # llama.cpp reports 14.51 MiB for this context and batch (one logits row per batch).
    assert 14.51 * (1 << 20) <= e.compute <= 2 * 14.51 * (1 << 20), e.compute / (1 << 20)
    assert "n_ctx 1024" in e.describe()
