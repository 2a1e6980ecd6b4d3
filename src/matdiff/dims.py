"""Symbolic dimensions and shapes, and the declarations that give variables their shapes.

A dimension is an `int`, a symbol (`str`, e.g. "n"), or a `DimProduct` such as n·m (the length of
vec(X) for an n×m matrix X). Dimension names are symbols: "n" and "m" never match, so every shape
error is found without sizes. A shape is a tuple of dimensions: () for a scalar, (n,) for a vector,
(n, m) for a matrix, and as many as an array of higher order has, (n, m, p).

Declarations come as a dictionary (`{"X": ("n", "m"), "x": ("n",), "s": ()}`, optionally with
properties `{"S": ("n", "n", "sym")}`) or as a string a person types: `"X: n×m, x: n, s: scalar,
S: n×n sym, T: n×m×p"` (also `n x m`, `(n, m)`, `n*m`, `n m`). `"g: function"` (or `{"g": ("function",)}`) declares
an arbitrary smooth scalar function applied elementwise, g(X @ W), with no dimensions of its own.
"""
from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass
from typing import Union

from .errors import DeclarationError


@dataclass(frozen=True, slots=True)
class DimProduct:
    """A product of dimension symbols with an integer coefficient, e.g. 2·n·m; kept canonical."""

    coefficient: int
    symbols: tuple[str, ...]  # sorted, with repetition

    def __str__(self) -> str:
        parts = ([str(self.coefficient)] if self.coefficient != 1 else []) + list(self.symbols)
        return "*".join(parts)


Dim = Union[int, str, DimProduct]
Shape = tuple[Dim, ...]

PROPERTIES = ("sym", "spd", "pos", "small", "function")  # "function" alone: a declared function g


def _factors(d: Dim) -> tuple[int, tuple[str, ...]]:
    if isinstance(d, int):
        return d, ()
    if isinstance(d, str):
        return 1, (d,)
    return d.coefficient, d.symbols


def dim_product(*dims: Dim) -> Dim:
    """The product of dimensions, in canonical form (an int, a symbol or a DimProduct)."""
    coefficient, symbols = 1, []
    for d in dims:
        c, s = _factors(d)
        coefficient *= c
        symbols.extend(s)
    symbols.sort()
    if not symbols:
        return coefficient
    if coefficient == 1 and len(symbols) == 1:
        return symbols[0]
    return DimProduct(coefficient, tuple(symbols))


def size_of(shape: Shape) -> Dim:
    """The number of entries of an array of this shape (a dimension itself)."""
    return dim_product(*shape)


def dim_value(d: Dim, sizes: dict[str, int]) -> int:
    """The integer a dimension stands for once every symbol has a size."""
    c, symbols = _factors(d)
    return c * math.prod(sizes[s] for s in symbols)


def format_dim(d: Dim) -> str:
    return str(d)


def format_shape(shape: Shape) -> str:
    """'scalar', 'n' or 'n×m', as a person writes it."""
    if not shape:
        return "scalar"
    return "×".join(format_dim(d) for d in shape)


def dim_symbols(shape: Shape) -> list[str]:
    out = []
    for d in shape:
        out.extend(_factors(d)[1])
    return out


# ---- declarations -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VarSpec:
    """A declared variable: its name, symbolic shape and properties (sym, spd, pos, small; or function)."""

    name: str
    shape: Shape
    properties: frozenset[str] = frozenset()

    @property
    def symmetric(self) -> bool:
        return bool(self.properties & {"sym", "spd"})

    @property
    def is_function(self) -> bool:
        """Declared `g: function`: an arbitrary smooth function applied elementwise, not an array."""
        return "function" in self.properties


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DIM_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z|[0-9]+\Z")
# "nxn", "3x3", "n1xk": a matrix written without the spaces `n x m` needs; refused, not read as one name
_GLUED_SHAPE = re.compile(r"([A-Za-z][0-9]*|[0-9]+)[xX]([A-Za-z][0-9]*|[0-9]+)\Z")


def _parse_dim(word: str, where: str) -> Dim:
    word = word.strip()
    if "*" in word or "·" in word:
        return dim_product(*(_parse_dim(w, where) for w in re.split(r"[*·]", word)))
    if glued := _GLUED_SHAPE.match(word):
        rows, columns = glued.groups()
        raise DeclarationError(f"{where}: {word!r} is one word, not a shape (did you mean '{rows}×{columns}'?); "
                               f"write a matrix as '{rows}×{columns}', '{rows} x {columns}' or '({rows}, {columns})'")
    if not _DIM_WORD.match(word):
        raise DeclarationError(f"{where}: {word!r} is not a dimension (a name such as n, or a number)")
    if word.isdigit():
        value = int(word)
        if value < 1:
            raise DeclarationError(f"{where}: dimension {value} must be at least 1")
        return value
    return word


def _spec_from_words(name: str, words: list, where: str) -> VarSpec:
    dims, props = [], set()
    for w in words:
        if isinstance(w, str) and w.strip().lower() in PROPERTIES:
            props.add(w.strip().lower())
        elif isinstance(w, str) and w.strip().lower() == "scalar":
            continue
        elif isinstance(w, bool):
            raise DeclarationError(f"{where}: {w!r} is not a dimension")
        elif isinstance(w, int):
            if w < 1:
                raise DeclarationError(f"{where}: dimension {w} must be at least 1")
            dims.append(w)
        elif isinstance(w, str):
            dims.append(_parse_dim(w, where))
        else:
            raise DeclarationError(f"{where}: {w!r} is not a dimension")
    if "function" in props and (dims or len(props) > 1):
        raise DeclarationError(f"{where}: a declared function ('{name}: function') has no dimensions or other "
                               "properties")
    if props & {"sym", "spd"} and (len(dims) != 2 or dims[0] != dims[1]):
        raise DeclarationError(f"{where}: 'sym'/'spd' need a square matrix, got {format_shape(tuple(dims))}")
    if props & {"sym", "spd"} == {"sym", "spd"}:
        props.discard("sym")
    return VarSpec(name, tuple(dims), frozenset(props))


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DeclarationError(f"{where}: {name!r} is not a valid variable name")
    if keyword.iskeyword(name):  # None, True, lambda: no expression could use the variable
        raise DeclarationError(f"{where}: {name!r} is a Python keyword, which cannot name a variable")
    return name


def parse_declarations(spec: "str | dict | None") -> dict[str, VarSpec]:
    """Variables and their shapes from a dictionary or from text such as "X: n×m, x: n, s: scalar"."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        out = {}
        for name, dims in spec.items():
            _check_name(name, f"declaration of {name!r}")
            where = f"declaration of {name}"
            if isinstance(dims, VarSpec):
                out[name] = VarSpec(name, dims.shape, dims.properties)
                continue
            if isinstance(dims, str):
                words = _split_dims(dims, where)
            elif isinstance(dims, (tuple, list)):
                words = list(dims)
            elif isinstance(dims, int) and not isinstance(dims, bool):
                words = [dims]
            else:
                raise DeclarationError(f"{where}: expected a tuple of dimensions such as ('n', 'm'), got {dims!r}")
            out[name] = _spec_from_words(name, words, where)
        return _refuse_clashes(out)
    if not isinstance(spec, str):
        raise DeclarationError(f"declarations must be a dict or a string, got {type(spec).__name__}")
    out = {}
    for item in _split_items(spec):
        if ":" not in item:
            raise DeclarationError(f"declaration {item.strip()!r} needs a colon, as in 'X: n×m'")
        name, _, rest = item.partition(":")
        name = _check_name(name.strip(), f"declaration {item.strip()!r}")
        if name in out:
            raise DeclarationError(f"{name} is declared twice")
        out[name] = _spec_from_words(name, _split_dims(rest, f"declaration of {name}"), f"declaration of {name}")
    return _refuse_clashes(out)


def _refuse_clashes(declared: dict[str, VarSpec]) -> dict[str, VarSpec]:
    """A name is a variable or a dimension, never both: `n` in `sum(x) / n` must mean one thing."""
    dims = {d for spec in declared.values() for d in dim_symbols(spec.shape)}
    clash = sorted(dims & set(declared))
    if clash:
        raise DeclarationError(f"{clash[0]} is declared as a variable and used as a dimension; rename one of them")
    return declared


def _split_items(text: str) -> list[str]:
    """Split 'X: (n, m), x: n; s: scalar' at the commas/semicolons outside parentheses."""
    items, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch in ",;\n" and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [i for i in items if i.strip()]


def _split_dims(text: str, where: str) -> list[str]:
    tokens = text.split()
    properties: list[str] = []
    while tokens and tokens[-1].lower() in PROPERTIES:  # "(n, n) spd": properties follow the shape
        properties.insert(0, tokens.pop())
    return _split_shape(" ".join(tokens), where) + properties


def _split_shape(text: str, where: str) -> list[str]:
    text = text.strip()
    if text.startswith(("(", "[")) != text.endswith((")", "]")):
        raise DeclarationError(f"{where}: unbalanced parentheses in {text!r}")
    parenthesised = text.startswith(("(", "["))
    text = text.strip("()[]").strip()
    if parenthesised and text.endswith(","):  # (n,) as Python writes a 1-tuple
        text = text[:-1]
    if not text:
        return []
    if re.search(r"(^|[×,*]|\bx\b|\bby\b)\s*$", text, re.IGNORECASE) \
            or re.match(r"^\s*([×,*]|x\b|by\b)", text, re.IGNORECASE) or re.search(r"[×,]\s*[×,]", text):
        raise DeclarationError(f"{where}: a dimension is missing in {text!r} (write 'n×m', 'n x m' or '(n, m)')")
    # n×m, n x m, n X m, (n, m), n m, n by m
    text = re.sub(r"\s*(×|\bx\b|\bby\b|,)\s*", " ", text.replace("×", " × "), flags=re.IGNORECASE)
    text = text.replace("×", " ")
    return [w for w in text.split() if w]
