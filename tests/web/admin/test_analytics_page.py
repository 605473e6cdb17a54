"""The funnel page: after a scripted funnel (page views by anonymous visitors, initialize, pay
in the sandbox, verify, a refund), it shows the report's exact counts and rates, bars as wide
as the counts, revenue per day as columns and as a table, and a CSV link that works with the
admin's session cookie. A bad parameter is explained next to the form, never a 422."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import pytest
import stamina
from sqlalchemy import update

from enrollpay.analytics.schemas import RevenueDay
from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.kit.clock import utcnow
from enrollpay.refunds.models import Refund
from enrollpay.web.admin.analytics import (
    MAX_DATE_LABELS,
    PLOT_HEIGHT,
    axis_labels,
    revenue_charts,
)
from tests.courses.factories import add_enrollment, create_course
from tests.enrollments.helpers import API, initialize, pay, verify

IST = ZoneInfo("Asia/Kolkata")
TOTAL = 5898.82  # ₹4,999 + 18 % GST


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


def bars(html: str) -> list[tuple[int, float]]:
    """(count, width in percent) of each funnel bar, top to bottom."""
    found = re.findall(r'<rect class="bar" [^>]*width="([\d.]+)%"[^>]*data-count="(\d+)"', html)
    return [(int(count), float(width)) for width, count in found]


def columns(html: str, kind: str) -> dict[str, float]:
    """Day → height in pixels of the revenue chart's `kind` (captured, refunded) columns."""
    found = re.findall(rf'<rect class="{kind}" [^>]*height="([\d.]+)" data-day="([\d-]+)"', html)
    return {day: float(height) for height, day in found}


def revenue_row(html: str, day: date) -> list[str]:
    row = html.split(f'<time datetime="{day.isoformat()}">', 1)[1].split("</tr>", 1)[0]
    return [cell.strip() for cell in re.findall(r'<td class="num">(.*?)</td>', row)]


async def test_the_page_draws_the_scripted_funnel(app, client, db, admin, make_user):
    _, headers = admin
    course = await create_course(client, headers, title="Python", price=4999)
    quiet = await create_course(client, headers, title="Go", price=999)

    # 5 anonymous visitors view the course page (a browser of their own, not the admin's).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        for _ in range(5):
            browser.cookies.clear()
            assert (await browser.get(f"/courses/{course['id']}")).status_code == 200
    # 4 learners start an enrollment, 3 of them through initialize (an order each); 2 pay; the
    # first asks for a refund, which Razorpay processed yesterday.
    learners = [await make_user(password=None) for _ in range(4)]
    started = []
    for _, learner in learners[:3]:
        response = await initialize(client, learner, course["id"])
        assert response.status_code == 201, response.text
        started.append(response.json())
    await add_enrollment(
        db, user_id=learners[3][0].id, course_id=course["id"], status=EnrollmentStatus.pending
    )
    for (_, learner), body in zip(learners[:2], started[:2], strict=True):
        paid = await pay(client, body["payment_session"]["razorpay_order_id"])
        response = await verify(client, learner, body["enrollment_id"], paid)
        assert response.json()["enrollment_status"] == "enrolled", response.text
    response = await client.post(
        f"{API}/enrollments/{started[0]['enrollment_id']}/refund",
        json={"reason": "not for me"},
        headers=learners[0][1],
    )
    assert response.status_code == 201, response.text
    async with db.transaction() as session:
        yesterday_now = utcnow() - timedelta(days=1)
        await session.execute(update(Refund).values(status="processed", processed_at=yesterday_now))

    response = await client.get("/admin/analytics", params={"course_id": course["id"]})
    assert response.status_code == 200, response.text
    html = response.text
    today = utcnow().astimezone(IST).date()
    yesterday = today - timedelta(days=1)
    week_start = today - timedelta(days=6)  # the page's default: the last 7 days
    assert f'name="from" type="date" value="{week_start.isoformat()}"' in html
    assert f'name="to" type="date" value="{today.isoformat()}"' in html
    assert f'<option value="{course["id"]}" selected>Python (published)</option>' in html

    assert bars(html) == [(5, 100.0), (4, 80.0), (3, 60.0), (2, 40.0), (2, 40.0)]
    labels = re.findall(r'<text x="0" y="\d+" font-weight="700">(.*?)</text>', html)
    assert labels == [
        "Course views: 5",
        "Enrollments started: 4",
        "Payments started: 3",
        "Payments completed: 2",
        "Enrollments completed: 2",
    ]
    # Each rate at the right end of its step's label line.
    assert re.findall(r'<text class="rate" [^>]*text-anchor="end">(.*?)</text>', html) == [
        "80%",
        "75%",
        "66.67%",
        "100%",
    ]
    assert '<span class="value" id="overall-conversion">40%</span>' in html
    [summary] = re.findall(r'<title id="funnel-title">(.*?)</title>', html)
    assert "Course views 5; Enrollments started 4 (80% of the step before);" in summary
    assert summary.endswith("overall conversion 40%.")
    assert 'role="img" aria-labelledby="funnel-title"' in html

    captured, refunded = columns(html, "captured"), columns(html, "refunded")
    assert len(captured) == len(refunded) == 7
    assert captured[today.isoformat()] == PLOT_HEIGHT  # the tallest column
    assert refunded[yesterday.isoformat()] == PLOT_HEIGHT / 2
    assert sum(captured.values()) + sum(refunded.values()) == PLOT_HEIGHT * 1.5
    assert revenue_row(html, today) == ["₹11,797.64", "₹0.00", "₹11,797.64"]
    assert revenue_row(html, yesterday) == ["₹0.00", "₹5,898.82", "-₹5,898.82"]
    assert revenue_row(html, week_start) == ["₹0.00", "₹0.00", "₹0.00"]
    totals = html.split('<th scope="row">Total</th>', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">(.*?)</td>', totals) == [
        "₹11,797.64",
        "₹5,898.82",
        "₹5,898.82",
    ]

    # The CSV link: the same report, downloaded with the admin's session cookie.
    [csv_url] = re.findall(r'<a href="([^"]+)" download>Download CSV</a>', html)
    assert csv_url.startswith("/api/v1/admin/analytics/funnel.csv?")
    assert "Authorization" not in client.headers
    download = await client.get(unescape(csv_url))
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    lines = download.text.splitlines()
    assert lines[1:5] == [
        f"course_id,{course['id']}",
        f"from,{week_start.isoformat()}",
        f"to,{today.isoformat()}",
        "tz,Asia/Kolkata",
    ]
    assert "course_views,5" in lines and "payment_to_completion,0.6667" in lines
    assert f"{yesterday.isoformat()},INR,0.00,{TOTAL:.2f},-{TOTAL:.2f}" in lines

    # A course nobody saw: zero bars, rates without a denominator show as "—".
    html = (await client.get("/admin/analytics", params={"course_id": quiet["id"]})).text
    assert bars(html) == [(0, 0.0)] * 5
    assert re.findall(r'<text class="rate" [^>]*>(.*?)</text>', html) == ["—"] * 4
    assert '<span class="value" id="overall-conversion">—</span>' in html

    # Every course, one day, another time zone: today's UTC date may differ, so ask for a
    # fixed range that holds today in both.
    params = {"from": yesterday.isoformat(), "to": (today + timedelta(1)).isoformat(), "tz": "UTC"}
    html = (await client.get("/admin/analytics", params=params)).text
    assert bars(html)[0] == (5, 100.0) and len(columns(html, "captured")) == 3
    assert "selected" not in html.split('id="course_id"')[1].split("</select>")[0]
    assert "all courses" in html and "(UTC)" in html


async def test_bad_parameters_are_shown_next_to_the_form(client, admin):
    for params, message in [
        ({"tz": "Mars/Olympus"}, "“tz”: unknown IANA time zone."),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "“from”: must not be after `to`."),
        ({"from": "yesterday"}, "“From” must be a date like 2026-03-31."),
        ({"course_id": "crs_nothing"}, "No course has this id."),
    ]:
        response = await client.get("/admin/analytics", params=params)
        assert response.status_code == 200, params
        html = response.text
        assert '<div class="notice error" role="alert">' in html, params
        assert f"<li>{message}</li>" in unescape(html), params
        assert "<svg" not in html and "Download CSV" not in html


def test_revenue_charts_label_a_few_days_and_survive_an_empty_range():
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(30)]
    revenue = [
        RevenueDay(date=day, captured=0.0, refunded=0.0, net=0.0, currency="INR") for day in days
    ]
    [chart] = revenue_charts(revenue)
    labels = [(column.day, column.label) for column in chart.columns if column.label]
    assert len(labels) == MAX_DATE_LABELS
    # Evenly spaced, counted back from the newest; the month is named when it changes.
    assert [label for _, label in labels] == ["2 Mar", "6", "10", "14", "18", "22", "26", "30"]
    assert labels[-1][0] == days[-1]
    across = axis_labels([date(2026, 11, 28) + timedelta(days=i) for i in range(7)])
    assert list(across.values()) == ["28 Nov", "29", "30", "1 Dec", "2", "3", "4"]
    assert {column.captured_height for column in chart.columns} == {0.0}
    assert chart.columns[-1].captured_x + chart.columns[-1].width < 100
