"""Model delivery in Chromium: the OPFS / Cache API cache, sha256, split models, broken downloads.

Every test runs the real wheel, worker, wasm and SmolLM2 (whole or as split
parts) against the test server, which can drop connections on request
(testsite.FaultyHandler). A model loaded at the start ("keep") must still
generate after every failure: bad input never harms another loaded model.
"""

from __future__ import annotations

import hashlib

import pytest

MODEL = "models/smollm2.gguf"
GREEDY = " 6, 7, 8"  # native llama.cpp's greedy continuation of conftest.NATIVE_PROMPT

COMPLETE = """
async def complete(llm):
    return "".join([p async for p in llm.complete("1, 2, 3, 4, 5,", max_tokens=8, temperature=0)])
"""

# Python run in the page before each test's own code.
PRELUDE = COMPLETE + """
import js
from pyodide.code import run_js
from pyodide_llm import LLM, LLMError, cache

def page_entries(part):
    return len([e for e in js.performance.getEntriesByType("resource") if part in e.name])

def report(llm):
    r = llm.load_report
    return {"sources": list(r.sources), "notices": list(r.notices), "requests": list(r.network_requests),
            "total_ms": r.total_ms, "load_ms": r.load_ms}

async def load_once(source, **kw):
    # Load, generate, close: the text, the load report and the wall time of the load.
    import time

    t = time.perf_counter()
    llm = await LLM.load(source, **kw)
    ms = (time.perf_counter() - t) * 1000
    text = await complete(llm)
    await llm.close()
    return {"text": text, "report": report(llm), "ms": ms, "size": llm.info.file_size}

async def failure(coro):
    try:
        llm = await coro
    except LLMError as e:
        return [type(e).__name__, e.code, str(e)]
    except ValueError as e:
        return ["ValueError", None, str(e)]
    await llm.close()
    return "loaded"
"""


def run(page, code: str, timeout: float = 180):
    return page.run(PRELUDE + code, timeout=timeout)


@pytest.fixture(scope="module")
def keep(page):
    """A model loaded (without the cache) before the delivery tests, checked after each."""
    page.run(COMPLETE + f"""
from pyodide_llm import LLM
import builtins
builtins.keep = await LLM.load({MODEL!r}, n_ctx=256, cache=False)
_json.dumps(1)
""")
    yield page


def keep_works(page) -> None:
    assert page.alive()
    text = page.run(COMPLETE + "import builtins\n_json.dumps(await complete(builtins.keep))")
    assert text == GREEDY


def test_second_load_comes_from_the_cache_with_no_network_request(keep, site):
    page = keep
    first = run(page, f"""
await cache.clear()
_json.dumps(await load_once({MODEL!r}, n_ctx=256))
""", timeout=300)
    served = len(page.server.requests)
    second = run(page, f"""
before = page_entries("smollm2.gguf")
out = await load_once({MODEL!r}, n_ctx=256)
out["page_new"] = page_entries("smollm2.gguf") - before
out["listed"] = [e.__dict__ | {{"stored_at": str(e.stored_at)}} for e in await cache.list()]
out["size"], out["usage"] = await cache.size(), await cache.usage()
_json.dumps(out)
""", timeout=300)
    path = site / MODEL
    assert first["text"] == second["text"] == GREEDY
    assert first["report"]["sources"] == ["network"] and len(first["report"]["requests"]) == 1
    # The cached load: the worker fetched nothing (its resource timing), neither did the page
    # (inspect read the header from the cache), and the server saw no request at all.
    assert second["report"]["sources"] == ["cache"] and second["report"]["requests"] == [], second["report"]
    assert second["page_new"] == 0
    assert page.server.requests[served:] == []
    [entry] = second["listed"]
    assert entry["complete"] and entry["url"].endswith("/" + MODEL)
    assert entry["size"] == entry["stored_bytes"] == path.stat().st_size == second["size"]
    assert entry["sha256"] is None and len(entry["checksum"]) == 32  # sha256 only when asked for
    assert second["usage"]["usage"] >= second["size"] and second["usage"]["quota"] > 0
    print(f"\nLOAD smollm2 cold {first['ms']:.0f} ms (worker {first['report']['total_ms']:.0f}), "
          f"cached {second['ms']:.0f} ms (worker {second['report']['total_ms']:.0f})")
    keep_works(page)


def test_cache_api_is_the_fallback_store(keep):
    r = run(keep, f"""
await cache.clear(storage="cache-api")
a = await load_once({MODEL!r}, n_ctx=256, cache="cache-api")
b = await load_once({MODEL!r}, n_ctx=256, cache="cache-api")
listed = [e.complete for e in await cache.list(storage="cache-api")]
removed = await cache.delete({MODEL!r}, storage="cache-api")
_json.dumps({{"a": a["report"], "b": b["report"], "text": b["text"], "listed": listed, "removed": removed,
             "after": len(await cache.list(storage="cache-api"))}})
""", timeout=300)
    assert r["a"]["sources"] == ["network"] and r["b"]["sources"] == ["cache"] and r["b"]["requests"] == []
    assert r["text"] == GREEDY and r["listed"] == [True] and r["removed"] == 1 and r["after"] == 0
    keep_works(keep)


DAMAGE = """
await run_js('''(async () => {{
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle("pyodide_llm-models");
  for await (const [name, h] of dir.entries()) {{
    if (!name.endsWith(".gguf")) continue;
    const w = await h.createWritable({{ keepExistingData: true }});
    {action}
    await w.close();
  }}
}})()''')
"""


@pytest.mark.parametrize("action,why", [
    ("await w.seek(5000000); await w.write(new Uint8Array(4096).fill(7));", "damaged on disk"),
    ("await w.truncate(1000000);", "holds 1000000 of"),
])
def test_a_damaged_cache_entry_is_detected_and_downloaded_again(keep, action, why):
    r = run(keep, f"""
await cache.clear()
await load_once({MODEL!r}, n_ctx=256)
{DAMAGE.format(action=action)}
damaged = await load_once({MODEL!r}, n_ctx=256)
again = await load_once({MODEL!r}, n_ctx=256)
_json.dumps({{"rep": damaged["report"], "text": damaged["text"], "again": again["report"]}})
""", timeout=300)
    assert r["rep"]["sources"] == ["network"] and r["text"] == GREEDY
    assert any(why in n for n in r["rep"]["notices"]), r["rep"]["notices"]
    assert r["again"]["sources"] == ["cache"] and r["again"]["notices"] == []  # the re-download was cached
    keep_works(keep)


def test_sha256_is_verified_while_streaming(keep, site):
    good = hashlib.sha256((site / MODEL).read_bytes()).hexdigest()
    r = run(keep, f"""
await cache.clear()
plain = await load_once({MODEL!r}, n_ctx=256)  # cached without a sha256
checked = await load_once({MODEL!r}, n_ctx=256, sha256={good.upper()!r})  # hashed while read from the cache
bad = await failure(LLM.load({MODEL!r}, n_ctx=256, sha256="0" * 64))
listed = [(e.url, e.complete) for e in await cache.list()]
bad_uncached = await failure(LLM.load({MODEL!r}, n_ctx=256, sha256="1" * 64, cache=False))
ok = await load_once({MODEL!r}, n_ctx=256, sha256={good!r})
stored = [e.sha256 for e in await cache.list()]
cached = await load_once({MODEL!r}, n_ctx=256, sha256={good!r})
malformed = await failure(LLM.load({MODEL!r}, sha256="abc"))
_json.dumps({{"texts": [plain["text"], checked["text"], ok["text"]], "bad": bad, "bad_uncached": bad_uncached,
             "listed": listed, "malformed": malformed, "stored": stored,
             "sources": [x["report"]["sources"] for x in (plain, checked, ok, cached)]}})
""", timeout=300)
    assert r["texts"] == [GREEDY] * 3
    assert r["sources"] == [["network"], ["cache"], ["network"], ["cache"]]
    for bad in (r["bad"], r["bad_uncached"]):
        assert bad[:2] == ["ModelSourceError", "checksum_mismatch"], bad
        assert good in bad[2]
    assert r["listed"] == []  # the mismatching entry was removed, nothing half-written remains
    assert r["stored"] == [good]
    assert r["malformed"][0] == "ValueError"
    keep_works(keep)


def test_a_split_model_loads_from_its_first_part_or_a_list(keep, site):
    parts = sorted((site / "models" / "split").glob("*.gguf"))
    r = run(keep, """
await cache.clear()
info = await __import__("pyodide_llm").inspect("models/split/smollm2-00001-of-00003.gguf")
a = await load_once("models/split/smollm2-00001-of-00003.gguf", n_ctx=256)
b = await load_once([f"models/split/smollm2-0000{i}-of-00003.gguf" for i in (1, 2, 3)], n_ctx=256)
_json.dumps({"text_a": a["text"], "text_b": b["text"], "a": a["report"], "b": b["report"], "size": a["size"],
             "inspect": [info.file_size, info.n_tensors, len(info.parts)]})
""", timeout=300)
    total = sum(p.stat().st_size for p in parts)
    assert len(parts) == 3
    assert r["text_a"] == r["text_b"] == GREEDY
    assert r["a"]["sources"] == ["network"] * 3 and len(r["a"]["requests"]) == 3
    assert r["b"]["sources"] == ["cache"] * 3 and r["b"]["requests"] == []
    assert r["size"] == total and r["inspect"] == [total, 272, 3]
    keep_works(keep)


def test_bad_split_sets_are_refused_before_download(keep):
    before = len(keep.server.requests)
    r = run(keep, """
out = {}
out["missing"] = await failure(LLM.load("models/gap/smollm2-00001-of-00004.gguf", n_ctx=256))
out["mixed"] = await failure(LLM.load(["models/split/smollm2-00001-of-00003.gguf",
    "models/other/smollm2-00002-of-00003.gguf", "models/split/smollm2-00003-of-00003.gguf"], n_ctx=256))
out["short"] = await failure(LLM.load(["models/split/smollm2-00001-of-00003.gguf",
    "models/split/smollm2-00002-of-00003.gguf"], n_ctx=256))
out["order"] = await failure(LLM.load(["models/split/smollm2-00002-of-00003.gguf",
    "models/split/smollm2-00001-of-00003.gguf", "models/split/smollm2-00003-of-00003.gguf"], n_ctx=256))
out["later"] = await failure(LLM.load("models/split/smollm2-00002-of-00003.gguf", n_ctx=256))
out["part_alone"] = await failure(LLM.load(["models/split/smollm2-00001-of-00003.gguf"], n_ctx=256))
_json.dumps(out)
""")
    assert r["missing"][:2] == ["ModelSourceError", "http_error"] and "00003-of-00004" in r["missing"][2]
    for key in ("mixed", "short", "order", "part_alone"):
        assert r[key][:2] == ["ModelLoadError", "split_mismatch"], (key, r[key])
    assert r["later"][0] == "ValueError" and "00001-of-00003" in r["later"][2]
    # Headers only: no whole part was downloaded (every request was a Range for the header).
    assert all("gguf" not in p or p.count("/") for p in keep.server.requests[before:])
    keep_works(keep)


def test_a_broken_download_resumes_with_range_requests(keep):
    r = run(keep, f"""
await cache.clear()
r = await load_once("{MODEL}?cut=20000000", n_ctx=256)
_json.dumps({{"text": r["text"], "rep": r["report"], "listed": [e.complete for e in await cache.list()]}})
""", timeout=300)
    assert r["text"] == GREEDY and r["rep"]["sources"] == ["network"]
    assert r["listed"] == [True]
    keep_works(keep)


def test_a_download_that_keeps_breaking_fails_and_leaves_no_entry(keep):
    r = run(keep, f"""
await cache.clear()
bad = await failure(LLM.load("{MODEL}?cut_every=20000000", n_ctx=256))
_json.dumps({{"bad": bad, "listed": [(e.url, e.complete) for e in await cache.list()]}})
""", timeout=300)
    assert r["bad"][:2] == ["ModelSourceError", "network_error"], r["bad"]
    assert "resumption" in r["bad"][2]
    assert r["listed"] == []
    keep_works(keep)


def test_without_range_support_a_broken_download_fails_clearly(plain_page):
    r = run(plain_page, f"""
bad = await failure(LLM.load("{MODEL}?cut=20000000", n_ctx=256))
_json.dumps({{"bad": bad, "listed": [(e.url, e.complete) for e in await cache.list()]}})
""", timeout=300)
    assert r["bad"][:2] == ["ModelSourceError", "network_error"], r["bad"]
    assert "Range" in r["bad"][2]
    assert r["listed"] == []
    assert plain_page.alive()


def test_a_stalling_server_is_a_timed_out_error_within_the_timeout(keep):
    """Issue 16: a server that stalls fails the load in about ``timeout=`` seconds, typed, whichever
    read it stalls (Python's header read, or the worker's download), and the page goes on."""
    r = run(keep, f"""
import time
await cache.clear()
out = {{}}
for name, query in (("header", "stall_all=1"), ("download", "stall=5000000")):
    t = time.perf_counter()
    out[name] = await failure(LLM.load("{MODEL}?" + query, n_ctx=256, timeout=2))
    out[name + "_s"] = time.perf_counter() - t
out["listed"] = [(e.url, e.complete) for e in await cache.list()]
out["after"] = (await load_once("{MODEL}", n_ctx=256, cache=False))["text"]
_json.dumps(out)
""", timeout=120)
    for name, said in (("header", "did not send the model's header within 2 s"), ("download", "stalled")):
        assert r[name][:2] == ["ModelSourceError", "timed_out"], r[name]
        assert said in r[name][2] and "timeout=" in r[name][2], r[name]
        assert r[name + "_s"] < 20, r
    assert r["listed"] == [] and r["after"] == GREEDY
    keep_works(keep)


def test_an_unknown_architecture_is_a_typed_error(keep):
    r = run(keep, 'bad = await failure(LLM.load("models/unknown-arch.gguf", n_ctx=128))\n_json.dumps(bad)')
    assert r[:2] == ["ModelLoadError", "unsupported_architecture"], r
    assert "plm-no-such-arch" in r[2]
    keep_works(keep)


def test_a_full_quota_is_a_clear_cache_error(keep):
    driver = keep.driver
    origin = keep.server.url
    driver.execute_cdp_cmd("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": 50_000_000})
    try:
        r = run(keep, f"""
await cache.clear()
bad = await failure(LLM.load({MODEL!r}, n_ctx=256))
ok = await LLM.load({MODEL!r}, n_ctx=256, cache=False)
text = await complete(ok)
await ok.close()
_json.dumps({{"bad": bad, "text": text, "listed": len(await cache.list())}})
""", timeout=300)
    finally:
        driver.execute_cdp_cmd("Storage.overrideQuotaForOrigin", {"origin": origin})
    assert r["bad"][:2] == ["CacheError", "quota_exceeded"], r["bad"]
    assert "MiB" in r["bad"][2] and "cache=False" in r["bad"][2]
    assert r["text"] == GREEDY and r["listed"] == 0
    keep_works(keep)


def test_revalidate_notices_a_file_changed_on_the_server(keep, site):
    import shutil

    mutable = site / "models" / "mutable.gguf"
    shutil.copyfile((site / MODEL).resolve(), mutable)
    first = run(keep, """
await cache.clear()
_json.dumps(await load_once("models/mutable.gguf", n_ctx=256))
""")
    with open(mutable, "ab") as f:  # the server's file changes (trailing bytes: still a loadable GGUF)
        f.write(bytes(4096))
    r = run(keep, """
stale = await load_once("models/mutable.gguf", n_ctx=256)
fresh = await load_once("models/mutable.gguf", n_ctx=256, cache="revalidate")
again = await load_once("models/mutable.gguf", n_ctx=256, cache="revalidate")
_json.dumps({"stale": stale["report"], "fresh": fresh["report"], "again": again["report"],
             "sizes": [e.size for e in await cache.list()], "text": fresh["text"]})
""")
    assert first["report"]["sources"] == ["network"]
    assert r["stale"]["sources"] == ["cache"]  # plain cache=True trusts the cached copy: no request
    assert r["fresh"]["sources"] == ["network"] and any("now" in n for n in r["fresh"]["notices"])
    assert r["again"]["sources"] == ["cache"] and r["again"]["notices"] == []
    assert r["sizes"] == [mutable.stat().st_size] and r["text"] == GREEDY
    keep_works(keep)
