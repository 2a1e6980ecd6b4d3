"""Shared pytest configuration: `pytest --slow` runs the property tests with many more examples.

Property tests ask for `examples(quick)` (see tests/strategies.py) or rely on the loaded profile:
the default profile keeps the whole suite fast, the "slow" profile is for fuzzing runs (`make fuzz`).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# `make test` is deterministic: the same examples every run, no example database carried between runs.
# Random exploration is `make fuzz` (--slow); what it finds lands as a fixed example in the tests.
settings.register_profile("quick", deadline=None, derandomize=True, database=None)
settings.register_profile("slow", deadline=None, max_examples=2000,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="run property tests with many more Hypothesis examples (the 'slow' profile)")


def pytest_configure(config):
    settings.load_profile("slow" if config.getoption("--slow") else "quick")


def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` (soaks, long fuzz runs) run only under --slow."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="a long run: use pytest --slow (make fuzz)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
