"""Host tests of the build recipes' failure paths: each stops with a RecipeError
that names the cause and the fix (no toolchain or network needed, except the
sha256 test, which asks the configured package index for a tiny wheel)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from pyodide_llm._variants import VARIANTS
from recipes import source, toolchain, variants
from recipes.errors import RecipeError
from recipes.pins import load_pins


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PYODIDE_LLM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize(
    ("version", "spec", "ok"),
    [("6.0.5", ">=6.0,<6.1", True), ("6.1.0", ">=6.0,<6.1", False), ("3.1.6", ">=6.0,<6.1", False),
     ("21.1.8", ">=21,<22", True), ("24.21.0", ">=24,<25", True), ("20.19.2", ">=24,<25", False),
     ("131", ">=123", True), ("missing ('')", ">=1", False)],
)
def test_version_ranges(version: str, spec: str, ok: bool) -> None:
    assert toolchain.satisfies(version, spec) is ok


def test_toolchain_drift_names_tool_and_fix(monkeypatch) -> None:
    tc = toolchain.Toolchain(Path("/nonexistent-root"))
    monkeypatch.setattr(tc, "versions", lambda: {"emcc": "3.1.6", "node": "24.21.0"})
    with pytest.raises(RecipeError) as e:
        tc.check({"emcc": ">=6.0,<6.1", "node": ">=24,<25"})
    assert "emcc 3.1.6 (want >=6.0,<6.1)" in str(e.value)
    assert "node" not in e.value.cause
    assert "emscripten.toml" in e.value.fix


def test_pins_cover_every_variant_and_source() -> None:
    pins = load_pins()
    assert set(pins["variants"]) == {"common", *VARIANTS}  # flags per variant: test_variants.py
    assert len(pins["llama_cpp"]["sdist_sha256"]) == 64
    assert "-O3" in pins["variants"]["common"]["cflags"]


def test_the_128_bit_native_reference_turns_off_every_wider_x86_extension() -> None:
    """bench's native128 row must be SSE4.2-only: any GGML x86 option above it left on (ggml turns
    them on by default without GGML_NATIVE) would make it another full native build."""
    defines = load_pins()["native128"]["defines"]
    wider = ("AVX", "AVX2", "BMI2", "FMA", "F16C", "AVX_VNNI", "AVX512", "AVX512_VBMI", "AVX512_VNNI",
             "AVX512_BF16", "AMX_TILE", "AMX_INT8", "AMX_BF16")
    assert "-DGGML_NATIVE=OFF" in defines and "-DGGML_SSE42=ON" in defines
    assert [o for o in wider if f"-DGGML_{o}=OFF" not in defines] == []
    assert {"-DCMAKE_C_FLAGS=-march=x86-64-v2", "-DCMAKE_CXX_FLAGS=-march=x86-64-v2"} <= set(defines)


def test_sha256_mismatch_stops_the_download(cache) -> None:
    with pytest.raises(RecipeError) as e:
        source._pip_download("six==1.16.0", "0" * 64, "six-1.16.0-py2.py3-none-any.whl", binary=True, log=print)
    assert "sha256 mismatch" in e.value.cause
    assert not list((cache / "downloads").glob("six-*"))


def test_corrupt_sdist_is_reported_and_removed(cache, monkeypatch) -> None:
    junk = b"this is not a gzip tarball"
    digest = hashlib.sha256(junk).hexdigest()
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / "x-1.tar.gz").write_bytes(junk)
    pins = {"llama_cpp": {"sdist_name": "x", "sdist_version": "1", "sdist_file": "x-1.tar.gz",
                          "sdist_sha256": digest, "subdir": "vendor/llama.cpp", "patches": []}}
    with pytest.raises(RecipeError) as e:
        source.llama_source(pins, log=print)
    assert "corrupt" in e.value.cause and "again" in e.value.fix
    assert not (cache / "downloads" / "x-1.tar.gz").exists()


def test_sdist_without_the_subdir_is_reported(cache) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"hello"
        info = tarfile.TarInfo("x-1/README")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / "x-1.tar.gz").write_bytes(buf.getvalue())
    pins = {"llama_cpp": {"sdist_name": "x", "sdist_version": "1", "sdist_file": "x-1.tar.gz",
                          "sdist_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                          "subdir": "vendor/llama.cpp", "patches": []}}
    with pytest.raises(RecipeError, match=r"no vendor/llama\.cpp directory"):
        source.llama_source(pins, log=print)


class FailingToolchain:
    """Stands in for the root: configure succeeds, the compile fails with a log."""

    root = None

    def run(self, cmd, cwd=None, env=None, capture=False, check=True):
        import subprocess
        if cmd.startswith("cmake --build"):
            (cwd / "build.log").write_text("[1/9] cc engine.cpp\nengine.cpp:3:1: error: expected ';'\nninja: stopped\n")
            return subprocess.CompletedProcess(cmd, 1)
        (cwd / "configure.log").write_text("ok\n")
        return subprocess.CompletedProcess(cmd, 0)


def test_failing_compile_quotes_the_error(cache, tmp_path) -> None:
    build = tmp_path / "b"
    build.mkdir()
    with pytest.raises(RecipeError) as e:
        variants._cmake_build(FailingToolchain(), build, tmp_path, ["emcmake", "cmake"], ["plm-engine"], print,
                              "wasm32-st")
    assert "compiling wasm32-st failed" in e.value.cause
    assert "error: expected ';'" in e.value.cause
    assert "build.log" in e.value.fix


def test_debian_mirror_comes_from_apt_configuration() -> None:
    uri = toolchain.debian_mirror()
    assert uri.startswith(("http://", "https://", "file:"))
    assert "security" not in uri


def test_lint_tools_must_match_their_pins(tmp_path, monkeypatch) -> None:
    from recipes import lint

    req = tmp_path / "requirements.txt"
    req.write_text("pytest==8.4.2\nruff==0.0.1\n")
    monkeypatch.setattr(lint, "REQUIREMENTS", req)
    with pytest.raises(RecipeError, match=r"ruff 0\.0\.1 is pinned") as e:
        lint.check_python_tool("ruff")
    assert "pip install -r" in e.value.fix
    with pytest.raises(RecipeError, match="no `mypy==VERSION` pin"):
        lint.check_python_tool("mypy")


@pytest.mark.parametrize(
    ("version", "ok"),
    [("18.17.0", False), ("18.19.0", True), ("19.0.0", False), ("20.8.0", False), ("20.19.2", True),
     ("24.1.0", True)],
)
def test_lint_reads_npm_engine_ranges(version: str, ok: bool) -> None:
    from recipes.lint import _clauses

    spec = "^18.18.0 || ^20.9.0 || >=21.1.0"  # ESLint 9's engines field
    assert any(toolchain.satisfies(version, _clauses(alt)) for alt in spec.split("||")) is ok


def test_a_build_tree_configured_from_another_checkout_is_reconfigured(tmp_path) -> None:
    """A fresh clone elsewhere meets build trees CMake would refuse: their cache is dropped, objects kept."""
    from recipes import variants

    def tree(home: str) -> Path:
        build = tmp_path / home.strip("/").replace("/", "_")
        (build / "CMakeFiles").mkdir(parents=True)
        (build / "CMakeCache.txt").write_text(f"CMAKE_HOME_DIRECTORY:INTERNAL={home}\n")
        (build / "engine.o").write_bytes(b"obj")
        return build

    other = tree("/elsewhere/wasm")
    variants._forget_other_checkout(other)
    assert not (other / "CMakeCache.txt").exists() and not (other / "CMakeFiles").exists()
    assert (other / "engine.o").exists()
    ours = tree(str(variants.WASM_DIR))
    variants._forget_other_checkout(ours)
    assert (ours / "CMakeCache.txt").exists()
