"""A worker process of `matdiff serve`: answers API requests, one JSON line in, one JSON line out.

    python -m matdiff.web.worker
    > {"api": "derive", "request": {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W"}}
    < {"answer": {...}}                       or {"user_error": message} or {"bug": message}

The server runs derivations here, not in its own threads, so that one which overruns its time can
be stopped: the server kills the process and starts another. A plain subprocess (rather than
multiprocessing) never re-imports the program that started the server.

This module owns the protocol; the answers are `derive.py`'s.
"""
from __future__ import annotations

import json
import os
import sys

from ..errors import MatdiffError
from . import derive

API = {"derive": derive.derive, "variables": derive.variables}


def answer(line: str) -> dict:
    try:
        message = json.loads(line)
        result = API[message["api"]](message["request"])
    except (MatdiffError, derive.RequestError) as error:
        return {"user_error": str(error)}
    except Exception as error:  # noqa: BLE001 - a bug in the engine: report it, keep the worker
        return {"bug": f"{type(error).__name__}: {error}"}
    return {"answer": result}


def main() -> None:
    # Keep the protocol's stdout to ourselves: anything the engine or a library prints (even from C)
    # goes to stderr instead of into the answers.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        if line.strip():
            protocol.write(json.dumps(answer(line), ensure_ascii=False) + "\n")
            protocol.flush()


if __name__ == "__main__":
    main()
