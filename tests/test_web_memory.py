"""The page's processes hold up over many requests (#17, bounded memory), checked in-process on the
functions the workers run (`matdiff.web.derive`); benchmarks/page_soak.py measures the real server.

A derivation runs in a child forked per request, so nothing it builds outlives it; the numeric check
runs in its worker process, which stays, so whatever a check leaves behind adds up there.
"""
from __future__ import annotations

import gc
import linecache

import pytest

from matdiff.web import derive

# `make test` runs this module alone, after the others: it measures the page's memory
pytestmark = pytest.mark.alone

pytest.importorskip("jax")


def _generated_files() -> set[str]:
    return {name for name in linecache.cache if name.startswith("<matdiff-")}


def _request(k: int) -> dict:
    name = f"W{k}"  # a new variable and number each time, as the soak sends them: new code to compile
    return {"expression": f"sum(tanh(X @ {name}) * {k + 2}) + norm2({name}) ** 2", "where": f"X: n×p, {name}: p×k",
            "wrt": name}


# Each check compiled a JAX function whose source stayed in linecache for good (about 2.5 kB a check):
# the checking workers grew by some 3.5 MB per 1,000 requests of the soak
def test_numeric_checks_leave_no_generated_source_behind():
    assert derive.check(_request(0))["ok"]
    gc.collect()
    before = _generated_files()
    for k in range(1, 9):
        assert derive.check(_request(k))["ok"]
    gc.collect()
    assert _generated_files() <= before
