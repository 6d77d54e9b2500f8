"""The public API is exactly ``__all__``: pinned here, and nothing else public in the package."""

from __future__ import annotations

import pkgutil

import pyodide_llm

PUBLIC = {
    "LLM", "Llama", "BadRequestError", "CacheError", "ContextOverflowError", "EngineCrashedError", "GGUFInfo",
    "GPUDeviceLostError", "GPUFallbackWarning", "GenerationCancelled", "GenerationStats", "IncompleteJSONError",
    "LLMError", "LoadReport", "MapJob", "MapStats", "Session", "SessionStateError",
    "ModelInfo", "ModelLoadError", "ModelSourceError", "ScoreResult", "TokenLogprob", "TokenStream",
    "ToolCall", "ToolCallError", "UnsupportedEnvironmentError", "cache",
    # LLM.connect (issue 15)
    "RemoteLLM", "ServerInfo", "RemoteError", "RemoteConnectionError", "RemoteTimeoutError", "AuthenticationError",
    "RateLimitError", "ModelNotFoundError",
    "capabilities", "choice_grammar", "inspect",
    # models from the Hugging Face Hub (issue 17)
    "HubFile", "HubRepo",
}


def test_all_is_pinned() -> None:
    assert set(pyodide_llm.__all__) == PUBLIC
    assert len(pyodide_llm.__all__) == len(PUBLIC)


def test_the_package_exports_exactly_all() -> None:
    exported = {n for n in vars(pyodide_llm) if not n.startswith("_")} - {"annotations"}
    assert exported == PUBLIC, (exported - PUBLIC, PUBLIC - exported)


def test_every_module_but_cache_is_private() -> None:
    public_modules = {m.name for m in pkgutil.iter_modules(pyodide_llm.__path__) if not m.name.startswith("_")}
    assert public_modules == {"cache"}


def test_bad_request_is_both_an_llm_error_and_a_value_error() -> None:
    err = pyodide_llm.BadRequestError("top_p out of range", "bad_request")
    assert isinstance(err, pyodide_llm.LLMError) and isinstance(err, ValueError)
