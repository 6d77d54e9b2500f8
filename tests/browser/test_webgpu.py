"""WebGPU detection and the CPU fallback in headless Chromium (no GPU on these machines).

Chromium here offers no adapter without ``--enable-unsafe-webgpu`` and, with it,
only SwiftShader, a fallback adapter without ``shader-f16`` (llama.cpp's WebGPU
kernels need it). So ``gpu="auto"`` loads on the CPU and says why, and
``gpu=True`` raises :class:`UnsupportedEnvironmentError` naming the missing piece,
with the page and an already loaded model unharmed. The GPU kernels themselves
are tested on a software GPU with shader-f16 in node (``tests/gpu``).
"""

from __future__ import annotations

import pytest

CAPS = """
import pyodide_llm
caps = await pyodide_llm.capabilities()
_json.dumps(caps["webgpu"])
"""

AUTO_LOAD = """
import warnings
from pyodide_llm import LLM
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    llm = await LLM.load("models/smollm2.gguf", n_ctx=256)
text = "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=4, temperature=0)])
i = llm.info
_json.dumps({"backend": i.backend, "variant": i.variant, "n_gpu_layers": i.n_gpu_layers,
             "gpu_adapter": i.gpu_adapter, "text": text, "warnings": [str(w.message) for w in caught]})
"""

GPU_TRUE = """
from pyodide_llm import LLM, UnsupportedEnvironmentError
try:
    await LLM.load("models/smollm2.gguf", n_ctx=256, gpu=True)
    outcome = {"raised": None}
except UnsupportedEnvironmentError as e:
    outcome = {"raised": type(e).__name__, "message": str(e), "code": e.code}
# The model loaded before is still there, and still answers.
outcome["still"] = "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=4, temperature=0)])
_json.dumps(outcome)
"""


def _cpu_fallback(page) -> dict:
    r = page.run(AUTO_LOAD, timeout=240)
    assert r["backend"] == "cpu" and r["n_gpu_layers"] == 0 and r["gpu_adapter"] is None, r
    assert r["variant"] == "wasm32-relaxed-mt", "auto on a GPU-less page: the CPU engine, as before"
    assert r["text"].startswith(" 6,"), r
    assert not [w for w in r["warnings"] if "GPU" in w], "auto falling back to the CPU is not a warning"
    return r


def test_without_an_adapter_auto_loads_on_the_cpu_and_capabilities_say_why(page):
    webgpu = page.run(CAPS)
    assert webgpu["available"] is False and webgpu["adapter"] is None and webgpu["shader_f16"] is False, webgpu
    assert "no adapter" in webgpu["reason"] and "requestAdapter() returned null" in webgpu["reason"], webgpu
    _cpu_fallback(page)


def test_without_an_adapter_gpu_true_raises_and_the_loaded_model_keeps_working(page):
    r = page.run(GPU_TRUE, timeout=240)
    assert r["raised"] == "UnsupportedEnvironmentError" and r["code"] == "unsupported_environment", r
    assert "no adapter" in r["message"], r
    assert r["still"].startswith(" 6,"), r
    assert page.alive()


@pytest.fixture(scope="module")
def swiftshader(unsafe_webgpu_page):
    webgpu = unsafe_webgpu_page.run(CAPS)
    return unsafe_webgpu_page, webgpu


def test_swiftshader_is_reported_as_a_fallback_adapter_without_shader_f16(swiftshader):
    _, webgpu = swiftshader
    assert webgpu["adapter"] is not None, webgpu
    assert webgpu["adapter"]["architecture"] == "swiftshader" and webgpu["adapter"]["is_fallback"] is True, webgpu
    assert webgpu["shader_f16"] is False and webgpu["available"] is False, webgpu
    assert "lacks shader-f16" in webgpu["reason"], webgpu
    assert webgpu["max_buffer_size"] > 0 and webgpu["max_storage_buffer_binding_size"] > 0, webgpu


def test_swiftshader_auto_loads_on_the_cpu_and_gpu_true_names_shader_f16(swiftshader):
    page, _ = swiftshader
    _cpu_fallback(page)
    r = page.run(GPU_TRUE, timeout=240)
    assert r["raised"] == "UnsupportedEnvironmentError" and "shader-f16" in r["message"], r
    assert r["still"].startswith(" 6,"), r


WEBGPU_ENGINE = """
import warnings
from pyodide_llm import LLM
from pyodide_llm._browser.engine import start_engine
# The WebGPU engine itself, started by hand (LLM.load would not choose it here): its
# JSPI actions, pthreads and WebGPU binding in Chromium's worker. ggml-webgpu asks
# navigator.gpu for an adapter, finds none it can use (no shader-f16) and registers
# no device, so llama.cpp keeps every layer on the engine's CPU backend.
transport = await start_engine("wasm64-webgpu", 2)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    gllm = await LLM.load("models/smollm2.gguf", n_ctx=256, transport=transport, gpu=True, variant="wasm64-webgpu")
text = "".join([p async for p in gllm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
i = gllm.info
await gllm.close()
_json.dumps({"backend": i.backend, "n_gpu_layers": i.n_gpu_layers, "text": text,
             "warnings": [type(w.message).__name__ + ": " + str(w.message) for w in caught]})
"""


@pytest.mark.parametrize("which", ["page", "unsafe_webgpu_page"])
def test_the_webgpu_engine_runs_in_chromium_on_its_cpu_backend(which, request, native_complete):
    page = request.getfixturevalue(which)
    r = page.run(WEBGPU_ENGINE, timeout=300)
    _, expected = native_complete
    assert r["backend"] == "cpu" and r["n_gpu_layers"] == 0, r
    assert r["text"] == expected, (r, expected)
    assert any("GPUFallbackWarning" in w and "offloaded no layer" in w for w in r["warnings"]), r
