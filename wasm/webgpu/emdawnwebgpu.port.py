"""An emscripten port that stands in for emdawnwebgpu: our own wgpu subset.

Why: llama.cpp's ggml-webgpu CMake takes ``EMDAWNWEBGPU_DIR`` and passes
``--use-port=$EMDAWNWEBGPU_DIR/emdawnwebgpu.port.py`` to every compile and to
the link. Pointing it at this folder gives ggml-webgpu our header
(``webgpu/webgpu_cpp.h``) and links our JS library (``library_plmgpu.js``),
with no download and no patch to llama.cpp.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
URL = "https://example.invalid/not-downloaded"  # a local port: nothing is fetched
DESCRIPTION = "pyodide_llm's WebGPU binding (wgpu C++ subset over navigator.gpu)"
LICENSE = "same as pyodide_llm"


def get(ports, settings, shared):
    return []


def clear(ports, settings, shared):
    pass


def process_args(ports):
    return ["-I" + HERE]


def linker_setup(ports, settings):
    settings.JS_LIBRARIES.append(os.path.join(HERE, "library_plmgpu.js"))
