"""``LLM.map``: many prompts generated together, each result as soon as its row finishes.

Why: a data app labels or extracts over hundreds of rows. Decoding one token reads
every weight once whatever the number of sequences in the batch, so the engine
decodes up to ``concurrency`` rows in one llama.cpp batch (a sequence id each; see
the worker's ``generate_batch``). Rows are rendered here (a message list through
the model's chat template, a string as it is), results are cut at stop strings
exactly as a single generation's are, and finished rows can be kept in the
browser (``checkpoint=``) so a long job survives a reload.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._chat import check_messages
from ._errors import GenerationCancelled, error_from_reply
from ._options import Sampling
from ._text import TextAssembler
from ._transport import PendingCall, Transport

MAX_CONCURRENCY = 16  # the engine's sequence ids (protocol.json limits.concurrency)
MapProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class MapStats:
    """What a :meth:`LLM.map` call did: rows generated here (not those a checkpoint had),
    tokens, the wall time in the engine, and the most rows that ran at once."""

    rows: int
    from_checkpoint: int
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    elapsed_ms: float
    peak_concurrency: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / (self.elapsed_ms / 1000) if self.elapsed_ms > 0 else 0.0


def check_concurrency(concurrency: Any) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be an integer from 1 to {MAX_CONCURRENCY} (the engine's sequences), "
                         f"got {concurrency!r}")
    return concurrency


def check_items(items: Any) -> list[str | list[dict[str, Any]]]:
    """Each item is a prompt string or a message list (checked like ``chat``'s)."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise ValueError("items must be a non-empty list of prompt strings or message lists")
    out: list[str | list[dict[str, Any]]] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise ValueError(f"items[{i}] is an empty prompt")
            out.append(item)
        elif isinstance(item, Sequence) and not isinstance(item, bytes):
            try:
                out.append(check_messages(item))
            except ValueError as e:
                raise ValueError(f"items[{i}]: {e}") from None
        else:
            raise ValueError(f"items[{i}] must be a prompt string or a list of messages, got {type(item).__name__}")
    return out


class Checkpoint:
    """Finished rows of a named job, kept in the browser's storage (see :mod:`pyodide_llm.cache`).

    A row is keyed by the model, the sampling and its rendered prompt, so the same call
    after a reload finds it, and a row whose prompt changed is generated again.
    """

    def __init__(self, store: Any, name: str, salt: str) -> None:
        self.store = store
        self.name = name
        self.salt = salt
        self.done: dict[str, tuple[str, str]] = {}  # key -> (text, finish_reason)
        self._lines: list[str] = []
        self._flushing: asyncio.Task[None] | None = None

    def key(self, prompt: str) -> str:
        return hashlib.sha256((self.salt + "\0" + prompt).encode()).hexdigest()[:32]

    async def load(self) -> None:
        data = await self.store.read("checkpoints", self.name)
        for line in (data or b"").decode("utf-8", "replace").splitlines():
            try:
                rec = json.loads(line)
                self.done[str(rec["k"])] = (str(rec["text"]), str(rec["finish_reason"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a closed tab: that row is generated again

    def add(self, key: str, text: str, reason: str) -> None:
        self._lines.append(json.dumps({"k": key, "text": text, "finish_reason": reason}) + "\n")
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        while self._lines:
            chunk, self._lines = "".join(self._lines), []
            await self.store.append("checkpoints", self.name, chunk.encode())

    async def wait(self) -> None:
        while self._flushing is not None and not self._flushing.done():
            await self._flushing


@dataclass(frozen=True)
class MapHooks:
    """The model's side of a job: wait until it is free (or refuse: busy), and track
    the running request (one generation at a time per model)."""

    begin: Callable[[], Awaitable[Any]]
    on_start: Callable[[PendingCall], None]
    on_done: Callable[[PendingCall, dict[str, Any] | None], None]


class MapJob:
    """The rows of :meth:`LLM.map` as they finish: ``async for index, text in job``.

    ``await job.collect()`` returns every text in the items' order. Leaving the loop
    (``break``), ``await job.aclose()`` or cancelling the task stops the engine within
    a token; the model stays loaded. Rows a ``checkpoint`` already had come first.
    :attr:`stats` describes the run once it has ended; :attr:`finish_reasons` maps each
    row to ``"stop"``, ``"length"`` or ``"context_full"``.
    """

    def __init__(self, transport: Transport, items: list[str | list[dict[str, Any]]], sampling: Sampling,
                 concurrency: int, hooks: MapHooks, progress: MapProgress | None = None,
                 checkpoint: Checkpoint | None = None) -> None:
        self._transport = transport
        self._items = items
        self._sampling = sampling
        self._concurrency = concurrency
        self._hooks = hooks
        self._progress = progress
        self._checkpoint = checkpoint
        self._queue: asyncio.Queue[tuple[int, str] | None] = asyncio.Queue()
        self._results: dict[int, str] = {}
        #: Each finished row's reason: ``"stop"``, ``"length"`` or ``"context_full"``.
        self.finish_reasons: dict[int, str] = {}
        self.call: PendingCall | None = None
        self._closed = False
        self._started = False
        self._from_checkpoint = 0
        #: What the run did (:class:`MapStats`), once it has ended; ``None`` before.
        self.stats: MapStats | None = None

    def __aiter__(self) -> MapJob:
        return self

    async def _render(self) -> tuple[list[str], list[str | list[int]], tuple[str, ...]]:
        """Each row's prompt text (its checkpoint key) and what the engine generates from:
        the text, or a chat's tokens (message text kept from becoming control tokens)."""
        prompts: list[str] = []
        inputs: list[str | list[int]] = []
        stops = set(self._sampling.stop)
        for item in self._items:
            if isinstance(item, str):
                prompts.append(item)
                inputs.append(item)
                continue
            fmt = await self._transport.call("chat_format", {"messages": item, "add_generation_prompt": True})
            prompts.append(str(fmt["prompt"]))
            inputs.append([int(t) for t in fmt["tokens"]])
            stops.update(s for s in fmt.get("stops") or () if s)
        return prompts, inputs, tuple(sorted(stops))

    async def _start(self) -> None:
        self._started = True
        await self._hooks.begin()
        prompts, inputs, stops = await self._render()
        todo: list[int] = []
        keys: list[str] = []
        if self._checkpoint is not None:
            await self._checkpoint.load()
        for i, prompt in enumerate(prompts):
            key = self._checkpoint.key(prompt) if self._checkpoint is not None else ""
            keys.append(key)
            if self._checkpoint is not None and key in self._checkpoint.done:
                text, reason = self._checkpoint.done[key]
                self._from_checkpoint += 1
                self._deliver(i, text, reason)
            else:
                todo.append(i)
        total = len(prompts)
        if not todo:
            self._queue.put_nowait(None)
            self.stats = MapStats(0, self._from_checkpoint, 0, 0, 0, 0.0, 0)
            return
        queue, results, reasons, progress, ckpt = self._queue, self._results, self.finish_reasons, self._progress, \
            self._checkpoint

        def on_event(type: str, data: dict[str, Any]) -> None:
            if type == "notice":
                warnings.warn(str(data["message"]), RuntimeWarning, stacklevel=1)
                return
            if type != "row":
                return
            index = todo[int(data["index"])]
            text = TextAssembler(stops)
            out = text.feed(bytes(data["bytes"])) + text.flush()
            reason = "stop" if text.stopped else str(data["finish_reason"])
            results[index] = out
            reasons[index] = reason
            queue.put_nowait((index, out))
            if ckpt is not None:
                ckpt.add(keys[index], out, reason)
            if progress is not None:
                progress(len(results), total, "map")

        payload = {"items": [inputs[i] for i in todo], "max_tokens": self._sampling.max_tokens,
                   "sampling": self._sampling.engine_payload(), "concurrency": self._concurrency,
                   "stops": list(stops)}
        self.call = self._transport.start("generate_batch", payload, on_event)
        self._hooks.on_start(self.call)
        self.call.future.add_done_callback(lambda _f: queue.put_nowait(None))

    def _deliver(self, index: int, text: str, reason: str) -> None:
        self._results[index] = text
        self.finish_reasons[index] = reason
        self._queue.put_nowait((index, text))

    async def __anext__(self) -> tuple[int, str]:
        if not self._started:
            try:
                await self._start()
            except BaseException:
                self._closed = True
                raise
        while True:
            if self._closed and self._queue.empty():
                raise StopAsyncIteration
            try:
                item = await self._queue.get()
            except asyncio.CancelledError:
                self._cancel()
                raise
            if item is not None:
                return item
            if self.call is None or self._closed:
                self._closed = True
                raise StopAsyncIteration
            await self._end()

    async def _end(self) -> None:
        """The batch request ended: record its stats, raise its error."""
        assert self.call is not None
        reply = self.call.future.result()
        self._closed = True
        self._hooks.on_done(self.call, reply)
        if self._checkpoint is not None:
            await self._checkpoint.wait()
        s = reply.get("stats") or {}
        self.stats = MapStats(int(s.get("rows", 0)), self._from_checkpoint, int(s.get("n_prompt", 0)),
                              int(s.get("n_cached", 0)), int(s.get("n_generated", 0)), float(s.get("elapsed_ms", 0)),
                              int(reply.get("peak", 0)))
        if not reply.get("ok"):
            if self.call.cancelled and reply.get("code") == "aborted":
                raise StopAsyncIteration
            raise error_from_reply(reply)
        raise StopAsyncIteration

    async def collect(self) -> list[str]:
        """Run every row; return the texts in the items' order."""
        async for _ in self:
            pass
        missing = [i for i in range(len(self._items)) if i not in self._results]
        if missing:
            raise GenerationCancelled(f"the map was stopped before {len(missing)} of its rows finished (rows "
                                      f"{missing[:10]}); the finished ones came through the loop", "aborted")
        return [self._results[i] for i in range(len(self._items))]

    def _cancel(self) -> None:
        self._closed = True
        if self.call is not None and not self.call.cancelled and not self.call.future.done():
            self.call.cancelled = True
            self._transport.start("cancel", {"target": self.call.id})
            self._hooks.on_done(self.call, None)

    async def aclose(self) -> None:
        """Stop the rows still generating and wait until the engine is idle."""
        self._cancel()
        if self.call is not None and not self.call.future.done():
            await asyncio.wait_for(asyncio.shield(self.call.future), timeout=30)
        if self._checkpoint is not None:
            await self._checkpoint.wait()

    def __del__(self) -> None:
        try:
            self._cancel()
        except Exception:  # interpreter shutdown: nothing left to cancel
            pass
