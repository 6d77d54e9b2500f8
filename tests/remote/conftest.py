"""LLM.connect against real llama-server processes (built by the recipes) on 127.0.0.1, from plain CPython.

Servers are started once per session and stopped by PID at the end; the ones a
test stops itself are its own. Fault servers (faults.py) run in threads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llama_servers import API_KEY, TOOL_TEMPLATE, minilm, smollm2, start  # noqa: E402


@pytest.fixture(scope="session")
def chat_server(tmp_path_factory):
    """SmolLM2 with its own chat template: chat, complete, JSON schema, cancel, errors."""
    server = start(tmp_path_factory, smollm2(), "chat")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tool_server(tmp_path_factory):
    """SmolLM2 with a Hermes-style tool template (the local tests' fixture) and an API key."""
    server = start(tmp_path_factory, smollm2(), "tools", api_key=API_KEY, chat_template_file=TOOL_TEMPLATE)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embed_server(tmp_path_factory):
    """all-MiniLM-L6-v2 (the local embedding tests' model), serving /v1/embeddings."""
    server = start(tmp_path_factory, minilm(), "embed", embeddings=True, n_ctx=512)
    yield server
    server.stop()
