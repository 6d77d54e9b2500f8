"""Conversation state: ``llm.session()``, its turns, its KV cache, saved and restored.

Why: a notebook chat goes on for many turns. A session keeps the history and a
sequence id of the engine's context of its own, so each turn's prefill evaluates
only the new tokens (the engine reuses the longest cached prefix, see
``Engine::reuse_prefix``). Correctness never depends on that cache: the prompt is
the whole history rendered by the model's template every turn, and the engine
matches it by tokens, so a sequence another session (or ``map``) took only costs
a recompute.

A saved session is ``MAGIC``, a 4-byte header length, a JSON header (model identity,
``n_ctx``, the history, the cached tokens, the state's SHA-256) and llama.cpp's
sequence state.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

from ._chat import Message, check_messages
from ._errors import ContextOverflowError, LLMError, SessionStateError
from ._results import ModelInfo
from ._storage import check_name, record_store
from ._stream import TokenStream
from ._transport import Transport


class SessionHost(Protocol):
    """What a session needs of its model (``LLM``)."""

    _transport: Transport
    _sessions: SessionTable

    @property
    def info(self) -> ModelInfo: ...

    def _check_open(self) -> None: ...

    def _session_stream(self, session: Session, options: dict[str, Any]) -> TokenStream: ...

    async def _count_chat_tokens(self, messages: list[Message]) -> int: ...

MAGIC = b"PLMSESS\x01"
# Sequence 0 is the model's own chat/complete, 15 the prompt cache's (_prompt_cache.SEQ).
FIRST_SESSION_SEQ, N_SEQS = 1, 15
_IDENTITY = ("architecture", "name", "quantization", "n_params", "size", "n_vocab", "n_embd", "n_layer")


def model_identity(info: ModelInfo) -> dict[str, Any]:
    """What must match for a saved state to mean the same thing in another load."""
    return {k: getattr(info, k) for k in _IDENTITY}


def pack(header: dict[str, Any], state: bytes) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(head)) + head + state


def unpack(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The header and state of saved session bytes; :class:`SessionStateError` for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a saved session is bytes (or a stored session's name), got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise SessionStateError("these bytes are not a saved pyodide_llm session (use Session.save())", "bad_state")
    (n,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start:start + n])
        state = data[start + n:]
        ok = (isinstance(header, dict) and len(state) == header["state_size"]
              and hashlib.sha256(state).hexdigest() == header["state_sha256"])
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise SessionStateError("the saved session is damaged (its header or state does not check out)", "bad_state")
    return header, state


class Session:
    """A conversation with one model: ``chat.send(text)`` streams the answer and keeps both turns.

    Create it with :meth:`LLM.session` (or :meth:`LLM.session_from`). :attr:`messages` is
    the history (the system prompt first). ``overflow``: when the history no longer
    fits ``n_ctx`` (with room for ``max_tokens``), ``"truncate"`` drops the oldest
    turns (never the system prompt) with a ``RuntimeWarning``; ``"error"`` raises
    :class:`ContextOverflowError`.
    """

    def __init__(self, llm: SessionHost, messages: list[Message], overflow: str) -> None:
        if overflow not in ("truncate", "error"):
            raise ValueError(f"overflow must be 'truncate' or 'error', got {overflow!r}")
        self._llm = llm
        self._messages: list[Message] = messages
        self.overflow = overflow
        self._pending: TokenStream | None = None

    @property
    def messages(self) -> list[Message]:
        """The history: system prompt, then each turn (the last answer once its stream ended)."""
        self._settle(strict=False)
        return self._messages

    @property
    def seq(self) -> int:
        """The engine sequence that holds this session's cache (assigned on use)."""
        return self._llm._sessions.seq_of(self)

    def _settle(self, strict: bool = True) -> None:
        """Append the last answer once its stream has ended (or was broken off); a stream
        never read withdraws its question. ``strict``: a stream still running is an error."""
        s = self._pending
        if s is None:
            return
        if s.call is None:
            if strict:
                self._pending = None
                self._messages.pop()
            return
        if s.call.future.done() or s.finish_reason is not None:
            self._pending = None
            self._messages.append(s.message or {"role": "assistant", "content": s.shown})
            return
        if not strict:
            return
        raise LLMError("the previous answer of this session is still streaming; read it to the end or "
                       "`await stream.aclose()` before the next send", "busy")

    def send(self, text: str, **options: Any) -> TokenStream:
        """Ask ``text`` as the next user turn; stream the answer (``LLM.chat``'s options).

        Both turns are kept once the stream has ended (a broken-off answer is kept as
        far as it went). ``llm.last_stats.cached_tokens`` shows the history the engine
        did not evaluate again.
        """
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string")
        self._llm._check_open()
        self._settle()
        self._messages.append({"role": "user", "content": text})
        try:
            stream = self._llm._session_stream(self, options)
        except BaseException:
            self._messages.pop()
            raise
        self._pending = stream
        return stream

    async def fit(self, max_tokens: int) -> None:
        """Drop the oldest turns until the rendered history and ``max_tokens`` fit ``n_ctx``."""
        n_ctx = self._llm.info.n_ctx
        reserve = min(max_tokens, n_ctx // 2)
        dropped = 0
        while True:
            msgs = self._messages
            n = await self._llm._count_chat_tokens(msgs)
            if n + reserve <= n_ctx:
                break
            first = 1 if msgs and msgs[0].get("role") == "system" else 0
            # a turn: a user message and what answers it, up to the next user message
            end = first + 1
            while end < len(msgs) - 1 and msgs[end].get("role") != "user":
                end += 1
            if self.overflow == "error" or end >= len(msgs):
                raise ContextOverflowError(
                    f"the session's history is {n} tokens; with max_tokens={max_tokens} it does not fit "
                    f"n_ctx={n_ctx}" + ("" if self.overflow == "error" else " even with only the last turn") +
                    "; start a new session, shorten the message, or load with a larger n_ctx", "context_overflow")
            del msgs[first:end]
            dropped += end - first
        if dropped:
            warnings.warn(f"the session reached n_ctx={n_ctx}: its {dropped} oldest message(s) were dropped (the "
                          "system prompt is kept); pass overflow='error' to be told instead", RuntimeWarning,
                          stacklevel=4)

    async def save(self, name: str | None = None) -> bytes:
        """The session as bytes: llama.cpp's state of its sequence and the history.

        With ``name``, also kept in the browser's storage (OPFS), for
        ``await llm.session_from(name)`` after a page reload.
        """
        self._llm._check_open()
        self._settle()
        if name is not None:
            check_name(name, "name")
        state, tokens = await self._llm._sessions.save_state(self)
        header = {"version": 1, "model": model_identity(self._llm.info), "n_ctx": self._llm.info.n_ctx,
                  "messages": self._messages, "overflow": self.overflow, "tokens": tokens,
                  "state_size": len(state), "state_sha256": hashlib.sha256(state).hexdigest()}
        data = pack(header, state)
        if name is not None:
            await record_store().write("sessions", name, data)
        return data


class SessionTable:
    """Which session holds which engine sequence (1..15); the least recently used gives its up."""

    def __init__(self, llm: SessionHost) -> None:
        self._llm = llm
        self._owner: dict[int, Session] = {}  # insertion order: least recently used first

    def seq_of(self, session: Session) -> int:
        for seq, s in self._owner.items():
            if s is session:
                self._owner[seq] = self._owner.pop(seq)  # most recently used now
                return seq
        free = [q for q in range(FIRST_SESSION_SEQ, N_SEQS) if q not in self._owner]
        seq = free[0] if free else next(iter(self._owner))
        self._owner.pop(seq, None)
        self._owner[seq] = session
        return seq

    def holds(self, session: Session) -> bool:
        return any(s is session for s in self._owner.values())

    async def save_state(self, session: Session) -> tuple[bytes, list[int]]:
        if not self.holds(session):
            return b"", []
        reply = await self._llm._transport.start("seq_save", {"seq": session.seq}).future
        if not reply.get("ok"):
            return b"", []  # nothing cached (evicted for room): the history alone restores it
        state = reply["state"]
        raw = state.to_bytes() if hasattr(state, "to_bytes") else bytes(state)
        return raw, [int(t) for t in reply["tokens"]]

    async def restore(self, session: Session, state: bytes, tokens: Sequence[int]) -> None:
        if not state:
            return
        reply = await self._llm._transport.start("seq_restore", {"seq": self.seq_of(session), "state": state,
                                                                 "tokens": list(tokens)}).future
        if not reply.get("ok"):
            raise SessionStateError(f"the engine refused the saved state: {reply.get('message')}", "bad_state")


async def session_from(llm: SessionHost, data: bytes | str) -> Session:
    """See :meth:`LLM.session_from`."""
    llm._check_open()
    if isinstance(data, str):
        check_name(data, "name")
        stored = await record_store().read("sessions", data)
        if stored is None:
            raise SessionStateError(f"no saved session named {data!r} in this browser's storage", "bad_state")
        data = stored
    header, state = unpack(data)
    here = model_identity(llm.info)
    if header.get("model") != here:
        raise SessionStateError(f"the session was saved with another model ({header.get('model')}); this is "
                                f"{here}", "bad_state")
    if header.get("n_ctx") != llm.info.n_ctx:
        raise SessionStateError(f"the session was saved with n_ctx={header.get('n_ctx')}; this model is loaded with "
                                f"n_ctx={llm.info.n_ctx}: load it with the same n_ctx", "bad_state")
    try:
        messages = check_messages(header["messages"]) if header["messages"] else []
    except (ValueError, KeyError) as e:
        raise SessionStateError(f"the saved session's history is not a conversation: {e}", "bad_state") from None
    session = Session(llm, list(messages), str(header.get("overflow", "truncate")))
    await llm._sessions.restore(session, state, header.get("tokens") or [])
    return session
