"""Generated tensor code (CP and Tucker gradients) against hand-written np.einsum(..., optimize=True).

    python benchmarks/tensor_bench.py            # n = 100, rank 10 (the sizes of issue #15)
    python benchmarks/tensor_bench.py --quick    # n = 40, rank 5

Problems: the CP least-squares loss ½‖T − [[A, B, C]]‖² with its gradient by the factor A (the CP-ALS /
CP-OPT gradient), and the Tucker loss ½‖T − S ×₁ A ×₂ B ×₃ C‖² with its gradient by the core S. Both
sides compute the value and the gradient; the hand-written side is the textbook code with
np.einsum(..., optimize=True). Threads are pinned (MATDIFF_BENCH_THREADS, default 1) before NumPy
loads; the two sides alternate call by call and each keeps its median. Printed: the ratio
hand-written time / matdiff time (above 1: matdiff is faster). Results are checked to agree first.
A benchmark never fails a build.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

THREADS = os.environ.get("MATDIFF_BENCH_THREADS", "1")
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, THREADS)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import matdiff as md  # noqa: E402
from matdiff.codegen import compile as compile_code  # noqa: E402

CP = "0.5 * sum((T - einsum('ir,jr,kr->ijk', A, B, C)) ** 2)"
TUCKER = "0.5 * sum((T - einsum('abc,ia,jb,kc->ijk', S, A, B, C)) ** 2)"


def cp_by_hand(T, A, B, C):
    residual = np.einsum('ir,jr,kr->ijk', A, B, C, optimize=True) - T
    return 0.5 * np.vdot(residual, residual), np.einsum('ijk,jr,kr->ir', residual, B, C, optimize=True)


def tucker_by_hand(T, S, A, B, C):
    residual = np.einsum('abc,ia,jb,kc->ijk', S, A, B, C, optimize=True) - T
    return 0.5 * np.vdot(residual, residual), np.einsum('ijk,ia,jb,kc->abc', residual, A, B, C, optimize=True)


def alternate(first, second, repeat: int) -> tuple[float, float]:
    """Median seconds of each, the two called in turn so that both see the same machine."""
    a, b = [], []
    first(), second()  # warm-up
    for _ in range(repeat):
        start = time.perf_counter()
        first()
        a.append(time.perf_counter() - start)
        start = time.perf_counter()
        second()
        b.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n, r = (40, 5) if args.quick else (100, 10)
    repeat = 7 if args.quick else 15
    rng = np.random.default_rng(0)
    T = rng.normal(size=(n, n, n))
    A, B, C = (rng.normal(size=(n, r)) for _ in range(3))
    S = rng.normal(size=(r, r, r))
    print(f"tensor gradients, n = {n}, rank {r}, {THREADS} thread(s); ratio = hand-written / matdiff")
    problems = [
        ("CP gradient by A", CP, ["A"], {"T": "n n n", "A": "n r", "B": "n r", "C": "n r"},
         dict(T=T, A=A, B=B, C=C), lambda: cp_by_hand(T, A, B, C)),
        ("Tucker gradient by the core S", TUCKER, ["S"],
         {"T": "n n n", "S": "r r r", "A": "n r", "B": "n r", "C": "n r"},
         dict(T=T, S=S, A=A, B=B, C=C), lambda: tucker_by_hand(T, S, A, B, C)),
    ]
    for title, expr, wrt, shapes, values, by_hand in problems:
        fn = compile_code(expr, wrt, shapes, backend="numpy")
        arguments = [values[name] for name in fn.__code__.co_varnames[:fn.__code__.co_argcount]]
        ours, theirs = fn(*arguments), by_hand()
        agree = np.isclose(ours[0], theirs[0]) and np.allclose(ours[1], theirs[1])
        mine, hand = alternate(lambda: fn(*arguments), by_hand, repeat)
        print(f"  {title:32s} matdiff {mine * 1e3:8.2f} ms   hand-written {hand * 1e3:8.2f} ms   "
              f"ratio {hand / mine:5.2f}   {'agree' if agree else 'DISAGREE'}")
    print("  goal (issue #15): ratio ≥ 0.95 (within 5% of hand-written)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
