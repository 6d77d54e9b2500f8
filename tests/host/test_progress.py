"""Load progress: the text bar's throttling and the progress= argument."""

from __future__ import annotations

import io

import pytest

from pyodide_llm._progress import TextBar, resolve


def test_text_bar_redraws_at_most_every_percent_and_ends_each_stage_with_a_newline() -> None:
    out = io.StringIO()
    bar = TextBar(out, min_interval=3600)  # time never forces a redraw here
    total = 100 << 20
    for loaded in range(0, total + 1, 1 << 12):  # 25,601 events
        bar(loaded, total, "download")
    bar(0, total, "load")
    bar(total, total, "load")
    bar(total, total, "load")  # a repeated final event draws nothing
    draws = out.getvalue().count("\r")
    assert 100 <= draws <= 104, draws
    lines = out.getvalue().split("\n")
    assert "download" in lines[0] and "100.0% 100/100 MiB" in lines[0]
    assert "load" in lines[1] and "100.0%" in lines[1] and lines[2] == ""


def test_progress_argument() -> None:
    calls = []
    cb = resolve(lambda *a: calls.append(a))
    cb(1, 2, "download")
    assert calls == [(1, 2, "download")]
    assert resolve(False) is None
    assert resolve(None) is None  # not inside a notebook kernel
    import importlib.util
    if importlib.util.find_spec("ipywidgets") is None:  # the host test environment has no widgets
        assert isinstance(resolve(True), TextBar)
    with pytest.raises(ValueError, match="progress must be"):
        resolve("yes")
