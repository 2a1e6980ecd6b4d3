"""Generated code against hand-written NumPy, JAX autodiff and torch.func, side by side in one process.

    python benchmarks/codegen_bench.py            # n or d = 16, 256, 2000 and larger (several minutes)
    python benchmarks/codegen_bench.py --quick    # n or d = 16, 256, 2000, shorter budgets (about a minute)

For each problem and size: matdiff's generated NumPy code and its generated JAX code (under jax.jit)
against hand-written NumPy, `jax.value_and_grad` / `jax.hessian` (jit) and `torch.func.grad_and_value`
/ `torch.func.hessian` (CPU, eager). Everything is float64, every framework gets the same number of
threads (MATDIFF_BENCH_THREADS, default: every core, as each would take on its own; `run_all.py` pins 1).
Results are checked to agree before anything is timed.

Contestants compared with each other alternate round by round (a call, or a batch of about 1 ms of
calls where one is shorter), so that other work on the machine slows both alike; every round is kept,
each in wall time and in CPU time (time.process_time, every thread of the process). With one thread per
framework the table shows CPU time, the work done: a busy machine stretches a long call's wall time by
its load and a short call's hardly, and a ratio with them (see `_timing.once`); with several threads it
shows wall time, the latency a user waits for.

Hand-written NumPy is timed against matdiff's NumPy code twice over: as generated (with its shape check)
and with `check_shapes=False`, as hand-written code has none (column hand/unchecked).

The table shows ratios peer time / matdiff time (above 1: matdiff is faster), with their quartiles in
brackets. The pairings: hand-written NumPy and torch.func against matdiff's NumPy code; jax against
matdiff's JAX code (same runtime) and against matdiff's NumPy code. The first two alternate, and their
ratio is the median of the ratios of rounds run one after the other (a burst of load hits both alike);
the others are timed in blocks of their own, and their ratio is that of the medians, in the range the
quartiles allow (the peer's first over matdiff's third, its third over matdiff's first).

`benchmarks/results.json` gets the section "codegen_bench" (`_results.py`: versions, threads per
framework, the commit, the clock shown): one row per pairing with problem, size, quantity, matdiff
(which generated code), peer, matdiff_s and peer_s (wall time, each a spread: median, min, q1, q3,
max, n), ratio, ratio_low, ratio_high (the quartiles), ratio_fastest (of the fastest rounds, what this
benchmark printed before) and paired, and under "cpu" the same in CPU time.
A benchmark never fails a build: goals are printed, not asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Every framework gets the same number of threads: by default every core, which is what each framework
# takes when left alone (what a user gets). MATDIFF_BENCH_THREADS=1 gives the
# steadiest ratios on a small shared machine (a multi-threaded BLAS call stalls whenever one of its
# threads is descheduled). It must be known before NumPy, JAX and torch load.
THREADS = os.environ.get("MATDIFF_BENCH_THREADS", str(os.cpu_count() or 1))
# Under run_all an earlier benchmark may have loaded a framework already: its thread count is then fixed.
PINNED = not any(m in sys.modules for m in ("numpy", "torch", "jax"))
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, THREADS)
if THREADS == "1":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep rather than spin

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import matdiff as md  # noqa: E402
import _results  # noqa: E402
from _results import RESULTS, record, spread  # noqa: E402


# ---- problems -----------------------------------------------------------------------------------------

@dataclass
class Problem:
    """A loss, its variables, and the same computation written by hand in NumPy, JAX and PyTorch."""

    name: str
    expr: str
    shapes: str
    wrt: list[str]
    quantity: str  # "gradient" or "hessian"
    sizes: dict[str, list[dict]]  # "quick"/"full" -> [small, medium, large] dimension sizes
    values: Callable[[dict, np.random.Generator], dict]
    numpy: Callable  # (**values) -> (value, grads...) or (value, hessian)
    jax_f: Callable  # (jnp module, jax module) -> f(**values) -> scalar, for jax autodiff
    torch_f: Callable  # (torch module) -> f(*args) -> scalar, for torch.func
    torch_limit: Callable[[dict], bool] = lambda size: True  # sizes torch.func can do in reasonable time
    label: Callable[[dict], str] = lambda size: ", ".join(f"{k}={v}" for k, v in size.items())
    order: list[str] = field(default_factory=list)  # argument order of the matdiff function


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def quad_numpy_gradient(x, A):
    ax = A @ x
    return x @ ax, ax + A.T @ x


def quad_numpy_hessian(x, A):
    return x @ (A @ x), A + A.T


def logistic_numpy_gradient(X, w, y):
    z = X @ w
    return np.sum(np.logaddexp(0.0, z)) - y @ z, X.T @ (_sigmoid(z) - y)


def logistic_numpy_hessian(X, w, y):
    z = X @ w
    s = _sigmoid(z)
    return np.sum(np.logaddexp(0.0, z)) - y @ z, X.T @ (X * (s * (1 - s))[:, None])


def factorization_numpy(M, U, V):
    r = M - U @ V.T
    return np.vdot(r, r), -2.0 * (r @ V), -2.0 * (r.T @ U)


def mlp_numpy(X, W1, b1, W2, b2, Y):
    h = np.tanh(X @ W1 + b1)
    r = h @ W2 + b2 - Y
    g = 2.0 * r
    gz = (g @ W2.T) * (1.0 - h * h)
    return np.vdot(r, r), X.T @ gz, gz.sum(axis=0), h.T @ g, g.sum(axis=0)


def gaussian_numpy(x, mu, S):
    si = np.linalg.inv(S)
    r = x - mu
    sir = si @ r
    value = 0.5 * np.linalg.slogdet(S)[1] + 0.5 * (r @ sir)
    return value, -sir, 0.5 * (si - np.outer(sir, sir))


def _normal(rng, *shape, scale=1.0):
    return rng.normal(scale=scale, size=shape)


def _spd(rng, n):
    a = rng.normal(size=(n, n))
    return a @ a.T / n + np.eye(n)


QUAD = "x @ A @ x"
LOGISTIC = "sum(softplus(X @ w)) - y @ X @ w"
FACTORIZATION = "norm2(M - U @ V.T) ** 2"
MLP = "norm2(tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2"
GAUSSIAN = "0.5 * logdet(S) + 0.5 * (x - mu) @ inv(S) @ (x - mu)"


def problems() -> list[Problem]:
    quad_values = lambda s, rng: dict(x=_normal(rng, s["d"]), A=_normal(rng, s["d"], s["d"]))  # noqa: E731
    logistic_values = lambda s, rng: dict(X=_normal(rng, s["n"], s["d"]),  # noqa: E731
                                          w=_normal(rng, s["d"], scale=1 / np.sqrt(s["d"])),
                                          y=rng.uniform(size=s["n"]))
    quad_jax = lambda jnp, jax: (lambda x, A: x @ A @ x)  # noqa: E731
    logistic_jax = lambda jnp, jax: (lambda X, w, y: jnp.sum(jax.nn.softplus(X @ w)) - y @ (X @ w))  # noqa: E731
    quad_torch = lambda torch: (lambda x, A: x @ A @ x)  # noqa: E731
    logistic_torch = lambda torch: (  # noqa: E731
        lambda X, w, y: torch.sum(torch.nn.functional.softplus(X @ w)) - y @ (X @ w))
    # n (or d) = 16, 256 and 2000 in both modes (#18's sizes for "never behind hand-written"); the logistic
    # problem adds the Hessian goal's n = 10⁴, d = 10³, and the full run larger sizes still
    d_sizes = {"quick": [{"d": 16}, {"d": 256}, {"d": 2000}], "full": [{"d": 16}, {"d": 256}, {"d": 2000}, {"d": 4000}]}
    logistic_sizes = {"quick": [{"n": 16, "d": 8}, {"n": 256, "d": 64}, {"n": 2000, "d": 500}, {"n": 10000, "d": 1000}],
                      "full": [{"n": 16, "d": 8}, {"n": 256, "d": 64}, {"n": 2000, "d": 500}, {"n": 10000, "d": 1000},
                               {"n": 10000, "d": 2000}]}
    return [
        Problem("x @ A @ x", QUAD, "x: d, A: d×d", ["x"], "gradient", d_sizes, quad_values, quad_numpy_gradient,
                quad_jax, quad_torch),
        Problem("x @ A @ x", QUAD, "x: d, A: d×d", ["x"], "hessian", d_sizes, quad_values, quad_numpy_hessian,
                quad_jax, quad_torch, torch_limit=lambda s: s["d"] <= 2000),
        Problem("logistic", LOGISTIC, "X: n×d, w: d, y: n", ["w"], "gradient", logistic_sizes, logistic_values,
                logistic_numpy_gradient, logistic_jax, logistic_torch),
        # torch.func.hessian needs 1.3 s at d = 300 and over a minute at d = 1000 on two cores
        Problem("logistic", LOGISTIC, "X: n×d, w: d, y: n", ["w"], "hessian", logistic_sizes, logistic_values,
                logistic_numpy_hessian, logistic_jax, logistic_torch, torch_limit=lambda s: s["d"] <= 300),
        Problem("factorization", FACTORIZATION, "M: n×m, U: n×k, V: m×k", ["U", "V"], "gradient",
                {"quick": [{"n": 16, "m": 12, "k": 4}, {"n": 256, "m": 200, "k": 10},
                           {"n": 2000, "m": 1600, "k": 50}],
                 "full": [{"n": 16, "m": 12, "k": 4}, {"n": 256, "m": 200, "k": 10}, {"n": 2000, "m": 1600, "k": 50},
                          {"n": 4000, "m": 3000, "k": 100}]},
                lambda s, rng: dict(M=_normal(rng, s["n"], s["m"]), U=_normal(rng, s["n"], s["k"]),
                                    V=_normal(rng, s["m"], s["k"])),
                factorization_numpy,
                lambda jnp, jax: (lambda M, U, V: jnp.sum((M - U @ V.T) ** 2)),
                lambda torch: (lambda M, U, V: torch.sum((M - U @ V.T) ** 2))),
        Problem("mlp", MLP, "X: n×d, W1: d×h, b1: h, W2: h×k, b2: k, Y: n×k", ["W1", "b1", "W2", "b2"], "gradient",
                {"quick": [{"n": 16, "d": 16, "h": 16, "k": 4}, {"n": 256, "d": 64, "h": 64, "k": 10},
                           {"n": 2000, "d": 256, "h": 256, "k": 10}],
                 "full": [{"n": 16, "d": 16, "h": 16, "k": 4}, {"n": 256, "d": 64, "h": 64, "k": 10},
                          {"n": 2000, "d": 256, "h": 256, "k": 10},
                          {"n": 8192, "d": 512, "h": 512, "k": 10}]},
                lambda s, rng: dict(X=_normal(rng, s["n"], s["d"]),
                                    W1=_normal(rng, s["d"], s["h"], scale=1 / np.sqrt(s["d"])),
                                    b1=_normal(rng, s["h"], scale=0.1),
                                    W2=_normal(rng, s["h"], s["k"], scale=1 / np.sqrt(s["h"])),
                                    b2=_normal(rng, s["k"], scale=0.1), Y=_normal(rng, s["n"], s["k"])),
                mlp_numpy,
                lambda jnp, jax: (lambda X, W1, b1, W2, b2, Y: jnp.sum((jnp.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)),
                lambda torch: (lambda X, W1, b1, W2, b2, Y:
                               torch.sum((torch.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2))),
        Problem("gaussian nll", GAUSSIAN, "x: n, mu: n, S: n×n spd", ["mu", "S"], "gradient",
                # an inverse of 2000×2000 costs a second a call: the quick run stops at 1000
                {"quick": [{"n": 16}, {"n": 256}, {"n": 1000}], "full": [{"n": 16}, {"n": 256}, {"n": 2000}]},
                lambda s, rng: dict(x=_normal(rng, s["n"]), mu=_normal(rng, s["n"]), S=_spd(rng, s["n"])),
                gaussian_numpy,
                lambda jnp, jax: (lambda x, mu, S: 0.5 * jnp.linalg.slogdet(S)[1]
                                  + 0.5 * (x - mu) @ jnp.linalg.solve(S, x - mu)),
                lambda torch: (lambda x, mu, S: 0.5 * torch.linalg.slogdet(S)[1]
                               + 0.5 * (x - mu) @ torch.linalg.solve(S, x - mu))),
    ]


# ---- timing ---------------------------------------------------------------------------------------------

CLOCKS = ("wall", "cpu")
BATCH_S = 1e-3  # a call shorter than this is timed in batches: the CPU clock itself takes 1.2 µs to read


def timed(fn: Callable, calls: int = 1) -> tuple[float, float]:
    """(wall, CPU) seconds per call of `calls` calls in a row. CPU time is this process's, all its threads
    (time.process_time): with one thread per framework it is the work done, which other work on the machine
    does not stretch, while wall time stretches a long call by the load more than a short one (see
    `_timing.once`)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


# Contestants that are compared are timed together, in interleaved rounds; the frameworks' thread
# pools (OpenBLAS, XLA, OpenMP) are given a pause between blocks to go idle.
# "matdiff unchecked": the same NumPy code with check_shapes=False, as hand-written code (which checks nothing)
BLOCKS = (("matdiff numpy", "hand-written", "matdiff unchecked"), ("matdiff jax", "jax"), ("torch",))


def race(contestants: dict[str, Callable], budget: float, rounds: int,
         blocks: tuple[tuple[str, ...], ...] = BLOCKS) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds per call of each contestant, one pair per round. Within a block of contestants
    compared with each other, rounds alternate (A, B, then B, A, ...), so that a burst of other work on the machine
    hits both alike: at least `rounds` of them, and more until the block has taken `budget` seconds. In a
    round a contestant makes one call, or a batch of calls of about BATCH_S where one call is shorter."""
    times: dict[str, list[tuple[float, float]]] = {}
    for block in blocks:
        members = {name: contestants[name] for name in block if name in contestants}
        if not members:
            continue
        time.sleep(0.1)  # the thread pools of the block before go idle
        # no warm-up here: `contestants` has called each one already (JAX compiled) to check its answer
        first = {name: timed(fn) for name, fn in members.items()}
        batch = {name: max(1, min(1000, int(BATCH_S / max(min(t), 1e-7)))) for name, t in first.items()}
        # single calls are a round already: a slow contestant is not called once more than it needs
        probe_is_a_round = all(b == 1 for b in batch.values())
        times.update({name: [first[name]] if probe_is_a_round else [] for name in members})
        start = time.perf_counter()
        order = list(members.items())
        while min(len(times[name]) for name in members) < rounds or time.perf_counter() - start < budget:
            for name, fn in order:
                times[name].append(timed(fn, batch[name]))
            # who goes first changes every round: the first call of a round finds the caches and branch
            # predictors as the other left them, which cost the one always first about 3% at n = 16
            order.reverse()
    return times


def compare(times: dict[str, list[float]], mine: str, peer: str,
            blocks: tuple[tuple[str, ...], ...] = BLOCKS) -> dict:
    """peer / mine of one clock's times (seconds per call, in order).

    Where the two alternated (one block), the median and quartiles of the ratios of calls made
    one after the other, which a burst of load hits alike; else the ratio of the medians, within the range
    the quartiles allow (`_results.ratio`). Both with the ratio of the fastest calls."""
    alike = _results.ratio(spread(times[peer]), spread(times[mine]))
    if not any(mine in block and peer in block for block in blocks):
        return dict(alike, paired=False)
    rounds = spread([p / m for p, m in zip(times[peer], times[mine])])
    return dict(alike, ratio=rounds["median"], low=rounds["q1"], high=rounds["q3"], paired=True)


# ---- the contestants of one problem at one size ------------------------------------------------------

def contestants(problem: Problem, size: dict, values: dict, jax, torch):
    """name -> zero-argument callable, each checked against hand-written NumPy first."""
    hessian = problem.quantity == "hessian"
    kwargs = dict(hessian=hessian, gradients=not hessian)
    generated = md.compile(problem.expr, problem.wrt, problem.shapes, backend="numpy", **kwargs)
    names = list(generated.__code__.co_varnames[:generated.__code__.co_argcount])
    args = [values[n] for n in names]
    reference = problem.numpy(*args)
    found = generated(*args)
    _agree("matdiff numpy", found, reference)
    unchecked = md.compile(problem.expr, problem.wrt, problem.shapes, backend="numpy", check_shapes=False, **kwargs)
    out: dict[str, Callable] = {"matdiff numpy": lambda: generated(*args), "hand-written": lambda: problem.numpy(*args),
                                "matdiff unchecked": lambda: unchecked(*args)}
    argnums = tuple(names.index(w) for w in problem.wrt)
    if jax is not None:
        jnp = jax.numpy
        jargs = [jnp.asarray(a) for a in args]
        gen_jax = jax.jit(md.compile(problem.expr, problem.wrt, problem.shapes, backend="jax", **kwargs))
        f = problem.jax_f(jnp, jax)
        peer = jax.jit(jax.hessian(f, argnums=argnums[0]) if hessian else jax.value_and_grad(f, argnums=argnums))
        _agree("matdiff jax", gen_jax(*jargs), reference)
        got = peer(*jargs)
        _agree("jax", ((None, got) if hessian else (got[0], *got[1])), reference, skip_value=hessian)
        out["matdiff jax"] = lambda: jax.block_until_ready(gen_jax(*jargs))
        out["jax"] = lambda: jax.block_until_ready(peer(*jargs))
    if torch is not None and problem.torch_limit(size):
        targs = [torch.from_numpy(a) for a in args]
        f = problem.torch_f(torch)
        if hessian:
            peer_t = torch.func.hessian(f, argnums=argnums[0])
            _agree("torch", (None, peer_t(*targs)), reference, skip_value=True)
        else:
            peer_t = torch.func.grad_and_value(f, argnums=argnums)
            grads, value = peer_t(*targs)
            _agree("torch", (value, *grads), reference)
        out["torch"] = lambda: peer_t(*targs)
    return out


def _agree(who: str, found, reference, skip_value: bool = False) -> None:
    for i, (a, b) in enumerate(zip(found, reference)):
        if i == 0 and skip_value:
            continue
        a, b = np.asarray(a), np.asarray(b)
        scale = max(1.0, float(np.max(np.abs(b))))
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-7, atol=1e-7 * scale):
            raise AssertionError(f"{who} disagrees with hand-written NumPy in output {i}")


# ---- the run ------------------------------------------------------------------------------------------------

LEVELS = ("small", "medium", "large", "larger", "largest")
PAIRS = [("matdiff numpy", "hand-written"), ("matdiff unchecked", "hand-written"), ("matdiff jax", "jax"),
         ("matdiff numpy", "jax"),
         ("matdiff numpy", "torch")]


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
    mode = "quick" if quick else "full"
    budget, rounds = (0.25, 3) if quick else (3.0, 7)  # quick: make bench-quick stays under three minutes
    # one thread per framework: CPU time is the work, and a busy machine does not stretch it; several threads:
    # wall time, the latency a user waits for (CPU time would add up the threads)
    clock = "cpu" if THREADS == "1" and PINNED else "wall"
    clock_name = {"cpu": "CPU", "wall": "wall"}[clock]
    rows: list[dict] = []
    started = time.perf_counter()
    print(f"codegen benchmark ({mode}): ratio = peer time / matdiff time, {clock_name} time; >1 means the generated "
          f"code is faster")
    print(f"{'problem':14} {'size':24} {'quantity':9} {'matdiff np':>11} {'matdiff jax':>11} "
          + " ".join(f"{head:>16}" for head in ("hand/np", "hand/unchecked", "jax/jax", "jax/np", "torch/np")))
    for problem in problems():
        if only and only not in problem.name:
            continue
        for level, size in zip(LEVELS, problem.sizes[mode]):
            rng = np.random.default_rng(0)
            values = problem.values(size, rng)
            raced = race(contestants(problem, size, values, jax, torch), budget, rounds)
            calls = {clock: {name: [t[i] for t in each] for name, each in raced.items()}
                     for i, clock in enumerate(CLOCKS)}
            times = {name: spread(each) for name, each in calls["wall"].items()}
            cpu = {name: spread(each) for name, each in calls["cpu"].items()}
            shown = times if clock == "wall" else cpu
            label = f"{level} ({problem.label(size)})"
            ratios = {}
            for mine, peer in PAIRS:
                if mine in times and peer in times:
                    r, by_cpu = compare(calls["wall"], mine, peer), compare(calls["cpu"], mine, peer)
                    ratios[(mine, peer)] = r if clock == "wall" else by_cpu
                    rows.append(dict(problem=problem.name, size=label, quantity=problem.quantity,
                                     matdiff=mine.split()[1], matdiff_s=times[mine], peer=peer, peer_s=times[peer],
                                     ratio=r["ratio"], ratio_low=r["low"], ratio_high=r["high"],
                                     ratio_fastest=r["fastest"], paired=r["paired"],
                                     cpu=dict(matdiff_s=cpu[mine], peer_s=cpu[peer], ratio=by_cpu["ratio"],
                                              ratio_low=by_cpu["low"], ratio_high=by_cpu["high"])))
            cells = [_ratio_cell(ratios.get(p)) for p in PAIRS]
            print(f"{problem.name:14} {label:24} {problem.quantity:9} {_ms(shown['matdiff numpy']['median']):>11} "
                  f"{_ms(shown.get('matdiff jax', {}).get('median')):>11} {' '.join(cells)}", flush=True)
    elapsed = time.perf_counter() - started
    threads = f"{THREADS} thread(s) per framework" if PINNED else \
        "thread counts not pinned (a framework was loaded before this module; run it alone for stable ratios)"
    print(f"({elapsed:.0f} s; {threads}; times are {clock_name} time, medians of alternating rounds, at least "
          f"{rounds} per contestant; ratios [quartiles]: hand/np and jax/jax of rounds one after the other, jax/np and "
          f"torch/np of the medians)")
    goals = _goals(rows, quick, clock)
    if out is not None:
        section = {"mode": mode, "clock shown": clock, "rows": rows, "goals": goals}
        print(f"wrote {record('codegen_bench', section, out)}")
    return rows


def _ratio_cell(r: dict | None) -> str:
    return f"{'-':>16}" if r is None else f"{r['ratio']:6.2f} [{r['low']:.2f}-{r['high']:.2f}]".rjust(16)


def _ms(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e3:.3g} ms" if t >= 1e-3 else f"{t * 1e6:.3g} µs"


def _goals(rows: list[dict], quick: bool, clock: str) -> list[dict]:
    """The issue's goals, as far as this run's sizes reach them, in the clock shown (printed with the other one,
    never asserted; returned for the JSON)."""
    rows = [dict(r, **({"ratio": r["cpu"]["ratio"], "ratio_low": r["cpu"]["ratio_low"],
                        "ratio_high": r["cpu"]["ratio_high"], "other": r["ratio"]} if clock == "cpu" else
                       {"other": r["cpu"]["ratio"]})) for r in rows]
    other = "wall" if clock == "cpu" else "CPU"
    def find(problem, quantity, size_text, mine, peer):
        return [r for r in rows if r["problem"] == problem and r["quantity"] == quantity and size_text in r["size"]
                and r["matdiff"] == mine and r["peer"] == peer]

    goals = []
    print("goals:")
    for mine, how in (("numpy", "with its shape check"), ("unchecked", "with check_shapes=False")):
        hand = [r for r in rows if r["peer"] == "hand-written" and r["matdiff"] == mine]
        if hand:
            worst = min(hand, key=lambda r: r["ratio"])
            met = worst["ratio"] >= 0.97
            goals.append({"goal": f">= 0.97x hand-written NumPy at every size, {how}", "clock": clock,
                          "worst": worst["ratio"], "met": met})
            print(f"  generated NumPy {how} >= 0.97x hand-written NumPy at every size: worst ratio "
                  f"{worst['ratio']:.2f} [{worst['ratio_low']:.2f}-{worst['ratio_high']:.2f}] ({worst['problem']} "
                  f"{worst['quantity']} {worst['size']}) -> {'met' if met else 'NOT met'}")
    for problem, quantity, size_text, target in [("x @ A @ x", "hessian", "d=2000", 50.0),
                                                  ("logistic", "hessian", "n=10000, d=1000", 2.5)]:
        for mine in ("numpy", "jax"):
            found = find(problem, quantity, size_text, mine, "jax")
            if found:
                r = found[0]
                goals.append({"goal": f"{problem} {quantity} at {size_text}, matdiff {mine} vs jax.hessian "
                                      f">= {target}x", "clock": clock, "ratio": r["ratio"],
                                      "met": r["ratio"] >= target})
                print(f"  {problem} {quantity} at {size_text}, matdiff {mine} vs jax.hessian: {r['ratio']:.1f}x "
                      f"[{r['ratio_low']:.1f}-{r['ratio_high']:.1f}], in {other} time {r['other']:.1f}x "
                      f"(goal >= {target}x) -> {'met' if r['ratio'] >= target else 'NOT met'}")
            elif mine == "numpy":
                print(f"  {problem} {quantity} at {size_text}: not in this run's sizes"
                      + (" (run without --quick)" if quick else ""))
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under two minutes")
    parser.add_argument("--only", help="run only problems whose name contains this text")
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON rows")
    args = parser.parse_args(argv)
    run(quick=args.quick, only=args.only, out=Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
