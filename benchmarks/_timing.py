"""Timing helpers shared by the benchmarks: one clock (time.perf_counter), medians, budgets.

Benchmarks print what they measure; they never assert on a timing.
"""
from __future__ import annotations

import signal
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any


def once(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> tuple[float, Any]:
    """(seconds, result) of one call, garbage collector left on as a user has it.

    No gc.collect() before the call: with SymPy's caches and matdiff's intern table in one
    process a full collection takes ~0.1 s, far longer than most calls timed here.

    `clock=time.process_time` counts the CPU time of this process only. On a machine busy with other
    work, wall time stretches a long call by the load (it is descheduled again and again) while a call
    shorter than a time slice mostly is not: a ratio of a 50 ms call to a 0.3 ms one came out 298 in
    wall time and 50 in CPU time with three busy processes on two cores (47 and 47 on a quiet machine).
    """
    start = clock()
    result = fn()
    return clock() - start, result


def warm_median(fn: Callable[[], Any], repeat: int = 5, budget_s: float = 0.5) -> tuple[float, float, Any]:
    """(median seconds, first-call seconds, result) of `fn`: the first call is the warm-up, timed
    apart; the median is over the calls after it.

    Runs at most `repeat` times and stops early once `budget_s` is spent (at least one timed run),
    so a slow case costs a bounded time.
    """
    first, result = once(fn)
    times: list[float] = []
    spent = 0.0
    while len(times) < repeat and (not times or spent < budget_s):
        elapsed, _ = once(fn)
        times.append(elapsed)
        spent += elapsed
    return statistics.median(times), first, result


def alternating(calls: dict[str, Callable[[], float]], repeat: int = 5,
                budget_s: float = 0.5) -> dict[str, list[float]]:
    """Each contestant's times, its calls alternating with the others' (A, B, A, B, ...) so that a burst of
    other work on the machine hits them alike. A call returns the seconds it measured itself, so that it can
    prepare what is not to be timed (a fresh expression, a cleared cache) first.

    `repeat` rounds at most; stops early once `budget_s` is spent (at least one round).
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    spent = 0.0
    for _ in range(repeat):
        for name, call in calls.items():
            times[name].append(call())
            spent += times[name][-1]
        if spent >= budget_s:
            break
    return times


class TimeLimit(Exception):
    """A call ran past its wall-clock limit (see `time_limit`)."""


@contextmanager
def time_limit(seconds: float):
    """Interrupt the block with TimeLimit after `seconds` (main thread, POSIX); a no-op elsewhere."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def interrupt(signum, frame):
        raise TimeLimit(f"over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"
