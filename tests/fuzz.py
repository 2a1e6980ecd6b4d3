"""Fuzzing matdiff's public calls: only `MatdiffError`, never a crash, and every call within a second.

    .venv/bin/python tests/fuzz.py --count 100000 --seed 0      # what `make fuzz` runs
    .venv/bin/python tests/fuzz.py --seed 0 --only 4711          # one input again, with its traceback

Each input is an expression text with declarations and a variable to differentiate by, drawn from one
of six families:
- `random`: random characters (ASCII, some Unicode, control characters);
- `soup`: token soups from the language's own tokens (names, dimensions, functions with their np.
  prefixes, operators, numbers, parentheses, .T, commas, axis= and ord=);
- `mutated`: an expression of the corpus (../shared/corpus/cases/*.toml) or of tests/cases/*.toml, its
  tokens deleted, inserted, swapped or replaced, names exchanged, shapes of the declarations changed,
  two expressions combined;
- `hostile`: a valid expression with hostile numbers in it (1e308, 1e-320, -0.0, 1e999, huge integers,
  0 ** -1, (-1) ** 0.5, 2 ** 2 ** 2 ** 2 ** 2, ...);
- `large`: sums of up to 3,000 terms, products of 400 factors, @ chains of up to 130 factors in which the
  variable differentiated occurs a few times (so that the answer is as long as the chain, not its square),
  functions composed 60 deep, 400 nested parentheses, unary minus and .T, 12 repeated blocks; an answer
  longer than the parser reads (200,000 characters: a Hessian's text grows as the cube of a composition's
  depth) is counted, not read back;
- `declarations`: bad declarations (text and dictionaries), bad variable names to differentiate by,
  bad orders, cotangents and argument types.

Every input is parsed (`md.parse`); where it parses, it is differentiated (`md.derivative` of order 1
and 2, `md.vjp`), the printed answers are read back (`md.parse` of `.text` must give the same node),
and a sample goes through `md.codegen` and `md.explain`. A finding is an exception that is not a
`matdiff.MatdiffError`, a call over the time limit, or a printed text that does not read back to its
node. The limit counts the process's CPU time (`--clock cpu`, the default: on a shared machine other
work does not make a call slow; `--clock wall` counts wall-clock time), and a call over it is timed
again, the lesser time kept. Each call also runs under a SIGALRM timer of wall-clock time (`--stop`),
so a call that never ends is a finding, not a stalled run.

The run is deterministic given `--seed`: input i is drawn from its own generator, so `--only i` gives
the same input again. The last line is the summary; the exit status is 1 when anything was found.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import random
import re
import signal
import sys
import time
import tomllib
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
# where tests/corpus.py finds the corpus (MATDIFF_CORPUS names its check.py)
CORPUS_CHECK = Path(os.environ.get("MATDIFF_CORPUS", HERE.parents[1] / "shared" / "corpus" / "check.py"))
CORPUS_CASES = CORPUS_CHECK.parent / "cases"
EXTRA_CASES = HERE / "cases"

import matdiff as md
from matdiff.errors import MatdiffError

_PARSE_MODULE = importlib.import_module("matdiff.language.parse")  # the module: `matdiff.language.parse` is a function
FUNCTION_NAMES = tuple(_PARSE_MODULE.LANGUAGE_NAMES)

FAMILIES = ("random", "soup", "mutated", "hostile", "large", "declarations")


# ---- what the inputs are made of --------------------------------------------------------------

@dataclass(frozen=True)
class Seed:
    """A valid expression with its declarations (a shapes dictionary) and a variable to differentiate by."""

    text: str
    shapes: dict
    wrt: str


# when neither corpus is at hand, these keep every family running
BUILT_IN_SEEDS = (
    Seed("tr(A @ X @ B)", {"A": ("n", "p"), "X": ("p", "q"), "B": ("q", "n")}, "X"),
    Seed("sum(softplus(X @ w)) - y @ X @ w", {"X": ("n", "p"), "w": ("p",), "y": ("n",)}, "w"),
    Seed("logdet(S) + tr(inv(S) @ C)", {"S": ("n", "n", "spd"), "C": ("n", "n")}, "S"),
    Seed("norm2(tanh(W @ x + b) - y) ** 2", {"W": ("m", "n"), "x": ("n",), "b": ("m",), "y": ("m",)}, "W"),
    Seed("a @ inv(X).T @ b", {"a": ("n",), "X": ("n", "n"), "b": ("n",)}, "X"),
    Seed("sum(kron(A, X) @ vec(B), axis=0) * s", {"A": ("n", "n"), "X": ("m", "m"), "B": ("m", "n"), "s": ()}, "X"),
    Seed("logsumexp(softmax(x) * exp(-x / 2)) ** 0.5", {"x": ("n",)}, "x"),
    Seed("det(eye(n) + outer(u, v)) / (1 + v @ u)", {"u": ("n",), "v": ("n",)}, "u"),
)

DEFAULT_SHAPES = {"x": ("n",), "y": ("n",), "v": ("m",), "A": ("n", "n"), "B": ("n", "m"), "C": ("n", "n"),
                  "D": ("n", "n"), "X": ("n", "m"), "W": ("m", "n"), "S": ("n", "n", "spd"), "a": (), "b": ()}

OPERATORS = ("+", "-", "*", "/", "**", "@", ".T", ",", "(", ")", "=", "(", ")", " ")
JUNK = ("//", "%", "<", "==", "[", "]", "{", "}", ":", ";", "\n", "#", "'", '"', "lambda", "if", "else", "\\",
        "×", "⊗", "…", "not", "and", "~", "|", "&", "^", "!", "$", "?", "`", "\t", "\x00", "...", "yield",
        "__import__", "os", "[0]", "x[0]", ">", ">=", "<=", "!=", "is", "in")
KEYWORDS = ("axis=", "axis=0", "axis=1", "axis=-1", "axis=None", "axis=2", "ord=", "ord=2", "ord='fro'",
            "ord=1", "keepdims=True", "'fro'", "None", "True", "False", "axis=(0, 1)", "(0, 1)", "'ij,jk->ik'",
            "'ii'", "'->'", "'ij->ji'")
NUMBERS = ("0", "1", "2", "3", "0.5", "-1", "2.0", "1e-3", "3.14", "10", "0.1", ".5", "1.", "100")
HOSTILE_NUMBERS = (
    "1e308", "-1e308", "1e-320", "5e-324", "-0.0", "0.0", "0", "1e999", "-1e999", "nan", "inf", "NaN",
    str(10 ** 30), str(10 ** 400), "10 ** 400", "2 ** 1024", "2.0 ** 1024", "0 ** -1", "0.0 ** -1",
    "(-1) ** 0.5", "(-8) ** (1 / 3)", "0 / 0", "1 / 0", "0 ** 0", "1e-308 * 1e-308", "1e308 * 10",
    "1e308 + 1e308", "-(-0.0)", "2 ** 2 ** 2 ** 2 ** 2", "0x7fffffff", "0b101", "0o17", "1_000", "1j",
    "1e308 ** 2", "(-1e308) ** 3", "1 / 1e-320", "1e-320 ** -1", "(-0.0) ** -1", "0 ** -0.5",
    "9" * 400, "1." + "0" * 300 + "1", "1e-400", "(1e308 - 1e308)", "-0.0 ** 0.5", "(-2) ** 1e308",
    "1e16 + 1", "2 ** -1074", "2 ** -1075", "1 ** 1e308", "1 ** -1e999", "0 * 1e999",
)
DIMENSION_WORDS = ("n", "m", "p", "k", "q", "2", "3", "1")
STRANGE_NAMES = ("q", "Xx", "nan", "inf", "pi", "e", "np", "T", "None", "True", "_", "α", "x1", "∂x", "grad",
                 "lambda", "sum", "eye", "X_", "__class__")


def load_seeds() -> list[Seed]:
    """The expressions (and answers) of the corpus and of tests/cases, as seeds for mutation."""
    seeds: list[Seed] = []
    for directory in (CORPUS_CASES, EXTRA_CASES):
        for path in sorted(directory.glob("*.toml")):
            with open(path, "rb") as file:
                document = tomllib.load(file)
            for cases in document.values():
                for case in cases:
                    shapes = {name: tuple(words.split()) for name, words in case["vars"].items()}
                    for text in (case.get("f"), case.get("expect")):
                        if isinstance(text, str) and isinstance(case.get("wrt"), str):
                            seeds.append(Seed(text, shapes, case["wrt"]))
    return seeds or list(BUILT_IN_SEEDS)


_TOKEN = re.compile(r"""
      (?:np\.linalg\.|numpy\.linalg\.|np\.|numpy\.|md\.|matdiff\.)?[A-Za-z_][A-Za-z_0-9]*   # a name
    | (?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?                                                   # a number
    | \*\* | \.T | '[^']*' | [-+*/@(),=]
    | \S
""", re.VERBOSE)


def tokens_of(text: str) -> list[str]:
    return _TOKEN.findall(text)


def join(tokens: list[str], rng: random.Random) -> str:
    if rng.random() < 0.5:
        return " ".join(tokens)
    return "".join(t if t in OPERATORS or rng.random() < 0.7 else " " + t + " " for t in tokens)


# ---- one input --------------------------------------------------------------------------------

@dataclass
class Input:
    family: str
    text: object  # text, or anything a caller might pass instead
    shapes: object  # a shapes dictionary, declarations as text, or anything else
    wrt: object
    order: object = 2
    cotangent: object = "G"

    def call_text(self, call: str) -> str:
        arguments = {"parse": f"{self.text!r}, {self.shapes!r}",
                     "vjp": f"{self.text!r}, {self.wrt!r}, {self.shapes!r}, cotangent={self.cotangent!r}",
                     "derivative2": f"{self.text!r}, {self.wrt!r}, {self.shapes!r}, order={self.order!r}"}
        name = {"derivative1": "derivative", "derivative2": "derivative"}.get(call, call)
        return f"md.{name}({arguments.get(call, f'{self.text!r}, {self.wrt!r}, {self.shapes!r}')})"


def _names(shapes: object) -> list[str]:
    return list(shapes) if isinstance(shapes, dict) else []


def _atom(rng: random.Random, shapes: dict) -> str:
    names = _names(shapes) or ["x"]
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(names)
    if roll < 0.8:
        return rng.choice(NUMBERS)
    if roll < 0.9:
        return f"{rng.choice(('ones', 'eye', 'zeros'))}({rng.choice(DIMENSION_WORDS[:4])})"
    return f"{rng.choice(FUNCTION_NAMES)}({rng.choice(names)})"


def random_text(rng: random.Random, seeds: list[Seed]) -> Input:
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                "+-*/@().,=_ \t\n'\"[]{}:;!?#%^&|~<>\\$`" "×⊗·ᵀ⁻¹αβ∂√∑é\x00\x7f\u200b\ufeff")
    length = rng.choice((0, 1, 2, 3, 5, 8, 13, 21, 40, 80))
    text = "".join(rng.choice(alphabet) for _ in range(length))
    seed = rng.choice(seeds)
    return Input("random", text, seed.shapes if rng.random() < 0.7 else DEFAULT_SHAPES, _some_name(rng, seed.shapes))


def _random_token(rng: random.Random, shapes: dict) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(_names(shapes) or ["x"])
    if roll < 0.5:
        return rng.choice(OPERATORS)
    if roll < 0.65:
        prefix = rng.choice(("", "", "", "np.", "np.linalg.", "md."))
        return prefix + rng.choice(FUNCTION_NAMES)
    if roll < 0.75:
        return rng.choice(NUMBERS)
    if roll < 0.8:
        return rng.choice(DIMENSION_WORDS)
    if roll < 0.87:
        return rng.choice(KEYWORDS)
    if roll < 0.92:
        return rng.choice(HOSTILE_NUMBERS)
    if roll < 0.96:
        return rng.choice(STRANGE_NAMES)
    return rng.choice(JUNK)


def token_soup(rng: random.Random, seeds: list[Seed]) -> Input:
    seed = rng.choice(seeds)
    shapes = seed.shapes if rng.random() < 0.6 else DEFAULT_SHAPES
    count = rng.choice((1, 2, 3, 4, 5, 6, 8, 10, 14, 20, 30))
    tokens = [_random_token(rng, shapes) for _ in range(count)]
    if rng.random() < 0.5:  # balance the parentheses: more of the soup gets past the parser
        depth = sum(1 if t == "(" else -1 if t == ")" else 0 for t in tokens)
        tokens += [")"] * max(0, depth)
    return Input("soup", join(tokens, rng), shapes, _some_name(rng, shapes))


def _some_name(rng: random.Random, shapes: object) -> object:
    names = _names(shapes)
    roll = rng.random()
    if names and roll < 0.9:
        return rng.choice(names)
    return rng.choice(STRANGE_NAMES)


def _wrt_in(rng: random.Random, text: str, shapes: dict, preferred: str) -> str:
    """A declared variable the text uses (mostly the seed's own), so that derivatives get exercised."""
    if preferred in shapes and preferred in text and rng.random() < 0.6:
        return preferred
    used = [name for name in shapes if re.search(rf"\b{re.escape(name)}\b", text)]
    if used and rng.random() < 0.95:
        return rng.choice(used)
    return _some_name(rng, shapes)


def _mutate_shapes(rng: random.Random, shapes: dict) -> dict:
    shapes = dict(shapes)
    name = rng.choice(list(shapes))
    dims = [w for w in shapes[name] if w not in ("sym", "spd", "pos", "small")]
    properties = [w for w in shapes[name] if w in ("sym", "spd", "pos", "small")]
    roll = rng.random()
    if roll < 0.2 and len(dims) == 2:
        dims.reverse()
    elif roll < 0.4 and dims:
        dims[rng.randrange(len(dims))] = rng.choice(DIMENSION_WORDS)
    elif roll < 0.55 and len(dims) < 3:
        dims.append(rng.choice(DIMENSION_WORDS))
    elif roll < 0.7 and dims:
        dims.pop()
    elif roll < 0.8:
        properties = [rng.choice(("sym", "spd", "pos", "small"))]
    elif roll < 0.9 and len(shapes) > 1:
        del shapes[name]
        return shapes
    else:
        other = rng.choice(list(shapes))
        shapes[name], shapes[other] = shapes[other], shapes[name]
        return shapes
    shapes[name] = tuple(dims) + tuple(properties)
    return shapes


def _mutate_tokens(rng: random.Random, tokens: list[str], shapes: dict) -> list[str]:
    tokens = list(tokens) or ["x"]
    roll = rng.random()
    at = rng.randrange(len(tokens))
    names = _names(shapes) or ["x"]
    if roll < 0.15:
        del tokens[at]
    elif roll < 0.3:
        tokens.insert(at, _random_token(rng, shapes))
    elif roll < 0.42 and len(tokens) > 1:
        at = min(at, len(tokens) - 2)
        tokens[at], tokens[at + 1] = tokens[at + 1], tokens[at]
    elif roll < 0.54:
        tokens[at] = _random_token(rng, shapes)
    elif roll < 0.66:  # another declared name where a name was: the shapes change
        spots = [i for i, t in enumerate(tokens) if t in shapes]
        if spots:
            tokens[rng.choice(spots)] = rng.choice(names)
    elif roll < 0.74:  # an operator exchanged
        spots = [i for i, t in enumerate(tokens) if t in ("+", "-", "*", "/", "**", "@")]
        if spots:
            tokens[rng.choice(spots)] = rng.choice(("+", "-", "*", "/", "**", "@"))
    elif roll < 0.82:  # a function exchanged
        spots = [i for i, t in enumerate(tokens) if t.split(".")[-1] in FUNCTION_NAMES]
        if spots:
            tokens[rng.choice(spots)] = rng.choice(FUNCTION_NAMES)
    elif roll < 0.9:  # a span duplicated
        end = rng.randrange(at, len(tokens)) + 1
        tokens[at:at] = tokens[at:end]
    else:  # a span dropped
        end = rng.randrange(at, len(tokens)) + 1
        del tokens[at:end]
    return tokens


def _wrapped(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.3:
        return f"{rng.choice(FUNCTION_NAMES)}({text})"
    if roll < 0.5:
        return f"({text}).T"
    if roll < 0.7:
        return f"-({text})"
    if roll < 0.85:
        return f"({text}) ** {rng.choice(('2', '-1', '0.5', '3', '-2', '0'))}"
    return f"sum({text}, axis={rng.choice(('0', '1', 'None'))})"


def mutated(rng: random.Random, seeds: list[Seed]) -> Input:
    seed = rng.choice(seeds)
    text, shapes = seed.text, dict(seed.shapes)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        roll = rng.random()
        if roll < 0.55:
            text = join(_mutate_tokens(rng, tokens_of(text), shapes), rng)
        elif roll < 0.7:
            shapes = _mutate_shapes(rng, shapes)
        elif roll < 0.85:
            text = _wrapped(rng, text)
        else:  # two expressions combined: the second's declarations join the first's
            other = rng.choice(seeds)
            shapes = {**other.shapes, **shapes}
            text = f"({text}) {rng.choice(('+', '-', '*', '/', '@', '**'))} ({other.text})"
    return Input("mutated", text, shapes, _wrt_in(rng, text, shapes, seed.wrt))


def hostile(rng: random.Random, seeds: list[Seed]) -> Input:
    seed = rng.choice(seeds)
    number = rng.choice(HOSTILE_NUMBERS)
    text = seed.text
    roll = rng.random()
    tokens = tokens_of(text)
    numbers = [i for i, t in enumerate(tokens) if t[0].isdigit() or t[0] == "."]
    names = [i for i, t in enumerate(tokens) if t in seed.shapes]
    if roll < 0.3 and numbers:
        tokens[rng.choice(numbers)] = f"({number})"
        text = join(tokens, rng)
    elif roll < 0.45 and names:  # a number where a variable was (a scalar broadcast in its place)
        tokens[rng.choice(names)] = f"({number})"
        text = join(tokens, rng)
    else:
        template = rng.choice(("({t}) * {h}", "{h} * ({t})", "({t}) / ({h})", "({h}) / ({t})", "({t}) ** ({h})",
                               "({h}) ** ({t})", "({t}) + {h}", "({t}) - ({h}) * ({t})", "exp({h} * ({t}))",
                               "log(({t}) * {h})", "({t}) * {h} * {h}", "sum(({t}) * {h}) / {h}",
                               "{h} ** 2 * ({t})", "({t}) * ({h}) ** -1", "sqrt({h}) * ({t})"))
        text = template.format(t=text, h=number)
    return Input("hostile", text, seed.shapes, _wrt_in(rng, text, seed.shapes, seed.wrt))


def large(rng: random.Random, seeds: list[Seed]) -> Input:
    shapes = DEFAULT_SHAPES
    kind = rng.choice(("sum", "product", "chain", "functions", "parentheses", "minus", "transposes", "powers",
                       "seeds", "blocks", "long name", "long number"))
    size = rng.choice((10, 30, 100, 300, 1000, 3000)) if kind in ("sum", "seeds") else \
        rng.choice((10, 30, 60, 100, 170, 250, 400))
    wrt = "x"
    if kind == "sum":
        text = " + ".join(rng.choice(("x", "y", "A @ x", "sin(x)", "x * a", "2 * y", "x / 3")) for _ in range(size))
        text = f"sum({text})"
    elif kind == "product":
        text = " * ".join(rng.choice(("x", "y", "a", "tanh(x)", "2")) for _ in range(size))
        text = f"sum({text})"
    elif kind == "chain":  # the variable differentiated by occurs a few times: the answer is as long as the chain
        factors = [rng.choice(("C", "D", "S", "C.T", "inv(D)", "S @ C")) for _ in range(size // 3)]
        for _ in range(rng.randint(1, 6)):
            factors.insert(rng.randrange(len(factors) + 1), rng.choice(("A", "A.T", "inv(A)")))
        text = "x @ " + " @ ".join(factors) + " @ y"
        wrt = rng.choice(("x", "A"))
    elif kind == "functions":  # a Hessian's text grows as the cube of the depth: 2 MB at depth 100
        text = "x"
        for _ in range(rng.choice((10, 30, 60))):
            text = f"{rng.choice(('tanh', 'sin', 'exp', 'sigmoid', 'softplus', 'np.cos', 'abs'))}({text})"
        text = f"sum({text})"
    elif kind == "parentheses":
        text = "sum(" + "(" * size + "x" + ")" * size + ")"
    elif kind == "minus":
        text = "sum(" + "-" * size + "x)"
    elif kind == "transposes":
        text = "tr(A" + ".T" * size + " @ S)"
        wrt = "A"
    elif kind == "powers":
        text = "sum(x " + " ** 2" * min(size, 12) + ")"
    elif kind == "seeds":
        fitting = [s for s in seeds if all(DEFAULT_SHAPES.get(k) == v for k, v in s.shapes.items())]
        picked = [rng.choice(fitting) for _ in range(min(size, 200))] if fitting else []
        text = " + ".join(f"sum({s.text})" for s in picked) or "sum(x)"
    elif kind == "blocks":  # repeated blocks of a chain
        block = rng.choice(("tanh(A @ ({}))", "A @ sigmoid({}) + x", "S @ ({}) * 2", "softplus(A @ {} + y)"))
        text = "x"
        for _ in range(rng.choice((2, 4, 8, 12))):
            text = block.format(text)
        text = f"sum({text})"
    elif kind == "long name":
        text = "sum(" + "x" * size * 10 + ")"
    else:
        text = "sum(x * " + "1" * size * 10 + ")"
    return Input("large", text, shapes, wrt)


BAD_DECLARATIONS = (
    "X: n×", "x", "X: n×m×k", ": n", "1x: n", "X: 0", "X: -1", "X: n×m sym", "X: n x n spd sym", "x: n, x: m",
    "n: n", "X: (n, m", "X: n×m extra words", "x: n,, y: n", "X: n ×× m", "X: nxn", "x: 1.5", "x: n*0",
    "x: n*m*k", "X: m×n, m: scalar", "x: ", "x: scalar scalar", "x: (,)", "x: [n]", "x: n)", "X: ((n, m))",
    "x: n\ny: n", "x: n; y: m", "x: ∞", "x: n·m", "x: 99999999999999999999", "lambda: n", "x: n by m by",
    "x: n, , y: m", "é: n", "x: spd", "x: sym", "X: n×n pos small spd sym", "", "   ", ",", ":", "x:n:m",
)
BAD_DICTS = (
    {"X": None}, {"X": ("n", 0)}, {"X": [1.5]}, {"X": ("n", "m", "k")}, {"X": ("n", -2)}, {"X": ("n", True)},
    {"X": ("sym",)}, {"1x": ("n",)}, {"": ()}, {"X": ("n", "n"), "n": ()}, {"X": 3}, {"X": True}, {"X": {"n": 1}},
    {"X": ("n m",)}, {"X": ("n", None)}, {"X": ("n", 2.0)}, {"X": "n × m × k"}, {"X": ("",)}, {5: ("n",)},
    {"X": ("n", "m", "spd")}, {"X": (("n", "m"),)}, {"x": ("∞",)}, {"x": (10 ** 30,)},
)
BAD_VALUES = (None, 5, 2.5, b"x", ["x"], ("x",), {"x": 1}, object, "", " x", "x ", "∂x", "X.T", "x, y", ["x", 5],
              [], (), ["x", "nope"], True)


def declarations(rng: random.Random, seeds: list[Seed]) -> Input:
    seed = rng.choice(seeds)
    text, shapes, wrt = seed.text, seed.shapes, seed.wrt
    order, cotangent = 2, "G"
    roll = rng.random()
    if roll < 0.3:
        shapes = rng.choice(BAD_DECLARATIONS)
        text = rng.choice((text, "sum(x)", "tr(X)", "x @ x", "X @ Y"))
    elif roll < 0.45:
        shapes = rng.choice(BAD_DICTS)
    elif roll < 0.55:  # the seed's declarations, written as text in the several spellings a person uses
        separator = rng.choice(("×", " x ", " ", ", ", "*", " by "))
        shapes = ", ".join(f"{name}: {separator.join(dims) if dims else 'scalar'}" for name, dims in shapes.items())
        if rng.random() < 0.5:
            shapes = shapes.replace(rng.choice(("×", ",", ":", " ")), rng.choice(("", "×", "::", ",,", "(", ")")), 1)
    elif roll < 0.7:
        wrt = rng.choice(BAD_VALUES)
    elif roll < 0.8:
        order = rng.choice((0, -1, True, False, 2.5, "2", None, 1, 3))
    elif roll < 0.9:
        cotangent = rng.choice(BAD_VALUES + ("G", "x", "A", "φ", "_"))
    else:
        text = rng.choice(BAD_VALUES)
    return Input("declarations", text, shapes, wrt, order, cotangent)


GENERATORS: dict[str, Callable[[random.Random, list[Seed]], Input]] = {
    "random": random_text, "soup": token_soup, "mutated": mutated, "hostile": hostile, "large": large,
    "declarations": declarations,
}
WEIGHTS = {"random": 10, "soup": 20, "mutated": 35, "hostile": 15, "large": 5, "declarations": 15}


def make_input(seed: int, index: int, seeds: list[Seed]) -> tuple[Input, random.Random]:
    rng = random.Random(f"matdiff-fuzz/{seed}/{index}")
    family = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    return GENERATORS[family](rng, seeds), rng


# ---- running the calls ------------------------------------------------------------------------

class Stalled(BaseException):
    """Raised by the timer inside a call that ran past --stop (a BaseException, so no `except Exception`
    in the engine swallows it)."""


def _alarm(signum, frame):
    raise Stalled()


@contextlib.contextmanager
def stop_after(seconds: float):
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Finding:
    kind: str  # "exception", "slow", "stalled", "reads back differently"
    index: int
    family: str
    call: str  # which call: parse, derivative1, ...
    source: str  # the call as Python, to run it again
    detail: str
    where: str = ""  # the innermost frame in matdiff, to group exceptions by cause
    seconds: float = 0.0
    trace: str = ""

    @property
    def signature(self) -> tuple[str, str, str]:
        if self.kind == "exception":
            return self.kind, self.detail.split(":")[0], self.where
        return self.kind, self.call, ""


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


@dataclass
class Run:
    seed: int
    limit: float
    stop: float
    clock_name: str = "cpu"
    inputs: int = 0
    calls: int = 0
    too_long: int = 0  # answers longer than the parser reads (MAX_LENGTH), not read back
    seconds: float = 0.0
    by_family: dict = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    slowest: list[tuple[float, int, str]] = field(default_factory=list)

    @property
    def clock(self) -> Callable[[], float]:
        return CLOCKS[self.clock_name]

    def counts(self) -> dict[str, int]:
        out = {"exception": 0, "slow": 0, "stalled": 0, "reads back differently": 0}
        for f in self.findings:
            out[f.kind] += 1
        return out

    def summary(self) -> str:
        c, of = self.counts(), _OF[self.clock_name]
        return (f"fuzz: {self.inputs} inputs (seed {self.seed}), {self.calls} calls, {c['exception']} exceptions "
                f"that are not MatdiffError, {c['slow'] + c['stalled']} calls over {self.limit:g} s{of} "
                f"({c['stalled']} stopped at {self.stop:g} s), {c['reads back differently']} printed texts that "
                f"do not read back; {self.seconds:.0f} s")

    def describe(self, examples: int = 3) -> str:
        groups: dict[tuple, list[Finding]] = {}
        for f in self.findings:
            groups.setdefault(f.signature, []).append(f)
        lines = []
        for (kind, what, where), found in sorted(groups.items(), key=lambda g: -len(g[1])):
            lines.append(f"{len(found)} × {kind}: {what}" + (f" at {where}" if where else ""))
            for f in found[:examples]:
                seconds = f" ({f.seconds:.2f} s)" if f.kind in ("slow", "stalled") else ""
                lines.append(f"    input {f.index} [{f.family}] {f.call}{seconds}: {_short(f.source)}")
                if f.kind != "slow":
                    lines.append(f"        {_short(f.detail)}")
        return "\n".join(lines)


_OF = {"cpu": " of CPU time", "wall": ""}


def _short(text: str, width: int = 300) -> str:
    return text if len(text) <= width else text[:width - 40] + f" ... ({len(text)} characters)"


def _innermost(tb) -> str:
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "/matdiff/" in f.filename] or frames
    f = ours[-1]
    return f"{f.filename.split('/src/')[-1]}:{f.lineno} {f.name}"


def _timed(run: Run, index: int, item: Input, call: str, thunk: Callable[[], object]) -> tuple[bool, object]:
    """(True, result) for a call that returned, (False, None) for one that raised (a finding if it raised
    anything but a MatdiffError, or ran over the limit)."""
    run.calls += 1
    start, started = time.perf_counter(), run.clock()
    try:
        with stop_after(run.stop):
            result = thunk()
        outcome = (True, result)
    except MatdiffError:
        outcome = (False, None)
    except Stalled:
        run.findings.append(Finding("stalled", index, item.family, call, item.call_text(call),
                                    f"stopped at {run.stop:g} s", seconds=time.perf_counter() - start))
        return False, None
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - any other exception is what we look for
        detail = f"{type(exc).__name__}: {exc}"
        run.findings.append(Finding("exception", index, item.family, call, item.call_text(call), detail,
                                    _innermost(exc.__traceback__), trace=traceback.format_exc()))
        return False, None
    elapsed = run.clock() - started
    if elapsed > run.limit:
        again = run.clock()  # timed twice: a busy moment of a shared machine is not a finding
        with contextlib.suppress(Exception, Stalled), stop_after(run.stop):
            thunk()
        elapsed = min(elapsed, run.clock() - again)
        if elapsed > run.limit:
            run.findings.append(Finding("slow", index, item.family, call, item.call_text(call), f"{elapsed:.2f} s",
                                        seconds=elapsed))
    run.slowest.append((elapsed, index, call))
    if len(run.slowest) > 40:
        run.slowest.sort(reverse=True)
        del run.slowest[10:]
    return outcome


def _printed(result):
    """A result with its text printed: printing is part of the call (and a crash in it a finding)."""
    result.text
    return result


def _reads_back(run: Run, index: int, item: Input, call: str, expression) -> None:
    """The printed text of a result, read with the result's own declarations, is the same node (an answer
    longer than the parser takes is counted, not read)."""
    if len(expression.text) > _PARSE_MODULE.MAX_LENGTH:
        run.too_long += 1
        return
    ok, again = _timed(run, index, item, call + " read back",
                       lambda: _printed(md.parse(expression.text, expression.variables)))
    if ok and again.node is not expression.node:
        run.findings.append(Finding("reads back differently", index, item.family, call, item.call_text(call),
                                    f"{expression.text!r} reads back as {again.text!r}"))
    elif not ok and not any(f.index == index for f in run.findings):
        run.findings.append(Finding("reads back differently", index, item.family, call, item.call_text(call),
                                    f"{expression.text!r} does not read back"))


def fuzz_one(run: Run, index: int, item: Input, rng: random.Random) -> None:
    run.inputs += 1
    run.by_family[item.family] = run.by_family.get(item.family, 0) + 1
    parsed, expression = _timed(run, index, item, "parse", lambda: _printed(md.parse(item.text, item.shapes)))
    if parsed:
        _reads_back(run, index, item, "parse", expression)
    elif rng.random() > 0.1:  # most inputs that do not parse stop here: every other call parses them first
        return
    ok, first = _timed(run, index, item, "derivative1",
                       lambda: _printed(md.derivative(item.text, item.wrt, item.shapes)))
    if ok:
        _reads_back(run, index, item, "derivative1", first)
        if rng.random() < 0.1:  # differentiate the printed answer again
            text, variables = first.text, first.variables
            wrt = rng.choice(list(variables))
            _timed(run, index, item, "derivative of the printed answer",
                   lambda: _printed(md.derivative(text, wrt, variables)))
    ok, second = _timed(run, index, item, "derivative2",
                        lambda: _printed(md.derivative(item.text, item.wrt, item.shapes, order=item.order)))
    if ok:
        _reads_back(run, index, item, "derivative2", second)
    ok, rule = _timed(run, index, item, "vjp",
                      lambda: _printed(md.vjp(item.text, item.wrt, item.shapes, cotangent=item.cotangent)))
    if ok:
        _reads_back(run, index, item, "vjp", rule)
    if rng.random() < 0.05:
        backend = rng.choice(("numpy", "numpy", "jax", "torch"))
        _timed(run, index, item, "codegen", lambda: md.codegen(item.text, item.wrt, item.shapes, backend=backend,
                                                               hessian=rng.random() < 0.3))
    if rng.random() < 0.03:
        _timed(run, index, item, "explain", lambda: md.explain(item.text, item.wrt, item.shapes).text)


def run(seed: int = 0, count: int = 1000, limit: float = 1.0, stop: float = 10.0, only: int | None = None,
        progress: Callable[[Run, int], None] | None = None, clock: str = "cpu") -> Run:
    seeds = load_seeds()
    outcome = Run(seed, limit, stop, clock)
    started = time.perf_counter()
    indices = [only] if only is not None else range(count)
    for index in indices:
        item, rng = make_input(seed, index, seeds)
        fuzz_one(outcome, index, item, rng)
        if progress is not None:
            progress(outcome, index)
    outcome.seconds = time.perf_counter() - started
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--limit", type=float, default=1.0, help="a call over this many seconds is a finding")
    parser.add_argument("--stop", type=float, default=10.0, help="a call is stopped after this many seconds (wall)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="what --limit counts: the process's CPU time (default; other work on a shared machine "
                             "does not count) or wall-clock time")
    parser.add_argument("--only", type=int, default=None, help="run input number ONLY alone, with tracebacks")
    parser.add_argument("--examples", type=int, default=3, help="inputs shown for each kind of finding")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    # NumPy's RuntimeWarnings (explain's small example at a hostile number) would bury the report
    warnings.simplefilter("ignore", RuntimeWarning)

    def progress(outcome: Run, index: int) -> None:
        if not args.quiet and (index + 1) % 10_000 == 0:
            c = outcome.counts()
            print(f"  {index + 1} inputs, {time.perf_counter() - begun:.0f} s, findings: {c}", file=sys.stderr,
                  flush=True)

    begun = time.perf_counter()
    outcome = run(args.seed, args.count, args.limit, args.stop, args.only, progress, args.clock)
    if args.only is not None:
        item, _ = make_input(args.seed, args.only, load_seeds())
        print(f"input {args.only} [{item.family}]: text={item.text!r} shapes={item.shapes!r} wrt={item.wrt!r} "
              f"order={item.order!r} cotangent={item.cotangent!r}")
        for f in outcome.findings:
            print(f"{f.kind} in {f.call}: {f.detail}\n{f.trace}")
    elif outcome.findings:
        print(outcome.describe(args.examples))
    if not args.quiet:
        families = ", ".join(f"{name} {outcome.by_family.get(name, 0)}" for name in FAMILIES)
        slowest = ", ".join(f"{s:.2f} s (input {i}, {c})" for s, i, c in sorted(outcome.slowest, reverse=True)[:3])
        print(f"families: {families}; answers too long to read back: {outcome.too_long}; slowest calls: {slowest}")
    print(outcome.summary())
    return 1 if outcome.findings else 0


if __name__ == "__main__":
    sys.exit(main())
