"""``pyodide_llm.Llama``: llama-cpp-python's high-level names and arguments, with ``await``.

Why: notebook users know ``Llama(model_path=...)``, ``create_chat_completion``
and ``tokenize(b"...")``; code written for llama-cpp-python should run here with
``await`` added and nothing else changed where it can. Each method maps onto
``LLM``; where llama-cpp-python's behaviour cannot be had in a browser, the README's
table of differences says so (construction is ``await Llama.load(...)``: a
constructor cannot download and start a worker).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ._llm import LLM

# llama-cpp-python keywords of Llama() that mean nothing in a browser engine: accepted, no effect.
_NO_EFFECT = {"verbose", "use_mmap", "use_mlock", "logits_all", "vocab_only", "numa", "last_n_tokens_size",
              "main_gpu", "tensor_split", "n_threads_batch", "offload_kqv", "flash_attn"}


class Llama:
    """An ``LLM`` behind llama-cpp-python's method names (all of them ``async`` here)."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    @classmethod
    async def load(cls, model_path: str, *, n_ctx: int = 512, n_threads: int | None = None, n_batch: int = 512,
                   n_gpu_layers: int = 0, seed: int | None = None, chat_format: str | None = None,
                   chat_template: str | None = None, **kw: Any) -> Llama:
        """``Llama(model_path=..., n_ctx=..., ...)`` of llama-cpp-python, awaited.

        ``model_path`` is a URL (or anything :meth:`LLM.load` takes). ``n_gpu_layers``:
        0 (llama-cpp-python's default) is the CPU; -1 or a count uses WebGPU where the
        page has it (``gpu="auto"``). ``seed`` becomes the default of every call.
        ``chat_format`` (llama-cpp-python's named formats) is not supported: the GGUF's
        Jinja template is used, or ``chat_template=``.
        """
        if chat_format is not None:
            raise ValueError("chat_format= is not supported: the model's own Jinja template is used "
                             "(pass chat_template= to override it)")
        unknown = set(kw) - _NO_EFFECT - {"progress", "cache", "sha256", "variant", "transport", "quant", "revision",
                                      "hf_endpoint"}
        if unknown:
            raise ValueError(f"Llama.load: unsupported keyword(s) {', '.join(sorted(unknown))}")
        opts = {k: v for k, v in kw.items() if k not in _NO_EFFECT}
        gpu: Any = False if n_gpu_layers == 0 else "auto"
        llm = await LLM.load(model_path, n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch, gpu=gpu,
                             n_gpu_layers=None if n_gpu_layers in (0, -1) else n_gpu_layers,
                             chat_template=chat_template, **opts)
        out = cls(llm)
        out._seed = seed
        return out

    _seed: int | None = None

    def _with_seed(self, kw: dict[str, Any]) -> dict[str, Any]:
        if self._seed is not None and kw.get("seed") is None:
            kw["seed"] = self._seed
        return kw

    async def create_chat_completion(self, messages: Sequence[dict[str, Any]], *, stream: bool = False,
                                     **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """llama-cpp-python's ``create_chat_completion``: see :meth:`LLM.create_chat_completion`."""
        return await self.llm.create_chat_completion(messages, stream=stream, **self._with_seed(kw))

    async def create_completion(self, prompt: str, *, stream: bool = False,
                                **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """llama-cpp-python's ``create_completion``: see :meth:`LLM.create_completion`."""
        return await self.llm.create_completion(prompt, stream=stream, **self._with_seed(kw))

    async def __call__(self, prompt: str, **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """``llm(prompt, ...)``: :meth:`create_completion`."""
        return await self.create_completion(prompt, **kw)

    async def create_embedding(self, input: str | Sequence[str], **kw: Any) -> dict[str, Any]:
        """llama-cpp-python's ``create_embedding``: OpenAI's embeddings response."""
        return await self.llm.create_embedding(input, **kw)

    async def embed(self, input: str | Sequence[str], *, normalize: bool = True,
                    truncate: bool = True) -> list[float] | list[list[float]]:
        """llama-cpp-python's ``embed``: lists of floats (one list for one string)."""
        out = await self.llm.embed(input, normalize=normalize, truncate=truncate)
        vectors: list[float] | list[list[float]] = out.tolist() if hasattr(out, "tolist") else out
        return vectors

    async def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        """Token ids of UTF-8 ``text`` (bytes, as in llama-cpp-python)."""
        if not isinstance(text, (bytes, bytearray)):
            raise TypeError("tokenize takes bytes (llama-cpp-python's signature): encode the text first")
        return await self.llm.tokenize(bytes(text).decode("utf-8", "replace"), add_special=add_bos,
                                       parse_special=special)

    async def detokenize(self, tokens: Sequence[int], prev_tokens: Sequence[int] | None = None,
                         special: bool = False) -> bytes:
        """The UTF-8 bytes of ``tokens`` (``prev_tokens`` is accepted, as context it has no effect here)."""
        text = await self.llm.detokenize(list(tokens), unparse_special=special)
        return text.encode("utf-8")

    def n_ctx(self) -> int:
        """The context size in tokens."""
        return self.llm.info.n_ctx

    async def close(self) -> None:
        """Free the model (llama-cpp-python frees it on garbage collection; here, say so)."""
        await self.llm.close()

    async def __aenter__(self) -> Llama:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
