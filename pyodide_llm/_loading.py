"""What ``LLM.load`` works out before the engine sees a model: the source, and the engine to run it.

Why apart from the ``LLM`` class: which files make up a model, whether their
digests are sane, what their URLs mean, which file of a Hub repository to take,
how much memory the model will need and which engine (variant, threads, GPU or
CPU) runs it are decided from arguments, headers, file lists and the page's
capabilities alone; all of it is plain Python that the host tests cover (the
browser only supplies URL resolution, header bytes, HTTP GETs and feature detection).
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ._env import IN_PYODIDE, browser
from ._errors import GPUFallbackWarning, ModelLoadError, ModelSourceError, error_from_reply
from ._gguf import GGUFInfo, NeedMoreBytes, NotGGUFError, parse_header
from ._gpu import GPUChoice, choose_backend, choose_for_own_engine, fit_kv_cache, offload_shortfall
from ._hub import HubFile, candidates, hub_ref, largest_fitting, list_repo
from ._inspect import hub_header, read_model_header
from ._options import LoadOptions
from ._progress import ProgressCallback
from ._sizing import estimate, layer_kv_bytes
from ._sources import Part, check_sha256, model_parts
from ._transport import Transport
from ._variants import choose_variant

CACHE_KINDS = (True, False, "opfs", "cache-api", "revalidate")


@dataclass(frozen=True)
class ModelSource:
    """A model as the engine will receive it: URLs of its parts, its bytes, or a browser File/Blob."""

    parts: tuple[Part, ...] = ()
    data: bytes = b""
    blob: Any = field(default=None, repr=False)

    def payload(self, cache: bool | str) -> dict[str, Any]:
        """The source fields of a ``load`` request."""
        if self.blob is not None:
            return {"blob": self.blob}
        if self.data:
            return {"bytes": self.data}
        return {"parts": [{"url": p.url, "sha256": p.sha256} for p in self.parts], "cache": cache}


def check_cache(cache: object) -> None:
    if cache not in CACHE_KINDS:
        raise ValueError(f"cache must be True, False, 'opfs', 'cache-api' or 'revalidate', not {cache!r}")


def _checked_bytes(data: bytes, sha256: str | Sequence[str] | None) -> ModelSource:
    if sha256 is not None:
        digest, want = hashlib.sha256(data).hexdigest(), check_sha256(sha256)
        if digest != want:
            raise ModelSourceError(f"the model bytes have SHA-256 {digest}, not the expected {want}",
                                   "checksum_mismatch")
    return ModelSource(data=data)


def resolve_source(source: Any, sha256: str | Sequence[str] | None) -> ModelSource:
    """Classify ``LLM.load``'s ``source`` and check ``sha256`` against it.

    URLs are made absolute here, once, as the user means them (the page's, or a
    JupyterLite notebook's folder): the worker, the cache keys and the messages
    all see the same URL.
    """
    if isinstance(source, memoryview):
        source = source.tobytes()
    if isinstance(source, bytes) and source:
        return _checked_bytes(source, sha256)
    if isinstance(source, (str, list, tuple)):
        parts = model_parts(source if isinstance(source, str) else list(source), sha256)
        if IN_PYODIDE:
            absolute = browser("LLM.load").absolute_url
            parts = [Part(absolute(p.url), p.sha256) for p in parts]
        return ModelSource(parts=tuple(parts))
    if IN_PYODIDE and browser("LLM.load").is_blob(source):
        if sha256 is not None:
            raise ValueError("sha256= checks downloads; a File/Blob is read as it is")
        return ModelSource(blob=source)
    raise ValueError("source must be a non-empty URL string, a list of split-part URLs, the model's bytes, or a "
                     "browser File/Blob")


async def model_header(source: ModelSource, cache: bool | str, timeout: float = 60.0) -> GGUFInfo:
    """The model's header: parsed from the bytes, or read from the cache / network / File (a Range request)."""
    if source.data:
        try:
            return GGUFInfo.from_header("<bytes>", parse_header(source.data), len(source.data))
        except (NeedMoreBytes, NotGGUFError) as e:
            raise ModelLoadError(f"the model bytes are not a complete GGUF file: {e}", "not_gguf") from None
    side = browser("LLM.load")
    if source.blob is not None:
        name = str(getattr(source.blob, "name", "") or "the Blob")
        return await read_model_header(name, side.prefix_fetcher(blob=source.blob))
    return await read_model_header([p.url for p in source.parts], side.prefix_fetcher(cache=cache, timeout=timeout))


@dataclass(frozen=True)
class HubChoice:
    """The model of a Hub repository ``LLM.load`` takes, with what choosing it already read.

    ``header`` and ``caps`` are None for a caller's own engine (``transport=``), where
    nothing is detected or sized.
    """

    file: HubFile
    header: GGUFInfo | None = None
    caps: dict[str, Any] | None = None

    def source(self, sha256: str | Sequence[str] | None) -> ModelSource:
        return resolve_source(list(self.file.urls), sha256)


async def hub_model(source: object, opts: LoadOptions, cache: bool | str, quant: str | None, revision: str | None,
                    endpoint: str | None, own_engine: bool) -> HubChoice | None:
    """For an ``hf://`` source: list the repository, and take the model it names, or else the largest that
    fits this page. None for any other source (which takes none of the Hub's options).

    "Fits" is :func:`plan_engine`'s own test (the variant's memory against the
    estimate from a header), applied to each file's size with the header of the
    smallest: the quantizations of one model differ in their weights only. The
    chosen model's own header is then read and planned as any model's.
    """
    ref = hub_ref(source, quant=quant, revision=revision, endpoint=endpoint)
    if ref is None:
        return None
    side = browser("LLM.load")
    repo = await list_repo(ref, functools.partial(side.http_get, timeout=opts.timeout))
    files = candidates(repo, ref)
    if own_engine:
        return HubChoice(files[0])
    fetch = side.prefix_fetcher(cache=cache, timeout=opts.timeout)
    sample = await hub_header(ref, files[-1], fetch)
    caps = await side.detect(opts.effective_gpu is not False)
    if ref.names_model:
        return HubChoice(files[0], sample, caps)

    def refusal(f: HubFile) -> ModelLoadError | None:
        try:
            plan_engine(caps, opts, replace(sample, file_size=f.size))
        except ModelLoadError as e:
            if e.code == "out_of_memory":
                return e
            raise
        return None

    chosen = largest_fitting(ref, files, refusal)
    return HubChoice(chosen, sample if chosen is files[-1] else await hub_header(ref, chosen, fetch), caps)



@dataclass(frozen=True)
class EnginePlan:
    """The engine ``LLM.load`` starts for a model, and what it asks of it.

    ``n_layer`` (the header's) and ``adapter`` (detection's) stay for after the
    load: the first to tell whether llama.cpp offloaded every layer asked for, the
    second for ``llm.info.gpu_adapter``.
    """

    variant: str
    n_threads: int
    gpu: GPUChoice
    n_layer: int | None = None
    adapter: dict[str, Any] | None = None


def plan_engine(caps: Mapping[str, Any], opts: LoadOptions, header: GGUFInfo) -> EnginePlan:
    """Choose GPU or CPU, then the variant and threads, for this page (``caps``) and this model.

    The GPU decision comes first: it names the WebGPU variant, or leaves the choice
    among the CPU variants to :func:`choose_variant` as before. Either way the
    model's memory need (from its header) is checked against the variant, so a
    model too large is refused before a byte of it is downloaded.
    """
    webgpu = caps.get("webgpu")
    webgpu = webgpu if isinstance(webgpu, Mapping) else {}
    gpu = choose_backend(webgpu, opts.effective_gpu, opts.n_gpu_layers, header.n_layer)
    gpu = fit_kv_cache(gpu, webgpu, layer_kv_bytes(header, opts.n_ctx))
    need = estimate(header, opts.n_ctx, opts.n_batch)
    variant, threads = choose_variant(dict(caps), gpu.variant or opts.variant, opts.n_threads, need)
    adapter = webgpu.get("adapter") if gpu.use_gpu else None
    return EnginePlan(variant, threads, gpu, header.n_layer, dict(adapter) if adapter else None)


def own_engine_plan(opts: LoadOptions) -> EnginePlan:
    """The plan for a caller's own engine (``transport=``): nothing detected, nothing sized, its word taken."""
    variant = opts.variant if opts.variant != "auto" else "custom"
    return EnginePlan(variant, opts.n_threads or 1, choose_for_own_engine(opts.effective_gpu, opts.n_gpu_layers))


async def start_engine(model: ModelSource, opts: LoadOptions, cache: bool | str,
                       hub: HubChoice | None = None) -> tuple[Transport, EnginePlan]:
    """Read the model's header, detect the page, plan the engine (GPU or CPU, variant, threads), start it.

    With ``gpu=False`` detection requests no WebGPU adapter: that setting never touches the GPU.
    A Hub model's header and the page's capabilities were read while choosing it (``hub``).
    """
    header = hub.header if hub and hub.header else await model_header(model, cache, opts.timeout)
    side = browser("LLM.load")
    caps = hub.caps if hub and hub.caps is not None else await side.detect(opts.effective_gpu is not False)
    plan = plan_engine(caps, opts, header)
    transport: Transport = await side.start_engine(plan.variant, plan.n_threads)
    return transport, plan


def warn_on_fallback(plan: EnginePlan, info: dict[str, Any]) -> None:
    """Say so when the GPU was chosen but llama.cpp kept layers on the CPU (the model still works)."""
    if not plan.gpu.offload_kqv:
        warnings.warn(plan.gpu.reason, GPUFallbackWarning, stacklevel=3)
    shortfall = offload_shortfall(plan.gpu, plan.n_layer, info)
    if shortfall is not None:
        warnings.warn(shortfall, GPUFallbackWarning, stacklevel=3)  # 3: the caller of LLM.load


async def load_into(transport: Transport, payload: dict[str, Any],
                     progress: ProgressCallback | None) -> dict[str, Any]:
    """Send ``load`` and wait for the model; on failure or cancellation the engine is ended."""
    def on_event(type: str, data: dict[str, Any]) -> None:
        if type == "progress" and progress is not None:
            progress(int(data["loaded"]), int(data["total"]), str(data["stage"]))
        elif type == "notice":
            warnings.warn(str(data["message"]), RuntimeWarning, stacklevel=1)

    try:
        reply = await transport.start("load", payload, on_event).future
    except BaseException:
        # Cancelled mid-download (a notebook's interrupt, asyncio.wait_for): stop the worker's
        # download and free its memory now rather than leaving an engine nobody can reach.
        transport.terminate()
        raise
    if not reply.get("ok"):
        await transport.close()
        raise error_from_reply(reply)
    return reply
