"""pyodide_llm: local LLMs (llama.cpp compiled to WebAssembly) from Python in the browser.

The public API is what ``__all__`` lists (``tests/host/test_exported_members.py``
pins it); every module but :mod:`pyodide_llm.cache` is private. Package layout,
one concern per module, and where the next features go:

=====================  ==========================================================
``_llm``               the ``LLM`` class (load, generate, tokens, close)
``_loading``           a model source resolved and sized, its engine planned
``_stream``, ``_text``   the token stream; token bytes to text (UTF-8, stop strings)
``_options``           sampling and load options, checked (bounds: protocol.json)
``_gpu``               GPU or CPU, and how many layers (``gpu=``, ``n_gpu_layers=``)
``_results``           plain results: ``ModelInfo``, ``GenerationStats``, ``LoadReport``
``_errors``            the exception tree
``_protocol``          protocol.json, the one definition of every message
``_transport``         the seam to an engine (browser worker, or a test fake)
``_variants``          the engine builds, and choosing one for a page and a model
``_sizing``            memory a model needs, from its header
``_gguf``, ``_inspect``  GGUF header parsing; reading headers by URL
``_sources``           which files make a model (split sets, sha256, relative URLs)
``_hub``               ``hf://owner/repo``: a Hugging Face Hub repository's models, and which one to take
``_progress``          progress bars and callbacks
``_env``, ``_browser/``  "are we in a browser"; everything that imports ``js``
``cache``              public: the browser's model cache
``_host/``             ``python -m pyodide_llm bundle`` / ``serve`` (plain CPython)
``_schema``            ``json_schema=``: classes to JSON schemas and back
``_chat``, ``_tools``  chat requests (OpenAI-shaped messages), tools from functions, ``ToolCall``
``_agent``             ``LLM.run``: the loop that runs the model's tool calls
``_openai``, ``_facade``  OpenAI's call shapes; ``Llama``, llama-cpp-python's names
=====================  ==========================================================

WebGPU detection (``navigator.gpu``, the adapter, ``shader-f16``, JSPI) lives in
``js/client.mjs``'s ``detect()``, the only side that can ask for an adapter; the
decision made from what it found is ``_gpu``'s, and ``_loading`` plans the engine
with it (the backend first, then the variant and threads).

``_remote/``: ``LLM.connect``, the same generation methods and stream type on an
OpenAI-compatible server (its HTTP seam: ``fetch`` in ``_browser/http.py``, httpx elsewhere).
"""

from __future__ import annotations

from . import cache
from ._capabilities import capabilities
from ._errors import (
    AuthenticationError,
    BadRequestError,
    CacheError,
    ContextOverflowError,
    EngineCrashedError,
    GenerationCancelled,
    GPUDeviceLostError,
    GPUFallbackWarning,
    IncompleteJSONError,
    LLMError,
    ModelLoadError,
    ModelNotFoundError,
    ModelSourceError,
    RateLimitError,
    RemoteConnectionError,
    RemoteError,
    RemoteTimeoutError,
    SessionStateError,
    ToolCallError,
    UnsupportedEnvironmentError,
)
from ._facade import Llama
from ._gguf import GGUFInfo
from ._hub import HubFile, HubRepo
from ._inspect import inspect
from ._llm import LLM
from ._map import MapJob, MapStats
from ._options import choice_grammar
from ._remote import RemoteLLM, ServerInfo
from ._results import GenerationStats, LoadReport, ModelInfo, ScoreResult
from ._session import Session
from ._stream import TokenLogprob, TokenStream
from ._tools import ToolCall

__version__ = "0.0.1"

__all__ = [
    "LLM",
    "AuthenticationError",
    "BadRequestError",
    "CacheError",
    "ContextOverflowError",
    "EngineCrashedError",
    "GGUFInfo",
    "GPUDeviceLostError",
    "GPUFallbackWarning",
    "GenerationCancelled",
    "GenerationStats",
    "HubFile",
    "HubRepo",
    "IncompleteJSONError",
    "LLMError",
    "Llama",
    "LoadReport",
    "MapJob",
    "MapStats",
    "ModelInfo",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelSourceError",
    "RateLimitError",
    "RemoteConnectionError",
    "RemoteError",
    "RemoteLLM",
    "RemoteTimeoutError",
    "ScoreResult",
    "ServerInfo",
    "Session",
    "SessionStateError",
    "TokenLogprob",
    "TokenStream",
    "ToolCall",
    "ToolCallError",
    "UnsupportedEnvironmentError",
    "cache",
    "capabilities",
    "choice_grammar",
    "inspect",
]
