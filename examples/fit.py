"""Fitting with matdiff's derivatives in scipy.optimize.minimize: logistic regression and a Gaussian process.

`md.objective(f, wrt, where, data)` gives fun, jac, hess and hessp of the variables in `wrt` (one flat vector,
each variable row-major, in the order of `wrt`), the other variables fixed at `data`; hessp is the
directional derivative of the symbolic gradient, so Newton-CG never forms the Hessian.

1. Logistic regression with an L2 penalty, by Newton-CG (hessp), trust-exact (hess) and L-BFGS-B (jac).
2. A Gaussian process's signal variance s and noise t for a fixed RBF kernel C: the negative log likelihood
   0.5 yᵀ (s C + t I)⁻¹ y + 0.5 log det(s C + t I), in s = exp(a) and t = exp(b) so that both stay positive.

    python examples/fit.py
"""
from __future__ import annotations

import time

import numpy as np
from scipy.optimize import minimize

import matdiff as md

LOGISTIC = "sum(softplus(X @ w)) - y @ X @ w + 0.5 * lam * norm2(w) ** 2"
GAUSSIAN_PROCESS = "0.5 * y @ solve(exp(a) * C + exp(b) * eye(n), y) + 0.5 * logdet(exp(a) * C + exp(b) * eye(n))"


def fit(objective, x0: np.ndarray, label: str, gtol: float) -> dict[str, np.ndarray]:
    """The same problem by three of SciPy's methods, each stopped at a gradient of about `gtol` (Newton-CG's
    test is on the step instead); prints each one's iterations, time and gradient norm."""
    methods = {"Newton-CG": dict(hessp=objective.hessp, options={"xtol": gtol / 10}),
               "trust-exact": dict(hess=objective.hess, options={"gtol": gtol}),
               "L-BFGS-B": dict(options={"gtol": gtol, "ftol": 1e-14})}
    found = {}
    print(f"\n{label}")
    for method, options in methods.items():
        start = time.perf_counter()
        result = minimize(objective.fun, x0, jac=objective.jac, method=method, **options)
        elapsed = time.perf_counter() - start
        print(f"  {method:12s} {'converged' if result.success else 'stopped: ' + result.message}  {result.nit:3d} iterations  "
              f"{elapsed * 1e3:7.1f} ms  f = {result.fun:.8f}  |grad| = {np.linalg.norm(objective.jac(result.x)):.1e}")
        found[method] = result.x
    return found


def logistic_regression(n: int = 2000, p: int = 20, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    truth = rng.normal(size=p)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ truth))).astype(float)
    objective = md.objective(LOGISTIC, "w", "X: n×p, w: p, y: n, lam: scalar", {"X": X, "y": y, "lam": 1.0})
    # f is a sum of n terms: its rounding error, about n ε, sets how small the gradient can be seen to get
    found = fit(objective, np.zeros(p), f"logistic regression, n = {n}, p = {p}: f = {LOGISTIC}", gtol=1e-4)
    w = found["trust-exact"]
    print(f"  the methods agree to {max(np.abs(v - w).max() for v in found.values()):.1e}; "
          f"|w - truth| / |truth| = {np.linalg.norm(w - truth) / np.linalg.norm(truth):.2f}")


def gaussian_process(n: int = 100, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 10, size=n))
    C = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2)  # RBF kernel, length scale 1
    signal, noise = 2.0, 0.1
    y = np.linalg.cholesky(signal * C + noise * np.eye(n)) @ rng.normal(size=n)
    objective = md.objective(GAUSSIAN_PROCESS, ["a", "b"], "a: scalar, b: scalar, C: n×n spd, y: n",
                             {"C": C, "y": y})
    found = fit(objective, np.zeros(2), f"Gaussian process, n = {n}: f = {GAUSSIAN_PROCESS}", gtol=1e-6)
    s, t_ = np.exp(found["trust-exact"])
    print(f"  signal variance {s:.3f} (drawn with {signal}), noise {t_:.4f} (drawn with {noise})")


def main() -> int:
    logistic_regression()
    gaussian_process()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
