"""Models by name from the Hugging Face Hub: ``hf://owner/repo``, a quantization, a revision.

Why a module of its own: which file of a repository is "the model" is decided
from the repository's file list alone (names, sizes, split sets), plain Python
that the host tests cover with a fake HTTP GET. The browser supplies the GET
(``_browser/fetch.py``); ``_loading`` supplies the memory test a file must pass.

The URL is huggingface_hub's file-system URL (``HfFileSystem``), plus llama.cpp's
``-hf owner/repo:QUANT`` for a quantization::

    hf://owner/repo[@revision][:QUANT][/path/in/repo[.gguf]]

The file list is the Hub's tree API, ``GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true``
(a JSON list of ``{type, path, size, lfs: {oid, size}}``, paged with a ``Link: <...>; rel="next"``
header); files download from ``{endpoint}/{repo}/resolve/{revision}/{path}``, which answers
CORS and Range requests (after a redirect to the Hub's CDN), so the engine fetches them
as it fetches any URL, and caches them under that URL.

No access token is sent: a token in a page is readable by anyone who can read the
page. Private and gated repositories are refused with what to do instead.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urljoin

from ._errors import ModelLoadError, ModelSourceError
from ._sizing import GIB, MIB
from ._sources import split_part

SCHEME = "hf://"
DEFAULT_ENDPOINT = "https://huggingface.co"
# huggingface_hub's variable. In Pyodide os.environ is the page's own (nothing inherits it), so
# setting os.environ["HF_ENDPOINT"] in a notebook is the explicit, session-wide way to use a mirror.
ENDPOINT_VARIABLE = "HF_ENDPOINT"
DEFAULT_REVISION = "main"  # huggingface_hub's default
MAX_PAGES = 100  # of the tree listing: far beyond any GGUF repository, a bound against a server that loops

NO_TOKEN = ("pyodide_llm sends no Hugging Face token from a page, where anyone who can read the page could take "
            "it: download the file where you are logged in (`hf download OWNER/REPO FILE`) and serve it with your "
            "site, or load it as a File")

_URL = re.compile(r"^hf://(?P<owner>[^/@:]+)/(?P<name>[^/@:]+)(?:@(?P<rev>[^/:]*))?(?::(?P<quant>[^/]*))?"
                  r"(?:/(?P<path>.*))?$")
_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")  # the Hub's rules for names
_QUANT_ARG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# llama.cpp's type names as they appear in file names: Q4_K_M, Q8_0, Q4_0_4_4, IQ4_XS, TQ1_0, F16, BF16,
# MXFP4, and unsloth's dynamic quantizations (UD-Q4_K_XL). Whole tokens only: "Qwen2" is none.
_QUANT = re.compile(r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q[1-8](?:_[A-Z0-9]{1,4}){1,3}|TQ[12]_0|MXFP4(?:_MOE)?|BF16|F16|"
                    r"F32))(?![A-Za-z0-9])", re.IGNORECASE)
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?')


class HttpReply(NamedTuple):
    """A GET's answer: its status, headers (lower-case names) and whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


# How the listing is fetched: GET url -> the reply (any status). Network failures and time-outs
# raise ModelSourceError (network_error, timed_out) themselves.
HttpGet = Callable[[str], Awaitable[HttpReply]]


def format_size(n: int) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / MIB:.1f} MiB"


@dataclass(frozen=True)
class HubRef:
    """What an ``hf://`` URL names: a repository at a revision, and maybe a file, a folder or a quantization."""

    endpoint: str
    repo_id: str  # owner/name
    revision: str
    path: str = ""  # a file or a folder of the repository; "" for all of it
    quant: str | None = None  # upper case

    @property
    def names_file(self) -> bool:
        return self.path.lower().endswith(".gguf")

    @property
    def names_model(self) -> bool:
        """A file or a quantization: one model, whose header ``inspect`` can read."""
        return self.names_file or self.quant is not None

    @property
    def where(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision != DEFAULT_REVISION else self.repo_id

    def tree_url(self) -> str:
        return f"{self.endpoint}/api/models/{self.repo_id}/tree/{quote(self.revision, safe='')}?recursive=true"

    def file_url(self, path: str) -> str:
        return f"{self.endpoint}/{self.repo_id}/resolve/{quote(self.revision, safe='')}/{quote(path)}"


def is_hub_url(source: object) -> bool:
    return isinstance(source, str) and source.startswith(SCHEME)


def hub_endpoint(given: str | None = None) -> str:
    """The Hub's base URL: ``hf_endpoint=``, else ``os.environ["HF_ENDPOINT"]``, else the public Hub."""
    value = given if given is not None else os.environ.get(ENDPOINT_VARIABLE) or DEFAULT_ENDPOINT
    if not isinstance(value, str) or not re.match(r"^https?://[^/?#]+(/[^?#]*)?$", value):
        raise ValueError(f"hf_endpoint must be the Hub's base URL (http:// or https://), got {value!r}")
    return value.rstrip("/")


def _agree(name: str, in_url: str | None, argument: str | None) -> str | None:
    if in_url is not None and argument is not None and in_url.upper() != argument.upper():
        raise ValueError(f"the URL says {name} {in_url!r} and {name}= says {argument!r}; give one")
    return in_url if in_url is not None else argument


def parse_hub_url(url: str, *, quant: str | None = None, revision: str | None = None,
                  endpoint: str | None = None) -> HubRef:
    """Read ``hf://owner/repo[@revision][:QUANT][/path]``; ``quant=``/``revision=`` may say the same instead.

    A revision containing ``/`` (``refs/pr/1``) goes in ``revision=`` or percent-encoded
    (``@refs%2Fpr%2F1``), as in huggingface_hub's URLs.

    Raises
    ------
    ValueError
        Not such a URL, a repository name the Hub would not have, a dataset or a
        Space, an empty or ``..`` path segment, a quantization and a ``.gguf`` file
        both, or a URL and an argument that disagree.
    """
    m = _URL.match(url)
    if not m:
        raise ValueError(f"{url!r} is not a Hub model URL: write hf://owner/repo, optionally with @revision, "
                         ":QUANT (e.g. :Q4_K_M) or /path/in/repo.gguf")
    if m["owner"] in ("datasets", "spaces"):
        raise ValueError(f"{url}: models live in model repositories (hf://owner/repo), not {m['owner']}")
    for part in (m["owner"], m["name"]):
        if not _REPO_PART.match(part) or "--" in part or ".." in part:
            raise ValueError(f"{url}: {part!r} is not a Hub owner or repository name")
    for name, value, check in (("revision", revision, None), ("quant", quant, _QUANT_ARG)):
        if value is not None and (not isinstance(value, str) or not value or (check and not check.match(value))):
            raise ValueError(f"{name} must be a non-empty string{' like Q4_K_M' if check else ''}, got {value!r}")
    for name, value in (("revision", m["rev"]), ("quantization", m["quant"])):
        if value == "":
            raise ValueError(f"{url}: the {name} after {'@' if name == 'revision' else ':'} is empty")
    rev = _agree("revision", unquote(m["rev"]) if m["rev"] else None, revision) or DEFAULT_REVISION
    q = _agree("quant", m["quant"], quant)
    if q is not None and not _QUANT_ARG.match(q):
        raise ValueError(f"{url}: {q!r} is not a quantization name like Q4_K_M")
    path = (m["path"] or "").strip("/")
    if path and any(seg in ("", ".", "..") for seg in path.split("/")):
        raise ValueError(f"{url}: the path in the repository has an empty, '.' or '..' segment")
    ref = HubRef(hub_endpoint(endpoint), f"{m['owner']}/{m['name']}", rev, path, q.upper() if q else None)
    if ref.names_file and ref.quant:
        raise ValueError(f"{url}: name a .gguf file or a quantization, not both")
    return ref


def hub_ref(source: object, *, quant: str | None = None, revision: str | None = None,
            endpoint: str | None = None) -> HubRef | None:
    """The Hub model ``source`` names when it is an ``hf://`` URL; None for any other source.

    Raises
    ------
    ValueError
        A bad ``hf://`` URL, or Hub options given with a source that is not one.
    """
    if is_hub_url(source):
        return parse_hub_url(str(source), quant=quant, revision=revision, endpoint=endpoint)
    given = [name for name, v in (("quant", quant), ("revision", revision), ("hf_endpoint", endpoint)) if v is not None]
    if given:
        raise ValueError(f"{' and '.join(given)} apply to hf://owner/repo sources only")
    return None


def quant_of(path: str) -> str | None:
    """The quantization a GGUF file's name says (``Q4_K_M``, ``IQ4_XS``, ``F16``; upper case), or None.

    The file's name first, then its folders (``Q8_0/model-00001-of-00002.gguf``); the
    last match wins, as the quantization ends a name (``Llama-3-8B-Instruct.Q4_K_M``).
    """
    folder, _, name = path.rpartition("/")
    split = split_part(name)
    stem = split[0] if split else name[:-len(".gguf")]
    for text in (stem, folder):
        found = _QUANT.findall(text)
        if found:
            return str(found[-1]).upper()
    return None


@dataclass(frozen=True)
class HubFile:
    """One GGUF model of a Hub repository: a file, or the parts of a split model.

    Attributes
    ----------
    path
        The file in the repository; for a split model its first part (``<name>-00001-of-0000N.gguf``).
    quant
        The quantization its name says (``"Q4_K_M"``, ``"IQ4_XS"``, ``"F16"``; upper case), or None.
    size
        Bytes, every part together (the Hub's figures: what a download transfers).
    parts, urls
        Each part the repository has, in order (one for a single file): its path, and the
        URL it downloads from (``{endpoint}/{repo}/resolve/{revision}/{path}``).
    sha256
        Each part's SHA-256 as the Hub states it (git LFS), None where it states none;
        ``LLM.load(..., sha256=list(f.sha256))`` checks the download against them.
    missing
        Part numbers (from 1) of a split model that the repository lacks; such a model cannot load.
    """

    path: str
    quant: str | None
    size: int
    parts: tuple[str, ...]
    urls: tuple[str, ...]
    sha256: tuple[str | None, ...]
    missing: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        parts = f", {len(self.parts) + len(self.missing)} parts" if len(self.parts) + len(self.missing) > 1 else ""
        return f"{self.path} ({self.quant or 'no quantization in its name'}, {format_size(self.size)}{parts})"


@dataclass(frozen=True)
class HubRepo:
    """What a Hub repository offers as GGUF models (``await inspect("hf://owner/repo")``).

    ``print()`` shows it as a table. ``files`` are the models, smallest first (``quants``
    their quantizations); ``projectors`` the multimodal projectors (``mmproj-*.gguf``),
    listed apart because they are never the model; ``other_files`` everything else.
    """

    repo_id: str
    revision: str
    endpoint: str
    files: tuple[HubFile, ...]
    projectors: tuple[HubFile, ...] = ()
    other_files: tuple[str, ...] = ()

    @property
    def quants(self) -> tuple[str, ...]:
        """The quantizations of the complete models, smallest first (what ``quant=`` takes)."""
        return tuple(dict.fromkeys(f.quant for f in self.files if f.quant and f.complete))

    def __str__(self) -> str:
        head = f"{self.repo_id} at {self.revision} ({self.endpoint}): {len(self.files)} GGUF model(s)"
        rows = [f"  {f.quant or '-':<11} {format_size(f.size):>11}  {f.path}"
                + (f"  ({len(f.parts)} parts)" if len(f.parts) > 1 else "")
                + (f"  (incomplete: part {', '.join(map(str, f.missing))} missing)" if f.missing else "")
                for f in self.files]
        if self.projectors:
            rows.append("  projectors (never the model): " + ", ".join(p.describe() for p in self.projectors))
        return "\n".join([head, *rows])


class _TreeFile(NamedTuple):
    path: str
    size: int
    sha256: str | None


def _server_message(body: bytes) -> str:
    """The Hub's ``{"error": "..."}`` message, or the start of the body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200] or "no message"
    return str(data.get("error") if isinstance(data, dict) and data.get("error") else data)[:500]


def listing_error(ref: HubRef, url: str, reply: HttpReply) -> ModelSourceError:
    """The error for a tree listing that failed with an HTTP status (the Hub's message kept)."""
    status, said = reply.status, _server_message(reply.body)
    if status == 404:
        return ModelSourceError(f"{ref.repo_id} at revision {ref.revision!r} was not found on {ref.endpoint} (HTTP "
                                f"404: {said}); check the owner/name as on the model's page, and the revision",
                                "file_not_found", status)
    if status in (401, 403):
        return ModelSourceError(f"{ref.endpoint} does not show {ref.repo_id} to this page (HTTP {status}: {said}): "
                                "no such repository (check the owner/name as on the model's page), or a private "
                                f"one, which needs a token. {NO_TOKEN}", "http_error", status)
    if status == 429:
        return ModelSourceError(f"{ref.endpoint} is limiting this page's requests (HTTP 429: {said}); try again in a "
                                "few minutes", "http_error", status)
    return ModelSourceError(f"HTTP {status} from {url}: {said}", "http_error", status)


def access_error(ref: HubRef, file: HubFile, status: int) -> ModelSourceError:
    """A listed file the Hub will not send (401/403): a gated or private repository."""
    return ModelSourceError(f"{ref.repo_id} lists {file.path}, but the Hub refuses to send it to this page (HTTP "
                            f"{status}): the repository is gated (its page asks you to accept conditions) or "
                            f"private, and its files need a token. {NO_TOKEN}", "http_error", status)


def _not_a_listing(url: str, body: bytes) -> ModelSourceError:
    return ModelSourceError(f"{url} answered with what is not the Hub's file list ({body[:120]!r}); is hf_endpoint= "
                            f"(or HF_ENDPOINT) a Hugging Face Hub, like {DEFAULT_ENDPOINT}?", "http_error", 200)


def _tree_page(url: str, body: bytes) -> list[_TreeFile]:
    """The files of one page of the tree API (folders skipped); LFS files carry their SHA-256."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, list):
        raise _not_a_listing(url, body)
    out = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise _not_a_listing(url, body)
        if entry.get("type") != "file":
            continue
        lfs: dict[str, Any] = entry["lfs"] if isinstance(entry.get("lfs"), dict) else {}
        size, oid = lfs.get("size", entry.get("size")), lfs.get("oid")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _not_a_listing(url, body)
        out.append(_TreeFile(entry["path"], size, oid.lower() if isinstance(oid, str) and _SHA256.match(oid) else None))
    return out


def _next_page(link: str, url: str) -> str | None:
    m = _NEXT.search(link)
    return urljoin(url, m[1]) if m else None


async def list_repo(ref: HubRef, get: HttpGet) -> HubRepo:
    """The repository's GGUF models, from every page of the Hub's tree API.

    Raises
    ------
    ModelSourceError
        ``file_not_found``: no such repository or revision (404). ``http_error``: not
        shown to this page (401/403: private, or no such repository), another HTTP
        status, or a reply that is not a file list. ``network_error``, ``timed_out``:
        from ``get``.
    """
    url, tree = ref.tree_url(), []
    for _ in range(MAX_PAGES):
        reply = await get(url)
        if reply.status != 200:
            raise listing_error(ref, url, reply)
        tree += _tree_page(url, reply.body)
        following = _next_page(reply.headers.get("link", ""), url)
        if following is None:
            return repo_from_tree(ref, tree)
        url = following
    raise ModelSourceError(f"{ref.tree_url()} goes on for more than {MAX_PAGES} pages; name the file "
                           "(hf://owner/repo/path.gguf) or load its resolve URL", "http_error", 200)


def _model(ref: HubRef, path: str, present: Sequence[_TreeFile], missing: tuple[int, ...] = ()) -> HubFile:
    return HubFile(path=path, quant=quant_of(path), size=sum(f.size for f in present),
                   parts=tuple(f.path for f in present), urls=tuple(ref.file_url(f.path) for f in present),
                   sha256=tuple(f.sha256 for f in present), missing=missing)


def repo_from_tree(ref: HubRef, tree: Sequence[_TreeFile]) -> HubRepo:
    """Group the files: single GGUFs, split sets (complete or not), projectors, the rest."""
    models: list[HubFile] = []
    projectors: list[HubFile] = []
    sets: dict[tuple[str, int], dict[int, _TreeFile]] = {}
    others: list[str] = []
    for f in tree:
        name = f.path.rpartition("/")[2].lower()
        if not name.endswith(".gguf") or "imatrix" in name:  # importance matrices are inputs of quantizing
            others.append(f.path)
            continue
        split = split_part(f.path)
        if split and 1 <= split[1] <= split[2]:
            sets.setdefault((split[0], split[2]), {})[split[1]] = f
        else:
            (projectors if "mmproj" in name else models).append(_model(ref, f.path, [f]))
    for (stem, count), found in sets.items():
        first = f"{stem}-00001-of-{count:05d}.gguf"
        model = _model(ref, first, [found[i] for i in sorted(found)],
                       tuple(i for i in range(1, count + 1) if i not in found))
        (projectors if "mmproj" in first.rpartition("/")[2].lower() else models).append(model)
    models.sort(key=lambda m: (m.size, m.path))
    return HubRepo(ref.repo_id, ref.revision, ref.endpoint, tuple(models), tuple(projectors), tuple(others))


def _offer(repo: HubRepo) -> str:
    """The complete models, for messages: ``Q4_K_M (4.58 GiB), Q8_0 (7.95 GiB)``."""
    return ", ".join(f"{f.quant or f.path} ({format_size(f.size)})" for f in repo.files if f.complete) or "none"


def _no_models(repo: HubRepo, ref: HubRef) -> ModelSourceError:
    if repo.projectors:
        what = "only multimodal projectors (mmproj), which are not a language model"
    else:
        shown = ", ".join(repo.other_files[:8]) + (", ..." if len(repo.other_files) > 8 else "")
        what = (f"no .gguf file (it holds: {shown or 'nothing'}); GGUF conversions of a model usually live in a "
                "repository of their own, named <model>-GGUF")
    return ModelSourceError(f"{ref.where} has {what}", "file_not_found")


def candidates(repo: HubRepo, ref: HubRef) -> list[HubFile]:
    """The models ``ref`` may mean, largest first: the file or the quantization it names, else every model.

    Raises
    ------
    ModelSourceError
        ``file_not_found``: no GGUF model in the repository (or under the folder
        named), no such file, or no model of that quantization (the message lists
        the ones there are).
    ModelLoadError
        ``split_mismatch``: the model named (or every model) is a split set with parts missing.
    ValueError
        ``quant`` matches several models (of different names): name the file instead.
    """
    files = list(repo.files)
    if ref.path and not ref.names_file:
        files = [f for f in files if f.path.startswith(ref.path + "/")]
        if repo.files and not files:
            raise ModelSourceError(f"{ref.where} has no GGUF model under {ref.path}/; it has: {_offer(repo)}",
                                   "file_not_found")
    if not files:
        raise _no_models(repo, ref)
    if ref.names_file:
        files = [f for f in files if ref.path in (f.path, *f.parts)]
        if not files:
            raise ModelSourceError(f"{ref.where} has no model file {ref.path}; it has: "
                                   + ", ".join(f.path for f in repo.files), "file_not_found")
    elif ref.quant:
        files = [f for f in files if f.quant == ref.quant]
        if not files:
            raise ModelSourceError(f"{ref.where} has no {ref.quant} model; it has {_offer(repo)}: pass one of these "
                                   "as quant=", "file_not_found")
    complete = [f for f in files if f.complete]
    if not complete:
        f = files[0]
        raise ModelLoadError(f"{ref.where}: {f.path} is a split model whose part(s) "
                             f"{', '.join(map(str, f.missing))} of {len(f.parts) + len(f.missing)} are not in the "
                             f"repository, so it cannot load; complete models there: {_offer(repo)}", "split_mismatch")
    if ref.quant and len(complete) > 1:
        raise ValueError(f"{ref.where} has {len(complete)} {ref.quant} models ("
                         + ", ".join(f.path for f in complete) + f"): name one, as hf://{ref.repo_id}/<path>")
    return sorted(complete, key=lambda f: (f.size, f.path), reverse=True)


def largest_fitting(ref: HubRef, files: Sequence[HubFile],
                    refusal: Callable[[HubFile], ModelLoadError | None]) -> HubFile:
    """The first of ``files`` (largest first) that ``refusal`` lets through: the best quality that fits.

    ``refusal`` is the memory check ``LLM.load`` applies to a model (None: it fits).

    Raises
    ------
    ModelLoadError
        ``out_of_memory``: none fits; the message names the smallest and why it does not.
    """
    for f in files:
        if refusal(f) is None:
            return f
    smallest = files[-1]
    why = refusal(smallest)
    raise ModelLoadError(f"no GGUF model of {ref.where} fits: the smallest, {smallest.describe()}: "
                         f"{why.message if why else 'it does not fit'}", "out_of_memory")
