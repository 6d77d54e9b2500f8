"""``make bench``'s arithmetic: spreads, RATIO/PYTHON/TTFT lines, CPU shares, the plan, the slow link.

The benchmark itself runs for 45 minutes in real browsers; what it prints must still
be right, so its pure parts are checked here on made-up runs.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bench")]

import cpu  # noqa: E402
import memory  # noqa: E402
import plan  # noqa: E402
import report  # noqa: E402
import ttft  # noqa: E402
from pyodide_llm._host.serve import StaticServer  # noqa: E402


def run(**kv: float) -> dict[str, float]:
    return {"ok": True, **kv}


def test_spread_is_median_then_range() -> None:
    assert report.spread([3.0, 1.0, 2.0]) == "2.0 [1.0-3.0]"
    assert report.spread([5.25]) == "5.2"  # one run: no range to show
    assert report.spread([]) == "-"
    assert report.spread([0.5, 0.25], ".2f") == "0.38 [0.25-0.50]"


def test_ratio_line_names_every_reference() -> None:
    results = {
        ("m", "py", 2): [run(prefill=100, prefill_long=90, decode=40, decode_wall=39, peak_mib=300),
                         run(prefill=120, prefill_long=110, decode=44, decode_wall=43, peak_mib=310)],
        ("m", "js", 2): [run(prefill=110, decode=42, decode_wall=42, peak_mib=250)],
        ("m", "wllama", 2): [run(prefill=20, decode=11, peak_mib=260)],
        ("m", "native", 2): [run(prefill=220, prefill_long=250, decode=84)],
        ("m", "native128", 2): [run(prefill=88, decode=50)],
        report.BLANK: [run(peak_mib=110), run(peak_mib=120)],
    }
    med = report.medians(results)
    lines = report.ratio_lines(med, [("m", 2)], {"m": {"file_mib": 94, "kv_mib": 22}})
    ratio = dict(kv.split("=") for kv in lines[0].split()[3:])
    assert ratio["prefill_vs_wllama"] == "5.50" and ratio["decode_vs_wllama"] == "3.82"
    assert ratio["decode_vs_native"] == "0.50" and ratio["decode_vs_native128"] == "0.84"
    assert ratio["prefill_vs_native"] == "0.50" and ratio["prefill512_vs_native"] == "0.40"
    assert ratio["prefill_vs_native128"] == "1.25"
    assert not any(ln.startswith(("FIREFOX", "WASM32")) for ln in lines)  # no Firefox or js64 row, no line
    assert "budget_mib=266" in lines[-1] and "js_peak_mib=250" in lines[-1]
    assert "blank_page_peak_mib=115" in lines[-1] and "js_over_model_kv_mib=134" in lines[-1]


def test_wasm32_line_compares_the_js_page_on_both_memories() -> None:
    results = {("m", "js", 2): [run(prefill=110, prefill_long=100, decode=42, peak_mib=250)],
               ("m", "js64", 2): [run(prefill=100, prefill_long=80, decode=35, peak_mib=260)]}
    lines = report.ratio_lines(report.medians(results), [("m", 2)], {})
    (wasm32,) = [ln for ln in lines if ln.startswith("WASM32")]
    assert wasm32 == "WASM32 m t2 decode_vs_wasm64=1.20 prefill_vs_wasm64=1.10 prefill512_vs_wasm64=1.25 " \
                     "peak_vs_wasm64=0.96"


def test_firefox_line_names_the_variant_firefox_ran() -> None:
    results = {("m", "py", 2): [run(prefill=100, decode=40)],
               ("m", "py-firefox", 2): [run(prefill=90, decode=44, variant="wasm32-mt")]}
    (line,) = [ln for ln in report.ratio_lines(report.medians(results), [("m", 2)], {}, results)
               if ln.startswith("FIREFOX")]
    assert line.startswith("FIREFOX m t2 variant=wasm32-mt prefill_vs_chromium=0.90 decode_vs_chromium=1.10"), line


def test_missing_rows_print_nan_not_fail() -> None:
    med = report.medians({("big", "py", 2): [run(prefill=5, decode=2, peak_mib=900)]})
    (line,) = report.ratio_lines(med, [("big", 2)], {})
    assert "decode_vs_native=nan" in line and "python_overhead=nan" in line


def test_table_shows_spread_and_skips_absent_engines() -> None:
    results = {("m", "py", 2): [run(prefill=1, decode=2, load_ms=10, peak_mib=5, cpu_main=0.1),
                                run(prefill=3, decode=4, load_ms=30, peak_mib=7, cpu_main=0.3)]}
    rows = report.table(results, [("m", 2)])
    assert rows[2] == "| m | py | 2 | 2.0 [1.0-3.0] | - | 3.0 [2.0-4.0] | - | 20 [10-30] | 6 [5-7] | 0.20 [0.10-0.30] |"
    assert len(rows) == 3


def test_python_line_pairs_runs_in_order() -> None:
    results = {("s", "py-pair", 2): [run(decode=30, decode_wall=29, cpu_main=0.2), run(decode=40, decode_wall=39)],
               ("s", "js-pair", 2): [run(decode=40, decode_wall=40, cpu_main=0.1), run(decode=40, decode_wall=40)]}
    (line,) = report.python_lines(results)
    assert "pairs=2" in line and "py_vs_js_decode=0.875 [0.750-1.000]" in line
    assert "py_main_cores=0.20" in line and "js_main_cores=0.10" in line


def test_ttft_lines_per_visit_with_ratios() -> None:
    def visit(first: float, **stages: float) -> dict[str, float]:
        return {"first_token_ms": first, "loaded_ms": first - 500, "model_gets": 1, **stages}

    runs = {("py", "first"): [visit(8000, pyodide_ms=3000, wheel_ms=4000)],
            ("py", "cached"): [visit(4000, pyodide_ms=2000, wheel_ms=2500)],
            ("wllama", "first"): [visit(5000, module_ms=100)], ("wllama", "cached"): [visit(2000, module_ms=50)]}
    first, cached = ttft.ttft_lines(runs, "m", 2, "link")
    assert first.startswith("TTFT first link (50 Mbit/s 20 ms) m t2; py: pyodide=3000 wheel=4000")
    assert "py_vs_wllama=1.60" in first and "_vs_first" not in first
    assert "py_vs_first=0.50 wllama_vs_first=0.40" in cached


def test_cores_used_counts_inside_the_window_only() -> None:
    hz = 1 / cpu.TICK_S
    samples = [(0.0, {1: ("main", 0), 2: ("workers", 0)}),
               (1000.0, {1: ("main", 0), 2: ("workers", 0)}),
               (3000.0, {1: ("main", int(0.5 * hz)), 2: ("workers", int(3 * hz)), 3: ("other", int(hz))}),
               (9000.0, {1: ("main", int(9 * hz)), 2: ("workers", 0)})]
    used = cpu.cores_used(samples, 500, 3500)  # the samples at 1 s and 3 s: 2 s of wall time
    assert used == pytest.approx({"cpu_main": 0.25, "cpu_workers": 1.5, "cpu_other": 0.5})
    assert cpu.cores_used(samples, 500, 1500) == {}  # one sample inside: no rate


def test_plan_shrinks_only_big_models() -> None:
    small, big = plan.Plan.for_model(94, 3), plan.Plan.for_model(1900, 3, k_quant=True)
    assert (small.n_gen, small.reps, "py-firefox" in small.engines) == (128, 3, True)
    assert (big.n_gen, big.reps, "py-firefox" in big.engines, "native128" in big.engines) == (32, 1, False, False)
    assert "native128" in plan.Plan.for_model(1900, 3).engines  # Q4_0/Q8_0 have 128-bit x86 kernels
    assert set(big.long) == {"py", "js", "js64", "native"} and "js64" in big.engines


def test_slow_link_delivers_every_byte(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1500  # 384 000 bytes: several of the link's 64 KiB chunks
    (tmp_path / "f.bin").write_bytes(data)
    server = StaticServer(tmp_path, isolated=False, cache_control="no-cache", base=ttft._linked(400, 1))
    try:
        with urllib.request.urlopen(server.url + "/f.bin") as resp:
            assert resp.headers["Cache-Control"] == "no-cache"
            assert resp.read() == data
        req = urllib.request.Request(server.url + "/f.bin", headers={"Range": "bytes=70000-200000"})
        with urllib.request.urlopen(req) as resp:
            assert resp.status == 206 and resp.read() == data[70000:200001]
    finally:
        server.stop()


def test_firefox_tab_processes_are_found_in_both_cmdline_forms() -> None:
    # Firefox 140: one NUL per argument; Firefox 153's fork server: one space-separated string.
    tail = b"-contentproc -isForBrowser -prefsHandle 0:42148 -appDir /usr/lib/firefox-esr/browser 9 "
    assert memory.is_firefox_tab_process(b"/usr/lib/firefox-esr/firefox-esr\0" + tail.replace(b" ", b"\0") + b"tab\0")
    assert memory.is_firefox_tab_process(b"/usr/lib/firefox-esr/firefox-esr " + tail + b"tab\0")
    assert not memory.is_firefox_tab_process(b"/usr/lib/firefox-esr/firefox-esr " + tail + b"rdd\0")
    assert not memory.is_firefox_tab_process(b"/usr/bin/firefox-esr\0--headless\0--profile\0/tmp/tab\0")
