"""The public functions: parse, derivative (gradients, Jacobians, vec forms, Hessians) and vjp.

Conventions (stated on every result as `.layout`):
- the derivative of f (shape F) by X (shape S) is D[i..., j...] = ∂f[i...]/∂X[j...], shape F + S:
  the gradient of a scalar has the shape of X; a vector by a vector is the m×n Jacobian;
- where no matrix has that shape (a matrix by a matrix is a 4th-order tensor) the answer is the
  vec form d vec(f) / d vec(X), column-major vec as in the Matrix Cookbook; where an array of order ≥ 3
  is involved, or an einsum has no vec form, it is the full array of shape F + S, written with einsum
  (an elementwise map of such an array in vec form, diag(vec(u)));
- a Hessian of a scalar by a vector is the n×n matrix; by a matrix it is in vec form;
- a VJP (backpropagation rule) is the gradient of φ = sum(G ⊙ f) for an upstream gradient G.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from keyword import iskeyword
from typing import Any

import numpy as np

from .calculus import differential, pullback, vec_form
from .calculus.arrays import full_array
from .dims import VarSpec, dim_symbols, format_shape, parse_declarations, size_of
from .errors import DeclarationError, MatdiffError, NotSupportedError, ShapeError, UnknownNameError, close_matches
from .evaluate import evaluate as _evaluate
from .expr import Node, node_count, topological
from .ops.algebra.transposition import graph_work
from .language import parse as _parse
from .language import parse_matrixcalculus as _parse_matrixcalculus
from .language.latex import parse_latex as _parse_latex
from .language.latex_declarations import declarations as _latex_declarations
from .language import parse_block as _parse_block
from .language import to_latex, to_text, to_unicode
from .language.bindings import Bound, bind, written_size
from .ops import OPS, ONE, add, const, div, eye, mul, transpose, var, var_from_spec
from .ops.registry import INDEX_ROUTE

SYMMETRIC_CONVENTIONS = ("sym", "cookbook", "none")


class Expression:
    """An expression of the language with its declared variables; prints, evaluates, re-parses."""

    def __init__(self, node: Node, variables: Mapping[str, VarSpec]) -> None:
        self.node = node
        self.variables = dict(variables)

    @property
    def text(self) -> str:
        """The expression in the language (re-parseable by `matdiff.parse`)."""
        return to_text(self.node)

    @property
    def unicode(self) -> str:
        return to_unicode(self.node)

    @property
    def latex(self) -> str:
        return to_latex(self.node)

    # The bound forms: the subexpressions the expression repeats named once (Z = X @ W, P = softmax(Z)),
    # so that what is printed is linear in the size of the DAG (`language.bindings`).
    @property
    def bound_text(self) -> str:
        """Assignments in the language, the last line the expression (read back by `parse_block`)."""
        return self.bindings.text()

    @property
    def bound_unicode(self) -> str:
        return self.bindings.unicode()

    @property
    def bound_latex(self) -> str:
        """An aligned LaTeX block, one binding a row, the expression last."""
        return self.bindings.latex()

    @cached_property
    def bindings(self) -> Bound:
        """The named intermediates, in dependency order (`.names`), and the bound forms."""
        return bind(self.node, self._taken_names(), self._context())

    @property
    def prefers_bound(self) -> bool:
        """Whether the bound form is the one to show: it names something and is shorter than the one-line
        text (decided without printing a tree of megabytes: that text is at least one character a node)."""
        if not self.bindings.lines:
            return False
        bound = len(self.bound_text)
        return bound < written_size(self.node) or bound < len(self.text)

    def shown(self, form: str) -> str:
        """What a screen shows in `form` ("text", "unicode" or "latex"): the bound form where it is the
        shorter one, else the one-line form."""
        return getattr(self, "bound_" + form if self.prefers_bound else form)

    def _taken_names(self) -> frozenset:
        """The declared variables and dimensions: names a binding must not take."""
        return frozenset(self.variables) | {d for spec in self.variables.values() for d in dim_symbols(spec.shape)}

    def _context(self) -> Node | None:
        return None

    @property
    def shape(self) -> tuple:
        return self.node.shape

    @property
    def shape_text(self) -> str:
        return format_shape(self.node.shape)

    @property
    def size(self) -> int:
        """Distinct nodes of the expression DAG (shared subexpressions counted once)."""
        return node_count(self.node)

    def evaluate(self, values: Mapping[str, Any], sizes: Mapping[str, int] | None = None) -> np.ndarray:
        """The value for the given variable values (arrays), as NumPy computes it."""
        declared = {name: spec.shape for name, spec in self.variables.items()}
        return _evaluate(self.node, values, declared, sizes)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r}, shape={self.shape_text})"

    def _repr_latex_(self) -> str:
        return f"$${self.bound_latex}$$" if self.prefers_bound else f"${self.latex}$"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expression):
            return self.node is other.node
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.node)


class Derivative(Expression):
    """A derivative: the expression, what it is the derivative of, and the layout it is given in.

    `base` is the expression whose derivative by the variable node `by` this is (for a Hessian,
    the gradient); `evaluate` gives the full tensor D[i..., j...] = ∂base[i...]/∂by[j...] of shape
    base.shape + by.shape, and `evaluate_as_written` the value of the printed expression (the vec
    form where that is what is printed).
    """

    def __init__(self, node: Node, variables: Mapping[str, VarSpec], function: Node, wrt: tuple[str, ...],
                 kind: str, layout: str, base: Node | None = None, by: Node | None = None) -> None:
        super().__init__(node, variables)
        self.function = function
        self.wrt = wrt
        self.kind = kind
        self.layout = layout
        self.base = function if base is None else base
        self.by = by

    @property
    def is_vec_form(self) -> bool:
        """True when the printed expression is d vec(base) / d vec(by) rather than the full tensor."""
        if self.by is None or self.kind in ("vjp", "hvp"):
            return False
        full = tuple(self.base.shape) + tuple(self.by.shape)
        return tuple(self.node.shape) != full

    def evaluate_as_written(self, values: Mapping[str, Any], sizes: Mapping[str, int] | None = None) -> np.ndarray:
        return super().evaluate(values, sizes)

    def evaluate(self, values: Mapping[str, Any], sizes: Mapping[str, int] | None = None) -> np.ndarray:
        """The full derivative tensor, shape base.shape + by.shape (the vec form reshaped if need be)."""
        value = super().evaluate(values, sizes)
        if not self.is_vec_form:
            return value
        f_shape = _numeric_shape(self.base, self, values, sizes)
        x_shape = _numeric_shape(self.by, self, values, sizes)
        # column-major vec on both sides: reverse each group of axes after a C-order reshape
        tensor = value.reshape(tuple(reversed(f_shape)) + tuple(reversed(x_shape)))
        nf, nx = len(f_shape), len(x_shape)
        order = list(range(nf))[::-1] + [nf + a for a in range(nx)][::-1]
        return tensor.transpose(order)

    def __repr__(self) -> str:
        return f"Derivative({self.text!r}, kind={self.kind!r}, shape={self.shape_text})"

    def _context(self) -> Node | None:
        return self.function  # its DAG says what a named part is: a residual inside its norm, ...

    def _repr_markdown_(self) -> str:
        return f"**{self.kind}** of ${to_latex(self.function)}$ by {', '.join(self.wrt)} ({self.layout}):\n\n" \
               f"$${self.shown('latex')}$$"

    @property
    def index(self):
        """This derivative in index (Einstein) notation, ∂base[i…]/∂by[k…] (`matdiff.calculus.index`)."""
        from .calculus.index import index_form
        return index_form(self)


# ---- entry points -----------------------------------------------------------------------------


def _declarations(shapes: Any) -> dict[str, VarSpec]:
    return parse_declarations(shapes)


SYNTAXES = ("matdiff", "matrixcalculus")


def _expression(expr: "str | Expression", shapes: Any, syntax: str = "matdiff") -> tuple[Node, dict[str, VarSpec]]:
    if syntax not in SYNTAXES:
        raise DeclarationError(f"syntax must be one of {', '.join(map(repr, SYNTAXES))}, got {syntax!r}")
    if isinstance(expr, Expression):
        variables = dict(expr.variables)
        if shapes is not None:  # new declarations make new variable nodes: read the text again with them
            variables.update(_declarations(shapes))
            return _parse(expr.text, variables), variables
        return expr.node, variables
    variables = _declarations(shapes)
    if syntax == "matrixcalculus":  # X'*A*X: its undeclared names typed by their first letter, sizes inferred
        reading = _parse_matrixcalculus(expr, variables)
        return reading.node, reading.variables
    return _parse(expr, variables), variables


def parse(expr: str, shapes: Any = None, *, syntax: str = "matdiff") -> Expression:
    """Parse and shape-check `expr` with the declared variables (a dict or text like "X: n×m").

    `syntax="matrixcalculus"` reads matrixcalculus.org's language instead (`X'*A*X`, `.*`, `norm2(X*w-y)^2`,
    `vector(1)`), its undeclared names typed by their first letter (a–g scalars, h–z vectors, A–Z matrices)
    and their sizes inferred; `.variables` then holds them too."""
    node, variables = _expression(expr, shapes, syntax)
    return Expression(node, variables)


def parse_latex(text: str, where: Any = None) -> Expression:
    """A formula written in LaTeX (`x^T A x`, `\\|g(XW) - Y\\|_F^2`), with the variables declared in `where`:
    as pages write them (`W \\in \\mathbb{R}^{m \\times q}`, definitions such as `D = W X`), in matdiff's own
    form ("W: m×q, g: function") or a dict. A whole question, `\\frac{\\partial}{\\partial W} …`, is
    `parse_latex_question`'s."""
    variables, _ = _latex_declarations(where)
    return Expression(_parse_latex(text, where), variables)


def parse_block(text: str, shapes: Any = None) -> Expression:
    """Read a block of bindings, as `.bound_text` prints them: `name = expression` lines, then the
    expression they define; the names stand for their nodes (`parse_block(d.bound_text, where)` is d)."""
    variables = _declarations(shapes)
    return Expression(_parse_block(text, variables), variables)


def _variable(name: Any, variables: Mapping[str, VarSpec]) -> Node:
    if isinstance(name, Expression) and name.node.op == "var":
        name = name.node.params[0]
    if not isinstance(name, str) or name not in variables:
        hint = close_matches(str(name), variables)
        declared = ", ".join(sorted(variables)) or "none"
        raise UnknownNameError(f"cannot differentiate by {name!r}: it is not a declared variable{hint} "
                               f"(declared: {declared})")
    spec = variables[name]
    if spec.is_function:
        raise NotSupportedError(f"{name} is a declared function: differentiate by a variable; the derivative of "
                                f"{name} itself is written grad({name})(u)")
    return var(spec.name, spec.shape, spec.properties)


def _symmetrize(g: Node, x: Node, convention: str) -> Node:
    """The gradient by a symmetric matrix variable, from the unstructured gradient g."""
    if convention == "none" or not (x.params[1] & {"sym", "spd"}):
        return g
    if convention == "sym":  # sym(G) = (G + Gᵀ)/2: the gradient in the space of symmetric matrices
        return div(add(g, transpose(g)), const(2.0))
    # the Cookbook's G + Gᵀ − G ⊙ I
    return add(g, transpose(g), mul(const(-1.0), g, eye(x.shape[0])))


def _numeric_shape(node: Node, owner: Expression, values, sizes) -> tuple[int, ...]:
    from .evaluate import bind_sizes
    from .dims import dim_value
    declared = {name: spec.shape for name, spec in owner.variables.items()}
    arrays = {k: np.asarray(v, dtype=float) for k, v in values.items() if not callable(v)}  # g: a function
    bound = bind_sizes(declared, arrays, sizes)
    return tuple(dim_value(d, bound) for d in node.shape)


def _layout(f: Node, x: Node) -> tuple[str, str]:
    if not f.shape:
        return "gradient", f"gradient: the shape of {x.params[0]} ({format_shape(x.shape)})"
    if not x.shape:
        return "derivative", f"derivative by a scalar: the shape of the function ({format_shape(f.shape)})"
    name = x.params[0]
    if f.ndim == 1 and x.ndim == 1:
        return "jacobian", f"Jacobian, numerator layout: J[i, j] = ∂f[i]/∂{name}[j]"
    if f.ndim > 2 or x.ndim > 2:
        return "array", (f"the full array D[i…, k…] = ∂f[i…]/∂{name}[k…] of shape "
                         f"{format_shape(tuple(f.shape) + tuple(x.shape))}")
    return "vec", f"vec form: d vec(f) / d vec({name}), column-major vec (Matrix Cookbook)"


def _has_contraction(f: Node) -> bool:
    """f passes through an array of order ≥ 3 or an operation read in index notation: no vec form rule applies."""
    return any(n.ndim > 2 or OPS[n.op].vec_jacobian is INDEX_ROUTE for n in topological(f))


def derive_once(f: Node, x: Node, symmetric: str = "sym") -> Node:
    """One derivative of f by the variable node x, in the layout described in the module docstring."""
    if not f.shape:
        return _symmetrize(pullback(f, x), x, symmetric)
    if not x.shape:
        return differential(f, x, ONE)
    if f.ndim > 2 or x.ndim > 2:  # no matrix has the shape F + S, and no vec form is asked for
        return full_array(f, x)
    d_x = var("∂" + x.params[0], x.shape)  # a name no user variable can have
    try:
        return vec_form(differential(f, x, d_x), d_x)
    except (NotSupportedError, ShapeError):
        if not _has_contraction(f):
            raise
        return full_array(f, x)  # through an einsum or an array of order ≥ 3: the full array, from the index form


# Repeated derivatives grow about threefold per order; past this size (relative to the function) a
# further order would take seconds and print megabytes, so it is refused with the reason instead.
_GROWTH_BUDGET, _SIZE_BUDGET = 32, 1500


# A derivation is graph work (`graph_work`): the cyclic collector paused and every transpose it builds held.
# The memo of a transpose is weak, and a vec form of a long chain asks for the transposes of its runs again
# and again (a Jacobian by C of a 150-factor chain with C in it 40 times: 5.9 s rebuilding them, 1.3 s holding
# them). Both end with the call.
@graph_work()
def derivative(expr: "str | Expression", wrt: "str | Sequence[str]", shapes: Any = None, order: int = 1,
               symmetric: str = "sym", *, syntax: str = "matdiff") -> Derivative:
    """The derivative of `expr` by `wrt`, of the given order, in compact matrix notation.

    `wrt` is a variable name, or a sequence of names for a mixed derivative (d/dW2 of d/dW1 f).
    `symmetric` says how a variable declared `sym`/`spd` is treated: "sym" (default) gives
    sym(G) = (G + Gᵀ)/2, "cookbook" gives G + Gᵀ − G ⊙ I, "none" the unstructured gradient.
    `syntax` is as in `parse`.
    """
    node, variables = _expression(expr, shapes, syntax)
    if symmetric not in SYMMETRIC_CONVENTIONS:
        raise DeclarationError(f"symmetric must be one of {SYMMETRIC_CONVENTIONS}, got {symmetric!r}")
    if isinstance(wrt, (list, tuple)):
        names = tuple(wrt)
    elif isinstance(wrt, (str, Expression)):
        names = (wrt,)
    else:
        raise UnknownNameError(f"differentiate by a variable's name (text), not {type(wrt).__name__} {wrt!r}")
    if not names:
        raise UnknownNameError("no variable to differentiate by")
    if len(names) == 1:
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise DeclarationError(f"order must be a positive integer, got {order!r}")
        names = names * order
    xs = [_variable(n, variables) for n in names]
    if len(xs) > 1 and node.shape:
        raise NotSupportedError("derivatives of order 2 and more are for scalar functions; "
                                f"this function is {format_shape(node.shape)}")
    result = base = node
    budget = _GROWTH_BUDGET * node_count(node) + _SIZE_BUDGET
    for step, x in enumerate(xs):
        if step > 1:
            size, growth = node_count(result), node_count(result) / max(1, node_count(base))
            if size * max(1.0, growth) > budget:  # the next order, at the growth of the last one
                raise NotSupportedError(
                    f"stopped after order {step} of {len(xs)}: that derivative already has {size} distinct "
                    f"subexpressions against {node_count(node)} in the function, and each further order multiplies "
                    f"them by about {growth:.1f} (ask for a lower order, or differentiate a scalar part)")
        base = result
        result = derive_once(result, x, symmetric)
    kind, layout = _layout(node, xs[0])
    if len(xs) > 1:
        kind = "hessian" if len(xs) == 2 else f"derivative of order {len(xs)}"
        first = xs[0]
        a, b = first.params[0], xs[1].params[0]
        if len(xs) > 2:
            layout = "repeated derivatives, each step in the layout of a single derivative"
        elif first.ndim <= 1 and xs[1].ndim <= 1:
            layout = f"Hessian: the matrix H[i, j] = ∂²f / ∂{b}[i] ∂{a}[j]" if a != b else \
                f"Hessian: the matrix d²f / d{a} d{a}ᵀ"
        else:
            layout = (f"Hessian in vec form: d vec(∂f/∂{a}) / d vec({b}) (column-major vec)" if a != b
                      else f"Hessian in vec form: d² f / d vec({a}) d vec({a})ᵀ (column-major vec)")
    return Derivative(result, variables, node, tuple(x.params[0] for x in xs), kind, layout, base=base, by=xs[-1])


@graph_work()
def vjp(expr: "str | Expression", wrt: str, shapes: Any = None, cotangent: str = "G",
        symmetric: str = "none", *, syntax: str = "matdiff") -> Derivative:
    """The backpropagation rule: ∂φ/∂wrt for an upstream gradient `cotangent` = ∂φ/∂f (f's shape)."""
    node, variables = _expression(expr, shapes, syntax)
    x = _variable(wrt, variables)
    if not isinstance(cotangent, str) or not cotangent.isascii() or not cotangent.isidentifier() \
            or iskeyword(cotangent):  # a name a declaration could give, so that the answer reads back
        raise DeclarationError(f"the cotangent needs a name such as 'G', got {cotangent!r}")
    if any(cotangent in dim_symbols(spec.shape) for spec in variables.values()):
        raise DeclarationError(f"the cotangent {cotangent!r} has the name of a dimension; call it something else, "
                               "such as 'G'")
    if any(v.op == "var" and v.params[0] == cotangent for v in topological(node)):
        # the upstream gradient is a quantity of its own: sharing a name with one of f's variables, the answer
        # would print two different things alike (and read back as another expression)
        free = next((name for name in ("G", "dF", "G_f") if name not in variables), "G_upstream")
        raise DeclarationError(f"the cotangent {cotangent!r} is a variable of f; the upstream gradient ∂φ/∂f needs "
                               f"a name of its own, such as {free!r}")
    if cotangent in variables and variables[cotangent].shape != node.shape:
        raise DeclarationError(f"{cotangent} is declared {format_shape(variables[cotangent].shape)}, but as the "
                               f"upstream gradient it must have the function's shape {format_shape(node.shape)}")
    g = var(cotangent, node.shape)
    variables = dict(variables)
    variables[cotangent] = VarSpec(cotangent, node.shape)
    result = _symmetrize(pullback(node, x, g), x, symmetric)
    layout = f"backpropagation rule: ∂φ/∂{x.params[0]} given {cotangent} = ∂φ/∂f, the shape of {x.params[0]}"
    return Derivative(result, variables, node, (x.params[0],), "vjp", layout, base=node, by=x)


class Gradients(dict):
    """{name: Derivative}, one gradient per variable, in the order asked for (`gradient(f, ["D", "R"])`)."""

    def __repr__(self) -> str:
        return f"Gradients({', '.join(f'{name}={d.text!r}' for name, d in self.items())})"

    def _repr_markdown_(self) -> str:
        return "\n\n".join(d._repr_markdown_() for d in self.values())


def gradient(expr: "str | Expression", wrt: "str | Sequence[str]", shapes: Any = None,
             symmetric: str = "sym", *, syntax: str = "matdiff") -> "Derivative | Gradients":
    """The gradient of a scalar expression (shape of `wrt`); for a list of names, the gradient by each of them,
    as a mapping {name: Derivative} (`gradient(f, ["D", "R"])`; the mixed second derivative d/dR of d/dD f is
    `derivative(f, ["D", "R"])`)."""
    if isinstance(wrt, (list, tuple)):
        node, variables = _expression(expr, shapes, syntax)
        if not wrt:
            raise UnknownNameError("no variable to differentiate by")
        function = Expression(node, variables)
        return Gradients((_variable(name, variables).params[0], gradient(function, name, symmetric=symmetric))
                         for name in dict.fromkeys(wrt))
    result = derivative(expr, wrt, shapes, 1, symmetric, syntax=syntax)
    if result.function.shape:
        raise NotSupportedError(f"a gradient needs a scalar function; this one is "
                                f"{format_shape(result.function.shape)} (use derivative or vjp)")
    return result


def hessian(expr: "str | Expression", wrt: str, shapes: Any = None) -> Derivative:
    return derivative(expr, wrt, shapes, order=2)


@graph_work()
def hvp(expr: "str | Expression", wrt: "str | Sequence[str]", shapes: Any = None,
        direction: "str | Sequence[str] | None" = None, symmetric: str = "sym", *,
        syntax: str = "matdiff") -> "Derivative | Gradients":
    """The Hessian-vector product H v of a scalar expression, never forming H: the directional derivative
    of the gradient by `wrt` along a new variable of its shape (`direction`, default "v"), as forward mode
    on the gradient's graph computes it, d/dt ∇f(x + t v) at t = 0.

    For several variables (`hvp(f, ["W1", "W2"])`) the direction has a part per variable (default
    `v_W1`, `v_W2`) and the answer is {name: (H v)_name}, each part summing the Hessian's blocks along
    the whole direction. Each answer has its variable's shape; `.variables` declares the direction.
    The direction of a symmetric matrix (`sym`, `spd`) is symmetric, and the gradient is taken in
    the `symmetric` convention of `derivative` before its derivative along the direction.
    """
    if symmetric not in SYMMETRIC_CONVENTIONS:
        raise DeclarationError(f"symmetric must be one of {SYMMETRIC_CONVENTIONS}, got {symmetric!r}")
    node, variables = _expression(expr, shapes, syntax)
    if node.shape:
        raise NotSupportedError(f"a Hessian-vector product needs a scalar function; this one is "
                                f"{format_shape(node.shape)}")
    several = isinstance(wrt, (list, tuple))
    names = tuple(dict.fromkeys(wrt)) if several else (wrt,)
    if not names:
        raise UnknownNameError("no variable to differentiate by")
    xs = [_variable(n, variables) for n in names]
    wanted = direction if direction is not None else \
        (["v"] if not several else [f"v_{x.params[0]}" for x in xs])
    directions = [wanted] if isinstance(wanted, str) else list(wanted)
    if len(directions) != len(xs):
        raise DeclarationError(f"give one direction per variable: {len(xs)} variables, {len(directions)} "
                               f"directions {directions}")
    taken = set(variables) | {s for spec in variables.values() for s in dim_symbols(spec.shape)}
    for d in directions:
        if not isinstance(d, str) or not d.isascii() or not d.isidentifier() or iskeyword(d):
            raise DeclarationError(f"a direction needs a name such as 'v', got {d!r}")
        if d in taken:
            raise DeclarationError(f"the direction {d!r} is already the name of a variable or a dimension; "
                                   "call it something else")
    if len(set(directions)) != len(directions):
        raise DeclarationError(f"the directions need distinct names, got {directions}")
    variables = dict(variables)
    vs = []
    for x, d in zip(xs, directions):
        variables[d] = VarSpec(d, x.shape, frozenset({"sym"}) if x.params[1] & {"sym", "spd"} else frozenset())
        vs.append(var_from_spec(variables[d]))
    parts = {}
    for x in xs:
        gradient_node = _symmetrize(pullback(node, x), x, symmetric)
        product = add(*(differential(gradient_node, y, v) for y, v in zip(xs, vs)))
        along = ", ".join(f"{y.params[0]} + t {v}" for y, v in zip(xs, directions))
        layout = (f"Hessian-vector product: d/dt ∂f/∂{x.params[0]} at {along}, t = 0 "
                  f"(the shape of {x.params[0]})")
        parts[x.params[0]] = Derivative(product, variables, node, tuple(y.params[0] for y in xs), "hvp", layout,
                                        base=gradient_node, by=x)
    return Gradients(parts) if several else parts[xs[0].params[0]]


__all__ = ["Expression", "Derivative", "Gradients", "parse", "parse_block", "parse_latex", "derivative", "vjp",
           "gradient", "hessian", "hvp", "MatdiffError", "size_of"]
