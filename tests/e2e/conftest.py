"""Browser tests: the real app served on a free localhost port, driven by Debian's Chromium.

Fixtures (reuse them for every web UI test):

- `live_server`: `create_app(make_settings(...))` on SQLite in a temporary directory with the
  embedded worker (webhooks and jobs run), served by uvicorn in a background thread on
  `127.0.0.1:<free port>`; one per test package run. Its
  `pages` serve HTML a test writes (`live_server.pages.add(html)`) and record form POSTs
  (`live_server.pages.posts`), both on the app's origin or, with `cross_origin=True`, on
  `localhost:<port>` (another origin, still loopback: Chromium refuses requests from a public
  page to loopback, so a fake public host would not do).
- `browser`: one headless Chromium (`/usr/bin/chromium`, or `$CHROMIUM_PATH`) per run;
  `context`/`page`: a fresh context (cookies, storage) per test; `mobile_context`/`mobile_page`:
  the same at 360x740 with touch, as a phone.
- `sandbox`: the embedded Razorpay sandbox of `live_server`: keys, base URL, `create_order()`.

Without Chromium or Playwright the browser tests skip locally and FAIL in CI (`CI=true`).
Playwright's sync API is used (tests are plain functions); its event loop lives only while the
browser fixtures do, which end with this package, before other packages' async tests run.
"""

from __future__ import annotations

import base64
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from limits import parse

from enrollpay.abuse import service as abuse_service
from enrollpay.app import create_app
from enrollpay.config import Settings
from enrollpay.db.migrate import upgrade
from tests.conftest import make_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Headless and quiet: without the background-networking flags Chromium's own connections are
# refused on a closed network and slow everything down. Playwright adds --headless and a fresh,
# empty --user-data-dir per launch.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_TIMEOUT_MS = 5_000
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}
MOBILE_VIEWPORT = {"width": 360, "height": 740}
IN_CI = os.environ.get("CI") == "true"


def _browser_unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    if not Path(CHROMIUM_PATH).exists():
        return f"no Chromium at {CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


# ---- the live server ---------------------------------------------------------------------------


@dataclass
class FormPost:
    path: str
    content_type: str
    form: dict[str, str]


@dataclass
class TestPages:
    """HTML pages served by the live server for a test, and the form POSTs they receive."""

    __test__ = False  # not a test class

    base_url: str
    other_origin_url: str
    _pages: dict[str, str] = field(default_factory=dict)
    posts: queue.Queue[FormPost] = field(default_factory=queue.Queue)

    def add(self, html: str, *, cross_origin: bool = False) -> str:
        """Serve `html`; returns its absolute URL."""
        token = secrets.token_hex(8)
        self._pages[token] = html
        base = self.other_origin_url if cross_origin else self.base_url
        return f"{base}/__e2e__/pages/{token}"

    def post_url(self, name: str = "callback", *, cross_origin: bool = False) -> str:
        """A URL that records form POSTs (read them with `next_post`)."""
        base = self.other_origin_url if cross_origin else self.base_url
        return f"{base}/__e2e__/posts/{name}"

    def next_post(self, timeout: float = 5.0) -> FormPost:
        return self.posts.get(timeout=timeout)

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/__e2e__", include_in_schema=False)

        @router.get("/pages/{token}")
        async def page(token: str) -> HTMLResponse:
            return HTMLResponse(self._pages.get(token, "no such page"), status_code=200)

        @router.post("/posts/{name}")
        async def post(name: str, request: Request) -> HTMLResponse:
            form = await request.form()
            self.posts.put(
                FormPost(
                    path=request.url.path,
                    content_type=request.headers.get("content-type", ""),
                    form={key: str(value) for key, value in form.items()},
                )
            )
            return HTMLResponse("<!doctype html><title>received</title><p id=received>received")

        return router


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:<port>
    other_origin_url: str  # http://localhost:<port>: the same server, another origin
    app: FastAPI
    settings: Settings
    pages: TestPages


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def serve_asgi(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """Serve any ASGI app with uvicorn in a background thread; yields its base URL."""
    sock = sock or _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"e2e-server-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve_app(var_dir: Path, **settings_overrides: Any) -> Iterator[LiveServer]:
    """Run the real app (migrated SQLite under `var_dir`) until the block ends."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    # With the embedded worker, as `enrollpay serve` runs on SQLite: webhooks are processed.
    values: dict[str, Any] = {
        "PUBLIC_BASE_URL": url,
        "EMBEDDED_WORKER": True,
        "WORKER_POLL_INTERVAL_SECONDS": 0.2,
    }
    values.update(settings_overrides)
    settings = make_settings(f"sqlite:///{var_dir / 'e2e.db'}", var_dir, **values)
    upgrade(settings)
    app = create_app(settings)
    pages = TestPages(base_url=url, other_origin_url=f"http://localhost:{port}")
    app.include_router(pages.router())
    with serve_asgi(app, sock):
        yield LiveServer(url, pages.other_origin_url, app, settings, pages)


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Every browser test signs up and pays from 127.0.0.1 on this one server: the per-address
    # abuse limits (tested in tests/abuse) would refuse the suite itself.
    unlimited = parse("100000/hour")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("SIGNUPS_PER_IP", "NEW_ACCOUNTS_PER_IP", "PAYMENT_ATTEMPTS_PER_IP"):
            patch.setattr(abuse_service, name, unlimited)
        with serve_app(tmp_path_factory.mktemp("e2e")) as server:
            yield server


# ---- the embedded Razorpay sandbox -------------------------------------------------------------


@dataclass
class Sandbox:
    base_url: str  # {live server}/sandbox/razorpay
    key_id: str
    key_secret: str

    @property
    def auth_header(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.key_id}:{self.key_secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, self.base_url + path, headers=self.auth_header, timeout=10, **kwargs
        )

    def create_order(self, amount: int = 49_900, **fields: Any) -> dict[str, Any]:
        body = {"amount": amount, "currency": "INR", "receipt": secrets.token_hex(8), **fields}
        response = self.request("POST", "/v1/orders", json=body)
        assert response.status_code == 200, response.text
        order: dict[str, Any] = response.json()
        return order

    def fetch_order(self, order_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/v1/orders/{order_id}")
        assert response.status_code == 200, response.text
        order: dict[str, Any] = response.json()
        return order


@pytest.fixture(scope="package")
def sandbox(live_server: LiveServer) -> Sandbox:
    from enrollpay.sandbox.config import SANDBOX_MOUNT_PATH, derive_sandbox_config

    config = derive_sandbox_config(live_server.settings)
    return Sandbox(live_server.url + SANDBOX_MOUNT_PATH, config.key_id, config.key_secret)


@pytest.fixture(scope="package")
def standalone_sandbox(live_server: LiveServer) -> Iterator[Sandbox]:
    """The sandbox alone at the root of another port, as `enrollpay sandbox` runs it (its own
    keys, the live server's database, no webhook deliveries)."""
    from enrollpay.sandbox.app import create_standalone_app
    from enrollpay.sandbox.config import SandboxConfig

    sock = _free_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = SandboxConfig(
        key_id="rzp_test_StandaloneE2E0",
        key_secret=secrets.token_urlsafe(18),
        webhook_url=None,
        webhook_secret=secrets.token_urlsafe(18),
        base_url=base_url,
    )
    app = create_standalone_app(live_server.settings, config, run_worker=False)
    with serve_asgi(app, sock):
        yield Sandbox(base_url, config.key_id, config.key_secret)


# ---- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    problem = _browser_unavailable()
    if problem:
        if IN_CI:
            pytest.fail(f"browser tests cannot run in CI: {problem}", pytrace=False)
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


def _new_context(browser: Browser, live_server: LiveServer, **options: Any) -> BrowserContext:
    context = browser.new_context(
        base_url=live_server.url, locale="en-IN", timezone_id="Asia/Kolkata", **options
    )
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    return context


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _finish_page(
    page: Page, request: pytest.FixtureRequest, tmp_path: Path, errors: list[str]
) -> None:
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not page.is_closed():
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed test: {shot}")
    assert not errors, f"uncaught JavaScript errors: {errors}"


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = _new_context(browser, live_server, viewport=DESKTOP_VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A desktop page; the test fails if the page throws an uncaught JavaScript error."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    _finish_page(page, request, tmp_path, errors)


@pytest.fixture
def mobile_context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = _new_context(
        browser,
        live_server,
        viewport=MOBILE_VIEWPORT,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield context
    context.close()


@pytest.fixture
def mobile_page(
    mobile_context: BrowserContext, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Page]:
    page = mobile_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    _finish_page(page, request, tmp_path, errors)


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 = no horizontal scroll)."""
    overflow: int = page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )
    return overflow
