"""The console's enrollment pages: the search shows the rows its filters pick (and never 422s
on a bad filter), and one enrollment's page answers "why isn't this learner enrolled?" — the
failure, the attempt's error and the whole timeline linking to the webhook and job pages."""

from __future__ import annotations

import re

import pytest
import stamina

from enrollpay.enrollments.models import EnrollmentStatus
from tests.courses.factories import add_enrollment, create_course
from tests.enrollments.helpers import drain_jobs, initialize, pay


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


def listed_ids(html: str) -> list[str]:
    return re.findall(r'<td><a class="id" href="/admin/enrollments/(enr_\w+)">', html)


async def test_the_list_shows_the_rows_its_filters_pick(client, db, admin, make_user):
    _, admin_headers = admin
    python = await create_course(client, admin_headers, title="Python <basics>")
    rust = await create_course(client, admin_headers, title="Rust")
    ravi, _ = await make_user(email="ravi@example.com")
    meera, _ = await make_user(email="meera@example.com")
    ravi_python = await add_enrollment(db, user_id=ravi.id, course_id=python["id"])
    meera_rust = await add_enrollment(
        db, user_id=meera.id, course_id=rust["id"], status=EnrollmentStatus.cancelled
    )

    page = await client.get("/admin/enrollments")
    assert page.status_code == 200
    assert listed_ids(page.text) == [meera_rust, ravi_python]
    assert f'<a href="/admin/enrollments?user_id={ravi.id}">ravi@example.com</a>' in page.text
    assert "Python &lt;basics&gt;" in page.text
    assert 'href="/admin/enrollments" aria-current="page"' in page.text
    assert 'data-api-url="/api/v1/admin/enrollments" data-then="/admin/enrollments/{id}"' in (
        page.text
    )

    by_status = await client.get("/admin/enrollments?status=cancelled")
    assert listed_ids(by_status.text) == [meera_rust]
    assert '<option value="cancelled" selected>' in by_status.text
    by_email = await client.get("/admin/enrollments?q=RAVI@")
    assert listed_ids(by_email.text) == [ravi_python]
    by_course = await client.get(f"/admin/enrollments?course_id={rust['id']}")
    assert listed_ids(by_course.text) == [meera_rust]
    by_learner = await client.get(f"/admin/enrollments?user_id={ravi.id}")
    assert listed_ids(by_learner.text) == [ravi_python]
    # The grant form starts with the learner being looked at.
    assert f'name="user_id" required placeholder="usr_…" value="{ravi.id}"' in by_learner.text
    nothing = await client.get("/admin/enrollments?created_to=2001-01-01")
    assert listed_ids(nothing.text) == [] and "No enrollments match" in nothing.text
    # Filters the API would refuse are ignored here: a page never answers 422.
    lenient = await client.get("/admin/enrollments?status=lost&created_from=soon&cursor=abc")
    assert lenient.status_code == 200
    assert listed_ids(lenient.text) == [meera_rust, ravi_python]


async def test_an_enrollment_page_says_why_and_shows_the_timeline(
    client, db, settings, admin, make_user
):
    _, admin_headers = admin
    course = await create_course(client, admin_headers, price=4999)
    learner, headers = await make_user(email="asha@example.com")
    started = (await initialize(client, headers, course["id"])).json()
    enrollment_id = started["enrollment_id"]
    order_id = started["payment_session"]["razorpay_order_id"]
    failed = await pay(client, order_id, outcome="failure", method="card", webhooks=True)
    await drain_jobs(db, settings)
    detail = (
        await client.get(f"/api/v1/admin/enrollments/{enrollment_id}", headers=admin_headers)
    ).json()
    [attempt] = detail["payments"][0]["attempts"]

    page = await client.get(f"/admin/enrollments/{enrollment_id}")

    assert page.status_code == 200
    html = page.text
    assert '<span class="tag bad">failed</span>' in html
    assert detail["failure_reason"] and detail["failure_reason"] in html
    assert attempt["error_description"] in html
    assert f"<code>{failed['razorpay_payment_id']}</code>" in html
    assert f"<code>{order_id}</code>" in html
    assert f'href="/admin/enrollments?user_id={learner.id}">asha@example.com</a>' in html
    timeline = html.split("<h2>Timeline</h2>", 1)[1]
    assert "Enrollment created" in timeline
    assert re.search(r'<a class="id" href="/admin/webhook-events/whk_\w+">', timeline)
    assert re.search(r'<a class="id" href="/admin/jobs/job_\w+">', timeline)
    times = re.findall(r'<time datetime="([^"]+)">', timeline)
    assert len(times) > 5 and times == sorted(times)
    assert 'id="refund-amount"' not in html  # nothing was captured, so nothing to refund

    for unknown in ("enr_0000000000000000000000000a", "nope"):
        missing = await client.get(f"/admin/enrollments/{unknown}")
        assert missing.status_code == 404
        assert "<h1>Enrollment not found</h1>" in missing.text
