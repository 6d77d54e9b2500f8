"""A streaming chat page: PyScript on the main thread, the model in pyodide_llm's engine worker.

The page stays responsive while the model generates because Python only awaits
tokens (the engine computes in its own worker). Stop cancels the generation task:
the engine stops within one token, keeps the model loaded, and the page is ready
for the next question. ``?model=URL`` overrides the model named in site.json.
"""

import asyncio
import json

import js
from pyscript import document, when

import pyodide_llm
from pyodide_llm import LLM, LLMError

body = document.body
status = document.getElementById("status")
progress_bar = document.getElementById("progress")
question = document.getElementById("question")
send = document.getElementById("send")
log = document.getElementById("log")

history: list[dict[str, str]] = []
running: asyncio.Task | None = None


def set_state(state: str, text: str) -> None:
    body.dataset.state = state
    status.textContent = text


def on_progress(loaded: int, total: int, stage: str) -> None:
    progress_bar.value = loaded / total if total else 0
    status.textContent = f"{stage}: {loaded / 1e6:.0f} / {total / 1e6:.0f} MB"


def add_turn(role: str, text: str = ""):
    div = document.createElement("div")
    div.className = role
    div.textContent = text
    log.append(div)
    return div


async def answer(text: str) -> None:
    history.append({"role": "user", "content": text})
    add_turn("user", text)
    out = add_turn("assistant")
    reply = ""
    set_state("generating", "generating…")
    try:
        async for piece in llm.chat(history, max_tokens=256, temperature=0.7):
            reply += piece
            out.textContent = reply
    except LLMError as e:
        set_state("error", f"error: {e}")
    else:
        s = llm.last_stats
        set_state("done", f"{s.generated_tokens} tokens at {s.decode_tokens_per_s:.1f} tok/s")
    finally:
        history.append({"role": "assistant", "content": reply})


def finished(task: asyncio.Task) -> None:
    """Ready for the next question, however the task ended (even cancelled before it began)."""
    if task.cancelled():
        set_state("stopped", "stopped")
    send.disabled = False
    question.disabled = False
    question.focus()


@when("submit", "#ask")
def on_send(event) -> None:
    global running
    event.preventDefault()
    text = question.value.strip()
    if not text or (running is not None and not running.done()):
        return
    question.value = ""
    send.disabled = True
    running = asyncio.ensure_future(answer(text))
    running.add_done_callback(finished)


@when("click", "#stop")
def on_stop(event) -> None:
    # Pressed twice, or with nothing running: nothing to do.
    if running is not None and not running.done():
        running.cancel()


site = json.loads(await (await js.fetch("./site.json")).text())  # noqa: F704 (PyScript top-level await)
model_url = js.URLSearchParams.new(js.location.search).get("model") or site["model"]
caps = await pyodide_llm.capabilities()  # noqa: F704
if not caps["cross_origin_isolated"]:
    notice = document.getElementById("notice")
    why = getattr(js.window, "pyodideLLMIsolation", None)  # isolation.js: why its service worker did not help
    notice.textContent = ("This page is not cross-origin isolated (no COOP/COEP headers), so the model runs on "
                          "one thread. Serve it with `python -m pyodide_llm serve` for all cores."
                          + (f" (Service worker: {why.reason}.)" if why and why.reason else ""))
    notice.hidden = False
if not model_url:
    set_state("error", "no model: bundle the site with --model, or open this page with ?model=URL")
else:
    set_state("loading", "loading the model…")
    try:
        llm = await LLM.load(model_url, n_ctx=2048, progress=on_progress)  # noqa: F704
    except LLMError as e:
        set_state("error", f"could not load {model_url}: {e}")
    else:
        i = llm.info
        document.getElementById("model").textContent = (
            f"{i.name or model_url} ({i.quantization}) · engine {i.variant} · {i.n_threads} thread(s)")
        body.dataset.variant = i.variant
        body.dataset.threads = str(i.n_threads)
        question.disabled = False
        send.disabled = False
        set_state("ready", "ready")
