"""A browser-side data app: label every row of a table with a local model, then export it.

The labels are constrained to a fixed set by a GBNF grammar (``choice_grammar``),
so every row gets exactly one allowed category, whatever the model would have
preferred to write. ``?model=URL`` overrides the model named in site.json and
``?data=URL`` the CSV (columns ``id,text``).
"""

import csv
import io
import json

import js
from pyscript import document, when

from pyodide_llm import LLM, LLMError, choice_grammar

CATEGORIES = ["billing", "bug", "feature request", "account", "other"]
PROMPT = ("You sort customer support tickets. Reply with exactly one category: "
          + ", ".join(CATEGORIES) + ".")

body = document.body
status = document.getElementById("status")
progress_bar = document.getElementById("progress")
run_button = document.getElementById("run")
export_button = document.getElementById("export")
tbody = document.getElementById("rows")
document.getElementById("categories").textContent = ", ".join(CATEGORIES)
GRAMMAR = choice_grammar(CATEGORIES)


def set_state(state: str, text: str) -> None:
    body.dataset.state = state
    status.textContent = text


async def fetch_text(url: str) -> str:
    resp = await js.fetch(url)
    if not resp.ok:
        raise OSError(f"HTTP {resp.status} for {url}")
    return await resp.text()


def show(rows: list[dict[str, str]]) -> list:
    cells = []
    for row in rows:
        tr = document.createElement("tr")
        for value, cls in ((row["id"], ""), (row["text"], ""), ("", "label")):
            td = document.createElement("td")
            td.textContent = value
            if cls:
                td.className = cls
            tr.append(td)
        tbody.append(tr)
        cells.append(tr.lastChild)
    return cells


async def label(text: str) -> str:
    messages = [{"role": "system", "content": PROMPT}, {"role": "user", "content": text}]
    # The grammar ends the answer after a whole category; max_tokens only bounds a runaway.
    pieces = [p async for p in llm.chat(messages, grammar=GRAMMAR, max_tokens=32, temperature=0)]
    answer = "".join(pieces).strip()
    if answer not in CATEGORIES:
        raise LLMError(f"the model's answer {answer!r} is not a category", "internal")
    return answer


@when("click", "#run")
async def on_run(event) -> None:
    run_button.disabled = True
    export_button.disabled = True
    set_state("labelling", "labelling…")
    for i, (row, cell) in enumerate(zip(rows, cells)):
        cell.textContent = "…"
        try:
            row["label"] = await label(row["text"])
        except LLMError as e:
            row["label"] = ""
            cell.textContent = f"error: {e}"
            continue
        cell.textContent = row["label"]
        progress_bar.value = (i + 1) / len(rows)
        status.textContent = f"{i + 1} / {len(rows)} rows"
    body.dataset.csv = to_csv(rows)
    set_state("done", f"labelled {len(rows)} rows")
    run_button.disabled = False
    export_button.disabled = False


def to_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=["id", "text", "label"], lineterminator="\n")
    w.writeheader()
    w.writerows({k: r.get(k, "") for k in ("id", "text", "label")} for r in rows)
    return out.getvalue()


@when("click", "#export")
def on_export(event) -> None:
    from pyodide.ffi import to_js

    blob = js.Blob.new(to_js([to_csv(rows)]), to_js({"type": "text/csv"}, dict_converter=js.Object.fromEntries))
    a = document.createElement("a")
    a.href = js.URL.createObjectURL(blob)
    a.download = "tickets-labelled.csv"
    a.click()
    js.URL.revokeObjectURL(a.href)


params = js.URLSearchParams.new(js.location.search)
site = json.loads(await fetch_text("./site.json"))  # noqa: F704 (PyScript top-level await)
rows = list(csv.DictReader(io.StringIO(await fetch_text(params.get("data") or "./tickets.csv"))))  # noqa: F704
cells = show(rows)
model_url = params.get("model") or site["model"]
if not model_url:
    set_state("error", "no model: bundle the site with --model, or open this page with ?model=URL")
else:
    set_state("loading", "loading the model…")
    try:
        llm = await LLM.load(model_url, n_ctx=1024,  # noqa: F704
                             progress=lambda done, total, stage: setattr(progress_bar, "value", done / (total or 1)))
    except LLMError as e:
        set_state("error", f"could not load {model_url}: {e}")
    else:
        i = llm.info
        set_state("ready", f"{len(rows)} rows · {i.variant}, {i.n_threads} thread(s)")
        run_button.disabled = False
