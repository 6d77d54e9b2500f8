"""A prompt cache that survives page reloads: the keys/values of long prompt prefixes, in OPFS.

Why: a notebook asks several questions about one long document, or every page load
starts with the same long system prompt. The engine reuses a cached prefix within a
page; this keeps the state of long prompts in the browser (``LLM.load(...,
prompt_cache=True)``), keyed by the model and the prompt's tokens, so the first
generation of a later page load that starts with the same tokens restores it
instead of evaluating it again.

How: before a generation the prompt is tokenized and the stored entry sharing the
longest prefix with it (at least ``MIN_REUSE`` tokens) is restored into the engine's
prompt-cache sequence (``SEQ``); the engine's prefix reuse then shares its cells with
the generation's own sequence. A prompt of ``MIN_SAVE`` tokens or more that no entry
covers is saved by the worker right after its prefill (a ``state`` event). Entries
are evicted least recently used first beyond the size limit.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ._errors import SessionStateError
from ._storage import RecordStore
from ._transport import Transport

SEQ = 15  # the engine sequence that holds restored prefixes (sessions use 1..14)
MIN_SAVE = 256  # tokens: shorter prompts are cheap to evaluate again
MIN_REUSE = 64
KIND = "prompts"
INDEX = "index.json"
MIB = 1 << 20


@dataclass
class Entry:
    key: str
    model: str
    tokens: list[int]
    size: int
    used: float

    def common(self, tokens: Sequence[int]) -> int:
        n = 0
        for a, b in zip(self.tokens, tokens, strict=False):
            if a != b:
                break
            n += 1
        return n


def check_limit(prompt_cache: Any) -> int:
    """``prompt_cache=`` as a byte limit (0: off). ``True`` is 512 MiB, an int is MiB."""
    if prompt_cache is False or prompt_cache is None:
        return 0
    if prompt_cache is True:
        return 512 * MIB
    if isinstance(prompt_cache, int) and prompt_cache > 0:
        return prompt_cache * MIB
    raise ValueError(f"prompt_cache must be True, False or a size in MiB (> 0), got {prompt_cache!r}")


class PromptCache:
    """The stored prefixes of one model (see the module docstring)."""

    def __init__(self, store: RecordStore, model: dict[str, Any], limit: int) -> None:
        self.store = store
        self.model = hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()[:16]
        self.limit = limit
        self.loaded: str | None = None  # the entry SEQ holds in this page
        self.saves: list[Any] = []  # writes in flight (tests await them)

    async def _entries(self) -> list[Entry]:
        raw = await self.store.read(KIND, INDEX)
        try:
            return [Entry(**e) for e in json.loads(raw or b"[]")]
        except (ValueError, TypeError):
            return []  # a damaged index forgets the cache, it never breaks a generation

    async def _write_index(self, entries: list[Entry]) -> None:
        await self.store.write(KIND, INDEX, json.dumps([asdict(e) for e in entries]).encode())

    async def prepare(self, transport: Transport, payload: dict[str, Any], seq: int) -> None:
        """Restore the best stored prefix of this prompt; ask for the prompt's state if none covers it."""
        if "tokens" in payload:  # a chat: chat_format tokenized it
            tokens = [int(t) for t in payload["tokens"]]
        else:
            reply = await transport.call("tokenize", {"text": payload["prompt"], "add_special": True,
                                                      "parse_special": True})
            tokens = [int(t) for t in reply["tokens"]]
        entries = [e for e in await self._entries() if e.model == self.model]
        best = max(entries, key=lambda e: e.common(tokens), default=None)
        common = best.common(tokens) if best is not None else 0
        if best is not None and common >= MIN_REUSE and best.key != self.loaded:
            state = await self.store.read(KIND, best.key)
            if state is not None and hashlib.sha256(state).hexdigest()[:32] == best.key:
                r = await transport.start("seq_restore", {"seq": SEQ, "state": state, "tokens": best.tokens}).future
                if r.get("ok"):
                    self.loaded = best.key
                    best.used = time.time()
                    await self._write_index(await self._touch(best))
        if len(tokens) >= MIN_SAVE and common < len(tokens) - 16:
            payload["save_prefix"] = True

    async def _touch(self, entry: Entry) -> list[Entry]:
        entries = await self._entries()
        for e in entries:
            if e.key == entry.key:
                e.used = entry.used
        return entries

    async def save(self, state: bytes, tokens: list[int]) -> None:
        """Keep a prompt's state; evict least recently used entries beyond the limit."""
        if not state or len(state) > self.limit:
            return
        key = hashlib.sha256(state).hexdigest()[:32]
        entries = [e for e in await self._entries() if e.key != key]
        entries.append(Entry(key, self.model, tokens, len(state), time.time()))
        entries.sort(key=lambda e: e.used)
        while sum(e.size for e in entries) > self.limit:
            await self.store.delete(KIND, entries.pop(0).key)
        await self.store.write(KIND, key, state)
        await self._write_index(entries)


async def listing(store: RecordStore) -> list[dict[str, Any]]:
    """The stored prefixes: size in bytes, tokens, when last used."""
    raw = await store.read(KIND, INDEX)
    try:
        entries = json.loads(raw or b"[]")
    except ValueError:
        raise SessionStateError("the prompt cache's index is damaged; clear it with "
                                "pyodide_llm.cache.clear_prompt_cache()", "bad_state") from None
    return [{"key": e["key"], "bytes": e["size"], "tokens": len(e["tokens"]), "used": e["used"]} for e in entries]


async def clear(store: RecordStore) -> int:
    """Remove every stored prefix; returns how many there were."""
    names = await store.list(KIND)
    for name in names:
        await store.delete(KIND, name)
    return len([n for n in names if n != INDEX])
