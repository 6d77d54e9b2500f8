"""A fake engine behind the Transport seam, for host tests of the Python API.

It behaves like the worker: one request id each, token events one per event
loop turn, cancellation seen between tokens, error replies with engine codes.
Every request it is sent and every reply it gives is checked against
protocol.json, so the Python side cannot drift from the table.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from pyodide_llm._protocol import EVENTS, check_payload, check_reply
from pyodide_llm._transport import EventHandler, PendingCall, Transport

INFO = {"architecture": "llama", "name": "Fake", "description": "llama 135M Q4_1", "quantization": "Q4_1",
        "n_params": 134515008, "size": 1, "file_size": 92000000, "n_ctx_train": 8192, "n_ctx": 2048,
        "n_embd": 576, "n_layer": 30, "n_vocab": 49152, "chat_template": "{{ chatml }}", "n_threads": 2,
        "n_gpu_layers": 0, "backend": "cpu", "gpu_device": "", "gpu_model_bytes": 0, "gpu_kv_bytes": 0}
GPU_DEVICE = "WebGPU (Fake Adapter)"


def fake_parse(text: str, partial: bool = False) -> dict[str, Any]:
    """The fake template's parser: ``<think>...</think>`` is reasoning, each
    ``<call>{"name": ..., "arguments": {...}}</call>`` a tool call, the rest the answer.
    A call or a reasoning block still open (``partial``) is held back as llama.cpp's parser does."""
    reasoning = "".join(re.findall(r"<think>(.*?)</think>", text, re.S))
    calls = [json.loads(c) for c in re.findall(r"<call>(.*?)</call>", text, re.S)]
    rest = re.sub(r"<think>.*?</think>|<call>.*?</call>", "", text, flags=re.S)
    if partial:
        open_think = rest.find("<think>")
        if open_think >= 0:
            reasoning += rest[open_think + len("<think>"):]
            rest = rest[:open_think]
        rest = rest.split("<call>")[0]
    return {"role": "assistant", "content": rest.strip() if not partial else rest.lstrip(),
            "reasoning_content": reasoning,
            "tool_calls": [{"name": c["name"], "arguments": json.dumps(c["arguments"]), "id": ""} for c in calls]}


class _CheckedFuture(asyncio.Future):
    """A reply future that refuses replies protocol.json does not allow for its request."""

    def __init__(self, type: str, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._type = type

    def set_result(self, result: Any) -> None:
        check_reply(self._type, result)
        super().set_result(result)


def _checked_events(on_event: EventHandler) -> EventHandler:
    def relay(name: str, data: dict[str, Any]) -> None:
        # logprob/top_logprobs (delta) ride on token events only when the generate request asked for
        # them (named a chat syntax).
        optional = {"logprob", "top_logprobs", "delta"} if name == "token" else set()
        assert set(EVENTS[name]) - optional <= set(data) <= set(EVENTS[name]), (name, data)
        on_event(name, data)
    return relay


class FakeTransport(Transport):
    def __init__(self, tokens: list[bytes] | None = None, *, load_error: tuple[str, str] | None = None,
                 n_ctx: int = 2048, hang_on_load: bool = False, gpu_capacity: int = INFO["n_layer"] + 1,
                 generate_error: tuple[str, str] | None = None, script: list[list[bytes]] | None = None,
                 thinking: bool = False) -> None:
        """``gpu_capacity``: layers the fake's GPU holds (llama.cpp offloads what fits; 0: no GPU at all).

        ``script``: the tokens of each generation in turn (then ``tokens``); ``thinking``: the
        fake's template reasons (its chat_format says supports_thinking).
        """
        self.tokens = tokens if tokens is not None else [b"Hello", b",", b" world", b"."]
        self.script = list(script or [])
        self.thinking = thinking
        self.load_error = load_error
        self.generate_error = generate_error
        self.gpu_capacity = gpu_capacity
        self.n_ctx = n_ctx
        self.hang_on_load = hang_on_load
        self.sent: list[tuple[int, str, dict[str, Any]]] = []
        self.cancelled: set[int] = set()
        self.steps_after_cancel: dict[int, int] = {}
        self.closed = False
        self.terminated = False
        self.next_id = 1
        self.running: int | None = None
        self.seqs: dict[int, str] = {}  # what each engine sequence holds (its prompt + answer text)
        self.row_room = 16  # rows the fake's context holds at once (generate_batch warns above it)
        self._tasks: set[asyncio.Task[None]] = set()  # the event loop holds tasks weakly

    def start(self, type: str, payload: dict[str, Any], on_event: EventHandler | None = None) -> PendingCall:
        check_payload(type, payload)
        rid = self.next_id
        self.next_id += 1
        self.sent.append((rid, type, payload))
        fut: asyncio.Future = _CheckedFuture(type, asyncio.get_event_loop())
        if on_event is not None:
            on_event = _checked_events(on_event)
        if self.closed:
            fut.set_result({"ok": False, "code": "engine_crashed", "message": "closed"})
        elif type == "load" and self.hang_on_load:
            pass  # a download that never finishes: only cancellation ends the wait
        elif type in ("generate", "generate_batch"):
            run = self._generate if type == "generate" else self._generate_batch
            task = asyncio.ensure_future(run(rid, payload, on_event, fut))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            fut.set_result(self._reply(type, payload, on_event))
        return PendingCall(id=rid, type=type, future=fut)

    def _reply(self, type: str, p: dict[str, Any], on_event: EventHandler | None) -> dict[str, Any]:
        if type == "load":
            if on_event:
                on_event("progress", {"loaded": 50, "total": 100, "stage": "download"})
                on_event("progress", {"loaded": 100, "total": 100, "stage": "download"})
            if self.load_error:
                return {"ok": False, "code": self.load_error[0], "message": self.load_error[1]}
            return {"ok": True, "info": dict(INFO, n_ctx=p["n_ctx"], n_threads=p["n_threads"],
                                             **self._offload(p.get("n_gpu_layers", 0))), "load_ms": 1.0}
        if type == "chat_format":
            def text(m: dict[str, Any]) -> str:
                calls = "".join(f"<call>{c['function']['arguments']}</call>" for c in m.get("tool_calls", []))
                return (m.get("content") or "") + calls
            prompt = "".join(f"<|{m['role']}|>{text(m)}\n" for m in p["messages"]) + "<|assistant|>"
            choice = p.get("tool_choice", "auto")
            grammar = "root ::= call" if p.get("tools") and choice != "none" else ""
            return {"ok": True, "prompt": prompt, "tokens": [ord(c) for c in prompt], "guarded": 0, "stops": [],
                    "supports_thinking": self.thinking,
                    "syntax": {"format": 1, "parser": "fake", "tools": [t["function"]["name"]
                                                                      for t in p.get("tools") or []]},
                    "sampling": {"grammar": grammar, "grammar_lazy": choice == "auto", "grammar_triggers": [],
                                 "preserved_tokens": [], "generation_prompt": ""}}
        if type == "embed":  # the fake's embedding: [length, vowels, 1], unit length if asked; 40 chars fit
            def vec(t: str) -> list[float]:
                v = [float(min(len(t), 40)), float(sum(c in "aeiou" for c in t[:40])), 1.0]
                n = sum(x * x for x in v) ** 0.5 if p.get("normalize", True) else 1.0
                return [x / n for x in v]
            long = [len(t) > 40 for t in p["texts"]]
            if any(long) and not p.get("truncate", True):
                return {"ok": False, "code": "context_overflow", "message": "a text does not fit (truncate=False)"}
            return {"ok": True, "embeddings": [vec(t) for t in p["texts"]], "pooling": max(p.get("pooling", -1), 1),
                    "n_tokens": [len(t) for t in p["texts"]], "truncated": long}
        if type == "chat_parse":
            return {"ok": True, "message": fake_parse(p["text"], p.get("partial", False))}
        if type == "tokenize":
            return {"ok": True, "tokens": [ord(c) for c in p["text"]]}
        if type == "detokenize":
            return {"ok": True, "text": "".join(chr(t) for t in p["tokens"])}
        if type == "score":  # the fake's model: token t follows with logprob -t/100
            lps = [-t / 100 for t in p["tokens"][1:]]
            return {"ok": True, "tokens": p["tokens"], "logprobs": lps, "total": sum(lps)}
        if type == "seq_save":
            if not self.seqs.get(p["seq"]):
                return {"ok": False, "code": "bad_request", "message": "the sequence holds no tokens"}
            held = self.seqs[p["seq"]]
            return {"ok": True, "state": b"STATE:" + held.encode(), "tokens": [ord(c) for c in held]}
        if type == "seq_restore":
            state = bytes(p["state"])
            if not state.startswith(b"STATE:") or [ord(c) for c in state[6:].decode()] != p["tokens"]:
                return {"ok": False, "code": "bad_state", "message": "llama.cpp refused the saved state"}
            self.seqs[p["seq"]] = state[6:].decode()
            return {"ok": True, "n_tokens": len(p["tokens"])}
        if type == "seq_drop":
            self.seqs.pop(p["seq"], None)
            return {"ok": True}
        if type == "cancel":
            self.cancelled.add(p["target"])
            return {"ok": True}
        if type == "close":
            self.closed = True
            return {"ok": True}
        return {"ok": False, "code": "bad_request", "message": f"fake has no {type}"}

    def _offload(self, asked: int) -> dict[str, Any]:
        """What llama.cpp reports: -1 is every layer (n_layer + 1 with the output layer), capped by the device."""
        every = INFO["n_layer"] + 1
        n = min(every if asked < 0 else asked, every, self.gpu_capacity)
        return {"n_gpu_layers": n, "backend": "webgpu" if n > 0 else "cpu", "gpu_device": GPU_DEVICE if n else "",
        "gpu_model_bytes": 90 << 20 if n else 0, "gpu_kv_bytes": 1 << 20 if n else 0}

    async def _generate(self, rid: int, p: dict[str, Any], on_event: EventHandler | None, fut) -> None:
        if self.generate_error:
            fut.set_result({"ok": False, "code": self.generate_error[0], "message": self.generate_error[1]})
            return
        if self.running is not None:
            fut.set_result({"ok": False, "code": "busy", "message": "busy"})
            return
        if len(p["prompt"]) >= self.n_ctx:
            fut.set_result({"ok": False, "code": "context_overflow", "message": "prompt too long"})
            return
        self.running = rid
        n = 0
        seq = p.get("seq", 0)
        cached = 0  # the longest prefix any sequence holds (the engine shares it across sequences)
        for held in self.seqs.values():
            k = 0
            while k < min(len(held), len(p["prompt"]) - 1) and held[k] == p["prompt"][k]:
                k += 1
            cached = max(cached, k)
        self.seqs[seq] = p["prompt"]
        if p.get("save_prefix") and on_event:
            on_event("state", {"state": b"STATE:" + p["prompt"].encode(), "tokens": [ord(c) for c in p["prompt"]]})
        tokens = self.script.pop(0) if self.script else self.tokens
        said = b""
        try:
            for tok in tokens[: p["max_tokens"]]:
                await asyncio.sleep(0)
                if rid in self.cancelled:
                    fut.set_result({"ok": False, "code": "aborted", "message": "generation cancelled"})
                    return
                n += 1
                self.seqs[seq] += tok.decode(errors="ignore")
                if on_event:
                    data: dict[str, Any] = {"token": n, "bytes": tok}
                    if p.get("logprobs", -1) >= 0:  # the fake's choice is always its best: logprob -0.1
                        data |= {"logprob": -0.1, "top_logprobs": [[n, -0.1], [n + 1, -2.5]][: p["logprobs"]]}
                    if "syntax" in p:  # what the parsed message gained with this token
                        before = fake_parse(said.decode(errors="ignore"), True)
                        said += tok
                        after = fake_parse(said.decode(errors="ignore"), True)
                        data["delta"] = {k: after[f][len(before[f]):] for k, f in
                                         (("content", "content"), ("reasoning", "reasoning_content"))
                                         if len(after[f]) > len(before[f])}
                    on_event("token", data)
            await asyncio.sleep(0)
            stats = {"n_prompt": len(p["prompt"]), "n_cached": cached, "n_generated": n, "prefill_ms": 10.0,
                     "decode_ms": 20.0 * max(n, 1), "load_ms": 1.0}
            finish = "length" if n == p["max_tokens"] else "stop"
            fut.set_result({"ok": True, "stats": stats, "finish_reason": finish})
        finally:
            self.running = None

    @staticmethod
    def row_answer(prompt: str) -> list[bytes]:
        """The fake's answer to a batched row: "re:" and the prompt's last 6 characters, 2 bytes a token."""
        text = ("re:" + prompt[-6:]).encode()
        return [text[i:i + 2] for i in range(0, len(text), 2)]

    async def _generate_batch(self, rid: int, p: dict[str, Any], on_event: EventHandler | None, fut) -> None:
        """Rows finish shortest answer first (not in order), one token of every running row per step."""
        # a chat row comes as chat_format's tokens: the fake's tokens are characters
        p = dict(p, items=[x if isinstance(x, str) else "".join(chr(t) for t in x) for x in p["items"]])
        if self.running is not None:
            fut.set_result({"ok": False, "code": "busy", "message": "busy"})
            return
        long = [i for i, x in enumerate(p["items"]) if len(x) >= self.n_ctx]
        if long:
            fut.set_result({"ok": False, "code": "context_overflow", "message": f"row {long[0]} does not fit"})
            return
        self.running = rid
        conc = min(p.get("concurrency", 8), self.row_room)
        if p.get("concurrency", 8) > self.row_room and on_event:
            on_event("notice", {"message": f"the context holds only {self.row_room} of these rows at once"})
        todo = list(range(len(p["items"])))
        active: dict[int, list[bytes]] = {}
        done: dict[int, list[bytes]] = {}
        stats = {"rows": 0, "n_prompt": 0, "n_cached": 0, "n_generated": 0, "elapsed_ms": 1.0}
        peak = 0
        try:
            while todo or active:
                while todo and len(active) < conc:
                    i = todo.pop(0)
                    active[i] = []
                    stats["n_prompt"] += len(p["items"][i])
                peak = max(peak, len(active))
                await asyncio.sleep(0)
                if rid in self.cancelled:
                    fut.set_result({"ok": False, "code": "aborted", "message": "cancelled", "stats": stats})
                    return
                for i in list(active):
                    answer = self.row_answer(p["items"][i])
                    if len(active[i]) < min(len(answer), p["max_tokens"]):
                        active[i].append(answer[len(active[i])])
                        stats["n_generated"] += 1
                    text = b"".join(active[i]).decode(errors="ignore")
                    stopped = any(x in text for x in p.get("stops") or [])
                    if stopped or len(active[i]) >= min(len(answer), p["max_tokens"]):
                        chunks = done[i] = active.pop(i)
                        reason = "stop" if stopped or len(chunks) == len(answer) else "length"
                        stats["rows"] += 1
                        if on_event:
                            on_event("row", {"index": i, "bytes": b"".join(chunks), "finish_reason": reason,
                                             "n_prompt": len(p["items"][i]), "n_cached": 0,
                                             "n_generated": len(chunks)})
            fut.set_result({"ok": True, "stats": stats, "peak": peak, "limited": conc < p.get("concurrency", 8)})
        finally:
            self.running = None

    async def close(self, keep_engine: bool = True) -> None:
        self.closed = True
        self.kept = keep_engine

    def terminate(self) -> None:
        self.closed = True
        self.terminated = True

    def count(self, type: str) -> int:
        return sum(1 for _, t, _ in self.sent if t == type)
