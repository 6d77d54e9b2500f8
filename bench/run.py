"""``make bench``: pyodide_llm vs wllama vs native llama.cpp, side by side in one run.

For each repetition and thread count the engines run interleaved (A B C D):
  py      pyodide_llm through its Python API (Pyodide, micropip-installed wheel)
  js      the same engine driven directly from JS (what Python streaming costs)
  wllama  wllama 3.8.1 (npm) in the same Chromium
  native  llama-bench built from the same llama.cpp source
Each browser run is a fresh page on a COOP/COEP server: load the model, one
warm-up generation, then the measured one (the prompt, then 128 greedy
tokens with EOS ignored). The figures are medians over the repetitions.
prefill/decode are each engine's own timings (apples to apples with wllama and
llama-bench). python_overhead: within each run, the decode rate the consumer sees
(first to last piece, wall clock) as a share of the engine's own decode rate;
Python's share against a plain JS consumer's, so page-to-page engine noise cancels.
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

from conftest import _driver  # noqa: E402

from recipes.build import cmd_native, cmd_wasm, log  # noqa: E402
from recipes.pins import load_pins  # noqa: E402
from recipes.pyodide_dist import _npm_pack, pyodide_dist  # noqa: E402
from recipes.serve import StaticServer  # noqa: E402
from recipes.source import model_file  # noqa: E402
from recipes.toolchain import ensure_toolchain  # noqa: E402
from recipes.wheel import build_wheel  # noqa: E402

ENGINES = ("py", "js", "wllama", "native")


def make_site(root: Path, pins, wheel: Path, model: Path) -> None:
    root.mkdir(parents=True)
    (root / "models").mkdir()
    (root / "models" / "smollm2.gguf").symlink_to(model)
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


def run_page(driver, url: str, timeout: float = 600) -> dict:
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
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--report", type=Path, help="redo the report (and RESULTS.md) from a saved results JSON")
    args = ap.parse_args()
    if args.report:
        raw = json.loads(args.report.read_text())["raw"]
        results = {(k.rsplit("-t", 1)[0], int(k.rsplit("-t", 1)[1])): v for k, v in raw.items()}
        return report(results, sorted({t for _, t in results}), save=False)
    threads_list = [int(t) for t in args.threads.split(",")]
    pins = load_pins()
    cmd_wasm([])
    native_dir = cmd_native()
    wheel = build_wheel(log)
    model = model_file(pins, "smollm2", log)
    tc = ensure_toolchain(pins, log)
    results: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="pyodide_llm-bench-") as tmp:
        make_site(Path(tmp) / "site", pins, wheel, model)
        server = StaticServer(Path(tmp) / "site", isolated=True)
        driver = _driver()
        try:
            for rep in range(args.reps + 1):  # repetition 0 is the warm-up, not counted
                for t in threads_list:
                    for engine in ENGINES:
                        if engine == "native":
                            r = run_native(tc, str(native_dir / "llama-bench"), model, t)
                        else:
                            r = run_page(driver, f"{server.url}/{engine}.html?threads={t}")
                        if rep > 0:
                            results.setdefault((engine, t), []).append(r)
                        print(f"rep {rep} t{t} {engine:7s} prefill {r['prefill']:7.1f} decode {r['decode']:6.1f}"
                              + (f" load {r['load_ms']:.0f} ms" if "load_ms" in r else ""), flush=True)
        finally:
            driver.quit()
            server.stop()
    return report(results, threads_list)


def report(results, threads_list, save: bool = True) -> int:
    for v in results.values():
        for r in v:
            if "decode_wall" in r:  # share of the engine's decode rate the consumer really sees
                r["keep_up"] = r["decode_wall"] / r["decode"]
    med = {k: {m: statistics.median(r[m] for r in v if m in r)
               for m in ("prefill", "decode", "decode_wall", "keep_up", "load_ms")
               if any(m in r for r in v)} for k, v in results.items()}
    lines = ["| engine | threads | prefill tok/s | decode tok/s | decode seen by consumer tok/s | load ms |",
             "|---|---|---|---|---|---|"]
    for t in threads_list:
        for e in ENGINES:
            m = med[(e, t)]
            load = f"{m['load_ms']:.0f}" if "load_ms" in m else "-"
            wall = f"{m['decode_wall']:.1f}" if "decode_wall" in m else "-"
            lines.append(f"| {e} | {t} | {m['prefill']:.1f} | {m['decode']:.1f} | {wall} | {load} |")
    ratios = []
    for t in threads_list:
        py, js, wl, nat = (med[(e, t)] for e in ENGINES)
        ratios.append(f"RATIO smollm2-135m-q4_1 t{t} prefill_vs_wllama={py['prefill'] / wl['prefill']:.2f} "
                      f"decode_vs_wllama={py['decode'] / wl['decode']:.2f} "
                      f"decode_vs_native={py['decode'] / nat['decode']:.2f} "
                      f"python_overhead={1 - py['keep_up'] / js['keep_up']:.3f}")
    print("\n".join(lines + [""] + ratios))
    machine = f"{platform.node()}: {platform.processor() or platform.machine()}, {_cpu()}, {_cores()} cores"
    if save:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (ROOT / "bench" / "results" / f"{stamp}.json").write_text(json.dumps(
            {"machine": machine, "raw": {f"{e}-t{t}": v for (e, t), v in results.items()}}, indent=1))
    (ROOT / "bench" / "RESULTS.md").write_text(
        f"# Latest benchmark ({time.strftime('%Y-%m-%d %H:%M')} UTC)\n\nMachine: {machine}; Chromium "
        f"{_chromium()}; model SmolLM2-135M-Instruct Q4_1; prompt ~128 tokens, 128 greedy tokens (EOS ignored); "
        f"medians of {len(next(iter(results.values())))} runs after a warm-up, engines interleaved.\n\n"
        + "\n".join(lines) + "\n\n```\n" + "\n".join(ratios) + "\n```\n")
    return 0


def _cpu() -> str:
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("model name"):
            return ln.split(":", 1)[1].strip()
    return "unknown CPU"


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0))


def _chromium() -> str:
    return subprocess.run(["chromium", "--version"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
