"""Hessians: time to derive the Hessians of the corpus cases and of deep chains (linear growth expected).

For every scalar [[case]] of the corpus, the Hessian by its variable is derived (matrix by a
vector, vec form by a matrix) and its derivation time printed, cold (first call) and warm (median
of repeats). Then a k-layer chain f = sum(tanh(W_k @ ... tanh(W_1 @ x))) is differentiated twice
by x for k up to 128 (the Hessian is a symmetric n×n matrix): nodes/k and time/k should stay flat.

    python benchmarks/hessians.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tomllib
from pathlib import Path

import matdiff as md
from matdiff import ops
from matdiff.expr import node_count

from _timing import ms, once, warm_median

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "cases"


def corpus_cases():
    for path in sorted(CORPUS.glob("*.toml")):
        for case in tomllib.loads(path.read_text()).get("case", []):
            yield case


def shapes_of(case) -> dict:
    return {name: tuple(int(w) if w.isdigit() else w for w in text.split()
                        if w not in ("spd", "sym", "pos", "small"))
            for name, text in case["vars"].items()}


def corpus_table(repeat: int) -> None:
    print("Hessians of the corpus's scalar functions (derivation only; ms)")
    print(f"{'case':40} {'cold':>8} {'warm':>8} {'nodes':>6}  hessian")
    warm_times = []
    for case in corpus_cases():
        shapes = shapes_of(case)
        if md.parse(case["f"], shapes).shape:
            continue
        cold, result = once(lambda: md.derivative(case["f"], case["wrt"], shapes, order=2))
        warm, _, _ = warm_median(lambda: md.derivative(case["f"], case["wrt"], shapes, order=2), repeat)
        warm_times.append(warm)
        text = result.text if len(result.text) < 60 else result.text[:57] + "..."
        print(f"{case['id']:40} {ms(cold):>8} {ms(warm):>8} {node_count(result.node):>6}  {text}")
    print(f"median warm Hessian derivation over {len(warm_times)} cases: {ms(statistics.median(warm_times))} ms\n")


def chain(k: int, n: str) -> tuple[md.Expression, ops.Node]:
    x = ops.var("x", (n,))
    h = x
    for i in range(1, k + 1):
        h = ops.tanh(ops.matmul(ops.var(f"W{i}", (n, n)), h))
    f = ops.sum_(h)
    variables = md.parse_declarations({"x": (n,), **{f"W{i}": (n, n) for i in range(1, k + 1)}})
    return md.Expression(f, variables), x


def chain_table(max_k: int, repeat: int) -> None:
    print("Hessian by x of sum(tanh(W_k @ ... tanh(W_1 @ x))): derivative nodes and time per layer")
    print(f"{'k':>4} {'nodes':>7} {'nodes/k':>8} {'cold ms':>9} {'cold/k µs':>10} {'warm ms':>9} {'warm/k µs':>10}")
    k, serial = 1, 0
    while k <= max_k:
        serial += 1
        expression, _ = chain(k, f"n{serial}")  # a fresh dimension name: nothing interned yet
        cold, result = once(lambda: md.derivative(expression, "x", order=2))
        warm, _, _ = warm_median(lambda: md.derivative(expression, "x", order=2), repeat)
        nodes = node_count(result.node)
        print(f"{k:>4} {nodes:>7} {nodes / k:>8.1f} {cold * 1e3:>9.2f} {cold / k * 1e6:>10.1f} "
              f"{warm * 1e3:>9.2f} {warm / k * 1e6:>10.1f}")
        k *= 2
    print()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="chains up to 16 layers, fewer repeats")
    args = parser.parse_args(argv)
    if CORPUS.exists():
        corpus_table(3 if args.quick else 7)
    else:
        print(f"(no corpus at {CORPUS}: corpus table skipped)")
    chain_table(16 if args.quick else 128, 3 if args.quick else 5)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
