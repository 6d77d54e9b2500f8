"""What the page can do: memory64, threads, SIMD, JSPI, WebGPU, cross-origin isolation."""

from __future__ import annotations

from typing import Any

from ._env import browser


async def capabilities() -> dict[str, Any]:
    """Feature-detect the browser the way the engine needs it.

    Returns
    -------
    dict
        ``memory64, threads, simd, relaxed_simd, jspi, cross_origin_isolated``
        (booleans), ``hardware_concurrency`` (an int) and ``webgpu``, a dict:

        - ``available`` (bool): ``LLM.load(gpu=True)`` can run the model on the GPU here.
          That takes ``navigator.gpu``, an adapter, its ``shader-f16`` feature (llama.cpp's
          WebGPU kernels are f16), JSPI, a cross-origin isolated page with memory64 and
          relaxed SIMD (the WebGPU engine is a threaded memory64 build), and the package's
          WebGPU engine.
        - ``reason`` (str): every missing piece, in words (``""`` when available), e.g.
          ``"no adapter: requestAdapter() returned null (...)"``.
        - ``adapter``: ``{vendor, architecture, description, is_fallback}``, or ``None``
          without one. A fallback (software) adapter is usable, but ``gpu="auto"`` skips it.
        - ``shader_f16`` (bool), ``max_buffer_size``, ``max_storage_buffer_binding_size``
          (ints, or ``None`` without an adapter): the adapter's limits on one buffer and on
          one binding; a weight tensor larger than these stays on the CPU.

        Asking for the adapter is guarded by a timeout (a few seconds), so detection
        answers even where ``requestAdapter()`` never does.

    Raises
    ------
    UnsupportedEnvironmentError
        Outside a browser.
    """
    detected: dict[str, Any] = await browser("capabilities()").detect()
    return detected
