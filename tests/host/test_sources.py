"""Model sources: split naming, sha256 arguments, and the split-set check on real split files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyodide_llm._errors import ModelLoadError
from pyodide_llm._gguf import parse_header
from pyodide_llm._inspect import inspect
from pyodide_llm._sources import base_url, check_split_set, model_parts, split_urls
from recipes.pins import cache_root, load_pins
from recipes.source import model_file
from recipes.synthetic import cached_split


def test_split_urls_follow_gguf_split_naming() -> None:
    assert split_urls("m/a-00001-of-00003.gguf") == [f"m/a-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert split_urls("https://h/x-00001-of-00002.gguf?download=1") == [
        "https://h/x-00001-of-00002.gguf?download=1", "https://h/x-00002-of-00002.gguf?download=1"]
    assert split_urls("model.gguf") == ["model.gguf"]
    assert split_urls("a-00001-of-00001.gguf") == ["a-00001-of-00001.gguf"]
    with pytest.raises(ValueError, match="load the first part"):
        split_urls("a-00002-of-00003.gguf")
    with pytest.raises(ValueError, match=r"within 1\.\.count"):
        split_urls("a-00004-of-00003.gguf")


def test_model_parts_checks_lists_and_digests() -> None:
    digest = "AB" * 32
    assert model_parts("m.gguf", digest)[0].sha256 == "ab" * 32
    parts = model_parts(["a.gguf", "b.gguf"], ["0" * 64, "1" * 64])
    assert [p.url for p in parts] == ["a.gguf", "b.gguf"] and parts[1].sha256 == "1" * 64
    for bad_source, bad_sha, why in [
        ([], None, "non-empty list"), (["a", ""], None, "non-empty list"), (["a", "a"], None, "twice"),
        ("m.gguf", "xyz", "64 hexadecimal"), (["a", "b"], "0" * 64, "one digest per part"),
        (["a", "b"], ["0" * 64], "2 parts"), ("", None, "empty"),
    ]:
        with pytest.raises(ValueError, match=why):
            model_parts(bad_source, bad_sha)


@pytest.fixture(scope="module")
def splits() -> dict[str, list[Path]]:
    model = model_file(load_pins(), "smollm2", lambda m: None)
    d = cache_root() / "models" / "split"  # the same split sets the node and browser tests use
    return {"a": cached_split(model, 3, d), "b": cached_split(model, 3, d, first=40), "whole": [model]}


def _headers(paths: list[Path]):
    return [parse_header(p.read_bytes()[:4 << 20]) for p in paths]


def test_a_real_split_set_passes_and_bad_sets_are_named(splits) -> None:
    a, b = splits["a"], splits["b"]
    names = [p.name for p in a]
    check_split_set(names, _headers(a))
    check_split_set(["whole.gguf"], _headers(splits["whole"]))
    cases = {
        "mixed": ([a[0], b[1], a[2]], "an earlier part also holds|tensors"),
        "order": ([a[1], a[0], a[2]], "is part 2, but was given as part 1"),
        "short": ([a[0], a[1]], "has 3 part"),
        "alone": ([a[0]], "pass all parts"),
    }
    for name, (paths, why) in cases.items():
        with pytest.raises(ModelLoadError, match=why) as e:
            check_split_set([p.name for p in paths], _headers(paths))
        assert e.value.code == "split_mismatch", name


def test_inspect_of_a_split_model_sums_its_parts(splits, tmp_path) -> None:
    a = splits["a"]
    by_name = {p.name: p for p in a}

    async def fetch(url: str, size: int):
        p = by_name[url]
        with open(p, "rb") as f:
            return f.read(size), p.stat().st_size

    info = asyncio.run(inspect(a[0].name, fetch=fetch))
    whole = asyncio.run(inspect("w", fetch=lambda u, n: _read(splits["whole"][0], n)))
    assert info.parts == tuple(p.name for p in a)
    assert info.file_size == sum(p.stat().st_size for p in a)
    assert info.n_tensors == whole.n_tensors == 272 and info.n_params == whole.n_params
    assert info.architecture == "llama" and info.chat_template == whole.chat_template


async def _read(path: Path, size: int):
    with open(path, "rb") as f:
        return f.read(size), path.stat().st_size


def test_relative_urls_mean_the_page_or_the_notebooks_folder_in_jupyterlite() -> None:
    page = "https://example.org/app/index.html?x=1"
    assert base_url(page, "/home/pyodide") == page
    kernel = "https://example.org/lite/extensions/@jupyterlite/pyodide-kernel-extension/static/coincident.worker.js"
    assert base_url(kernel, "/drive") == "https://example.org/lite/files/"
    assert base_url(kernel, "/drive/") == "https://example.org/lite/files/"
    assert base_url(kernel, "/drive/my notes/llm") == "https://example.org/lite/files/my%20notes/llm/"
    # A kernel without the drive mounted (or after os.chdir elsewhere): the contents' root.
    assert base_url(kernel, "/home/pyodide") == "https://example.org/lite/files/"
    assert base_url(kernel, "/drivex") == "https://example.org/lite/files/"
