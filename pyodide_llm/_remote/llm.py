"""``RemoteLLM``: the generation methods of ``LLM`` on an OpenAI-compatible server.

Why the same names and stream: a notebook outgrows the browser (a bigger model,
a team server) by changing ``LLM.load(url)`` into ``LLM.connect(server)``; the
rest of its code keeps working. What a server cannot do the way the engine does
(choose a pooling per call, keep a session's cache, score a text) raises a clear error.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._agent import run_tools
from .._chat import Message, check_messages
from .._embed import POOLINGS, check_texts
from .._env import IN_PYODIDE
from .._errors import LLMError, ModelNotFoundError, RemoteError, UnsupportedEnvironmentError
from .._map import MapProgress, check_items
from .._progress import resolve as resolve_progress
from .._results import GenerationStats
from .connection import Connection
from .events import ChunkStream
from .http import HttpClient, Timeouts
from .requests import chat_body, completion_body
from .rows import RemoteMapJob, check_remote_concurrency
from .stream import RemoteStream


@dataclass(frozen=True)
class ServerInfo:
    """What ``LLM.connect`` found: the server, the model used, and every model it serves.

    ``meta`` is the model's entry of ``/v1/models`` (llama-server adds its size,
    parameters and training context there).
    """

    base_url: str
    model: str
    models: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)


def _base_url(given: Any) -> str:
    if not isinstance(given, str) or not given.strip():
        raise ValueError("base_url must be the server's URL, e.g. 'http://127.0.0.1:8080'")
    url: str = given.strip().rstrip("/")
    if IN_PYODIDE and url.startswith(("/", "./", "../")):
        from .._browser.fetch import absolute_url  # a path on the page's own origin (a reverse proxy)

        url = str(absolute_url(url)).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    return url[:-3] if url.endswith("/v1") else url


def _timeouts(timeout: Any, connect_timeout: Any) -> Timeouts:
    for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return Timeouts(connect=float(connect_timeout), read=float(timeout))


def _client() -> HttpClient:
    if IN_PYODIDE:
        from .._browser.http import FetchClient

        return FetchClient()
    from .httpx_client import HttpxClient

    return HttpxClient()


async def connect(base_url: str, *, model: str | None = None, api_key: str | None = None, timeout: float = 120.0,
                  connect_timeout: float = 10.0, http: HttpClient | None = None) -> RemoteLLM:
    """See :meth:`pyodide_llm.LLM.connect`."""
    url = _base_url(base_url)
    if model is not None and (not isinstance(model, str) or not model):
        raise ValueError("model must be a model name the server serves (see llm.models()), or None")
    if api_key is not None and (not isinstance(api_key, str) or not api_key or not api_key.isascii()
                                or not api_key.isprintable()):
        raise ValueError("api_key must be a non-empty string of printable ASCII (it travels in a header)")
    conn = Connection(http or _client(), url, api_key, _timeouts(timeout, connect_timeout))
    try:
        listing = await _list_models(conn)
        names = tuple(str(m.get("id")) for m in listing)
        if model is None:
            if not names:
                raise RemoteError(f"{url}/v1/models lists no model; pass model=", "bad_response")
            model = names[0]
        elif model not in names:
            raise ModelNotFoundError(f"the server at {url} does not serve {model!r}; it serves: "
                                     f"{', '.join(names) or 'nothing'}", "model_not_found", 404)
        meta = next((dict(m) for m in listing if m.get("id") == model), {})
    except BaseException:
        await conn.http.aclose()
        raise
    return RemoteLLM(conn, ServerInfo(url, model, names, meta))


async def _list_models(conn: Connection) -> list[dict[str, Any]]:
    data = await conn.json("GET", "/v1/models")
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(m, dict) and "id" in m for m in items):
        raise RemoteError(f"{conn.url('/v1/models')} is not an OpenAI model list", "bad_response")
    return items


class RemoteLLM:
    """A model on a server, with :class:`LLM`'s generation methods (``await LLM.connect(url)``).

    Several generations may run at once (the server queues or batches them in its
    slots). ``close()`` (or ``async with``) releases the connections; the server
    and its model stay up.
    """

    def __init__(self, conn: Connection, info: ServerInfo) -> None:
        self._conn = conn
        self._info = info
        self._last_stats: GenerationStats | None = None
        self._closed = False

    # -- generation -----------------------------------------------------------------

    def chat(self, messages: Sequence[Message], *, tools: Any = None, tool_choice: Any = "auto",
             parallel_tool_calls: bool = False, enable_thinking: bool = True, json_schema: Any = None,
             logprobs: bool = False, top_logprobs: int = 0, **sampling: Any) -> RemoteStream:
        """Stream the answer to a conversation: :meth:`LLM.chat`, rendered and parsed by the server.

        The server applies the model's chat template (llama-server: ``--jinja``), the
        tool-call grammar and parser, and the JSON schema (``response_format``).
        It also tokenizes the prompt: llama-server parses control-token text inside
        messages (``<|im_end|>``) as control tokens, where :meth:`LLM.chat` keeps it
        text; remove such text from untrusted messages before sending them.
        """
        body, _, schema = chat_body(self._info.model, check_messages(messages), tools=tools,
                                    tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls,
                                    enable_thinking=enable_thinking, json_schema=json_schema, logprobs=logprobs,
                                    top_logprobs=top_logprobs, sampling=sampling)
        return self._stream("/v1/chat/completions", body, schema, top_logprobs)

    def complete(self, prompt: str, *, json_schema: Any = None, logprobs: bool = False, top_logprobs: int = 0,
                 **sampling: Any) -> RemoteStream:
        """Stream a plain continuation of ``prompt`` (``/v1/completions``): :meth:`LLM.complete`."""
        body, _, schema = completion_body(self._info.model, prompt, json_schema=json_schema, logprobs=logprobs,
                                          top_logprobs=top_logprobs, sampling=sampling)
        return self._stream("/v1/completions", body, schema, top_logprobs)

    def _stream(self, path: str, body: dict[str, Any], schema: Any, top: int) -> RemoteStream:
        self._check_open()
        return RemoteStream(self._conn, path, body, self._info.model, schema, self._set_stats, top)

    def _set_stats(self, stats: GenerationStats | None) -> None:
        if stats is not None:
            self._last_stats = stats

    async def run(self, messages: Sequence[Message], *, tools: Any, tool_choice: Any = "auto", max_rounds: int = 5,
                  raise_tool_errors: bool = False, **options: Any) -> str:
        """Chat with tools until the model answers, running its calls as Python: :meth:`LLM.run`."""
        return await run_tools(self, messages, tools=tools, tool_choice=tool_choice, max_rounds=max_rounds,
                               raise_tool_errors=raise_tool_errors, options=options)

    # -- embeddings -------------------------------------------------------------------

    async def embed(self, texts: str | Sequence[str], *, normalize: bool = True, pooling: str | None = None,
                    truncate: bool = True) -> Any:
        """Embedding vectors (``/v1/embeddings``): :meth:`LLM.embed`'s shapes (numpy when importable).

        The server pools as it was started (llama-server ``--pooling``), so ``pooling``
        must stay ``None``. It also decides about long texts: llama-server refuses one
        over its batch size, which raises :class:`ContextOverflowError` whatever
        ``truncate`` says (cut the texts first to embed their beginnings).
        """
        items, single = check_texts(texts)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be None (the model's), 'mean', 'cls' or 'last', got {pooling!r}")
        if pooling is not None:
            raise UnsupportedEnvironmentError("a server pools as it was started (llama-server --pooling); "
                                              "pooling= must be None with LLM.connect", "not_supported")
        for name, value in (("normalize", normalize), ("truncate", truncate)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        reply = await self._embeddings(items)
        vectors = [list(map(float, d["embedding"])) for d in sorted(reply["data"], key=lambda d: d["index"])]
        if normalize:
            vectors = [_unit(v) for v in vectors]
        try:
            import numpy as np
        except ImportError:
            return vectors[0] if single else vectors
        array = np.asarray(vectors, dtype=np.float32)
        return array[0] if single else array

    async def _embeddings(self, items: list[str]) -> dict[str, Any]:
        self._check_open()
        body: dict[str, Any] = {"model": self._info.model, "input": items, "encoding_format": "float"}
        reply = await self._conn.json("POST", "/v1/embeddings", body, self._info.model)
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list) or len(data) != len(items):
            raise RemoteError(f"{self._conn.url('/v1/embeddings')} did not answer one embedding per text",
                              "bad_response")
        return dict(reply)

    async def create_embedding(self, input: str | Sequence[str], **kw: Any) -> dict[str, Any]:
        """The server's ``/v1/embeddings`` reply, as it sent it (OpenAI's shape)."""
        items, _ = check_texts(input)
        self._check_open()
        return dict(await self._conn.json("POST", "/v1/embeddings",
                                          {"model": self._info.model, **kw, "input": items}, self._info.model))

    # -- OpenAI's call shapes: passed through --------------------------------------------

    async def create_chat_completion(self, messages: Sequence[Message], *, stream: bool = False,
                                     **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """``/v1/chat/completions`` with OpenAI's keywords, the server's reply as it sent it."""
        body = {"model": self._info.model, **kw, "messages": check_messages(messages)}
        return await self._openai("/v1/chat/completions", body, stream)

    async def create_completion(self, prompt: str, *, stream: bool = False,
                                **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """``/v1/completions`` with OpenAI's keywords, the server's reply as it sent it."""
        if not isinstance(prompt, str) or not prompt:
            raise ValueError("prompt must be a non-empty string")
        return await self._openai("/v1/completions", {"model": self._info.model, **kw, "prompt": prompt}, stream)

    async def _openai(self, path: str, body: dict[str, Any],
                      stream: bool) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        if not isinstance(stream, bool):
            raise ValueError("stream must be True or False")
        self._check_open()
        model = str(body.get("model"))
        if not stream:
            return dict(await self._conn.json("POST", path, {**body, "stream": False}, model))
        return ChunkStream(self._conn, path, {**body, "stream": True}, model)

    # -- tokens -----------------------------------------------------------------------

    async def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of ``text`` (llama-server's or vLLM's ``/tokenize``; elsewhere UnsupportedEnvironmentError)."""
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        # llama-server reads "content", vLLM "prompt" (and "add_special_tokens"): both are sent
        reply = await self._tokens("/tokenize", {"content": text, "prompt": text, "model": self._info.model,
                                                 "add_special": add_special, "add_special_tokens": add_special,
                                                 "parse_special": parse_special}, "tokens")
        return [int(t) for t in reply]

    async def detokenize(self, ids: Sequence[int], *, remove_special: bool = False,
                         unparse_special: bool = False) -> str:
        """Text of token ids (llama-server's or vLLM's ``/detokenize``)."""
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError("ids must be a list of integers")
        if remove_special or unparse_special:
            raise UnsupportedEnvironmentError("llama-server's /detokenize takes no remove_special/unparse_special",
                                              "not_supported")
        return str(await self._tokens("/detokenize", {"tokens": list(ids), "model": self._info.model},
                                      "content", "prompt"))

    async def _tokens(self, path: str, body: dict[str, Any], *fields: str) -> Any:
        """The first of ``fields`` in the reply of llama-server's (or vLLM's) token endpoints."""
        self._check_open()
        try:
            reply = await self._conn.json("POST", path, body)
        except UnsupportedEnvironmentError:
            raise UnsupportedEnvironmentError(f"{self._conn.url(path)} does not exist: tokenize/detokenize need "
                                              "llama.cpp's llama-server (or vLLM)", "not_supported") from None
        for name in fields:
            if isinstance(reply, dict) and name in reply:
                return reply[name]
        raise RemoteError(f"{self._conn.url(path)} answered without {' or '.join(fields)}", "bad_response")

    async def models(self) -> list[str]:
        """The names of the models the server serves now (``/v1/models``)."""
        self._check_open()
        return [str(m["id"]) for m in await _list_models(self._conn)]

    # -- many rows ----------------------------------------------------------------------

    def map(self, items: Sequence[str | Sequence[Message]], *, json_schema: Any = None, concurrency: int = 8,
            progress: MapProgress | bool | None = None, checkpoint: str | None = None,
            **sampling: Any) -> RemoteMapJob:
        """Generate for many prompts: ``async for index, text in llm.map(items)``, as :meth:`LLM.map`.

        Each item is a prompt string (``complete``) or a message list (``chat``); up to
        ``concurrency`` requests (1-64) are in flight and the server batches them (start
        llama-server with ``--parallel N``, vLLM batches by itself). Every row is checked
        before the first request. ``checkpoint=`` is the local engine's (browser storage).
        Keep ``concurrency`` at or under the server's slots: a request queued behind
        others gets no answer until its turn, and ``timeout=`` counts that wait.
        """
        unsupported = sorted({"tools", "tool_choice", "logprobs", "top_logprobs"} & set(sampling))
        if unsupported:
            raise ValueError(f"map does not take {', '.join(unsupported)}: run those rows with chat() one at a time")
        if checkpoint is not None:
            raise UnsupportedEnvironmentError("checkpoint= keeps finished rows in the browser's storage for the local "
                                              "engine; with a server, keep the texts map() yields", "not_supported")
        rows = check_items(items)
        n = check_remote_concurrency(concurrency)
        self._check_open()
        requests = []
        for row in rows:
            if isinstance(row, str):
                requests.append(("/v1/completions", *completion_body(
                    self._info.model, row, json_schema=json_schema, logprobs=False, top_logprobs=0,
                    sampling=dict(sampling))))
            else:
                requests.append(("/v1/chat/completions", *chat_body(
                    self._info.model, row, tools=None, tool_choice="auto", parallel_tool_calls=False,
                    enable_thinking=True, json_schema=json_schema, logprobs=False, top_logprobs=0,
                    sampling=dict(sampling))))

        def stream(index: int, on_stats: Callable[[GenerationStats | None], None]) -> RemoteStream:
            path, body, _, schema = requests[index]
            return RemoteStream(self._conn, path, body, self._info.model, schema, on_stats, 0)

        on_progress = resolve_progress(progress) if progress is not False else None
        return RemoteMapJob(len(rows), stream, n, on_progress)

    # -- what the local engine does and a server cannot ------------------------------------

    def session(self, *_: Any, **__: Any) -> Any:
        raise UnsupportedEnvironmentError("sessions keep the local engine's cache; with a server, keep the messages "
                                          "list and call chat() (llama-server reuses the cached prefix itself)",
                                          "not_supported")

    async def score(self, *_: Any, **__: Any) -> Any:
        raise UnsupportedEnvironmentError("score() reads the local engine's logits; a server has no such call",
                                          "not_supported")

    # -- state ------------------------------------------------------------------------

    @property
    def info(self) -> ServerInfo:
        """The server's URL, the model in use, and the models it serves."""
        return self._info

    @property
    def last_stats(self) -> GenerationStats | None:
        """Timings of the last finished generation, from the server's ``usage`` and ``timings``."""
        return self._last_stats

    def _check_open(self) -> None:
        if self._closed:
            raise LLMError("this connection is closed; call LLM.connect again", "no_model")

    async def close(self) -> None:
        """Release the connections (idempotent); the server keeps running."""
        if not self._closed:
            self._closed = True
            await self._conn.http.aclose()

    async def __aenter__(self) -> RemoteLLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else v


__all__ = ["RemoteLLM", "ServerInfo", "connect"]
