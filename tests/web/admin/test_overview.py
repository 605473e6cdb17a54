"""The console's door and first page: signed-out visitors go to the login page (and come
back), learners get a 403 page, admins see the counts that need attention."""

from __future__ import annotations

from datetime import timedelta

from enrollpay.jobs.models import Job, JobStatus
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from tests.conftest import TEST_PASSWORD


async def test_signed_out_visitor_is_sent_to_login_and_back(client):
    response = await client.get("/admin?tab=money")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin%3Ftab%3Dmoney"


async def test_a_learner_gets_a_403_page(client, make_user):
    user, _ = await make_user(email="learner@example.com")
    await client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    response = await client.get("/admin")
    assert response.status_code == 403
    assert "This page is for admins" in response.text
    assert "Dead jobs" not in response.text


async def test_overview_counts_what_needs_attention(client, admin, db):
    now = utcnow()
    async with db.transaction() as session:
        for status in (JobStatus.dead, JobStatus.dead, JobStatus.pending):
            session.add(
                Job(
                    id=new_id("job"),
                    kind="test.job",
                    payload={},
                    status=status,
                    max_attempts=3,
                    run_at=now - timedelta(minutes=5),
                )
            )
    response = await client.get("/admin")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert '<a href="/admin/jobs?status=dead">Dead jobs</a><span class="value">2</span>' in html
    assert (
        '<a href="/admin/jobs?status=pending">Overdue jobs</a><span class="value">1</span>' in html
    )
    assert 'href="/admin" aria-current="page"' in html
