"""An expression as a primitive of JAX or PyTorch whose backward pass is matdiff's backpropagation rules.

Two functions come from code generation: the value `f(<variables>)` and the rules
`(value, ∂φ/∂w1, ...) = rules(<variables>, G)` for an upstream gradient G (`matdiff.codegen`'s
`cotangent=`). Around them this module writes
- for JAX, a `jax.custom_vjp` function: the forward pass keeps the arguments, the backward pass calls the
  rules (pure jnp code: it traces under `jit`, `vmap` and sharding, and JAX can differentiate it again);
- for PyTorch, a `torch.autograd.Function`: forward, `setup_context` saving the arguments, backward calling
  the rules, written in torch operations, so that autograd goes through the backward pass itself (double
  backward, Hessian-vector products) and `torch.func.vmap` batches it.
A variable not in `wrt` is a constant: asking for its gradient is an error, never a silent zero.
This module owns the code around the two generated functions; what they compute is code generation's.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..api import Expression
from .module import Generated, docstring, fresh_names, generate, module_source, shapes_line

AUTODIFF_BACKENDS = {"custom_vjp": "jax", "autograd_function": "torch"}


def _parts(expression: Expression, wrt: Sequence[str], backend: str, name: str) -> tuple[Generated, Generated, str]:
    value_name, rules_name, cotangent = fresh_names(expression, f"_{name}_value", f"_{name}_rules", "G")
    value = generate(expression, wrt, backend, value_name, gradients=False)
    rules = generate(expression, wrt, backend, rules_name, cotangent=cotangent)
    for part in (value, rules):  # a dimension that no argument carries is refused before code is written
        part.call({a: a for a in part.arguments})
    return value, rules, cotangent


def _summary(expression: Expression, wrt: Sequence[str], rules: Generated, value: Generated, name: str,
             what: str) -> str:
    lines = [f"{name}({', '.join(value.arguments)}) = {expression.text}", "",
             f"{what}, its backward pass matdiff's backpropagation rules for an upstream gradient "
             f"{rules.arguments[-1]}:"]
    for out in rules.plan.outputs[1:]:
        *bindings, answer = out.text.split("\n")
        lines.append(f"    {out.label} = {answer}")
        lines.extend(f"        {'where' if i == 0 else '     '} {line}" for i, line in enumerate(bindings))
    constants = [a for a in value.arguments if a not in wrt]
    lines += ["", f"Shapes: {shapes_line(value.plan.arguments)}."]
    if constants:
        lines.append(f"Differentiable by {', '.join(wrt)}; {', '.join(constants)} "
                     f"{'is a constant' if len(constants) == 1 else 'are constants'} (asking for "
                     f"{'its' if len(constants) == 1 else 'their'} gradient is an error).")
    return "\n".join(lines)


def _refusal(constants: list[str], wrt: Sequence[str], name: str) -> str:
    return (f"{name} has backpropagation rules for {', '.join(wrt)} only; a gradient by "
            f"{' or '.join(constants)} was asked for: add it to wrt")


def custom_vjp_source(expression: Expression, wrt: Sequence[str], name: str = "f") -> str:
    """Python source of `name`, a `jax.custom_vjp` function of the variables with matdiff's rules as backward."""
    value, rules, cotangent = _parts(expression, wrt, "jax", name)
    arguments = value.arguments
    fwd, bwd, residuals, results = fresh_names(expression, f"_{name}_fwd", f"_{name}_bwd", "residuals", "rules")
    constants = [a for a in arguments if a not in wrt]
    signature = ", ".join(arguments)
    comma = "," if len(arguments) == 1 else ""  # a tuple of one
    unpack = signature + comma
    same = {a: a for a in arguments}
    index = {w: 1 + i for i, w in enumerate(wrt)}
    cotangents = ", ".join(f"{results}[{index[a]}]" if a in wrt else "None" for a in arguments)
    refusal = ""
    if constants:
        test = " or ".join(f"{a}.perturbed" for a in constants)
        refusal = f"    if {test}:\n        raise ValueError({_refusal(constants, wrt, name)!r})\n"
    tail = (f"@jax.custom_vjp\n"
            f"def {name}({signature}):\n"
            + docstring(_summary(expression, wrt, rules, value, name, "A jax.custom_vjp function"))
            + f"    return {value.call(same)}[0]\n\n\n"
            f"def {fwd}({signature}):\n"
            f"    # symbolic_zeros: each argument comes as .value and .perturbed (is a gradient by it asked?)\n"
            + refusal
            + f"    {unpack} = {', '.join(f'{a}.value' for a in arguments)}{comma}\n"
            f"    return {value.call(same)}[0], ({unpack})\n\n\n"
            f"def {bwd}({residuals}, {cotangent}):\n"
            f"    {unpack} = {residuals}\n"
            f"    {results} = {rules.call(dict(same, **{cotangent: cotangent}))}\n"
            f"    return ({cotangents}{comma})\n\n\n"
            f"{name}.defvjp({fwd}, {bwd}, symbolic_zeros=True)\n")
    return module_source("jax", [value, rules], tail, f"{name}: {expression.text}, with matdiff's backward pass "
                         f"for {', '.join(wrt)} (jax.custom_vjp). Generated by matdiff.", always=("jax",))


def autograd_function_source(expression: Expression, wrt: Sequence[str], name: str = "f") -> str:
    """Python source of `name`, a function of the variables applying a `torch.autograd.Function` whose backward
    is matdiff's rules."""
    value, rules, cotangent = _parts(expression, wrt, "torch", name)
    arguments = value.arguments
    title = "".join(part.capitalize() for part in name.split("_")) or "F"
    cls, tensors, ctx, inputs, output, results, values, like = fresh_names(
        expression, f"_{title}Function", "_tensors", "ctx", "inputs", "output", "rules", "values", "like")
    constants = [a for a in arguments if a not in wrt]
    signature = ", ".join(arguments)
    unpack = f"{signature}{',' if len(arguments) == 1 else ''}"
    same = {a: a for a in arguments}
    index = {w: 1 + i for i, w in enumerate(wrt)}
    gradients = ", ".join(f"{results}[{index[a]}]" if a in wrt else "None" for a in arguments)
    refusal = ""
    if constants:
        test = " or ".join(f"{ctx}.needs_input_grad[{arguments.index(a)}]" for a in constants)
        refusal = f"        if {test}:\n            raise ValueError({_refusal(constants, wrt, name)!r})\n"
    tail = (f"def {tensors}(*{values}):\n"
            f'    """Numbers as tensors of the first tensor\'s dtype and device (the generated code reads .ndim)."""\n'
            f"    {like} = next((v for v in {values} if isinstance(v, torch.Tensor)), None)\n"
            f"    if {like} is None:\n"
            f"        return tuple(torch.as_tensor(v) for v in {values})\n"
            f"    return tuple(v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype={like}.dtype, "
            f"device={like}.device)\n"
            f"                 for v in {values})\n\n\n"
            f"class {cls}(torch.autograd.Function):\n"
            + docstring(f"{expression.text}, with matdiff's backward pass for {', '.join(wrt)}.") + "\n"
            f"    generate_vmap_rule = True  # torch.func.vmap batches forward and backward as they are written\n\n"
            f"    @staticmethod\n"
            f"    def forward({signature}):\n"
            f"        return {value.call(same)}[0]\n\n"
            f"    @staticmethod\n"
            f"    def setup_context({ctx}, {inputs}, {output}):\n"
            f"        {ctx}.save_for_backward(*{inputs})\n\n"
            f"    @staticmethod\n"
            f"    def backward({ctx}, {cotangent}):\n"
            + refusal
            + f"        {unpack} = {ctx}.saved_tensors\n"
            f"        # torch operations throughout: autograd differentiates this backward pass again\n"
            f"        {results} = {rules.call(dict(same, **{cotangent: cotangent}))}\n"
            f"        return {gradients}\n\n\n"
            f"def {name}({signature}):\n"
            + docstring(_summary(expression, wrt, rules, value, name,
                                 f"Applies {cls}, a torch.autograd.Function"))
            + f"    {unpack} = {tensors}({signature})\n"
            f"    return {cls}.apply({signature})\n")
    return module_source("torch", [value, rules], tail, f"{name}: {expression.text}, with matdiff's backward pass "
                         f"for {', '.join(wrt)} (torch.autograd.Function). Generated by matdiff.", always=("torch",))
