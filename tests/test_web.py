"""The page of `matdiff serve`: its JSON API over real HTTP, its safety limits, and the page itself in
headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

The API answers are the engine's: the tests check that the page asks the right question, returns the
shared JSON report with the page's sections, and refuses what it should (400 with the caret or
for a text over 4000 characters, 413 over 50 kB, 504 over the time limit, 408 for a client that
stops sending, 403 for a foreign Host, 404 for any other file, 405 for any other method, always
as JSON). The time limit counts the derivation alone; the numeric check has its own.
tests/test_web_load.py puts the page under load.
The browser tests skip when Chromium is not installed (`.ci/run` installs it) and leave a screenshot
in tests/artifacts/page.png (docs/page.png is a copy of it).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import matdiff as md
from matdiff.report import Report, report_json
from matdiff.web.derive import MAX_TEXT
from matdiff.web.server import MAX_REQUEST_BYTES, PageServer, is_loopback

# `make test` runs this module alone, after the others: its servers' time limits need the cores to themselves
pytestmark = pytest.mark.alone

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
SEED = {"expression": "W @ X", "where": "W: m×q, X: q×n", "wrt": "W"}
KATEX_VENDORED = (ROOT / "src/matdiff/web/static/vendor/katex/katex.min.js").is_file()


def running(server: PageServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def server():
    server = PageServer()
    assert server.wait_until_ready()  # the workers start with the server; the tests wait for all of them
    running(server)
    yield server
    server.shutdown()
    server.server_close()


def request(server: PageServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def post(server: PageServer, path: str, payload) -> tuple[int, dict]:
    status, _, body = request(server, "POST", path, json.dumps(payload).encode(),
                              {"Content-Type": "application/json"})
    return status, json.loads(body)


# ---- the API ------------------------------------------------------------------------------------


def test_derive_answers_with_the_cli_schema_and_the_pages_sections(server):
    status, answer = post(server, "/api/derive", SEED)
    assert status == 200, answer
    d = md.derivative("W @ X", "W", "W: m×q, X: q×n")
    cli = report_json(Report(md.parse("W @ X", "W: m×q, X: q×n"), d))
    assert {k: answer[k] for k in cli} == cli
    assert answer["derivative"]["text"] == "kron(X.T, eye(m))"
    assert answer["index"]["text"] == d.index.text == "∂(W @ X)[i,j]/∂W[k,l] = δ[i,k] X[l,j]"
    assert answer["vec"]["text"] == "kron(X.T, eye(m))"
    if hasattr(md, "codegen"):
        assert "np.kron(X.T, np.eye(m))" in answer["code"]["numpy"]
        assert "jnp.kron" in answer["code"]["jax"] and "torch.kron" in answer["code"]["torch"]
    if hasattr(md, "check"):
        assert answer["check"]["ok"] is True, answer["check"]
    assert ("steps" in answer) == hasattr(md, "explain")
    if hasattr(md, "explain"):  # the chain rule gives the backprop rule on the way: ∂φ/∂W = G Xᵀ
        assert isinstance(answer["steps"], list), answer["steps"]
        assert any(step["text"] == "∂φ/∂W = G Xᵀ" for step in answer["steps"])
    assert "verdict" not in answer  # no claim was sent


@pytest.mark.skipif(not hasattr(md, "verify"), reason="md.verify is not in this version")
def test_a_claim_is_judged(server):
    status, answer = post(server, "/api/derive", {**SEED, "claim": "X.T"})
    assert status == 200 and answer["verdict"]["verdict"] == "wrong" and not answer["verdict"]["correct"]
    assert "backprop factor" in [f["kind"] for f in answer["verdict"]["diagnosis"]]
    status, answer = post(server, "/api/derive", {**SEED, "vjp": "G", "claim": "G @ X.T"})
    assert status == 200 and answer["verdict"]["verdict"] == "correct"


def test_gradient_vjp_and_hessian(server):
    status, answer = post(server, "/api/derive", {"expression": "tr(A @ X @ B)", "where": "A: n×p, X: p×q, B: q×n",
                                                  "wrt": "X"})
    assert status == 200 and answer["derivative"]["text"] == "A.T @ B.T"
    assert answer["vec"]["text"] == "vec(A.T @ B.T)"  # d f / d vec(X) = vec(∇f)ᵀ

    status, answer = post(server, "/api/derive", {**SEED, "vjp": "G"})
    assert status == 200 and answer["derivative"]["text"] == "G @ X.T"
    assert answer["derivative"]["cotangent"] == "G" and answer["derivative"]["kind"] == "vjp"
    assert answer["vec"]["text"] == "kron(X.T, eye(m))"  # the Jacobian the rule transposes
    if hasattr(md, "check"):  # checked on its own workers, as the gradient of sum(G ⊙ f)
        assert answer["check"]["ok"] is True and "sum(G ⊙ f)" in answer["check"]["note"]

    status, answer = post(server, "/api/derive", {"expression": "x @ A @ x", "where": "x: n, A: n×n", "wrt": "x",
                                                  "order": 2, "vjp": False})
    assert status == 200 and answer["derivative"]["text"] == "A + A.T"
    assert answer["derivative"]["kind"] == "hessian"


def test_declarations_give_the_variables_to_choose_from(server):
    status, answer = post(server, "/api/variables", {"where": "W: m×q, X: q×n, S: n×n sym"})
    assert status == 200
    assert answer["features"] == {name: hasattr(md, name) for name in ("explain", "codegen", "check", "verify")}
    assert answer["variables"] == {
        "W": {"shape": ["m", "q"], "shape_text": "m×q", "properties": []},
        "X": {"shape": ["q", "n"], "shape_text": "q×n", "properties": []},
        "S": {"shape": ["n", "n"], "shape_text": "n×n", "properties": ["sym"]},
    }
    status, answer = post(server, "/api/variables", {"where": "W: m×"})
    assert status == 400 and "dimension is missing" in answer["error"]


def test_errors_are_400_with_the_caret(server):
    status, answer = post(server, "/api/derive", {**SEED, "expression": "X @ W"})
    assert status == 400
    assert answer["error"] == "X @ W: X is q×n but W is m×q (columns n ≠ rows m)\n    X @ W\n    ^^^^^"

    status, answer = post(server, "/api/derive", {**SEED, "expression": "W @ X +"})
    assert status == 400 and answer["error"].endswith("W @ X +\n           ^")

    status, answer = post(server, "/api/derive", {**SEED, "wrt": "V"})
    assert status == 400 and "not a declared variable" in answer["error"]


@pytest.mark.parametrize("payload, message", [
    ({"where": "W: m×q", "wrt": "W"}, '"expression" must be text'),
    ({**SEED, "wrt": []}, '"wrt" must name the variable'),
    ({**SEED, "order": 9}, '"order" must be a whole number from 1 to 4'),
    ({**SEED, "vjp": "G", "order": 2}, "a VJP is by one variable, of order 1"),
    ({**SEED, "code": "import os"}, "unknown field 'code'"),
    # several variables are the mixed derivative only when asked for, as in the CLI (--wrt D --wrt R --mixed)
    ({**SEED, "wrt": ["W", "X"]}, 'only with "mixed": true; for the gradient by each, ask once per variable'),
    ({**SEED, "mixed": True}, '"mixed": true needs two "wrt" variables'),
    ({**SEED, "wrt": ["W", "X"], "mixed": "yes"}, '"mixed" must be true or false'),
    ([1, 2], "the request must be a JSON object"),
])
def test_malformed_requests_are_400(server, payload, message):
    status, answer = post(server, "/api/derive", payload)
    assert status == 400 and message in answer["error"]


def test_the_mixed_derivative_is_asked_for_by_name(server):
    status, answer = post(server, "/api/derive", {"expression": "tr(W @ X)", "where": "W: m×q, X: q×m",
                                                  "wrt": ["W", "X"], "mixed": True})
    assert status == 200 and answer["wrt"] == ["W", "X"]


def test_bodies_that_are_not_json_are_refused(server):
    status, _, body = request(server, "POST", "/api/derive", b"{expression", {"Content-Type": "application/json"})
    assert status == 400 and json.loads(body)["error"].startswith("the request is not JSON")
    status, _, _ = request(server, "POST", "/api/derive", json.dumps(SEED).encode(), {"Content-Type": "text/plain"})
    assert status == 415


def test_text_over_the_limit_is_refused_never_cut_short(server):
    status, answer = post(server, "/api/derive", {**SEED, "expression": "W @ X" + " " * (MAX_TEXT - 5)})
    assert status == 200  # at the limit is fine
    status, answer = post(server, "/api/derive", {**SEED, "expression": "W @ X" + " " * (MAX_TEXT - 4)})
    assert status == 400
    assert answer["error"] == f'"expression" is {MAX_TEXT + 1} characters long; at most {MAX_TEXT} are accepted ' \
                              "(nothing was cut short)"
    for field in ("where", "claim"):
        status, answer = post(server, "/api/derive", {**SEED, field: "x" * (MAX_TEXT + 1)})
        assert status == 400 and f'"{field}" is {MAX_TEXT + 1} characters long' in answer["error"]


def test_requests_over_50_kB_are_413(server):
    # three text fields at their limit, each character 4 bytes in UTF-8 (as the page sends them), still fit
    payload = {**SEED, "expression": "𝑊" * MAX_TEXT, "where": "𝑊" * MAX_TEXT, "claim": "𝑋" * MAX_TEXT}
    status, _, body = request(server, "POST", "/api/derive", json.dumps(payload, ensure_ascii=False).encode(),
                              {"Content-Type": "application/json"})
    assert status == 400 and "declaration" in json.loads(body)["error"]  # the engine's answer, not a 413
    payload = {**SEED, "expression": "W @ X" + " " * MAX_REQUEST_BYTES}
    status, answer = post(server, "/api/derive", payload)
    assert status == 413 and f"at most {MAX_REQUEST_BYTES}" in answer["error"]


def small_server(**options) -> PageServer:
    """A server of its own, with one worker of each kind (and whatever limits the test sets)."""
    server = PageServer(workers=1, checkers=1, **options)
    assert server.wait_until_ready()
    running(server)
    return server


def chain(layers: int) -> str:
    """sum(tanh(A @ tanh(A @ ... x + b) + b)): its fourth derivative by x takes far longer than 5 s."""
    inner = "x"
    for _ in range(layers):
        inner = f"tanh(A @ {inner} + b)"
    return f"sum({inner})"


SLOW = {"expression": chain(8), "where": "A: n×n, x: n, b: n", "wrt": "x", "order": 4}


def worker_pids(server: PageServer) -> set[int]:
    return {worker.process.pid for worker in server.derivations._idle}


def test_the_time_limit_counts_the_derivation_alone():
    server = small_server(timeout=2.0)
    try:
        pids = worker_pids(server)
        slow = {}
        thread = threading.Thread(target=lambda: slow.update(answer=post(server, "/api/derive", SLOW)))
        thread.start()
        time.sleep(0.3)  # the slow derivation has the only worker now
        started = time.monotonic()
        status, answer = post(server, "/api/derive", SEED)
        waited = time.monotonic() - started
        thread.join()
        assert slow["answer"] == (504, {"error": "the derivation took longer than 2 s and was stopped "
                                                 "(the limit counts the derivation alone)"})
        # it waited for the worker longer than the limit, and that did not count: an answer, not a 504
        assert status == 200 and answer["derivative"]["text"] == "kron(X.T, eye(m))"
        assert waited > 1.5, waited
        assert worker_pids(server) == pids  # the worker stopped its own overrunning child and stayed
    finally:
        server.shutdown()
        server.server_close()


def test_a_check_that_overruns_keeps_the_answer():
    server = small_server(check_timeout=0.01)  # a check of an expression it has not compiled yet overruns
    try:
        status, answer = post(server, "/api/derive", {"expression": "tr(A @ X @ B)", "wrt": "X",
                                                      "where": "A: n×p, X: p×q, B: q×n"})
        assert status == 200 and answer["derivative"]["text"] == "A.T @ B.T"
        assert "code" in answer and "index" in answer  # every other section is there
        if hasattr(md, "check"):
            assert answer["check"] == {"error": "the numeric check took longer than 0.01 s and was stopped; "
                                                "the derivative above does not depend on it", "timed_out": True}
    finally:
        server.shutdown()
        server.server_close()


def test_only_the_pages_own_files_are_served(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert b'id="expression"' in body
    status, headers, _ = request(server, "GET", "/static/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    for path in ("/static/../pyproject.toml", "/static/%2e%2e/server.py", "/../../etc/passwd", "/server.py",
                 "/static/vendor/../../server.py", "/static/"):
        assert request(server, "GET", path)[0] == 404, path
    assert request(server, "GET", "/api/derive")[0] == 405
    if KATEX_VENDORED:
        status, headers, _ = request(server, "GET", "/static/vendor/katex/katex.min.js")
        assert status == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND"])
def test_every_other_method_gets_the_json_error(server, method):
    status, headers, body = request(server, method, "/api/derive", b"{}", {"Content-Type": "application/json"})
    assert status == 405 and headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"error": f"{method} is not answered here: use GET or POST"}
    assert headers["allow"] == "GET, HEAD, POST"


def raw_exchange(server: PageServer, data: bytes, seconds: float = 30) -> tuple[bytes, float]:
    """Send raw bytes, then read until the server closes the connection: what came back, and when."""
    started = time.monotonic()
    with socket.create_connection(server.server_address[:2], timeout=seconds) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(1 << 16):
            received += chunk
    return received, time.monotonic() - started


def test_malformed_requests_get_the_json_error(server):
    received, _ = raw_exchange(server, b"GARBAGE\r\n\r\n")  # read as HTTP/0.9: a body without a head
    assert json.loads(received) == {"error": "Bad request syntax ('GARBAGE')"}
    received, _ = raw_exchange(server, b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431") and b"application/json" in head
    assert json.loads(body) == {"error": "Line too long"}
    received, _ = raw_exchange(server, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 414") and json.loads(body) == {"error": "Request-URI Too Long"}


def handler_threads() -> int:
    return sum("process_request_thread" in thread.name for thread in threading.enumerate())


def test_idle_and_slow_clients_time_out_and_free_their_thread():
    server = small_server(client_timeout=0.5)
    try:
        received, seconds = raw_exchange(server, b"")  # connects, says nothing
        assert received == b"" and seconds < 5
        # announces 100 bytes, sends 10
        head = (b"POST /api/derive HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n")
        received, seconds = raw_exchange(server, head + b'{"expressi')
        assert received.startswith(b"HTTP/1.0 408") and seconds < 5
        assert json.loads(received.partition(b"\r\n\r\n")[2]) == {
            "error": "the request did not arrive within 0.5 s (10 of 100 bytes)"}
        deadline = time.monotonic() + 5
        while handler_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert handler_threads() == 0
    finally:
        server.shutdown()
        server.server_close()


def test_a_foreign_host_header_is_refused(server):
    # a page on another site that rebinds its name to 127.0.0.1 still sends its own Host
    status, _, body = request(server, "GET", "/", headers={"Host": "evil.example:8000"})
    assert status == 403 and b"loopback addresses only" in body
    assert request(server, "GET", "/", headers={"Host": f"localhost:{server.server_address[1]}"})[0] == 200


def test_the_server_binds_loopback_unless_told_otherwise(server):
    assert server.server_address[0] == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.org")
    with pytest.raises(ValueError, match="allow_remote"):
        PageServer("0.0.0.0")
    result = subprocess.run([sys.executable, "-m", "matdiff.cli", "serve", "--host", "0.0.0.0"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "add --allow-remote" in result.stderr


def test_a_busy_port_is_one_line_and_exit_2(server):
    port = str(server.server_address[1])
    result = subprocess.run([sys.executable, "-m", "matdiff.cli", "serve", "--port", port],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"matdiff serve: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_matdiff_serve_prints_its_url_and_serves(tmp_path):
    log = tmp_path / "stderr"
    with open(log, "w") as stderr:  # the child keeps its own copy of the file
        process = subprocess.Popen([sys.executable, "-m", "matdiff.cli", "serve", "--quiet"],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()
        assert line.startswith("matdiff: serving the page on http://127.0.0.1:"), (line, log.read_text())
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


# ---- the page, in headless Chromium -------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does it)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # the flags this machine needs: no sandbox as root, and no background connections to the closed network
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,1700",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for a browser online
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(driver, condition, seconds: float = 30):
    """Until `condition(driver)` holds; an element the page replaced meanwhile (stale) is asked for again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def fill(driver, expression: str, where: str, wrt: str, derive: bool = True) -> None:
    """The form filled in; the Derive button pressed unless `derive` is False (to tick more first)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(server_url(driver))
    box = driver.find_element(By.ID, "expression")
    box.clear()
    box.send_keys(expression)
    box = driver.find_element(By.ID, "where")
    box.clear()
    box.send_keys(where)
    # the page rebuilds the variable list as the declarations change: found again at each look
    wait_for(driver, lambda d: wrt in [o.get_attribute("value") for o in Select(d.find_element(By.ID, "wrt")).options])
    Select(driver.find_element(By.ID, "wrt")).select_by_value(wrt)
    if derive:
        driver.find_element(By.ID, "derive").click()


def server_url(driver) -> str:
    return driver.matdiff_url


def test_the_page_derives_the_seed_example(server, browser):
    from selenium.webdriver.common.by import By

    browser.matdiff_url = server.url
    fill(browser, "W @ X", "W: m×q, X: q×n", "W")
    text = browser.find_element(By.ID, "derivative-text")
    wait_for(browser, lambda d: text.text == "kron(X.T, eye(m))")
    assert browser.find_element(By.ID, "result").is_displayed()
    assert not browser.find_element(By.ID, "error").is_displayed()

    math = browser.find_element(By.ID, "derivative-math")
    if KATEX_VENDORED:  # rendered by KaTeX: its HTML, with the Kronecker product and Iₘ
        assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-katex") == "yes"
        assert math.find_elements(By.CSS_SELECTOR, ".katex .katex-html")
        assert "⊗" in math.text and "⊤" in math.text
    else:  # no KaTeX: the Unicode form as plain text
        assert math.text == "(Xᵀ ⊗ Iₘ)"
    assert "δ[i,k] X[l,j]" in browser.find_element(By.ID, "index-text").text
    assert browser.find_element(By.ID, "vec-text").text == "kron(X.T, eye(m))"

    steps = browser.find_element(By.ID, "steps")
    if hasattr(md, "explain"):
        expected = post(server, "/api/derive", SEED)[1]["steps"]
        assert steps.is_displayed()
        summary = steps.find_element(By.TAG_NAME, "summary")
        summary.click()  # the steps are folded away until asked for
        items = steps.find_elements(By.CSS_SELECTOR, "#steps-list li")
        assert len(items) == len(expected) and items[0].is_displayed()
        headings = [h.text for h in steps.find_elements(By.CSS_SELECTOR, "#steps-list h4")]
        assert headings == list(dict.fromkeys(step["section"] for step in expected))
        summary.click()
    else:
        assert not steps.is_displayed()
    if hasattr(md, "codegen"):
        code = browser.find_element(By.ID, "code-text")
        assert "np.kron(X.T, np.eye(m))" in code.text
        browser.find_element(By.CSS_SELECTOR, ".tab[data-backend='torch']").click()
        assert "torch.kron" in code.text
        browser.find_element(By.CSS_SELECTOR, ".tab[data-backend='numpy']").click()
        browser.find_element(By.ID, "copy-code").click()
        wait_for(browser, lambda d: d.find_element(By.ID, "copy-status").text != "")
    if hasattr(md, "check"):
        assert "agrees" in browser.find_element(By.ID, "check-verdict").text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = browser.get_window_size()
    chrome = size["height"] - browser.execute_script("return window.innerHeight")
    browser.set_window_size(size["width"], browser.execute_script("return document.body.scrollHeight") + chrome)
    try:
        assert browser.save_screenshot(str(ARTIFACTS / "page.png"))  # the whole page: docs/page.png is a copy
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_the_page_shows_errors_inline_with_the_caret(server, browser):
    from selenium.webdriver.common.by import By

    browser.matdiff_url = server.url
    fill(browser, "X @ W", "W: m×q, X: q×n", "W")
    error = browser.find_element(By.ID, "error")
    wait_for(browser, lambda d: error.is_displayed())
    assert error.text.splitlines() == ["X @ W: X is q×n but W is m×q (columns n ≠ rows m)",
                                       "    X @ W",
                                       "    ^^^^^"]
    assert not browser.find_element(By.ID, "result").is_displayed()


def test_the_page_puts_server_text_in_as_text_never_as_html(server, browser):
    from selenium.webdriver.common.by import By

    browser.matdiff_url = server.url
    fill(browser, "<img src=x onerror=alert(1)>", "W: m×q, X: q×n", "W")
    error = browser.find_element(By.ID, "error")
    wait_for(browser, lambda d: error.is_displayed())
    assert "<img" in error.text and not error.find_elements(By.TAG_NAME, "img")


def test_the_examples_and_the_vjp_option(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server.url)
    browser.find_element(By.CSS_SELECTOR, ".example[data-order='2']").click()  # x @ A @ x, order 2
    text = browser.find_element(By.ID, "derivative-text")
    wait_for(browser, lambda d: text.text == "A + A.T")
    assert browser.find_element(By.ID, "result-title").text == "Hessian of x @ A @ x by x"

    browser.find_element(By.CSS_SELECTOR, ".example[data-expression='W @ X']").click()
    wait_for(browser, lambda d: text.text == "kron(X.T, eye(m))")
    browser.find_element(By.ID, "vjp").click()
    browser.find_element(By.ID, "derive").click()
    wait_for(browser, lambda d: text.text == "G @ X.T")
    assert browser.find_element(By.ID, "result-title").text.startswith("Backprop rule of W @ X by W")
    if hasattr(md, "verify"):  # your own answer, judged
        claim = browser.find_element(By.ID, "claim")
        claim.send_keys("X.T")
        browser.find_element(By.ID, "vjp").click()
        browser.find_element(By.ID, "derive").click()
        verdict = browser.find_element(By.ID, "verdict-line")
        wait_for(browser, lambda d: verdict.text.startswith("✗ wrong"))
        assert "backprop factor" in browser.find_element(By.ID, "verdict-diagnosis").text


# ---- the layers ---------------------------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    """The absolute names of the matdiff modules a file imports (relative imports resolved)."""
    import ast

    package = ["matdiff", *path.relative_to(ROOT / "src" / "matdiff").parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.update([module] + [f"{module}.{alias.name}" for alias in node.names])
    return {name for name in found if name.startswith("matdiff")}


def test_the_faces_do_not_import_each_other():
    web = sorted((ROOT / "src/matdiff/web").glob("*.py"))
    assert not {m for m in imported_modules(ROOT / "src/matdiff/cli.py") if m.startswith("matdiff.web")}
    for path in web:
        assert not {m for m in imported_modules(path) if m.startswith("matdiff.cli")}, path
    assert "matdiff.report.report_json" in imported_modules(ROOT / "src/matdiff/web/derive.py")


def test_the_pages_text_limit_is_the_servers():
    page = (ROOT / "src/matdiff/web/static/index.html").read_text()
    assert "maxlength" not in page  # it would cut a pasted text short without a word
    for field in ("expression", "where", "claim"):
        assert f'id="{field}" name="{field}" type="text"' in page
        assert re.search(rf'id="{field}"[^>]*data-limit="{MAX_TEXT}"', page), field


def test_the_page_says_when_a_text_is_too_long_and_never_cuts_it(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server.url)
    box = browser.find_element(By.ID, "expression")
    browser.execute_script("arguments[0].value = arguments[1]", box, "W @ X" + " " * (MAX_TEXT - 5))
    box.send_keys(" ")  # typed, or pasted: one character over the limit
    status = browser.find_element(By.ID, "length-status")
    wait_for(browser, lambda d: status.is_displayed())
    assert status.text == (f"The expression is {MAX_TEXT + 1} characters long; at most {MAX_TEXT} are accepted. "
                           "Nothing was cut: shorten it to differentiate.")
    assert len(box.get_attribute("value")) == MAX_TEXT + 1
    assert not browser.find_element(By.ID, "derive").is_enabled()
    box.send_keys("\b")
    wait_for(browser, lambda d: not status.is_displayed())
    assert browser.find_element(By.ID, "derive").is_enabled()
