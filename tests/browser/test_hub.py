"""``hf://`` from a Chromium page: a Hub stand-in on another port (CORS real), the real wheel, engine and SmolLM2.

The stand-in (hubmimic.py) answers the Hub's tree API and ``resolve`` URLs as the Hub
does (paged listing, a redirect to the bytes, Range, CORS, 401 for a gated repository).
Its repository holds SmolLM2 under its own quantization's name, the same model as a
3-part split set under another name (the choice reads names and sizes only), and an
F16 entry listed at 20 GiB that exists nowhere: the choice by memory must skip it, and
nothing may ever request it.
"""

from __future__ import annotations

import pytest

from hubmimic import HubMimic

REPO = "acme/SmolLM2-135M-Instruct-GGUF"
GREEDY = " 6, 7, 8"  # native llama.cpp's greedy continuation of conftest.NATIVE_PROMPT
F16 = "SmolLM2-135M-Instruct-F16.gguf"

PRELUDE = """
import pyodide_llm
from pyodide_llm import LLM, LLMError

async def complete(llm):
    return "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])

async def failure(coro):
    try:
        await coro
    except LLMError as e:
        return [type(e).__name__, e.code, str(e)]
    return "no error"
"""


@pytest.fixture(scope="module")
def hub(site, tmp_path_factory):
    model = site / "models" / "smollm2.gguf"
    split = sorted((site / "models" / "split").glob("smollm2-0000?-of-00003.gguf"))
    files: dict[str, object] = {"README.md": 2 << 10, "SmolLM2-135M-Instruct.Q4_1.gguf": model, F16: 20 << 30,
                                "mmproj-SmolLM2-f16.gguf": 100 << 20}
    files |= {f"Q8_0/SmolLM2-135M-Instruct-Q8_0-0000{i}-of-00003.gguf": p for i, p in enumerate(split, 1)}
    mimic = HubMimic(tmp_path_factory.mktemp("hub"), {REPO: files, "acme/gated": {"m-Q4_1.gguf": model}},
                     gated=("acme/gated",))
    yield mimic
    mimic.stop()


def test_inspect_lists_the_repository_with_sizes(page, hub, site):
    r = page.run(PRELUDE + f"""
repo = await pyodide_llm.inspect("hf://{REPO}", hf_endpoint={hub.url!r})
info = await pyodide_llm.inspect("hf://{REPO}:q4_1", hf_endpoint={hub.url!r})
_json.dumps({{"type": type(repo).__name__, "quants": repo.quants, "text": str(repo),
             "files": [[f.path, f.quant, f.size, len(f.parts), f.sha256[0]] for f in repo.files],
             "projectors": [p.path for p in repo.projectors], "info": [info.architecture, info.quantization,
             info.file_size]}})
""")
    size = (site / "models" / "smollm2.gguf").stat().st_size
    split = sum(p.stat().st_size for p in (site / "models" / "split").glob("smollm2-0000?-of-00003.gguf"))
    assert r["type"] == "HubRepo" and r["quants"] == ["Q4_1", "Q8_0", "F16"]
    assert [f[:4] for f in r["files"]] == [
        ["SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1", size, 1],
        ["Q8_0/SmolLM2-135M-Instruct-Q8_0-00001-of-00003.gguf", "Q8_0", split, 3],
        [F16, "F16", 20 << 30, 1]]
    assert len(r["files"][0][4]) == 64 and r["projectors"] == ["mmproj-SmolLM2-f16.gguf"]
    assert "20.00 GiB" in r["text"] and "(3 parts)" in r["text"]
    assert r["info"] == ["llama", "Q4_1", size]
    # The listing came in pages (Link: rel="next", read through CORS); only the Q4_1 header was read.
    assert sum(1 for q in hub.requests if q.startswith("/api/models/")) >= 3
    assert not any(F16 in q for q in hub.requests)


def test_load_by_quantization_streams_the_greedy_answer(page, hub):
    r = page.run(PRELUDE + f"""
llm = await LLM.load("hf://{REPO}", quant="Q4_1", hf_endpoint={hub.url!r}, n_ctx=256)
out = {{"text": await complete(llm), "quant": llm.info.quantization, "sources": list(llm.load_report.sources)}}
await llm.close()
_json.dumps(out)
""")
    assert r == {"text": GREEDY, "quant": "Q4_1", "sources": ["network"]}
    assert any(q.startswith("/cdn/") and q.endswith(".Q4_1.gguf") for q in hub.requests)  # after the redirect


def test_without_quant_the_largest_that_fits_loads_all_its_parts(page, hub):
    before = len(hub.requests)
    r = page.run(PRELUDE + f"""
llm = await LLM.load("hf://{REPO}", hf_endpoint={hub.url!r}, n_ctx=256)
out = {{"text": await complete(llm), "sources": list(llm.load_report.sources), "variant": llm.info.variant}}
await llm.close()
_json.dumps(out)
""")
    assert r["text"] == GREEDY and r["sources"] == ["network"] * 3 and r["variant"] == "wasm32-relaxed-mt", r
    fetched = hub.requests[before:]
    assert not any(F16 in q for q in fetched)  # 20 GiB: over the 16 GiB variant, skipped unread
    for i in (1, 2, 3):
        assert any(q.startswith("/cdn/") and q.endswith(f"-0000{i}-of-00003.gguf") for q in fetched), fetched


def test_hub_errors_are_typed_and_say_what_to_do(page, hub):
    r = page.run(PRELUDE + f"""
ep = {hub.url!r}
out = {{
    "quant": await failure(LLM.load("hf://{REPO}", quant="IQ4_XS", hf_endpoint=ep)),
    "repo": await failure(LLM.load("hf://acme/nothing-here", hf_endpoint=ep)),
    "gated": await failure(LLM.load("hf://acme/gated:Q4_1", hf_endpoint=ep)),
    "offline": await failure(pyodide_llm.inspect("hf://{REPO}")),
}}
try:
    await LLM.load("hf://{REPO}@v1:Q4_1", revision="v2", hf_endpoint=ep)
except ValueError as e:
    out["conflict"] = str(e)
_json.dumps(out)
""")
    assert r["quant"][:2] == ["ModelSourceError", "file_not_found"]
    assert "has no IQ4_XS model; it has Q4_1 (93.8 MiB), Q8_0" in r["quant"][2] and "F16 (20.00 GiB)" in r["quant"][2]
    assert r["repo"][:2] == ["ModelSourceError", "file_not_found"] and "was not found on" in r["repo"][2]
    assert r["gated"][:2] == ["ModelSourceError", "http_error"], r["gated"]
    assert "refuses to send it to this page (HTTP 401)" in r["gated"][2] and "no Hugging Face token" in r["gated"][2]
    # The public Hub is the default; this offline Chromium cannot resolve it: a network error, typed.
    assert r["offline"][:2] == ["ModelSourceError", "network_error"] and "https://huggingface.co" in r["offline"][2]
    assert "the URL says revision 'v1' and revision= says 'v2'" in r["conflict"]
    assert not any(F16 in q for q in hub.requests) and page.alive()
