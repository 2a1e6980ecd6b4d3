"""The generated function: its plan (arguments, outputs, dimensions), its shape checks, its docstring, its source.

`plan` decides what the function takes and returns (the variables used, in the order of declaration;
the value, then gradients or backpropagation rules, then Hessians) and names every dimension; `emit`
lowers each output (`lowering.py`), gives a temporary `t0 = ...` to every term used more than once and
to every expensive call, and prints the function through `ast.unparse`. This module owns the shape of
the generated function; what an operation's code is, it leaves to the lowering.
"""
from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from ..api import Expression, derivative, parse, vjp
from ..dims import DimProduct, Shape, format_shape
from ..errors import DeclarationError, NotSupportedError, UnknownNameError
from ..expr import Node, free_variables, topological
from ..language.bindings import shared_runs
from ..ops.algebra.transposition import graph_work
from .backends import BACKENDS, HELPERS
from . import patterns, products, scalars
from .lowering import Lowering, code_of
from .terms import Names, Term, check_name, is_expensive, is_trivial, is_view, to_ast


@dataclass(frozen=True)
class Output:
    """One result of the generated function: its local name, what it is, and the node computing it."""

    name: str
    label: str  # as the docstring shows it: f, ∂f/∂W, ∂²f/∂W², ...
    node: Node
    text: str  # one line, or the bound form where shorter (its named parts, then the answer)
    layout: str


@dataclass
class Plan:
    """What `codegen` writes: the function's signature, its outputs and the variables' shapes."""

    name: str
    backend: str
    arguments: list[tuple[str, Shape | None]]  # None: a function (a declared g, grad_g)
    keyword_dims: list[str]
    outputs: list[Output]
    expression: str


def make_plan(expr: "str | Expression", wrt: "str | Sequence[str]", shapes: Any, backend: str, hessian: bool,
              cotangent: str | None, name: str, symmetric: str, gradients: bool = True) -> tuple[Plan, dict[str, str]]:
    if backend not in BACKENDS:
        raise DeclarationError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    check_name(name, "function")
    expression = expr if isinstance(expr, Expression) and shapes is None else parse(expr, shapes)
    variables = expression.variables
    for v in variables:
        check_name(v)
    names = [wrt] if isinstance(wrt, str) else list(wrt) if isinstance(wrt, (list, tuple)) else None
    if names is None or not all(isinstance(w, str) for w in names):
        raise UnknownNameError(f"differentiate by variables' names (text, or a list of them), not {wrt!r}")
    if len(set(names)) != len(names):
        raise DeclarationError(f"a variable is listed twice in wrt={names}")
    unknown = [w for w in names if w not in variables]
    if unknown:
        raise UnknownNameError(f"cannot differentiate by {', '.join(map(repr, unknown))}: not declared "
                               f"(declared: {', '.join(variables) or 'none'})")
    f = expression.node
    outputs: list[Output] = [Output("value", "f", f, expression.text, format_shape(f.shape))]
    if cotangent is not None:
        check_name(cotangent, "cotangent")
        if hessian:
            raise NotSupportedError("a backpropagation rule (cotangent=...) has no Hessian; drop hessian=True")
    for w in names if gradients else ():
        if cotangent is None:
            d = derivative(expression, w, order=1, symmetric=symmetric)
            outputs.append(Output(f"grad_{w}" if not f.shape else f"jac_{w}", f"∂f/∂{w}", d.node, d.shown("text"), d.layout))
        else:
            d = vjp(expression, w, cotangent=cotangent)
            outputs.append(Output(f"vjp_{w}", f"∂φ/∂{w}", d.node, d.shown("text"), d.layout))
    if hessian:
        if f.shape:
            raise NotSupportedError(f"Hessians are for scalar functions; this one is {format_shape(f.shape)}")
        for w in names:
            d = derivative(expression, w, order=2, symmetric=symmetric)
            outputs.append(Output(f"hess_{w}", f"∂²f/∂{w}²", d.node, d.shown("text"), d.layout))
    used = {w for w in names}
    for out in outputs:
        used |= {v.params[0] for v in free_variables(out.node)}
    arguments: list[tuple[str, Shape | None]] = [(v, variables[v].shape) for v in variables if v in used]
    for callee in _function_arguments(outputs):  # a declared function g and the derivatives used: no shape
        if callee in variables and not variables[callee].is_function:
            raise DeclarationError(f"the generated code takes the function {callee} as an argument, and a variable "
                                   f"has that name too; please rename the variable")
        arguments.append((check_name(callee, "function argument"), None))
    if cotangent is not None and cotangent not in variables:
        arguments.append((cotangent, f.shape))
    local = Names(a for a, _ in arguments)
    outputs = [Output(local.fresh(o.name), o.label, o.node, o.text, o.layout) for o in outputs]
    # dimension symbols: those of the arguments first (bound from their shapes), then any other
    symbols: list[str] = []
    for shape in [s for _, s in arguments if s is not None] + [n.shape for o in outputs for n in topological(o.node)]:
        symbols.extend(_symbols(shape))
    for node in (n for o in outputs for n in topological(o.node)):
        if code_of(node.op).dimension_params:
            symbols.extend(_symbols(node.params))
    dims = {s: local.fresh(s) for s in dict.fromkeys(symbols)}
    bound_by_arguments = {d for _, shape in arguments for d in shape or () if isinstance(d, str)}
    keyword_dims = [dims[s] for s in dims if s not in bound_by_arguments]
    plan = Plan(name, backend, arguments, keyword_dims, outputs, expression.text)
    return plan, dims


def _function_arguments(outputs: Sequence[Output]) -> list[str]:
    """The functions the outputs call, in the order met: a declared g, then grad_g, ... (`Code.function_argument`)."""
    found: dict[str, None] = {}
    for out in outputs:
        for node in topological(out.node):
            rule = code_of(node.op).function_argument
            if rule is not None:
                found.setdefault(rule(node))
    return list(found)


def _symbols(dims) -> list[str]:
    out: list[str] = []
    for d in dims:
        out.extend([d] if isinstance(d, str) else d.symbols if isinstance(d, DimProduct) else ())
    return out


def _uses(outputs: Sequence[Output]) -> dict[Node, int]:
    """node -> how many times it is used: as an argument of a distinct node, or as an output. Counted at C
    speed (`Counter.update`): a deep network's Hessian has a flat product per layer over every layer below."""
    counts: Counter = Counter(out.node for out in outputs)
    seen: set[Node] = set()
    for out in outputs:
        fresh = [node for node in topological(out.node) if node not in seen]
        seen.update(fresh)
        counts.update(chain.from_iterable(node.args for node in fresh))
    return dict(counts)


def _shape_checks(low: Lowering, plan: Plan, dims: dict[str, str], names: Names, check: bool,
                  used: set[str]) -> list[ast.stmt]:
    """Bind each dimension from the first argument that has it, and check every argument's shape.

    The check is as cheap as Python allows (about 75 ns an array argument, half what an assert per
    argument took): every shape is unpacked in one statement and the dimensions compared as integers,
    `agree = d_w == d and n_y == n`; only when that fails do the asserts below it run, one per argument,
    to say which argument is wrong and how. Without the check (`check=False`) only the dimensions the
    body uses (`used`, local names) are read off the arguments."""
    if not check:
        return _bindings(low, plan, dims, used)
    detailed = _detailed_checks(low, plan, dims)
    targets: list[ast.expr] = []  # (n, d), (d_w,), ... = X.shape, w.shape, ...
    shapes: list[ast.expr] = []
    tests: list[ast.expr] = []  # np.ndim(lam) == 0
    seen_as: dict[Any, list[str]] = {}  # a dimension -> the names its other occurrences are unpacked to
    bound: set[str] = set()
    for arg, shape in plan.arguments:
        if shape is None:  # a function, g or grad_g
            continue
        x = low.name(arg)
        if not shape:
            tests.append(_compare(to_ast(low.spell("scalar_ndim", x), {}), ast.Constant(0)))
            continue
        axes: list[ast.expr] = []
        for i, d in enumerate(shape):
            if isinstance(d, str) and d not in bound:
                bound.add(d)
                axes.append(ast.Name(dims[d], ast.Store()))
                continue
            seen = names.fresh(f"{dims[d]}_{arg}" if isinstance(d, str) else f"{arg}_{i}")
            axes.append(ast.Name(seen, ast.Store()))
            seen_as.setdefault(d, []).append(seen)
        targets.append(ast.Tuple(axes, ast.Store()))
        shapes.append(to_ast(low.spell("shape", x), {}))
    for d, occurrences in seen_as.items():  # h_b1 == h_W2 == h
        tests.append(ast.Compare(ast.Name(occurrences[0]), [ast.Eq()] * len(occurrences),
                                 [ast.Name(o) for o in occurrences[1:]] + [to_ast(low.dim(d), {})]))
    agree = names.fresh("agree")
    verdict = ast.BoolOp(ast.And(), tests) if len(tests) > 1 else tests[0] if tests else ast.Constant(True)
    otherwise = ast.If(ast.UnaryOp(ast.Not(), ast.Name(agree)), detailed, [])
    if not targets:  # scalars only
        return [ast.If(ast.UnaryOp(ast.Not(), verdict), detailed, [])] if tests else []
    unpack = ast.Assign([targets[0] if len(targets) == 1 else ast.Tuple(targets, ast.Store())],
                        shapes[0] if len(shapes) == 1 else ast.Tuple(shapes))
    if not tests:  # one argument binds every dimension: its number of axes is all there is to check
        return [ast.Try([unpack], [ast.ExceptHandler(ast.Name("ValueError"), None, detailed)], [], [])]
    return [ast.Try([unpack, ast.Assign([ast.Name(agree, ast.Store())], verdict)],
                    [ast.ExceptHandler(ast.Name("ValueError"), None,  # an argument has another number of axes
                                       [ast.Assign([ast.Name(agree, ast.Store())], ast.Constant(False))])], [], []),
            otherwise]


def _bindings(low: Lowering, plan: Plan, dims: dict[str, str], used: set[str]) -> list[ast.stmt]:
    """The dimensions the body uses, each read off the first argument that has it, with no check."""
    body: list[ast.stmt] = []
    bound: set[str] = set()
    for arg, shape in plan.arguments:
        wanted = {i: d for i, d in enumerate(shape or ()) if isinstance(d, str) and d not in bound and dims[d] in used}
        bound |= set(wanted.values())
        x = to_ast(low.spell("shape", low.name(arg)), {})
        if len(wanted) == len(shape or ()) == len(set(wanted.values())) and wanted:  # n, d = X.shape
            body.append(ast.Assign([ast.Tuple([ast.Name(dims[d], ast.Store()) for d in shape], ast.Store())], x))
            continue
        firsts = {d: i for i, d in reversed(wanted.items())}
        body.extend(ast.Assign([ast.Name(dims[d], ast.Store())], ast.Subscript(x, ast.Constant(i)))
                    for d, i in sorted(firsts.items(), key=lambda item: item[1]))
    return body


def _detailed_checks(low: Lowering, plan: Plan, dims: dict[str, str]) -> list[ast.stmt]:
    """One assert per argument, naming it and its expected shape, binding each dimension on the way."""
    body: list[ast.stmt] = []
    bound: set[str] = set()
    for arg, shape in plan.arguments:
        if shape is None:  # a function, g or grad_g
            continue
        x = low.name(arg)
        if not shape:
            test = _compare(to_ast(low.spell("scalar_ndim", x), {}), ast.Constant(0))
            body.append(ast.Assert(test, _message(f"{arg} must be a scalar (0-D), got ", low.spell("scalar_ndim", x),
                                                  "-D")))
            continue
        fresh = [(i, d) for i, d in enumerate(shape) if isinstance(d, str) and d not in bound]
        first = {}
        for i, d in fresh:
            first.setdefault(d, i)
        if first:  # dimensions are read off this argument: its number of axes first
            ndim = low.spell("ndim", x)
            body.append(ast.Assert(_compare(to_ast(ndim, {}), ast.Constant(len(shape))),
                                   _message(f"{arg} must be {len(shape)}-D ({format_shape(shape)}), got ", ndim, "-D")))
        if len(first) == len(shape):  # n, m = X.shape
            body.append(ast.Assign([ast.Tuple([ast.Name(dims[d]) for d in shape], ast.Store())],
                                   to_ast(low.spell("shape", x), {})))
        else:
            for d, i in first.items():
                body.append(ast.Assign([ast.Name(dims[d], ast.Store())],
                                       ast.Subscript(to_ast(low.spell("shape", x), {}), ast.Constant(i))))
        bound |= set(first)
        if len(first) != len(shape):
            expected = low.shape(shape)
            body.append(ast.Assert(_compare(to_ast(low.spell("shape", x), {}), to_ast(expected, {})),
                                   _message(f"{arg} has shape ", low.spell("shape", x),
                                            f", expected {format_shape(shape)} = ", expected)))
    return body


def _compare(left: ast.expr, right: ast.expr) -> ast.expr:
    return ast.Compare(left, [ast.Eq()], [right])


def _message(*parts: "str | Term") -> ast.expr:
    values = [ast.Constant(p) if isinstance(p, str) else ast.FormattedValue(to_ast(p, {}), -1) for p in parts]
    return ast.JoinedStr(values)


def _docstring(plan: Plan) -> str:
    names = ", ".join(o.name for o in plan.outputs)
    lines = [f"{names} = {plan.name}({', '.join(a for a, _ in plan.arguments)})",
             "",
             f"Generated by matdiff ({plan.backend}) from f = {plan.expression}.", ""]
    width = max(len(o.label) for o in plan.outputs)
    for o in plan.outputs:  # a bound form (its repeated parts named) as the answer, then "where" the names
        *bindings, answer = o.text.split("\n")
        lines.append(f"{o.label.ljust(width)} = {answer}")
        lines.extend(f"{' ' * width}   {'where' if i == 0 else '     '} {line}" for i, line in enumerate(bindings))
        if o.label != "f":
            lines.append(f"{' ' * width}   ({o.layout})")
    lines.append("")
    lines.append("Shapes: " + ", ".join(f"{a}: {'function' if s is None else format_shape(s)}"
                                        for a, s in plan.arguments))
    # indented as the function body, the closing quotes on a line of their own
    return "\n".join([lines[0]] + [f"    {line}" if line else "" for line in lines[1:]]) + "\n    "


# The deepest a statement's expression may nest. A sum of k terms is a term k deep, sin(sin(...)) or
# A @ (A @ (... @ x)) too; printed whole it would take `ast.unparse` and Python's compiler k levels of
# recursion (and Python reads at most 200 nested parentheses). So a term that reaches this depth gets a
# temporary: `t0 = a1 + ... + a48`, `t1 = t0 + a49 + ...`, the same operations in the same order (the
# same floating-point result), in lines of bounded depth, linear in k. Ordinary code never nests this deep.
MAX_DEPTH = 48


def emit(plan: Plan, dims: dict[str, str], check_shapes: bool = True) -> tuple[str, set[str]]:
    """The source of the plan's function and the backend modules it uses. Lowered holding every transpose
    it asks for (`Lowering.term` reuses the code of a node's transpose)."""
    with graph_work():
        return _emit(plan, dims, check_shapes)


def _emit(plan: Plan, dims: dict[str, str], check_shapes: bool) -> tuple[str, set[str]]:
    like = next((a for a, s in plan.arguments if s), plan.arguments[0][0] if plan.arguments else None)
    low = Lowering(plan.backend, dims, like, _uses(plan.outputs))
    # Products that end (or begin) alike are computed from their shared run, once: a deep network's Hessian
    # has a product per layer, each with all the factors below it (W7 D6 W6 ⋯ D1, W6 D5 ⋯ D1), which
    # multiplied out one by one cost time and code in the square of the depth.
    everything = dict.fromkeys(node for out in plan.outputs for node in topological(out.node))
    low.splits = shared_runs(list(everything), reads_back=False)
    trivial: dict[Term, bool] = {}  # is_trivial's answers, shared by all the terms of this function
    for out in plan.outputs:  # lower in topological order: rules find their arguments already lowered
        for node in topological(out.node, lambda n: low.splits.get(n, n.args)):
            low.term(node)
    results: list[Term] = []
    for out in plan.outputs:
        code = low.term(out.node)
        if out.node.ndim == 0 and is_trivial(code, trivial) and (code.kind != "Name" or not free_variables(out.node)):
            code = low.spell("array", code, ndim=0)  # a number or a dimension becomes an array of the backend
        results.append(code)
    results = scalars.fold(low, results)  # 2 * (X.T @ t), 2 * t.sum(axis=0): the 2 once, on what they share
    results = products.regroup(low, results)  # t0 * m / t1 as t0 * (m / t1); a shared t0 / t2 formed alike
    results = products.multiply_add(low, results)  # x + y * z in one call where the backend has one
    results = patterns.standardized_values(low, results)  # layer norm's x̂ from the backend's kernel where it has one

    # which terms get a temporary: those used twice (and not trivial), and expensive ones used inside others
    inner_uses: dict[Term, int] = {}
    order: list[Term] = []
    seen: set[int] = set()
    for code in results:
        stack = [(code, False)]
        while stack:  # post-order: a term after its arguments
            term, expanded = stack.pop()
            if expanded:
                order.append(term)
            elif id(term) not in seen:
                seen.add(id(term))
                stack.append((term, True))
                stack.extend((a, False) for a in reversed(term.args))
    output_uses = {code: results.count(code) for code in results}
    for term in reversed(order):  # users before what they use; a view passes its uses on to its operand
        weight = inner_uses.get(term, 0) + output_uses.get(term, 0) if is_view(term) else 1
        for a in term.args:
            inner_uses[a] = inner_uses.get(a, 0) + weight
    inside_expensive = {t.args[0] for t in order if t.kind == "Subscript" and is_expensive(t)}
    taken = {a for a, _ in plan.arguments} | set(dims.values()) | {o.name for o in plan.outputs}
    names = Names(taken)
    temporaries: dict[Term, str] = {}
    body: list[ast.stmt] = []
    depth: dict[Term, int] = {}  # how deep the term's code is as printed, its temporaries counting 1
    for term in order:
        inner = inner_uses.get(term, 0)
        deepest = 0
        for a in term.args:
            deepest = max(deepest, depth[a])
        depth[term] = deepest + 1
        deep = inner > 0 and depth[term] >= MAX_DEPTH  # a partial sum of a long sum, every MAX_DEPTH terms
        if not deep and (is_trivial(term, trivial) or is_view(term) or inner == 0
                         or (term in inside_expensive and inner == 1)):
            continue  # outputs used nowhere else are written straight into their own line
        if deep or inner + output_uses.get(term, 0) > 1 or is_expensive(term):
            temporaries[term] = names.fresh(f"t{len(temporaries)}")
            body.append(ast.Assign([ast.Name(temporaries[term], ast.Store())], to_ast(term, temporaries)))
            depth[term] = 1
    lines = list(zip(plan.outputs, results))
    # An array the function returns besides its derivatives (a VJP's f) is written last: computed first, it
    # stays one more large array alive through the backward pass, which a practitioner's code does not keep
    # (layer norm at n = 2000, d = 512: 0.97 -> 1.00 of hand-written, from where the allocator finds memory).
    if len(lines) > 1 and lines[0][0].label == "f" and lines[0][0].node.ndim and results.count(results[0]) == 1:
        lines = lines[1:] + lines[:1]
    for out, code in lines:
        value = ast.Name(temporaries[code]) if code in temporaries else to_ast(code, temporaries)
        body.append(ast.Assign([ast.Name(out.name, ast.Store())], value))
        temporaries.setdefault(code, out.name)  # an output equal to an earlier one reuses its name
    body.append(ast.Return(ast.Tuple([ast.Name(o.name) for o in plan.outputs])))
    used = {n.id for statement in body for n in ast.walk(statement) if isinstance(n, ast.Name)}
    checks = _shape_checks(low, plan, dims, names, check_shapes, used)

    args = ast.arguments(posonlyargs=[], args=[ast.arg(a) for a, _ in plan.arguments], vararg=None,
                         kwonlyargs=[ast.arg(d) for d in plan.keyword_dims], kw_defaults=[None] * len(plan.keyword_dims),
                         kwarg=None, defaults=[])
    doc = ast.Expr(ast.Constant(_docstring(plan)))
    function = ast.FunctionDef(name=plan.name, args=args, body=[doc] + checks + body, decorator_list=[],
                               returns=None, type_comment=None)
    helpers = [ast.parse(HELPERS[h][plan.backend]).body[0] for h in sorted(low.helpers_used)]
    module = ast.Module([function] + helpers, [])  # the function first, as a reader looks for it; helpers below
    ast.fix_missing_locations(module)
    return ast.unparse(module) + "\n", low.modules_used
