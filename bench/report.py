"""``make bench``'s report: the table, RATIO/FIREFOX/MEMORY/PYTHON/TTFT lines, RESULTS.md.

Every figure of the table is the median over its repetitions with the spread beside
it (``median [min-max]``): the machines are shared, and a difference smaller than
the spread of either side is not one.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import gpu

# js64: the js page on wasm64-mt, beside js on the variant auto picks (wasm32-relaxed-mt):
# what 64-bit memory costs the same kernels (the WASM32 lines).
ENGINES = ("py", "js", "js64", "wllama", "native", "native128", "py-firefox")
# The js page's modules without an engine (bench/pages/blank.html): the renderer's floor.
BLANK = ("blank", "blank", 0)
METRICS = ("prefill", "prefill_long", "decode", "decode_wall", "keep_up", "load_ms", "peak_mib", "cpu_main",
           "cpu_workers", "cpu_other")
Results = dict[tuple[str, str, int], list[dict[str, Any]]]


def spread(values: list[float], fmt: str = ".1f") -> str:
    """``median [min-max]``, or the one value, or ``-`` when there is none."""
    if not values:
        return "-"
    med = format(statistics.median(values), fmt)
    return med if len(values) == 1 else f"{med} [{min(values):{fmt}}-{max(values):{fmt}}]"


def medians(results: Results) -> dict[tuple[str, str, int], dict[str, float]]:
    """Per row, the median of each metric its runs have (``keep_up`` added: consumer / engine decode)."""
    for v in results.values():
        for r in v:
            if "decode_wall" in r:  # share of the engine's decode rate the consumer really sees
                r["keep_up"] = r["decode_wall"] / r["decode"]
    return {k: {m: statistics.median(r[m] for r in v if m in r) for m in METRICS if any(m in r for r in v)}
            for k, v in results.items()}


def _ratio(a: dict, b: dict, key: str, b_key: str | None = None) -> str:
    """``a[key] / b[b_key or key]`` to 2 decimals, ``nan`` when a row lacks it (an older results file)."""
    b_key = b_key or key
    return f"{a[key] / b[b_key]:.2f}" if key in a and b.get(b_key) else "nan"


def _values(runs: list[dict[str, Any]], metric: str) -> list[float]:
    return [r[metric] for r in runs if metric in r]


def table(results: Results, rows: list[tuple[str, int]]) -> list[str]:
    lines = ["| model | engine | threads | prefill 128 tok/s | prefill 512 tok/s | decode tok/s "
             "| decode seen by consumer tok/s | load ms | renderer peak MiB | main thread cores in decode |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in rows:
        for e in ENGINES:
            v = results.get((name, e, t))
            if not v:
                continue
            cells = [spread(_values(v, m)) for m in ("prefill", "prefill_long", "decode", "decode_wall")]
            cells += [spread(_values(v, m), ".0f") for m in ("load_ms", "peak_mib")]
            cells.append(spread(_values(v, "cpu_main"), ".2f"))
            lines.append(f"| {name} | {e} | {t} | " + " | ".join(cells) + " |")
    return lines


def ratio_lines(med, rows: list[tuple[str, int]], models: dict[str, dict], results: Results | None = None) -> list[str]:
    out = []
    for name, t in rows:
        py, js, js64, wl, nat, nat128, ff = (med.get((name, e, t), {}) for e in ENGINES)
        overhead = f"{1 - py['keep_up'] / js['keep_up']:.3f}" if "keep_up" in py and "keep_up" in js else "nan"
        out.append(f"RATIO {name} t{t} prefill_vs_wllama={_ratio(py, wl, 'prefill')} "
                   f"decode_vs_wllama={_ratio(py, wl, 'decode')} "
                   f"decode_vs_native={_ratio(py, nat, 'decode')} "
                   f"decode_vs_native128={_ratio(py, nat128, 'decode')} "
                   f"prefill_vs_native={_ratio(py, nat, 'prefill')} "
                   f"prefill512_vs_native={_ratio(py, nat, 'prefill_long')} "
                   f"prefill_vs_native128={_ratio(py, nat128, 'prefill')} "
                   f"python_overhead={overhead} load_vs_wllama={_ratio(py, wl, 'load_ms')}")
        if js64:
            out.append(f"WASM32 {name} t{t} decode_vs_wasm64={_ratio(js, js64, 'decode')} "
                       f"prefill_vs_wasm64={_ratio(js, js64, 'prefill')} "
                       f"prefill512_vs_wasm64={_ratio(js, js64, 'prefill_long')} "
                       f"peak_vs_wasm64={_ratio(js, js64, 'peak_mib')}")
        if ff:
            # The variant Firefox's page could run (auto): the ratios mean little without it.
            runs = (results or {}).get((name, "py-firefox", t), [])
            variants = sorted({r["variant"] for r in runs if "variant" in r})
            out.append(f"FIREFOX {name} t{t} variant={','.join(variants) or '?'} "
                       f"prefill_vs_chromium={_ratio(ff, py, 'prefill')} "
                       f"decode_vs_chromium={_ratio(ff, py, 'decode')} decode_vs_native={_ratio(ff, nat, 'decode')} "
                       f"load_vs_chromium={_ratio(ff, py, 'load_ms')} peak_mib={ff.get('peak_mib', float('nan')):.0f}")
        info = models.get(name)
        if info and "peak_mib" in py and "peak_mib" in js:
            budget = info["file_mib"] + info["kv_mib"] + 150
            blank = med.get(BLANK, {}).get("peak_mib", float("nan"))
            out.append(f"MEMORY {name} t{t} model_mib={info['file_mib']:.0f} kv_mib={info['kv_mib']:.0f} "
                       f"budget_mib={budget:.0f} py_peak_mib={py['peak_mib']:.0f} js_peak_mib={js['peak_mib']:.0f} "
                       f"wllama_peak_mib={wl.get('peak_mib', float('nan')):.0f} blank_page_peak_mib={blank:.0f} "
                       f"js_over_model_kv_mib={js['peak_mib'] - info['file_mib'] - info['kv_mib']:.0f}")
    return out


def python_lines(results: Results) -> list[str]:
    """The PYTHON line: py page vs js page decode, interleaved pairs, each with its spread.

    ``engine``: the engine's own decode rate under each page; ``seen``: what the
    consumer sees; ``main``: cores the page's main thread used while decoding
    (Pyodide consuming tokens there competes with the engine's threads on 2 cores).
    """
    out = []
    for (name, e, t), v in results.items():
        if e != "py-pair":
            continue
        js = results.get((name, "js-pair", t), [])
        pairs = [a["decode"] / b["decode"] for a, b in zip(v, js, strict=False)]
        def col(runs: list[dict[str, Any]], m: str, f: str = ".1f") -> str:
            return spread(_values(runs, m), f)

        out.append(f"PYTHON {name} t{t} pairs={len(pairs)} py_decode={col(v, 'decode')} js_decode={col(js, 'decode')} "
                   f"py_seen={col(v, 'decode_wall')} js_seen={col(js, 'decode_wall')} "
                   f"py_vs_js_decode={spread(pairs, '.3f')} py_main_cores={col(v, 'cpu_main', '.2f')} "
                   f"js_main_cores={col(js, 'cpu_main', '.2f')} py_worker_cores={col(v, 'cpu_workers', '.2f')} "
                   f"js_worker_cores={col(js, 'cpu_workers', '.2f')}")
    return out


def report(root: Path, results: Results, models: dict[str, dict], machine: str, rows: list[str] | None = None,
           ttft: list[str] | None = None, save: bool = True, minutes: float | None = None) -> int:
    """Print the table and the lines; save the raw JSON (``save``) and bench/RESULTS.md."""
    med = medians(results)
    keys = list(dict.fromkeys((n, t) for (n, e, t) in results if e in ENGINES))
    lines = table(results, keys)
    ratios = ratio_lines(med, keys, models, results)
    extra = [*python_lines(results), *(ttft or []), *(rows or [])]
    gpu_lines = gpu.section(results)
    print("\n".join([*lines, "", *ratios, "", *extra, "", *gpu_lines]))
    if save:
        (root / "bench" / "results").mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (root / "bench" / "results" / f"{stamp}.json").write_text(json.dumps(
            {"machine": machine, "models": models, "labels": gpu.LABELS, "rows": rows, "ttft": ttft,
             "raw": {f"{n}|{e}|{t}": v for (n, e, t), v in results.items()}}, indent=1))
    reps = max((len(v) for (_, e, _), v in results.items() if e in ENGINES), default=0)
    took = f" The run took {minutes:.0f} minutes." if minutes else ""
    (root / "bench" / "RESULTS.md").write_text(
        f"# Latest benchmark ({time.strftime('%Y-%m-%d %H:%M')} UTC)\n\nMachine: {machine}.{took} Prompts of 128 "
        "and 512 tokens, then greedy tokens (EOS ignored; 128 for models under 500 MiB, 32 above), n_ctx 1024; "
        f"up to {reps} runs per row (one for the big models), engines interleaved, a fresh browser per run; "
        "cells are `median [min-max]`. Renderer peak = the page's renderer process VmHWM (page + worker + wasm); "
        "main thread cores = CPU time of the page's main thread during the measured decode / its wall time. "
        "Synthetic models: real shapes, random weights (bench/models.py).\n\n"
        + "\n".join(lines) + "\n\n```\n" + "\n".join(ratios + (["", *extra] if extra else [])) + "\n```\n"
        + "".join(f"\n{line}" for line in gpu_lines) + ("\n" if gpu_lines else ""))
    return 0
