"""The worker processes of `matdiff serve`: pools of them, started before the first request.

A `WorkerPool` holds `size` processes of one role (`worker.py`: "derivations" or "checks"), each
started and warmed up in the background and then kept. A request takes an idle worker (waiting
for one at most `wait` seconds, which its time limit does not count), and its time limit starts
when the worker gets it: the derivations' worker stops its own overrunning child and stays; a
worker that says nothing for `GRACE_SECONDS` past the limit is killed, and so is one that stops or
answers nonsense, and a new one is started in the background for the next request.

So a derivation's limit counts the derivation only: not the wait for a worker, not starting a
worker, not the numeric check (a pool of its own, with its own limit).

This module owns the processes and the protocol's server side; HTTP is `server.py`'s.
"""
from __future__ import annotations

import collections
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

GRACE_SECONDS = 1.0  # a worker silent this long after its request's limit is stuck (in C code, say): killed
START_SECONDS = 120.0  # a worker not ready after this long (loading the engine, JAX, warming up) failed to start
# the derivations' workers fork a child per request: BLAS threads in the parent would not survive a fork
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Overrun(Exception):
    """A request ran past its time limit and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped after {seconds:g} s")
        self.seconds = seconds


class Busy(Exception):
    """Every worker of the pool stayed busy for as long as a request may wait."""


class UserError(Exception):
    """Text, shapes or a request the user can fix (a MatdiffError or a RequestError in the worker)."""


class WorkerFailure(Exception):
    """A worker process did not start, stopped or answered nonsense: a bug, not the user's doing."""


class Worker:
    """One `python -m matdiff.web.worker ROLE` process: a JSON line in, a JSON line out."""

    def __init__(self, role: str) -> None:
        env = dict(os.environ, **(ONE_THREAD if role == "derivations" else {}))
        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding matdiff/
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen([sys.executable, "-m", "matdiff.web.worker", role],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                            start_new_session=True)  # Ctrl-C reaches the server; it stops its workers
        except OSError as error:
            raise WorkerFailure(f"cannot start a worker process ({error})") from None
        self._pending = b""

    def wait_ready(self, seconds: float = START_SECONDS) -> None:
        if self._read(time.monotonic() + seconds, seconds) != {"ready": True}:
            raise WorkerFailure("the worker process did not say it was ready")

    def ask(self, api: str, request: Any, seconds: float) -> dict[str, Any]:
        """The worker's reply; its limit of `seconds` starts now (an idle, ready worker starts at once)."""
        line = json.dumps({"api": api, "request": request, "seconds": seconds}) + "\n"  # ASCII: escapes travel
        try:
            self.process.stdin.write(line.encode("ascii"))
            self.process.stdin.flush()
        except OSError as error:
            raise WorkerFailure(f"the worker stopped ({error})") from None
        reply = self._read(time.monotonic() + seconds + GRACE_SECONDS, seconds)
        if not isinstance(reply, dict) or not {"answer", "user_error", "bug", "timeout"} & set(reply):
            raise WorkerFailure("the worker answered something that is not an answer")
        return reply

    def _read(self, deadline: float, seconds: float) -> Any:
        stdout = self.process.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                raise Overrun(seconds)
            chunk = os.read(stdout, 1 << 16)
            if not chunk:
                raise WorkerFailure(f"the worker stopped (exit code {self.process.wait()})")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        try:
            return json.loads(line.decode("utf-8"))
        except ValueError as error:
            raise WorkerFailure(f"the worker answered something that is not JSON ({error})") from None

    def kill(self) -> None:
        try:  # the worker leads a process group of its own: its derivation's child goes with it
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:  # gone already
            pass
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            pipe.close()


class WorkerPool:
    """`size` workers of one role; `run` answers a request within `seconds` of a worker taking it."""

    def __init__(self, role: str, size: int, seconds: float, wait: float) -> None:
        self.role, self.size, self.seconds, self.wait = role, size, seconds, wait
        self._idle: collections.deque[Worker] = collections.deque()  # first in, first out: all stay warm
        self._changed = threading.Condition()
        self._failure: str | None = None  # why the last start failed, until one succeeds
        self._closed = False
        for _ in range(size):
            self._start_in_background()

    def wait_until_ready(self, timeout: float = START_SECONDS) -> bool:
        """Wait until every worker is ready (True), or one failed to start, or `timeout` passed (False)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._idle) >= self.size or self._failure is not None, timeout)
            return len(self._idle) >= self.size

    def run(self, api: str, request: Any, seconds: float | None = None) -> Any:
        """The answer of the worker's `api` function; raises what the user should see of what went wrong."""
        seconds = self.seconds if seconds is None else seconds
        worker = self._take()
        try:
            reply = worker.ask(api, request, seconds)
        except BaseException:  # silent past its limit, stopped, or talking nonsense: replace it
            worker.kill()
            self._start_in_background()
            raise
        self._give_back(worker)
        if "timeout" in reply:
            raise Overrun(seconds)
        if "user_error" in reply:
            raise UserError(reply["user_error"])
        if "bug" in reply:
            raise WorkerFailure(reply["bug"])
        return reply["answer"]

    def _take(self) -> Worker:
        with self._changed:
            if not self._changed.wait_for(lambda: self._idle or self._failure or self._closed, self.wait):
                raise Busy
            if self._closed:
                raise WorkerFailure("the server is stopping")
            if not self._idle:  # every start failed so far: say why, and try once more for the next request
                failure, self._failure = self._failure, None
                self._start_in_background()
                raise WorkerFailure(failure)
            return self._idle.popleft()

    def _give_back(self, worker: Worker) -> None:
        with self._changed:
            if self._closed:
                worker.kill()
                return
            self._idle.append(worker)
            self._changed.notify()

    def _start_in_background(self) -> None:
        threading.Thread(target=self._start, name=f"start a {self.role} worker", daemon=True).start()

    def _start(self) -> None:
        worker = None
        try:
            worker = Worker(self.role)
            worker.wait_ready()
        except (Overrun, WorkerFailure) as error:
            if worker is not None:
                worker.kill()
            with self._changed:
                self._failure = f"a {self.role} worker did not start: {error}"
                self._changed.notify_all()
            return
        with self._changed:
            self._failure = None
        self._give_back(worker)

    def close(self) -> None:
        with self._changed:
            idle, self._idle, self._closed = list(self._idle), collections.deque(), True
            self._changed.notify_all()
        for worker in idle:
            worker.kill()


__all__ = ["Busy", "Overrun", "UserError", "Worker", "WorkerFailure", "WorkerPool"]
