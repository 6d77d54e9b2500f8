"""LLM.embed over the fake engine: shapes, pooling names, truncation, bad inputs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from fake_transport import FakeTransport
from pyodide_llm import LLM, ContextOverflowError


def run(coro):
    return asyncio.run(coro)


async def embed(texts, t: FakeTransport | None = None, **kw):
    llm = await LLM.load("m.gguf", transport=t or FakeTransport())
    return await llm.embed(texts, **kw)


def test_a_list_gives_a_float32_matrix_and_a_string_one_vector() -> None:
    m = run(embed(["banana", "sky"]))
    assert isinstance(m, np.ndarray) and m.shape == (2, 3) and m.dtype == np.float32
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0)
    v = run(embed("banana"))
    assert v.shape == (3,) and np.allclose(v, m[0])
    raw = run(embed(["banana"], normalize=False))
    assert raw[0].tolist() == [6.0, 3.0, 1.0]


def test_pooling_names_reach_the_engine_as_llama_cpp_types() -> None:
    t = FakeTransport()
    for name, code in ((None, -1), ("mean", 1), ("cls", 2), ("last", 3)):
        run(embed(["x"], t, pooling=name))
        assert t.sent[-1][2]["pooling"] == code


def test_long_texts_are_truncated_with_a_warning_or_refused() -> None:
    with pytest.warns(RuntimeWarning, match=r"1 text\(s\) longer than the embedding context were truncated"):
        run(embed(["short", "x" * 80]))
    with pytest.raises(ContextOverflowError):
        run(embed(["x" * 80], truncate=False))


@pytest.mark.parametrize(("texts", "kw", "message"), [
    ([], {}, "non-empty list of strings"),
    (["ok", 3], {}, r"texts\[1\] must be a non-empty string"),
    ([""], {}, r"texts\[0\] must be a non-empty string"),
    (b"bytes", {}, "non-empty list of strings"),
    (["x"], {"pooling": "max"}, "pooling must be None"),
    (["x"], {"normalize": "yes"}, "normalize must be True or False"),
])
def test_bad_inputs_are_value_errors_before_anything_is_sent(texts, kw, message) -> None:
    t = FakeTransport()
    with pytest.raises(ValueError, match=message):
        run(embed(texts, t, **kw))
    assert t.count("embed") == 0


def test_create_embedding_has_openai_shape_and_usage() -> None:
    async def go():
        llm = await LLM.load("m.gguf", transport=FakeTransport())
        out = await llm.create_embedding(["banana", "sky"])
        with pytest.raises(ValueError, match="encoding_format"):
            await llm.create_embedding("x", encoding_format="base64")
        return out
    out = run(go())
    assert out["object"] == "list" and [d["index"] for d in out["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 3 for d in out["data"])
    assert out["usage"]["prompt_tokens"] == out["usage"]["total_tokens"] > 0


def test_llama_facade_embed_gives_lists() -> None:
    from pyodide_llm import Llama

    async def go():
        llama = await Llama.load("m.gguf", transport=FakeTransport())
        return await llama.embed("banana"), await llama.embed(["banana", "sky"])
    one, two = run(go())
    assert isinstance(one, list) and len(one) == 3 and isinstance(two[0], list) and len(two) == 2
