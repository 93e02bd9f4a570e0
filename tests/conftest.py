"""Fixtures for the site tests: one strict build per session, a local server, headless Chromium."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (CI included): a failure is reproducible,
# and a green run cannot turn red by luck. HYPOTHESIS_PROFILE=explore draws new ones each run.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def build_site(dest: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` into `dest`. Never pass -q: with it, strict exits 0 on warnings."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(dest)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def site_build(tmp_path_factory):
    dest = tmp_path_factory.mktemp("site")
    proc = build_site(dest)
    return dest, proc


@pytest.fixture(scope="session")
def built_site(site_build) -> Path:
    dest, proc = site_build
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    """A file server that says nothing when the browser closes a connection mid-response (a
    page moved on before a prefetched file was sent): that is no error of the site's."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def site_url(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CALCBOOK_REQUIRE_BROWSER"):
            pytest.fail(f"CALCBOOK_REQUIRE_BROWSER is set but there is no Chromium at {CHROMIUM}")
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's with `sudo apt-get install chromium` "
            "(or set CHROMIUM=/path/to/chromium); .ci/run installs it"
        )
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


BROWSER_TOTALS = {"pages": 0, "requests": 0, "external": 0}


def pytest_terminal_summary(terminalreporter):
    if BROWSER_TOTALS["pages"]:
        terminalreporter.write_line(
            "browser tests: {pages} page loads, {requests} requests, "
            "{external} to hosts other than 127.0.0.1".format(**BROWSER_TOTALS)
        )


class PageLog:
    def __init__(self):
        self.console_errors: list[str] = []
        self.external_requests: list[str] = []
        self.failed_requests: list[str] = []
        self.requests: list[str] = []


@pytest.fixture
def page(browser):
    """A page that records console errors, page errors, failed requests and blocks external ones."""
    context = browser.new_context()
    pg = context.new_page()
    log = PageLog()

    def on_console(message):
        if message.type == "error":
            log.console_errors.append(message.text)

    def route(route):
        url = route.request.url
        log.requests.append(url)
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return route.continue_()
        log.external_requests.append(url)
        return route.abort()

    pg.on("console", on_console)
    pg.on("pageerror", lambda e: log.console_errors.append(f"pageerror: {e}"))
    pg.on("requestfailed", lambda r: log.failed_requests.append(r.url))
    pg.route("**/*", route)
    pg.log = log
    yield pg
    context.close()
    BROWSER_TOTALS["pages"] += 1
    BROWSER_TOTALS["requests"] += len(log.requests)
    BROWSER_TOTALS["external"] += len(log.external_requests)
