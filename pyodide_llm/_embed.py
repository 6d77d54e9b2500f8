"""``LLM.embed``: texts to vectors through llama.cpp's own pooling, many texts per batch.

Why here: the engine pools and normalises (llama.cpp's code, the same as
``llama-embedding``); Python checks the request, names the pooling, warns about
truncated texts, and returns a numpy array when numpy is importable (Pyodide's
numpy), else lists of floats.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ._errors import error_from_reply
from ._transport import Transport

POOLINGS = {None: -1, "mean": 1, "cls": 2, "last": 3}


def check_texts(texts: Any) -> tuple[list[str], bool]:
    """The texts to embed, and whether one string was given (then one vector is returned)."""
    if isinstance(texts, str):
        texts = [texts]
        single = True
    else:
        single = False
    if not isinstance(texts, Sequence) or isinstance(texts, bytes) or not texts:
        raise ValueError("texts must be a string or a non-empty list of strings")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t:
            raise ValueError(f"texts[{i}] must be a non-empty string, got {t!r}")
    return list(texts), single


async def embed_counted(transport: Transport, texts: Any, *, normalize: bool, pooling: str | None,
                        truncate: bool) -> tuple[list[list[float]], list[int], bool]:
    """The vectors (lists of floats), each text's token count, and whether one string was given."""
    items, single = check_texts(texts)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be None (the model's), 'mean', 'cls' or 'last', got {pooling!r}")
    for name, value in (("normalize", normalize), ("truncate", truncate)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    reply = await transport.start("embed", {"texts": items, "pooling": POOLINGS[pooling], "normalize": normalize,
                                            "truncate": truncate}).future
    if not reply.get("ok"):
        raise error_from_reply(reply)
    cut = [i for i, t in enumerate(reply["truncated"]) if t]
    if cut:
        warnings.warn(f"{len(cut)} text(s) longer than the embedding context were truncated (texts {cut[:10]}); "
                      "pass truncate=False to get a ContextOverflowError instead", RuntimeWarning, stacklevel=4)
    return reply["embeddings"], list(reply["n_tokens"]), single


async def embed(transport: Transport, texts: Any, *, normalize: bool, pooling: str | None, truncate: bool) -> Any:
    """See :meth:`LLM.embed`."""
    vectors, _, single = await embed_counted(transport, texts, normalize=normalize, pooling=pooling,
                                             truncate=truncate)
    try:
        import numpy as np
    except ImportError:
        return vectors[0] if single else vectors
    array = np.asarray(vectors, dtype=np.float32)
    return array[0] if single else array


async def create_embedding(transport: Transport, name: str, input: Any, *, model: str | None = None,
                           encoding_format: str = "float", **kw: Any) -> dict[str, Any]:
    """OpenAI's embeddings response (``{"object": "list", "data": [...], "usage": ...}``)."""
    if encoding_format != "float":
        raise ValueError(f"encoding_format must be 'float', got {encoding_format!r}")
    if kw:
        raise ValueError(f"create_embedding: unsupported keyword(s) {', '.join(sorted(kw))}")
    vectors, counts, _ = await embed_counted(transport, input, normalize=True, pooling=None, truncate=True)
    return {"object": "list", "model": model or name,
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}}
