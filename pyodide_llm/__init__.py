"""pyodide_llm: local LLMs (llama.cpp compiled to WebAssembly) from Python in the browser."""

from __future__ import annotations

from . import cache
from .capabilities import capabilities
from .errors import (
    CacheError,
    ContextOverflowError,
    EngineCrashedError,
    GenerationCancelled,
    LLMError,
    ModelLoadError,
    ModelSourceError,
    UnsupportedEnvironmentError,
)
from .inspection import GGUFInfo, inspect
from .llm import LLM
from .models import GenerationStats, LoadReport, ModelInfo
from .options import choice_grammar
from .stream import TokenStream

__version__ = "0.0.1"

__all__ = [
    "LLM",
    "CacheError",
    "ContextOverflowError",
    "EngineCrashedError",
    "GenerationCancelled",
    "GGUFInfo",
    "GenerationStats",
    "LLMError",
    "LoadReport",
    "ModelInfo",
    "ModelLoadError",
    "ModelSourceError",
    "TokenStream",
    "UnsupportedEnvironmentError",
    "cache",
    "capabilities",
    "choice_grammar",
    "inspect",
]
