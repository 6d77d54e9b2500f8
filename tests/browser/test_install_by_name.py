"""``await micropip.install("pyodide-llm", index_urls=[...])``: our wheel installed by name from a package index.

After a release users write ``micropip.install("pyodide-llm")`` (PyPI). Here the index is
a PyPI-style one on another port of 127.0.0.1 (tests/browser/simple_index.py), in both
forms micropip reads: PEP 691 JSON chosen by the Accept header, as PyPI serves it, and
PEP 503 HTML, as a static host serves a mirror. The page is the test site's, without
conftest's install by URL; after the install it loads SmolLM2 and completes greedily.
"""

from __future__ import annotations

import pytest

import conftest
from conftest import NATIVE_PROMPT
from pyodide_llm._host.serve import StaticServer
from simple_index import IndexHandler, build_index

GREEDY = " 6, 7, 8"  # native llama.cpp's greedy continuation of conftest.NATIVE_PROMPT

INSTALL = """
import importlib.metadata
import micropip
try:
    await micropip.install("pyodide-llm", index_urls=[{tampered!r}])
    refused = "installed"
except Exception as e:  # micropip raises RuntimeError("Invalid checksum: ...")
    refused = f"{{type(e).__name__}}: {{e}}"
await micropip.install("pyodide-llm", index_urls=[{index!r}])
import pyodide_llm
from pyodide_llm import LLM
llm = await LLM.load("models/smollm2.gguf", n_ctx=256)
text = "".join([p async for p in llm.complete({prompt!r}, max_tokens=8, temperature=0)])
variant = llm.info.variant
await llm.close()
_json.dumps({{"refused": refused, "version": pyodide_llm.__version__,
              "dist": importlib.metadata.version("pyodide-llm"), "source": micropip.list()["pyodide-llm"].source,
              "variant": variant, "text": text}})
"""


@pytest.fixture(scope="module")
def index(site, tmp_path_factory):
    """Two servers of one index folder holding dist/'s wheel: PEP 691 by Accept header, and HTML only."""
    root = tmp_path_factory.mktemp("index")
    servers = {"json": StaticServer(root, isolated=False, base=IndexHandler),
               "html": StaticServer(root, isolated=False, base=type("HTMLOnly", (IndexHandler,), {"negotiate": False}))}
    wheel = next((site / "wheels").glob("pyodide_llm-*.whl"))
    urls = {"json": build_index(root, wheel, servers["json"].url)}
    urls["html"] = urls["json"].replace(servers["json"].url, servers["html"].url)  # its HTML links are relative
    # The same wheel listed with another sha256: micropip must refuse it.
    tampered = build_index(root, wheel, servers["json"].url, prefix="tampered", sha256="0" * 64)
    yield wheel, servers, urls, {"json": tampered, "html": tampered.replace(servers["json"].url, servers["html"].url)}
    for server in servers.values():
        server.stop()


@pytest.fixture
def bare_page(servers):
    """The test page (Pyodide and micropip loaded, cross-origin isolated), nothing installed."""
    driver = conftest._driver()
    try:
        driver.get(servers["isolated"].url + "/index.html")
        page = conftest.Page(driver, servers["isolated"])
        page.wait_for("the test page's module script", lambda: driver.execute_script(
            "return window.pyodideReady !== undefined"), 30)
        yield page
    finally:
        driver.quit()


@pytest.mark.parametrize("form", ["json", "html"])
def test_micropip_installs_the_wheel_by_name_from_an_index(form, index, bare_page):
    wheel, servers, urls, tampered = index
    index_server = servers[form]
    before = len(index_server.requests)
    site_before = len(bare_page.server.requests)  # the site's server is shared with other modules' pages
    r = bare_page.run(INSTALL.format(index=urls[form], tampered=tampered[form], prompt=NATIVE_PROMPT), timeout=240)
    version = wheel.name.split("-")[1]
    assert r["refused"].startswith("RuntimeError: Invalid checksum: expected " + "0" * 64), r["refused"]
    assert r["version"] == r["dist"] == version, r
    assert r["source"] == "pypi", r  # micropip's word for a wheel from an index, hash checked
    assert r["text"].startswith(" 6,") and r["text"] == GREEDY, r
    assert r["variant"] == "wasm32-relaxed-mt", r
    # By name: the project page, then the wheel's METADATA (PEP 658) and the wheel, all from the index's origin
    # (micropip may have both files in flight at once, so their order in the server's log is not fixed).
    page = "/simple/pyodide-llm/" + (" as JSON" if form == "json" else "")
    got = index_server.requests[before:]
    assert len(got) == 6 and [got[0], sorted(got[1:3]), got[3], sorted(got[4:6])] == [
        "/tampered" + page, [f"/tampered/files/{wheel.name}", f"/tampered/files/{wheel.name}.metadata"],
        page, [f"/files/{wheel.name}", f"/files/{wheel.name}.metadata"]], got
    site = bare_page.server.requests[site_before:]
    assert not [p for p in site if p.startswith("/wheels/")], f"installed by URL, not by name: {site}"
    print(f"\nINSTALL BY NAME ({form}): pyodide-llm {r['version']} from {urls[form]}; {r['variant']}: {r['text']!r}")
