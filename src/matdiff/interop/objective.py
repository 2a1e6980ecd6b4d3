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
from .module import docstring, fresh_names, generate, generate_outputs, module_source


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


def _hessian_parts(expression: Expression, wrt: Sequence[str], name: str):
    """(the Hessian's blocks above the diagonal as one function, [(a, b, in vec form?)], the Hessian-vector
    product as one function, the directions' names, why not), each function computing what its parts share once."""
    specs = expression.variables
    directions = dict(zip(wrt, fresh_names(expression, *(f"v_{w}" for w in wrt))))
    variables = dict(specs, **{directions[w]: VarSpec(directions[w], specs[w].shape) for w in wrt})
    hessian_name, product_name = fresh_names(expression, f"_{name}_hessian", f"_{name}_hvp")
    try:
        blocks, layout = [], []
        for i, a in enumerate(wrt):
            for b in wrt[i:]:
                block = derivative(expression, [a, b], symmetric="none")
                # a and b stay arguments: a constant block (2 eye(n)) takes its dtype from one
                blocks.append((f"hess_{a}_{b}", f"∂²f/∂{a}∂{b}", block, [a, b] if a != b else [a], block.layout))
                layout.append((a, b, block.is_vec_form))
        hessian = generate_outputs(blocks, list(specs), "numpy", hessian_name, expression.text)
        products = []
        for a in wrt:
            gradient = pullback(expression.node, var_from_spec(specs[a]))
            product = add(*(differential(gradient, var_from_spec(specs[b]), var_from_spec(variables[directions[b]]))
                            for b in wrt))
            products.append((f"hvp_{a}", f"(H v)_{a}", Expression(product, variables), [a, directions[a]],
                             f"the Hessian times v = ({', '.join(directions.values())}), the part of {a}"))
        product = generate_outputs(products, list(variables), "numpy", product_name, expression.text)
    except MatdiffError as exc:
        return None, [], None, directions, str(exc)
    return hessian, layout, product, directions, ""


def objective_source(expression: Expression, wrt: Sequence[str], name: str = "Objective",
                     hessian: bool = True) -> str:
    """Python source of the class `name`: Objective(<data>, **sizes) with fun, jac, hess, hessp of the flat x."""
    if expression.node.shape:
        raise NotSupportedError(f"an objective is a scalar function; this one is {format_shape(expression.node.shape)}")
    stem = name.lower()
    gradient_name, row_major = fresh_names(expression, f"_{stem}_gradient", "_row_major")
    gradient = generate(expression, wrt, "numpy", gradient_name)
    hessian_function, layout, product, directions, why = _hessian_parts(expression, wrt, stem) if hessian else \
        (None, [], None, {}, "the objective was made with hessian=False")
    specs = expression.variables
    data = [a for a in gradient.arguments if a not in wrt]
    values = {a: f"v[{a!r}]" for a in list(specs) + list(directions.values())}

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
    if hessian_function is not None:
        lines.append("        v = dict(self.data, **self.unflatten(x))")
        lines.append("        s = self.shapes")
        lines.append(f"        blocks = {hessian_function.call(values, 'self.sizes')}")
        grid = {}
        for k, (a, b, vec_form) in enumerate(layout):
            local = f"h_{wrt.index(a)}_{wrt.index(b)}"
            shape = f"(int(np.prod(s[{a!r}])), int(np.prod(s[{b!r}])))"
            lines.append(f"        {local} = " + (f"{row_major}(blocks[{k}], s[{a!r}], s[{b!r}])" if vec_form
                                                   else f"np.reshape(blocks[{k}], {shape})"))
            grid[b, a] = f"{local}.T"  # the Hessian is symmetric: a block below the diagonal is one above
            grid[a, b] = local
        rows = ", ".join("[" + ", ".join(grid[a, b] for b in wrt) + "]" for a in wrt)
        lines.append(f"        return np.block([{rows}])\n")
    else:
        lines.append(f"        raise NotImplementedError({('no Hessian: ' + why)!r})\n")
    lines.append("    def hessp(self, x, p):")
    if product is not None:
        lines.append("        v = dict(self.data, **self.unflatten(x))")
        lines.append("        direction = self.unflatten(p)")
        lines.append("        v.update({" + ", ".join(f"{directions[w]!r}: direction[{w!r}]" for w in wrt) + "})")
        lines.append(f"        return np.concatenate([np.ravel(part) for part in "
                     f"{product.call(values, 'self.sizes')}])\n")
    else:
        lines.append(f"        raise NotImplementedError({('no Hessian-vector product: ' + why)!r})\n")

    helper = (f"def {row_major}(block, rows, columns):\n"
              f'    """A block d vec(∂f/∂a) / d vec(b) (column-major vec) in the row-major order of x."""\n'
              f"    block = np.reshape(block, tuple(rows)[::-1] + tuple(columns)[::-1])\n"
              f"    r, c = len(rows), len(columns)\n"
              f"    block = block.transpose(list(range(r))[::-1] + [r + i for i in range(c)][::-1])\n"
              f"    return block.reshape(int(np.prod(rows)), int(np.prod(columns)))\n\n\n")
    tail = (helper if any(vec_form for *_, vec_form in layout) else "") + "\n".join(lines)
    parts = [gradient] + [f for f in (hessian_function, product) if f is not None]
    return module_source("numpy", parts, tail,
                         f"{name}: f = {expression.text} for scipy.optimize.minimize, its derivatives matdiff's. "
                         f"Generated by matdiff.", always=("np",))
