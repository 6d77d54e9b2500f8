"""``make bench``: pyodide_llm vs wllama vs native llama.cpp, side by side in one run.

For each repetition, model and thread count the engines run interleaved (A B C D):
  py      pyodide_llm through its Python API (Pyodide, micropip-installed wheel)
  js      the same engine driven directly from JS (what Python streaming costs)
  wllama  wllama 3.8.1 (npm) in the same Chromium
  native  llama-bench built from the same llama.cpp source (-march=native: AVX-512 here)
  native128  the same, restricted to 128-bit SIMD (x86-64-v2: SSE4.2, no AVX; [native128]),
          the closer reference for WebAssembly's 128-bit SIMD
  py-firefox  the py page in Debian's Firefox ESR (WebDriver BiDi, tests/browser/bidi.py), the
          variant it can run (variant="auto"; the Chromium pages pin wasm64-mt)
Every browser run is a fresh Chromium (or Firefox) (so load is cold and the renderer's peak
memory is that page's alone) on a COOP/COEP server: load the model, a short
warm-up generation, then the measured one (the prompt, then 128 greedy tokens
with EOS ignored). The figures are medians over the repetitions.
prefill/decode are each engine's own timings (apples to apples with wllama and
llama-bench). python_overhead: within each run, the decode rate the consumer sees
(first to last piece, wall clock) as a share of the engine's own decode rate;
Python's share against a plain JS consumer's, so page-to-page engine noise cancels.
Models: SmolLM2-135M (PyPI) and synthetic GGUFs with real shapes (bench/models.py).
Rows per second (bench/pages/rows.html, after the browser runs): 16 short labelling
prompts, 32 greedy tokens each (EOS ignored; --rows-tokens), through the Python API: one at a time
(a loop over ``llm.complete``) and ``llm.map`` with 1, 4 and 8 rows decoded together.
A section of its own (bench/gpu.py, before the browser runs): the WebGPU variant in
node 26 on the software GPU of ``make test-gpu`` (lavapipe), next to the CPU variant
measured in the same node process; correctness-grade timing, not a speed claim.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

import gpu  # noqa: E402
from bidi import Firefox  # noqa: E402
from conftest import _driver  # noqa: E402
from memory import firefox_content_peak_mib, renderer_peak_mib  # noqa: E402
from models import ALL, SMOLLM2, kv_cache_mib, model_path  # noqa: E402
from pyodide_llm._host.serve import StaticServer  # noqa: E402
from recipes.build import cmd_native, cmd_wasm, log  # noqa: E402
from recipes.pins import load_pins  # noqa: E402
from recipes.pyodide_dist import _npm_pack, pyodide_dist  # noqa: E402
from recipes.toolchain import ensure_toolchain  # noqa: E402
from recipes.wheel import build_wheel  # noqa: E402

ENGINES = ("py", "js", "wllama", "native", "native128", "py-firefox")
NATIVE = {"native": "native", "native128": "native128"}  # engine row -> recipes build flavour
DEFAULT_MODELS = [SMOLLM2, "qwen2-0.5b-q4_k_m", "qwen2-0.5b-q4_0", "qwen2-0.5b-q8_0", "llama-1b-q4_k_m"]
N_CTX = 1024  # what every page loads with; the KV cache in the memory budget is for this


def make_site(root: Path, pins, wheel: Path, models: dict[str, Path]) -> None:
    root.mkdir(parents=True)
    (root / "models").mkdir()
    for name, path in models.items():
        (root / "models" / f"{name}.gguf").symlink_to(path)
    (root / "pyodide").symlink_to(pyodide_dist(pins, log))
    shutil.copy2(wheel, root / wheel.name)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(root / "pkg")
    b = pins["bench"]
    tgz = _npm_pack(b["wllama_npm"], b["wllama_sha256"], b["wllama_file"], log)
    with tarfile.open(tgz) as tf:
        tf.extractall(root / "wllama-npm", filter="data")
    (root / "wllama").symlink_to(root / "wllama-npm" / "package")
    for page in (ROOT / "bench" / "pages").iterdir():
        shutil.copy2(page, root / page.name)
    (root / "bench.json").write_text(json.dumps({"wheel": f"./{wheel.name}"}))


def run_browser(url: str, firefox: bool = False) -> dict:
    """Run one benchmark page in a fresh Chromium (or Firefox); add the page's process peak memory."""
    driver = Firefox() if firefox else _driver()
    try:
        r = run_page(driver, url)
        r["peak_mib"] = firefox_content_peak_mib(driver.proc.pid) if firefox else renderer_peak_mib(driver)
        if firefox:
            r["browser"] = f"Firefox {driver.version}"
        return r
    finally:
        driver.quit()


def run_page(driver, url: str, timeout: float = 1200) -> dict:
    driver.get(url)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        r = driver.execute_script("return window.benchResult || null")
        if r is not None:
            if not r.get("ok"):
                raise RuntimeError(f"{url}: {r.get('error')}")
            return r
        time.sleep(0.2)
    raise TimeoutError(url)


def run_native(tc, bench_bin: str, model: Path, threads: int) -> dict:
    cmd = f"{bench_bin} -m {model} -p 128 -n 128 -t {threads} -r 1 -o json"
    out = tc.run(cmd, capture=True).stdout
    rows = json.loads(out[out.index("["):])
    pp = next(r for r in rows if r["n_prompt"] > 0)
    tg = next(r for r in rows if r["n_gen"] > 0)
    return {"ok": True, "prefill": pp["avg_ts"], "decode": tg["avg_ts"], "n_prompt": 128}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, from: {', '.join(ALL)}")
    ap.add_argument("--gpu-models", default=SMOLLM2, help="models of the software-GPU section ('' skips it)")
    ap.add_argument("--gpu-tokens", type=int, default=gpu.DEFAULT_TOKENS, help="tokens generated there")
    ap.add_argument("--gpu-threads", type=int, help="engine threads there (default: the largest of --threads)")
    ap.add_argument("--gpu-reps", type=int, default=1, help="node runs per model there (each has its warm-up)")
    ap.add_argument("--rows-models", default=f"{SMOLLM2},qwen2-0.5b-q4_k_m",
                    help="models of the rows-per-second section (LLM.map; '' skips it)")
    ap.add_argument("--rows-threads", type=int, default=2, help="engine threads there")
    ap.add_argument("--rows-tokens", type=int, default=32, help="tokens generated per row there")
    ap.add_argument("--rows-only", action="store_true", help="run only the rows-per-second section")
    ap.add_argument("--report", type=Path, help="redo the report (and RESULTS.md) from a saved results JSON")
    args = ap.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        results = {(*k.split("|")[:2], int(k.split("|")[2])): v for k, v in saved["raw"].items()}
        threads = sorted({t for (_, e, t) in results if e in ENGINES})
        return report(results, saved["models"], threads, saved["machine"], saved.get("rows"), save=False)
    threads_list = [int(t) for t in args.threads.split(",")]
    names = [] if args.rows_only else args.models.split(",")
    gpu_names = [] if args.rows_only else [n for n in args.gpu_models.split(",") if n]
    rows_names = [n for n in args.rows_models.split(",") if n]
    pins = load_pins()
    cmd_wasm([])
    native_dir = cmd_native()
    native_dirs = {engine: cmd_native(flavour) for engine, flavour in NATIVE.items()}
    wheel = build_wheel(log)
    tc = ensure_toolchain(pins, log)
    rig = gpu.node_rig(pins, log) if gpu_names else None  # fails now, not after the browser runs
    paths = {n: model_path(n, pins, tc, native_dir, log) for n in dict.fromkeys(names + gpu_names + rows_names)}
    models = {n: {"file_mib": paths[n].stat().st_size / 2**20, "kv_mib": kv_cache_mib(paths[n], N_CTX)}
              for n in names}
    results: dict[tuple[str, str, int], list[dict]] = {}
    if rig is not None:
        run_gpu_section(rig, {n: paths[n] for n in gpu_names}, args.gpu_threads or max(threads_list),
                        args.gpu_tokens, args.gpu_reps, results)
    with tempfile.TemporaryDirectory(prefix="pyodide_llm-bench-") as tmp:
        make_site(Path(tmp) / "site", pins, wheel, paths)
        server = StaticServer(Path(tmp) / "site", isolated=True)
        try:
            for rep in range(args.reps + 1):  # repetition 0 is the warm-up, not counted
                for name in names:
                    for t in threads_list:
                        for engine in ENGINES:
                            if engine in NATIVE:
                                r = run_native(tc, str(native_dirs[engine] / "llama-bench"), paths[name], t)
                            else:
                                firefox = engine.endswith("-firefox")
                                # Firefox takes the variant it can run (ESR 140: no relaxed SIMD, so wasm32-mt).
                                r = run_browser(f"{server.url}/{engine.removesuffix('-firefox')}.html?threads={t}"
                                                f"&model=./models/{name}.gguf" + ("&variant=auto" if firefox else ""),
                                                firefox=firefox)
                            if rep > 0:
                                results.setdefault((name, engine, t), []).append(r)
                            print(f"rep {rep} {name} t{t} {engine:7s} prefill {r['prefill']:7.1f} "
                                  f"decode {r['decode']:6.1f}"
                                  + (f" load {r['load_ms']:.0f} ms peak {r['peak_mib']:.0f} MiB"
                                     if "load_ms" in r else ""), flush=True)
            rows = run_rows_section(server.url, rows_names, args.rows_threads, args.rows_tokens)
        finally:
            server.stop()
    if args.rows_only:
        print("\n".join(rows))
        return 0
    return report(results, models, threads_list, _machine(), rows)


def run_rows_section(url: str, names: list[str], threads: int, tokens: int = 32) -> list[str]:
    """Rows per second of LLM.map against one row at a time (bench/pages/rows.html): ROWS lines.

    Each row is a ~25-token prompt and ``tokens`` greedy tokens: batching shares the decode
    steps, not the prefill, so the speed-up grows with the answers' length.
    """
    lines = []
    for name in names:
        r = run_browser(f"{url}/rows.html?threads={threads}&max_tokens={tokens}&model=./models/{name}.gguf")
        lines.append(f"ROWS {name} t{threads} rows={r['rows']} sequential={r['sequential']:.2f} "
                     + " ".join(f"map_c{c}={r[f'c{c}']:.2f}" for c in (1, 4, 8))
                     + f" speedup_c8_vs_sequential={r['c8'] / r['sequential']:.2f} (rows/s, {tokens} tokens a row)")
        print(lines[-1], flush=True)
    return lines


def run_gpu_section(rig: gpu.NodeRig, paths: dict[str, Path], threads: int, tokens: int, reps: int,
                    results: dict[tuple[str, str, int], list[dict]]) -> None:
    """The software-GPU section (bench/gpu.py): ``reps`` node runs per model, into ``results``."""
    log(f"bench: {gpu.LABEL}")
    for rep in range(reps):
        for name, path in paths.items():
            for engine, r in gpu.run_pair(rig, path, threads, tokens, N_CTX).items():
                results.setdefault((name, engine, threads), []).append(r)
                print(f"gpu rep {rep + 1} {name} t{threads} {engine:9s} prefill {r['prefill_tok_s']:7.1f} "
                      f"decode {r['decode_tok_s']:6.2f} load {r['load_ms']:.0f} ms ({r['backend']}, "
                      f"{r['n_gpu_layers']} layers offloaded)", flush=True)


def _machine() -> str:
    return (f"{platform.node()}: {platform.processor() or platform.machine()}, {_cpu()}, {_cores()} cores; "
            f"Chromium {_chromium()}, Firefox {_firefox()}")


def report(results, models: dict[str, dict], threads_list, machine: str, rows: list[str] | None = None,
           save: bool = True) -> int:
    """Print the table and the RATIO/MEMORY lines; save the raw JSON and bench/RESULTS.md."""
    for v in results.values():
        for r in v:
            if "decode_wall" in r:  # share of the engine's decode rate the consumer really sees
                r["keep_up"] = r["decode_wall"] / r["decode"]
    med = {k: {m: statistics.median(r[m] for r in v if m in r)
               for m in ("prefill", "decode", "decode_wall", "keep_up", "load_ms", "peak_mib")
               if any(m in r for r in v)} for k, v in results.items()}
    lines = ["| model | engine | threads | prefill tok/s | decode tok/s | decode seen by consumer tok/s "
             "| load ms | renderer peak MiB |", "|---|---|---|---|---|---|---|---|"]
    ratios = []
    for name, info in models.items():
        for t in threads_list:
            for e in ENGINES:
                m = med.get((name, e, t), {})  # a results file from before a row existed has none
                cells = [f"{m[k]:.1f}" if k in m else "-" for k in ("prefill", "decode", "decode_wall")]
                cells += [f"{m[k]:.0f}" if k in m else "-" for k in ("load_ms", "peak_mib")]
                lines.append(f"| {name} | {e} | {t} | " + " | ".join(cells) + " |")
            py, js, wl, nat, nat128, ff = (med.get((name, e, t), {}) for e in ENGINES)
            ratios.append(f"RATIO {name} t{t} prefill_vs_wllama={_ratio(py, wl, 'prefill')} "
                          f"decode_vs_wllama={_ratio(py, wl, 'decode')} "
                          f"decode_vs_native={_ratio(py, nat, 'decode')} "
                          f"decode_vs_native128={_ratio(py, nat128, 'decode')} "
                          f"prefill_vs_native={_ratio(py, nat, 'prefill')} "
                          f"prefill_vs_native128={_ratio(py, nat128, 'prefill')} "
                          f"python_overhead={1 - py['keep_up'] / js['keep_up']:.3f} "
                          f"load_vs_wllama={_ratio(py, wl, 'load_ms')}")
            ratios.append(f"FIREFOX {name} t{t} prefill_vs_chromium={_ratio(ff, py, 'prefill')} "
                          f"decode_vs_chromium={_ratio(ff, py, 'decode')} "
                          f"decode_vs_native={_ratio(ff, nat, 'decode')} "
                          f"load_vs_chromium={_ratio(ff, py, 'load_ms')} "
                          f"peak_mib={ff.get('peak_mib', float('nan')):.0f}")
            budget = info["file_mib"] + info["kv_mib"] + 150
            ratios.append(f"MEMORY {name} t{t} model_mib={info['file_mib']:.0f} kv_mib={info['kv_mib']:.0f} "
                          f"budget_mib={budget:.0f} py_peak_mib={py['peak_mib']:.0f} js_peak_mib={js['peak_mib']:.0f} "
                          f"wllama_peak_mib={wl['peak_mib']:.0f}")
    gpu_lines = gpu.section(results)
    rows = rows or []
    print("\n".join([*lines, "", *ratios, "", *rows, "", *gpu_lines]))
    if save:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (ROOT / "bench" / "results" / f"{stamp}.json").write_text(json.dumps(
            {"machine": machine, "models": models, "labels": gpu.LABELS, "rows": rows,
             "raw": {f"{n}|{e}|{t}": v for (n, e, t), v in results.items()}}, indent=1))
    reps = max(len(v) for (_, e, _), v in results.items() if e in ENGINES)
    (ROOT / "bench" / "RESULTS.md").write_text(
        f"# Latest benchmark ({time.strftime('%Y-%m-%d %H:%M')} UTC)\n\nMachine: {machine}. Prompt ~128 tokens, "
        f"then 128 greedy tokens (EOS ignored), n_ctx {N_CTX}; medians of {reps} runs after a warm-up round, "
        "engines interleaved, a fresh Chromium per browser run. Renderer peak = the page's renderer process "
        "VmHWM (page + worker + wasm). Synthetic models: real shapes, random weights (bench/models.py).\n\n"
        + "\n".join(lines) + "\n\n```\n" + "\n".join(ratios + (["", *rows] if rows else [])) + "\n```\n"
        + "".join(f"\n{line}" for line in gpu_lines) + ("\n" if gpu_lines else ""))
    return 0


def _cpu() -> str:
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("model name"):
            return ln.split(":", 1)[1].strip()
    return "unknown CPU"


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0))


def _ratio(a: dict, b: dict, key: str) -> str:
    """``a[key] / b[key]`` to 2 decimals, ``nan`` when a row lacks it (an older results file)."""
    return f"{a[key] / b[key]:.2f}" if key in a and b.get(key) else "nan"


def _firefox() -> str:
    from bidi import ensure_firefox

    v = subprocess.run([ensure_firefox(), "--version"], capture_output=True, text=True).stdout.strip()
    return v.removeprefix("Mozilla Firefox ")


def _chromium() -> str:
    v = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()
    return v.removeprefix("Chromium ")


if __name__ == "__main__":
    sys.exit(main())
