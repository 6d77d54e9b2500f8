"""GPU or CPU: ``_gpu``'s rules, the options' checks, and ``LLM.load(gpu=...)`` end to end.

The end-to-end tests fake the browser side (``_loading.browser``): its ``detect()``
answers a capabilities dict as js/client.mjs would, and its ``start_engine()``
hands back a FakeTransport, whose engine offloads what its "GPU" holds and
reports it the way llama.cpp does (``n_layer + 1`` layers is every layer).
"""

from __future__ import annotations

import asyncio
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

import pyodide_llm
from fake_transport import GPU_DEVICE, INFO, FakeTransport
from pyodide_llm import (
    LLM,
    EngineCrashedError,
    GPUDeviceLostError,
    GPUFallbackWarning,
    ModelLoadError,
    UnsupportedEnvironmentError,
)
from pyodide_llm import _llm as llm_module
from pyodide_llm import _loading as loading_module
from pyodide_llm._errors import error_from_reply
from pyodide_llm._gguf import GGUFInfo, parse_header
from pyodide_llm._gpu import ALL_LAYERS, GPUChoice, check_options, choose_backend, engine_layers, offload_shortfall
from pyodide_llm._loading import plan_engine
from pyodide_llm._options import LoadOptions
from pyodide_llm._variants import CPU_VARIANTS, GPU_VARIANT, TABLE, choose_variant

N_LAYER = INFO["n_layer"]  # the fake engine's model, and the header written below
ADAPTER = {"vendor": "acme", "architecture": "rdna-9", "description": "Acme GPU", "is_fallback": False}
USABLE = {"available": True, "reason": "", "adapter": ADAPTER, "shader_f16": True, "max_buffer_size": 1 << 31,
          "max_storage_buffer_binding_size": 1 << 30}
SOFTWARE = dict(USABLE, adapter=dict(ADAPTER, vendor="google", description="SwiftShader", is_fallback=True))
NO_F16 = dict(USABLE, available=False, shader_f16=False,
              reason="the adapter lacks shader-f16, which llama.cpp's WebGPU kernels need")
NO_ADAPTER = {"available": False, "adapter": None, "shader_f16": False, "max_buffer_size": None,
              "max_storage_buffer_binding_size": None,
              "reason": "no adapter: requestAdapter() returned null (Chromium needs --enable-unsafe-webgpu or a "
                        "supported GPU)"}
PAGE = {"cross_origin_isolated": True, "threads": True, "memory64": True, "relaxed_simd": True, "simd": True,
        "jspi": True, "hardware_concurrency": 4}


def run(coro):
    return asyncio.run(coro)


# -- the rules ---------------------------------------------------------------------------------


def test_auto_takes_a_usable_gpu_with_every_layer() -> None:
    c = choose_backend(USABLE, "auto", None, N_LAYER)
    assert c == GPUChoice(True, GPU_VARIANT, ALL_LAYERS, "WebGPU on acme rdna-9 Acme GPU, every layer")


def test_auto_declines_a_fallback_adapter_and_true_takes_it() -> None:
    c = choose_backend(SOFTWARE, "auto", None, N_LAYER)
    assert (c.use_gpu, c.variant, c.n_gpu_layers) == (False, None, 0)
    assert "fallback (software)" in c.reason and "SwiftShader" in c.reason and "gpu=True" in c.reason
    forced = choose_backend(SOFTWARE, True, None, N_LAYER)
    assert (forced.use_gpu, forced.variant, forced.n_gpu_layers) == (True, GPU_VARIANT, ALL_LAYERS)


@pytest.mark.parametrize("webgpu", [NO_ADAPTER, NO_F16, dict(USABLE, available=False, reason="no JSPI (x)")])
def test_unusable_webgpu_auto_falls_back_and_true_raises_naming_the_missing_piece(webgpu) -> None:
    c = choose_backend(webgpu, "auto", None, N_LAYER)
    assert (c.use_gpu, c.variant, c.n_gpu_layers) == (False, None, 0)
    assert c.reason == f"WebGPU is not usable: {webgpu['reason']}"
    with pytest.raises(UnsupportedEnvironmentError) as e:
        choose_backend(webgpu, True, None, N_LAYER)
    assert webgpu["reason"] in str(e.value) and "gpu=True" in str(e.value)
    assert e.value.code == "unsupported_environment"


@pytest.mark.parametrize("webgpu", [{}, {"available": "yes"}, True, None])
def test_webgpu_not_detected_or_malformed_is_not_usable(webgpu) -> None:
    c = choose_backend(webgpu, "auto", None, N_LAYER)
    assert not c.use_gpu and "not detected" in c.reason
    with pytest.raises(UnsupportedEnvironmentError, match="WebGPU was not detected"):
        choose_backend(webgpu, True, None, N_LAYER)


@pytest.mark.parametrize("webgpu", [USABLE, SOFTWARE, NO_ADAPTER, {}])
def test_false_never_uses_the_gpu(webgpu) -> None:
    assert choose_backend(webgpu, False, None, N_LAYER) == GPUChoice(False, None, 0, "gpu=False: the CPU engine")


@pytest.mark.parametrize(("n_gpu_layers", "n_layer", "sent"), [
    (None, N_LAYER, ALL_LAYERS),
    (1, N_LAYER, 1),
    (N_LAYER, N_LAYER, N_LAYER),  # every repeating layer, the output layer stays on the CPU
    (N_LAYER + 1, N_LAYER, ALL_LAYERS),  # llama.cpp's count of every layer
    (10_000, N_LAYER, ALL_LAYERS),  # clamped: more than there are is all
    (10_000, None, 10_000),  # header without block_count: llama.cpp clamps it
    (None, None, ALL_LAYERS),
])
def test_n_gpu_layers_sent_to_the_engine(n_gpu_layers, n_layer, sent) -> None:
    assert engine_layers(n_gpu_layers, n_layer) == sent
    assert choose_backend(USABLE, "auto", n_gpu_layers, n_layer).n_gpu_layers == sent
    assert choose_backend(USABLE, True, n_gpu_layers, n_layer).n_gpu_layers == sent


def test_zero_layers_is_the_cpu_with_auto_and_a_contradiction_with_true() -> None:
    c = choose_backend(USABLE, "auto", 0, N_LAYER)
    assert (c.use_gpu, c.n_gpu_layers) == (False, 0) and "n_gpu_layers=0" in c.reason
    with pytest.raises(ValueError, match="n_gpu_layers=0 offloads nothing"):
        choose_backend(USABLE, True, 0, N_LAYER)
    assert not choose_backend(USABLE, False, 0, N_LAYER).use_gpu


@pytest.mark.parametrize(("gpu", "n_gpu_layers", "exc", "match"), [
    ("auto", -1, ValueError, r"n_gpu_layers must be >= 0, or None for every layer, got -1"),
    (True, -5, ValueError, r">= 0"),
    ("auto", True, TypeError, r"n_gpu_layers must be an int or None .*bool"),
    ("auto", 2.0, TypeError, r"n_gpu_layers must be an int or None .*float"),
    ("auto", "all", TypeError, r"n_gpu_layers must be an int"),
    ("yes", None, ValueError, r"gpu must be 'auto', True or False, got 'yes'"),
    ("webgpu", None, ValueError, r"gpu must be"),
    (None, None, TypeError, r"gpu must be 'auto', True or False, not NoneType"),
    (1, None, TypeError, r"not int 1"),
    (False, 4, ValueError, r"n_gpu_layers=4 offloads layers to the GPU but gpu=False"),
])
def test_bad_gpu_and_n_gpu_layers(gpu, n_gpu_layers, exc, match) -> None:
    with pytest.raises(exc, match=match):
        choose_backend(USABLE, gpu, n_gpu_layers, N_LAYER)
    with pytest.raises(exc, match=match):
        LoadOptions(gpu=gpu, n_gpu_layers=n_gpu_layers)


@pytest.mark.parametrize(("variant", "gpu", "effective"), [
    ("auto", "auto", "auto"), ("auto", True, True), ("auto", False, False),
    (GPU_VARIANT, "auto", True), (GPU_VARIANT, True, True),
    *[(v, "auto", False) for v in CPU_VARIANTS], *[(v, False, False) for v in CPU_VARIANTS],
])
def test_a_named_variant_decides_the_backend(variant, gpu, effective) -> None:
    assert check_options(gpu, None, variant) == effective
    assert LoadOptions(variant=variant, gpu=gpu).effective_gpu == effective


@pytest.mark.parametrize(("variant", "gpu", "match"), [
    ("wasm32-st", True, r"variant='wasm32-st' is a CPU engine but gpu=True"),
    ("wasm64-mt", True, r"variant='wasm64-mt' is a CPU engine but gpu=True"),
    (GPU_VARIANT, False, rf"variant='{GPU_VARIANT}' is the WebGPU engine but gpu=False"),
])
def test_a_variant_contradicting_gpu_is_a_value_error_naming_both(variant, gpu, match) -> None:
    with pytest.raises(ValueError, match=match):
        LoadOptions(variant=variant, gpu=gpu)
    with pytest.raises(ValueError, match=r"variant='wasm32-mt' keeps the model on the CPU"):
        LoadOptions(variant="wasm32-mt", n_gpu_layers=3)
    with pytest.raises(ValueError, match=rf"variant='{GPU_VARIANT}' asks for the GPU but n_gpu_layers=0"):
        LoadOptions(variant=GPU_VARIANT, n_gpu_layers=0)


def test_the_gpu_variant_is_the_webgpu_build_and_auto_never_picks_it() -> None:
    assert TABLE[GPU_VARIANT].webgpu and GPU_VARIANT not in CPU_VARIANTS
    for isolated in (True, False):
        for memory64 in (True, False):
            caps = dict(PAGE, cross_origin_isolated=isolated, threads=isolated, memory64=memory64)
            assert choose_variant(caps)[0] in CPU_VARIANTS


# -- what the engine really did --------------------------------------------------------------


def _engine_info(n: int) -> dict[str, Any]:
    return {"n_gpu_layers": n, "backend": "webgpu" if n else "cpu", "gpu_device": GPU_DEVICE if n else "",
        "gpu_model_bytes": 90 << 20 if n else 0, "gpu_kv_bytes": 1 << 20 if n else 0}


def test_offload_shortfall() -> None:
    every = choose_backend(USABLE, True, None, N_LAYER)
    assert offload_shortfall(every, N_LAYER, _engine_info(N_LAYER + 1)) is None
    assert offload_shortfall(every, None, _engine_info(3)) is None, "with n_layer unknown only the CPU is short"
    few = offload_shortfall(every, N_LAYER, _engine_info(12))
    assert few is not None and f"offloaded 12 of the {N_LAYER + 1} layers" in few and GPU_DEVICE in few
    assert "n_gpu_layers=12" in few
    none = offload_shortfall(every, N_LAYER, _engine_info(0))
    assert none is not None and "offloaded no layer" in none and "gpu=False" in none
    some = choose_backend(USABLE, True, 5, N_LAYER)
    assert offload_shortfall(some, N_LAYER, _engine_info(5)) is None
    assert "offloaded 4 of the 5" in (offload_shortfall(some, N_LAYER, _engine_info(4)) or "")
    cpu = choose_backend(USABLE, False, None, N_LAYER)
    assert offload_shortfall(cpu, N_LAYER, _engine_info(0)) is None


# -- planning the engine: the backend, then the variant ------------------------------------------


def _header(n_layer: int | None = N_LAYER, file_size: int = 100 << 20) -> GGUFInfo:
    return GGUFInfo(url="m.gguf", architecture="llama", n_params=1, quantization="Q4_0", context_length=2048,
                    chat_template=None, n_tensors=1, file_size=file_size, n_vocab=32000, n_layer=n_layer,
                    n_embd=576, n_head=9, n_head_kv=3, split=(0, 1), header_bytes=1024, metadata={})


@pytest.mark.parametrize(("caps", "opts", "want"), [
    (dict(PAGE, webgpu=USABLE), {}, (GPU_VARIANT, 4, ALL_LAYERS)),
    (dict(PAGE, webgpu=USABLE), {"n_threads": 2, "n_gpu_layers": 7}, (GPU_VARIANT, 2, 7)),
    (dict(PAGE, webgpu=SOFTWARE), {}, ("wasm32-relaxed-mt", 4, 0)),
    (dict(PAGE, webgpu=NO_ADAPTER), {}, ("wasm32-relaxed-mt", 4, 0)),
    (dict(PAGE, webgpu=USABLE), {"gpu": False}, ("wasm32-relaxed-mt", 4, 0)),
    (dict(PAGE, webgpu=USABLE), {"variant": "wasm32-mt"}, ("wasm32-mt", 4, 0)),
    (dict(PAGE, cross_origin_isolated=False, threads=False, webgpu=NO_ADAPTER), {}, ("wasm32-st", 1, 0)),
    (dict(PAGE, webgpu=True), {}, ("wasm32-relaxed-mt", 4, 0)),  # an old client's boolean: not usable
])
def test_plan_engine(caps, opts, want) -> None:
    plan = plan_engine(caps, LoadOptions(**opts), _header())
    assert (plan.variant, plan.n_threads, plan.gpu.n_gpu_layers) == want
    assert plan.adapter == (ADAPTER if plan.gpu.use_gpu else None)


def test_plan_engine_takes_memory64_for_a_model_over_4_gib() -> None:
    plan = plan_engine(dict(PAGE, webgpu=NO_ADAPTER), LoadOptions(), _header(file_size=5 << 30))
    assert (plan.variant, plan.n_threads, plan.gpu.use_gpu) == ("wasm64-mt", 4, False)
    assert plan.n_layer == N_LAYER


def test_plan_engine_refuses_a_model_too_large_for_the_gpu_variant_before_download() -> None:
    with pytest.raises(ModelLoadError, match=f"more than the 16 GiB variant {GPU_VARIANT} can address") as e:
        plan_engine(dict(PAGE, webgpu=USABLE), LoadOptions(gpu=True), _header(file_size=20 << 30))
    assert e.value.code == "out_of_memory"


# -- LLM.load end to end, with the browser side faked ------------------------------------------


class FakeBrowserSide:
    """``_browser`` as ``_llm`` uses it: ``detect(probe_gpu)`` and ``start_engine(variant, n_threads)``."""

    def __init__(self, webgpu: dict[str, Any], transport: FakeTransport) -> None:
        self.webgpu = webgpu
        self.transport = transport
        self.probes: list[bool] = []
        self.started: list[tuple[str, int]] = []

    async def detect(self, probe_gpu: bool = True) -> dict[str, Any]:
        self.probes.append(probe_gpu)
        webgpu = self.webgpu if probe_gpu else {"available": False, "reason": "not probed (gpu=False)",
                                                "adapter": None}
        return dict(PAGE, webgpu=webgpu)

    async def start_engine(self, variant: str, n_threads: int) -> FakeTransport:
        self.started.append((variant, n_threads))
        return self.transport


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small complete GGUF with N_LAYER blocks in its header (its tensors are not the layers': sizing only)."""
    path: Path = tmp_path_factory.mktemp("gguf") / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(N_LAYER)
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_token_list([f"t{i}" for i in range(100)])
    w.add_tensor("token_embd.weight", np.ones((100, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = path.read_bytes()
    assert GGUFInfo.from_header("m", parse_header(data), len(data)).n_layer == N_LAYER
    return data


@pytest.fixture
def browser_side(monkeypatch: pytest.MonkeyPatch):
    """Make ``LLM.load`` believe it runs in a browser whose detection finds ``webgpu``."""
    def install(webgpu: dict[str, Any], transport: FakeTransport) -> FakeBrowserSide:
        side = FakeBrowserSide(webgpu, transport)
        monkeypatch.setattr(llm_module, "require_browser", lambda what: None)
        monkeypatch.setattr(loading_module, "browser", lambda what: side)
        return side
    return install


def _load(source: bytes | str, **kw: Any) -> tuple[LLM, list[warnings.WarningMessage]]:
    """``LLM.load``, and the GPUFallbackWarnings it gave."""
    async def main() -> LLM:  # awaited from this file, as a user's code awaits it
        return await LLM.load(source, **kw)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llm = run(main())
    return llm, [w for w in caught if issubclass(w.category, GPUFallbackWarning)]


@pytest.mark.parametrize("gpu", ["auto", True])
def test_load_on_a_usable_gpu(model_bytes, browser_side, gpu) -> None:
    t = FakeTransport()
    side = browser_side(USABLE, t)
    llm, warned = _load(model_bytes, gpu=gpu, n_ctx=512)
    assert side.probes == [True] and side.started == [(GPU_VARIANT, 4)]
    assert t.sent[0][2]["n_gpu_layers"] == ALL_LAYERS
    i = llm.info
    assert (i.variant, i.backend, i.n_gpu_layers, i.gpu_device) == (GPU_VARIANT, "webgpu", N_LAYER + 1, GPU_DEVICE)
    assert i.gpu_adapter == ADAPTER and warned == []


def test_load_with_gpu_false_never_probes_the_gpu(model_bytes, browser_side) -> None:
    t = FakeTransport()
    side = browser_side(USABLE, t)
    llm, warned = _load(model_bytes, gpu=False)
    assert side.probes == [False] and side.started == [("wasm32-relaxed-mt", 4)]
    assert t.sent[0][2]["n_gpu_layers"] == 0
    assert (llm.info.backend, llm.info.n_gpu_layers, llm.info.gpu_adapter, llm.info.gpu_device) == ("cpu", 0, None, "")
    assert warned == []


@pytest.mark.parametrize("webgpu", [SOFTWARE, NO_F16, NO_ADAPTER])
def test_auto_loads_on_the_cpu_where_the_gpu_does_not_serve(model_bytes, browser_side, webgpu) -> None:
    t = FakeTransport()
    side = browser_side(webgpu, t)
    llm, warned = _load(model_bytes)
    assert side.started == [("wasm32-relaxed-mt", 4)] and t.sent[0][2]["n_gpu_layers"] == 0
    assert (llm.info.backend, llm.info.gpu_adapter) == ("cpu", None) and warned == []


@pytest.mark.parametrize("webgpu", [NO_F16, NO_ADAPTER])
def test_gpu_true_where_webgpu_is_unusable_raises_before_an_engine_starts(model_bytes, browser_side, webgpu) -> None:
    side = browser_side(webgpu, FakeTransport())
    with pytest.raises(UnsupportedEnvironmentError, match=re.escape(webgpu["reason"])):
        run(LLM.load(model_bytes, gpu=True))
    assert side.started == []


def test_n_gpu_layers_are_sent_clamped_and_read_back_from_the_engine(model_bytes, browser_side) -> None:
    t = FakeTransport()
    browser_side(USABLE, t)
    llm, warned = _load(model_bytes, n_gpu_layers=12)
    assert t.sent[0][2]["n_gpu_layers"] == 12 and llm.info.n_gpu_layers == 12 and warned == []
    t = FakeTransport()
    browser_side(USABLE, t)
    llm, warned = _load(model_bytes, n_gpu_layers=500)
    assert t.sent[0][2]["n_gpu_layers"] == ALL_LAYERS and llm.info.n_gpu_layers == N_LAYER + 1 and warned == []


@pytest.mark.parametrize(("capacity", "words", "backend"), [
    (10, f"offloaded 10 of the {N_LAYER + 1} layers", "webgpu"),
    (0, "offloaded no layer", "cpu"),
])
def test_fewer_layers_than_asked_is_a_warning_and_the_info_tells_the_truth(model_bytes, browser_side, capacity,
                                                                           words, backend) -> None:
    t = FakeTransport(gpu_capacity=capacity)
    browser_side(USABLE, t)
    llm, warned = _load(model_bytes, gpu=True)
    assert len(warned) == 1 and words in str(warned[0].message)
    assert warned[0].filename == __file__, "the warning points at the caller of LLM.load"
    assert (llm.info.variant, llm.info.backend, llm.info.n_gpu_layers) == (GPU_VARIANT, backend, capacity)
    assert llm.info.gpu_adapter == (ADAPTER if capacity else None)

    async def still_works() -> str:
        return "".join([p async for p in llm.complete("x", max_tokens=2)])

    assert run(still_works()) == "Hello,", "the model is loaded and usable"


@pytest.mark.parametrize(("kw", "exc"), [({"gpu": "yes"}, ValueError), ({"n_gpu_layers": -1}, ValueError),
                                         ({"n_gpu_layers": 1.5}, TypeError),
                                         ({"variant": "wasm32-st", "gpu": True}, ValueError)])
def test_bad_gpu_options_raise_before_anything_is_sent(model_bytes, browser_side, kw, exc) -> None:
    t = FakeTransport()
    side = browser_side(USABLE, t)
    with pytest.raises(exc):
        run(LLM.load(model_bytes, **kw))
    with pytest.raises(exc):
        run(LLM.load("model.gguf", transport=t, **kw))
    assert side.probes == [] and t.sent == []


# -- a caller's own transport: nothing detected -----------------------------------------------


def _load_own(t: FakeTransport, **kw: Any) -> tuple[LLM, list[warnings.WarningMessage]]:
    return _load("model.gguf", transport=t, **kw)


@pytest.mark.parametrize(("kw", "sent", "backend"), [
    ({}, 0, "cpu"), ({"gpu": False}, 0, "cpu"), ({"gpu": True}, ALL_LAYERS, "webgpu"),
    ({"gpu": True, "n_gpu_layers": 4}, 4, "webgpu"), ({"variant": GPU_VARIANT}, ALL_LAYERS, "webgpu"),
])
def test_own_transport_takes_gpu_at_its_word(kw, sent, backend) -> None:
    t = FakeTransport()
    llm, warned = _load_own(t, **kw)
    assert t.sent[0][2]["n_gpu_layers"] == sent
    assert (llm.info.backend, llm.info.gpu_adapter) == (backend, None) and warned == []


def test_own_transport_without_a_gpu_warns_when_gpu_true() -> None:
    llm, warned = _load_own(FakeTransport(gpu_capacity=0), gpu=True)
    assert llm.info.backend == "cpu" and len(warned) == 1 and "offloaded no layer" in str(warned[0].message)


# -- a lost device ----------------------------------------------------------------------------


def test_gpu_device_lost_is_a_typed_engine_crash_that_pickles() -> None:
    message = "the GPU device was lost (unknown: reset); load it again, with gpu=False to stay on the CPU"
    e = error_from_reply({"ok": False, "code": "gpu_device_lost", "message": message})
    assert type(e) is GPUDeviceLostError and isinstance(e, EngineCrashedError) and isinstance(e, RuntimeError)
    back = pickle.loads(pickle.dumps(e))
    assert (type(back), back.code, str(back)) == (GPUDeviceLostError, "gpu_device_lost", message)
    assert issubclass(GPUFallbackWarning, RuntimeWarning) and pyodide_llm.GPUFallbackWarning is GPUFallbackWarning


def test_a_device_lost_mid_generation_raises_gpu_device_lost_error() -> None:
    t = FakeTransport(generate_error=("gpu_device_lost", "the GPU device was lost (unknown: reset)"))

    async def main() -> None:
        llm = await LLM.load("model.gguf", transport=t, gpu=True)
        with pytest.raises(GPUDeviceLostError, match="device was lost") as e:
            async for _ in llm.complete("x"):
                pass
        assert e.value.code == "gpu_device_lost"

    run(main())


def test_python_hands_detect_only_options_the_client_reads() -> None:
    """_browser/engine.py (browser-only, so read as text) against client.mjs's detect() signature."""
    root = Path(__file__).resolve().parents[2]
    py = (root / "pyodide_llm/_browser/engine.py").read_text()
    js = (root / "pyodide_llm/js/client.mjs").read_text()
    body = py[py.index("async def detect("):py.index("def _end(")]
    passed = set(re.findall(r'"(\w+)": ', body))
    at = js.index("export async function detect(")
    accepted = set(re.findall(r"(\w+) =", js[at:js.index(") {", at)]))
    assert passed == {"probeGpu", "gpuShipped"} and passed <= accepted, (passed, accepted)


def test_offload_shortfall_counts_the_weights_really_in_gpu_memory() -> None:
    """A layer llama.cpp "offloads" keeps tensors over the adapter's limits in CPU memory."""
    every = choose_backend(USABLE, True, None, N_LAYER)
    size = 92 << 20
    held = {**_engine_info(N_LAYER + 1), "n_layer": N_LAYER, "size": size, "gpu_model_bytes": 62 << 20}
    assert offload_shortfall(every, N_LAYER, held) is None
    starved = {**held, "gpu_model_bytes": 130 << 10}  # measured with 256 KiB buffer limits on lavapipe
    why = offload_shortfall(every, N_LAYER, starved)
    assert why is not None and "0.1 MiB of the model's 92.0 MiB" in why and "max_storage_buffer_binding_size" in why
    some = choose_backend(USABLE, True, 10, N_LAYER)
    part = {**_engine_info(10), "n_layer": N_LAYER, "size": size, "gpu_model_bytes": 20 << 20}
    assert offload_shortfall(some, N_LAYER, part) is None, "10 of 31 layers hold about a third of the weights"


def test_a_kv_cache_over_the_binding_limit_stays_on_the_cpu() -> None:
    from pyodide_llm._gpu import fit_kv_cache

    every = choose_backend(USABLE, True, None, N_LAYER)
    limit = int(USABLE["max_storage_buffer_binding_size"])
    assert fit_kv_cache(every, USABLE, limit) is every, "a cache that fits stays on the GPU"
    over = fit_kv_cache(every, USABLE, limit + 1)
    assert over.use_gpu and not over.offload_kqv and over.n_gpu_layers == every.n_gpu_layers
    assert "max_storage_buffer_binding_size" in over.reason and "smaller n_ctx" in over.reason
    cpu = choose_backend(USABLE, False, None, N_LAYER)
    assert fit_kv_cache(cpu, USABLE, 1 << 40) is cpu, "the CPU has no binding limit"
    assert fit_kv_cache(every, {**USABLE, "max_storage_buffer_binding_size": None}, 1 << 40) is every
