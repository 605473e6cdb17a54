"""The admin jobs API: list (every status unless filtered, newest first, cursors), one job with
its payload, and retrying a dead job — which the worker then runs — while anything not dead is
a 409 `job_not_dead` that changes nothing and records nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from enrollpay.jobs import enqueue
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.jobs.worker import JobOutcome
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.users.models import Role
from tests.conftest import assert_error
from tests.enrollments.helpers import API
from tests.jobs.support import effect_job_ids, load_job

JOBS = f"{API}/admin/jobs"


async def test_list_filter_page_and_show(client, db, make_user):
    _, admin_headers = await make_user(role=Role.admin, password=None)
    now = utcnow()
    ids = [new_id("job") for _ in range(3)]  # time-ordered: ids[2] is the newest
    async with db.transaction() as session:
        session.add_all(
            [
                Job(
                    id=ids[0],
                    kind="test.record",
                    payload={"note": "first"},
                    status=JobStatus.done,
                    attempts=1,
                    max_attempts=3,
                    run_at=now - timedelta(hours=1),
                    finished_at=now - timedelta(minutes=59),
                    locked_by="worker-a",
                ),
                Job(
                    id=ids[1],
                    kind="test.other",
                    payload={"enrollment_id": "enr_1", "amount": 100},
                    status=JobStatus.dead,
                    attempts=5,
                    max_attempts=5,
                    run_at=now - timedelta(minutes=30),
                    last_error="ValueError: boom",
                    locked_by="worker-b",
                    dedupe_key="other:enr_1",
                ),
                Job(
                    id=ids[2],
                    kind="test.record",
                    payload={},
                    status=JobStatus.pending,
                    max_attempts=3,
                    run_at=now + timedelta(minutes=5),
                ),
            ]
        )

    async def listed(**query: Any) -> list[str]:
        response = await client.get(JOBS, params=query, headers=admin_headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await listed() == [ids[2], ids[1], ids[0]]  # every status, newest first
    assert await listed(status="dead") == [ids[1]]
    assert await listed(kind="test.record") == [ids[2], ids[0]]
    assert await listed(kind="test.record", status="done") == [ids[0]]
    assert await listed(kind="test.other", status="pending") == []
    first = (await client.get(JOBS, params={"limit": 2}, headers=admin_headers)).json()
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    assert await listed(limit=2, cursor=first["next_cursor"]) == [ids[0]]
    dead = first["items"][1]
    assert (dead["kind"], dead["status"], dead["attempts"], dead["max_attempts"]) == (
        "test.other",
        "dead",
        5,
        5,
    )
    assert dead["last_error"] == "ValueError: boom" and "payload" not in dead

    detail = await client.get(f"{JOBS}/{ids[1]}", headers=admin_headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["payload"] == {"enrollment_id": "enr_1", "amount": 100}
    assert (body["locked_by"], body["dedupe_key"], body["locked_until"]) == (
        "worker-b",
        "other:enr_1",
        None,
    )
    assert body["run_at"].startswith((now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))

    assert_error(await client.get(f"{JOBS}/job_nope", headers=admin_headers), 404, "not_found")
    assert_error(await client.get(f"{JOBS}/enr_1", headers=admin_headers), 404, "not_found")
    assert_error(
        await client.get(JOBS, params={"status": "failed"}, headers=admin_headers),
        422,
        "validation_error",
    )
    assert_error(
        await client.get(JOBS, params={"cursor": "whk_1"}, headers=admin_headers),
        422,
        "validation_error",
    )
    _, learner_headers = await make_user(password=None)
    assert_error(await client.get(JOBS, headers=learner_headers), 403, "forbidden")
    assert_error(await client.get(f"{JOBS}/{ids[1]}", headers=learner_headers), 403, "forbidden")
    assert_error(
        await client.post(f"{JOBS}/{ids[1]}/retry", headers=learner_headers), 403, "forbidden"
    )
    assert_error(await client.get(JOBS), 401, "unauthenticated")
    assert (await load_job(db, ids[1])).status == JobStatus.dead  # the refused retry did nothing


async def test_a_dead_job_is_retried_once_and_runs(
    client, db, jobs_db, make_worker, recorder, make_user
):
    admin, admin_headers = await make_user(role=Role.admin, password=None)
    recorder.fail_times = 1
    async with db.transaction() as session:
        dead_id = await enqueue(
            session, "test.record", {"enrollment_id": "enr_1", "note": "n"}, max_attempts=1
        )
        later_id = await enqueue(session, "test.record", {}, delay=3600)
    assert dead_id is not None and later_id is not None
    worker = make_worker()
    assert await worker.run_once() == [JobOutcome.dead]
    died = await load_job(db, dead_id)
    assert (died.status, died.attempts, died.last_error) == (
        "dead",
        1,
        "ValueError: boom on attempt 1",
    )

    async def retry(job_id: str):
        return await client.post(f"{JOBS}/{job_id}/retry", headers=admin_headers)

    response = await retry(dead_id)
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["id"], body["status"], body["attempts"], body["max_attempts"]) == (
        dead_id,
        "pending",
        0,
        1,
    )
    assert body["last_error"] == "ValueError: boom on attempt 1"  # kept until it runs again
    assert body["finished_at"] is None and body["locked_by"] is None
    job = await load_job(db, dead_id)
    assert job.status == JobStatus.pending and job.run_at <= utcnow()

    # Only a dead job can be retried: a second press, a queued job, an unknown id.
    error = assert_error(await retry(dead_id), 409, "job_not_dead")
    assert error["details"] == {"status": "pending"}
    assert assert_error(await retry(later_id), 409, "job_not_dead")["details"] == {
        "status": "pending"
    }
    assert_error(await retry("job_nope"), 404, "not_found")

    trail = await client.get(f"{API}/admin/audit-log", headers=admin_headers)
    retries = [a for a in trail.json()["items"] if a["action"] == "job.retry"]
    assert [
        (a["actor_id"], a["target_type"], a["target_id"], a["enrollment_id"]) for a in retries
    ] == [(admin.id, "job", dead_id, "enr_1")]
    assert retries[0]["details"] == {
        "kind": "test.record",
        "last_error": "ValueError: boom on attempt 1",
    }

    recorder.fail_times = 0  # whatever killed it is fixed
    assert await worker.run_once() == [JobOutcome.done]
    assert (await load_job(db, dead_id)).status == JobStatus.done
    assert await effect_job_ids(db) == [dead_id]
    assert_error(await retry(dead_id), 409, "job_not_dead")
