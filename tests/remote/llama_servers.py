"""The llama-server processes the remote tests (tests/remote, tests/browser/test_remote.py) start.

Models come from the recipes (the same files the local engine's tests load);
each server's output goes to a log file under pytest's temporary folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from recipes.llama_server import LlamaServer

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "test-key-15"
TOOL_TEMPLATE = ROOT / "tests" / "fixtures" / "tool_template.jinja"


def smollm2() -> Path:
    from recipes.build import log
    from recipes.pins import load_pins
    from recipes.source import model_file

    return model_file(load_pins(), "smollm2", log)


def minilm() -> Path:
    from recipes.build import log
    from recipes.embedmodel import embedding_model
    from recipes.pins import load_pins

    return embedding_model(load_pins(), "minilm", log)


def start(tmp_path_factory, model: Path, name: str, **options) -> LlamaServer:
    log_file = tmp_path_factory.mktemp("llama-server") / f"{name}.log"
    return LlamaServer(model, log_file=log_file, threads=2, **options).start()


def _asked(city: str, i: int) -> list[dict]:
    return [{"role": "user", "content": f"Weather in {city}?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{i}", "type": "function", "function": {
                "name": "get_weather", "arguments": json.dumps({"city": city})}}]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "15 C"}]


# Two worked examples, as the local tool tests use: a 135M model follows the pattern. Asked cold
# (one user turn), llama-server's greedy answer with this template is free text for 60 tokens even
# with tool_choice="required"; with one example it still is (both seen here).
FEWSHOT = [*_asked("London", 1), {"role": "assistant", "content": "It is 15 C in London."},
           *_asked("Rome", 2), {"role": "assistant", "content": "It is 15 C in Rome."},
           {"role": "user", "content": "Weather in Paris?"}]
