"""A browser-side data app: extract fields from every row of a table with a local model, then export it.

Each ticket becomes a record of a JSON schema (``json_schema=``: llama.cpp turns
it into a grammar), so every row gets one allowed category, one urgency and a
short summary, parsed by ``stream.json()``, whatever the model would have
preferred to write. ``?model=URL`` overrides the model named in site.json and
``?data=URL`` the CSV (columns ``id,text``).
"""

import csv
import io
import json

import js
from pyscript import document, when

from pyodide_llm import LLM, LLMError

CATEGORIES = ["billing", "bug", "feature request", "account", "other"]
URGENCIES = ["low", "medium", "high"]
FIELDS = ["category", "urgency", "summary"]
# What one ticket becomes: the model can only write JSON of this shape.
TICKET = {"type": "object", "additionalProperties": False, "required": FIELDS, "properties": {
    "category": {"enum": CATEGORIES},
    "urgency": {"enum": URGENCIES},
    "summary": {"type": "string", "minLength": 3, "maxLength": 60}}}
PROMPT = ("You triage customer support tickets. Give the ticket's category (" + ", ".join(CATEGORIES)
          + "), its urgency (" + ", ".join(URGENCIES) + ") and a summary of a few words, as JSON.")

body = document.body
status = document.getElementById("status")
progress_bar = document.getElementById("progress")
run_button = document.getElementById("run")
export_button = document.getElementById("export")
tbody = document.getElementById("rows")
document.getElementById("categories").textContent = ", ".join(CATEGORIES)


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
        tr.append(cell(row["id"]), cell(row["text"]))
        out = {}
        for name in FIELDS:
            out[name] = cell("", name)
            tr.append(out[name])
        tbody.append(tr)
        cells.append(out)
    return cells


def cell(text: str, cls: str = ""):
    td = document.createElement("td")
    td.textContent = text
    if cls:
        td.className = cls
    return td


async def extract(text: str) -> dict[str, str]:
    messages = [{"role": "system", "content": PROMPT}, {"role": "user", "content": text}]
    # The schema closes the object after its last field; max_tokens only bounds a runaway
    # (IncompleteJSONError, an LLMError, if it ever ran out).
    return await llm.chat(messages, json_schema=TICKET, max_tokens=96, temperature=0).json()


@when("click", "#run")
async def on_run(event) -> None:
    run_button.disabled = True
    export_button.disabled = True
    set_state("extracting", "extracting…")
    for i, (row, out) in enumerate(zip(rows, cells)):
        out["category"].textContent = "…"
        try:
            row.update(await extract(row["text"]))
        except LLMError as e:
            out["category"].textContent = f"error: {e}"
            continue
        for name in FIELDS:
            out[name].textContent = row[name]
        progress_bar.value = (i + 1) / len(rows)
        status.textContent = f"{i + 1} / {len(rows)} rows"
    body.dataset.csv = to_csv(rows)
    set_state("done", f"extracted fields of {len(rows)} rows")
    run_button.disabled = False
    export_button.disabled = False


def to_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    columns = ["id", "text", *FIELDS]
    w = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows({k: r.get(k, "") for k in columns} for r in rows)
    return out.getvalue()


@when("click", "#export")
def on_export(event) -> None:
    from pyodide.ffi import to_js

    blob = js.Blob.new(to_js([to_csv(rows)]), to_js({"type": "text/csv"}, dict_converter=js.Object.fromEntries))
    a = document.createElement("a")
    a.href = js.URL.createObjectURL(blob)
    a.download = "tickets-triaged.csv"
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
