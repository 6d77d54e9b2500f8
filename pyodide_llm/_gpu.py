"""Whether a model runs on the GPU (llama.cpp's WebGPU backend), and how many of its layers.

Why a module of its own: ``LLM.load(gpu=..., n_gpu_layers=...)`` is a decision
from plain data (what detection found, ``capabilities()["webgpu"]``; the options;
the model's layer count from its header), so its rules live in one place and are
tested on the host. Detection itself stays in ``js/client.mjs``: only the browser
can ask for an adapter.

The rules
---------
``gpu="auto"`` (the default)
    The GPU when WebGPU is usable (``webgpu["available"]``) and the adapter is not a
    fallback (software) adapter, which is slower than the CPU engine; else the CPU
    variants exactly as without a GPU. ``GPUChoice.reason`` says which and why.
``gpu=True``
    The GPU, a fallback adapter included; where WebGPU is not usable,
    :class:`UnsupportedEnvironmentError` whose message is detection's ``reason``
    (the missing piece: no ``navigator.gpu``, no adapter, no ``shader-f16``, no
    JSPI, a page that is not cross-origin isolated, the engine not shipped).
``gpu=False``
    Never touches the GPU: no adapter is requested, the CPU variants as before.
``n_gpu_layers``
    ``None`` (default): every layer (the engine's ``-1``). ``k >= 1``: the last
    ``k`` (llama.cpp offloads from the output end); it counts ``n_layer + 1`` layers (the output layer is the last),
    so ``k >= n_layer + 1`` is every layer and is sent as ``-1`` (clamped, not an
    error: "more than there are" means "all"). ``0``: none, i.e. the CPU (with
    ``gpu="auto"``; with ``gpu=True`` it is a contradiction, ``ValueError``).
    Negative: ``ValueError`` (``None`` spells "all"; llama.cpp's ``-1`` is not
    accepted, so a computed negative count cannot pass for "all" by accident). A
    ``bool`` or a non-integer: ``TypeError``. With ``gpu=False`` a count ``>= 1``
    is a contradiction, ``ValueError``.
``variant=``
    The WebGPU variant by name means ``gpu=True``; a CPU variant by name means
    ``gpu=False``. Naming one and asking the opposite of ``gpu`` is ``ValueError``.

What really ran is read back from the engine (``info.backend``, ``n_gpu_layers``):
:func:`offload_shortfall` words the difference when llama.cpp offloaded fewer
layers than asked (a tensor over the adapter's buffer limits, a device that
could not be created), which ``LLM.load`` raises as a :class:`GPUFallbackWarning`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ._errors import UnsupportedEnvironmentError
from ._variants import GPU_VARIANT

GpuSetting: TypeAlias = Literal["auto"] | bool
ALL_LAYERS = -1  # the engine's "every layer" (protocol.json: load's n_gpu_layers)


@dataclass(frozen=True)
class GPUChoice:
    """The backend ``LLM.load`` asks for, and why.

    Attributes
    ----------
    use_gpu
        Load into the WebGPU engine and offload layers.
    variant
        :data:`GPU_VARIANT` on the GPU; ``None`` leaves the (CPU) variant to
        :func:`pyodide_llm._variants.choose_variant`, as without a GPU.
    n_gpu_layers
        What the ``load`` request asks the engine for: ``-1`` every layer, ``0`` none, ``k`` the last ``k``.
    reason
        The decision in words, for messages and warnings.
    offload_kqv
        Keep the offloaded layers' KV cache in GPU memory (llama.cpp's
        ``offload_kqv``); ``False`` when one layer's cache is larger than the adapter
        can bind (:func:`fit_kv_cache`).
    """

    use_gpu: bool
    variant: str | None
    n_gpu_layers: int
    reason: str
    offload_kqv: bool = True


def check_gpu(gpu: Any) -> GpuSetting:
    """``gpu`` itself: ``"auto"``, ``True`` or ``False`` (``TypeError``/``ValueError`` otherwise)."""
    if isinstance(gpu, bool):
        return gpu
    if not isinstance(gpu, str):
        raise TypeError(f"gpu must be 'auto', True or False, not {type(gpu).__name__} {gpu!r}")
    if gpu != "auto":
        raise ValueError(f"gpu must be 'auto', True or False, got {gpu!r}")
    return "auto"


def check_layers(n_gpu_layers: Any) -> int | None:
    """``n_gpu_layers`` itself: ``None`` or an integer ``>= 0`` (see the module's rules)."""
    if n_gpu_layers is None:
        return None
    if isinstance(n_gpu_layers, bool) or not isinstance(n_gpu_layers, int):
        raise TypeError(f"n_gpu_layers must be an int or None (every layer), not {type(n_gpu_layers).__name__} "
                        f"{n_gpu_layers!r}")
    if n_gpu_layers < 0:
        raise ValueError(f"n_gpu_layers must be >= 0, or None for every layer, got {n_gpu_layers}")
    return n_gpu_layers


def check_options(gpu: Any, n_gpu_layers: Any, variant: str = "auto") -> GpuSetting:
    """Check ``gpu`` and ``n_gpu_layers`` against each other and ``variant``; return ``gpu`` as ``variant`` narrows it.

    A variant named explicitly decides the backend (the WebGPU one: ``True``; a
    CPU one: ``False``), so ``gpu="auto"`` follows it and the opposite of it is a
    ``ValueError`` naming both. ``LoadOptions`` calls this, so a bad combination
    fails before anything is downloaded.
    """
    setting = check_gpu(gpu)
    layers = check_layers(n_gpu_layers)
    if variant == GPU_VARIANT:
        if setting is False:
            raise ValueError(f"variant={variant!r} is the WebGPU engine but gpu=False asks for the CPU; drop one "
                             "of them")
        setting, asked = True, f"variant={variant!r}"
    elif variant != "auto":
        if setting is True:
            raise ValueError(f"variant={variant!r} is a CPU engine but gpu=True asks for the GPU; drop variant= "
                             f"(or use variant={GPU_VARIANT!r})")
        setting, asked = False, f"variant={variant!r}"
    else:
        asked = f"gpu={setting!r}"
    if setting is True and layers == 0:
        raise ValueError(f"{asked} asks for the GPU but n_gpu_layers=0 offloads nothing; use gpu=False for the CPU")
    if setting is False and layers:
        raise ValueError(f"n_gpu_layers={layers} offloads layers to the GPU but {asked} keeps the model on the "
                         "CPU; drop one of them")
    return setting


def engine_layers(n_gpu_layers: int | None, n_layer: int | None) -> int:
    """The ``n_gpu_layers`` of the ``load`` request: ``None`` and counts past the model's last layer are all (``-1``).

    ``n_layer`` is the header's ``block_count``; llama.cpp offloads ``n_layer + 1``
    layers (the output layer counts). Unknown (``None``): the count is sent as it
    is, and llama.cpp clamps it itself.
    """
    if n_gpu_layers is None or (n_layer is not None and n_gpu_layers >= n_layer + 1):
        return ALL_LAYERS
    return n_gpu_layers


def _adapter_words(adapter: Mapping[str, Any]) -> str:
    words = " ".join(str(adapter.get(k) or "") for k in ("vendor", "architecture", "description")).split()
    return " ".join(words) or "an unnamed adapter"


def _layers_words(layers: int) -> str:
    return "every layer" if layers == ALL_LAYERS else f"{layers} layer{'s' if layers != 1 else ''}"


def choose_backend(webgpu: Mapping[str, Any], gpu: GpuSetting, n_gpu_layers: int | None,
                   n_layer: int | None) -> GPUChoice:
    """Decide GPU or CPU for this page, these options and this model (the module's rules).

    Parameters
    ----------
    webgpu
        ``capabilities()["webgpu"]``: ``available``, ``reason``, ``adapter`` (with ``is_fallback``).
    gpu
        ``"auto"``, ``True`` or ``False``, as ``variant=`` narrowed it (:func:`check_options`).
    n_gpu_layers
        ``None`` for every layer, or a count ``>= 0``.
    n_layer
        The model's ``block_count`` from its header, or ``None`` if the header lacks it.

    Raises
    ------
    UnsupportedEnvironmentError
        ``gpu=True`` where WebGPU is not usable; the message says what is missing.
    ValueError, TypeError
        Bad or contradictory ``gpu``/``n_gpu_layers`` (see :func:`check_options`).
    """
    setting = check_options(gpu, n_gpu_layers)
    if setting is False:
        return GPUChoice(False, None, 0, "gpu=False: the CPU engine")
    if n_gpu_layers == 0:
        return GPUChoice(False, None, 0, "n_gpu_layers=0 keeps every layer on the CPU")
    available = isinstance(webgpu, Mapping) and webgpu.get("available") is True
    if not available:
        why = str(webgpu.get("reason") or "") if isinstance(webgpu, Mapping) else ""
        why = why or "WebGPU was not detected"
        if setting is True:
            raise UnsupportedEnvironmentError(
                f"gpu=True, but WebGPU is not usable on this page: {why}. gpu='auto' loads on the CPU instead",
                "unsupported_environment")
        return GPUChoice(False, None, 0, f"WebGPU is not usable: {why}")
    adapter = webgpu.get("adapter") or {}
    if setting == "auto" and adapter.get("is_fallback"):
        return GPUChoice(False, None, 0, f"the only adapter is a fallback (software) one ({_adapter_words(adapter)}), "
                                         "slower than the CPU engine; gpu=True uses it anyway")
    layers = engine_layers(n_gpu_layers, n_layer)
    return GPUChoice(True, GPU_VARIANT, layers, f"WebGPU on {_adapter_words(adapter)}, {_layers_words(layers)}")


def choose_for_own_engine(gpu: GpuSetting, n_gpu_layers: int | None) -> GPUChoice:
    """The choice for ``LLM.load(transport=...)``: a caller's engine, with no page to probe.

    The caller's engine is taken at its word: ``gpu=True`` (or the WebGPU variant
    named) asks it for the layers and its info says what it did; ``"auto"`` and
    ``False`` ask for none, since nothing says that engine has a GPU.
    """
    setting = check_options(gpu, n_gpu_layers)
    if setting is True:
        layers = engine_layers(n_gpu_layers, None)
        return GPUChoice(True, None, layers, f"gpu=True on the caller's own engine, {_layers_words(layers)}")
    return GPUChoice(False, None, 0, "the caller's own engine (transport=) is not probed; gpu=True offloads")


def offload_shortfall(choice: GPUChoice, n_layer: int | None, info: Mapping[str, Any]) -> str | None:
    """Why the engine's ``info`` falls short of the GPU ``choice``, in words; ``None`` if it does not.

    ``info`` is the engine's record: ``backend`` and ``n_gpu_layers`` are what
    llama.cpp really did. "Every layer" is ``n_layer + 1`` layers; with
    ``n_layer`` unknown only a CPU backend counts as a shortfall.
    """
    if not choice.use_gpu:
        return None
    offloaded = int(info.get("n_gpu_layers") or 0)
    if info.get("backend") != "webgpu" or offloaded <= 0:
        return (f"the GPU was chosen ({choice.reason}) but llama.cpp offloaded no layer to it: the model runs on "
                "the CPU, in the WebGPU engine's CPU backend. Pass gpu=False to load the CPU engine directly")
    if choice.n_gpu_layers != ALL_LAYERS:
        wanted: int | None = choice.n_gpu_layers
    else:
        wanted = None if n_layer is None else n_layer + 1
    # The weights of the offloaded layers should be in GPU memory: their share of the
    # model's size (the input embedding always stays on the CPU, hence the margin of 2).
    on_gpu, size = int(info.get("gpu_model_bytes") or 0), int(info.get("size") or 0)
    layers_total = int(info.get("n_layer") or 0) + 1
    if size and layers_total > 1 and on_gpu < size * min(offloaded, layers_total) / layers_total / 2:
        return (f"llama.cpp offloaded {offloaded} layers to the GPU ({info.get('gpu_device') or 'WebGPU'}), but only "
                f"{on_gpu / 2**20:.1f} MiB of the model's {size / 2**20:.1f} MiB of weights are in GPU memory: "
                "tensors larger than the adapter's buffer limits (capabilities()['webgpu'] max_buffer_size, "
                "max_storage_buffer_binding_size) stay in CPU memory and their ops run on the CPU, slower; "
                "llm.info.gpu_model_bytes says how much the GPU holds")
    if wanted is not None and offloaded < wanted:
        return (f"llama.cpp offloaded {offloaded} of the {wanted} layers asked for to the GPU "
                f"({info.get('gpu_device') or 'WebGPU'}); the rest run on the CPU, slower (a tensor larger than "
                f"the adapter's buffer limits, or too little GPU memory); n_gpu_layers={offloaded} asks for what fits")
    return None


def fit_kv_cache(choice: GPUChoice, webgpu: Mapping[str, Any], layer_kv_bytes: int) -> GPUChoice:
    """Keep the KV cache in CPU memory when one layer's keys exceed the adapter's binding limit.

    Why: llama.cpp puts an offloaded layer's cache in a GPU buffer, then finds the
    GPU cannot run the op that writes it (a storage binding of the whole layer's
    cache over ``maxStorageBufferBindingSize``) and aborts the engine. With
    ``offload_kqv=False`` the cache and attention stay on the CPU and the model runs.
    ``layer_kv_bytes`` is one layer's K (or V) cache at the load's ``n_ctx``.
    """
    limit = webgpu.get("max_storage_buffer_binding_size")
    if not choice.use_gpu or not isinstance(limit, int) or layer_kv_bytes <= limit:
        return choice
    why = (f"one layer's KV cache ({layer_kv_bytes / 2**20:.1f} MiB) exceeds the adapter's "
           f"max_storage_buffer_binding_size ({limit / 2**20:.1f} MiB): the KV cache and attention stay on the "
           "CPU (a smaller n_ctx keeps them on the GPU)")
    return GPUChoice(choice.use_gpu, choice.variant, choice.n_gpu_layers, f"{choice.reason}; {why}", False)
