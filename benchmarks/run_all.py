"""Run every benchmark in this folder, one after another (`make bench`, `make bench-quick`).

A benchmark is a module here whose name does not start with `_` and that defines
`main(argv) -> int`; its docstring's first line is its title. To add one, drop a new module in
benchmarks/ (it may accept --quick): nothing here changes. BENCHMARKS below fixes the order of
those it names; any others run after them, alphabetically. A module that sets `QUICK_RUN = False` at
its top level (a soak of thousands of requests, not a timing) is left out of --quick, which stays
under three minutes; it runs in a full run, or by name.

Each benchmark runs in a process of its own, whose thread counts are set in its environment before
any numeric library loads (MATDIFF_BENCH_THREADS, default 1, for OpenBLAS, OpenMP, MKL and XLA): a
benchmark run earlier cannot fix the threads of a later one, as it could when they shared a process.

Benchmarks print measurements; they never fail on a timing. The run fails only if a benchmark
crashes (a bug, reported with its traceback), after the others have run. Those that write
benchmarks/results.json write a section each (`_results.py`), with the versions, the threads each
framework ran with and the spread of every time.

    python benchmarks/run_all.py [--quick] [NAME ...]
"""
from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("scaling", "vs_sympy")  # the order of the known ones; new modules are found anyway


def pinned_environment() -> dict[str, str]:
    """The environment of a benchmark's process: every framework's threads pinned before it loads."""
    threads = os.environ.get("MATDIFF_BENCH_THREADS", "1")
    env = dict(os.environ, MATDIFF_BENCH_THREADS=threads, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads, OMP_WAIT_POLICY="PASSIVE")
    if threads == "1":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    return env


def title_of(name: str) -> str:
    """The first line of a benchmark's docstring, read without importing it (which would load NumPy here)."""
    doc = ast.get_docstring(ast.parse((HERE / f"{name}.py").read_text()))
    return (doc or name).strip().splitlines()[0]


def in_quick_run(name: str) -> bool:
    """False for a module that sets QUICK_RUN = False at its top level (read without importing it)."""
    for node in ast.parse((HERE / f"{name}.py").read_text()).body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "QUICK_RUN" for t in node.targets)
                and isinstance(node.value, ast.Constant)):
            return bool(node.value.value)
    return True


def discover() -> list[str]:
    found = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "run_all")
    return [n for n in BENCHMARKS if n in found] + [n for n in found if n not in BENCHMARKS]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run of each benchmark")
    parser.add_argument("names", nargs="*", help="only these benchmarks (default: all)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    available = discover()
    unknown = [n for n in args.names if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}")
        return 2
    crashed = []
    started = time.perf_counter()
    env = pinned_environment()
    print(f"each benchmark in its own process, {env['MATDIFF_BENCH_THREADS']} thread(s) per framework")
    names = args.names or [n for n in available if not args.quick or in_quick_run(n)]
    if len(names) < len(args.names or available):
        print(f"left out of --quick (run each by name): {', '.join(n for n in available if n not in names)}")
    for name in names:
        print(f"\n=== {name}: {title_of(name)}", flush=True)
        start = time.perf_counter()
        command = [sys.executable, str(HERE / f"{name}.py")] + (["--quick"] if args.quick else [])
        status = subprocess.run(command, env=env, cwd=HERE.parent).returncode
        if status != 0:
            crashed.append(name)
        print(f"=== {name}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"\nall: {time.perf_counter() - started:.0f} s")
    if crashed:
        print(f"\nbenchmarks that crashed or exited with an error: {', '.join(crashed)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
