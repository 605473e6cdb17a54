"""The installable web app in Chromium: the service worker keeps the catalog and the course pages
a learner opened for reading offline (and nothing private), other pages show the offline page;
Enroll pressed while offline is queued and sent, once, when the browser is back online."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import DEFAULT_TIMEOUT_MS, LiveServer, horizontal_overflow
from tests.e2e.test_hosted_payment_page import (
    API,
    NAVIGATION_TIMEOUT_MS,
    _admin_token,
    _in_thread,
    expect,
    save_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Request, Route

INITIALIZE = f"{API}/enrollments/initialize"
QUEUE_KEY = "enrollpay.queued-enrollment"
OFFLINE_MESSAGE = "You're offline. Your enrollment will start as soon as you're back online."
CHECKOUT_URL = re.compile(r"/checkout/enr_[A-Za-z0-9]+(\?start=1)?$")
# Every URL the service worker's caches hold, by path.
CACHED_PATHS_JS = """async () => {
  const paths = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) { paths.push(new URL(request.url).pathname); }
  }
  return paths;
}"""


def create_course(live_server: LiveServer, price: int = 4999) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {_in_thread(_admin_token(live_server.settings))}"}
    body = {
        "title": f"Offline course {secrets.token_hex(3)}",
        "price": price,
        "status": "published",
    }
    response = httpx.post(
        f"{live_server.url}{API}/admin/courses", json=body, headers=admin, timeout=10
    )
    assert response.status_code == 201, response.text
    course: dict[str, Any] = response.json()
    return course


def sign_up(page: Page) -> None:
    page.goto("/signup")
    page.get_by_label("Full name").fill("Asha Learner")
    page.get_by_label("Email").fill(f"offline-{secrets.token_hex(4)}@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def queued(page: Page) -> dict[str, Any] | None:
    item: dict[str, Any] | None = page.evaluate(f"JSON.parse(localStorage.getItem('{QUEUE_KEY}'))")
    return item


def initialize_keys(page: Page) -> list[str | None]:
    """The Idempotency-Key of every initialize request the page makes from now on."""
    keys: list[str | None] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith(INITIALIZE):
            keys.append(request.headers.get("idempotency-key"))

    page.on("request", record)
    return keys


def checkout_loads(page: Page) -> list[str]:
    """The checkout page URLs the page loads from now on (that page drops ?start=1 at once)."""
    urls: list[str] = []

    def record(request: Request) -> None:
        if request.is_navigation_request() and "/checkout/" in request.url:
            urls.append(request.url)

    page.on("request", record)
    return urls


def enrollments(context: BrowserContext) -> list[dict[str, Any]]:
    """The learner's enrollments, read with the browser's session cookie."""
    response = context.request.get(f"{API}/enrollments")
    assert response.status == 200, response.text()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def wait_until_cached(page: Page, *paths: str) -> None:
    # The worker stores a page after handing it over: wait for it before going offline.
    # (wait_for_function does not await a promise, so the polling runs in one evaluate.)
    script = f"""async (paths) => {{
      const deadline = Date.now() + {DEFAULT_TIMEOUT_MS};
      while (Date.now() < deadline) {{
        const cached = await ({CACHED_PATHS_JS})();
        if (paths.every(path => cached.includes(path))) {{ return true; }}
        await new Promise(resolve => setTimeout(resolve, 50));
      }}
      return false;
    }}"""
    assert page.evaluate(script, list(paths)), f"not all of {paths} were cached"


def test_read_the_catalog_and_opened_courses_offline_until_signing_out(
    mobile_page: Page, mobile_context: BrowserContext, live_server: LiveServer, tmp_path: Path
):
    page = mobile_page
    course = create_course(live_server)
    course_path = f"/courses/{course['id']}"
    sign_up(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    # Now controlled: these page loads go through the worker.
    page.goto(course_path)
    expect(page.get_by_role("heading", name=course["title"])).to_be_visible()
    private = page.goto("/my/courses")  # a 200 page the worker must not keep
    assert private is not None and private.ok
    page.goto("/")
    wait_until_cached(page, "/", course_path, "/offline")

    mobile_context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Courses")).to_be_visible()
    expect(page.get_by_role("link", name=course["title"])).to_be_visible()
    page.get_by_role("link", name=course["title"]).click()
    expect(page.get_by_role("heading", name=course["title"])).to_be_visible()
    expect(page.locator('[data-field="total_payable"]')).to_have_text("₹5,898.82")

    for never_kept in ("/courses/does-not-exist-xyz", "/my/courses"):
        page.goto(never_kept)
        expect(page.get_by_role("heading", name="You're offline")).to_be_visible()
        assert page.url == live_server.url + never_kept
    saved = page.get_by_role("region", name="Courses you've opened")
    expect(saved.get_by_role("link", name=course["title"])).to_have_attribute(
        "href", live_server.url + course_path
    )
    expect(page.get_by_role("link", name="Try again")).to_be_visible()
    assert horizontal_overflow(page) == 0
    save_screenshot(page, tmp_path, "offline-360.png")

    # Only the static files, the offline page and the public pages were kept.
    for path in page.evaluate(CACHED_PATHS_JS):
        assert path.startswith("/static/") or path in {"/", "/offline", course_path}, path

    mobile_context.set_offline(False)
    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("heading", name="You're offline")).to_have_count(0)
    assert page.url == live_server.url + "/my/courses"

    # Signing out wipes the kept pages (the learner's view) and anything queued.
    page.evaluate("localStorage.setItem('e2e-marker', 'kept?')")  # as the queue would be
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('e2e-marker')") is None
    assert course_path not in page.evaluate(CACHED_PATHS_JS)


def _lose_the_answer(route: Route) -> None:
    route.fetch()  # the server gets the request and starts the enrollment...
    route.abort("internetdisconnected")  # ...but the browser never hears back


def test_enroll_while_the_network_fails_is_sent_once_back_online(
    page: Page, context: BrowserContext, live_server: LiveServer
):
    """Two failures: the request never left, and (second click, same page) the request got
    through but its answer was lost. Both resends reuse the click's Idempotency-Key, so the
    learner ends with one enrollment."""
    course = create_course(live_server)
    sign_up(page)
    page.goto(f"/courses/{course['id']}")
    keys = initialize_keys(page)
    answers: list[dict[str, str]] = []
    page.on(
        "response",
        lambda response: (
            answers.append(response.headers) if response.url.endswith(INITIALIZE) else None
        ),
    )
    status = page.get_by_role("status")

    page.route(f"**{INITIALIZE}", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("button", name="Enroll").click()
    expect(status).to_have_text(OFFLINE_MESSAGE)
    item = queued(page)
    assert item is not None and item["course_id"] == course["id"]
    assert keys == [item["idempotency_key"]]
    assert time.time() * 1000 - item["queued_at"] < 60_000
    assert enrollments(context) == []

    page.unroute(f"**{INITIALIZE}")
    page.route(f"**{INITIALIZE}", _lose_the_answer)
    page.get_by_role("button", name="Enroll").click()
    expect(status).to_have_text(OFFLINE_MESSAGE)
    assert keys == [item["idempotency_key"]] * 2
    [started] = enrollments(context)  # the lost answer's enrollment exists

    page.unroute(f"**{INITIALIZE}")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_url(CHECKOUT_URL, timeout=NAVIGATION_TIMEOUT_MS)
    assert page.url.split("/checkout/")[1].split("?")[0] == started["id"]
    assert keys == [item["idempotency_key"]] * 3
    assert answers[-1].get("idempotent-replayed") == "true"
    assert queued(page) is None
    assert [e["id"] for e in enrollments(context)] == [started["id"]]


def test_enroll_while_offline_is_sent_when_the_browser_comes_back_online(
    page: Page, context: BrowserContext, live_server: LiveServer
):
    course = create_course(live_server)
    sign_up(page)
    page.goto(f"/courses/{course['id']}")
    keys = initialize_keys(page)
    checkouts = checkout_loads(page)

    context.set_offline(True)
    page.get_by_role("button", name="Enroll").click()
    expect(page.get_by_role("status")).to_have_text(OFFLINE_MESSAGE)
    item = queued(page)
    assert item is not None and item["course_id"] == course["id"]
    assert keys == []  # offline: not even tried

    context.set_offline(False)  # fires "online"
    page.wait_for_url(CHECKOUT_URL, timeout=NAVIGATION_TIMEOUT_MS)
    # A paid course: the checkout page is told to open Checkout at once.
    assert checkouts == [page.url + "?start=1"]
    assert keys == [item["idempotency_key"]]
    assert queued(page) is None
    [enrollment] = enrollments(context)
    assert enrollment["course_id"] == course["id"]


def test_a_queued_enrollment_is_sent_on_the_next_page_load_unless_stale_or_refused(
    page: Page, context: BrowserContext, live_server: LiveServer
):
    free_course = create_course(live_server, price=0)
    sign_up(page)
    keys = initialize_keys(page)
    checkouts = checkout_loads(page)

    def queue_and_reload(course_id: str, age_hours: float) -> dict[str, Any]:
        item = {
            "course_id": course_id,
            "idempotency_key": secrets.token_hex(16),
            "queued_at": int((time.time() - age_hours * 3600) * 1000),
        }
        page.evaluate(
            "([key, item]) => localStorage.setItem(key, JSON.stringify(item))", [QUEUE_KEY, item]
        )
        page.reload()
        return item

    # Older than a day: dropped unsent.
    queue_and_reload(free_course["id"], age_hours=25)
    expect(page.get_by_role("heading", name="Courses")).to_be_visible()
    page.wait_for_function(f"localStorage.getItem('{QUEUE_KEY}') === null")
    assert keys == []

    # Refused (no such course): dropped, and the API's message shown on this page.
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrf")
    answer = context.request.post(
        INITIALIZE, data={"course_id": "crs_does_not_exist"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status == 404, answer.text()
    refused = queue_and_reload("crs_does_not_exist", age_hours=1)
    expect(page.locator("#enroll-notice")).to_have_text(answer.json()["error"]["message"])
    assert queued(page) is None
    assert keys == [refused["idempotency_key"]]

    # A fresh one: sent; a free course needs no payment, so no start=1.
    fresh = queue_and_reload(free_course["id"], age_hours=23)
    page.wait_for_url(CHECKOUT_URL, timeout=NAVIGATION_TIMEOUT_MS)
    assert checkouts == [page.url]
    assert keys == [refused["idempotency_key"], fresh["idempotency_key"]]
    assert queued(page) is None
    [enrollment] = enrollments(context)
    assert enrollment["course_id"] == free_course["id"] and enrollment["status"] == "enrolled"
