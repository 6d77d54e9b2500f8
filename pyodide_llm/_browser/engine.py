"""Feature detection and the transport to one engine worker, through the JS client (js/client.mjs)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from pyodide.ffi import create_proxy

from .._errors import crashed_reply, error_from_reply
from .._protocol import PROTOCOL
from .._transport import EventHandler, PendingCall, Transport
from .._variants import GPU_VARIANT
from .files import engine_files, module, shipped, to_js_object

CLOSE_TIMEOUT = 5.0  # seconds a close waits for the worker's reply before ending it anyway


async def detect(probe_gpu: bool = True) -> dict[str, Any]:
    """``capabilities()``: the client's feature detection, as a Python dict.

    ``probe_gpu=False`` requests no WebGPU adapter (``LLM.load(gpu=False)`` must
    not touch the GPU); ``webgpu`` then says it was not probed. Whether the wheel
    ships the WebGPU engine is known here only, so it is handed to the client.
    """
    client = await module("js/client.mjs")
    options = to_js_object({"probeGpu": probe_gpu, "gpuShipped": shipped(GPU_VARIANT)})
    return dict((await client.detect(options)).to_py())


def _end(client: Any) -> None:
    client.terminate()


class JsTransport(Transport):
    """Requests to one engine worker through the JS client.

    A transport dropped without ``close()`` (a notebook cell that rebinds
    ``llm = await LLM.load(...)``) ends its worker when it is collected, so
    the old model's memory (hundreds of MB to GBs) does not stay behind.
    """

    def __init__(self, client: Any, reused: bool = False) -> None:
        self._client: Any = client
        self.reused_engine = reused
        self._finalizer = weakref.finalize(self, _end, client)

    def start(self, type: str, payload: dict[str, Any], on_event: EventHandler | None = None) -> PendingCall:
        if self._client is None:
            done: asyncio.Future[dict[str, Any]] = asyncio.get_event_loop().create_future()
            done.set_result(crashed_reply("the engine was closed"))
            return PendingCall(id=0, type=type, future=done)
        handler = None
        if on_event is not None:
            def relay(name: str, data: Any) -> None:
                d = data.to_py()
                if "bytes" in d:
                    d["bytes"] = bytes(d["bytes"])
                on_event(name, d)

            handler = create_proxy(relay)
        js_call = self._client.request(type, to_js_object(payload), handler)

        async def settle() -> dict[str, Any]:
            try:
                return dict((await js_call.promise).to_py())
            finally:
                if handler is not None:
                    handler.destroy()

        return PendingCall(id=int(js_call.id), type=type, future=asyncio.ensure_future(settle()))

    async def close(self, keep_engine: bool = True) -> None:
        if self._client is None:
            return
        try:
            await asyncio.wait_for(self.start("close", {"keep_engine": keep_engine}).future, timeout=CLOSE_TIMEOUT)
        except TimeoutError:
            pass
        finally:
            self.terminate()  # a no-op for a worker the client kept idle

    def terminate(self) -> None:
        self._finalizer()
        self._client = None


async def start_engine(variant: str, n_threads: int) -> JsTransport:
    """Start an engine worker of ``variant`` with a pool of ``n_threads`` (the protocol's ``hello``)."""
    client_mod = await module("js/client.mjs")
    r = await client_mod.EngineClient.start(engine_files(variant), to_js_object(PROTOCOL), variant, n_threads)
    if not r.ok:
        raise error_from_reply(r.to_py())
    return JsTransport(r.client, bool(r.reused))
