# Front door of the recipes. Everything real happens in recipes/ (Python,
# checked subprocess calls) so that errors name their cause and fix.
PYTHON ?= python3

.PHONY: bench bench-numerics soak demo docs lint wasm native serve-model test-remote wheel test test-host test-js test-node test-gpu test-browser test-pyodide help example-chat example-data-app example-jupyterlite

help:
	@echo "make demo       stream a chat answer from SmolLM2 in headless Chromium, then serve the page"
	@echo "make example-chat / example-data-app / example-jupyterlite   build an example site into dist/sites/ (offline)"
	@echo "make wasm       build the three wasm variants (cached by input hash)"
	@echo "make native     build the native reference engine (and llama-server) from the same source"
	@echo "make serve-model MODEL=m.gguf [PORT=8080]   llama-server on 127.0.0.1 for LLM.connect"
	@echo "make lint       ruff, mypy --strict (the package) and ESLint (the JS); the tools are pinned"
	@echo "make docs       the HTML docs (guides + API reference) into dist/docs/, offline, links checked"
	@echo "make test       run every test tier"
	@echo "make bench     pyodide_llm vs wllama vs native llama.cpp, side by side (~45 min): bench/RESULTS.md"
	@echo "make bench-numerics  wasm vs native log-probabilities and perplexity over 2,000 tokens"
	@echo "make soak       long use in one page, the loader and header fuzzers at full size; ends SOAK ok|FAIL"
	@echo "make test-host  run the host tests (recipes' failure paths)"
	@echo "make test-remote  run LLM.connect's tests against real llama-server processes"
	@echo "make test-js    run the JS tests (client, worker, download, store; fake engine, no wasm build)"
	@echo "make test-node  run the node 24 tests of the wasm build"
	@echo "make test-gpu   run the WebGPU variant's tests: node 26 on a software GPU (lavapipe)"
	@echo "make wheel      build dist/pyodide_llm-*.whl (pure, with the engines)"
	@echo "make test-browser  run the browser tests (headless Chromium, offline Pyodide);"
	@echo "                   PYTEST_ARGS='-m \"not slow\"' skips the > 4.5 GB model test"
	@echo "make test-pyodide  run the Python API's browser tests through pytest-pyodide (run_in_pyodide)"

demo:
	$(PYTHON) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	$(PYTHON) -m recipes.demo $(DEMO_ARGS)

example-chat example-data-app: wheel
	$(PYTHON) -m recipes.examples $(@:example-%=%)

example-jupyterlite: wheel
	$(PYTHON) -m recipes.jupyterlite dist/sites/jupyterlite

bench:
	$(PYTHON) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	$(PYTHON) bench/run.py $(BENCH_ARGS)

# wasm vs native log-probabilities and perplexity over 2,000 tokens (~5 min; not in make bench)
bench-numerics:
	$(PYTHON) bench/numerics.py $(BENCH_ARGS)

# Not part of `make test` (tens of minutes); its short versions are (test_soak.py, the fuzzers' defaults).
soak: wheel
	$(PYTHON) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	$(PYTHON) -m recipes.soak $(SOAK_ARGS)

wasm:
	$(PYTHON) -m recipes.build wasm

native:
	$(PYTHON) -m recipes.build native

# llama.cpp's llama-server (built by `make native`) on 127.0.0.1 for LLM.connect: make serve-model MODEL=m.gguf
serve-model:
	$(PYTHON) -m recipes.llama_server $(MODEL) $(PORT)

test-js:
	$(PYTHON) -m recipes.build jstest

test-node:
	$(PYTHON) -m recipes.build nodetest

# WebGPU: node 26 + Dawn's node bindings + Mesa lavapipe (recipes/gpurig.py), no GPU needed.
test-gpu:
	$(PYTHON) -m recipes.build gputest

wheel:
	$(PYTHON) -m recipes.build wheel

test-browser: wheel
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/browser $(PYTEST_ARGS)

# pytest-pyodide (tests/requirements.txt); tests/pyodide/conftest.py sets its --runtime and --dist-dir.
test-pyodide: wheel
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/pyodide $(PYTEST_ARGS)

# ruff and mypy come from tests/requirements.txt; ESLint is installed by the recipe
# (lint/package-lock.json). .PHONY matters here: lint/ is also a folder.
lint:
	$(PYTHON) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	$(PYTHON) -m recipes.lint

# Sphinx + numpydoc, pinned in recipes/docs/requirements.txt; strict (-W -n), links checked.
docs:
	$(PYTHON) -m pip install -q --disable-pip-version-check -r recipes/docs/requirements.txt
	$(PYTHON) -m recipes.docs dist/docs

test-host:
	$(PYTHON) -m pytest -q tests/host

# LLM.connect from plain CPython against real llama-server processes (tests/remote; the
# browser side is tests/browser/test_remote.py).
test-remote:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/remote $(PYTEST_ARGS)

test: test-host test-js test-node test-gpu test-remote test-browser test-pyodide
