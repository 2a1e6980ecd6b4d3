"""matdiff against SymPy's matrix expressions on the corpus: time side by side, and is SymPy right?

For every [[case]] and [[vjp]] of the corpus (../shared/corpus/cases/*.toml), the expression is
translated into SymPy 1.14 matrix expressions (MatrixSymbols of concrete sizes, bound per
dimension name as the corpus checker's `bind_dims` does, distinct per name), differentiated with
`expr.diff(X)` (twice for a Hessian; a VJP is the gradient of tr(Gᵀ f)), against
`matdiff.derivative` / `matdiff.vjp` in the same process; neither side's time includes parsing.
Both are timed twice, their calls alternating (a burst of other work on the machine hits both alike):

  cold  a first call with nothing cached: SymPy's cache cleared (sympy.core.cache.clear_cache) before
        each call, and matdiff given a fresh expression each time (its variables renamed, X -> X_c1,
        so no node of an earlier call is reused: matdiff's memos live on its interned nodes);
  warm  the same call again and again (SymPy's cache and matdiff's memos full), what the old
        headline quoted.

Each is a median of up to 5 calls (3 with --quick; fewer once 0.5 s is spent), the ratio the median of
the ratios of calls made one after the other, with its quartiles. The cold ratio is the one a user
asking one question meets. Times are CPU time of this process (time.process_time; both sides are
single-threaded Python): in wall time a busy machine stretches SymPy's 50 ms calls by its load but not
matdiff's sub-millisecond ones, and the ratios with them (see `_timing.once`).

SymPy's answer is then evaluated at random points (lambdify, else substitution of explicit
matrices) and compared with central finite differences of the case's `f`, computed by the corpus
checker's own evaluator (imported from check.py). SymPy's layouts differ from matdiff's (a
Jacobian in denominator layout, a matrix-by-matrix derivative as a 4-index array, vectors as
n×1 columns), so a result agrees if it matches the truth in any index order, singletons removed.

Columns: cold sympy ms, matdiff ms and ratio sympy/matdiff, the same warm, and sympy correct? (yes /
no / unevaluated / error / timeout / unsupported). `unevaluated`: SymPy handed back a Derivative it could not
evaluate, even after .doit(); `error`: SymPy raised while differentiating, or its answer could
not be evaluated numerically; `unsupported`: the translator below has no SymPy spelling for the
case. A `no` row also says whether SymPy's other spelling, Derivative(f, X).doit(), is right.

`benchmarks/results.json` gets the section "vs_sympy" (see `_results.py`: versions, threads, the commit):
one row per case with the spread (median, min, q1, q3, max, n) of each side cold and warm, both ratios
with their quartiles and the verdict, and a summary: the median ratios over the cases SymPy answers
correctly, cold and warm, with their quartiles over the cases.

    python benchmarks/vs_sympy.py [--quick] [--only TEXT] [--corpus PATH/TO/corpus] [--out results.json]
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import itertools
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import matdiff as md  # noqa: E402
from _results import RESULTS, ratio, record, spread  # noqa: E402
from _timing import TimeLimit, alternating, ms, once, time_limit  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path(os.environ.get("MATDIFF_CORPUS", REPO.parent / "shared" / "corpus"))
SYMPY_LIMIT_S = 8.0  # per case, for SymPy's differentiation and for evaluating its answer


class Unsupported(Exception):
    """The case uses something the SymPy translation below has no spelling for."""


# ---- the expression language -> SymPy matrix expressions -------------------------------------
#
# A translated value is (kind, expr): kind "s" scalar (a SymPy Expr), "v" vector (an n×1 column
# MatrixExpr; the language's vectors are 1-D, so `v @ M` is Mᵀv and `v @ w` is a scalar) or "m"
# matrix. Scalars made from 1×1 products are wrapped in Trace so SymPy treats them as scalars.

def load_sympy():
    import sympy as sp

    return sp


CLOCK = time.process_time  # see the module's docstring


class ToSympy:
    def __init__(self, sp, variables: dict, sizes: dict):
        self.sp = sp
        self.variables = variables  # name -> (kind, sympy object)
        self.sizes = sizes  # dimension name -> int
        d = sp.Dummy("d")
        self.elementwise = {
            "exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tanh": sp.tanh, "sqrt": sp.sqrt,
            "abs": sp.Abs,
            "sigmoid": sp.Lambda(d, 1 / (1 + sp.exp(-d))),
            "softplus": sp.Lambda(d, sp.log(1 + sp.exp(d))),
        }

    def __call__(self, text: str):
        return self.walk(ast.parse(text.strip(), mode="eval").body)

    # -- helpers
    def shape(self, kind, e):
        return () if kind == "s" else (e.shape[0],) if kind == "v" else tuple(e.shape)

    def scalar(self, e):
        """A 1×1 matrix expression as a SymPy scalar."""
        return self.sp.Trace(e)

    def ones_row(self, n):
        return self.sp.OneMatrix(1, n)

    def walk(self, node):
        sp = self.sp
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return "s", sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.variables:
                return self.variables[node.id]
            if node.id in self.sizes:
                return "s", sp.Integer(self.sizes[node.id])
            raise Unsupported(f"name {node.id}")
        if isinstance(node, ast.Attribute) and node.attr == "T":
            kind, e = self.walk(node.value)
            return (kind, e.T) if kind == "m" else (kind, e)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            kind, e = self.walk(node.operand)
            return kind, (-e if isinstance(node.op, ast.USub) else e)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise Unsupported(type(node).__name__)

    def binary(self, node):
        sp = self.sp
        op = type(node.op)
        # norm2(M) ** 2 is tr(MᵀM): SymPy differentiates that; sqrt(...)**2 it does not simplify
        if (op is ast.Pow and isinstance(node.right, ast.Constant) and node.right.value == 2
                and isinstance(node.left, ast.Call) and _name(node.left.func) == "norm2"):
            kind, e = self.walk(node.left.args[0])
            return "s", (e ** 2 if kind == "s" else sp.Trace(e.T * e))
        (ka, a), (kb, b) = self.walk(node.left), self.walk(node.right)
        if op is ast.MatMult:
            if "s" in (ka, kb):
                raise Unsupported("@ with a scalar")
            if ka == "v" and kb == "v":
                return "s", self.scalar(a.T * b)
            if ka == "v":
                return "v", b.T * a
            return ("v" if kb == "v" else "m"), a * b
        if op in (ast.Add, ast.Sub):
            if ka != kb or self.shape(ka, a) != self.shape(kb, b):
                raise Unsupported("broadcasting + or -")
            return ka, (a + b if op is ast.Add else a - b)
        if op is ast.Mult:
            if ka == "s" or kb == "s":
                return (kb if ka == "s" else ka), a * b
            if self.shape(ka, a) != self.shape(kb, b):
                raise Unsupported("broadcasting *")
            return ka, sp.HadamardProduct(a, b)
        if op is ast.Div:
            if kb == "s":
                return ka, a * b ** -1
            if ka == "s" or self.shape(ka, a) != self.shape(kb, b):
                raise Unsupported("broadcasting /")
            return ka, sp.HadamardProduct(a, sp.HadamardPower(b, -1))
        if op is ast.Pow:
            if kb != "s":
                raise Unsupported("** by an array")
            return ka, (a ** b if ka == "s" else sp.HadamardPower(a, b))
        raise Unsupported(type(node.op).__name__)

    def call(self, node):
        sp = self.sp
        name = _name(node.func)
        if node.keywords and not (name == "sum" and [k.arg for k in node.keywords] == ["axis"]):
            raise Unsupported(f"{name} with keywords")
        if name in ("eye", "ones", "zeros"):
            dims = [self.walk(a)[1] for a in node.args]
            if name == "eye":
                return "m", sp.Identity(dims[0])
            if len(dims) == 1:
                raise Unsupported(f"{name} vector")
            return "m", (sp.OneMatrix if name == "ones" else sp.ZeroMatrix)(*dims)
        args = [self.walk(a) for a in node.args]
        (kind, e) = args[0]
        if name in ("tr", "trace"):
            return "s", (e if kind == "s" else sp.Trace(e))
        if name == "det":
            return "s", (e if kind == "s" else sp.Determinant(e))
        if name == "logdet":
            return "s", sp.log(e if kind == "s" else sp.Determinant(e))
        if name == "inv":
            return kind, (1 / e if kind == "s" else sp.Inverse(e))
        if name == "norm2":
            return "s", (sp.Abs(e) if kind == "s" else sp.sqrt(sp.Trace(e.T * e)))
        if name in self.elementwise:
            fn = self.elementwise[name]
            return kind, (fn(e) if kind == "s" else e.applyfunc(fn))
        if name == "sum":
            axis = node.keywords[0].value.value if node.keywords else None
            if kind == "s":
                return "s", e
            if kind == "v":
                return "s", self.scalar(self.ones_row(e.shape[0]) * e)
            rows, cols = e.shape
            if axis is None:
                return "s", self.scalar(self.ones_row(rows) * e * self.ones_row(cols).T)
            return "v", ((self.ones_row(rows) * e).T if axis == 0 else e * self.ones_row(cols).T)
        if name == "outer":
            (kb, b) = args[1]
            if kind != "v" or kb != "v":
                raise Unsupported("outer of non-vectors")
            return "m", e * b.T
        if name == "logsumexp" and kind == "v":
            return "s", sp.log(self.scalar(self.ones_row(e.shape[0]) * e.applyfunc(sp.exp)))
        if name == "diag" and kind == "v":
            return "m", sp.DiagMatrix(e)
        raise Unsupported(f"{name}()")


def _name(func) -> str | None:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    return [func.id, *reversed(parts)][-1]


# ---- one case ---------------------------------------------------------------------------------

def sympy_symbols(sp, shapes: dict, sizes: dict) -> dict:
    """name -> (kind, SymPy symbol) with concrete sizes; vectors are columns."""
    out = {}
    for name, dims in shapes.items():
        concrete = [sizes[d] if isinstance(d, str) else d for d in dims]
        if not concrete:
            out[name] = ("s", sp.Symbol(name))
        elif len(concrete) == 1:
            out[name] = ("v", sp.MatrixSymbol(name, concrete[0], 1))
        else:
            out[name] = ("m", sp.MatrixSymbol(name, *concrete))
    return out


def sympy_problem(sp, check, case):
    """(function to time, symbols, translated f) for SymPy's derivative of the case, or raise
    Unsupported."""
    shapes, _ = check.parse_vars(case["vars"])
    sizes = check.bind_dims(shapes)
    if case["kind"] == "vjp":  # the cotangent has the function's shape
        _, _, _, values = check.setup(case, 0)
        g = case.get("cotangent", "G")
        shapes = dict(shapes, **{g: tuple(values[g].shape)})
    symbols = sympy_symbols(sp, shapes, sizes)
    kind, f = translated = ToSympy(sp, symbols, sizes)(case["f"])
    if case["kind"] == "vjp":
        gk, g = symbols[case.get("cotangent", "G")]
        f = g * f if kind == "s" else sp.Trace(g.T * f)
    x = symbols[case["wrt"]][1]
    order = case.get("order", 1)

    def differentiate(by_derivative_doit=False):
        d = f
        for _ in range(order):
            d = sp.Derivative(d, x).doit() if by_derivative_doit else d.diff(x)
        return d

    return differentiate, symbols, translated


def translation_agrees(sp, check, case, translated, symbols) -> bool | None:
    """Does the SymPy translation of f have f's value (the corpus evaluator's)? None: cannot tell."""
    _, _, sizes, values = check.setup(case, 0)
    try:
        with time_limit(SYMPY_LIMIT_S):
            got = evaluate_sympy(sp, translated[1], symbols, values)
    except Exception:  # noqa: BLE001 - some SymPy expressions cannot be evaluated numerically
        return None
    want = check.evaluate(case["f"], dict(values, **sizes))
    return bool(np.allclose(np.squeeze(got), np.squeeze(want), rtol=1e-9, atol=1e-9))


def evaluate_sympy(sp, result, symbols: dict, values: dict) -> np.ndarray:
    """SymPy's derivative at numeric values: lambdify, else substitute explicit matrices."""
    names = sorted(symbols)
    args = [symbols[n][1] for n in names]
    numeric = [values[n].reshape(-1, 1) if symbols[n][0] == "v" else values[n] for n in names]
    numeric = [float(v) if symbols[n][0] == "s" else v for n, v in zip(names, numeric)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = np.asarray(sp.lambdify(args, result, "numpy")(*numeric), dtype=float)
        if np.all(np.isfinite(out)):
            return out
    except Exception:  # noqa: BLE001 - lambdify lacks printers for some array expressions
        pass
    subs = {a: (sp.ImmutableMatrix(v) if not isinstance(v, float) else v) for a, v in zip(args, numeric)}
    explicit = result.subs(subs).doit()
    if hasattr(explicit, "as_explicit"):
        explicit = explicit.as_explicit()
    return np.asarray(np.array(explicit.tolist() if hasattr(explicit, "tolist") else explicit, dtype=float))


def same_up_to_layout(result: np.ndarray, reference: np.ndarray, rtol: float) -> bool:
    """Equal in some order of the indices, after dropping length-1 axes (sizes are all >= 2)."""
    r = np.squeeze(result)
    ref = np.squeeze(reference)
    if r.size != ref.size:
        return False
    scale = max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    for perm in itertools.permutations(range(ref.ndim)):
        candidate = np.transpose(ref, perm)
        if candidate.shape == r.shape and np.allclose(r, candidate, rtol=rtol, atol=rtol * scale):
            return True
    return False


def sympy_verdict(sp, check, case, result, symbols) -> str:
    rtol = 1e-4 if case.get("order", 1) == 2 else 1e-5
    for seed in (0, 1):
        _, _, sizes, values = check.setup(case, seed)
        reference, _ = check.reference_for(case, values, sizes)
        got = evaluate_sympy(sp, result, symbols, values)
        if not same_up_to_layout(got, reference, rtol):
            return "no"
    return "yes"


def matdiff_call(case, fresh: int = 0):
    """matdiff's derivative of the case, its expression parsed here (not timed). `fresh` > 0 renames every
    variable (X -> X_c1): a new expression whose nodes no earlier call has built or memoised."""
    names = {name: f"{name}_c{fresh}" for name in case["shapes"]} if fresh else {}
    expr = md.parse(renamed(case["f"], names), {names.get(n, n): dims for n, dims in case["shapes"].items()})
    wrt = names.get(case["wrt"], case["wrt"])
    if case["kind"] == "vjp":
        return lambda: md.vjp(expr, wrt, cotangent=case.get("cotangent", "G"))
    return lambda: md.derivative(expr, wrt, order=case.get("order", 1))


def renamed(text: str, names: dict[str, str]) -> str:
    if not names:
        return text
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names:
            node.id = names[node.id]
    return ast.unparse(tree)


def cold_and_warm(call: Callable[[], Any], cold_call: Callable[[], float]) -> tuple[Callable[[], float], ...]:
    """(a cold call, a warm call), each returning the seconds of its call alone (see `_timing.alternating`)."""
    return cold_call, lambda: once(call, CLOCK)[0]


def matdiff_calls(case) -> tuple[Callable[[], float], ...]:
    fresh = itertools.count(1)
    return cold_and_warm(matdiff_call(case), lambda: once(matdiff_call(case, next(fresh)), CLOCK)[0])


def sympy_calls(differentiate) -> tuple[Callable[[], float], ...]:
    from sympy.core.cache import clear_cache

    def cold() -> float:
        clear_cache()
        return once(differentiate, CLOCK)[0]
    return cold_and_warm(differentiate, cold)


def timed_cold_and_warm(row: dict, calls: dict[str, tuple], repeat: int) -> None:
    """Each side's cold and warm times into the row (their spreads) and the ratios sympy/matdiff.

    Cold calls alternate (A, B, A, B, ...) and the ratio is the median of the ratios of calls made one after
    the other. Warm calls run one side's after another's, as a loop of the same call runs: alternated, each
    matdiff call follows one of SymPy's, and a 15 µs call ran 3-5 times slower than in a loop of its own.
    The warm ratio is that of the medians, within the range of their quartiles."""
    with time_limit(SYMPY_LIMIT_S):
        cold = alternating({name: pair[0] for name, pair in calls.items()}, repeat=repeat)
    with time_limit(SYMPY_LIMIT_S):
        warm = {name: alternating({name: pair[1]}, repeat=repeat)[name] for name, pair in calls.items()}
    for phase, times in (("cold", cold), ("warm", warm)):
        for name, each in times.items():
            row[f"{name}_{phase}"] = spread(each)
    if len(calls) == 2:
        paired = spread([s / m for s, m in zip(cold["sympy"], cold["matdiff"])])
        row["ratio_cold"], row["ratio_cold_quartiles"] = paired["median"], [paired["q1"], paired["q3"]]
        apart = ratio(row["sympy_warm"], row["matdiff_warm"])
        row["ratio_warm"], row["ratio_warm_quartiles"] = apart["ratio"], [apart["low"], apart["high"]]


def run_case(sp, check, case, repeat: int) -> dict:
    row = {"id": case["id"], "verdict": "unsupported", "why": "", "sympy_cold": None, "matdiff_cold": None,
           "sympy_warm": None, "matdiff_warm": None, "ratio_cold": None, "ratio_warm": None}
    case = dict(case, shapes=check.parse_vars(case["vars"])[0])
    calls = {}
    try:
        matdiff_call(case)()  # an error is found before anything is timed
        calls["matdiff"] = matdiff_calls(case)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        row["why"] = f"matdiff: {type(exc).__name__}: {exc}"
    result = sympy_problem_result(sp, check, case, row)
    if result is not None:
        calls["sympy"] = sympy_calls(result[0])
    try:
        timed_cold_and_warm(row, calls, repeat)
    except TimeLimit:
        row["verdict"], row["why"] = "timeout", f"SymPy's diff took over {SYMPY_LIMIT_S:g} s (timed)"
        timed_cold_and_warm(row, {"matdiff": calls["matdiff"]} if "matdiff" in calls else {}, repeat)
        return row
    if result is None:
        return row
    differentiate, symbols, result = result
    if result.has(sp.Derivative):
        row["verdict"], row["why"] = "unevaluated", f"SymPy returned {str(result)[:70]}"
        return row
    try:
        with time_limit(SYMPY_LIMIT_S):
            row["verdict"] = sympy_verdict(sp, check, case, result, symbols)
    except TimeLimit:
        row["verdict"], row["why"] = "error", f"evaluating SymPy's answer took over {SYMPY_LIMIT_S:g} s"
    except Exception as exc:  # noqa: BLE001
        row["verdict"], row["why"] = "error", f"evaluating: {type(exc).__name__}: {str(exc)[:80]}"
    if row["verdict"] == "no":
        row["why"] = f"SymPy said {str(result)[:60]}; {workaround(sp, check, case, differentiate, symbols)}"
    return row


def sympy_problem_result(sp, check, case, row: dict):
    """(differentiate, symbols, SymPy's answer) once, before any timing; None, with the row's verdict and why,
    where SymPy cannot answer (no spelling, a wrong translation, an error, a timeout)."""
    try:
        differentiate, symbols, translated = sympy_problem(sp, check, case)
    except Unsupported as exc:
        row["why"] = f"no SymPy spelling: {exc}"
        return None
    if translation_agrees(sp, check, case, translated, symbols) is False:  # a bug of this benchmark
        row["verdict"], row["why"] = "bad translation", f"SymPy's f = {str(translated[1])[:70]} has another value"
        return None
    try:
        with time_limit(SYMPY_LIMIT_S):
            return differentiate, symbols, differentiate()
    except TimeLimit:
        row["verdict"], row["why"] = "timeout", f"SymPy's diff took over {SYMPY_LIMIT_S:g} s"
    except Exception as exc:  # noqa: BLE001
        row["verdict"], row["why"] = "error", f"diff: {type(exc).__name__}: {str(exc)[:80]}"
    return None


def workaround(sp, check, case, differentiate, symbols) -> str:
    """Whether SymPy's other spelling, Derivative(f, X).doit(), gets a case right that .diff gets wrong."""
    try:
        with time_limit(SYMPY_LIMIT_S):
            other = differentiate(by_derivative_doit=True)
            if other.has(sp.Derivative):
                return "Derivative(f, X).doit() stays unevaluated"
            verdict = sympy_verdict(sp, check, case, other, symbols)
    except Exception as exc:  # noqa: BLE001
        return f"Derivative(f, X).doit() fails ({type(exc).__name__})"
    return "Derivative(f, X).doit() is right" if verdict == "yes" else "Derivative(f, X).doit() is wrong too"


def load_check(corpus: Path):
    spec = importlib.util.spec_from_file_location("corpus_check", corpus / "check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every third case, fewer repetitions")
    parser.add_argument("--only", help="only cases whose id contains this text")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder with check.py and cases/")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file to write this run's section of")
    args = parser.parse_args(argv)
    if not (args.corpus / "check.py").is_file():
        print(f"vs_sympy: skipped, no corpus at {args.corpus} (use --corpus)")
        return 0
    try:
        sp = load_sympy()
    except ImportError:
        print("vs_sympy: skipped, SymPy is not installed (pip install -e '.[bench]')")
        return 0
    check = load_check(args.corpus)
    cases = [c for c in check.load_cases(sorted((args.corpus / "cases").glob("*.toml"))) if c["kind"] != "bad"]
    if args.only:
        cases = [c for c in cases if args.only in c["id"]]
    if args.quick:
        cases = cases[::3]
    repeat = 3 if args.quick else 5

    print(f"vs_sympy: SymPy {sp.__version__} .diff vs matdiff {md.__version__}, {len(cases)} cases, one process; "
          f"CPU time, medians of up to {repeat} calls, cold (SymPy's cache cleared, a fresh matdiff expression) "
          f"and warm")
    width = max(len(c["id"]) for c in cases)
    head = (f"{'case':<{width}} {'cold: sympy ms':>14} {'matdiff ms':>10} {'ratio':>7} {'warm: sympy ms':>14} "
            f"{'matdiff ms':>10} {'ratio':>7}  sympy correct?")
    print(head)
    print("-" * len(head))
    rows = []
    for case in cases:
        row = run_case(sp, check, case, repeat)
        rows.append(row)
        cells = [f"{ms(median(row['sympy_' + phase])):>14} {ms(median(row['matdiff_' + phase])):>10} "
                 f"{ratio_text(row['ratio_' + phase]):>7}" for phase in ("cold", "warm")]
        print(f"{row['id']:<{width}} {' '.join(cells)}  {row['verdict']}"
              f"{'  (' + row['why'] + ')' if row['why'] and row['verdict'] != 'yes' else ''}", flush=True)

    counts = {v: sum(r["verdict"] == v for r in rows)
              for v in ("yes", "no", "unevaluated", "error", "timeout", "unsupported", "bad translation")}
    print()
    print("sympy verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    summary = {"verdicts": counts}
    for key, label, verdicts in (("correct", "answers correctly", ("yes",)),
                                 ("answered", "answers at all (right or wrong)", ("yes", "no"))):
        chosen = [r for r in rows if r["ratio_cold"] is not None and r["verdict"] in verdicts]
        if not chosen:
            continue
        summary[key] = {"cases": len(chosen), **{phase: across(chosen, f"ratio_{phase}") for phase in ("cold", "warm")}}
        print(f"sympy/matdiff over the {len(chosen)} cases SymPy {label}: "
              + ", ".join(f"{phase} {summary[key][phase]['median']:.0f}x (quartiles over the cases "
                          f"{summary[key][phase]['q1']:.0f}-{summary[key][phase]['q3']:.0f}x)"
                          for phase in ("cold", "warm")))
    print(f"wrong SymPy answers: {counts['no']}" + (f" (and {counts['bad translation']} cases this benchmark "
                                                   f"translated wrongly: fix vs_sympy.py)"
                                                   if counts["bad translation"] else ""))
    if args.out is not None:
        section = {"mode": "quick" if args.quick else "full", "clock": "time.process_time",
                   "corpus": str(args.corpus), "repeat": repeat,
                   "summary": summary, "cases": rows}
        print(f"wrote {record('vs_sympy', section, args.out)}")
    return 0


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.1f}"


def median(times: dict | None) -> float | None:
    return None if times is None else times["median"]


def across(rows: list[dict], key: str) -> dict:
    """The median and quartiles of one ratio over cases."""
    found = spread([r[key] for r in rows])
    return {"median": found["median"], "q1": found["q1"], "q3": found["q3"]}


if __name__ == "__main__":
    sys.exit(main())
