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
from .api import (Derivative, Expression, derivative, gradient, hessian, parse, parse_block, parse_latex,  # noqa: F401
                  vjp)
from .language.latex_questions import parse_latex_claim, parse_latex_question  # noqa: F401
from .codegen import codegen, compile  # noqa: F401, A004
from .interop import jax_function, objective, torch_function  # noqa: F401
from .numeric_check import CheckReport, check  # noqa: F401
from .verdicts import Verdict, verify  # noqa: F401
from .derivation import Derivation, explain  # noqa: F401
from .symbolic import Symbolic, eye, grad, matrix, ones, scalar, sum, vector, zeros  # noqa: F401
from .symbolic import functions as _functions

globals().update(_functions)  # md.tr, md.det, md.logdet, md.inv, md.exp, md.tanh, md.kron, ...

__version__ = "0.1.0"
__all__ = ["MatdiffError", "ParseError", "ShapeError", "UnknownNameError", "DeclarationError",
           "ValueBindingError", "NotSupportedError", "Expression", "Derivative", "parse", "parse_block", "parse_latex",
           "parse_latex_question", "parse_latex_claim", "derivative",
           "vjp", "gradient", "hessian", "parse_declarations", "VarSpec", "matrix", "vector", "scalar", "grad",
           "Symbolic", "eye", "ones", "zeros", "sum", "codegen", "compile", "check", "CheckReport", "verify",
           "Verdict", "explain", "Derivation", "jax_function", "torch_function", "objective", *sorted(_functions)]
