"""A tour of matdiff (`make demo`): parse, shape-check and print the seed examples, differentiate them,
and check every derivative against central finite differences at a random point (float64).

The numeric check is the independent part: the reference is computed from the function's values
alone, never from matdiff's derivative. A derivative evaluates either to the full tensor
D[i..., j...] = ∂f[i...]/∂X[j...] (shape f.shape + X.shape) or to the vec form
d vec(f) / d vec(X) (column-major); the reference is put in whichever layout the answer has.
Exits with status 1 if any derivative disagrees.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import matdiff as md

try:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
except ImportError:  # the demo also runs with NumPy and matdiff alone
    Console = None

SIZES = {"m": 3, "n": 4, "p": 5, "q": 2, "k": 3, "r": 2, "h": 2}  # distinct, so a transposed answer cannot pass
AGREEMENT = 1e-6  # relative error allowed between the derivative and finite differences
STEP = 1e-6  # central-difference step for first derivatives (error ~ STEP²)
HESSIAN_STEP = 1e-4  # second differences lose more to rounding (~ eps / STEP²), so a larger step


@dataclass(frozen=True)
class Seed:
    expression: str
    wrt: str
    where: str
    order: int = 1
    cotangent: str | None = None  # a VJP for an upstream gradient of this name
    positive_definite: tuple[str, ...] = ()  # variables drawn as SPD matrices (logdet needs det > 0)

    @property
    def title(self) -> str:
        if self.cotangent:
            return f"VJP of {self.expression} by {self.wrt}"
        what = "Hessian" if self.order == 2 else "derivative"
        return f"{what} of {self.expression} by {self.wrt}"


LAYER_NORM = "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) + 1e-5) + beta"
# What an arbitrary g is when numbers are needed: any smooth function will do, with its derivative.
FUNCTIONS = {"g": np.tanh, "grad_g": lambda u: 1 - np.tanh(u) ** 2}

SEEDS = [
    Seed("W @ X", "W", "W: m×q, X: q×n"),
    Seed("W @ X", "X", "W: m×q, X: q×n"),
    Seed("W @ X", "W", "W: m×q, X: q×n", cotangent="G"),
    Seed("W @ X", "X", "W: m×q, X: q×n", cotangent="G"),
    Seed("A @ X @ B", "X", "A: m×n, X: n×p, B: p×q"),
    Seed("W @ x", "W", "W: m×n, x: n"),
    Seed("norm2(tanh(X @ W) - Y) ** 2", "W", "X: n×p, W: p×k, Y: n×k"),
    Seed("norm2(X - D @ R) ** 2", "D", "X: m×n, D: m×k, R: k×n"),  # dictionary learning
    Seed("norm2(X - D @ R) ** 2", "R", "X: m×n, D: m×k, R: k×n"),
    Seed("a @ G @ a", "G", "a: n, G: n×n"),
    Seed("tr(A @ X @ B)", "X", "A: n×p, X: p×q, B: q×n"),
    Seed("x @ A @ x", "x", "x: n, A: n×n", order=2),
    Seed("logdet(S)", "S", "S: n×n", positive_definite=("S",)),
    # the second edition: what ML code is written with
    Seed("norm2(g(X @ W) - Y) ** 2", "W", "X: n×p, W: p×k, Y: n×k, g: function"),  # the seed's arbitrary g
    Seed("softmax(Q @ K.T / sqrt(q), axis=1) @ V", "Q", "Q: n×q, K: m×q, V: m×k, G: n×k", cotangent="G"),
    Seed("softmax(Q @ K.T / sqrt(q), axis=1) @ V", "K", "Q: n×q, K: m×q, V: m×k, G: n×k", cotangent="G"),
    Seed("softmax(Q @ K.T / sqrt(q), axis=1) @ V", "V", "Q: n×q, K: m×q, V: m×k, G: n×k", cotangent="G"),
    Seed(LAYER_NORM, "X", "X: n×p, gamma: p, beta: p, G: n×p", cotangent="G"),
    Seed(LAYER_NORM, "gamma", "X: n×p, gamma: p, beta: p, G: n×p", cotangent="G"),
    Seed("-sum(Y * log_softmax(X @ W, axis=1))", "W", "X: n×p, W: p×k, Y: n×k"),  # softmax cross-entropy
    Seed("norm2(relu(X @ W1) @ W2 - Y) ** 2", "W1", "X: n×p, W1: p×q, W2: q×k, Y: n×k"),
    Seed("0.5 * y @ solve(K, y) + 0.5 * logdet(K)", "K", "y: n, K: n×n", positive_definite=("K",)),
    # arrays of any order: the CP gradient, multi-head attention, a moment tensor's Jacobian
    Seed("0.5 * sum((T - einsum('ir,jr,kr->ijk', A, B, C)) ** 2)", "A", "T: n×m×p, A: n×r, B: m×r, C: p×r"),
    Seed("softmax(Q @ swapaxes(K, 1, 2) / sqrt(q), axis=2) @ V", "Q", "Q: h×n×q, K: h×m×q, V: h×m×k, G: h×n×k",
         cotangent="G"),
    Seed("einsum('i,j,k->ijk', x, x, x)", "x", "x: n"),
]

# A mistake on purpose, to show what a shape error looks like.
SHAPE_MISTAKE = ("A @ X + B", "A: n×p, X: p×q, B: q×n")


# ---- numbers ----------------------------------------------------------------------------------


def numeric_shape(shape: tuple) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else SIZES[str(d)] for d in shape)


def random_point(variables: dict[str, md.VarSpec], positive_definite: tuple[str, ...],
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    values = {}
    for name, spec in variables.items():
        if spec.is_function:
            values.update({k: f for k, f in FUNCTIONS.items() if k.endswith(name)})
            continue
        shape = numeric_shape(spec.shape)
        if name in positive_definite:
            m = rng.normal(size=shape)
            values[name] = m @ m.T + shape[0] * np.eye(shape[0])
        else:
            values[name] = rng.normal(size=shape)
    return values


def _perturbed(x: np.ndarray, index: tuple, step: float) -> np.ndarray:
    moved = x.copy()
    moved[index] += step
    return moved


def finite_difference_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """∂f[i...]/∂x[j...] by central differences, shape f.shape + x.shape."""
    columns = [(f(_perturbed(x, j, STEP)) - f(_perturbed(x, j, -STEP))) / (2 * STEP) for j in np.ndindex(x.shape)]
    stacked = np.stack(columns, axis=-1)  # f.shape + (x.size,), entries of x in C order
    return stacked.reshape(stacked.shape[:-1] + x.shape)


def finite_difference_hessian(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """∂²f/∂x[a...]∂x[b...] by central second differences, shape x.shape + x.shape."""
    h = HESSIAN_STEP
    hessian = np.empty(x.shape + x.shape)
    for a in np.ndindex(x.shape):
        for b in np.ndindex(x.shape):
            plus, minus = _perturbed(x, a, h), _perturbed(x, a, -h)
            hessian[a + b] = (f(_perturbed(plus, b, h)) - f(_perturbed(plus, b, -h))
                              - f(_perturbed(minus, b, h)) + f(_perturbed(minus, b, -h))) / (4 * h * h)
    return hessian


def in_layout_of(reference: np.ndarray, row_shape: tuple, column_shape: tuple, answer: np.ndarray) -> np.ndarray:
    """The full tensor `reference` (row_shape + column_shape) in the layout `answer` has."""
    if answer.shape == reference.shape:
        return reference
    rows, columns = int(np.prod(row_shape)), int(np.prod(column_shape))
    if answer.shape == (rows, columns):  # column-major vec on both sides
        return reference.reshape((rows, columns), order="F")
    raise AssertionError(f"the derivative evaluates to shape {answer.shape}, which is neither the full "
                         f"layout {reference.shape} nor the vec form {(rows, columns)}")


def relative_error(answer: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(answer - reference)) / max(np.max(np.abs(reference)), 1e-12))


def check_numerically(seed: Seed, function: md.Expression, result: md.Derivative,
                      rng: np.random.Generator) -> float:
    """The max relative error between `result` and finite differences of `function` at a random point."""
    values = random_point(result.variables, seed.positive_definite, rng)
    x = values[seed.wrt]

    def f(x_value: np.ndarray) -> np.ndarray:
        return function.evaluate({**values, seed.wrt: x_value})

    # `evaluate` may give the full tensor where the printed answer is a vec form; where the engine
    # also offers the value of the printed expression itself, check that too
    evaluations = [result.evaluate]
    if hasattr(result, "evaluate_as_written"):
        evaluations.append(result.evaluate_as_written)
    if seed.cotangent:  # the gradient of φ = sum(G ⊙ f)
        cotangent = values[seed.cotangent]
        reference = finite_difference_jacobian(lambda v: np.sum(cotangent * f(v)), x)
        row_shape: tuple = ()
    elif seed.order == 2:
        reference = finite_difference_hessian(f, x)
        row_shape = x.shape
    else:
        reference = finite_difference_jacobian(f, x)
        row_shape = reference.shape[:reference.ndim - x.ndim]
    errors = []
    for evaluation in evaluations:
        answer = np.asarray(evaluation(values))
        errors.append(relative_error(answer, in_layout_of(reference, row_shape, x.shape, answer)))
    return max(errors)


# ---- the tour ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    seed: Seed
    function: md.Expression
    result: md.Derivative
    error: float

    @property
    def agrees(self) -> bool:
        return self.error <= AGREEMENT

    def rows(self) -> list[tuple[str, str]]:
        f, d = self.function, self.result
        return [("variables", self.seed.where), ("function", f"{f.unicode}   ({f.shape_text})"),
                ("kind", f"{d.kind}, {d.shape_text}"), ("layout", d.layout),
                ("text", d.text), ("unicode", d.unicode),
                *([("named", d.bound_unicode)] if "\n" in getattr(d, "bound_unicode", "") else []),
                ("check", f"max relative error vs finite differences {self.error:.1e} "
                          f"({'agrees' if self.agrees else 'DISAGREES'})")]


def run_seed(seed: Seed, rng: np.random.Generator) -> Outcome:
    function = md.parse(seed.expression, seed.where)  # parse and shape-check
    if seed.cotangent:
        result = md.vjp(function, seed.wrt, cotangent=seed.cotangent)
    else:
        result = md.derivative(function, seed.wrt, order=seed.order)
    return Outcome(seed, function, result, check_numerically(seed, function, result, rng))


def shape_mistake_message() -> str:
    try:
        md.parse(*SHAPE_MISTAKE)
    except md.ShapeError as error:
        return str(error)
    raise AssertionError(f"{SHAPE_MISTAKE[0]} should not shape-check")


def show_plain(outcomes: list[Outcome], mistake: str, summary: str) -> None:
    for number, outcome in enumerate(outcomes, 1):
        print(f"{number}. {outcome.seed.title}")
        for label, value in outcome.rows():
            print(f"   {label:<10} {value}")
        print()
    print(f"A shape error, as matdiff reports it ({SHAPE_MISTAKE[0]} with {SHAPE_MISTAKE[1]}):\n{mistake}\n")
    print(summary)


def show_rich(outcomes: list[Outcome], mistake: str, summary: str) -> None:
    console = Console(highlight=False)
    for number, outcome in enumerate(outcomes, 1):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold cyan", no_wrap=True)
        grid.add_column()
        for label, value in outcome.rows():
            style = "" if label != "check" else ("green" if outcome.agrees else "bold red")
            grid.add_row(label, Text(value, style=style))
        console.print(Panel(grid, title=Text(f"{number}. {outcome.seed.title}", style="bold"), title_align="left"))
    console.print(Panel(Text(mistake, style="red"), title=f"A shape error: {SHAPE_MISTAKE[0]} with {SHAPE_MISTAKE[1]}",
                        title_align="left", border_style="red"))
    console.print(Text(summary, style="bold green" if "all agree" in summary else "bold red"), soft_wrap=True)


def main() -> int:
    started = time.perf_counter()
    rng = np.random.default_rng(2024)
    outcomes = [run_seed(seed, rng) for seed in SEEDS]
    worst = max(outcome.error for outcome in outcomes)
    failed = [outcome.seed.title for outcome in outcomes if not outcome.agrees]
    verdict = ("all agree" if not failed else f"{len(failed)} DISAGREE: " + "; ".join(failed))
    summary = (f"{len(outcomes)} derivatives vs finite differences: {verdict} "
               f"(worst relative error {worst:.1e}, {time.perf_counter() - started:.2f} s)")
    (show_rich if Console is not None else show_plain)(outcomes, shape_mistake_message(), summary)
    return 1 if failed else 0



# ---- a derivation, step by step (matdiff.explain) -------------------------------------------------

DERIVATION = ("W @ X", "W", "W: m×q, X: q×n")  # the seed example D = W X, by W


def show_derivation() -> int:
    """The full derivation of D = W X by W: the chain rule, the differential route (with the vec form),
    the tensor in index notation and why it is not the backprop rule, and a 0/1 check; every claim of
    every step is then checked against central differences at a random point."""
    derivation = md.explain(*DERIVATION)
    results = derivation.verify(seed=2024)
    wrong = [step for step, error in results if not error <= AGREEMENT]
    summary = (f"{len(results)} claims of the derivation checked against central differences: "
               + ("all hold" if not wrong else f"{len(wrong)} DO NOT HOLD: " + "; ".join(s.rule for s in wrong)))
    if Console is None:
        print(derivation.unicode)
        print(summary)
    else:
        console = Console(highlight=False)
        console.rule(Text("How it is derived: matdiff.explain", style="bold"), align="left")
        console.print(Text(derivation.unicode), soft_wrap=True)  # long lines wrap as the terminal does
        console.print(Text(summary, style="bold green" if not wrong else "bold red"), soft_wrap=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    status = main()
    sys.exit(show_derivation() or status)
