"""``RemoteLLM.map``: many rows as concurrent requests, each result as its row finishes.

Why requests and not one batch: a server batches by itself (llama-server's
slots, vLLM's continuous batching), so the client keeps ``concurrency`` requests
in flight and the server decodes them together. The job has the local
:class:`MapJob`'s surface: ``async for index, text``, ``collect()``, ``aclose()``,
``stats``, ``finish_reasons``, ``progress``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .._errors import GenerationCancelled
from .._map import MapProgress, MapStats
from .._results import GenerationStats
from .._stream import TokenStream

MAX_REMOTE_CONCURRENCY = 64
# One row's stream, given the row and where its stats go.
RowStream = Callable[[int, Callable[[GenerationStats | None], None]], TokenStream]


class RemoteMapJob:
    """The rows of :meth:`RemoteLLM.map` as they finish: ``async for index, text in job``.

    ``await job.collect()`` returns the texts in the items' order. Leaving the loop
    (``break``), ``aclose()`` or cancelling the task closes every open request (the
    server stops those rows). The first failing row's error is raised and the
    others are stopped.
    """

    def __init__(self, n_rows: int, stream: RowStream, concurrency: int, progress: MapProgress | None) -> None:
        self._n = n_rows
        self._stream = stream
        self._concurrency = min(concurrency, n_rows)
        self._progress = progress
        self._queue: asyncio.Queue[tuple[int, str] | BaseException | None] = asyncio.Queue()
        self._results: dict[int, str] = {}
        self._stats: list[GenerationStats] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._next = 0
        self._idle = 0  # workers that found no row left
        self._running = 0
        self._peak = 0
        self._t0 = 0.0
        self._closed = False
        self.finish_reasons: dict[int, str] = {}
        self.stats: MapStats | None = None

    def __aiter__(self) -> RemoteMapJob:
        return self

    async def _worker(self) -> None:
        while self._next < self._n and not self._closed:
            index = self._next
            self._next += 1
            self._running += 1
            self._peak = max(self._peak, self._running)
            stream = self._stream(index, lambda s: self._stats.append(s) if s is not None else None)
            try:
                text = await stream.text()
            except asyncio.CancelledError:
                await stream.aclose()
                raise
            except BaseException as e:  # the job's consumer raises it
                self._queue.put_nowait(e)
                return
            finally:
                self._running -= 1
            self.finish_reasons[index] = stream.finish_reason or "stop"
            self._queue.put_nowait((index, text))
        self._queue.put_nowait(None)  # this worker is done

    async def __anext__(self) -> tuple[int, str]:
        if not self._tasks and not self._closed:
            self._t0 = time.monotonic()
            self._tasks = [asyncio.ensure_future(self._worker()) for _ in range(self._concurrency)]
        while not self._closed:
            try:
                item = await self._queue.get()
            except asyncio.CancelledError:
                self._cancel()
                raise
            if self._closed:  # aclose() from another task woke this one
                break
            if isinstance(item, BaseException):
                self._cancel()
                raise item
            if item is None:
                self._idle += 1
                if self._idle == len(self._tasks):
                    self._finish()
                    raise StopAsyncIteration
                continue
            index, text = item
            self._results[index] = text
            if self._progress is not None:
                self._progress(len(self._results), self._n, "map")
            return index, text
        raise StopAsyncIteration

    def _finish(self) -> None:
        self._closed = True
        s = self._stats
        self.stats = MapStats(len(self._results), 0, sum(x.prompt_tokens for x in s), sum(x.cached_tokens for x in s),
                              sum(x.generated_tokens for x in s), (time.monotonic() - self._t0) * 1000, self._peak)

    async def collect(self) -> list[str]:
        """Run every row; return the texts in the items' order."""
        async for _ in self:
            pass
        missing = [i for i in range(self._n) if i not in self._results]
        if missing:
            raise GenerationCancelled(f"the map was stopped before {len(missing)} of its rows finished (rows "
                                      f"{missing[:10]}); the finished ones came through the loop", "aborted")
        return [self._results[i] for i in range(self._n)]

    def _cancel(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        self._queue.put_nowait(None)  # wake a consumer waiting for the next row

    async def aclose(self) -> None:
        """Stop the rows still generating (their connections close)."""
        self._cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def __del__(self) -> None:
        try:
            self._cancel()
        except Exception:  # no loop left
            pass


def check_remote_concurrency(concurrency: Any) -> int:
    if (isinstance(concurrency, bool) or not isinstance(concurrency, int)
            or not 1 <= concurrency <= MAX_REMOTE_CONCURRENCY):
        raise ValueError(f"concurrency must be an integer from 1 to {MAX_REMOTE_CONCURRENCY} (requests in flight), "
                         f"got {concurrency!r}")
    return concurrency
