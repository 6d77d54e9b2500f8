"""Model sources: one URL, a split GGUF (its parts listed or found from the first), sha256s.

Why separate from the loader: which URLs make up a model, and whether a set of
parts belongs together, is decided from names and headers alone, before
anything is downloaded; all of it is plain Python that the host tests cover.

Relative URLs are resolved by :func:`base_url`: against the page, or in a
JupyterLite kernel against the notebook's folder of the site's contents.

Split models follow llama.cpp's ``gguf-split`` naming, ``<name>-00001-of-00003.gguf``:
given the first part, the others are named the same way. Each part's header says
which part it is (``split.no``), how many there are (``split.count``) and, in the
first, how many tensors the whole model has (``split.tensors.count``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from ._errors import ModelLoadError
from ._gguf import GGUFHeader

# How the first bytes of a model file are read (the browser's fetch with Range, the
# model cache, a File, or a test's fake): fetch(url, size) -> (the first bytes, at
# least `size` of them unless the file is shorter; the whole file's size in bytes,
# or None if the server did not say).
PrefixFetcher = Callable[[str, int], Awaitable[tuple[bytes, int | None]]]

_SPLIT_NAME = re.compile(r"^(?P<stem>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf(?P<rest>[?#].*)?$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_PARTS = 512


@dataclass(frozen=True)
class Part:
    """One file of a model: its URL and, if the caller gave one, the SHA-256 it must have."""

    url: str
    sha256: str | None = None


def split_part(name: str) -> tuple[str, int, int] | None:
    """``(stem, part, count)`` when ``name`` follows the split naming (``<stem>-00002-of-00003.gguf``), else None."""
    m = _SPLIT_NAME.match(name)
    return (m["stem"], int(m["no"]), int(m["count"])) if m and not m["rest"] else None


def split_urls(url: str) -> list[str]:
    """Every part's URL when ``url`` names the first part of a split model; ``[url]`` otherwise.

    Raises
    ------
    ValueError
        ``url`` names a later part (loading starts from the first), or a count of 0.
    """
    m = _SPLIT_NAME.match(url)
    if not m:
        return [url]
    no, count = int(m["no"]), int(m["count"])
    if count < 1 or count > MAX_PARTS or no < 1 or no > count:
        raise ValueError(f"{url}: a split part number must be within 1..count (count at most {MAX_PARTS})")
    if no != 1:
        first = f"{m['stem']}-00001-of-{m['count']}.gguf{m['rest'] or ''}"
        raise ValueError(f"{url} is part {no} of {count}; load the first part ({first}) and the rest are found")
    return [f"{m['stem']}-{i:05d}-of-{m['count']}.gguf{m['rest'] or ''}" for i in range(1, count + 1)]


def check_sha256(value: object) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {value!r}")
    return value.lower()


def model_parts(source: str | Sequence[str], sha256: str | Sequence[str] | None = None) -> list[Part]:
    """The files to fetch for ``source`` (a URL, the first URL of a split set, or a list of parts).

    ``sha256`` is one digest for a one-file model or one per part, in order.
    """
    if isinstance(source, str):
        if not source:
            raise ValueError("the model URL is empty")
        urls = split_urls(source)
    else:
        urls = list(source)
        if not urls or not all(isinstance(u, str) and u for u in urls):
            raise ValueError("a split model is a non-empty list of part URLs (strings), in order")
        if len(urls) > MAX_PARTS:
            raise ValueError(f"a model has at most {MAX_PARTS} parts, got {len(urls)}")
        if len(set(urls)) != len(urls):
            raise ValueError("the list of parts names the same URL twice")
    if sha256 is None:
        digests: list[str | None] = [None] * len(urls)
    elif isinstance(sha256, str):
        if len(urls) != 1:
            raise ValueError(f"this model has {len(urls)} parts: give sha256 as a list with one digest per part")
        digests = [check_sha256(sha256)]
    else:
        digests = [check_sha256(d) for d in sha256]
        if len(digests) != len(urls):
            raise ValueError(f"got {len(digests)} sha256 digests for {len(urls)} parts")
    return [Part(u, d) for u, d in zip(urls, digests, strict=True)]


def check_split_set(urls: Sequence[str], headers: Sequence[GGUFHeader]) -> None:
    """Refuse parts that do not make up one model, before any of them is downloaded.

    Raises
    ------
    ModelLoadError
        Code ``split_mismatch``: a part in the wrong place, a count that differs
        between parts or from the list, a part of another split set, tensors
        named twice or missing.
    """
    n = len(urls)

    def fail(why: str) -> None:
        raise ModelLoadError(f"these {n} files are not the parts of one split model: {why}", "split_mismatch")

    no0, count0 = headers[0].split
    if n == 1:
        if count0 > 1:
            fail(f"{urls[0]} is part {no0 + 1} of {count0}; pass all parts (or the first, named "
                 f"<name>-00001-of-{count0:05d}.gguf)")
        return
    names: set[str] = set()
    for i, (url, h) in enumerate(zip(urls, headers, strict=True)):
        no, count = h.split
        if count != n:
            fail(f"{url} says the model has {count} part(s), but {n} were given")
        if no != i:
            fail(f"{url} is part {no + 1}, but was given as part {i + 1}")
        if i and "general.architecture" in h.metadata and headers[0].architecture != h.architecture:
            fail(f"{url} is a {h.architecture} model, part 1 a {headers[0].architecture} one")
        mine = {t.name for t in h.tensors}
        twice = names & mine
        if twice:
            fail(f"{url} holds tensor {sorted(twice)[0]!r} that an earlier part also holds")
        names |= mine
    expected = headers[0].metadata.get("split.tensors.count")
    if isinstance(expected, int) and expected != len(names):
        fail(f"part 1 says the model has {expected} tensors, the parts hold {len(names)} (a part of another "
             "model?)")


# A JupyterLite Pyodide kernel runs in a worker whose script lives under this path of the site.
JUPYTERLITE_KERNEL = "/extensions/@jupyterlite/pyodide-kernel-extension/"
DRIVE = "/drive"


def base_url(href: str, cwd: str) -> str:
    """What a relative model URL is relative to, for a thread at ``href`` working in ``cwd``.

    On a page (PyScript, a plain Pyodide page) that is the page itself. In a
    JupyterLite kernel ``js.location`` is the kernel worker's script deep under
    ``extensions/``, which no user means; the kernel works in the notebook's
    folder of the site's contents (``/drive/<folder>``), served at
    ``<site>/files/<folder>/``, so ``LLM.load("model.gguf")`` finds a model
    shown next to the notebook in the file browser, as it would in Jupyter.
    """
    site, found, _ = href.partition(JUPYTERLITE_KERNEL)
    if not found:
        return href
    folder = cwd[len(DRIVE):].strip("/") if cwd == DRIVE or cwd.startswith(DRIVE + "/") else ""
    return f"{site}/files/" + "".join(f"{quote(part, safe='')}/" for part in folder.split("/") if part)
