"""``make bench``: pyodide_llm vs wllama vs native llama.cpp, side by side in one run.

For each repetition, model and thread count the engines run interleaved (A B C D):
  py      pyodide_llm through its Python API (Pyodide, micropip-installed wheel)
  js      the same engine driven directly from JS (what Python streaming costs)
  js64    the js page on the memory64 build (wasm64-mt): what 64-bit memory costs (WASM32 lines)
  wllama  wllama 3.8.1 (npm) in the same Chromium
  native  llama-bench built from the same llama.cpp source (-march=native: AVX-512 here)
  native128  the same, restricted to 128-bit SIMD (x86-64-v2: SSE4.2, no AVX; [native128]),
          the closer reference for WebAssembly's 128-bit SIMD
  py-firefox  the py page in Debian's Firefox ESR (WebDriver BiDi, tests/browser/bidi.py), the
          variant it can run (variant="auto"; the Chromium pages pin wasm32-relaxed-mt, what
          auto picks for every model here, all under 4 GiB)
Every browser run is a fresh Chromium (or Firefox) (so load is cold and the renderer's peak
memory is that page's alone) on a COOP/COEP server: load the model, a short warm-up
generation, then the measured one (a 128-token prompt, then greedy tokens with EOS ignored:
128, or 32 for models over 500 MiB), then a 512-token prompt (py, js, native; prefill
depends on the prompt's length). Models: SmolLM2-135M Q4_1 (PyPI; at 1 and 2 threads) and
synthetic GGUFs with real shapes (bench/models.py): Qwen2.5-0.5B Q4_K_M and Q8_0,
Llama-3.2-1B Q4_K_M and Q4_0, Llama-3.2-3B Q4_K_M; ``Plan`` says what each gets.
prefill/decode are each engine's own timings (apples to apples with wllama and
llama-bench); cells are ``median [min-max]`` (bench/report.py). python_overhead: within
each run, the decode rate the consumer sees (first to last piece, wall clock) as a share of
the engine's own decode rate; Python's share against a plain JS consumer's.
PYTHON line: interleaved py/js page pairs on SmolLM2 (--python-pairs), each engine rate and
what the page's main thread used of the cores while decoding (bench/cpu.py).
TTFT lines (bench/ttft.py): page open to first token, first visit and cached visit, beside
wllama's cold page.
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
from cpu import CpuSampler  # noqa: E402
from memory import firefox_content_peak_mib, renderer_peak_mib  # noqa: E402
from models import ALL, SMOLLM2, kv_cache_mib, model_path  # noqa: E402
from plan import Plan  # noqa: E402
from pyodide_llm._host.serve import StaticServer  # noqa: E402
from recipes.build import cmd_native, cmd_wasm, log  # noqa: E402
from recipes.pins import cache_root, load_pins  # noqa: E402
from recipes.pyodide_dist import _npm_pack, pyodide_dist  # noqa: E402
from recipes.synthetic import cached_split  # noqa: E402
from recipes.toolchain import ensure_toolchain  # noqa: E402
from recipes.wheel import build_wheel  # noqa: E402
from report import BLANK, report  # noqa: E402
from ttft import run_ttft_section  # noqa: E402

NATIVE = {"native": "native", "native128": "native128"}  # engine row -> recipes build flavour
DEFAULT_MODELS = [SMOLLM2, "qwen2-0.5b-q4_k_m", "qwen2-0.5b-q8_0", "llama-1b-q4_k_m", "llama-1b-q4_0",
                  "llama-3b-q4_k_m"]
N_CTX = 1024  # what every page loads with; the KV cache in the memory budget is for this


def make_site(root: Path, pins, wheel: Path, models: dict[str, Path], split: dict[str, list[Path]]) -> None:
    root.mkdir(parents=True)
    (root / "models" / "wllama").mkdir(parents=True)
    for name, path in models.items():
        (root / "models" / f"{name}.gguf").symlink_to(path)
    for parts in split.values():
        for part in parts:
            (root / "models" / "wllama" / part.name).symlink_to(part)
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
    """Run one benchmark page in a fresh Chromium (or Firefox); add the page's process peak memory.

    In Chromium, the CPU time of the renderer's threads during the measured decode as well
    (bench/cpu.py: ``cpu_main``, ``cpu_workers``, ``cpu_other``, in cores).
    """
    driver = Firefox() if firefox else _driver()
    sampler = None if firefox else CpuSampler(driver)
    try:
        r = run_page(driver, url)
        r["peak_mib"] = firefox_content_peak_mib(driver.proc.pid) if firefox else renderer_peak_mib(driver)
        if firefox:
            r["browser"] = f"Firefox {driver.version}"
        if sampler is not None and "decode_t0" in r:
            sampler.stop()
            r |= sampler.share(r["decode_t0"], r["decode_t1"])
        return r
    finally:
        if sampler is not None:
            sampler.stop()
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


def run_native(tc, bench_bin: str, model: Path, threads: int, n_gen: int, long: bool) -> dict:
    prompts = "128,512" if long else "128"
    out = tc.run(f"{bench_bin} -m {model} -p {prompts} -n {n_gen} -t {threads} -r 1 -o json", capture=True).stdout
    rows = json.loads(out[out.index("["):])
    r = {"ok": True, "n_prompt": 128, "decode": next(x["avg_ts"] for x in rows if x["n_gen"] > 0)}
    r["prefill"] = next(x["avg_ts"] for x in rows if x["n_prompt"] == 128)
    if long:
        r["prefill_long"] = next(x["avg_ts"] for x in rows if x["n_prompt"] == 512)
    return r


WLLAMA_PART = 480 << 20  # wllama 3.8.1 reads a file into one ArrayBuffer: over ~1 GB it fails


def wllama_splits(paths: dict[str, Path]) -> dict[str, list[Path]]:
    """Models over 512 MiB as split sets of parts under 480 MiB, the way wllama's README asks
    (its first-part URL finds the rest); our pages load the single file."""
    root = cache_root() / "models" / "split"
    return {n: cached_split(p, -(-p.stat().st_size // WLLAMA_PART), root) for n, p in paths.items()
            if p.stat().st_size > 512 << 20}


def run_engine(engine: str, name: str, t: int, plan: Plan, url: str, tc, native_dirs, paths,
               split: dict[str, list[Path]]) -> dict:
    long = engine in plan.long
    if engine in NATIVE:
        return run_native(tc, str(native_dirs[engine] / "llama-bench"), paths[name], t, plan.n_gen, long)
    firefox = engine.endswith("-firefox")
    model = f"./models/wllama/{split[name][0].name}" if engine == "wllama" and name in split else \
        f"./models/{name}.gguf"
    # js64 is the js page on the memory64 build. Firefox takes the variant auto picks there
    # (ESR 153: wasm32-relaxed-mt; ESR 140, without relaxed SIMD: wasm32-mt; the FIREFOX line names it).
    page, variant = ("js", "&variant=wasm64-mt") if engine == "js64" else \
        (engine.removesuffix("-firefox"), "&variant=auto" if firefox else "")
    return run_browser(f"{url}/{page}.html?threads={t}&model={model}"
                       f"&n={plan.n_gen}&warm={plan.warm}&long={int(long)}" + variant, firefox=firefox)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2, help="runs per row of the models under 500 MiB (big ones: 1)")
    ap.add_argument("--threads", default="2")
    ap.add_argument("--t1-models", default=SMOLLM2, help="models measured at 1 thread as well ('' none)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, from: {', '.join(ALL)}")
    ap.add_argument("--python-pairs", type=int, default=5,
                    help="interleaved py/js page pairs of the PYTHON line (SmolLM2, 2 threads; 0 skips it)")
    ap.add_argument("--ttft-reps", type=int, default=2,
                    help="rounds of the TTFT section over the simulated link, one on loopback (0 skips it)")
    ap.add_argument("--gpu-models", default=SMOLLM2, help="models of the software-GPU section ('' skips it)")
    ap.add_argument("--gpu-tokens", type=int, default=gpu.DEFAULT_TOKENS, help="tokens generated there")
    ap.add_argument("--gpu-threads", type=int, help="engine threads there (default: the largest of --threads)")
    ap.add_argument("--gpu-reps", type=int, default=1, help="node runs per model there (each has its warm-up)")
    ap.add_argument("--rows-models", default=SMOLLM2,
                    help="models of the rows-per-second section (LLM.map; '' skips it)")
    ap.add_argument("--rows-threads", type=int, default=2, help="engine threads there")
    ap.add_argument("--rows-tokens", type=int, default=32, help="tokens generated per row there")
    ap.add_argument("--rows-only", action="store_true", help="run only the rows-per-second section")
    ap.add_argument("--report", type=Path, help="redo the report (and RESULTS.md) from a saved results JSON")
    args = ap.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        results = {(*k.split("|")[:2], int(k.split("|")[2])): v for k, v in saved["raw"].items()}
        return report(ROOT, results, saved["models"], saved["machine"], saved.get("rows"), saved.get("ttft"),
                      save=False)
    started = time.monotonic()
    threads_list = [int(t) for t in args.threads.split(",")]
    names = [] if args.rows_only else [n for n in args.models.split(",") if n]
    t1 = {n for n in args.t1_models.split(",") if n}
    gpu_names = [] if args.rows_only else [n for n in args.gpu_models.split(",") if n]
    rows_names = [n for n in args.rows_models.split(",") if n]
    pins = load_pins()
    cmd_wasm([])
    native_dir = cmd_native()
    native_dirs = {engine: cmd_native(flavour) for engine, flavour in NATIVE.items()}
    wheel = build_wheel(log)
    tc = ensure_toolchain(pins, log)
    rig = gpu.node_rig(pins, log) if gpu_names else None  # fails now, not after the browser runs
    want = [SMOLLM2, *names, *gpu_names, *rows_names]
    paths = {n: model_path(n, pins, tc, native_dir, log) for n in dict.fromkeys(want)}
    models = {n: {"file_mib": paths[n].stat().st_size / 2**20, "kv_mib": kv_cache_mib(paths[n], N_CTX)}
              for n in names}
    plans = {n: Plan.for_model(models[n]["file_mib"], args.reps, "_k_" in n) for n in names}
    split = wllama_splits({n: paths[n] for n in names})
    results: dict[tuple[str, str, int], list[dict]] = {}
    if rig is not None:
        run_gpu_section(rig, {n: paths[n] for n in gpu_names}, args.gpu_threads or max(threads_list),
                        args.gpu_tokens, args.gpu_reps, results)
    ttft, rows, failures = [], [], []
    with tempfile.TemporaryDirectory(prefix="pyodide_llm-bench-") as tmp:
        site = Path(tmp) / "site"
        make_site(site, pins, wheel, paths, split)
        server = StaticServer(site, isolated=True)
        try:
            if names:  # one page first, not counted: the model files and the browser into the OS's caches
                run_browser(f"{server.url}/py.html?threads=2&model=./models/{SMOLLM2}.gguf&n=16")
                # The MEMORY line's floor: the js page's renderer before it starts an engine.
                results[BLANK] = [run_browser(f"{server.url}/blank.html") for _ in range(2)]
                print(f"blank page: renderer peak {[round(r['peak_mib']) for r in results[BLANK]]} MiB", flush=True)
            for rep in range(max((p.reps for p in plans.values()), default=0)):
                for name in names:
                    plan = plans[name]
                    if rep >= plan.reps:
                        continue
                    for t in sorted({*threads_list, *([1] if name in t1 else [])}):
                        for engine in plan.engines:
                            if t == 1 and engine == "py-firefox":
                                continue
                            try:
                                r = run_engine(engine, name, t, plan, server.url, tc, native_dirs, paths, split)
                            except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as e:
                                # One engine failing on one model (wllama on the 1B shape: a RangeError
                                # in its worker) is a finding for the report, not the end of the run.
                                failures.append(f"FAILED {name} t{t} {engine}: {str(e).splitlines()[0][:300]}")
                                print(failures[-1], flush=True)
                                continue
                            results.setdefault((name, engine, t), []).append(r)
                            _print_run(rep, name, t, engine, r, started)
            python_pairs(server.url, args.python_pairs, results, started)
            if args.ttft_reps and not args.rows_only:
                ttft = run_ttft_section(site, SMOLLM2, 2, args.ttft_reps, run_page, _driver)
            rows = run_rows_section(server.url, rows_names, args.rows_threads, args.rows_tokens)
        finally:
            server.stop()
    if args.rows_only:
        print("\n".join(rows))
        return 0
    return report(ROOT, results, models, _machine(), rows + failures, ttft,
                  minutes=(time.monotonic() - started) / 60)


def python_pairs(url: str, pairs: int, results: dict, started: float) -> None:
    """``pairs`` py/js page pairs on SmolLM2 at 2 threads, alternating (the PYTHON line)."""
    for i in range(pairs):
        for engine in ("py", "js"):
            r = run_browser(f"{url}/{engine}.html?threads=2&model=./models/{SMOLLM2}.gguf")
            results.setdefault((SMOLLM2, f"{engine}-pair", 2), []).append(r)
            _print_run(i, SMOLLM2, 2, f"{engine}-pair", r, started)


def _print_run(rep: int, name: str, t: int, engine: str, r: dict, started: float) -> None:
    print(f"[{(time.monotonic() - started) / 60:5.1f} min] rep {rep + 1} {name} t{t} {engine:10s} "
          f"prefill {r['prefill']:7.1f}" + (f" (512: {r['prefill_long']:6.1f})" if "prefill_long" in r else "")
          + f" decode {r['decode']:6.1f}"
          + (f" load {r['load_ms']:.0f} ms peak {r['peak_mib']:.0f} MiB" if "load_ms" in r else "")
          + (f" main {r['cpu_main']:.2f} workers {r['cpu_workers']:.2f} cores" if "cpu_main" in r else ""),
          flush=True)


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


def _cpu() -> str:
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("model name"):
            return ln.split(":", 1)[1].strip()
    return "unknown CPU"


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0))


def _firefox() -> str:
    from bidi import ensure_firefox

    v = subprocess.run([ensure_firefox(), "--version"], capture_output=True, text=True).stdout.strip()
    return v.removeprefix("Mozilla Firefox ")


def _chromium() -> str:
    v = subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()
    return v.removeprefix("Chromium ")


if __name__ == "__main__":
    sys.exit(main())
