"""LLM.connect from a Chromium page: llama-server on another port (so CORS is real), the page's fetch.

The page is the cross-origin isolated test page (COOP/COEP, as users' threaded
pages are); llama-server answers CORS for local origins (``serve-model``'s flags).
Greedy parity: the same prompts through the server and through the in-browser
engine, on the same model, in the same page.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "remote"))

import faults
from llama_servers import API_KEY, FEWSHOT, TOOL_TEMPLATE, minilm, smollm2, start

from recipes.llama_server import free_port

CHAT = [{"role": "user", "content": "What is the capital of France? Answer in two sentences."}]
NATIVE_PROMPT = "1, 2, 3, 4, 5,"  # clear greedy winners for 8 tokens (conftest.py)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start(tmp_path_factory, smollm2(), "browser-chat")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    s = start(tmp_path_factory, smollm2(), "browser-keyed", api_key=API_KEY, chat_template_file=TOOL_TEMPLATE)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def embed_server(tmp_path_factory):
    s = start(tmp_path_factory, minilm(), "browser-embed", embeddings=True, n_ctx=512)
    yield s
    s.stop()


def test_schema_tools_and_embeddings_from_the_page(page, keyed_server, embed_server) -> None:
    out = page.run(f"""
from dataclasses import dataclass
from pyodide_llm import LLM, ToolCall

@dataclass
class Person:
    name: str
    age: int

def get_weather(city: str) -> str:
    \"\"\"The weather in a city.\"\"\"
    return "18 C"

llm = await LLM.connect({keyed_server.url!r}, api_key={API_KEY!r})
person = await llm.chat([{{"role": "user", "content": "Invent a person."}}], json_schema=Person, temperature=0,
                        max_tokens=60).json()
stream = llm.chat({FEWSHOT!r}, tools=[get_weather], tool_choice="required", temperature=0, max_tokens=60)
calls = [x for x in [x async for x in stream] if isinstance(x, ToolCall)]
answer = await llm.run({FEWSHOT!r}, tools=[get_weather], temperature=0, max_tokens=60)
await llm.close()
emb = await LLM.connect({embed_server.url!r})
vectors = await emb.embed(["A man is eating food.", "A man is eating pasta.", "A woman is playing violin."])
await emb.close()
sims = [float(sum(a * b for a, b in zip(vectors[0], v))) for v in vectors[1:]]
_json.dumps(dict(person=[type(person).__name__, person.name, person.age], calls=[[c.name, c.arguments] for c in calls],
                 answer=answer, dim=len(vectors[0]), sims=sims))
""", timeout=120)
    assert out["person"][0] == "Person" and out["person"][1] and isinstance(out["person"][2], int), out
    assert out["calls"] == [["get_weather", {"city": "Paris"}]], out
    assert out["answer"], out
    # all-MiniLM-L6-v2's own cosines (tests/fixtures/minilm_reference.json): 0.7035, -0.0704.
    assert out["dim"] == 384 and abs(out["sims"][0] - 0.703549) < 2e-3 and abs(out["sims"][1] + 0.070385) < 2e-3, out


def _busy(url: str) -> bool:
    with urllib.request.urlopen(url + "/slots", timeout=10) as r:
        return any(s.get("is_processing") for s in json.loads(r.read()))


def test_the_page_streams_from_the_server_and_matches_the_local_engine(page, server) -> None:
    out = page.run(f"""
from pyodide_llm import LLM
remote = await LLM.connect({server.url!r})
stream = remote.chat({CHAT!r}, temperature=0, max_tokens=24)
pieces = [x async for x in stream]
r_complete = await remote.complete({NATIVE_PROMPT!r}, temperature=0, max_tokens=8).text()
stats = remote.last_stats
local = await LLM.load("models/smollm2.gguf", n_ctx=512)
l_chat = await local.chat({CHAT!r}, temperature=0, max_tokens=24, cache_prompt=False).text()
l_complete = await local.complete({NATIVE_PROMPT!r}, temperature=0, max_tokens=8, cache_prompt=False).text()
await local.close(keep_engine=False)
await remote.close()
_json.dumps(dict(pieces=pieces, r_complete=r_complete, l_chat=l_chat, l_complete=l_complete,
                 generated=stats.generated_tokens, origin=str(__import__("js").location.origin),
                 isolated=bool(__import__("js").crossOriginIsolated)))
""", timeout=240)
    assert out["isolated"] and out["origin"] != server.url  # a cross-origin request from an isolated page
    assert len(out["pieces"]) > 3 and out["generated"] >= len(out["pieces"])
    assert out["r_complete"] == out["l_complete"], out
    assert "".join(out["pieces"]) == out["l_chat"], out


def test_breaking_off_in_the_page_stops_the_server(page, server) -> None:
    for how in ("break", "aclose"):
        page.run(f"""
from pyodide_llm import LLM
remote = await LLM.connect({server.url!r})
n = 0
if {how!r} == "aclose":
    stream = remote.complete({NATIVE_PROMPT!r}, temperature=0, max_tokens=3000, ignore_eos=True)
    async for _ in stream:
        n += 1
        if n == 5:
            break
    await stream.aclose()
else:  # break out of a loop over the call itself: nothing else holds the stream
    async for _ in remote.complete({NATIVE_PROMPT!r}, temperature=0, max_tokens=3000, ignore_eos=True):
        n += 1
        if n == 5:
            break
_json.dumps(n)
""")
        t0 = time.monotonic()
        while _busy(server.url) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert not _busy(server.url), f"{how}: the server kept generating after the page stopped reading"
    assert page.run(f"""
from pyodide_llm import LLM
_json.dumps(await (await LLM.connect({server.url!r})).complete("1, 2,", max_tokens=3, temperature=0).text())
""").strip()


ERRORS = """
import asyncio, time
import pyodide_llm as p

async def first_error(url, **kw):
    t0 = time.monotonic()
    try:
        llm = await p.LLM.connect(url, **kw)
        await llm.chat([{"role": "user", "content": "Count to fifty."}], temperature=0, max_tokens=200).text()
    except p.LLMError as e:
        return [type(e).__name__, e.code, getattr(e, "status", None), str(e), time.monotonic() - t0,
                getattr(e, "retry_after", None)]
    return None
"""


def test_every_error_reaches_the_page_typed(page, server, keyed_server, tmp_path_factory) -> None:
    silent = faults.Silent()
    cut = faults.Proxy(server.url, cut_after=4000)
    garbage = faults.Canned(faults.GARBAGE_STREAM, {"/v1/models": faults.MODELS})
    limited = faults.Canned(faults.RATE_LIMITED)
    stalled = faults.Canned(faults.STALLED_STREAM, {"/v1/models": faults.MODELS}, hold=True)
    backlogged = faults.Backlogged()
    foreign = start(tmp_path_factory, smollm2(), "browser-foreign", cors_origins="http://example.test")
    try:
        cases = {
            "nothing": (f"http://127.0.0.1:{free_port()}", {}),
            "no_cors": (foreign.url, {}),
            "wrong_key": (keyed_server.url, {"api_key": "wrong"}),
            "no_model": (server.url, {"model": "llama-70b"}),
            "silent": (silent.url, {"timeout": 1.5, "connect_timeout": 1.5}),
            "cut": (cut.url, {}),
            "garbage": (garbage.url, {}),
            "limited": (limited.url, {}),
            "stalled": (stalled.url, {"timeout": 1.5}),
            # A browser does not say when a connection opened: connect and first answer are one wait.
            "unopened": (backlogged.url, {"timeout": 1.5, "connect_timeout": 1.5}),
        }
        got = page.run(ERRORS + "\n".join(
            f"r_{k} = await first_error({u!r}, **{kw!r})" for k, (u, kw) in cases.items()) +
            "\n_json.dumps({" + ", ".join(f"{k!r}: r_{k}" for k in cases) + "})", timeout=120)
    finally:
        for s in (silent, cut, garbage, limited, stalled, backlogged, foreign):
            s.stop()
    expect = {"nothing": ("RemoteConnectionError", "connect_failed", None),
              "no_cors": ("RemoteConnectionError", "connect_failed", None),
              "wrong_key": ("AuthenticationError", "unauthorized", 401),
              "no_model": ("ModelNotFoundError", "model_not_found", 404),
              "silent": ("RemoteTimeoutError", "read_timeout", None),
              "cut": ("RemoteConnectionError", "connection_lost", None),
              "garbage": ("RemoteError", "bad_response", None),
              "limited": ("RateLimitError", "rate_limited", 429),
              "stalled": ("RemoteTimeoutError", "read_timeout", None),
              "unopened": ("RemoteTimeoutError", "read_timeout", None)}
    for name, (cls, code, status) in expect.items():
        assert got[name] is not None and got[name][:3] == [cls, code, status], (name, got[name])
        assert got[name][4] < 20, (name, got[name])
    assert "CORS" in got["no_cors"][3] and "Invalid API Key" in got["wrong_key"][3]
    assert got["limited"][5] == 7.0  # Retry-After reaches a page when the server exposes it (CORS)
    assert page.alive()
