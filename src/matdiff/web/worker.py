"""A worker process of `matdiff serve`: answers API requests, one JSON line in, one JSON line out.

    python -m matdiff.web.worker derivations       (or: checks)
    < {"ready": true}                              once, when it has loaded the engine and is warm
    > {"api": "derive", "request": {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W"},
       "seconds": 5}
    < {"answer": {...}}       or {"user_error": message} or {"bug": message} or {"timeout": seconds}

Two roles, one per pool of the server:
- derivations ("derive", "variables"): each request runs in a child forked from this warm process,
  so its time limit counts from the moment work starts on it, and stopping it (SIGKILL at
  `seconds`) costs nothing: this process never runs a request itself, stays warm, and nothing a
  request builds (the engine keeps every node it has made) outlives the request. A child that
  has used `SECONDS_BEFORE_YIELDING` of CPU drops to the lowest CPU priority, so that short
  requests go first while long ones run out their time.
- checks ("check", the numeric check): run here, in this process, where JAX stays loaded and
  keeps what it has compiled; a check that overruns is interrupted (SIGALRM) and this process stays.
The server kills a worker that is still silent a second past the limit (stuck in C code, say).

A plain subprocess (rather than multiprocessing) never re-imports the program that started the
server. This module owns the protocol and the children; the answers are `derive.py`'s.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import MatdiffError
from . import derive

SEED = {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W"}
ROLES: dict[str, Mapping[str, Callable[[Any], Any]]] = {
    "derivations": {"derive": derive.derive, "variables": derive.variables},
    "checks": {"check": derive.check},
}
WARM_UP = {"derivations": ("derive", {**SEED, "claim": "X.T"}), "checks": ("check", SEED)}  # loads what is lazy
SECONDS_BEFORE_YIELDING = 0.5  # of CPU time: an ordinary request of the page needs about 0.2
LOWEST_PRIORITY = 19  # nice value


def answer(apis: Mapping[str, Callable[[Any], Any]], message: Mapping[str, Any]) -> dict[str, Any]:
    """The reply to one request, computed here."""
    try:
        result = apis[message["api"]](message["request"])
    except (MatdiffError, derive.RequestError) as error:
        return {"user_error": str(error)}
    except Exception as error:  # noqa: BLE001 - a bug in the engine: report it, keep the worker
        return {"bug": f"{type(error).__name__}: {error}"}
    return {"answer": result}


def answer_in_child(apis: Mapping[str, Callable[[Any], Any]], message: Mapping[str, Any]) -> dict[str, Any]:
    """The reply to one request, computed in a forked child that is stopped at the request's time limit."""
    seconds = float(message.get("seconds", 5.0))
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: answer, write, and leave without running any of the parent's cleanup
        status = 1
        try:
            os.close(read_end)
            with open(write_end, "wb") as pipe:
                pipe.write(json.dumps(answer(apis, message), ensure_ascii=False).encode("utf-8"))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    received = bytearray()
    yielded = False
    with open(read_end, "rb", buffering=0) as pipe:
        while True:
            left = started + seconds - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"timeout": seconds}
            if not select.select([pipe], [], [], left if yielded else min(left, 0.1))[0]:
                if not yielded and _cpu_seconds(pid, started) >= SECONDS_BEFORE_YIELDING:
                    _yield_cpu(pid)
                    yielded = True
                continue
            chunk = pipe.read(1 << 16)
            if not chunk:
                break
            received += chunk
    _, status = os.waitpid(pid, 0)
    if status != 0:
        signal_number = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        how = f"signal {signal_number}" if signal_number else f"exit code {os.waitstatus_to_exitcode(status)}"
        return {"bug": f"the derivation process stopped without an answer ({how})"}
    return json.loads(received.decode("utf-8"))


class Overrun(BaseException):
    """Raised in a check that runs past its limit (not an Exception: no `except Exception` may swallow it)."""


def answer_in_time(apis: Mapping[str, Callable[[Any], Any]], message: Mapping[str, Any]) -> dict[str, Any]:
    """The reply to one request, computed here and interrupted at the request's time limit."""
    seconds = float(message.get("seconds", 5.0))
    running = True

    def stop(signal_number: int, frame: Any) -> None:
        if running:  # a signal that arrives once the answer is in changes nothing
            raise Overrun

    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)  # and every 0.1 s after, should one be swallowed anyway
    try:
        reply = answer(apis, message)
        running = False
    except Overrun:
        running = False
        reply = {"timeout": seconds}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return reply


def _cpu_seconds(pid: int, started: float) -> float:
    """The CPU time a child has used (on a busy machine far less than the time since it started)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, ValueError, IndexError):  # no /proc (not Linux): the time since it started
        return time.monotonic() - started


def _yield_cpu(pid: int) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, pid, LOWEST_PRIORITY)
    except OSError:  # it has just finished, or this system does not allow it: it keeps its priority
        pass


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    role = arguments[0] if arguments else "derivations"
    apis = ROLES[role]
    run = answer_in_child if role == "derivations" else answer_in_time
    # Keep the protocol's stdout to ourselves: anything the engine or a library prints (even from C)
    # goes to stderr instead of into the answers.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    api, request = WARM_UP[role]
    answer(apis, {"api": api, "request": request})
    protocol.write(json.dumps({"ready": True}) + "\n")
    protocol.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError as error:
            reply: dict[str, Any] = {"bug": f"the server sent something that is not JSON ({error})"}
        else:
            reply = run(apis, message)
        protocol.write(json.dumps(reply, ensure_ascii=False) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
