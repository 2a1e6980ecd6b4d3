"""scipy.optimize.minimize driven by md.objective against the same solver driven by jax.grad / jax.hessian.

    python benchmarks/optimize_bench.py            # logistic regression n = 10000, p = 100; a GP with n = 300
    python benchmarks/optimize_bench.py --quick    # n = 2000, p = 20; n = 100

The same problem, the same starting point, the same method and the same tolerances: once with
`md.objective`'s fun, jac, hess and hessp (generated NumPy code; hessp the directional derivative of the
symbolic gradient), once with the expression in JAX (matdiff's own JAX lowering of the value, so that both
compute the same function) under `jax.jit(jax.grad)`, `jax.jit(jax.hessian)` and a jitted forward-over-
reverse Hessian-vector product. Methods: Newton-CG (hessp), trust-exact (hess), L-BFGS-B (jac). Both must
reach the same minimum before a time is shown. Setup (matdiff: derive and generate; JAX: the first, compiling
calls) is timed apart from the solve; each solve is repeated, alternating the two, and keeps its fastest run.
The ratio is JAX's solve time over matdiff's (above 1: matdiff's derivatives are faster). Everything is float64,
both on the same BLAS threads (MATDIFF_BENCH_THREADS, default every core). It prints; it never fails on a time.
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from pathlib import Path

THREADS = os.environ.get("MATDIFF_BENCH_THREADS", str(os.cpu_count() or 1))
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, THREADS)  # must be known before NumPy and JAX load
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import matdiff as md  # noqa: E402

LOGISTIC = "sum(softplus(X @ w)) - y @ X @ w + 0.5 * lam * norm2(w) ** 2"
LOGISTIC_SHAPES = "X: n×p, w: p, y: n, lam: scalar"
GP = "0.5 * y @ solve(exp(a) * C + exp(b) * eye(n), y) + 0.5 * logdet(exp(a) * C + exp(b) * eye(n))"
GP_SHAPES = "a: scalar, b: scalar, C: n×n spd, y: n"
METHODS = ("Newton-CG", "trust-exact", "L-BFGS-B")


def logistic(n: int, p: int):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, p)) / np.sqrt(p)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ rng.normal(size=p) * 2))).astype(float)
    # f sums n terms: its rounding error (about n ε) bounds how small a gradient the solvers can verify
    return f"logistic regression n={n} p={p}", LOGISTIC, ["w"], LOGISTIC_SHAPES, {"X": X, "y": y, "lam": 1.0}, \
        np.zeros(p), 1e-6 * n


def gaussian_process(n: int):
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 10, size=n))
    C = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2)
    y = np.linalg.cholesky(2.0 * C + 0.1 * np.eye(n)) @ rng.normal(size=n)
    return f"GP hyperparameters n={n}", GP, ["a", "b"], GP_SHAPES, {"C": C, "y": y}, np.zeros(2), 1e-6


def jax_drivers(text: str, wrt: list[str], where: str, data: dict, objective):
    """fun, jac, hess, hessp of the flat x by JAX's own differentiation of the expression in JAX."""
    import jax
    import jax.numpy as jnp
    value = md.compile(text, wrt, where, backend="jax", gradients=False)
    arguments = [a for a, v in inspect.signature(value).parameters.items() if v.kind == v.POSITIONAL_OR_KEYWORD]
    shapes = objective.shapes
    fixed = {k: jnp.asarray(v) for k, v in data.items() if k in arguments}

    def f(x):
        values, start = dict(fixed), 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            values[name] = x[start:start + size].reshape(shape)
            start += size
        return value(*[values[a] for a in arguments])[0]

    fun, jac, hess = jax.jit(f), jax.jit(jax.grad(f)), jax.jit(jax.hessian(f))
    hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
    return {"fun": lambda x: float(fun(x)), "jac": lambda x: np.asarray(jac(x)),
            "hess": lambda x: np.asarray(hess(x)), "hessp": lambda x, v: np.asarray(hvp(x, v))}


def solve(driver: dict, x0: np.ndarray, method: str, gtol: float):
    from scipy.optimize import minimize
    options = {"Newton-CG": dict(hessp=driver["hessp"], options={"xtol": gtol / 10}),
               "trust-exact": dict(hess=driver["hess"], options={"gtol": gtol}),
               "L-BFGS-B": dict(options={"gtol": gtol, "ftol": 1e-14})}[method]
    start = time.perf_counter()
    result = minimize(driver["fun"], x0, jac=driver["jac"], method=method, **options)
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems")
    args = parser.parse_args(argv)
    try:
        import jax
        import scipy  # noqa: F401
    except ImportError as exc:
        print(f"optimize benchmark skipped: {exc}")
        return 0
    jax.config.update("jax_enable_x64", True)
    problems = [logistic(2000, 20), gaussian_process(100)] if args.quick else \
        [logistic(10000, 100), gaussian_process(300)]
    repeats = 7
    print(f"optimize benchmark ({'quick' if args.quick else 'full'}, {THREADS} BLAS thread(s)): "
          "ratio = JAX solve time / matdiff solve time; >1 means matdiff's derivatives are faster")
    print(f"{'problem':34s} {'method':12s} {'iters':>5s} {'matdiff':>10s} {'jax':>10s} {'ratio':>7s}")
    for label, text, wrt, where, data, x0, gtol in problems:
        start = time.perf_counter()
        objective = md.objective(text, wrt, where, data)
        ours = {"fun": objective.fun, "jac": objective.jac, "hess": objective.hess, "hessp": objective.hessp}
        setup_matdiff = time.perf_counter() - start
        start = time.perf_counter()
        theirs = jax_drivers(text, wrt, where, data, objective)
        for name in ("fun", "jac", "hess"):  # the compiling calls
            theirs[name](x0)
        theirs["hessp"](x0, x0 + 1.0)
        setup_jax = time.perf_counter() - start
        print(f"{label:34s} {'(setup)':12s} {'':>5s} {setup_matdiff * 1e3:8.1f}ms {setup_jax * 1e3:8.1f}ms "
              f"{setup_jax / setup_matdiff:7.2f}")
        for method in METHODS:
            best = {"matdiff": np.inf, "jax": np.inf}
            found = {}
            for _ in range(repeats):  # alternate, keep each one's fastest solve
                for who, driver in (("matdiff", ours), ("jax", theirs)):
                    elapsed, result = solve(driver, x0, method, gtol)
                    best[who] = min(best[who], elapsed)
                    found[who] = result
            same = np.allclose(found["matdiff"].x, found["jax"].x, rtol=1e-4, atol=1e-4)
            stopped = [f"{who} stopped: {r.message}" for who, r in found.items() if not r.success]
            note = "" if same and not stopped else f"  ({'; '.join(stopped + ([] if same else ['different minima']))})"
            print(f"{'':34s} {method:12s} {found['matdiff'].nit:5d} {best['matdiff'] * 1e3:8.1f}ms "
                  f"{best['jax'] * 1e3:8.1f}ms {best['jax'] / best['matdiff']:7.2f}{note}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
