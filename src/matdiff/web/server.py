"""The page face of matdiff: `matdiff serve`, one local web page and the JSON API behind it.

Routes (nothing else is served):
    GET  /                      the page (static/index.html)
    GET  /static/<file>         the page's app.js and style.css, and the vendored KaTeX files
                                (static/vendor/katex/, put there by `make vendor`; optional)
    POST /api/derive            {"expression", "where", "wrt", "order", "vjp"[, "syntax", "claim"]} -> the
                                shared JSON report (`matdiff.report`) plus the page's sections (`derive.py`);
                                "syntax": "matdiff" | "latex" | "matrixcalculus" (a LaTeX question names
                                its own variable, so "wrt" may be left out)
    POST /api/variables         {"where"[, "syntax", "expression"]} -> {"variables": {name: {"shape",
                                "shape_text", "properties"}}, "features": {"explain", "codegen", "check",
                                "verify": bool}}

Errors are JSON {"error": message}, whatever the method or the path: 400 for text, shapes or a
request the user can fix (the message keeps its caret lines; a text field over 4000 characters
is refused, never cut short), 413 for a body over 50 kB, 504 for a derivation over 5 s, 503 when
every worker stayed busy for 10 s, 408 for a client that stops sending, 404, 405, 411 and 415
for requests the page never makes.

Time: the 5 s limit counts the derivation alone, from the moment a worker starts on it (not the
wait for a free worker, not starting a worker). The numeric check runs after it on workers of its
own, with its own limit; a check that overruns leaves the answer intact, its section saying so.
Each derivation runs in a child process that is stopped when it overruns and yields the CPU to
short requests once it has used 0.5 s of it (`pool.py`, `worker.py`). A client gets 10 s to send its
request (idle connections and half-sent bodies are closed after that, freeing their thread).

Safety, since a page is a door: the server binds 127.0.0.1 unless a host is given *and* remote
access is allowed (`--allow-remote`); it answers only requests whose Host header names a loopback
address (a page elsewhere cannot reach it by DNS rebinding); it never evaluates text (the
engine parses with a whitelist); it serves a fixed set of files found at start, never a path
built from the request; the page renders every answer with textContent, and KaTeX with
throwOnError false; and a Content-Security-Policy allows scripts from this server only.

This module owns HTTP; the worker processes are `pool.py`'s, what an answer contains is `derive.py`'s.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import AF_INET6
from typing import Any
from urllib.parse import urlsplit

from .pool import Busy, Overrun, UserError, WorkerFailure, WorkerPool

LOOPBACK = "127.0.0.1"
MAX_REQUEST_BYTES = 50_000  # three text fields of 4000 characters fit, at up to 4 bytes each in UTF-8
DRAIN_BYTES = 1_000_000  # a body over the limit but under this is read and dropped; a larger one is not read
DERIVATION_SECONDS = 5.0
CHECK_SECONDS = 5.0
WAIT_SECONDS = 10.0  # how long a request may wait for a free worker before 503 (its time limit does not count it)
CLIENT_SECONDS = 10.0  # how long a client may take to send its request, and stay idle on a connection
# One worker per request the page expects at once (8 clients): a long derivation never holds up a short one.
# A derivations' worker is light (the engine, ~45 MB); a check's holds JAX (~250 MB), and checks are short.
DERIVATION_WORKERS = 8
CHECK_WORKERS = 2
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


# ---- HTTP -------------------------------------------------------------------------------------


class PageServer(ThreadingHTTPServer):
    """The HTTP server: its workers, the files it may serve and the Host names it answers to.

    The workers start (in the background) once the port is bound; `wait_until_ready` waits for them.
    """

    daemon_threads = True
    derivations: WorkerPool | None = None
    checks: WorkerPool | None = None

    def __init__(self, host: str = LOOPBACK, port: int = 0, *, allow_remote: bool = False,
                 timeout: float = DERIVATION_SECONDS, check_timeout: float = CHECK_SECONDS,
                 workers: int = DERIVATION_WORKERS, checkers: int = CHECK_WORKERS, wait: float = WAIT_SECONDS,
                 client_timeout: float = CLIENT_SECONDS, quiet: bool = True) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ValueError(f"refusing to serve on {host}, which other machines can reach; "
                             "pass allow_remote=True (--allow-remote) to mean it")
        if ":" in host.strip("[]"):
            self.address_family = AF_INET6
        super().__init__((host.strip("[]"), port), PageHandler)  # OSError for a busy port: nothing started yet
        self.allow_remote = allow_remote
        self.quiet = quiet
        self.client_timeout = client_timeout
        self.files = static_files()
        self.derivations = WorkerPool("derivations", workers, timeout, wait)
        # a check waits for a free checker no longer than it may run: then the answer goes without it
        self.checks = WorkerPool("checks", checkers, check_timeout, check_timeout)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def wait_until_ready(self, timeout: float = 120.0) -> bool:
        """Wait until every worker has started and warmed up (the engine and JAX loaded)."""
        deadline = time.monotonic() + timeout
        return all(pool.wait_until_ready(max(0.0, deadline - time.monotonic()))
                   for pool in (self.derivations, self.checks))

    def server_close(self) -> None:
        super().server_close()
        for pool in (self.derivations, self.checks):
            if pool is not None:  # None when binding the port failed
                pool.close()


class ClientTooSlow(Exception):
    """The client did not send its whole request in time."""


class PageHandler(BaseHTTPRequestHandler):
    server: PageServer
    server_version = "matdiff"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.client_timeout  # every read and write of this connection; then it is closed
        super().setup()

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

    def _json(self, status: HTTPStatus, payload: dict[str, Any], **headers: str) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", Cache_Control="no-store", **headers)

    def _error(self, status: HTTPStatus, message: str, **headers: str) -> None:
        self._json(status, {"error": message}, **headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The errors http.server raises itself (a method it has no do_ for, a malformed request line) as JSON."""
        if code == HTTPStatus.NOT_IMPLEMENTED and getattr(self, "command", ""):  # PUT, DELETE, PATCH, ...
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not answered here: use GET or POST"
        status = HTTPStatus(code)
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        self._error(status, message or status.phrase, Connection="close",
                    **({"Allow": "GET, HEAD, POST"} if status == HTTPStatus.METHOD_NOT_ALLOWED else {}))

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

    def _read_body(self, length: int) -> bytes:
        """The body, all of it within the client's time (a client that announces more than it sends is let go)."""
        deadline = time.monotonic() + self.server.client_timeout
        body = bytearray()
        while len(body) < length:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientTooSlow(f"{len(body)} of {length} bytes")
            self.connection.settimeout(left)
            try:
                chunk = self.rfile.read1(length - len(body))
            except TimeoutError:
                raise ClientTooSlow(f"{len(body)} of {length} bytes") from None
            if not chunk:
                raise ClientTooSlow(f"the connection closed after {len(body)} of {length} bytes")
            body += chunk
        self.connection.settimeout(self.server.client_timeout)
        return bytes(body)

    # -- methods

    def do_GET(self) -> None:
        if not self._host_allowed():
            return
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path in API:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes POST with a JSON body", Allow="POST")
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
        api = API.get(self.path)
        if api is None:
            self._error(HTTPStatus.NOT_FOUND, f"no such API: {self.path}")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._error(HTTPStatus.LENGTH_REQUIRED, "send the JSON body with a Content-Length")
            return
        try:
            if int(length) > MAX_REQUEST_BYTES:
                if int(length) <= DRAIN_BYTES:  # read what was sent, so that the client reads our answer
                    self._read_body(int(length))
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"the request is {int(length)} bytes; at most {MAX_REQUEST_BYTES} are accepted")
                return
            body = self._read_body(int(length))
        except ClientTooSlow as error:
            self._error(HTTPStatus.REQUEST_TIMEOUT,
                        f"the request did not arrive within {self.server.client_timeout:g} s ({error})")
            return
        if self.headers.get_content_type() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the request as application/json")
            return
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            self._error(HTTPStatus.BAD_REQUEST, f"the request is not JSON: {error}")
            return
        try:
            result = self.server.derivations.run(api, request)
        except UserError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
        except Overrun as overrun:
            self._error(HTTPStatus.GATEWAY_TIMEOUT, f"the derivation took longer than {overrun.seconds:g} s and was "
                                                    "stopped (the limit counts the derivation alone)")
        except Busy:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE,
                        f"every worker stayed busy for {self.server.derivations.wait:g} s: try again in a moment",
                        Retry_After="5")
        except WorkerFailure as error:  # a bug in the engine: say so, keep serving
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {error}")
        else:
            if api == "derive":
                self._add_check(request, result)
            self._json(HTTPStatus.OK, result)

    def _add_check(self, request: Any, answer: dict[str, Any]) -> None:
        """The numeric check's section, run after the answer with its own limit: what goes wrong is its own."""
        checks = self.server.checks
        try:
            section = checks.run("check", request)
        except Overrun as overrun:
            section = {"error": f"the numeric check took longer than {overrun.seconds:g} s and was stopped; "
                                "the derivative above does not depend on it", "timed_out": True}
        except Busy:
            section = {"error": f"the numeric check was not run: the checking processes stayed busy for "
                                f"{checks.wait:g} s", "timed_out": True}
        except (UserError, WorkerFailure) as error:
            section = {"error": f"the numeric check failed: {error}"}
        if section is not None:
            answer["check"] = section


# ---- running it -------------------------------------------------------------------------------


def serve(server: PageServer) -> None:
    """Serve the page until interrupted, after printing its URL."""
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
        server = PageServer(options.host, options.port, allow_remote=options.allow_remote, quiet=options.quiet)
    except OSError as error:  # the port is taken, the address is not this machine's
        print(f"matdiff serve: cannot listen on {options.host}:{options.port}: {error.strerror or error}",
              file=sys.stderr)
        return USAGE_ERROR_EXIT_CODE
    serve(server)
    return 0


__all__ = [
    "CHECK_SECONDS",
    "DERIVATION_SECONDS",
    "LOOPBACK",
    "MAX_REQUEST_BYTES",
    "PageServer",
    "is_loopback",
    "main",
    "serve",
    "static_files",
]
