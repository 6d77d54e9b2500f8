"""Build the wasm variants and the native reference with CMake, cached by input hash.

Two cache levels: the CMake build tree is keyed by everything except our own
shim sources (toolchain, llama.cpp source, flags), so editing ``wasm/`` rebuilds
only the shim; the finished artefacts are keyed by all inputs including the
shim, so an unchanged ``make wasm`` copies them out in seconds.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from .errors import RecipeError
from .pins import REPO, cache_root, digest
from .toolchain import Toolchain

WASM_DIR = REPO / "wasm"
ARTEFACTS = ("plm-engine.mjs", "plm-engine.wasm")  # what the wheel ships
# The licences of the source compiled into every engine, from the pinned llama.cpp tree,
# shipped in pyodide_llm/_wasm/ beside the engines: file name -> path in the tree. llama.cpp's
# own covers ggml; its common library (chat templates, JSON-schema grammars) compiles in the
# vendored nlohmann/json, whose licence llama.cpp keeps in licenses/. All MIT.
ENGINE_LICENSES = {"LICENSE.llama.cpp": "LICENSE", "LICENSE.nlohmann-json": "licenses/LICENSE-jsonhpp"}
KERNEL_TEST = ("plm-kernel-test.js", "plm-kernel-test.wasm")  # node-only check, stays in the cache
# WebGPU builds only: llama.cpp's test-backend-ops for node (tests/gpu), stays in the cache too.
BACKEND_OPS = ("plm-backend-ops.mjs", "plm-backend-ops.wasm")


def _node_checks(defines: list[str]) -> tuple[str, ...]:
    return KERNEL_TEST + (BACKEND_OPS if "-DPLM_WEBGPU=ON" in defines else ())


def _variant_flags(pins: dict[str, Any], name: str) -> tuple[list[str], list[str], list[str]]:
    common, v = pins["variants"]["common"], pins["variants"][name]
    cflags = common["cflags"] + v["cflags"]
    ldflags = common["ldflags"] + v["ldflags"]
    defines = pins["cmake"]["defines"] + v["cmake"]
    return defines, cflags, ldflags


def _forget_other_checkout(build: Path) -> None:
    """Drop a CMake cache made from another checkout's ``wasm/`` (a clone elsewhere).

    Why: build trees are keyed by what they compile, not by where the repository
    is, so a fresh clone at another path meets a tree configured from the first
    one, and CMake refuses to configure it. Its objects stay (and ccache's).
    """
    cache = build / "CMakeCache.txt"
    if not cache.exists():
        return
    home = next((ln.split("=", 1)[1] for ln in cache.read_text(errors="replace").splitlines()
                 if ln.startswith("CMAKE_HOME_DIRECTORY:")), str(WASM_DIR))
    if Path(home) != WASM_DIR:
        cache.unlink()
        shutil.rmtree(build / "CMakeFiles", ignore_errors=True)


def _cmake_build(tc: Toolchain, build: Path, src: Path, configure: list[str], targets: list[str], log,
                 what: str) -> None:
    _forget_other_checkout(build)
    cfg = " ".join(shlex.quote(a) for a in configure)
    r = tc.run(f"{cfg} -G Ninja -S {shlex.quote(str(WASM_DIR))} -B {shlex.quote(str(build))} "
               f"-DLLAMA_SRC={shlex.quote(str(src))} > {shlex.quote(str(build))}/configure.log 2>&1",
               cwd=build, check=False)  # cwd: stray compiler outputs (a.out.*) stay in the build tree
    if r.returncode != 0:
        tail = (build / "configure.log").read_text(errors="replace")[-2500:]
        raise RecipeError(f"CMake configure of {what} failed:\n{tail}",
                          f"read {build}/configure.log; check the flags for {what} in emscripten.toml")
    r = tc.run(f"cmake --build {shlex.quote(str(build))} -j{_jobs()} --target {' '.join(targets)} "
               f"> {shlex.quote(str(build))}/build.log 2>&1", cwd=build, check=False)
    if r.returncode != 0:
        text = (build / "build.log").read_text(errors="replace")
        errors = [ln for ln in text.splitlines() if "error" in ln.lower()][:12]
        raise RecipeError(f"compiling {what} failed:\n" + "\n".join(errors or text.splitlines()[-30:]),
                          f"read {build}/build.log; fix the shim in wasm/ or the flags in emscripten.toml")


def _publish(build: Path, out: Path, files, what: str) -> None:
    """Copy finished files into the output cache atomically, then prune old build trees.

    The output directory only ever appears complete (written as ``.partial``,
    then renamed), so an interrupted build is never mistaken for a cache hit.
    """
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in files:
        found = [p for p in build.rglob(f) if p.is_file()]
        if not found:
            raise RecipeError(f"{what}: the build produced no {f}", f"read {build}/build.log")
        shutil.copy2(found[0], tmp / f)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    _prune_builds(build)


def _prune_builds(keep: Path) -> None:
    """Drop older build trees of the same target: they are large and never reused."""
    prefix = keep.name.rsplit("-", 1)[0] + "-"
    for other in keep.parent.glob(prefix + "*"):
        if other != keep and other.is_dir() and len(other.name) == len(keep.name):
            shutil.rmtree(other, ignore_errors=True)


def _jobs() -> int:
    import os
    return max(1, len(os.sched_getaffinity(0)))


def build_variant(tc: Toolchain, pins: dict[str, Any], name: str, src: Path, log=print) -> Path:
    """Build one wasm variant; return the directory holding its .mjs/.wasm pair."""
    defines, cflags, ldflags = _variant_flags(pins, name)
    # The build tree does not depend on link flags or our shim: changing those relinks only.
    # src.name carries the sdist hash and the patches' contents.
    base_key = digest(pins["toolchain"], src.name, defines, cflags, name)
    full_key = digest(base_key, ldflags, WASM_DIR)
    out = cache_root() / "wasm" / f"{name}-{full_key}"
    checks = _node_checks(defines)
    if all((out / a).exists() for a in ARTEFACTS + checks):
        log(f"wasm: {name} up to date (cache {out.name})")
        return out
    build = cache_root() / "build" / f"{name}-{base_key}"
    build.mkdir(parents=True, exist_ok=True)
    log(f"wasm: building {name} in {build}")
    t0 = time.monotonic()
    configure = ["emcmake", "cmake", *defines,
                 "-DCMAKE_C_FLAGS=" + " ".join(cflags), "-DCMAKE_CXX_FLAGS=" + " ".join(cflags),
                 # Link flags go to our target only: in CMAKE_EXE_LINKER_FLAGS they would
                 # break CMake's try-compile programs (they lack our exported functions).
                 "-DPLM_LINK_FLAGS=" + ";".join(ldflags)]
    targets = ["plm-engine", *sorted({c.split(".")[0] for c in checks})]
    _cmake_build(tc, build, src, configure, targets, log, name)
    _publish(build, out, ARTEFACTS + checks, name)
    log(f"wasm: {name} built in {time.monotonic() - t0:.0f} s")
    return out


def _cpu_fingerprint() -> str:
    """Native builds use -march=native: the cache must not cross CPU models."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    first = info.split("\n\n")[0]
    keep = [ln for ln in first.splitlines() if ln.startswith(("model name", "flags"))]
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:12]


def build_native(tc: Toolchain, pins: dict[str, Any], src: Path, log=print, flavour: str = "native") -> Path:
    """Build the engine natively; return the bin directory.

    ``flavour``: ``"native"`` (``[native]``: -march=native, the greedy reference and the
    speed ceiling) or ``"native128"`` (``[native128]``: 128-bit SIMD only, llama-bench).
    """
    np_ = pins[flavour]
    base_key = digest(pins["toolchain"], src.name, pins["cmake"]["defines"], np_, _cpu_fingerprint())
    full_key = digest(base_key, WASM_DIR)
    out = cache_root() / "native" / f"{flavour}-{full_key}"
    targets = np_["targets"]
    if all((out / t).exists() for t in targets):
        log(f"{flavour}: up to date (cache {out.name})")
        return out
    build = cache_root() / "build" / f"{flavour}-{base_key}"
    build.mkdir(parents=True, exist_ok=True)
    log(f"{flavour}: building {', '.join(targets)} in {build}")
    t0 = time.monotonic()
    configure = ["cmake", *pins["cmake"]["defines"], *np_["defines"]]
    _cmake_build(tc, build, src, configure, targets, log, flavour)
    _publish(build, out, targets, flavour)
    log(f"{flavour}: built in {time.monotonic() - t0:.0f} s")
    return out
