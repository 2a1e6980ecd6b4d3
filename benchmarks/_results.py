"""What a benchmark writes to benchmarks/results.json: its own section, with the run's environment and spreads.

results.json holds one section per benchmark that writes one (`record(name, section)` replaces that
benchmark's section and keeps the others', so `make bench-quick` leaves one file with every ratio). Each
section carries, besides the benchmark's own keys (mode, rows, summary):

    "recorded": "2026-01-01T12:00:00",      # local time, when the section was written
    "environment": {
      "versions": {"python", "numpy", "jax", "jaxlib", "torch", "opt_einsum", "sympy", "scipy": str | null,
                   "matdiff": {"version", "commit", "source modified"}},   # null: not installed
      "threads": {"pinned (MATDIFF_BENCH_THREADS)", "numpy (OpenBLAS)", "jax (XLA)", "torch",
                  "matdiff, sympy": ...},                                 # what each framework runs with
      "cpus": int, "machine": str, "load average": [1, 5, 15 min]
    }

A time is never one number: `spread(times)` is {"median", "min", "q1", "q3", "max", "n"} in seconds, and a
ratio of two spreads is given by its medians with the range the interquartile ranges allow (`ratio`).
Versions are read from the installed distributions, so recording them loads no framework.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results.json"
DISTRIBUTIONS = ("numpy", "jax", "jaxlib", "torch", "opt_einsum", "sympy", "scipy")


def spread(times: Sequence[float]) -> dict[str, float | int]:
    """Median, extremes and quartiles of the times of one contestant (seconds)."""
    ordered = sorted(times)
    q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive") if len(ordered) > 1 else ordered * 3
    return {"median": statistics.median(ordered), "min": ordered[0], "q1": q1, "q3": q3, "max": ordered[-1],
            "n": len(ordered)}


def ratio(peer: dict, mine: dict) -> dict[str, float]:
    """peer time / my time: the ratio of the medians, the range of the quartiles (slowest peer against my
    fastest and the other way round), and the ratio of the fastest calls."""
    return {"ratio": peer["median"] / mine["median"], "low": peer["q1"] / mine["q3"], "high": peer["q3"] / mine["q1"],
            "fastest": peer["min"] / mine["min"]}


def versions() -> dict[str, Any]:
    found: dict[str, Any] = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["matdiff"] = {"version": _matdiff_version(), "commit": _git("rev-parse", "HEAD"),
                        # other work in the tree since that commit: the commit alone does not say what ran
                        "source modified": bool(_git("status", "--porcelain", "--", "src"))}
    return found


def threads() -> dict[str, Any]:
    """The threads each framework runs with: asked of the framework where it is loaded, else its setting."""
    pinned = os.environ.get("MATDIFF_BENCH_THREADS")
    blas = _openblas_threads() if "numpy" in sys.modules else None
    xla = os.environ.get("XLA_FLAGS", "")
    torch = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    return {"pinned (MATDIFF_BENCH_THREADS)": int(pinned) if pinned else None,
            "numpy (OpenBLAS)": blas if blas is not None else os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "jax (XLA)": 1 if "--xla_cpu_multi_thread_eigen=false" in xla else f"default (XLA_FLAGS={xla!r})",
            "torch": torch if torch is not None else os.environ.get("OMP_NUM_THREADS", "default"),
            "matdiff, sympy": "1 (pure Python)"}


def environment() -> dict[str, Any]:
    return {"versions": versions(), "threads": threads(), "cpus": os.cpu_count(),
            "machine": f"{platform.system()} {platform.machine()}",
            "load average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def record(name: str, section: dict[str, Any], path: Path = RESULTS) -> Path:
    """Write this benchmark's section of results.json, the environment included; other sections stay."""
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        results = {}
    if not isinstance(results, dict) or "rows" in results:  # the one-benchmark file of before: start again
        results = {}
    results[name] = {"recorded": datetime.datetime.now().isoformat(timespec="seconds"),
                     "environment": environment(), **section}
    path.write_text(json.dumps(results, indent=1, default=float))
    return path


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _matdiff_version() -> str | None:
    if "matdiff" in sys.modules:
        return getattr(sys.modules["matdiff"], "__version__", None)
    try:
        return metadata.version("matdiff")
    except metadata.PackageNotFoundError:
        return None


def _openblas_threads() -> int | None:
    """OpenBLAS's own count, from the library NumPy bundles (numpy.libs); None where it cannot be asked."""
    import ctypes
    import glob

    numpy = sys.modules["numpy"]
    folder = Path(numpy.__file__).resolve().parent.parent / "numpy.libs"
    for library in sorted(glob.glob(str(folder / "*openblas*"))):
        try:
            loaded = ctypes.CDLL(library)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            if hasattr(loaded, symbol):
                return int(getattr(loaded, symbol)())
    return None
