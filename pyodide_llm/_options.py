"""Validation of load and sampling options, before anything is sent to the engine.

Why here: a bad value must raise ``ValueError`` in Python with a message that
names the option, not travel to the worker and come back as an engine error.
The defaults live here (Python sends every sampling value, so the engine's own
defaults only serve JS callers); the bounds are protocol.json's ``limits``,
which the engine's guards are tested against.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ._gpu import GpuSetting, check_options
from ._protocol import LIMITS, describe_limits, in_limits
from ._variants import VARIANTS


@dataclass(frozen=True)
class Sampling:
    """Sampling settings shared by ``chat`` and ``complete`` (llama.cpp's meanings).

    ``temperature=0`` is greedy and deterministic. ``seed=None`` picks a random seed.
    ``grammar`` is a GBNF grammar (llama.cpp's) the output must follow, e.g. a fixed
    set of labels; see :func:`choice_grammar`. ``json_schema`` is a JSON schema as
    text; the engine turns it into a grammar with llama.cpp's own converter.
    """

    max_tokens: int = 256
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    ignore_eos: bool = False
    grammar: str = ""
    json_schema: str = ""  # JSON text; the engine makes it a grammar (llama.cpp's json_schema_to_grammar)
    presence_penalty: float = 0.0  # llama.cpp's penalty_present, over the last repeat_last_n tokens (-2..2)
    frequency_penalty: float = 0.0  # penalty_freq (-2..2)
    # Reuse the longest prefix the engine's cache holds (llama-server's cache_prompt). False
    # evaluates the whole prompt: the result then never depends on earlier requests (see README).
    cache_prompt: bool = True

    def engine_payload(self) -> dict[str, Any]:
        """The ``sampling`` object of a ``generate`` request."""
        d = asdict(self)
        d.pop("max_tokens")
        d.pop("stop")
        if d["seed"] is None:
            d.pop("seed")
        for key in ("grammar", "json_schema", "presence_penalty", "frequency_penalty"):
            if not d[key]:
                d.pop(key)
        if d["cache_prompt"]:
            d.pop("cache_prompt")  # the engine's default
        return d


def _number(name: str, value: Any) -> float:
    """``value`` checked against ``limits[name]`` of protocol.json (the engine's own bounds)."""
    integer = bool(LIMITS[name].get("integer"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if not in_limits(name, value):
        raise ValueError(f"{name} must be {describe_limits(name)}{_MEANING.get(name, '')}, got {value!r}")
    return value


_MEANING = {"temperature": " (0 is greedy)", "top_k": " (0 disables it)", "repeat_penalty": " (1 disables it)",
            "n_ctx": " (0 means the model's training context)"}
_NUMBERS = ("max_tokens", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "presence_penalty",
            "frequency_penalty")


def _stop_strings(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    out = (stop,) if isinstance(stop, str) else tuple(stop)
    if not all(isinstance(x, str) and x for x in out):
        raise ValueError("stop must be a string or a list of non-empty strings")
    return out


def sampling_from_kwargs(kwargs: dict[str, Any]) -> Sampling:
    """Check the sampling keywords of ``chat``/``complete`` and build a :class:`Sampling`."""
    known = set(Sampling.__dataclass_fields__)
    unknown = set(kwargs) - known
    if unknown:
        raise TypeError(f"unknown sampling option(s): {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(known))}")
    s = dict(kwargs)
    for name in _NUMBERS:
        if name in s:
            _number(name, s[name])
    if s.get("seed") is not None:
        _number("seed", s["seed"])
    if "stop" in s:
        s["stop"] = _stop_strings(s["stop"])
    for flag in ("ignore_eos", "cache_prompt"):
        if flag in s and not isinstance(s[flag], bool):
            raise ValueError(f"{flag} must be True or False")
    if "grammar" in s and not isinstance(s["grammar"], str):
        raise ValueError("grammar must be a GBNF grammar as a string")
    if "json_schema" in s and not isinstance(s["json_schema"], str):
        raise ValueError("json_schema must reach the engine as JSON text (LLM.chat/complete convert it)")
    if s.get("grammar") and s.get("json_schema"):
        raise ValueError("give either grammar= or json_schema=, not both: the schema becomes a grammar itself")
    return Sampling(**s)


def logprobs_count(logprobs: Any, top_logprobs: Any) -> int:
    """``logprobs=``/``top_logprobs=`` checked: -1 for none, else how many alternatives (0-20)."""
    if not isinstance(logprobs, bool):
        raise ValueError(f"logprobs must be True or False, got {logprobs!r}")
    if isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= 20:
        raise ValueError(f"top_logprobs must be an integer from 0 to 20, got {top_logprobs!r}")
    return top_logprobs if (logprobs or top_logprobs) else -1


def choice_grammar(choices: list[str]) -> str:
    """A GBNF grammar whose only sentences are the given strings (for labelling, yes/no, ...)."""
    if not choices or not all(isinstance(c, str) and c for c in choices):
        raise ValueError("choices must be a non-empty list of non-empty strings")
    quoted = (c.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for c in choices)
    return "root ::= " + " | ".join(f'"{q}"' for q in quoted) + "\n"


@dataclass(frozen=True)
class LoadOptions:
    """Options of ``LLM.load``, checked.

    ``gpu`` and ``n_gpu_layers`` follow :mod:`pyodide_llm._gpu`'s rules (checked
    there, against each other and ``variant``); ``effective_gpu`` is ``gpu`` as an
    explicitly named variant narrows it (the WebGPU one: ``True``, a CPU one: ``False``).
    """

    n_ctx: int = 2048
    n_threads: int | None = None
    n_batch: int = 512
    variant: str = "auto"
    gpu: GpuSetting = "auto"
    n_gpu_layers: int | None = None
    timeout: float = 60.0  # seconds without a response, or with under 64 KiB of a download, before giving up
    effective_gpu: GpuSetting = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _number("n_ctx", self.n_ctx)
        _number("timeout", self.timeout)
        if self.n_threads is not None:
            _number("n_threads", self.n_threads)
        _number("n_batch", self.n_batch)
        if self.variant != "auto" and self.variant not in VARIANTS:
            raise ValueError(f"variant must be 'auto' or one of {', '.join(VARIANTS)}, got {self.variant!r}")
        object.__setattr__(self, "effective_gpu", check_options(self.gpu, self.n_gpu_layers, self.variant))
