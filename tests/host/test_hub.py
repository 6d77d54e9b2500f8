"""Models from the Hugging Face Hub: ``hf://`` URLs, the tree listing, the choice of a file, every error.

The Hub is faked at its HTTP seam (``get(url) -> HttpReply``) with its own URL
layout and reply shapes; ``LLM.load`` end to end fakes the browser side as
test_gpu.py does (capabilities, header bytes, the engine), plus that GET.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import re
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

import pyodide_llm
from fake_transport import FakeTransport
from pyodide_llm import LLM, HubFile, HubRepo, ModelLoadError, ModelSourceError
from pyodide_llm import _inspect as inspect_module
from pyodide_llm import _llm as llm_module
from pyodide_llm import _loading as loading_module
from pyodide_llm._gguf import GGUFInfo
from pyodide_llm._hub import (
    DEFAULT_ENDPOINT,
    HttpReply,
    HubRef,
    candidates,
    hub_endpoint,
    hub_ref,
    largest_fitting,
    list_repo,
    parse_hub_url,
    quant_of,
)

GIB = 1 << 30
EP = "https://hub.test"
SHA = "ab" * 32
PAGE = {"cross_origin_isolated": True, "threads": True, "memory64": True, "relaxed_simd": True, "simd": True,
        "jspi": True, "hardware_concurrency": 4,
        "webgpu": {"available": False, "reason": "no adapter", "adapter": None}}
PLAIN_PAGE = dict(PAGE, cross_origin_isolated=False, threads=False)  # wasm32-st: 4 GiB


def run(coro):
    return asyncio.run(coro)


def entry(path: str, size: int, sha: str | None = SHA) -> dict[str, Any]:
    """One file of the tree API, as the Hub writes it (LFS files carry ``lfs``)."""
    e: dict[str, Any] = {"type": "file", "oid": "0" * 40, "size": size, "path": path}
    if sha:
        e["lfs"] = {"oid": sha, "size": size, "pointerSize": 134}
    return e


# A GGUF repository as bartowski/unsloth lay them out: single files, a split model in a folder,
# a projector, an importance matrix, the README.
TREE = [
    {"type": "file", "oid": "1" * 40, "size": 1519, "path": ".gitattributes"},
    entry("README.md", 4000, None),
    entry("Model-Q2_K.gguf", 1 * GIB),
    entry("Model-Q4_K_M.gguf", int(3.5 * GIB)),
    entry("Model-q8_0.gguf", 7 * GIB),
    {"type": "directory", "oid": "2" * 40, "size": 0, "path": "F16"},
    entry("F16/Model-F16-00001-of-00002.gguf", 10 * GIB),
    entry("F16/Model-F16-00002-of-00002.gguf", 10 * GIB),
    entry("mmproj-Model-f16.gguf", 600 << 20),
    entry("Model.imatrix.gguf", 5 << 20),
]


class FakeHub:
    """The Hub's tree API at ``EP``: repositories by (repo_id, revision), paged like the Hub (``Link``)."""

    def __init__(self, repos: dict[tuple[str, str], list[dict[str, Any]]] | None = None, page: int = 1000,
                 status: int = 200, body: bytes | None = None) -> None:
        self.repos = repos if repos is not None else {("acme/Model-GGUF", "main"): TREE}
        self.page, self.status, self.body = page, status, body
        self.requests: list[str] = []

    async def get(self, url: str) -> HttpReply:
        self.requests.append(url)
        if self.status != 200 or self.body is not None:
            return HttpReply(self.status, {}, self.body or b'{"error":"Repository not found"}')
        prefix = f"{EP}/api/models/"
        assert url.startswith(prefix), url
        path, _, query = url[len(prefix):].partition("?")
        owner, name, tree, revision = path.split("/", 3)
        assert tree == "tree" and "recursive=true" in query, url
        from urllib.parse import unquote

        entries = self.repos.get((f"{owner}/{name}", unquote(revision)))
        if entries is None:
            return HttpReply(404, {}, b'{"error":"Repository not found"}')
        start = int(query.partition("cursor=")[2] or 0)
        headers = {}
        if start + self.page < len(entries):
            headers["link"] = f'<{prefix}{path}?recursive=true&cursor={start + self.page}>; rel="next"'
        return HttpReply(200, headers, json.dumps(entries[start:start + self.page]).encode())


def listed(url: str = "hf://acme/Model-GGUF", hub: FakeHub | None = None, **kw: Any) -> tuple[HubRef, HubRepo]:
    ref = parse_hub_url(url, endpoint=EP, **kw)
    return ref, run(list_repo(ref, (hub or FakeHub()).get))


# -- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "want"), [
    ("hf://acme/Model-GGUF", ("acme/Model-GGUF", "main", "", None)),
    ("hf://acme/Model-GGUF/", ("acme/Model-GGUF", "main", "", None)),
    ("hf://acme/Model-GGUF@v1.0", ("acme/Model-GGUF", "v1.0", "", None)),
    ("hf://acme/Model-GGUF:q4_k_m", ("acme/Model-GGUF", "main", "", "Q4_K_M")),
    ("hf://acme/Model-GGUF@0123abc:UD-Q4_K_XL", ("acme/Model-GGUF", "0123abc", "", "UD-Q4_K_XL")),
    ("hf://acme/Model-GGUF/Model-Q2_K.gguf", ("acme/Model-GGUF", "main", "Model-Q2_K.gguf", None)),
    ("hf://acme/Model-GGUF@refs%2Fpr%2F3/F16/", ("acme/Model-GGUF", "refs/pr/3", "F16", None)),
    ("hf://a.b_c/d-e.f", ("a.b_c/d-e.f", "main", "", None)),
])
def test_hub_urls_parse(url, want) -> None:
    ref = parse_hub_url(url, endpoint=EP)
    assert (ref.repo_id, ref.revision, ref.path, ref.quant) == want
    assert ref.endpoint == EP


@pytest.mark.parametrize(("url", "kw", "why"), [
    ("hf://acme", {}, "not a Hub model URL"),
    ("hf:/acme/m", {}, "not a Hub model URL"),
    ("hf://acme/m@", {}, "revision after @ is empty"),
    ("hf://acme/m:", {}, "quantization after : is empty"),
    ("hf://acme/m:Q4 K", {}, "not a quantization name"),
    ("hf://-acme/m", {}, "not a Hub owner or repository name"),
    ("hf://acme/m--x", {}, "not a Hub owner or repository name"),
    ("hf://datasets/acme/m", {}, "model repositories"),
    ("hf://acme/m/a/../b.gguf", {}, "'..' segment"),
    ("hf://acme/m/a//b.gguf", {}, "empty, '.' or '..' segment"),
    ("hf://acme/m:Q4_0/x.gguf", {}, "not both"),
    ("hf://acme/m/x.gguf", {"quant": "Q4_0"}, "not both"),
    ("hf://acme/m:Q4_0", {"quant": "Q8_0"}, "the URL says quant 'Q4_0' and quant= says 'Q8_0'"),
    ("hf://acme/m@v1", {"revision": "v2"}, "the URL says revision"),
    ("hf://acme/m", {"quant": ""}, "quant must be a non-empty string"),
    ("hf://acme/m", {"quant": "Q4 K"}, "quant must be a non-empty string like Q4_K_M"),
    ("hf://acme/m", {"revision": 3}, "revision must be a non-empty string"),
])
def test_bad_hub_urls_raise_value_error(url, kw, why) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_hub_url(url, endpoint=EP, **kw)


def test_url_and_arguments_may_say_the_same() -> None:
    ref = parse_hub_url("hf://acme/m@v1:q4_0", revision="v1", quant="Q4_0", endpoint=EP)
    assert (ref.revision, ref.quant) == ("v1", "Q4_0")
    assert parse_hub_url("hf://acme/m", revision="refs/pr/1", endpoint=EP).tree_url() == (
        f"{EP}/api/models/acme/m/tree/refs%2Fpr%2F1?recursive=true")


def test_the_endpoint_is_the_argument_else_hf_endpoint_else_the_public_hub(monkeypatch) -> None:
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert hub_endpoint() == DEFAULT_ENDPOINT == "https://huggingface.co"
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.test/")
    assert hub_endpoint() == "https://mirror.test"
    assert hub_endpoint("http://127.0.0.1:8000/hub/") == "http://127.0.0.1:8000/hub"
    for bad in ("huggingface.co", "ftp://x", "", "https://"):
        with pytest.raises(ValueError, match="hf_endpoint must be"):
            hub_endpoint(bad)


def test_hub_options_need_an_hf_source() -> None:
    assert hub_ref("models/m.gguf") is None
    with pytest.raises(ValueError, match="quant and hf_endpoint apply to hf://"):
        hub_ref("models/m.gguf", quant="Q4_0", endpoint=EP)
    with pytest.raises(ValueError, match="revision apply to hf://"):
        hub_ref(b"GGUF...", revision="main")


@pytest.mark.parametrize(("path", "quant"), [
    ("Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
    ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    ("tinyllama-1.1b-chat-v1.0.Q8_0.gguf", "Q8_0"),
    ("gemma-3-1b-it-IQ4_XS.gguf", "IQ4_XS"),
    ("Qwen3-8B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("model-Q4_0_4_4.gguf", "Q4_0_4_4"),
    ("ggml-model-f16.gguf", "F16"),
    ("Llama-3.2-1B-Instruct-bf16.gguf", "BF16"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
    ("Q8_0/Qwen3-235B-A22B-00001-of-00003.gguf", "Q8_0"),
    ("Q8_0/Qwen3-235B-A22B-Q8_0-00001-of-00003.gguf", "Q8_0"),
    ("phi-3-mini-4k-instruct-q4.gguf", None),  # "q4" is no llama.cpp type
    ("Qwen2-7B.gguf", None),
    ("model.gguf", None),
])
def test_quantization_from_file_names(path, quant) -> None:
    assert quant_of(path) == quant


# -- the listing ---------------------------------------------------------------------------------


def test_the_listing_groups_split_parts_and_keeps_projectors_apart() -> None:
    _, repo = listed()
    assert isinstance(repo, HubRepo) and (repo.repo_id, repo.revision, repo.endpoint) == ("acme/Model-GGUF", "main", EP)
    assert [(f.quant, f.size) for f in repo.files] == [("Q2_K", GIB), ("Q4_K_M", int(3.5 * GIB)), ("Q8_0", 7 * GIB),
                                                       ("F16", 20 * GIB)]
    assert repo.quants == ("Q2_K", "Q4_K_M", "Q8_0", "F16")
    f16 = repo.files[-1]
    assert f16.path == "F16/Model-F16-00001-of-00002.gguf" and f16.complete
    assert f16.parts == ("F16/Model-F16-00001-of-00002.gguf", "F16/Model-F16-00002-of-00002.gguf")
    assert f16.urls == tuple(f"{EP}/acme/Model-GGUF/resolve/main/{p}" for p in f16.parts)
    assert f16.sha256 == (SHA, SHA)
    assert [p.path for p in repo.projectors] == ["mmproj-Model-f16.gguf"]
    assert set(repo.other_files) == {".gitattributes", "README.md", "Model.imatrix.gguf"}
    table = str(repo)
    assert "acme/Model-GGUF at main" in table and "Q4_K_M" in table and "3.50 GiB" in table
    assert "(2 parts)" in table and "mmproj-Model-f16.gguf" in table


def test_urls_quote_the_revision_and_the_path() -> None:
    hub = FakeHub({("acme/m", "refs/pr/2"): [entry("my folder/x Q4_0.gguf", 100, "not-a-sha")]})
    _, repo = listed("hf://acme/m", hub, revision="refs/pr/2")
    f = repo.files[0]
    assert f.urls == (f"{EP}/acme/m/resolve/refs%2Fpr%2F2/my%20folder/x%20Q4_0.gguf",)
    assert f.quant == "Q4_0" and f.sha256 == (None,)  # an oid that is no SHA-256 is not passed on
    assert hub.requests == [f"{EP}/api/models/acme/m/tree/refs%2Fpr%2F2?recursive=true"]


def test_the_listing_follows_every_page() -> None:
    hub = FakeHub(page=3)
    _, repo = listed(hub=hub)
    assert len(hub.requests) == 4 and len(repo.files) == 4 and hub.requests[1].endswith("cursor=3")


def test_a_split_set_with_a_part_missing_is_listed_as_incomplete() -> None:
    tree = [entry("M-Q8_0-00001-of-00003.gguf", GIB), entry("M-Q8_0-00003-of-00003.gguf", GIB), entry("M-Q2_K.gguf", 5)]
    _, repo = listed(hub=FakeHub({("acme/Model-GGUF", "main"): tree}))
    q8 = repo.files[-1]
    assert (q8.path, q8.missing, q8.complete, q8.size) == ("M-Q8_0-00001-of-00003.gguf", (2,), False, 2 * GIB)
    assert repo.quants == ("Q2_K",) and "incomplete: part 2 missing" in str(repo)


@pytest.mark.parametrize(("status", "code", "words"), [
    (404, "file_not_found", "acme/Model-GGUF at revision 'main' was not found on https://hub.test (HTTP 404: "
                            "Repository not found)"),
    (401, "http_error", "does not show acme/Model-GGUF to this page (HTTP 401"),
    (403, "http_error", "sends no Hugging Face token from a page"),
    (429, "http_error", "try again in a few minutes"),
    (500, "http_error", "HTTP 500 from https://hub.test/api/models/acme/Model-GGUF/tree/main"),
])
def test_listing_failures_are_typed(status, code, words) -> None:
    with pytest.raises(ModelSourceError) as e:
        listed(hub=FakeHub(status=status))
    assert (e.value.code, e.value.status) == (code, status) and words in str(e.value)


def test_an_unknown_revision_is_not_found() -> None:
    with pytest.raises(ModelSourceError, match="at revision 'v9' was not found") as e:
        listed("hf://acme/Model-GGUF@v9")
    assert e.value.code == "file_not_found"


@pytest.mark.parametrize("body", [b"<!doctype html><title>Sign in</title>", b'{"models": []}', b'[{"type": "file"}]',
                                  b'[{"type": "file", "path": "x.gguf", "size": "big"}]'])
def test_a_reply_that_is_no_file_list_says_so(body) -> None:
    with pytest.raises(ModelSourceError, match=r"not the Hub's file list.*is hf_endpoint=") as e:
        listed(hub=FakeHub(body=body))
    assert e.value.code == "http_error"


def test_network_errors_of_the_get_pass_through() -> None:
    async def down(url: str) -> HttpReply:
        raise ModelSourceError(f"could not reach {url}", "network_error")

    with pytest.raises(ModelSourceError) as e:
        run(list_repo(parse_hub_url("hf://acme/m", endpoint=EP), down))
    assert e.value.code == "network_error"


def test_model_source_errors_keep_their_status_when_pickled() -> None:
    e = pickle.loads(pickle.dumps(ModelSourceError("refused", "http_error", 401)))
    assert (e.message, e.code, e.status) == ("refused", "http_error", 401)


# -- choosing ------------------------------------------------------------------------------------


def chosen(url: str, hub: FakeHub | None = None, **kw: Any) -> list[HubFile]:
    ref, repo = listed(url, hub, **kw)
    return candidates(repo, ref)


def test_without_a_choice_every_complete_model_is_a_candidate_largest_first() -> None:
    assert [f.quant for f in chosen("hf://acme/Model-GGUF")] == ["F16", "Q8_0", "Q4_K_M", "Q2_K"]


@pytest.mark.parametrize(("url", "kw", "path"), [
    ("hf://acme/Model-GGUF", {"quant": "q8_0"}, "Model-q8_0.gguf"),
    ("hf://acme/Model-GGUF:Q4_K_M", {}, "Model-Q4_K_M.gguf"),
    ("hf://acme/Model-GGUF/Model-Q2_K.gguf", {}, "Model-Q2_K.gguf"),
    ("hf://acme/Model-GGUF/F16/Model-F16-00002-of-00002.gguf", {}, "F16/Model-F16-00001-of-00002.gguf"),
    ("hf://acme/Model-GGUF/F16", {}, "F16/Model-F16-00001-of-00002.gguf"),
    ("hf://acme/Model-GGUF/F16", {"quant": "F16"}, "F16/Model-F16-00001-of-00002.gguf"),
])
def test_a_quantization_or_a_path_picks_one_model(url, kw, path) -> None:
    assert [f.path for f in chosen(url, **kw)] == [path]


def test_a_missing_quantization_lists_the_ones_there_are() -> None:
    with pytest.raises(ModelSourceError) as e:
        chosen("hf://acme/Model-GGUF", quant="IQ4_XS")
    assert e.value.code == "file_not_found"
    assert str(e.value) == ("acme/Model-GGUF has no IQ4_XS model; it has Q2_K (1.00 GiB), Q4_K_M (3.50 GiB), "
                            "Q8_0 (7.00 GiB), F16 (20.00 GiB): pass one of these as quant=")


@pytest.mark.parametrize(("url", "words"), [
    ("hf://acme/Model-GGUF/missing.gguf", "has no model file missing.gguf; it has: Model-Q2_K.gguf"),
    ("hf://acme/Model-GGUF/mmproj-Model-f16.gguf", "has no model file mmproj-Model-f16.gguf"),
    ("hf://acme/Model-GGUF/Q5_K_M", "has no GGUF model under Q5_K_M/; it has: Q2_K (1.00 GiB)"),
    ("hf://acme/Model-GGUF@v2", "acme/Model-GGUF@v2 has no .gguf file (it holds: config.json, "
                                "model.safetensors); GGUF conversions"),
    ("hf://acme/vision", "has only multimodal projectors (mmproj)"),
])
def test_no_such_model_is_file_not_found(url, words) -> None:
    hub = FakeHub({("acme/Model-GGUF", "main"): TREE, ("acme/vision", "main"): [entry("mmproj-F16.gguf", 9)],
                   ("acme/Model-GGUF", "v2"): [entry("config.json", 9, None), entry("model.safetensors", 9)]})
    with pytest.raises(ModelSourceError) as e:
        chosen(url, hub)
    assert e.value.code == "file_not_found" and words in str(e.value), str(e.value)


def test_an_incomplete_split_model_cannot_be_chosen() -> None:
    tree = [entry("M-Q8_0-00001-of-00003.gguf", GIB), entry("M-Q8_0-00003-of-00003.gguf", GIB)]
    hub = FakeHub({("acme/Model-GGUF", "main"): [*tree, entry("M-Q2_K.gguf", 5)], ("acme/only", "main"): tree})
    for url, kw in (("hf://acme/Model-GGUF", {"quant": "Q8_0"}), ("hf://acme/only", {})):
        with pytest.raises(ModelLoadError) as e:
            chosen(url, hub, **kw)
        assert e.value.code == "split_mismatch"
        assert "M-Q8_0-00001-of-00003.gguf is a split model whose part(s) 2 of 3 are not in the repository" in str(
            e.value)
    assert [f.quant for f in chosen("hf://acme/Model-GGUF", hub)] == ["Q2_K"]  # the auto choice skips it


def test_one_quantization_of_two_models_must_be_named_by_path() -> None:
    hub = FakeHub({("acme/Model-GGUF", "main"): [entry("A-1B-Q4_0.gguf", 1), entry("A-8B-Q4_0.gguf", 8)]})
    with pytest.raises(ValueError, match=r"has 2 Q4_0 models \(A-1B-Q4_0.gguf, A-8B-Q4_0.gguf\): name one"):
        chosen("hf://acme/Model-GGUF:Q4_0", hub)


def test_the_largest_that_fits_is_taken_and_none_fitting_names_the_smallest() -> None:
    ref, repo = listed()
    files = candidates(repo, ref)

    def limit(n: int):
        return lambda f: None if f.size <= n else ModelLoadError(f"needs {f.size}, more than {n}", "out_of_memory")

    assert largest_fitting(ref, files, limit(8 * GIB)).quant == "Q8_0"
    assert largest_fitting(ref, files, limit(1 * GIB)).quant == "Q2_K"
    with pytest.raises(ModelLoadError) as e:
        largest_fitting(ref, files, limit(GIB // 2))
    assert e.value.code == "out_of_memory"
    assert str(e.value) == (f"no GGUF model of acme/Model-GGUF fits: the smallest, Model-Q2_K.gguf (Q2_K, 1.00 GiB): "
                            f"needs {GIB}, more than {GIB // 2}")


# -- LLM.load and inspect, with the browser side faked ------------------------------------------------


def _gguf(path: Path, split: tuple[int, int] | None = None) -> bytes:
    """A small GGUF (one tensor), or part ``split[0]`` of a 2-part split set (a tensor of its own)."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(4)
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_token_list([f"t{i}" for i in range(100)])
    if split:
        w.add_uint16("split.no", split[0])
        w.add_uint16("split.count", split[1])
        w.add_int32("split.tensors.count", split[1])
    w.add_tensor(f"blk.{split[0] if split else 0}.weight", np.ones((100, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


@pytest.fixture(scope="module")
def header_bytes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What the fake repository's files start with, by name ending (sizing reads only the header)."""
    d = tmp_path_factory.mktemp("gguf")
    return {"-00001-of-00002.gguf": _gguf(d / "a.gguf", (0, 2)), "-00002-of-00002.gguf": _gguf(d / "b.gguf", (1, 2)),
            ".gguf": _gguf(d / "m.gguf")}


class FakeBrowser:
    """``_browser`` as the Hub path uses it: the GET, header bytes by URL (sizes from the listing), detection."""

    def __init__(self, header: dict[str, bytes], caps: dict[str, Any], hub: FakeHub, refuse: int | None = None) -> None:
        self.header, self.caps, self.hub, self.refuse = header, caps, hub, refuse
        self.transport = FakeTransport()
        self.headers_read: list[str] = []
        self.started: list[tuple[str, int]] = []
        self.sizes = {f"{EP}/acme/Model-GGUF/resolve/main/{e['path']}": e["size"]
                      for e in hub.repos[("acme/Model-GGUF", "main")]}

    async def http_get(self, url: str, timeout: float = 60.0) -> HttpReply:
        return await self.hub.get(url)

    def prefix_fetcher(self, blob: Any = None, cache: Any = "auto", timeout: float = 60.0):
        async def fetch(url: str, size: int) -> tuple[bytes, int | None]:
            self.headers_read.append(url)
            if self.refuse:
                raise ModelSourceError(f"HTTP {self.refuse} for {url}", "http_error", self.refuse)
            data = next(v for k, v in self.header.items() if url.endswith(k))
            return data[:size], self.sizes[url]
        return fetch

    async def detect(self, probe_gpu: bool = True) -> dict[str, Any]:
        return self.caps

    async def start_engine(self, variant: str, n_threads: int) -> FakeTransport:
        self.started.append((variant, n_threads))
        return self.transport


@pytest.fixture
def browser(monkeypatch, header_bytes):
    def install(caps: dict[str, Any] = PAGE, hub: FakeHub | None = None, refuse: int | None = None) -> FakeBrowser:
        side = FakeBrowser(header_bytes, caps, hub or FakeHub(), refuse)
        monkeypatch.setattr(llm_module, "require_browser", lambda what: None)
        monkeypatch.setattr(loading_module, "browser", lambda what: side)
        monkeypatch.setattr(inspect_module, "browser", lambda what: side)
        return side
    return install


def loaded_parts(side: FakeBrowser) -> list[str]:
    (_, kind, payload), *_ = side.transport.sent
    assert kind == "load"
    return [p["url"] for p in payload["parts"]]


def resolve(*paths: str) -> list[str]:
    return [f"{EP}/acme/Model-GGUF/resolve/main/{p}" for p in paths]


@pytest.mark.parametrize(("caps", "kw", "variant", "path"), [
    (PAGE, {}, "wasm64-mt", "Model-q8_0.gguf"),  # 16 GiB: F16 (20 GiB) is skipped
    (PLAIN_PAGE, {}, "wasm32-st", "Model-Q4_K_M.gguf"),  # 4 GiB: 3.5 GiB + KV + runtime fits
    (PAGE, {"variant": "wasm32-mt"}, "wasm32-mt", "Model-Q4_K_M.gguf"),  # the variant asked for decides
])
def test_load_takes_the_largest_model_that_fits_the_variant(browser, caps, kw, variant, path) -> None:
    side = browser(caps)
    llm = run(LLM.load("hf://acme/Model-GGUF", hf_endpoint=EP, n_ctx=512, **kw))
    assert loaded_parts(side) == resolve(path) and side.started == [(variant, 4 if caps is PAGE else 1)]
    # One header for sizing (the smallest), one of the model taken; nothing else read.
    assert side.headers_read == resolve("Model-Q2_K.gguf", path)
    assert llm.info.variant == variant


def test_load_with_quant_reads_one_header_and_loads_every_part(browser) -> None:
    small = [entry("F16/Model-F16-00001-of-00002.gguf", GIB), entry("F16/Model-F16-00002-of-00002.gguf", GIB),
             entry("Model-Q2_K.gguf", GIB // 2)]
    side = browser(hub=FakeHub({("acme/Model-GGUF", "main"): small}))
    run(LLM.load("hf://acme/Model-GGUF", quant="f16", hf_endpoint=EP))
    parts = resolve("F16/Model-F16-00001-of-00002.gguf", "F16/Model-F16-00002-of-00002.gguf")
    assert loaded_parts(side) == parts and side.headers_read == parts


def test_a_quantization_too_large_is_refused_as_any_model(browser) -> None:
    side = browser()
    with pytest.raises(ModelLoadError, match="no engine variant can hold it; choose a smaller quantization") as e:
        run(LLM.load("hf://acme/Model-GGUF", quant="F16", hf_endpoint=EP))
    assert e.value.code == "out_of_memory" and side.started == []


def test_load_refuses_when_nothing_fits_naming_the_smallest(browser) -> None:
    side = browser(PLAIN_PAGE, FakeHub({("acme/Model-GGUF", "main"): TREE[4:]}))  # Q8_0 and F16 only
    with pytest.raises(ModelLoadError) as e:
        run(LLM.load("hf://acme/Model-GGUF", hf_endpoint=EP))
    assert e.value.code == "out_of_memory" and side.started == []
    assert str(e.value).startswith("no GGUF model of acme/Model-GGUF fits: the smallest, Model-q8_0.gguf (Q8_0, "
                                   "7.00 GiB): the model needs about 7.")
    assert "more than the 4 GiB variant wasm32-st can address" in str(e.value)


@pytest.mark.parametrize("status", [401, 403])
def test_a_gated_repository_says_no_token_is_sent(browser, status) -> None:
    side = browser(refuse=status)
    with pytest.raises(ModelSourceError) as e:
        run(LLM.load("hf://acme/Model-GGUF:Q2_K", hf_endpoint=EP))
    assert (e.value.code, e.value.status) == ("http_error", status) and side.started == []
    assert "lists Model-Q2_K.gguf, but the Hub refuses to send it to this page" in str(e.value)
    assert "gated" in str(e.value) and "sends no Hugging Face token" in str(e.value)


def test_load_errors_before_any_engine_starts(browser) -> None:
    side = browser()
    with pytest.raises(ModelSourceError, match="has no Q3_K_S model"):
        run(LLM.load("hf://acme/Model-GGUF", quant="Q3_K_S", hf_endpoint=EP))
    with pytest.raises(ValueError, match="quant apply to hf://"):
        run(LLM.load("models/m.gguf", quant="Q4_0"))
    assert side.started == [] and side.headers_read == []


def test_load_with_its_own_engine_takes_the_largest_without_sizing(browser) -> None:
    side = browser()
    t = FakeTransport()
    run(LLM.load("hf://acme/Model-GGUF/Model-Q2_K.gguf", hf_endpoint=EP, transport=t))
    assert [p["url"] for p in t.sent[0][2]["parts"]] == resolve("Model-Q2_K.gguf") and side.headers_read == []


def test_llama_load_passes_the_hub_options(browser) -> None:
    side = browser()
    run(pyodide_llm.Llama.load("hf://acme/Model-GGUF", quant="Q2_K", hf_endpoint=EP))
    assert loaded_parts(side) == resolve("Model-Q2_K.gguf")


def test_inspect_lists_a_repository_and_reads_a_named_model(browser) -> None:
    side = browser()
    repo = run(pyodide_llm.inspect("hf://acme/Model-GGUF", hf_endpoint=EP))
    assert isinstance(repo, HubRepo) and repo.quants == ("Q2_K", "Q4_K_M", "Q8_0", "F16") and side.headers_read == []
    info = run(pyodide_llm.inspect("hf://acme/Model-GGUF:Q4_K_M", hf_endpoint=EP))
    assert isinstance(info, GGUFInfo) and info.architecture == "llama" and info.file_size == int(3.5 * GIB)
    assert side.headers_read == resolve("Model-Q4_K_M.gguf")
