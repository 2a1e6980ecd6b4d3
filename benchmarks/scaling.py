"""Scaling: derivative size and derivation time against expression length k (should be linear).

Families, for k = 1, 2, 4, ..., 1024 (64 with --quick, any power of two with --max-k):
  network  sum(tanh(W_k @ ... tanh(W_1 @ x))), W_i: n×n, x: n, differentiated by W1 and by x, and
           twice by x (the Hessian, an n×n matrix)
  traces   tr(A1 @ X) + tr(X @ B2 @ X) + tr(X.T @ C3 @ X) + tr(P4 @ X @ Q4 @ X.T) + ...  by X, and
           twice by X (the Hessian in vec form, kron(.., ..) terms)

Per k it prints the nodes of the expression and of its derivative (distinct DAG nodes), the
derivative nodes per k, and two derivation times with their per-k values:
  cold  the first derivation of a freshly built expression. matdiff interns nodes globally, so
        each repetition renames the dimension (n → n7, ...): every node of the expression and
        of its derivative is new, as for a user's first call. Median over the repetitions.
  warm  the same derivation repeated on one expression: every node is already interned (the
        design), so this is the cost of walking and looking up, median after a warm-up.
Parsing is not timed (the expression is parsed, or built, before the clock starts).
Linear growth shows as flat per-k columns; a blow-up (recursion, quadratic time) is printed,
never hidden: where the text cannot be parsed the row says why and the expression is built with
matdiff's constructors instead, so that the derivation itself is still measured.

The "derivative text" column is the one-line text's length (where its tree is small enough to print) and
the bound form's, `.bound_text` (the repeated parts named once, the answer on the last line), with its
characters per k: flat where printing is linear in the DAG.

Then the bound forms of the network's Hessian, by x and by W1, for k = 8 ... 256: the characters of
.bound_text / .bound_unicode / .bound_latex and per layer, the time to choose the names and print all
three (a fresh result, as a user's first print), and whether md.parse_block reads the text back as the
very node (and in what time).

Then the whole way for the network at k = 8, 32, 128, 512 and the deepest k (1024): the gradient by W1 and the
Hessian by x derived, printed in their bound forms and turned into NumPy code, each in CPU ms per layer, and
the growth per layer from k = 8 to the deepest.

Then a wide sum, c0 * sum(tanh(x)) + c1 * sum(sin(x)) + ... + c_{k-1} * sum(sin(x)), built one `+`
at a time as a loop in a notebook builds it, for k = 10, 100, 1000, 10000 terms (1000 with --quick):
the time per term to build it, derive its gradient by x, print it and generate its code.

    python benchmarks/scaling.py [--quick] [--max-k 4096] [--max-terms 100000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matdiff as md  # noqa: E402
from matdiff import ops  # noqa: E402
from _timing import ms, once, warm_median  # noqa: E402
from matdiff.language.bindings import written_size  # noqa: E402


# ---- two ways to build the same expression: as text for the parser, as nodes for the engine ----

class AsText:
    """Builds the expression's text. Right operands of @ are always names or calls here."""

    def var(self, name, dims):
        return name

    def matmul(self, a, b):
        return f"{a} @ {b}"

    def T(self, a):
        return f"{a}.T"

    def call(self, fn, a):
        return f"{fn}({a})"

    def add(self, terms):
        return " + ".join(terms)


class AsNodes:
    """Builds the same expression directly with matdiff's smart constructors (no parser)."""

    FUNCTIONS = {"tanh": ops.tanh, "tr": ops.tr, "sum": ops.sum_}

    def var(self, name, dims):
        return ops.var(name, dims)

    def matmul(self, a, b):
        return ops.matmul(a, b)

    def T(self, a):
        return ops.transpose(a)

    def call(self, fn, a):
        return self.FUNCTIONS[fn](a)

    def add(self, terms):
        return ops.add(*terms)


def network(build, k: int, n: str):
    """sum(tanh(W_k @ ... tanh(W_1 @ x))) and its declarations."""
    shapes = {"x": (n,)}
    h = build.var("x", (n,))
    for i in range(1, k + 1):
        shapes[f"W{i}"] = (n, n)
        h = build.call("tanh", build.matmul(build.var(f"W{i}", (n, n)), h))
    return build.call("sum", h), shapes


TRACE_TERMS = (  # four term forms, cycled: linear, two quadratics, a four-factor product
    lambda b, i, X, m: b.call("tr", b.matmul(m(f"A{i}"), X)),
    lambda b, i, X, m: b.call("tr", b.matmul(b.matmul(X, m(f"B{i}")), X)),
    lambda b, i, X, m: b.call("tr", b.matmul(b.matmul(b.T(X), m(f"C{i}")), X)),
    lambda b, i, X, m: b.call("tr", b.matmul(b.matmul(b.matmul(m(f"P{i}"), X), m(f"Q{i}")), b.T(X))),
)


def traces(build, k: int, n: str):
    """tr(A1 @ X) + tr(X @ B2 @ X) + tr(X.T @ C3 @ X) + tr(P4 @ X @ Q4 @ X.T) + ... (k terms)."""
    shapes = {"X": (n, n)}

    def matrix(name):
        shapes[name] = (n, n)
        return build.var(name, (n, n))

    X = build.var("X", (n, n))
    terms = [TRACE_TERMS[(i - 1) % len(TRACE_TERMS)](build, i, X, matrix) for i in range(1, k + 1)]
    return build.add(terms), shapes


@dataclass
class Family:
    title: str
    make: Callable  # (build, k, dim name) -> (expression, shapes)
    wrt: str
    order: int = 1


FAMILIES = (
    Family("network sum(tanh(W_k @ ... tanh(W1 @ x))) by W1", network, "W1"),
    Family("network sum(tanh(W_k @ ... tanh(W1 @ x))) by x", network, "x"),
    Family("network sum(tanh(W_k @ ... tanh(W1 @ x))), Hessian by x", network, "x", order=2),
    Family("traces tr(A1 @ X) + tr(X @ B2 @ X) + tr(X.T @ C3 @ X) + tr(P4 @ X @ Q4 @ X.T) + ... by X",
           traces, "X"),
    Family("traces tr(A1 @ X) + tr(X @ B2 @ X) + ..., Hessian by X (vec form)", traces, "X", order=2),
)

_fresh = itertools.count()


def fresh_expression(family: Family, k: int) -> tuple[md.Expression, str | None]:
    """A new expression (new dimension name, so no node of it is interned yet) and, if the text
    does not parse, why (the expression is then built with the constructors)."""
    n = f"n{next(_fresh)}"
    text, shapes = family.make(AsText(), k, n)
    try:
        return md.parse(text, shapes), None
    except md.MatdiffError as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:70]}"
    except RecursionError:
        reason = "RecursionError while parsing"
    node, shapes = family.make(AsNodes(), k, n)
    return md.Expression(node, md.parse_declarations(shapes)), reason


ONE_LINE_LIMIT = 2_000_000  # a tree of more nodes is not printed as one line: megabytes, and seconds


def text_status(d: md.Derivative, k: int) -> str:
    """The derivative's printed length, as one line and with its bindings (per k), or the error printing raises."""
    try:
        tree = written_size(d.node)
        line = f"{len(d.text)} chars" if tree < ONE_LINE_LIMIT else f"≥{tree} chars (not printed)"
        bound = len(d.bound_text)
        return f"{line}; bound {bound} ({bound / k:.0f}/k)"
    except RecursionError:
        return "RecursionError"
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
        return type(exc).__name__


def measure(family: Family, k: int, repeat: int) -> dict:
    row: dict = {"k": k}
    colds = []
    for _ in range(repeat):
        expr, row["parse"] = fresh_expression(family, k)
        try:
            elapsed, d = once(lambda: md.derivative(expr, family.wrt, order=family.order))
        except RecursionError:
            row["error"] = "RecursionError while differentiating"
            return row
        colds.append(elapsed)
    row["cold"] = sorted(colds)[len(colds) // 2]
    row["warm"], _, d = warm_median(lambda: md.derivative(expr, family.wrt, order=family.order), repeat=repeat)
    row["expr_nodes"], row["deriv_nodes"] = expr.size, d.size
    row["text"] = text_status(d, k)
    return row


def print_table(family: Family, rows: list[dict]) -> None:
    print(f"\n{family.title}")
    head = (f"{'k':>5} {'expr nodes':>10} {'deriv nodes':>11} {'deriv/k':>8} {'cold ms':>9} {'cold/k µs':>9} "
            f"{'warm ms':>9} {'warm/k µs':>9}  derivative text")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['k']:>5}  {r['error']}")
            continue
        k = r["k"]
        print(f"{k:>5} {r['expr_nodes']:>10} {r['deriv_nodes']:>11} {r['deriv_nodes'] / k:>8.2f} "
              f"{ms(r['cold']):>9} {r['cold'] / k * 1e6:>9.1f} {ms(r['warm']):>9} {r['warm'] / k * 1e6:>9.1f}  "
              f"{r['text']}")
    for r in rows:
        if r.get("parse"):
            print(f"  k={r['k']}: the text does not parse ({r['parse']}); built with matdiff.ops instead")
    done = [r for r in rows if "error" not in r and r["k"] >= 16]
    if len(done) >= 2:
        a, b = done[0], done[-1]
        growth = lambda key: (b[key] / b["k"]) / (a[key] / a["k"])  # noqa: E731
        print(f"  per-k growth from k={a['k']} to k={b['k']} (1.0 = linear): derivative nodes "
              f"×{growth('deriv_nodes'):.2f}, cold time ×{growth('cold'):.2f}, warm time ×{growth('warm'):.2f}")


# ---- the bound forms of a deep network's Hessian ---------------------------------------------------

def bound_table(ks: list[int]) -> None:
    print("\nnetwork sum(tanh(W_k @ ... tanh(W1 @ x))), Hessian: bound forms (chars; print = names chosen and all "
          "three forms printed, ms)")
    head = (f"{'k':>5} {'by':>3} {'nodes':>6} {'text':>7} {'text/k':>7} {'unicode':>8} {'latex':>7} {'latex/k':>8} "
            f"{'print ms':>9} {'reads back':>11} {'parse ms':>9}  one line")
    print(head)
    print("-" * len(head))
    for k in ks:
        for wrt in ("x", "W1"):
            node, shapes = network(AsNodes(), k, f"n{next(_fresh)}")
            d = md.derivative(md.Expression(node, md.parse_declarations(shapes)), wrt, order=2)
            printed, forms = once(lambda: (d.bound_text, d.bound_unicode, d.bound_latex))
            text, unicode, latex = (len(form.encode()) for form in forms)
            parsed, read = once(lambda: md.parse_block(forms[0], d.variables))
            tree = written_size(d.node)
            line = f"{len(d.text)} chars" if tree < 20_000_000 and k <= 64 else f"≥{tree} chars (not printed)"
            print(f"{k:>5} {wrt:>3} {d.size:>6} {text:>7} {text / k:>7.0f} {unicode:>8} {latex:>7} {latex / k:>8.0f} "
                  f"{ms(printed):>9} {'yes' if read.node is d.node else 'NO':>11} {ms(parsed):>9}  {line}")
    print("  (bytes of UTF-8; flat /k columns: what is printed grows with the depth, not with the tree)")


# ---- the whole way for a deep network: derive, print with bindings, generate code ------------------

LAYERS_PER_CELL = 256  # a shallow network is built and timed again until this many layers are measured


def end_to_end_table(ks: list[int]) -> None:
    """Per layer, in CPU time: derive, print the bound forms, generate NumPy code; for the gradient by W1
    and the Hessians by x and by W1, up to the deepest k. The last line compares the deepest k with k = 8 (#18: flat
    within 1.5×). A network shallower than LAYERS_PER_CELL is measured again on fresh networks until that
    many layers are (median per layer): one run of 8 layers takes a few milliseconds, where one pause of
    the garbage collector or the machine moves the ratio by half."""
    print("\nnetwork sum(tanh(W_k @ ... tanh(W1 @ x))): derived, printed (bound text, Unicode, LaTeX) and made "
          f"code, CPU ms per layer (fresh expressions; the median of {LAYERS_PER_CELL} // k runs)")
    head = (f"{'k':>5} {'what':>12} {'derive/k':>9} {'print/k':>8} {'bound chars/k':>14} {'code/k':>8} "
            f"{'code chars/k':>13}")
    print(head)
    print("-" * len(head))
    rows: dict[tuple[int, str], dict] = {}
    network(AsNodes(), 4, f"n{next(_fresh)}")  # the first call loads what is lazy: not measured
    for k in ks:
        for what, wrt, order in (("gradient W1", "W1", 1), ("Hessian x", "x", 2), ("Hessian W1", "W1", 2)):
            runs: list[dict] = []
            try:
                for _ in range(max(1, LAYERS_PER_CELL // k)):
                    node, shapes = network(AsNodes(), k, f"n{next(_fresh)}")
                    expression = md.Expression(node, md.parse_declarations(shapes))
                    derived, d = once(lambda: md.derivative(expression, wrt, order=order), time.process_time)
                    printed, forms = once(lambda: (d.bound_text, d.bound_unicode, d.bound_latex), time.process_time)
                    coded, source = once(lambda: md.codegen(expression, [wrt], hessian=order == 2),
                                         time.process_time)
                    runs.append(dict(derive=derived / k, print=printed / k, chars=len(forms[0]) / k, code=coded / k,
                                     code_chars=len(source) / k))
            except (RecursionError, md.MatdiffError) as exc:  # a benchmark reports a failure, it does not stop
                print(f"{k:>5} {what:>12}  {type(exc).__name__}: {str(exc).splitlines()[0][:60]}", flush=True)
                continue
            cells = rows[k, what] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            print(f"{k:>5} {what:>12} {cells['derive'] * 1e3:>9.2f} {cells['print'] * 1e3:>8.2f} "
                  f"{cells['chars']:>14.0f} {cells['code'] * 1e3:>8.2f} {cells['code_chars']:>13.0f}", flush=True)
    first, last = min(ks), max(ks)
    for what in ("gradient W1", "Hessian x", "Hessian W1"):
        if (first, what) in rows and (last, what) in rows:
            a, b = rows[first, what], rows[last, what]
            growth = ", ".join(f"{key} ×{b[key] / a[key]:.2f}" for key in ("derive", "print", "code"))
            print(f"  {what}: per layer from k={first} to k={last}: {growth} (flat: 1.0; goal within 1.5)")


# ---- a wide sum, built one term at a time --------------------------------------------------------

def wide_sum(k: int, n: str) -> tuple[md.Symbolic, md.Symbolic]:
    """c0 * sum(tanh(x)) + c1 * sum(sin(x)) + ... (k terms), one `+` at a time, and x."""
    x = md.vector("x", n)
    s = md.sum(md.sin(x))
    e = md.scalar("c0") * md.sum(md.tanh(x))
    for i in range(1, k):
        e = e + md.scalar(f"c{i}") * s
    return e, x


def timed_step(fn) -> tuple[float | None, str]:
    """(seconds, '') of one call, or (None, why) where it raised: a blow-up is printed, not hidden."""
    try:
        elapsed, _ = once(fn)
        return elapsed, ""
    except RecursionError:
        return None, "RecursionError"
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:50]}"


def wide_sum_table(sizes: list[int]) -> None:
    print("\nwide sum c0 * sum(tanh(x)) + c1 * sum(sin(x)) + ... built with + one term at a time (µs per term; "
          "one run each, a fresh dimension per size)")
    head = (f"{'terms':>6} {'build':>9} {'build/k':>8} {'gradient':>9} {'grad/k':>7} {'text':>9} {'text/k':>7} "
            f"{'codegen':>9} {'code/k':>7}")
    print(head)
    print("-" * len(head))
    for k in sizes:
        n = f"n{next(_fresh)}"
        built, (e, x) = once(lambda: wide_sum(k, n))
        cells = [f"{k:>6} {ms(built):>9} {built / k * 1e6:>8.1f}"]
        notes = []
        steps = (("gradient", lambda: md.grad(e, x)), ("text", lambda: e.text), ("codegen", lambda: md.codegen(e)))
        for label, fn in steps:
            elapsed, why = timed_step(fn)
            if elapsed is None:
                cells.append(f"{'-':>9} {'-':>7}")
                notes.append(f"{label}: {why}")
            else:
                cells.append(f"{ms(elapsed):>9} {elapsed / k * 1e6:>7.1f}")
        print(" ".join(cells) + (f"  ({'; '.join(notes)})" if notes else ""))
    print("  (times in ms; /k in µs per term. Flat /k columns: each + reads only the new term)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="k up to 64, wide sums up to 1000 terms")
    parser.add_argument("--max-k", type=int, help="largest k (default 1024, 64 with --quick)")
    parser.add_argument("--max-terms", type=int, help="largest wide sum (default 10000, 1000 with --quick)")
    parser.add_argument("--repeat", type=int, help="repetitions per timing (default 5)")
    args = parser.parse_args(argv)
    max_k = args.max_k or (64 if args.quick else 1024)
    max_terms = args.max_terms or (1000 if args.quick else 10000)
    repeat = args.repeat or 5
    ks = [2 ** i for i in range(max_k.bit_length()) if 2 ** i <= max_k]
    print(f"scaling: derivation by matdiff {md.__version__}; cold = first derivation of a fresh expression, "
          f"warm = repeated (nodes interned); medians of {repeat}; time.perf_counter, one process")
    for family in FAMILIES:
        print_table(family, [measure(family, k, repeat) for k in ks])
    bound_table([k for k in ks if 8 <= k <= 256])
    end_to_end_table([k for k in ks if k in (8, 32, 128, 512) or k == max_k])
    wide_sum_table([10 ** i for i in range(1, len(str(max_terms)) + 1) if 10 ** i <= max_terms])
    return 0


if __name__ == "__main__":
    sys.exit(main())
