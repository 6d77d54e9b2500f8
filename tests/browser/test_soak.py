"""The soak's short version (``soak.py``; ``make soak`` runs it long): every phase in
one page, no error, the greedy answer unchanged, no engine worker left behind.

Memory figures are printed, not asserted here: a few dozen generations say little
about growth on a shared machine; ``make soak``'s 500 generations and 50 cycles do.
"""

from __future__ import annotations

import pytest

from conftest import _page_on
from soak import run_soak


@pytest.fixture(scope="module")
def fresh(servers):
    """An isolated page of this module's own (its memory is measured)."""
    yield from _page_on(servers["isolated"])


def test_a_short_soak_ends_clean(fresh):
    report = run_soak(fresh, generations=35, cycles=5, rounds=3)
    for line in report.lines():
        print(line)
    assert report.errors == []
    assert report.counts["broken"] >= 5 and report.counts["cancelled"] >= 1, report.counts
    # the 10 warm-up generations and the 35
    assert report.counts["done"] + report.counts["broken"] + report.counts["cancelled"] == 45, report.counts
    assert report.again == report.reference, "the greedy answer changed over the soak"
    assert report.workers["generations"] >= 1, report.workers
    assert report.live_engines == 0, "an engine the client never ended"
