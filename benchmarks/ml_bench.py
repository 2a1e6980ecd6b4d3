"""ML workloads: generated code against hand-written NumPy, jax.jit autodiff, torch autograd and torch.compile.

    python benchmarks/ml_bench.py            # n = 16, 256, 2000 (and the 10⁴×10³ logistic HVP); torch.compile too
    python benchmarks/ml_bench.py --quick    # the same sizes, shorter timing budgets, no torch.compile

The second edition's workloads, each a gradient, a backpropagation rule (VJP, with an upstream gradient
G) or a Hessian-vector product (HVP, along a direction V, never forming the Hessian):

    layer norm         gamma * (X - mean(X, 1)) / sqrt(var(X, 1) + 1e-5) + beta        VJP by X, gamma, beta
    GELU MLP           norm2(gelu(X @ W1) @ W2 - Y) ** 2                                gradient by W1, W2
    ReLU MLP           norm2(relu(X @ W1 + b1) @ W2 - Y) ** 2                           gradient by W1, b1, W2
    softmax CE         -sum(Y * log_softmax(X @ W, axis=1))                             gradient by W
    attention          softmax(c * Q @ K.T, axis=1) @ V                                 VJP by Q, K, V
    logistic HVP       sum(softplus(X @ w)) - y @ X @ w                                 H v by w
    MLP HVP            norm2(tanh(X @ W1 + b1) @ W2 - Y) ** 2                           H V by W1

at n = 16, 256 and 2000 rows (the other sizes in each table row). The contestants, every one checked
against hand-written NumPy before anything is timed:
- matdiff's generated NumPy code (`md.compile`, or `md.compile(md.hvp(...))`) against the same
  computation written by hand as a practitioner writes a backward pass (`scipy.special` where NumPy
  lacks a function), in alternating rounds, with its shape check and without (`check_shapes=False`:
  hand-written code checks nothing, and at n = 16 the check is a few per cent of a call);
- matdiff's generated JAX code under `jax.jit` against `jax.jit(jax.value_and_grad)`, `jax.vjp` or
  `jax.jvp(jax.grad(f))`, alternating; and matdiff's NumPy code against the same JAX;
- matdiff's generated PyTorch code against torch autograd (eager: the forward pass, then
  `torch.autograd.grad`, twice for an HVP), alternating; for layer norm also against the fused
  `torch.nn.functional.layer_norm`, and (not --quick) against `torch.compile` of the autograd function
  (not for the HVPs: a compiled graph has no double backward).
Everything is float64 with one thread per framework (`run_all.py` pins them; see codegen_bench.py for
the timing method, which this benchmark shares). Ratios are peer time / matdiff time: above 1 matdiff is
faster. Goals (#18) are printed, never asserted; `benchmarks/results.json` gets the section "ml_bench".
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import codegen_bench as cb  # noqa: I001 - pins every framework's threads before NumPy loads
from codegen_bench import np, md, race, compare, spread, record, RESULTS, CLOCKS, THREADS, PINNED, _agree, _ms

import scipy.special  # noqa: E402

INV_SQRT_2PI = 0.3989422804014327
EPS = 1e-5

# ---- the workloads -----------------------------------------------------------------------------------------


@dataclass
class Workload:
    """A function, what is asked of it, and the same computation by hand in NumPy, JAX and PyTorch."""

    name: str
    expr: str
    shapes: str
    wrt: list[str]
    quantity: str  # "gradient", "vjp" (cotangent G) or "hvp" (direction V, one variable)
    sizes: list[dict]  # n = 16, 256, 2000 and the other dimensions
    values: Callable[[dict, np.random.Generator], dict]
    numpy: Callable  # (**values) -> (value, derivatives...) as matdiff's function returns them
    jax_f: Callable  # (jnp, jax) -> f(**variables) for JAX's autodiff
    torch_f: Callable  # (torch) -> f(**variables) for torch autograd
    fused: dict[str, Callable] = field(default_factory=dict)  # name -> (torch) -> f(**variables), a library kernel
    full_sizes: list[dict] = field(default_factory=list)  # sizes run without --quick only


def _normal(rng, *shape, scale=1.0):
    return rng.normal(scale=scale, size=shape)


def layernorm_numpy(X, gamma, beta, G):
    mu = X.mean(axis=1, keepdims=True)
    xc = X - mu
    sigma = np.sqrt(np.mean(xc * xc, axis=1, keepdims=True) + EPS)
    xhat = xc / sigma
    gh = G * gamma
    dX = (gh - gh.mean(axis=1, keepdims=True) - xhat * np.mean(gh * xhat, axis=1, keepdims=True)) / sigma
    return gamma * xhat + beta, dX, np.sum(G * xhat, axis=0), G.sum(axis=0)


def gelu_mlp_numpy(X, W1, W2, Y):
    z = X @ W1
    cdf = scipy.special.ndtr(z)
    h = z * cdf
    r = h @ W2 - Y
    g = 2.0 * r
    gz = (g @ W2.T) * (cdf + INV_SQRT_2PI * z * np.exp(-0.5 * z * z))
    return np.vdot(r, r), X.T @ gz, h.T @ g


def relu_mlp_numpy(X, W1, b1, W2, Y):
    z = X @ W1 + b1
    h = np.maximum(z, 0.0)
    r = h @ W2 - Y
    g = 2.0 * r
    gz = (g @ W2.T) * (z > 0)
    return np.vdot(r, r), X.T @ gz, gz.sum(axis=0), h.T @ g


def softmax_ce_numpy(X, W, Y):
    z = X @ W
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.vdot(Y, log_p), X.T @ (np.exp(log_p) * Y.sum(axis=1, keepdims=True) - Y)


def attention_numpy(Q, K, V, c, G):
    s = c * (Q @ K.T)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dp = G @ V.T
    ds = p * (dp - np.sum(dp * p, axis=1, keepdims=True))
    return p @ V, c * (ds @ K), c * (ds.T @ Q), p.T @ G


def logistic_hvp_numpy(X, w, y, v):
    s = scipy.special.expit(X @ w)
    return (X.T @ (s * (1.0 - s) * (X @ v)),)


def mlp_hvp_numpy(X, W1, b1, W2, Y, V):
    h = np.tanh(X @ W1 + b1)
    s = 1.0 - h * h
    r = h @ W2 - Y
    dh = s * (X @ V)
    return (X.T @ (2.0 * (((dh @ W2) @ W2.T) * s - 2.0 * ((r @ W2.T) * h * dh))),)


def _layernorm(lib, var):
    return lambda X, gamma, beta: gamma * (X - X.mean(1, keepdims=True)) / lib.sqrt(var(X) + EPS) + beta


def workloads() -> list[Workload]:
    mlp_shapes = "X: n×d, W1: d×h, W2: h×k, Y: n×k"
    mlp_sizes = [dict(n=16, d=16, h=16, k=4), dict(n=256, d=64, h=64, k=10), dict(n=2000, d=256, h=256, k=10)]

    def mlp_values(s, rng, bias=False):
        values = dict(X=_normal(rng, s["n"], s["d"]), W1=_normal(rng, s["d"], s["h"], scale=s["d"] ** -0.5),
                      W2=_normal(rng, s["h"], s["k"], scale=s["h"] ** -0.5), Y=_normal(rng, s["n"], s["k"]))
        if bias:
            values["b1"] = _normal(rng, s["h"], scale=0.1)
        return values

    def rows_of(rng, n, k):  # soft targets: rows of Y sum to 1
        return scipy.special.softmax(_normal(rng, n, k), axis=1)

    return [
        Workload("layer norm", "gamma * (X - mean(X, axis=1, keepdims=True)) / sqrt(var(X, axis=1, keepdims=True) "
                 "+ 1e-5) + beta", "X: n×d, gamma: d, beta: d", ["X", "gamma", "beta"], "vjp",
                 [dict(n=16, d=16), dict(n=256, d=256), dict(n=2000, d=512)],
                 lambda s, rng: dict(X=_normal(rng, s["n"], s["d"]), gamma=1.0 + _normal(rng, s["d"], scale=0.1),
                                     beta=_normal(rng, s["d"], scale=0.1), G=_normal(rng, s["n"], s["d"])),
                 layernorm_numpy,
                 lambda jnp, jax: _layernorm(jnp, lambda X: X.var(1, keepdims=True)),
                 lambda torch: _layernorm(torch, lambda X: X.var(1, keepdim=True, correction=0)),
                 fused={"torch F.layer_norm": lambda torch: (
                     lambda X, gamma, beta: torch.nn.functional.layer_norm(X, X.shape[-1:], gamma, beta, EPS))}),
        Workload("GELU MLP", "norm2(gelu(X @ W1) @ W2 - Y) ** 2", mlp_shapes, ["W1", "W2"], "gradient", mlp_sizes,
                 mlp_values, gelu_mlp_numpy,
                 lambda jnp, jax: (lambda X, W1, W2, Y: jnp.sum((jax.nn.gelu(X @ W1, approximate=False) @ W2 - Y) ** 2)),
                 lambda torch: (lambda X, W1, W2, Y: torch.sum((torch.nn.functional.gelu(X @ W1) @ W2 - Y) ** 2))),
        Workload("ReLU MLP", "norm2(relu(X @ W1 + b1) @ W2 - Y) ** 2", "X: n×d, W1: d×h, b1: h, W2: h×k, Y: n×k",
                 ["W1", "b1", "W2"], "gradient", mlp_sizes, lambda s, rng: mlp_values(s, rng, bias=True),
                 relu_mlp_numpy,
                 lambda jnp, jax: (lambda X, W1, b1, W2, Y: jnp.sum((jax.nn.relu(X @ W1 + b1) @ W2 - Y) ** 2)),
                 lambda torch: (lambda X, W1, b1, W2, Y: torch.sum((torch.relu(X @ W1 + b1) @ W2 - Y) ** 2))),
        Workload("softmax CE", "-sum(Y * log_softmax(X @ W, axis=1))", "X: n×d, W: d×k, Y: n×k", ["W"], "gradient",
                 [dict(n=16, d=16, k=4), dict(n=256, d=64, k=10), dict(n=2000, d=256, k=100)],
                 lambda s, rng: dict(X=_normal(rng, s["n"], s["d"]), W=_normal(rng, s["d"], s["k"], scale=s["d"] ** -0.5),
                                     Y=rows_of(rng, s["n"], s["k"])),
                 softmax_ce_numpy,
                 lambda jnp, jax: (lambda X, W, Y: -jnp.sum(Y * jax.nn.log_softmax(X @ W, axis=1))),
                 lambda torch: (lambda X, W, Y: -torch.sum(Y * torch.log_softmax(X @ W, dim=1)))),
        Workload("attention", "softmax(c * Q @ K.T, axis=1) @ V", "Q: n×e, K: n×e, V: n×e, c: scalar",
                 ["Q", "K", "V"], "vjp", [dict(n=16, e=8), dict(n=256, e=32), dict(n=2000, e=64)],
                 lambda s, rng: dict(Q=_normal(rng, s["n"], s["e"]), K=_normal(rng, s["n"], s["e"]),
                                     V=_normal(rng, s["n"], s["e"]), c=np.float64(s["e"] ** -0.5),
                                     G=_normal(rng, s["n"], s["e"])),
                 attention_numpy,
                 lambda jnp, jax: (lambda Q, K, V, c: jax.nn.softmax(c * Q @ K.T, axis=1) @ V),
                 lambda torch: (lambda Q, K, V, c: torch.softmax(c * Q @ K.T, dim=1) @ V)),
        Workload("logistic HVP", "sum(softplus(X @ w)) - y @ X @ w", "X: n×d, w: d, y: n", ["w"], "hvp",
                 [dict(n=16, d=8), dict(n=256, d=64), dict(n=2000, d=500)],
                 lambda s, rng: dict(X=_normal(rng, s["n"], s["d"]), w=_normal(rng, s["d"], scale=s["d"] ** -0.5),
                                     y=rng.uniform(size=s["n"]), v=_normal(rng, s["d"])),
                 logistic_hvp_numpy,
                 lambda jnp, jax: (lambda X, w, y: jnp.sum(jax.nn.softplus(X @ w)) - y @ (X @ w)),
                 lambda torch: (lambda X, w, y: torch.sum(torch.nn.functional.softplus(X @ w)) - y @ (X @ w)),
                 full_sizes=[dict(n=10000, d=1000)]),
        Workload("MLP HVP", "norm2(tanh(X @ W1 + b1) @ W2 - Y) ** 2", "X: n×d, W1: d×h, b1: h, W2: h×k, Y: n×k",
                 ["W1"], "hvp", mlp_sizes,
                 lambda s, rng: dict(mlp_values(s, rng, bias=True), V=_normal(rng, s["d"], s["h"])),
                 mlp_hvp_numpy,
                 lambda jnp, jax: (lambda X, W1, b1, W2, Y: jnp.sum((jnp.tanh(X @ W1 + b1) @ W2 - Y) ** 2)),
                 lambda torch: (lambda X, W1, b1, W2, Y: torch.sum((torch.tanh(X @ W1 + b1) @ W2 - Y) ** 2))),
    ]


# ---- the contestants of one workload at one size -------------------------------------------------------------

BLOCKS = (("matdiff numpy", "hand-written", "matdiff unchecked"), ("matdiff jax", "jax"), ("matdiff torch", "torch autograd"),
          ("torch compile",), ("torch F.layer_norm",))
PAIRS = [("matdiff numpy", "hand-written"), ("matdiff unchecked", "hand-written"), ("matdiff jax", "jax"),
         ("matdiff numpy", "jax"),
         ("matdiff torch", "torch autograd"), ("matdiff torch", "torch compile"), ("matdiff torch", "torch F.layer_norm")]
HEADS = ("hand/np", "hand/unchecked", "jax/jax", "jax/np", "autograd/torch", "compile/torch", "fused/torch")


def _generated(w: Workload, backend: str, direction: str, check_shapes: bool = True):
    """matdiff's function for the workload and its argument names (the declared variables, then G or the
    direction)."""
    if w.quantity == "hvp":
        function = md.compile(md.hvp(w.expr, w.wrt[0], w.shapes, direction=direction), backend=backend,
                              gradients=False, check_shapes=check_shapes)
    elif w.quantity == "vjp":
        function = md.compile(w.expr, w.wrt, w.shapes, backend=backend, cotangent="G", check_shapes=check_shapes)
    else:
        function = md.compile(w.expr, w.wrt, w.shapes, backend=backend, check_shapes=check_shapes)
    return function, list(function.__code__.co_varnames[:function.__code__.co_argcount])


def contestants(w: Workload, values: dict, jax, torch, compiled: bool) -> dict[str, Callable]:
    """name -> zero-argument callable, each checked against hand-written NumPy first."""
    direction = "v" if "v" in values else "V"  # an HVP's direction: v for a vector, V for a matrix
    generated, names = _generated(w, "numpy", direction)
    args = [values[n] for n in names]
    reference = w.numpy(**values)
    _agree("matdiff numpy", generated(*args), reference)
    unchecked, _ = _generated(w, "numpy", direction, check_shapes=False)  # as hand-written code: no check
    out: dict[str, Callable] = {"matdiff numpy": lambda: generated(*args), "hand-written": lambda: w.numpy(**values),
                                "matdiff unchecked": lambda: unchecked(*args)}
    variables = list(md.parse(w.expr, w.shapes).variables)  # what the peers' functions take, in this order
    argnums = tuple(variables.index(x) for x in w.wrt)
    if jax is not None:
        jnp = jax.numpy
        f = w.jax_f(jnp, jax)
        gen, _ = _generated(w, "jax", direction)
        gen = jax.jit(gen)
        jargs = [jnp.asarray(values[n]) for n in names]
        jvars = [jnp.asarray(values[n]) for n in variables]
        if w.quantity == "gradient":
            peer = jax.jit(jax.value_and_grad(f, argnums=argnums))
            flat = lambda got: (got[0], *got[1])  # noqa: E731
            peer_args = jvars
        elif w.quantity == "vjp":
            def peer_function(*arguments):
                *inputs, g = arguments
                moving = [inputs[i] for i in argnums]

                def of_wrt(*ws):
                    full = list(inputs)
                    for i, x in zip(argnums, ws):
                        full[i] = x
                    return f(*full)
                value, pullback = jax.vjp(of_wrt, *moving)
                return (value, *pullback(g))
            peer = jax.jit(peer_function)
            flat = tuple
            peer_args = jvars + [jnp.asarray(values["G"])]
        else:
            (i,) = argnums

            def peer_function(*arguments):
                *inputs, v = arguments
                gradient = jax.grad(lambda x: f(*inputs[:i], x, *inputs[i + 1:]))
                return (jax.jvp(gradient, (inputs[i],), (v,))[1],)
            peer = jax.jit(peer_function)
            flat = tuple
            peer_args = jvars + [jnp.asarray(values[direction])]
        _agree("matdiff jax", gen(*jargs), reference)
        _agree("jax", flat(peer(*peer_args)), reference)
        out["matdiff jax"] = lambda: jax.block_until_ready(gen(*jargs))
        out["jax"] = lambda: jax.block_until_ready(peer(*peer_args))
    if torch is not None:
        gen_t, _ = _generated(w, "torch", direction)
        targs = [torch.from_numpy(np.asarray(values[n])) for n in names]
        tvalues = {n: torch.from_numpy(np.asarray(values[n])) for n in variables}
        _agree("matdiff torch", [np.asarray(t) for t in gen_t(*targs)], reference)
        out["matdiff torch"] = lambda: gen_t(*targs)
        peers = {"torch autograd": w.torch_f(torch), **{name: make(torch) for name, make in w.fused.items()}}
        if compiled and w.quantity != "hvp":  # torch.compile's graphs have no double backward (create_graph=True)
            peers["torch compile"] = torch.compile(w.torch_f(torch))
        for name, f in peers.items():
            run = _autograd(w, f, tvalues, values, direction, torch)
            _agree(name, [np.asarray(t.detach()) for t in run()], reference)
            out[name] = run
    return out


def _autograd(w: Workload, f: Callable, tvalues: dict, values: dict, direction: str, torch) -> Callable:
    """Eager torch autograd of f: the forward pass, then torch.autograd.grad (twice for an HVP)."""
    leaves = {n: (t.detach().requires_grad_(True) if n in w.wrt else t) for n, t in tvalues.items()}
    wrt = [leaves[n] for n in w.wrt]
    if w.quantity == "gradient":
        def run():
            value = f(**leaves)
            return (value, *torch.autograd.grad(value, wrt))
    elif w.quantity == "vjp":
        g = torch.from_numpy(values["G"])

        def run():
            value = f(**leaves)
            return (value, *torch.autograd.grad(value, wrt, grad_outputs=g))
    else:
        v = torch.from_numpy(values[direction])

        def run():
            (gradient,) = torch.autograd.grad(f(**leaves), wrt, create_graph=True)
            return torch.autograd.grad(gradient, wrt, grad_outputs=v)
    return run


# ---- the run ----------------------------------------------------------------------------------------------------


def _label(size: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in size.items())


def run(quick: bool = False, only: str | None = None, out: Path | None = RESULTS) -> list[dict]:
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    try:
        import torch
        torch.set_num_threads(int(THREADS))
    except ImportError:
        torch = None
    budget, rounds = (0.2, 3) if quick else (2.0, 7)  # quick: make bench-quick stays under three minutes
    clock = "cpu" if THREADS == "1" and PINNED else "wall"
    mode = "quick" if quick else "full"
    rows: list[dict] = []
    started = time.perf_counter()
    print(f"ML workloads ({mode}): ratio = peer time / matdiff time, {clock} time; >1 means matdiff's code is faster")
    print(f"{'workload':13} {'size':26} {'quantity':8} {'matdiff np':>10} " + " ".join(f"{h:>15}" for h in HEADS))
    for w in workloads():
        if only and only.lower() not in w.name.lower():
            continue
        for size in w.sizes + ([] if quick else w.full_sizes):
            values = w.values(size, np.random.default_rng(0))
            raced = race(contestants(w, values, jax, torch, compiled=not quick), budget, rounds, BLOCKS)
            calls = {c: {name: [t[i] for t in each] for name, each in raced.items()} for i, c in enumerate(CLOCKS)}
            times = {name: spread(each) for name, each in calls["wall"].items()}
            cpu = {name: spread(each) for name, each in calls["cpu"].items()}
            cells = []
            for mine, peer in PAIRS:
                if mine not in times or peer not in times:
                    cells.append(f"{'-':>15}")
                    continue
                r, by_cpu = compare(calls["wall"], mine, peer, BLOCKS), compare(calls["cpu"], mine, peer, BLOCKS)
                shown = r if clock == "wall" else by_cpu
                rows.append(dict(problem=w.name, size=_label(size), n=size["n"], quantity=w.quantity,
                                 matdiff=mine.split()[1], peer=peer, matdiff_s=times[mine], peer_s=times[peer],
                                 ratio=r["ratio"], ratio_low=r["low"], ratio_high=r["high"], paired=r["paired"],
                                 cpu=dict(matdiff_s=cpu[mine], peer_s=cpu[peer], ratio=by_cpu["ratio"],
                                          ratio_low=by_cpu["low"], ratio_high=by_cpu["high"])))
                cells.append(f"{shown['ratio']:5.2f} [{shown['low']:.2f}-{shown['high']:.2f}]".rjust(15))
            mine_t = (times if clock == "wall" else cpu)["matdiff numpy"]["median"]
            print(f"{w.name:13} {_label(size):26} {w.quantity:8} {_ms(mine_t):>10} {' '.join(cells)}", flush=True)
    print(f"({time.perf_counter() - started:.0f} s; {THREADS} thread(s) per framework; {clock} time, medians of "
          f"alternating rounds, ratios [quartiles])")
    goals = _goals(rows, clock)
    if out is not None:
        print(f"wrote {record('ml_bench', {'mode': mode, 'clock shown': clock, 'rows': rows, 'goals': goals}, out)}")
    return rows


def _goals(rows: list[dict], clock: str) -> list[dict]:
    """#18's goals for these workloads, printed, never asserted."""
    def ratio_of(r):
        return r["cpu"]["ratio"] if clock == "cpu" else r["ratio"]

    goals = []
    print("goals:")

    def report(goal: str, found: list[dict], target: float) -> None:
        if not found:
            print(f"  {goal}: not in this run")
            return
        worst = min(found, key=ratio_of)
        met = ratio_of(worst) >= target
        goals.append({"goal": goal, "clock": clock, "worst": ratio_of(worst), "where": f"{worst['problem']} "
                      f"{worst['size']}", "met": met})
        print(f"  {goal}: worst {ratio_of(worst):.2f} ({worst['problem']}, {worst['size']}) -> "
              f"{'met' if met else 'NOT met'}")

    report("generated NumPy >= 0.97x hand-written NumPy at every size",
           [r for r in rows if r["peer"] == "hand-written" and r["matdiff"] == "numpy"], 0.97)
    report("the same with check_shapes=False (hand-written code checks nothing)",
           [r for r in rows if r["peer"] == "hand-written" and r["matdiff"] == "unchecked"], 0.97)
    report("gradients and VJPs: generated JAX >= 1.0x jax.jit autodiff at n >= 256",
           [r for r in rows if r["peer"] == "jax" and r["matdiff"] == "jax" and r["n"] >= 256
            and r["quantity"] != "hvp"], 1.0)
    report("layer norm: generated PyTorch >= 2.8x torch autograd",
           [r for r in rows if r["problem"] == "layer norm" and r["peer"] == "torch autograd"], 2.8)
    report("GELU MLP: generated PyTorch >= 1.4x torch autograd",
           [r for r in rows if r["problem"] == "GELU MLP" and r["peer"] == "torch autograd"], 1.4)
    report("HVPs: generated JAX >= 1.0x jax.jvp(jax.grad(f))",
           [r for r in rows if r["quantity"] == "hvp" and r["peer"] == "jax" and r["matdiff"] == "jax"], 1.0)
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budgets, no torch.compile")
    parser.add_argument("--only", help="run only workloads whose name contains this text")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON rows")
    args = parser.parse_args(argv)
    run(quick=args.quick, only=args.only, out=Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
