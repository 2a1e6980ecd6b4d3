"""A module of generated code: the functions code generation writes, the code around them, one source.

`prepared` reads the expression and the variables to differentiate by; `generate` writes one function with
code generation (`matdiff.codegen`); `module_source` puts several of them, their imports and the code that
uses them into one Python source; `run` executes that source in a namespace of its own. This module owns
the assembly; what each function computes is code generation's, what surrounds it the caller's.
"""
from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..api import Expression, parse, parse_block
from ..codegen import execute
from ..codegen.backends import MODULES
from ..codegen.function import Output, Plan, emit, make_plan
from ..codegen.terms import Names
from ..dims import VarSpec, format_shape
from ..errors import DeclarationError, MatdiffError, NotSupportedError, UnknownNameError


def prepared(expr: "str | Expression", wrt: "str | Sequence[str]", where: Any) -> tuple[Expression, list[str]]:
    """The expression, with each `wrt` variable an unstructured array, and the names of the `wrt` variables.

    JAX, PyTorch and SciPy perturb every entry of an array independently, so a variable differentiated by
    is read without its sym/spd declaration: its rules are those of a general matrix (at a symmetric point
    they give the same values), and differentiating them again stays right.
    """
    expression = expr if isinstance(expr, Expression) and where is None else parse(expr, where)
    names = [wrt] if isinstance(wrt, str) else list(wrt) if isinstance(wrt, (list, tuple)) else None
    if not names or not all(isinstance(w, str) for w in names):
        raise UnknownNameError(f"give the variables to differentiate by as a name or a list of names, not {wrt!r}")
    if len(set(names)) != len(names):
        raise DeclarationError(f"a variable is listed twice in wrt={names}")
    variables = expression.variables
    for w in names:
        if w not in variables:
            raise UnknownNameError(f"cannot differentiate by {w!r}: not declared (declared: "
                                   f"{', '.join(variables) or 'none'})")
        if variables[w].is_function:
            raise NotSupportedError(f"{w} is a declared function; differentiate by a variable")
    functions = [v for v, spec in variables.items() if spec.is_function]
    if functions:
        raise NotSupportedError(f"{', '.join(functions)}: declared as a function; these exports take arrays "
                                "only, write the function out (tanh(X @ W), ...)")
    if any(variables[w].symmetric for w in names):
        unstructured = {v: VarSpec(v, spec.shape, spec.properties - {"sym", "spd"}) if v in names else spec
                        for v, spec in variables.items()}
        expression = parse_block(expression.bound_text, unstructured)
    return expression, names


@dataclass
class Generated:
    """One generated function: its plan (arguments, outputs) and its source (helpers, then the function)."""

    plan: Plan
    source: str
    modules: set[str]

    @property
    def arguments(self) -> list[str]:
        return [a for a, _ in self.plan.arguments]

    def call(self, value_of: "dict[str, str]", sizes: str | None = None) -> str:
        """The text of a call, each argument's code given by `value_of`; a dimension no argument carries is
        passed by keyword from the dictionary named `sizes`."""
        keywords = [f"{d}={sizes}[{d!r}]" for d in self.plan.keyword_dims]
        if keywords and sizes is None:
            raise NotSupportedError(f"the dimension {', '.join(self.plan.keyword_dims)} is the size of no "
                                    "argument; declare a variable that has it")
        return f"{self.plan.name}({', '.join([value_of[a] for a in self.arguments] + keywords)})"


def generate(expression: Expression, wrt: Sequence[str], backend: str, name: str, *, hessian: bool = False,
             cotangent: str | None = None, gradients: bool = True) -> Generated:
    """Code generation's function for the expression (see `matdiff.codegen.codegen`), with its plan."""
    plan, dims = make_plan(expression, list(wrt), None, backend, hessian, cotangent, name, "none", gradients)
    source, modules = emit(plan, dims)
    return Generated(plan, source, modules)


def generate_outputs(parts: Sequence[tuple[str, str, Expression, Sequence[str], str]], order: Sequence[str],
                     backend: str, name: str, expression_text: str) -> Generated:
    """One function returning several expressions, so that what they share (a factorisation, a product) is
    computed once: each part is (output name, label, expression, variables kept as arguments, layout); the
    arguments are the variables any part uses, in `order`. Code generation plans each part alone; the plans
    are merged here into one."""
    plans = [make_plan(expression, list(keep), None, backend, False, None, name, "none", False)
             for _, _, expression, keep, _ in parts]
    used = {a for plan, _ in plans for a, _ in plan.arguments}
    shapes = {a: shape for plan, _ in plans for a, shape in plan.arguments}
    arguments = [(a, shapes[a]) for a in order if a in used]
    local = Names(a for a, _ in arguments)
    outputs = [Output(local.fresh(wanted), label, plan.outputs[0].node, expression.shown("text"), layout)
               for (wanted, label, expression, _, layout), (plan, _) in zip(parts, plans)]
    symbols = dict.fromkeys(s for _, dims in plans for s in dims)
    dims = {s: local.fresh(s) for s in symbols}
    bound = {d for _, shape in arguments for d in shape or () if isinstance(d, str)}  # read off the shapes
    keyword_dims = [dims[s] for s in dims if s not in bound]
    plan = Plan(name, backend, arguments, keyword_dims, outputs, expression_text)
    source, modules = emit(plan, dims)
    return Generated(plan, source, modules)


def fresh_names(expression: Expression, *wanted: str) -> list[str]:
    """Names for the code around the generated functions that clash with no variable, dimension or module."""
    names = Names(expression._taken_names())
    return [names.fresh(w) for w in wanted]


def shapes_line(arguments: Iterable[tuple[str, Any]]) -> str:
    return ", ".join(f"{a}: {format_shape(s)}" for a, s in arguments)


def docstring(text: str, indent: str = "    ") -> str:
    """A triple-quoted docstring of the lines of `text`, indented for a body (text of the language, never
    code: backslashes and triple quotes are escaped)."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.split("\n")
    body = "\n".join([lines[0]] + [f"{indent}{line}" if line else "" for line in lines[1:]])
    return f'{indent}"""{body}\n{indent}"""\n' if len(lines) > 1 else f'{indent}"""{body}"""\n'


def module_source(backend: str, parts: Sequence[Generated], tail: str, doc: str, always: Iterable[str] = ()) -> str:
    """One module: its docstring, the imports used, each generated function (a helper written once), the tail."""
    used = set(always).union(*(p.modules for p in parts))
    imports = [f"import {module}" if alias == module else f"import {module} as {alias}"
               for alias, module in MODULES[backend] if alias in used]
    definitions: list[str] = []
    seen: set[str] = set()
    for part in parts:
        for statement in ast.parse(part.source).body:
            name = getattr(statement, "name", None)
            if name in seen:
                continue  # a helper two functions use (_plus_transpose) is written once
            seen.add(name)
            definitions.append(ast.unparse(statement))
    header = docstring(doc, "").rstrip("\n")
    return "\n\n\n".join([header + "\n" + "\n".join(imports)] + definitions + [tail.strip("\n")]) + "\n"


def run(source: str, backend: str, keep: str) -> Any:
    """`keep` from the namespace our own generated source leaves (`codegen.execute`: its lines shown in
    tracebacks while `keep` lives)."""
    namespace: dict[str, Any] = {"__name__": f"matdiff_generated_{backend}"}
    try:
        return execute(source, namespace, f"interop-{backend}", keep)
    except ImportError as exc:
        raise MatdiffError(f"the generated code needs {exc.name or 'a module'}, which is not installed ({exc})") \
            from None
