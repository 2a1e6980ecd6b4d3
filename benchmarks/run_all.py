"""Run every benchmark in this folder, one after another (`make bench`, `make bench-quick`).

A benchmark is a module here whose name does not start with `_` and that defines
`main(argv) -> int`; its docstring's first line is its title. To add one, drop a new module in
benchmarks/ (it may accept --quick): nothing here changes. BENCHMARKS below fixes the order of
those it names; any others run after them, alphabetically.

Benchmarks print measurements; they never fail on a timing. The run fails only if a benchmark
crashes (a bug, reported with its traceback), after the others have run.

    python benchmarks/run_all.py [--quick] [NAME ...]
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("scaling", "vs_sympy")  # the order of the known ones; new modules are found anyway


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
    for name in args.names or available:
        module = importlib.import_module(name)
        if not callable(getattr(module, "main", None)):
            continue
        title = (module.__doc__ or name).strip().splitlines()[0]
        print(f"\n=== {name}: {title}", flush=True)
        start = time.perf_counter()
        try:
            status = module.main(["--quick"] if args.quick else [])
        except SystemExit as exc:  # argparse exits, e.g. on an option the benchmark lacks
            status = exc.code
        except Exception:  # noqa: BLE001 - report, run the others, fail at the end
            traceback.print_exc()
            status = "crash"
        if status not in (0, None):
            crashed.append(name)
        print(f"=== {name}: {time.perf_counter() - start:.1f} s", flush=True)
    if crashed:
        print(f"\nbenchmarks that crashed or exited with an error: {', '.join(crashed)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
