"""Validation of load and sampling options, before anything is sent to the engine.

Why here: a bad value must raise ``ValueError`` in Python with a message that
names the option, not travel to the worker and come back as an engine error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

VARIANTS = ("auto", "wasm64-mt", "wasm32-mt", "wasm32-st")


@dataclass(frozen=True)
class Sampling:
    """Sampling settings shared by ``chat`` and ``complete`` (llama.cpp's meanings).

    ``temperature=0`` is greedy and deterministic. ``seed=None`` picks a random seed.
    ``grammar`` is a GBNF grammar (llama.cpp's) the output must follow, e.g. a fixed
    set of labels; see :func:`choice_grammar`.
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

    def engine_payload(self) -> dict[str, Any]:
        """The ``sampling`` object of a ``generate`` request."""
        d = asdict(self)
        d.pop("max_tokens")
        d.pop("stop")
        if d["seed"] is None:
            d.pop("seed")
        if not d["grammar"]:
            d.pop("grammar")
        return d


def _number(name: str, value: Any, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def sampling_from_kwargs(kwargs: dict[str, Any]) -> Sampling:
    """Check the sampling keywords of ``chat``/``complete`` and build a :class:`Sampling`."""
    known = set(Sampling.__dataclass_fields__)
    unknown = set(kwargs) - known
    if unknown:
        raise TypeError(f"unknown sampling option(s): {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(known))}")
    s = dict(kwargs)
    if "max_tokens" in s and (_number("max_tokens", s["max_tokens"], integer=True) < 1):
        raise ValueError("max_tokens must be >= 1")
    if "temperature" in s and _number("temperature", s["temperature"]) < 0:
        raise ValueError("temperature must be >= 0 (0 is greedy)")
    if "top_k" in s and _number("top_k", s["top_k"], integer=True) < 0:
        raise ValueError("top_k must be >= 0 (0 disables it)")
    if "top_p" in s and not 0 < _number("top_p", s["top_p"]) <= 1:
        raise ValueError("top_p must be in (0, 1]")
    if "min_p" in s and not 0 <= _number("min_p", s["min_p"]) <= 1:
        raise ValueError("min_p must be in [0, 1]")
    if "repeat_penalty" in s and _number("repeat_penalty", s["repeat_penalty"]) <= 0:
        raise ValueError("repeat_penalty must be > 0 (1 disables it)")
    if s.get("seed") is not None and not 0 <= _number("seed", s["seed"], integer=True) < 2**32 - 1:
        raise ValueError("seed must be an integer in [0, 2**32 - 2]")
    if "stop" in s:
        stop = s["stop"]
        if stop is None:
            stop = ()
        elif isinstance(stop, str):
            stop = (stop,)
        stop = tuple(stop)
        if not all(isinstance(x, str) and x for x in stop):
            raise ValueError("stop must be a string or a list of non-empty strings")
        s["stop"] = stop
    if "ignore_eos" in s and not isinstance(s["ignore_eos"], bool):
        raise ValueError("ignore_eos must be True or False")
    if "grammar" in s and not isinstance(s["grammar"], str):
        raise ValueError("grammar must be a GBNF grammar as a string")
    return Sampling(**s)


def choice_grammar(choices: list[str]) -> str:
    """A GBNF grammar whose only sentences are the given strings (for labelling, yes/no, ...)."""
    if not choices or not all(isinstance(c, str) and c for c in choices):
        raise ValueError("choices must be a non-empty list of non-empty strings")
    quoted = (c.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for c in choices)
    return "root ::= " + " | ".join(f'"{q}"' for q in quoted) + "\n"


@dataclass(frozen=True)
class LoadOptions:
    """Options of ``LLM.load``, checked."""

    n_ctx: int = 2048
    n_threads: int | None = None
    n_batch: int = 512
    variant: str = "auto"

    def __post_init__(self) -> None:
        if _number("n_ctx", self.n_ctx, integer=True) < 0:
            raise ValueError("n_ctx must be >= 0 (0 means the model's training context)")
        if self.n_threads is not None and not 1 <= _number("n_threads", self.n_threads, integer=True) <= 64:
            raise ValueError("n_threads must be None (automatic) or an integer in 1..64")
        if not 1 <= _number("n_batch", self.n_batch, integer=True) <= 8192:
            raise ValueError("n_batch must be in 1..8192")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
