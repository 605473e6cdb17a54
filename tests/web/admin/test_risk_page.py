"""The console's risk page: open flags first with a "Mark reviewed" button each (reviewing moves
a flag to the reviewed list, shown on request), and the payment-attempt log of real checkout
calls with its filters."""

from __future__ import annotations

import re

import pytest
import stamina

from enrollpay.abuse import service as abuse
from enrollpay.kit.clock import utcnow
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, initialize

CLIENT_ADDRESS = "203.0.113.9"


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


def table_rows(html: str) -> list[str]:
    """The body rows of the first table in `html`."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body, re.S)


def section(html: str, heading: str) -> str:
    """The HTML from an <h2> to the next one (or the end)."""
    return html.split(f"<h2>{heading}</h2>", 1)[1].split("<h2>", 1)[0]


async def test_risk_page_lists_open_flags_and_reviewing_moves_them(
    client, admin, db, settings, make_user
):
    _, admin_headers = admin
    learner, learner_headers = await make_user(email="learner@example.com")
    now = utcnow()
    await abuse.record_flag(
        db, abuse.RiskKind.failed_payments, learner.id, {"failed_today": 5}, now=now
    )
    ip_subject = abuse.ip_subject(settings, CLIENT_ADDRESS)
    await abuse.record_flag(
        db, abuse.RiskKind.new_accounts_per_ip, ip_subject, {"limit": "20/day"}, now=now
    )
    course = await create_course(client, admin_headers, title="Web")
    started = await initialize(
        client, learner_headers, course["id"], extra_headers={"User-Agent": "TestBrowser/1.0"}
    )
    assert started.status_code == 201, started.text
    enrollment_id = started.json()["enrollment_id"]
    refused = await initialize(client, learner_headers, "crs_nope")
    assert refused.status_code >= 400, refused.text

    page = await client.get("/admin/risk")
    assert page.status_code == 200
    html = page.text
    open_flags = section(html, "Open risk flags")
    assert f'<a class="id" href="/admin/enrollments?user_id={learner.id}">{learner.id}</a>' in (
        open_flags
    )
    assert f'<span class="id">{ip_subject}</span>' in open_flags
    assert CLIENT_ADDRESS not in html  # the flag keeps a keyed hash only
    assert "failed today:</span> 5" in open_flags and "20/day" in open_flags
    assert len(re.findall(r'data-api-url="/api/v1/admin/risk-flags/rsk_\w+/review"', html)) == 2
    assert "<h2>Reviewed risk flags</h2>" not in html
    assert 'href="/admin/risk?show_reviewed=1">Show reviewed flags' in html

    attempts = section(html, "Payment attempts")
    # Newest first: the refused call, then the one that opened a payment.
    refused_row, success_row = table_rows(attempts)
    assert '<span class="tag bad">' in refused_row and "/admin/enrollments/" not in refused_row
    assert f'href="/admin/enrollments/{enrollment_id}"' in success_row
    assert '<span class="tag ok">success</span>' in success_row
    assert "₹5,898.82" in success_row and "TestBrowser/1.0" in success_row
    assert f'href="/admin/enrollments?user_id={learner.id}"' in success_row

    filtered = await client.get("/admin/risk", params={"enrollment_id": enrollment_id})
    [row] = table_rows(section(filtered.text, "Payment attempts"))
    assert enrollment_id in row
    assert f'value="{enrollment_id}"' in filtered.text
    # Cursors that are not ours start from the newest: a page never answers 422.
    junk = {"cursor": "junk", "open_cursor": "junk", "show_reviewed": "maybe"}
    nobody = await client.get("/admin/risk", params={"user_id": "usr_nobody", **junk})
    assert "No payment attempts match these filters." in nobody.text

    [ip_row] = [row for row in table_rows(open_flags) if ip_subject in row]
    [flag_id] = re.findall(r'data-api-url="/api/v1/admin/risk-flags/(rsk_\w+)/review"', ip_row)
    reviewed = await client.post(f"{API}/admin/risk-flags/{flag_id}/review", headers=admin_headers)
    assert reviewed.status_code == 200, reviewed.text

    after = await client.get("/admin/risk")
    assert flag_id not in after.text
    assert learner.id in section(after.text, "Open risk flags")
    shown = await client.get("/admin/risk", params={"show_reviewed": "1"})
    assert shown.status_code == 200
    reviewed_flags = section(shown.text, "Reviewed risk flags")
    assert flag_id in reviewed_flags and ip_subject in reviewed_flags
    assert f'by <span class="id">{admin[0].id}</span>' in reviewed_flags
    assert flag_id not in section(shown.text, "Open risk flags")
    assert 'href="/admin/risk">Hide reviewed flags' in shown.text
