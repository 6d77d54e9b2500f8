"""A browser-side data app: label every row of a table with a local model, search it by meaning, export it.

Each ticket becomes a record of a JSON schema (``json_schema=``: llama.cpp turns
it into a grammar), so every row gets one allowed category, one urgency and a
short summary, whatever the model would have preferred to write. ``llm.map``
decodes several rows together (one llama.cpp batch) and keeps finished rows in the
browser (``checkpoint=``): a closed tab resumes where it stopped. The search box
ranks tickets by similarity to a query with an embedding model (site.json's
``embed_model``, else the chat model's own embeddings). ``?model=URL`` overrides
the model named in site.json and ``?data=URL`` the CSV (columns ``id,text``).
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
search_button = document.getElementById("search")
vectors = None
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
        out = {"row": tr, "score": cell("", "score")}
        tr.append(cell(row["id"]), cell(row["text"]))
        for name in FIELDS:
            out[name] = cell("", name)
            tr.append(out[name])
        tr.append(out["score"])
        tbody.append(tr)
        cells.append(out)
    return cells


def cell(text: str, cls: str = ""):
    td = document.createElement("td")
    td.textContent = text
    if cls:
        td.className = cls
    return td


def conversation(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": PROMPT}, {"role": "user", "content": text}]


@when("click", "#run")
async def on_run(event) -> None:
    run_button.disabled = True
    export_button.disabled = True
    set_state("extracting", "extracting…")
    for out in cells:
        out["category"].textContent = "…"
    done = 0
    # Four rows decode together; each row's fields show as soon as it finishes. The schema
    # closes the object after its last field; max_tokens only bounds a runaway.
    job = llm.map([conversation(r["text"]) for r in rows], json_schema=TICKET, max_tokens=96, temperature=0,
                  concurrency=4, checkpoint="tickets")
    try:
        async for i, text in job:
            try:
                rows[i].update(json.loads(text))
            except ValueError:
                cells[i]["category"].textContent = "error: no complete JSON"
                continue
            for name in FIELDS:
                cells[i][name].textContent = rows[i][name]
            done += 1
            progress_bar.value = done / len(rows)
            status.textContent = f"{done} / {len(rows)} rows"
    except LLMError as e:
        set_state("error", f"labelling stopped: {e}")
        run_button.disabled = False
        return
    body.dataset.csv = to_csv(rows)
    body.dataset.resumed = str(job.stats.from_checkpoint if job.stats else 0)
    set_state("done", f"extracted fields of {len(rows)} rows ({body.dataset.resumed} from the checkpoint)")
    run_button.disabled = False
    export_button.disabled = False


@when("click", "#search")
async def on_search(event) -> None:
    query = document.getElementById("query").value.strip()
    if not query:
        return
    search_button.disabled = True
    try:
        global vectors
        if vectors is None:  # the tickets' vectors, once: unit length, so a dot product is the cosine
            vectors = await embedder.embed([r["text"] for r in rows])
        q = await embedder.embed(query)
        scores = [sum(float(a) * float(b) for a, b in zip(v, q)) for v in vectors]
    except LLMError as e:
        status.textContent = f"search failed: {e}"
        return
    finally:
        search_button.disabled = False
    order = sorted(range(len(rows)), key=lambda i: -scores[i])
    for i in order:
        tbody.append(cells[i]["row"])  # re-append in rank order: the table shows the best match first
        cells[i]["score"].textContent = f"{scores[i]:.2f}"
    body.dataset.ranking = ",".join(rows[i]["id"] for i in order)


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
        embedder = llm
        if site.get("embed_model"):
            try:
                embedder = await LLM.load(site["embed_model"], n_ctx=512)  # noqa: F704
            except LLMError as e:
                status.textContent = f"search uses the chat model: {e}"
        i = llm.info
        set_state("ready", f"{len(rows)} rows · {i.variant}, {i.n_threads} thread(s)")
        run_button.disabled = False
        search_button.disabled = False
