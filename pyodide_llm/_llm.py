"""The public ``LLM`` class: load a model into an engine worker, generate, close."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ._agent import run_tools
from ._chat import Message, ToolRequest, chat_options, check_messages
from ._embed import create_embedding as _create_embedding
from ._embed import embed as _embed
from ._env import require_browser
from ._errors import LLMError
from ._gpu import GpuSetting
from ._loading import check_cache, hub_model, load_into, own_engine_plan, resolve_source, start_engine, warn_on_fallback
from ._map import Checkpoint, MapHooks, MapJob, MapProgress, check_concurrency, check_items
from ._openai import create_chat_completion, create_completion
from ._options import LoadOptions, Sampling, logprobs_count, sampling_from_kwargs
from ._progress import ProgressCallback
from ._progress import resolve as resolve_progress
from ._prompt_cache import PromptCache, check_limit
from ._results import GenerationStats, LoadReport, ModelInfo, ScoreResult
from ._schema import Schema, to_schema
from ._session import Session, SessionTable, model_identity
from ._session import session_from as _session_from
from ._storage import check_name, record_store
from ._stream import Prepare, TokenStream
from ._transport import PendingCall, Transport

if TYPE_CHECKING:
    from ._remote.llm import RemoteLLM


def _schema_option(json_schema: Any, sampling: dict[str, Any]) -> Schema | None:
    """``json_schema=`` as a :class:`Schema`, its text put into the sampling keywords for the engine."""
    if json_schema is None:
        return None
    if sampling.get("grammar"):
        raise ValueError("give either grammar= or json_schema=, not both: the schema becomes a grammar itself")
    schema = to_schema(json_schema)
    sampling["json_schema"] = schema.text()
    return schema


def _parse_with(payload: dict[str, Any], fmt: dict[str, Any], calls: ToolRequest) -> None:
    """Ask the engine to parse this chat's output (tools that may be called, or a template that
    reasons): its syntax, and the tool-call grammar when the template has one."""
    if not (calls.active or fmt.get("supports_thinking")):
        return
    payload["syntax"] = fmt["syntax"]
    if calls.active and (fmt.get("sampling") or {}).get("grammar"):
        payload["sampling"]["chat"] = fmt["sampling"]


class LLM:
    """A model loaded in its own engine worker.

    Create it with ``await LLM.load(...)``; it owns its worker until
    :meth:`close` (or the end of ``async with``). One generation runs at a time:
    starting a second one while the first is still streaming raises
    :class:`LLMError` with code ``"busy"`` (a broken-off stream is waited for).
    """

    def __init__(self, transport: Transport, info: ModelInfo, report: LoadReport | None = None,
                 prompt_cache: int = 0) -> None:
        self._transport = transport
        self._info = info
        self._report = report
        self._active: PendingCall | None = None
        self._last_stats: GenerationStats | None = None
        self._closed = False
        self._sessions = SessionTable(self)
        self._prompt_cache = PromptCache(record_store(), model_identity(info), prompt_cache) if prompt_cache else None

    @classmethod
    async def load(cls, source: str | Sequence[str] | bytes | memoryview | Any, *, n_ctx: int = 2048,
                   n_threads: int | None = None, n_batch: int = 512, variant: str = "auto",
                   gpu: GpuSetting = "auto", n_gpu_layers: int | None = None, chat_template: str | None = None,
                   progress: ProgressCallback | bool | None = None, cache: bool | str = True,
                   sha256: str | Sequence[str] | None = None, prompt_cache: bool | int = False,
                   timeout: float = 60.0, quant: str | None = None, revision: str | None = None,
                   hf_endpoint: str | None = None, transport: Transport | None = None) -> LLM:
        """Load a GGUF model from a URL (absolute or page-relative), a split model, the Hub, bytes or a File.

        Parameters
        ----------
        source
            URL of a ``.gguf`` file; for a split model the first part's URL
            (``<name>-00001-of-0000N.gguf``: the others are found) or the list of part
            URLs in order; the model's bytes; or a browser ``File``/``Blob`` (e.g. from
            ``<input type=file>`` in PyScript; read in chunks straight into the engine).
            Parts download in parallel (at most 3 at once), each into its own memory.
            A relative URL is relative to the page; in a JupyterLite kernel, to the
            working folder in the site's contents (the notebook's, ``<site>/files/...``).
            ``hf://owner/repo[@revision][:QUANT][/path.gguf]``: a Hugging Face Hub
            repository's model (every part of a split one), the file named, else of
            ``quant``, else the largest (best) that fits this page's memory for ``n_ctx``.
        n_ctx
            Context window in tokens (0: the model's training context).
        n_threads
            Engine threads; ``None`` uses what the page can really use (all cores
            when cross-origin isolated, else 1).
        variant
            ``"auto"`` or one of ``wasm32-relaxed-mt``, ``wasm64-mt``, ``wasm32-mt``,
            ``wasm32-st`` (CPU) and ``wasm64-webgpu`` (llama.cpp's WebGPU backend).
            ``"auto"`` picks the fastest CPU variant the page can run that holds the
            model (``wasm64-mt`` only for models needing over 3.5 GiB) unless ``gpu``
            picks the GPU; naming a variant decides the backend, and contradicting
            ``gpu`` (``variant="wasm32-st", gpu=True``) raises ``ValueError``.
        gpu
            ``"auto"``: run on the GPU (WebGPU) when this page can, i.e. ``navigator.gpu``,
            an adapter with ``shader-f16``, JSPI, a cross-origin isolated page and the
            WebGPU engine in the package, unless the adapter is a fallback (software)
            one, which is slower than the CPU; else on the CPU, as without a GPU.
            ``capabilities()["webgpu"]["reason"]`` says why not. ``True``: the GPU or
            :class:`UnsupportedEnvironmentError`. ``False``: the CPU; no adapter is even
            requested.
        n_gpu_layers
            Layers to offload when the GPU is used: ``None`` (all), or ``k >= 1`` (the
            last ``k``, as llama.cpp offloads from the output end; a count past the
            model's last layer means all: llama.cpp counts ``n_layer + 1`` with the
            output layer). ``0`` keeps the model on the CPU
            (``ValueError`` with ``gpu=True``); a negative count is a ``ValueError``.
            ``llm.info.n_gpu_layers`` and ``llm.info.backend`` say what llama.cpp really did.
        chat_template
            A Jinja chat template to use instead of the one in the GGUF (llama.cpp's
            Jinja engine renders it; the tool-call and reasoning formats are read from
            it, as llama-server's ``--chat-template-file``). One that does not parse
            raises :class:`LLMError` (``template_failed``) and nothing stays loaded.
        progress
            Called with ``(loaded, total, stage)`` while the model downloads (``download``),
            is read from the cache (``cache``) or a File (``read``), and loads (``load``).
            ``True`` draws a bar (tqdm's notebook widget with ipywidgets, else one line of
            text), ``False`` nothing; the default is a bar inside a notebook kernel only.
        cache
            Keep downloaded files in the browser's storage and read them from there next
            time, with no network: ``True`` (OPFS, else the Cache API), ``"opfs"``,
            ``"cache-api"``, or ``False``. ``"revalidate"`` also asks the server (one HEAD
            request) whether the file changed (size or ETag) and downloads it again if so.
            Cached files are keyed by URL. See :mod:`pyodide_llm.cache`.
        sha256
            Expected SHA-256 (hex) of the file, or one per part: the bytes are hashed as
            they stream in and a mismatch raises :class:`ModelSourceError` (``checksum_mismatch``).
        prompt_cache
            Keep the keys/values of long prompts (256 tokens or more: a system prompt, a
            document asked about) in the browser's storage, keyed by the model and the
            prompt's tokens, so that a later page load whose prompt starts with the same
            tokens restores them instead of evaluating them again. ``True`` (512 MiB at
            most, least recently used first out) or a size in MiB. Listed and cleared
            through :mod:`pyodide_llm.cache` (``prompt_cache()``, ``clear_prompt_cache()``).
        timeout
            Seconds to wait for a server: for a response, and for each 64 KiB of a
            download (a server that stalls or trickles fails with
            :class:`ModelSourceError`, code ``timed_out``, instead of never ending).
        quant, revision, hf_endpoint
            For ``hf://``: the quantization as file names say it (``"Q4_K_M"``, ``"Q8_0"``,
            ``"IQ4_XS"``, ``"F16"``; any case), the branch, tag or commit (``"main"``), and
            the Hub's base URL (else ``os.environ["HF_ENDPOINT"]``, else ``https://huggingface.co``).
        transport
            For tests and custom hosts: the engine connection to use instead of a new worker.

        Raises
        ------
        ModelSourceError
            HTTP or network failure (after resuming a broken download where the server
            allows it), a sha256 mismatch, or a Hub repository that is not there, is gated
            or private (no token is sent from a page), or lacks the file or ``quant`` (listed).
        ModelLoadError
            Not GGUF, truncated, an architecture llama.cpp does not know, split parts that
            are not one model, or a model too large for any engine variant.
        CacheError
            The browser's storage quota cannot hold the model (pass ``cache=False``).
        UnsupportedEnvironmentError
            ``gpu=True`` where WebGPU is not usable (the message names the missing
            piece), or a ``variant`` this page cannot run.
        ValueError, TypeError
            A bad option, or ``gpu``, ``n_gpu_layers`` and ``variant`` contradicting each other.

        Warns
        -----
        GPUFallbackWarning
            The GPU was chosen but llama.cpp offloaded fewer layers than asked, or none
            (a tensor over the adapter's buffer limits, a device it could not create):
            the model is loaded and works, on the CPU for those layers.

        Notes
        -----
        With ``transport=`` nothing is detected: ``gpu=True`` asks that engine for the
        layers, ``"auto"`` and ``False`` ask for none. A GPU device lost later (driver
        reset, GPU process crash) fails the request that met it with
        :class:`GPUDeviceLostError`; the page stays alive, and the model must be loaded
        again (``gpu=False`` to stay off the GPU).
        """
        opts = LoadOptions(n_ctx=n_ctx, n_threads=n_threads, n_batch=n_batch, variant=variant, gpu=gpu,
                           n_gpu_layers=n_gpu_layers, timeout=timeout)
        check_cache(cache)
        cache_limit = check_limit(prompt_cache)
        if chat_template is not None and (not isinstance(chat_template, str) or not chat_template.strip()):
            raise ValueError("chat_template must be a non-empty Jinja template string")
        on_progress = resolve_progress(progress)
        if transport is None:
            require_browser("LLM.load")  # before anything else: the one error that matters here
        hub = await hub_model(source, opts, cache, quant, revision, hf_endpoint, own_engine=transport is not None)
        model = hub.source(sha256) if hub else resolve_source(source, sha256)
        if transport is None:
            transport, plan = await start_engine(model, opts, cache, hub)
        else:  # a caller's own engine connection (tests, custom hosts)
            plan = own_engine_plan(opts)
        payload = {**model.payload(cache), "n_ctx": opts.n_ctx, "n_threads": plan.n_threads,
                   "n_batch": opts.n_batch, "n_gpu_layers": plan.gpu.n_gpu_layers, "offload_kqv": plan.gpu.offload_kqv,
                   "timeout": opts.timeout}
        if chat_template is not None:
            payload["chat_template"] = chat_template
        reply = await load_into(transport, payload, on_progress)
        warn_on_fallback(plan, reply["info"])
        report = LoadReport.from_reply(reply, engine_reused=transport.reused_engine)
        return cls(transport, ModelInfo.from_engine(reply["info"], plan.variant, plan.adapter), report, cache_limit)

    @staticmethod
    async def connect(base_url: str, *, model: str | None = None, api_key: str | None = None,
                      timeout: float = 120.0, connect_timeout: float = 10.0) -> RemoteLLM:
        """The same API on an OpenAI-compatible server (llama-server, vLLM, ...), instead of in the page.

        ``llm = await LLM.connect("http://127.0.0.1:8080")`` returns an object with
        this class's generation methods (``chat``, ``complete``, ``run``, ``embed``,
        ``create_chat_completion``, ``create_completion``, ``tokenize``, ...) and the
        same stream type, over ``/v1/chat/completions``, ``/v1/completions`` and
        ``/v1/embeddings`` (server-sent events). Works in Pyodide (the browser's
        ``fetch``; the server must allow the page's origin, CORS) and on plain CPython
        (with httpx: ``pip install "pyodide-llm[remote]"``). ``break`` or ``aclose()``
        closes the connection, which stops the server's generation.

        Parameters
        ----------
        base_url
            The server, with or without ``/v1`` (in a browser, a path on the page's
            own origin works too).
        model
            A name from the server's ``/v1/models``; ``None`` takes its first (a
            llama-server serves one).
        api_key
            Sent as ``Authorization: Bearer``; llama-server's ``--api-key``.
        timeout
            Seconds to wait for a response and then between two events of a stream
            (a long prompt on a slow server needs more); connect_timeout the seconds
            to open the connection.

        Raises
        ------
        RemoteConnectionError, RemoteTimeoutError
            Nothing listens there (or, in a browser, CORS refused the page), or it does not answer.
        AuthenticationError
            401/403: a missing or wrong ``api_key``.
        ModelNotFoundError
            ``model`` is not one the server serves (the message lists them).
        RemoteError
            The server failed (5xx; ``status``, ``retry_after``) or is not OpenAI-compatible.
        """
        from ._remote.llm import connect

        return await connect(base_url, model=model, api_key=api_key, timeout=timeout,
                             connect_timeout=connect_timeout)

    # -- generation -----------------------------------------------------------------

    def chat(self, messages: Sequence[Message], *, tools: Any = None, tool_choice: Any = "auto",
             parallel_tool_calls: bool = False, enable_thinking: bool = True, json_schema: Any = None,
             logprobs: bool = False, top_logprobs: int = 0, parse_special: bool = False,
             **sampling: Any) -> TokenStream:
        """Stream the answer to a conversation, rendered with the model's own chat template.

        ``messages`` are OpenAI-shaped dicts: ``role`` and ``content``; an assistant
        message may carry ``tool_calls`` (``content`` None), a tool message
        ``tool_call_id`` (``stream.message`` is the assistant turn to append).

        Sampling keywords: ``max_tokens, temperature, top_k, top_p, min_p,
        repeat_penalty, presence_penalty, frequency_penalty, seed, stop, grammar,
        cache_prompt`` (``False``: evaluate the whole prompt, ignoring the engine's
        cache, for results that never depend on earlier requests). Raises
        ``ValueError`` at once for bad values.

        ``tools``: OpenAI tool dicts or plain Python functions (name, docstring,
        signature and type hints become the schema). llama.cpp's chat code renders
        them into the prompt, constrains a call with its grammar and parses the output
        (the template's own format: Hermes, Qwen, Llama 3.x, Mistral, ...): the stream
        yields the answer's text and then each :class:`ToolCall`; ``stream.tool_calls``
        lists them. ``tool_choice``: ``"auto"``, ``"required"``, ``"none"`` or a tool's
        name (that one, required). ``parallel_tool_calls`` lets the model make more
        than one call per turn. :meth:`run` runs the calls for you.

        ``enable_thinking``: for a template that reasons (``<think>``), let it
        (the reasoning goes to ``stream.reasoning``, not the text); ``False`` asks the
        template not to.

        ``json_schema``: a JSON Schema dict, a dataclass, a ``TypedDict`` or a pydantic
        model class; the output is constrained to it (llama.cpp's own schema-to-grammar
        converter, in the engine) and ``await stream.json()`` returns the parsed value,
        an instance of the class when a class was given. A schema llama.cpp cannot
        convert raises :class:`BadRequestError` (a ``ValueError``) with its message;
        with ``grammar=`` or ``tools=`` too, ``ValueError``.

        ``logprobs=True`` records each generated token's log-probability under the
        model in ``stream.logprobs`` (:class:`TokenLogprob`); ``top_logprobs=k``
        (0-20, implies ``logprobs``) adds its ``k`` best alternatives.

        Message text stays text: a message that spells one of the template's control
        tokens (``<|im_end|>``, ``<end_of_turn>``, ``<|eot_id|>``) gets the tokens of
        those characters, never the control token, so it cannot close its turn or open
        a system turn; the template's own markers are control tokens as always.
        ``parse_special=True`` turns such text in messages into control tokens too
        (llama.cpp's plain behaviour; only for messages you wrote yourself).
        """
        return self._chat(check_messages(messages), 0, None, tools=tools, tool_choice=tool_choice,
                          parallel_tool_calls=parallel_tool_calls, enable_thinking=enable_thinking,
                          json_schema=json_schema, logprobs=logprobs, top_logprobs=top_logprobs,
                          parse_special=parse_special, **sampling)

    def _chat(self, msgs: list[Message], seq: int, session: Session | None, *, tools: Any = None,
              tool_choice: Any = "auto", parallel_tool_calls: bool = False, enable_thinking: bool = True,
              json_schema: Any = None, logprobs: bool = False, top_logprobs: int = 0,
              parse_special: bool = False, **sampling: Any) -> TokenStream:
        """``chat`` in engine sequence ``seq``; a session's history is fitted to n_ctx and read
        when the stream starts."""
        calls = chat_options(tools, tool_choice, parallel_tool_calls, enable_thinking,
                             json_schema is not None or bool(sampling.get("grammar")))
        schema = _schema_option(json_schema, sampling)
        n_logprobs = logprobs_count(logprobs, top_logprobs)
        s = sampling_from_kwargs(sampling)
        if not isinstance(parse_special, bool):
            raise ValueError(f"parse_special must be True or False, got {parse_special!r}")
        request = {"messages": msgs, "add_generation_prompt": True, **calls.payload(),
                   "parallel_tool_calls": parallel_tool_calls, "enable_thinking": enable_thinking,
                   "parse_special": parse_special}

        async def prepare() -> tuple[dict[str, Any], tuple[str, ...]]:
            if session is not None:
                await self._wait_idle()
                await session.fit(s.max_tokens)
                request["messages"] = check_messages(session._messages)
            fmt = await self._transport.call("chat_format", request)
            payload = await self._begin(fmt["prompt"], s, n_logprobs, tokens=fmt["tokens"])
            payload["seq"] = session.seq if session is not None else seq
            _parse_with(payload, fmt, calls)
            await self._use_prompt_cache(payload, s)
            return payload, tuple(fmt.get("stops") or ())

        return self._stream(s, prepare, schema)

    async def run(self, messages: Sequence[Message], *, tools: Any, tool_choice: Any = "auto", max_rounds: int = 5,
                  raise_tool_errors: bool = False, **options: Any) -> str:
        """Chat with tools until the model answers: its calls run as Python, their results go back.

        Each round streams an answer with :meth:`chat`; every :class:`ToolCall` in it is
        run (the function awaited if it is async) with its parsed arguments, and the
        result goes back to the model as a tool message. Returns the first answer that
        calls no tool. After ``max_rounds`` rounds of calls the model is asked once more
        with ``tool_choice="none"``. ``tool_choice`` applies to the first round only
        (later rounds are ``"auto"``, so ``"required"`` cannot loop forever).

        A tool that raises, or a call of a name that is not one of the Python
        functions in ``tools`` (the model invented it, or the tool is only a dict),
        is reported to the model as the tool's result (``"error: ..."``) so it can
        recover; with ``raise_tool_errors=True`` it raises :class:`ToolCallError`
        instead. ``options`` are :meth:`chat`'s (sampling, ``parallel_tool_calls``, ...).
        ``messages`` is not changed.
        """
        return await run_tools(self, messages, tools=tools, tool_choice=tool_choice, max_rounds=max_rounds,
                               raise_tool_errors=raise_tool_errors, options=options)

    def complete(self, prompt: str, *, json_schema: Any = None, logprobs: bool = False, top_logprobs: int = 0,
                 **sampling: Any) -> TokenStream:
        """Stream a plain continuation of ``prompt`` (no chat template); the options as in :meth:`chat`."""
        if not isinstance(prompt, str) or not prompt:
            raise ValueError("prompt must be a non-empty string")
        schema = _schema_option(json_schema, sampling)
        n_logprobs = logprobs_count(logprobs, top_logprobs)
        s = sampling_from_kwargs(sampling)

        async def prepare() -> tuple[dict[str, Any], tuple[str, ...]]:
            payload = await self._begin(prompt, s, n_logprobs)
            await self._use_prompt_cache(payload, s)
            return payload, ()

        return self._stream(s, prepare, schema)

    def _stream(self, s: Sampling, prepare: Prepare, schema: Schema | None = None) -> TokenStream:
        self._check_open()
        return TokenStream(self._transport, s, prepare, self._on_generation_done, self._on_generation_start,
                           schema=schema, on_state=self._on_prompt_state)

    async def _use_prompt_cache(self, payload: dict[str, Any], s: Sampling) -> None:
        if self._prompt_cache is not None and s.cache_prompt:
            await self._prompt_cache.prepare(self._transport, payload, int(payload.get("seq", 0)))

    def _on_prompt_state(self, data: dict[str, Any]) -> None:
        """The worker saved a long prompt's state: keep it (in the background: the tokens stream on)."""
        if self._prompt_cache is None:
            return
        state = data["state"]
        raw = state.to_bytes() if hasattr(state, "to_bytes") else bytes(state)
        task = asyncio.ensure_future(self._prompt_cache.save(raw, [int(t) for t in data["tokens"]]))
        self._prompt_cache.saves.append(task)

    def _on_generation_start(self, call: PendingCall) -> None:
        self._active = call

    async def score(self, text: str, *, add_special: bool = True) -> ScoreResult:
        """Log-probabilities of ``text``'s tokens under the model, without generating.

        Each token after the first is scored given the ones before it (with
        ``add_special`` the model's BOS token, if it has one, comes first and every
        token of the text is scored). Use it to rank candidate answers: a higher
        ``total`` is likelier. Runs between generations (``busy`` during one).
        """
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty string")
        self._check_open()
        tokens = await self.tokenize(text, add_special=add_special)
        if len(tokens) < 2:
            raise ValueError(f"{text!r} is {len(tokens)} token; scoring needs a context token before the first "
                             "scored one (keep add_special=True, or score a longer text)")
        reply = await self._transport.call("score", {"tokens": tokens})
        return ScoreResult(list(reply["tokens"]), [float(x) for x in reply["logprobs"]], float(reply["total"]))

    async def _wait_idle(self) -> None:
        """Wait for a cancelled generation to wind down; refuse to overlap a live one."""
        self._check_open()
        if self._active is not None and not self._active.future.done():
            if not self._active.cancelled:
                raise LLMError("another generation is still streaming on this model; finish it or call "
                               "`await stream.aclose()` first (or load a second LLM)", "busy")
            await asyncio.wait_for(asyncio.shield(self._active.future), timeout=30)

    async def _begin(self, prompt: str, s: Sampling, n_logprobs: int = -1,
                     tokens: list[int] | None = None) -> dict[str, Any]:
        """The generate payload, once the model is free; a chat's ``tokens`` (chat_format's,
        message text kept from becoming control tokens) are generated from instead of the text."""
        await self._wait_idle()
        payload: dict[str, Any] = {"prompt": prompt, "max_tokens": s.max_tokens, "sampling": s.engine_payload()}
        if tokens is not None:
            payload["tokens"] = [int(t) for t in tokens]
        if n_logprobs >= 0:
            payload["logprobs"] = n_logprobs
        return payload

    def _on_generation_done(self, call: PendingCall, reply: dict[str, Any] | None) -> None:
        if reply is None:  # cancelled by us: stays active until the worker confirms
            call.future.add_done_callback(lambda f: self._settle(call, f.result()))
            return
        self._settle(call, reply)

    def _settle(self, call: PendingCall, reply: dict[str, Any]) -> None:
        if self._active is call:
            self._active = None
        if reply.get("stats"):
            self._last_stats = GenerationStats.from_engine(reply["stats"])

    # -- many rows, conversations --------------------------------------------------------

    def map(self, items: Sequence[str | Sequence[Message]], *, json_schema: Any = None, concurrency: int = 8,
            progress: MapProgress | bool | None = None, checkpoint: str | None = None, **sampling: Any) -> MapJob:
        """Generate for many prompts together: ``async for index, text in llm.map(items)``.

        Each item is a prompt string (continued as :meth:`complete` does) or a message
        list (answered as :meth:`chat` does). Up to ``concurrency`` rows (1-16) decode
        together in one llama.cpp batch, a sequence id each; each ``(index, text)``
        comes as its row finishes, and ``await llm.map(...).collect()`` returns the
        texts in order. Greedy texts equal one-at-a-time ones with ``cache_prompt=False``
        (README: the rounding of cached prefixes). Sampling keywords and
        ``json_schema``/``grammar`` apply to every row. When the context cannot hold
        ``concurrency`` rows of prompt + ``max_tokens`` at once, fewer run together
        (a ``RuntimeWarning`` says so); a row longer than the context raises
        :class:`ContextOverflowError` before anything runs.

        ``checkpoint="name"`` keeps each finished row in the browser's storage as it
        arrives; the same call after a page reload gives those rows back at once and
        generates only the rest (``pyodide_llm.cache.checkpoints()`` lists them).
        ``progress``: a callable ``(done, total, "map")`` or ``True`` for a bar.
        """
        unsupported = sorted({"tools", "tool_choice", "logprobs", "top_logprobs"} & set(sampling))
        if unsupported:
            raise ValueError(f"map does not take {', '.join(unsupported)}: run those rows with chat() one at a time")
        rows = check_items(items)
        n = check_concurrency(concurrency)
        if checkpoint is not None:
            check_name(checkpoint, "checkpoint")
        self._check_open()
        schema = _schema_option(json_schema, sampling)
        s = sampling_from_kwargs(sampling)
        ckpt = None
        if checkpoint is not None:
            salt = json.dumps([self._info.name, self._info.size, self._info.n_params, s.engine_payload(),
                               s.max_tokens, list(s.stop), schema.text() if schema else None], sort_keys=True)
            ckpt = Checkpoint(record_store(), checkpoint, salt)
        on_progress = resolve_progress(progress) if progress is not False else None
        hooks = MapHooks(self._wait_idle, self._on_generation_start, self._on_map_done)
        return MapJob(self._transport, rows, s, n, hooks, on_progress, ckpt)

    def _on_map_done(self, call: PendingCall, reply: dict[str, Any] | None) -> None:
        if reply is None:
            call.future.add_done_callback(lambda f: self._on_map_done(call, f.result()))
        elif self._active is call:
            self._active = None

    def session(self, system: str | None = None, *, messages: Sequence[Message] | None = None,
                overflow: str = "truncate") -> Session:
        """A conversation that keeps its turns and its cache: ``chat.send(text)`` streams each answer.

        ``system`` starts the history with a system prompt; ``messages`` with earlier
        turns. Several sessions share the model (its weights are loaded once); each keeps
        its history in a sequence of the engine's cache while there is room, so
        switching between them does not evaluate a history again. See :class:`Session`.
        """
        self._check_open()
        if system is not None and (not isinstance(system, str) or not system):
            raise ValueError("system must be a non-empty string")
        history: list[Message] = [{"role": "system", "content": system}] if system else []
        if messages:
            history += check_messages(messages)
        return Session(self, history, overflow)

    async def session_from(self, data: bytes | str) -> Session:
        """A session saved by :meth:`Session.save`: its bytes, or the name it was stored under.

        The next greedy answer is the one the saved session would have given. A state
        of another model or ``n_ctx``, or damaged bytes, raise :class:`SessionStateError`.
        """
        return await _session_from(self, data)

    def _session_stream(self, session: Session, options: dict[str, Any]) -> TokenStream:
        return self._chat([], 0, session, **options)

    async def _count_chat_tokens(self, messages: list[Message]) -> int:
        fmt = await self._transport.call("chat_format", {"messages": check_messages(messages),
                                                         "add_generation_prompt": True})
        return len(fmt["tokens"])

    # -- embeddings ---------------------------------------------------------------------

    async def embed(self, texts: str | Sequence[str], *, normalize: bool = True, pooling: str | None = None,
                    truncate: bool = True) -> Any:
        """Embedding vectors of ``texts``, pooled by llama.cpp (what ``llama-embedding`` computes).

        A string gives one vector, a list a matrix: a ``numpy.ndarray`` (``(n, dim)``,
        float32) when numpy is importable, else lists of floats. ``pooling``: ``None``
        is the model's own (its GGUF metadata: mean for all-MiniLM, CLS for BGE, ...;
        mean for a chat model that names none), or ``"mean"``, ``"cls"``, ``"last"``.
        ``normalize`` scales each vector to length 1 (cosine similarity is then a dot
        product). Many texts are embedded together, several sequences per llama.cpp
        batch. A text longer than the context is truncated with a ``RuntimeWarning``,
        or raises :class:`ContextOverflowError` with ``truncate=False``.
        """
        self._check_open()
        return await _embed(self._transport, texts, normalize=normalize, pooling=pooling, truncate=truncate)

    async def create_embedding(self, input: str | Sequence[str], **kw: Any) -> dict[str, Any]:
        """Embeddings in OpenAI's shape (``data[i]["embedding"]`` lists of floats, unit length, and
        ``usage``): :meth:`embed` for code written against OpenAI's or llama-cpp-python's API."""
        self._check_open()
        return await _create_embedding(self._transport, self._model_name(), input, **kw)

    # -- OpenAI's call shapes -----------------------------------------------------------

    async def create_chat_completion(self, messages: Sequence[Message], *, stream: bool = False,
                                     **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """A chat completion in OpenAI's shape (the dict, or with ``stream=True`` an async
        iterator of ``chat.completion.chunk`` dicts).

        Takes OpenAI's keywords: ``response_format`` (``{"type": "json_object"}``, with
        llama-cpp-python's ``"schema"``, or ``{"type": "json_schema", "json_schema":
        {"schema": ...}}``), ``tools``, ``tool_choice``, ``parallel_tool_calls``,
        ``logprobs``, ``top_logprobs``, ``max_tokens``/``max_completion_tokens``
        (default: until the model stops or the context is full), ``stop``, ``seed``,
        ``temperature``, ``top_p``, ``presence_penalty``, ``frequency_penalty``,
        ``stream_options={"include_usage": True}``, and llama-cpp-python's ``top_k``,
        ``min_p``, ``repeat_penalty``, ``grammar``. ``model``, ``user``, ``metadata``
        are accepted and have no effect; anything llama.cpp cannot do here
        (``logit_bias``, ``n > 1``, ...) is a ``ValueError``.
        """
        if kw.get("max_tokens") is None and kw.get("max_completion_tokens") is None:
            kw["max_tokens"] = self._info.n_ctx
        return await create_chat_completion(self, self._model_name(), messages, stream=stream, **kw)

    async def create_completion(self, prompt: str, *, stream: bool = False,
                                **kw: Any) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
        """A text completion in OpenAI's legacy shape (``text_completion``; ``stream=True``: chunks).

        The keywords of :meth:`create_chat_completion` without tools; ``logprobs=k``
        is the legacy API's number of alternatives per token. ``max_tokens`` defaults
        to 16, as in llama-cpp-python and OpenAI.
        """
        if kw.get("max_tokens") is None:
            kw["max_tokens"] = 16
        return await create_completion(self, self._model_name(), prompt, stream=stream, **kw)

    def _model_name(self) -> str:
        return self._info.name or self._info.architecture or "pyodide_llm"

    # -- tokens -----------------------------------------------------------------------

    async def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """Token ids of ``text`` in this model's vocabulary."""
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        self._check_open()
        reply = await self._transport.call("tokenize", {"text": text, "add_special": add_special,
                                                        "parse_special": parse_special})
        return list(reply["tokens"])

    async def detokenize(self, ids: Sequence[int], *, remove_special: bool = False,
                         unparse_special: bool = False) -> str:
        """Text of a sequence of token ids."""
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise ValueError("ids must be a list of integers")
        self._check_open()
        reply = await self._transport.call("detokenize", {"tokens": list(ids), "remove_special": remove_special,
                                                          "unparse_special": unparse_special})
        text: str = reply["text"]
        return text

    # -- state ------------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        """Architecture, size, context, template, variant, threads and backend (GPU or CPU) of the loaded model."""
        return self._info

    @property
    def load_report(self) -> LoadReport | None:
        """Where the model's files came from (network, cache, ...) and how long loading took."""
        return self._report

    @property
    def last_stats(self) -> GenerationStats | None:
        """Timings of the last finished generation, or None."""
        return self._last_stats

    def _check_open(self) -> None:
        if self._closed:
            raise LLMError("this LLM is closed; load the model again", "no_model")

    async def close(self, *, keep_engine: bool = True) -> None:
        """Free the model (idempotent).

        The engine worker, its model freed, is kept idle for a minute for the next
        ``LLM.load`` of the same variant (no new worker, no new compile: browsers give
        back little of a worker they end, so loading and closing in a loop would
        otherwise grow the tab); one per variant, and only if its memory is under
        1 GiB. ``keep_engine=False`` ends the worker now.
        """
        if self._closed:
            return
        self._closed = True
        await self._transport.close(keep_engine)

    async def __aenter__(self) -> LLM:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
