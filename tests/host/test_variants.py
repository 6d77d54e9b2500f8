"""The variant table against the build's flags, and variant choice by capabilities and memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodide_llm._errors import UnsupportedEnvironmentError
from pyodide_llm._variants import TABLE, VARIANTS, choose_variant

ROOT = Path(__file__).resolve().parents[2]
ISOLATED = {"cross_origin_isolated": True, "threads": True, "memory64": True, "relaxed_simd": True,
            "hardware_concurrency": 2}


@pytest.mark.parametrize(("caps", "opts", "want"), [
    (ISOLATED, {}, ("wasm64-mt", 2)),  # no memory need known: the variant that holds the most
    (ISOLATED, {"variant": "wasm32-relaxed-mt"}, ("wasm32-relaxed-mt", 2)),
    (dict(ISOLATED, memory64=False), {"variant": "wasm32-relaxed-mt"}, ("wasm32-relaxed-mt", 2)),
    (dict(ISOLATED, memory64=False), {}, ("wasm32-relaxed-mt", 2)),  # no memory64: 32-bit is all there is
    (dict(ISOLATED, memory64=False, relaxed_simd=False), {}, ("wasm32-mt", 2)),
    (dict(ISOLATED, relaxed_simd=False), {}, ("wasm32-mt", 2)),
    (dict(ISOLATED, cross_origin_isolated=False, threads=False), {}, ("wasm32-st", 1)),
    (dict(ISOLATED, hardware_concurrency=32), {}, ("wasm64-mt", 8)),
    (ISOLATED, {"variant": "wasm32-st"}, ("wasm32-st", 1)),
    (ISOLATED, {"n_threads": 1}, ("wasm64-mt", 1)),
])
def test_variant_choice(caps, opts, want) -> None:
    assert choose_variant(caps, **opts) == want


def test_threaded_variant_on_a_page_without_isolation_explains_the_headers() -> None:
    with pytest.raises(UnsupportedEnvironmentError, match="Cross-Origin-Embedder-Policy"):
        choose_variant({"memory64": True, "hardware_concurrency": 4}, variant="wasm64-mt")
    with pytest.raises(UnsupportedEnvironmentError, match="memory64"):
        choose_variant(dict(ISOLATED, memory64=False), variant="wasm64-mt")
    with pytest.raises(UnsupportedEnvironmentError, match="relaxed_simd"):
        choose_variant(dict(ISOLATED, relaxed_simd=False), variant="wasm64-mt")
    with pytest.raises(UnsupportedEnvironmentError, match=r"relaxed_simd.*use 'wasm32-mt'"):
        choose_variant(dict(ISOLATED, relaxed_simd=False), variant="wasm32-relaxed-mt")
    with pytest.raises(UnsupportedEnvironmentError, match="Cross-Origin-Embedder-Policy"):
        choose_variant(dict(ISOLATED, cross_origin_isolated=False), variant="wasm32-relaxed-mt")
    with pytest.raises(ValueError, match="1 thread"):
        choose_variant({}, n_threads=4)


def test_the_variant_table_matches_the_build_flags() -> None:
    import tomllib

    pins = tomllib.loads((ROOT / "emscripten.toml").read_text())
    assert list(VARIANTS) == [n for n in pins["variants"] if n != "common"]
    for name, v in TABLE.items():
        flags = pins["variants"][name]
        assert v.memory64 == ("-sMEMORY64=1" in flags["cflags"]) == ("-sMEMORY64=1" in flags["ldflags"]), name
        assert v.threads == ("-pthread" in flags["cflags"]) == ("-pthread" in flags["ldflags"]), name
        assert v.relaxed_simd == ("-mrelaxed-simd" in flags["cflags"]), name
        assert v.webgpu == ("-DGGML_WEBGPU=ON" in flags["cmake"]) == ("-sJSPI" in flags["ldflags"]), name
        limit = next(f for f in flags["ldflags"] if f.startswith("-sMAXIMUM_MEMORY="))
        assert v.max_memory == int(limit.split("=")[1].removesuffix("GB")) << 30, name


def test_recipes_build_and_ship_the_package_variants() -> None:
    from recipes import build, wheel

    assert build.VARIANTS is VARIANTS and wheel.VARIANTS is VARIANTS


def _need(gib: float):
    from pyodide_llm._sizing import MemoryEstimate
    return MemoryEstimate(weights=int(gib * 2**30), kv_cache=0, compute=0, overhead=0, n_ctx=1024)


def test_memory_need_picks_or_refuses_variants() -> None:
    from pyodide_llm._errors import ModelLoadError
    plain = dict(ISOLATED, cross_origin_isolated=False, threads=False)
    # Under 4 GiB the 32-bit relaxed build (faster: no memory64 bounds checks), over it memory64.
    assert choose_variant(ISOLATED, need=_need(1)) == ("wasm32-relaxed-mt", 2)
    assert choose_variant(ISOLATED, need=_need(3.5)) == ("wasm32-relaxed-mt", 2)  # 512 MiB to spare
    assert choose_variant(ISOLATED, need=_need(3.75)) == ("wasm64-mt", 2)  # too close to 4 GiB for auto
    assert choose_variant(ISOLATED, "wasm32-relaxed-mt", need=_need(3.75)) == ("wasm32-relaxed-mt", 2)
    # Without memory64 the fastest 32-bit build takes all it can hold.
    assert choose_variant(dict(ISOLATED, memory64=False), need=_need(3.75)) == ("wasm32-relaxed-mt", 2)
    assert choose_variant(ISOLATED, need=_need(4.5)) == ("wasm64-mt", 2)
    assert choose_variant(dict(ISOLATED, memory64=False), need=_need(1)) == ("wasm32-relaxed-mt", 2)
    assert choose_variant(dict(ISOLATED, relaxed_simd=False), need=_need(1)) == ("wasm32-mt", 2)
    assert choose_variant(dict(ISOLATED, memory64=False, relaxed_simd=False), need=_need(3.5)) == ("wasm32-mt", 2)
    assert choose_variant(plain, need=_need(3.5)) == ("wasm32-st", 1)
    with pytest.raises(ModelLoadError, match="needs the wasm64-mt variant: a cross-origin isolated page") as e:
        choose_variant(plain, need=_need(5))
    assert e.value.code == "out_of_memory"
    with pytest.raises(ModelLoadError, match=r"more than the 4 GiB variant wasm32-mt.*variant='wasm64-mt'"):
        choose_variant(ISOLATED, variant="wasm32-mt", need=_need(5))
    with pytest.raises(ModelLoadError, match=r"more than the 4 GiB variant wasm32-relaxed-mt.*variant='wasm64-mt'"):
        choose_variant(ISOLATED, variant="wasm32-relaxed-mt", need=_need(5))
    with pytest.raises(ModelLoadError, match=r"needs the wasm64-mt variant"):  # no memory64 here: say what it takes
        choose_variant(dict(ISOLATED, memory64=False), need=_need(5))
    with pytest.raises(ModelLoadError, match="no engine variant can hold it"):
        choose_variant(ISOLATED, need=_need(20))


def test_memory_estimate_of_smollm2() -> None:
    from pyodide_llm._gguf import GGUFInfo, parse_header
    from pyodide_llm._sizing import estimate
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
