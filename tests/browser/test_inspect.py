"""pyodide_llm.inspect in the browser: the header only, with and without Range support."""

from __future__ import annotations

import pytest

INSPECT = """
import pyodide_llm
i = await pyodide_llm.inspect({url!r})
import js
got = [e.encodedBodySize for e in js.performance.getEntriesByType("resource") if e.name.endswith({url!r})]
_json.dumps({{"arch": i.architecture, "quant": i.quantization, "n_vocab": i.n_vocab, "ctx": i.context_length,
             "size": i.file_size, "header": i.header_bytes, "tensors": i.n_tensors, "params": i.n_params,
             "template": i.chat_template, "transferred": got}})
"""


@pytest.mark.parametrize("which", ["page", "plain_page"])
def test_inspect_reads_only_the_header(which, request, site):
    page = request.getfixturevalue(which)
    r = page.run(INSPECT.format(url="models/smollm2.gguf"))
    size = (site / "models" / "smollm2.gguf").stat().st_size
    assert r["arch"] == "llama" and r["quant"] == "Q4_1" and r["n_vocab"] == 49152 and r["ctx"] == 8192
    assert r["size"] == size and r["tensors"] == 272 and 130e6 < r["params"] < 140e6
    assert "im_start" in r["template"]
    if which == "page":  # Range requests: only the header's few MB crossed the network
        assert r["transferred"] and sum(r["transferred"]) < 16 << 20, r["transferred"]
        # SmolLM2's header is over the first read's 1 MiB: the second read asks for the bytes
        # after it only, so no byte crosses twice (it read 1 MiB + 2.1 MB before).
        assert len(r["transferred"]) == 2 and sum(r["transferred"]) <= r["header"] + (1 << 20), r
    # Without Range support the download is cancelled after the header; Chromium records no
    # resource timing entry for a cancelled body, so there the fields above are the check.


def test_inspect_errors_are_typed(page):
    r = page.run("""
import pyodide_llm
out = {}
for url in ("models/not-a-model.gguf", "models/missing.gguf", "models/truncated.gguf"):
    try:
        await pyodide_llm.inspect(url)
        out[url] = "no error"
    except pyodide_llm.LLMError as e:
        out[url] = [type(e).__name__, e.code]
_json.dumps(out)
""")
    assert r["models/not-a-model.gguf"] == ["ModelLoadError", "not_gguf"]
    assert r["models/missing.gguf"] == ["ModelSourceError", "http_error"]
    assert r["models/truncated.gguf"] == ["ModelLoadError", "load_failed"]


def test_a_model_too_large_for_every_variant_is_refused_before_download(page):
    before = len(page.server.requests)
    r = page.run("""
from pyodide_llm import LLM, ModelLoadError
try:
    await LLM.load("models/huge.gguf", n_ctx=512)
    out = "loaded"
except ModelLoadError as e:
    out = [e.code, str(e)]
_json.dumps(out)
""")
    assert r[0] == "out_of_memory", r
    assert "no engine variant can hold it" in r[1] and "GiB" in r[1]
    # Only the header was read: the 20 GiB body was never requested in full.
    assert page.server.requests[before:].count("/models/huge.gguf") <= 3
    assert page.alive()


def test_a_file_or_blob_loads_and_generates(page):
    r = page.run("""
import js
from pyodide_llm import LLM, ModelLoadError
blob = await (await js.fetch("models/smollm2.gguf")).blob()
stages = set()
llm2 = await LLM.load(blob, n_ctx=256, progress=lambda done, total, stage: stages.add(stage))
text = "".join([p async for p in llm2.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
await llm2.close()
try:
    await LLM.load(js.Blob.new(["<html>not a model</html>"]))
    bad = "loaded"
except ModelLoadError as e:
    bad = e.code
_json.dumps({"text": text, "stages": sorted(stages), "bad": bad})
""")
    assert r["text"] == " 6, 7, 8", r  # the native greedy continuation (conftest.NATIVE_PROMPT)
    assert r["stages"] == ["load", "read"]
    assert r["bad"] == "not_gguf"
