"""The page face of matdiff: `matdiff serve`, one local web page and the JSON API behind it.

Routes (nothing else is served):
    GET  /                      the page (static/index.html)
    GET  /static/<file>         the page's app.js and style.css, and the vendored KaTeX files
                                (static/vendor/katex/, put there by `make vendor`; optional)
    POST /api/derive            {"expression", "where", "wrt", "order", "vjp"[, "claim"]} -> the CLI's
                                JSON report plus the page's sections (`derive.py`)
    POST /api/variables         {"where"} -> {"variables": {name: {"shape", "shape_text", "properties"}},
                                              "features": {"explain", "codegen", "check", "verify": bool}}

Errors are JSON {"error": message}: 400 for text, shapes or a request the user can fix (the
message keeps its caret lines), 413 for a body over 10 kB, 504 for a derivation over 5 s, 404, 405,
411 and 415 for requests the page never makes.

Safety, since a page is a door: the server binds 127.0.0.1 unless a host is given *and* remote
access is allowed (`--allow-remote`); it answers only requests whose Host header names a loopback
address (a page elsewhere cannot reach it by DNS rebinding); it never evaluates text (the
engine parses with a whitelist); it serves a fixed set of files found at start, never a path
built from the request; the page renders every answer with textContent, and KaTeX with
throwOnError false; and a Content-Security-Policy allows scripts from this server only.
Each derivation runs in a worker process (`worker.py`) that is killed when it overruns its time.

This module owns HTTP and the worker processes; what an answer contains is `derive.py`'s.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import select
import subprocess
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import AF_INET6
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
MAX_REQUEST_BYTES = 10_000
DRAIN_BYTES = 1_000_000  # a body over the limit but under this is read and dropped; a larger one is not read
DERIVATION_SECONDS = 5.0
WORKERS = 2
STATIC_DIR = Path(__file__).with_name("static")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
}
PAGE_FILES = ("index.html", "app.js", "style.css")
# KaTeX draws with inline style attributes, hence 'unsafe-inline' for styles; scripts come from here only
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "font-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")
API = {"/api/derive": "derive", "/api/variables": "variables"}  # path -> the worker's function
USAGE_ERROR_EXIT_CODE = 2  # as for a bad command line: a busy port is the user's to change


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost': addresses no other machine can reach."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def static_files(root: Path = STATIC_DIR) -> dict[str, Path]:
    """URL path -> file, for the page's own files and whatever vendored files are present now."""
    files = {"/": root / "index.html"}
    files.update({f"/static/{name}": root / name for name in PAGE_FILES})
    vendor = root / "vendor"
    if vendor.is_dir():
        for path in sorted(vendor.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.suffix in CONTENT_TYPES:
                files["/static/" + path.relative_to(root).as_posix()] = path
    return {url: path for url, path in files.items() if path.is_file()}


# ---- the workers ------------------------------------------------------------------------------


class DerivationTimeout(Exception):
    """A derivation ran past its time; its worker was killed."""


class UserError(Exception):
    """Text, shapes or a request the user can fix (a MatdiffError or a RequestError in the worker)."""


class WorkerFailure(Exception):
    """A worker process stopped or answered nonsense: a bug, not the user's doing."""


class Worker:
    """One `python -m matdiff.web.worker` process: a JSON line in, a JSON line out."""

    def __init__(self) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding matdiff/
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen([sys.executable, "-m", "matdiff.web.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env,
                                        start_new_session=True)  # Ctrl-C reaches the server; it stops its workers
        self._pending = b""

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, api: str, request: Any, deadline: float) -> dict[str, Any]:
        line = json.dumps({"api": api, "request": request}) + "\n"  # ASCII: escapes travel as escapes
        try:
            self.process.stdin.write(line.encode("ascii"))
            self.process.stdin.flush()
        except OSError as error:
            raise WorkerFailure(f"the worker stopped ({error})") from None
        stdout = self.process.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([stdout], [], [], left)[0]:
                raise DerivationTimeout
            chunk = os.read(stdout, 1 << 16)
            if not chunk:
                raise WorkerFailure(f"the worker stopped (exit code {self.process.wait()})")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        try:
            reply = json.loads(line.decode("utf-8"))
        except ValueError as error:
            raise WorkerFailure(f"the worker answered something that is not JSON ({error})") from None
        if not isinstance(reply, dict) or not {"answer", "user_error", "bug"} & set(reply):
            raise WorkerFailure("the worker answered something that is not an answer")
        return reply

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            pipe.close()


class DerivationPool:
    """Up to `workers` worker processes; each call is answered within `timeout` seconds or stopped.

    Threads cannot be stopped, processes can: a worker that overruns is killed (and a new one
    started for the next call), so a derivation that never ends costs its time limit, no more.
    """

    def __init__(self, workers: int = WORKERS, timeout: float = DERIVATION_SECONDS) -> None:
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(workers)
        self._idle: list[Worker] = []
        self._lock = threading.Lock()
        self._workers = workers
        self._closed = False

    def warm_up(self, wait: bool = False, timeout: float = 60.0) -> None:
        """Start the workers and load the engine (and the numeric check's JAX) before the first request."""
        request = {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W"}
        threads = [threading.Thread(target=self.run, args=("derive", request, timeout), daemon=True)
                   for _ in range(self._workers)]
        for thread in threads:
            thread.start()
        if wait:
            for thread in threads:
                thread.join()

    def run(self, api: str, request: Any, timeout: float | None = None) -> Any:
        """The answer of the worker's `api` function; raises what it raised, as far as the user should see."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise DerivationTimeout  # every worker was busy for the whole time
        try:
            worker = self._take()
            try:
                reply = worker.ask(api, request, deadline)
            except BaseException:
                worker.kill()
                raise
            with self._lock:
                if self._closed:
                    worker.kill()
                else:
                    self._idle.append(worker)
        finally:
            self._slots.release()
        if "user_error" in reply:
            raise UserError(reply["user_error"])
        if "bug" in reply:
            raise WorkerFailure(reply["bug"])
        return reply["answer"]

    def _take(self) -> Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                worker.kill()
        try:
            return Worker()
        except OSError as error:
            raise WorkerFailure(f"cannot start a worker process ({error})") from None

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for worker in idle:
            worker.kill()


# ---- HTTP -------------------------------------------------------------------------------------


class PageServer(ThreadingHTTPServer):
    """The HTTP server: its workers, the files it may serve and the Host names it answers to."""

    daemon_threads = True
    derivations: DerivationPool | None = None

    def __init__(self, host: str = LOOPBACK, port: int = 0, *, allow_remote: bool = False,
                 timeout: float = DERIVATION_SECONDS, workers: int = WORKERS, quiet: bool = True) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ValueError(f"refusing to serve on {host}, which other machines can reach; "
                             "pass allow_remote=True (--allow-remote) to mean it")
        if ":" in host.strip("[]"):
            self.address_family = AF_INET6
        super().__init__((host.strip("[]"), port), PageHandler)
        self.allow_remote = allow_remote
        self.quiet = quiet
        self.files = static_files()
        self.derivations = DerivationPool(workers, timeout)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def server_close(self) -> None:
        super().server_close()
        if self.derivations is not None:  # None when binding the port failed
            self.derivations.close()


class PageHandler(BaseHTTPRequestHandler):
    server: PageServer
    server_version = "matdiff"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    # -- answers

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", Cache_Control="no-store")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json(status, {"error": message})

    def _host_allowed(self) -> bool:
        if self.server.allow_remote:
            return True
        host = self.headers.get("Host", "")
        try:
            name = urlsplit("//" + host).hostname or ""  # "127.0.0.1:8000", "[::1]:8000", "localhost"
        except ValueError:
            name = ""
        if not is_loopback(name):
            self._error(HTTPStatus.FORBIDDEN, f"this server answers on loopback addresses only, not {host!r}")
            return False
        return True

    # -- methods

    def do_GET(self) -> None:
        if not self._host_allowed():
            return
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path in API:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes POST with a JSON body")
            return
        file = self.server.files.get(path)
        if file is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such page: {path}")
            return
        headers = {"Cache_Control": "no-cache"}
        if file.suffix == ".html":
            headers["Content_Security_Policy"] = CONTENT_SECURITY_POLICY
            headers["X_Frame_Options"] = "DENY"
        self._send(HTTPStatus.OK, file.read_bytes(), CONTENT_TYPES[file.suffix], **headers)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if not self._host_allowed():
            return
        answer = API.get(self.path)
        if answer is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such API: {self.path}")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "send the JSON body with a Content-Length")
            return
        if int(length) > MAX_REQUEST_BYTES:
            self.close_connection = True
            if int(length) <= DRAIN_BYTES:  # read what was sent, so that the client reads our answer
                self.rfile.read(int(length))
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"the request is {int(length)} bytes; at most {MAX_REQUEST_BYTES} are accepted")
            return
        body = self.rfile.read(int(length))
        if self.headers.get_content_type() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the request as application/json")
            return
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self._error(HTTPStatus.BAD_REQUEST, f"the request is not JSON: {error}")
            return
        try:
            result = self.server.derivations.run(answer, request)
        except UserError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
        except DerivationTimeout:
            self._error(HTTPStatus.GATEWAY_TIMEOUT,
                        f"the derivation took longer than {self.server.derivations.timeout:g} s and was stopped")
        except WorkerFailure as error:  # a bug in the engine: say so, keep serving
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {error}")
        else:
            self._json(HTTPStatus.OK, result)


# ---- running it -------------------------------------------------------------------------------


def serve(host: str = LOOPBACK, port: int = 0, *, allow_remote: bool = False, quiet: bool = False) -> None:
    """Serve the page until interrupted, after printing its URL (port 0: a free port)."""
    server = PageServer(host, port, allow_remote=allow_remote, quiet=quiet)
    server.derivations.warm_up()
    print(f"matdiff: serving the page on {server.url}  (Ctrl-C stops it)", flush=True)
    if "/static/vendor/katex/katex.min.js" not in server.files:
        print("matdiff: KaTeX is not installed (`make vendor`): math shows as plain text", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


EXAMPLES = """\
examples:
  matdiff serve                                   on 127.0.0.1, a free port; open the URL it prints
  matdiff serve --port 8765
  matdiff serve --host 0.0.0.0 --allow-remote     reachable from other machines: both options are needed
"""


def main(argv: list[str] | None = None) -> int:
    """`matdiff serve` (which runs `python -m matdiff.web`): read the options, serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="matdiff serve", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the local web page: type an expression and its declarations, see the derivative\n"
                    "rendered, with its index and vec forms, the steps, generated code and a numeric check.\n"
                    "The JSON API behind it is POST /api/derive. Runs until Ctrl-C.")
    parser.add_argument("--host", default=LOOPBACK,
                        help="the address to listen on; only loopback without --allow-remote (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="the port; 0 picks a free one (default)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a --host that other machines can reach")
    parser.add_argument("--quiet", "-q", action="store_true", help="do not log requests")
    options = parser.parse_args(argv)
    if not 0 <= options.port <= 65535:
        parser.error(f"--port {options.port} is not a port (0 to 65535)")
    if not is_loopback(options.host) and not options.allow_remote:
        parser.error(f"--host {options.host} is reachable from other machines; add --allow-remote to serve there")
    try:
        serve(options.host, options.port, allow_remote=options.allow_remote, quiet=options.quiet)
    except OSError as error:  # the port is taken, the address is not this machine's
        print(f"matdiff serve: cannot listen on {options.host}:{options.port}: {error.strerror or error}",
              file=sys.stderr)
        return USAGE_ERROR_EXIT_CODE
    return 0


__all__ = [
    "DERIVATION_SECONDS",
    "LOOPBACK",
    "MAX_REQUEST_BYTES",
    "DerivationPool",
    "PageServer",
    "is_loopback",
    "main",
    "serve",
    "static_files",
]
