"""A scalar expression as an objective for `scipy.optimize.minimize`: fun, jac, hess and hessp of a flat vector.

The variables optimised (`wrt`) are one vector x: each flattened row-major (NumPy's `ravel`), concatenated
in the order of `wrt`; the other variables are data, given once. The generated NumPy module holds
- the value and the gradients, one function (`matdiff.codegen` with the variables of `wrt`);
- a block of the Hessian for each pair of `wrt` variables, d vec(∂f/∂a) / d vec(b) as `matdiff.derivative`
  gives it (blocks below the diagonal are the transposes of those above), turned to the row-major order;
- a Hessian-vector product per variable: the directional derivative of its gradient along the direction
  (forward mode on the gradient's graph, `calculus.differential`), never forming the Hessian;
- `Objective(<data>, **sizes)`, the class that flattens, caches the value and gradient of the last x, and
  assembles the blocks. `matdiff.objective` runs this source and returns the class made with the data.
This module owns the objective's source; derivatives are the calculus', code is code generation's.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..api import Expression, derivative
from ..calculus import differential, pullback
from ..dims import DimProduct, VarSpec, dim_symbols, format_shape
from ..errors import MatdiffError, NotSupportedError
from ..ops import add, var_from_spec
from .module import Generated, docstring, fresh_names, generate, module_source


def _size_code(shape, sizes: str) -> str:
    """The text of a shape tuple, each dimension read from the dictionary named `sizes`."""
    def one(d) -> str:
        if isinstance(d, int):
            return repr(d)
        if isinstance(d, DimProduct):
            factors = [f"{sizes}[{s!r}]" for s in d.symbols]
            return " * ".join(([repr(d.coefficient)] if d.coefficient != 1 else []) + factors)
        return f"{sizes}[{d!r}]"
    parts = [one(d) for d in shape]
    return f"({', '.join(parts)}{',' if len(parts) == 1 else ''})"


def _hessian_parts(expression: Expression, wrt: Sequence[str], name: str) -> tuple[list, list[Generated], str]:
    """The blocks above the diagonal (a, b, generated, in vec form?) and the Hessian-vector products, or why not."""
    blocks, products = [], []
    try:
        for i, a in enumerate(wrt):
            for b in wrt[i:]:
                block = derivative(expression, [a, b], symmetric="none")
                fn, = fresh_names(expression, f"_{name}_hessian_{a}_{b}")
                # a and b stay arguments: a constant block (2 eye(n)) takes its dtype from one
                blocks.append((a, b, generate(block, [a, b] if a != b else [a], "numpy", fn, gradients=False),
                               block.is_vec_form))
        specs = expression.variables
        directions = dict(zip(wrt, fresh_names(expression, *(f"v_{w}" for w in wrt))))
        variables = dict(specs, **{directions[w]: VarSpec(directions[w], specs[w].shape) for w in wrt})
        for a in wrt:
            gradient = pullback(expression.node, var_from_spec(specs[a]))
            product = add(*(differential(gradient, var_from_spec(specs[b]), var_from_spec(variables[directions[b]]))
                            for b in wrt))
            fn, = fresh_names(expression, f"_{name}_hvp_{a}")
            products.append((directions, generate(Expression(product, variables), [a, directions[a]], "numpy", fn,
                                                  gradients=False)))
    except MatdiffError as exc:
        return [], [], str(exc)
    return blocks, products, ""


def objective_source(expression: Expression, wrt: Sequence[str], name: str = "Objective",
                     hessian: bool = True) -> str:
    """Python source of the class `name`: Objective(<data>, **sizes) with fun, jac, hess, hessp of the flat x."""
    if expression.node.shape:
        raise NotSupportedError(f"an objective is a scalar function; this one is {format_shape(expression.node.shape)}")
    stem = name.lower()
    gradient_name, row_major = fresh_names(expression, f"_{stem}_gradient", "_row_major")
    gradient = generate(expression, wrt, "numpy", gradient_name)
    blocks, products, why = _hessian_parts(expression, wrt, stem) if hessian else \
        ([], [], "the objective was made with hessian=False")
    specs = expression.variables
    data = [a for a in gradient.arguments if a not in wrt]
    for _, _, part, _ in blocks:
        data += [a for a in part.arguments if a not in wrt and a not in data]
    values = {a: f"v[{a!r}]" for a in list(specs) + data}

    lines = [f"class {name}:"]
    lines.append(docstring(
        f"f = {expression.text}, over x = concatenate([{', '.join(f'ravel({w})' for w in wrt)}]) "
        f"(each row-major), for scipy.optimize.minimize.\n\n"
        f"{name}({', '.join(data + ['**sizes'])}): the data given once; `sizes` gives a dimension no data array "
        f"has.\nfun(x), jac(x), hess(x) (the full Hessian), hessp(x, p) (H p without forming H); unflatten(x) "
        f"is {{name: array}}, flatten(values) the vector.\n\n"
        f"Shapes: {', '.join(f'{v}: {format_shape(specs[v].shape)}' for v in list(wrt) + data)}."
        + (f"\nNo Hessian: {why}" if why else "")).rstrip("\n"))
    lines.append(f"    names = {tuple(wrt)!r}\n")
    lines.append(f"    def __init__(self{''.join(f', {d}' for d in data)}, **sizes):")
    lines.append("        sizes = dict(sizes)")
    for d in data:  # each dimension from the first array that has it
        for position, dim in enumerate(specs[d].shape):
            if isinstance(dim, str):
                lines.append(f"        sizes.setdefault({dim!r}, np.shape({d})[{position}])")
    needed = sorted({s for w in wrt for s in dim_symbols(specs[w].shape)})
    if needed:
        lines.append(f"        missing = [d for d in {needed!r} if d not in sizes]")
        lines.append("        if missing:")
        lines.append(f"            raise TypeError(f'{name}: give the sizes {{missing}} (no data array has them)')")
    lines.append(f"        self.data = {{{', '.join(f'{d!r}: np.asarray({d}, dtype=float)' for d in data)}}}")
    lines.append("        self.sizes = sizes")
    shapes = ", ".join(f"{w!r}: {_size_code(specs[w].shape, 'sizes')}" for w in wrt)
    lines.append(f"        self.shapes = {{{shapes}}}")
    lines.append("        self.size = sum(int(np.prod(s)) for s in self.shapes.values())")
    lines.append("        self._last = None  # (x, value, gradient): SciPy asks for fun and jac at the same x\n")
    lines.append("    def unflatten(self, x):")
    lines.append("        values, start = {}, 0")
    lines.append("        for name, shape in self.shapes.items():")
    lines.append("            size = int(np.prod(shape))")
    lines.append("            values[name] = np.asarray(x[start:start + size], dtype=float).reshape(shape)")
    lines.append("            start += size")
    lines.append("        return values\n")
    lines.append("    def flatten(self, values):")
    lines.append("        return np.concatenate([np.ravel(np.asarray(values[name], dtype=float))")
    lines.append("                               for name in self.shapes])\n")
    lines.append("    def _gradient(self, x):")
    lines.append("        x = np.asarray(x, dtype=float)")
    lines.append("        if self._last is None or not np.array_equal(self._last[0], x):")
    lines.append("            v = dict(self.data, **self.unflatten(x))")
    lines.append(f"            value, *gradients = {gradient.call(values, 'self.sizes')}")
    lines.append("            self._last = (x.copy(), float(value), np.concatenate([np.ravel(g) for g in gradients]))")
    lines.append("        return self._last\n")
    lines.append("    def fun(self, x):")
    lines.append("        return self._gradient(x)[1]\n")
    lines.append("    def jac(self, x):")
    lines.append("        return self._gradient(x)[2].copy()\n")
    lines.append("    def hess(self, x):")
    if blocks:
        lines.append("        v = dict(self.data, **self.unflatten(x))")
        lines.append("        s = self.shapes")
        grid = {}
        for a, b, part, vec_form in blocks:
            local = f"h_{wrt.index(a)}_{wrt.index(b)}"
            call = f"{part.call(values, 'self.sizes')}[0]"
            shape = f"(int(np.prod(s[{a!r}])), int(np.prod(s[{b!r}])))"
            lines.append(f"        {local} = " + (f"{row_major}({call}, s[{a!r}], s[{b!r}])" if vec_form
                                                   else f"np.reshape({call}, {shape})"))
            grid[b, a] = f"{local}.T"  # the Hessian is symmetric: a block below the diagonal is one above
            grid[a, b] = local
        rows = ", ".join("[" + ", ".join(grid[a, b] for b in wrt) + "]" for a in wrt)
        lines.append(f"        return np.block([{rows}])\n")
    else:
        lines.append(f"        raise NotImplementedError({('no Hessian: ' + why)!r})\n")
    lines.append("    def hessp(self, x, p):")
    if products:
        lines.append("        v = dict(self.data, **self.unflatten(x))")
        lines.append("        direction = self.unflatten(p)")
        directions = products[0][0]
        lines.append("        v.update({" + ", ".join(f"{directions[w]!r}: direction[{w!r}]" for w in wrt) + "})")
        lines.append("        return np.concatenate([" + ", ".join(
            f"np.ravel({part.call(values | {directions[w]: f'v[{directions[w]!r}]' for w in wrt}, 'self.sizes')}[0])"
            for _, part in products) + "])\n")
    else:
        lines.append(f"        raise NotImplementedError({('no Hessian-vector product: ' + why)!r})\n")

    helper = (f"def {row_major}(block, rows, columns):\n"
              f'    """A block d vec(∂f/∂a) / d vec(b) (column-major vec) in the row-major order of x."""\n'
              f"    block = np.reshape(block, tuple(rows)[::-1] + tuple(columns)[::-1])\n"
              f"    r, c = len(rows), len(columns)\n"
              f"    block = block.transpose(list(range(r))[::-1] + [r + i for i in range(c)][::-1])\n"
              f"    return block.reshape(int(np.prod(rows)), int(np.prod(columns)))\n\n\n")
    tail = (helper if any(vec_form for *_, vec_form in blocks) else "") + "\n".join(lines)
    return module_source("numpy", [gradient] + [b[2] for b in blocks] + [p for _, p in products], tail,
                         f"{name}: f = {expression.text} for scipy.optimize.minimize, its derivatives matdiff's. "
                         f"Generated by matdiff.", always=("np",))
