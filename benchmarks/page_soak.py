"""The page under a long run: memory of its processes over thousands of requests (issue #17, bounded memory).

    python benchmarks/page_soak.py               # 10,000 requests
    python benchmarks/page_soak.py --quick       # 1,000 requests
    python benchmarks/page_soak.py --requests 3000 --by-process    # each process's megabytes at each sample

Starts `matdiff serve` on a free port and sends a mix of requests one after another: derivatives of the
seed examples and of many different expressions (new variables and shapes each time, so interning and
caches keep seeing new nodes), VJPs, Hessians, bad input (shape errors, unknown names) and LaTeX. It
samples the resident memory (RSS) of the server and its workers after every 10% of the requests and
prints the samples, the growth from the first sample after warm-up to the last, and the slope per 1,000
requests, in all and by kind of process: the server, the derivations' workers (each forks a child per
request; a child alive at a sample counts with its worker) and the numeric check's workers, so that a
growth points at the process that holds it. A process whose memory is bounded levels off; a leak grows
linearly. It prints; it never fails on a figure.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
# a soak, not a timing: even --quick (1,000 requests) takes about four minutes, so `make bench-quick`
# (benchmarks/run_all.py --quick, under three minutes) leaves it out; `make bench` and its name run it
QUICK_RUN = False


def start_server() -> tuple[subprocess.Popen, str]:
    # the access log goes nowhere: a pipe nobody reads fills after ~900 lines and stops the server's writes
    process = subprocess.Popen([sys.executable, "-m", "matdiff.web", "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = process.stdout.readline()
        if "http://" in line:
            url = line[line.index("http://"):].split()[0].rstrip("/")
            return process, url
    process.kill()
    raise RuntimeError("matdiff serve did not print its address")


def request(url: str, payload: dict) -> int:
    data = json.dumps(payload).encode()
    call = urllib.request.Request(url + "/api/derive", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code
    except TimeoutError:  # no answer in 30 s: reported with the request, and the run goes on
        print(f"  no answer in 30 s to {payload}", flush=True)
        return 0


def payloads(count: int, rng: random.Random):
    fixed = [
        {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W"},
        {"expression": "norm2(tanh(X @ W) - Y) ** 2", "where": "X: n×p, W: p×k, Y: n×k", "wrt": "W"},
        {"expression": "softmax(Q @ K.T, axis=1) @ V", "where": "Q: n×d, K: m×d, V: m×e", "wrt": "Q", "vjp": "G"},
        {"expression": "x @ A @ x", "where": "x: n, A: n×n", "wrt": "x", "order": 2},
        {"expression": "X @ W", "where": "X: n×q, W: m×q", "wrt": "W"},  # a shape error
        {"expression": "sum(foo(x))", "where": "x: n", "wrt": "x"},  # an unknown name
        {"expression": r"\frac{\partial}{\partial W} \|X W - Y\|_F^2", "where": "X: n×p, W: p×k, Y: n×k",
         "syntax": "latex"},
        {"expression": "0.5 * sum((T - einsum('ir,jr,kr->ijk', A, B, C)) ** 2)",
         "where": "T: n×m×p, A: n×r, B: m×r, C: p×r", "wrt": "A"},
    ]
    functions = ["sin", "tanh", "exp", "sigmoid", "softplus"]
    for k in range(count):
        if k % 3:
            yield fixed[k % len(fixed)]
            continue
        name, f = f"W{k}", rng.choice(functions)  # a new variable each time: nodes never seen before
        scale = rng.randint(1, 9)
        yield {"expression": f"sum({f}(X @ {name}) * {scale}) + norm2({name}) ** 2",
               "where": f"X: n×p, {name}: p×k", "wrt": name}


KINDS = ("server", "derivations", "checks")


def kind_of(process: psutil.Process, server: psutil.Process) -> str:
    """Which of KINDS a process is: the server, or a worker of one role (or a derivation's forked child)."""
    if process.pid == server.pid:
        return "server"
    for p in [process] + process.parents():
        if p.pid == server.pid:
            break
        try:
            command = p.cmdline()
        except psutil.Error:
            continue
        if "matdiff.web.worker" in command:
            return command[-1] if command[-1] in KINDS else "derivations"
    return "derivations"


def resident(server: psutil.Process) -> list[tuple[str, int, float]]:
    """(kind, pid, resident megabytes) of the server and every process it started."""
    found = []
    for p in [server] + server.children(recursive=True):
        try:
            found.append((kind_of(p, server), p.pid, p.memory_info().rss / 2 ** 20))
        except psutil.Error:  # a derivation's child that has just finished
            pass
    return found


def memory(processes: list[tuple[str, int, float]]) -> dict[str, float]:
    """Resident megabytes in all ("total") and by kind."""
    by_kind = dict.fromkeys(KINDS, 0.0)
    for kind, _, megabytes in processes:
        by_kind[kind] += megabytes
    return {"total": sum(by_kind.values()), **by_kind}


def slope(samples: list[tuple[int, dict[str, float]]], key: str) -> tuple[float, float, float]:
    """The first figure after warm-up, the last, and the growth per 1,000 requests between them."""
    (k0, m0), (k1, m1) = samples[1], samples[-1]  # the first sample starts the workers
    return m0[key], m1[key], (m1[key] - m0[key]) / max(1, k1 - k0) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None, help="how many (default 10,000; --quick 1,000)")
    parser.add_argument("--by-process", action="store_true", help="print each process's figure at each sample")
    args = parser.parse_args(argv)
    count = args.requests or (1000 if args.quick else 10000)
    server, url = start_server()
    watched = psutil.Process(server.pid)
    rng = random.Random(0)
    samples, statuses = [], {}
    start = time.perf_counter()
    try:
        for k, payload in enumerate(payloads(count, rng), start=1):
            status = request(url, payload)
            statuses[status] = statuses.get(status, 0) + 1
            if k % max(1, count // 10) == 0:
                processes = resident(watched)
                samples.append((k, memory(processes)))
                figures = "  ".join(f"{kind} {samples[-1][1][kind]:7.1f}" for kind in KINDS)
                print(f"  {k:6d} requests  {samples[-1][1]['total']:8.1f} MB  ({figures})  "
                      f"({time.perf_counter() - start:6.1f} s)", flush=True)
                if args.by_process:
                    print("          " + "  ".join(f"{kind[:5]} {pid} {mb:.1f}" for kind, pid, mb in sorted(processes)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"statuses: {dict(sorted(statuses.items()))}")
    if len(samples) >= 3:
        k0, k1 = samples[1][0], samples[-1][0]
        print(f"memory from request {k0} to {k1}:")
        for key in ("total", *KINDS):
            m0, m1, per_1000 = slope(samples, key)
            print(f"  {key:12s} {m0:8.1f} MB -> {m1:8.1f} MB, {per_1000:+.2f} MB per 1,000 requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
