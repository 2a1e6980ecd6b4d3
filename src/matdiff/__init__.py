"""matdiff: symbolic matrix calculus in textbook matrix notation.

    >>> import matdiff as md
    >>> md.derivative("tr(A @ X @ B)", "X", {"A": ("n", "p"), "X": ("p", "q"), "B": ("q", "n")}).text
    'A.T @ B.T'
    >>> md.vjp("W @ X", "W", "W: m×q, X: q×n", cotangent="G").text
    'G @ X.T'
"""
from .errors import (DeclarationError, MatdiffError, NotSupportedError, ParseError, ShapeError,  # noqa: F401
                     UnknownNameError, ValueBindingError)
from .dims import VarSpec, parse_declarations  # noqa: F401
from .api import (Derivative, Expression, derivative, gradient, hessian, hvp, parse, parse_block,  # noqa: F401
                  parse_latex, vjp)
from .language.latex_questions import parse_latex_claim, parse_latex_question  # noqa: F401
from .codegen import codegen, compile  # noqa: F401, A004
from .symbolic import Symbolic, eye, grad, matrix, ones, scalar, sum, vector, zeros  # noqa: F401
from .symbolic import functions as _functions

globals().update(_functions)  # md.tr, md.det, md.logdet, md.inv, md.exp, md.tanh, md.kron, ...

# The other outputs load on first use (`md.verify`, `from matdiff import explain`): a derivative needs none of
# them, and together they are a fifth of the import. `codegen` stays above because the function shares its name
# with the package matdiff.codegen, which the import system would bind here in its place when it first loads.
_LAZY = {"jax_function": "interop", "objective": "interop", "torch_function": "interop",
         "check": "numeric_check", "CheckReport": "numeric_check", "verify": "verdicts", "Verdict": "verdicts",
         "explain": "derivation", "Derivation": "derivation"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"
__all__ = ["MatdiffError", "ParseError", "ShapeError", "UnknownNameError", "DeclarationError",
           "ValueBindingError", "NotSupportedError", "Expression", "Derivative", "parse", "parse_block", "parse_latex",
           "parse_latex_question", "parse_latex_claim", "derivative",
           "vjp", "gradient", "hessian", "hvp", "parse_declarations", "VarSpec", "matrix", "vector", "scalar", "grad",
           "Symbolic", "eye", "ones", "zeros", "sum", "codegen", "compile", "check", "CheckReport", "verify",
           "Verdict", "explain", "Derivation", "jax_function", "torch_function", "objective", *sorted(_functions)]
