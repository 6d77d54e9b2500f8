"""``pyodide_llm.inspect``: what a GGUF model is, from its header alone.

Why: a user about to download several GB wants to know the architecture, size,
quantization, context length and chat template first, and whether it will fit.
The header is fetched with HTTP Range requests, growing the range until it
parses; a server without Range support sends the whole file, of which only a
bounded prefix is read before the download is cancelled. A Hugging Face Hub
repository (``hf://owner/repo``) is listed instead: which models it offers, at
what sizes, before one is chosen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from ._env import browser
from ._errors import ModelLoadError, ModelSourceError
from ._gguf import GGUFHeader, GGUFInfo, NeedMoreBytes, NotGGUFError, parse_header
from ._hub import HubFile, HubRef, HubRepo, access_error, candidates, hub_ref, list_repo
from ._sources import PrefixFetcher, check_split_set, model_parts

FIRST_RANGE = 1 << 20
MAX_HEADER = 256 << 20  # no real header is near this; a bigger one means a corrupt file

async def read_header(url: str, fetch: PrefixFetcher, max_header: int = MAX_HEADER) -> tuple[GGUFHeader, int | None]:
    """Fetch growing prefixes of ``url`` until its GGUF header parses."""
    want = FIRST_RANGE
    while True:
        data, total = await fetch(url, want)
        try:
            return parse_header(data), total
        except NeedMoreBytes as e:
            if len(data) < want or (total is not None and len(data) >= total):
                raise ModelLoadError(f"{url} ends after {len(data)} bytes, inside its GGUF header: the file is "
                                     "truncated", "not_gguf") from None
            if e.needed > max_header:
                raise ModelLoadError(f"{url}: the GGUF header would be over {max_header >> 20} MiB; the file is "
                                     "corrupt", "not_gguf") from None
            want = min(max(e.needed + (1 << 20), want * 2), max_header)
        except NotGGUFError as e:
            raise ModelLoadError(f"{url}: {e}", "not_gguf") from None


async def inspect(url: str | Sequence[str], *, fetch: PrefixFetcher | None = None, quant: str | None = None,
                  revision: str | None = None, hf_endpoint: str | None = None) -> GGUFInfo | HubRepo:
    """Read a GGUF model's header from ``url`` (absolute or page-relative) without downloading it,
    or list what a Hugging Face Hub repository offers.

    Parameters
    ----------
    url
        The ``.gguf`` file; for a split model the first part
        (``<name>-00001-of-0000N.gguf``, the others are found) or the list of parts.
        The figures (size, parameters, tensors) are then the whole model's.
        ``hf://owner/repo`` lists the repository's models (a :class:`HubRepo`);
        ``hf://owner/repo/file.gguf`` or a quantization (``hf://owner/repo:Q4_K_M``)
        reads that model's header (see :meth:`LLM.load` for these URLs).
    fetch
        For tests and custom hosts; by default the model cache if it holds the
        file, else the browser's ``fetch`` with Range requests.
    quant, revision, hf_endpoint
        For ``hf://`` URLs, as :meth:`LLM.load` takes them.

    Returns
    -------
    GGUFInfo | HubRepo
        A model's header, or (``hf://`` naming no file nor quantization) a repository's listing.

    Raises
    ------
    ModelSourceError
        HTTP or network errors; a Hub repository that is not there, not shown to this
        page, or lacks the file or quantization named.
    ModelLoadError
        Not a GGUF file, a truncated or corrupt header, parts that are not one split model.
    """
    ref = hub_ref(url, quant=quant, revision=revision, endpoint=hf_endpoint)
    if ref is not None:
        repo = await list_repo(ref, browser("inspect()").http_get)
        if not ref.names_model:
            return repo
        return await hub_header(ref, candidates(repo, ref)[-1], fetch or browser("inspect()").prefix_fetcher())
    if not isinstance(url, str) and not isinstance(url, Sequence):
        raise ValueError("url must be a non-empty string or a list of split-part URLs")
    return await read_model_header(url, fetch or browser("inspect() without fetch=").prefix_fetcher())


async def hub_header(ref: HubRef, file: HubFile, fetch: PrefixFetcher) -> GGUFInfo:
    """The header of a model the Hub lists; a refusal (401/403) says the repository is gated or private."""
    try:
        return await read_model_header(list(file.urls), fetch)
    except ModelSourceError as e:
        if e.status in (401, 403):
            raise access_error(ref, file, e.status) from None
        raise


async def read_model_header(url: str | Sequence[str], fetch: PrefixFetcher) -> GGUFInfo:
    """:func:`inspect` for a model's URL, or its parts' URLs."""
    urls = [p.url for p in model_parts(url)]
    found = await asyncio.gather(*(read_header(u, fetch) for u in urls))
    headers = [h for h, _ in found]
    check_split_set(urls, headers)
    header, total = found[0]
    data_end = header.header_size + max((t.offset + (t.n_bytes or 0) for t in header.tensors), default=0)
    if total is not None and header.split[1] == 1 and data_end > total:
        raise ModelLoadError(f"{urls[0]} is {total} bytes but its tensors end at byte {data_end}: the file is "
                             "truncated (an interrupted download?)", "load_failed")
    info = GGUFInfo.from_header(urls[0], header, total)
    if len(urls) > 1:
        sizes = [t for _, t in found if t is not None]
        info = replace(info, file_size=sum(sizes) if len(sizes) == len(found) else None,
                       n_params=sum(h.n_params for h in headers), n_tensors=sum(len(h.tensors) for h in headers),
                       parts=tuple(urls))
    return info
