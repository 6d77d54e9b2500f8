"""What the page can do: memory64, threads, SIMD, WebGPU, cross-origin isolation."""

from __future__ import annotations

from typing import Any

from ._env import browser


async def capabilities() -> dict[str, Any]:
    """Feature-detect the browser the way the engine needs it.

    Returns a dict with ``memory64, threads, simd, relaxed_simd, jspi, webgpu,
    cross_origin_isolated, hardware_concurrency`` (booleans, and an int).
    Raises :class:`UnsupportedEnvironmentError` outside a browser.
    """
    detected: dict[str, Any] = await browser("capabilities()").detect()
    return detected
