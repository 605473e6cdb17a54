"""`Idempotency-Key` on POST /enrollments/initialize (SPEC §4.2), on both databases: stored
responses replay (also 4xx), another body is refused, a running request answers 409, 5xx is not
stored, keys are per learner, and the purge job drops old keys."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import stamina
from sqlalchemy import func, select

from enrollpay.idempotency.models import IdempotencyKey
from enrollpay.idempotency.service import RETENTION, purge_expired
from enrollpay.kit.clock import utcnow
from tests.conftest import assert_error
from tests.courses.factories import create_course
from tests.enrollments.helpers import (
    add_fault,
    clear_faults,
    initialize,
    live_enrollments,
    sandbox_orders,
)

REPLAYED = "Idempotent-Replayed"


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


def keyed(key: str) -> dict[str, Any]:
    return {"extra_headers": {"Idempotency-Key": key}}


async def key_rows(db) -> list[IdempotencyKey]:
    async with db.sessionmaker() as session:
        return list((await session.execute(select(IdempotencyKey))).scalars())


async def test_the_same_key_and_body_replay_the_stored_response(
    client, db, admin_headers, make_user
):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    first = await initialize(client, headers, course["id"], **keyed("checkout-1"))
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    assert first.json()["idempotency_key"] == "checkout-1"

    for _ in range(2):
        again = await initialize(client, headers, course["id"], **keyed("checkout-1"))
        assert again.status_code == 201, again.text  # the stored status, not 200
        assert again.headers[REPLAYED] == "true"
        assert again.content == first.content  # byte for byte the stored body
    assert len(await live_enrollments(db)) == 1
    assert len(await sandbox_orders(db)) == 1

    # Without the key it is an ordinary repeat: the same session, answered live.
    plain = await initialize(client, headers, course["id"])
    assert plain.status_code == 200 and REPLAYED not in plain.headers


async def test_a_stored_4xx_is_replayed_even_after_the_cause_went_away(
    client, db, admin_headers, make_user
):
    _, headers = await make_user(password=None)
    _, other_headers = await make_user(password=None)
    course = await create_course(client, admin_headers, capacity=1)
    taken = await initialize(client, other_headers, course["id"])
    assert taken.status_code == 201

    full = await initialize(client, headers, course["id"], **keyed("full-1"))
    assert_error(full, 409, "course_full")
    # The seat comes free: the key still answers what it answered.
    cancelled = await client.post(
        f"/api/v1/enrollments/{taken.json()['enrollment_id']}/cancel", headers=other_headers
    )
    assert cancelled.status_code == 200, cancelled.text
    replay = await initialize(client, headers, course["id"], **keyed("full-1"))
    assert_error(replay, 409, "course_full")
    assert replay.headers[REPLAYED] == "true" and replay.content == full.content
    # A new key runs the request again.
    fresh = await initialize(client, headers, course["id"], **keyed("full-2"))
    assert fresh.status_code == 201, fresh.text


async def test_the_same_key_with_another_body_is_refused(client, db, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    other = await create_course(client, admin_headers)
    first = await initialize(client, headers, course["id"], **keyed("k-1"))
    assert first.status_code == 201

    for body in (
        {"course_id": other["id"]},
        {"course_id": course["id"], "metadata": {"source": "web"}},
        {"course_id": course["id"], "success_url": "http://127.0.0.1:8000/done"},
    ):
        reused = await initialize(client, headers, **body, **keyed("k-1"))
        assert_error(reused, 422, "idempotency_key_reused")
    assert len(await live_enrollments(db)) == 1  # the other course was never touched
    assert (await initialize(client, headers, course["id"], **keyed("k-1"))).headers[
        REPLAYED
    ] == "true"


async def test_parallel_requests_with_one_key_run_once(client, db, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    # A slow gateway keeps the first request running while the others arrive.
    await add_fault(client, path_prefix="/v1/orders", method="POST", delay_ms=300, count=1)

    responses = await asyncio.gather(
        *(initialize(client, headers, course["id"], **keyed("same")) for _ in range(8))
    )

    ran = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    assert len(ran) == 1, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response is ran[0]:
            continue
        if response.status_code == 201:
            assert response.headers[REPLAYED] == "true" and response.content == ran[0].content
        else:
            assert_error(response, 409, "request_in_progress")
            assert int(response.headers["Retry-After"]) >= 1
    assert len(await live_enrollments(db)) == 1
    assert len(await sandbox_orders(db)) == 1
    (row,) = await key_rows(db)
    assert row.response_status == 201


async def test_a_5xx_is_not_stored_and_the_retry_runs(client, db, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    await add_fault(client, path_prefix="/v1/orders", status=503, count=50)

    down = await initialize(client, headers, course["id"], **keyed("retry-me"))
    assert_error(down, 503, "payment_gateway_unavailable")
    assert REPLAYED not in down.headers
    assert await key_rows(db) == []

    await clear_faults(client)
    back = await initialize(client, headers, course["id"], **keyed("retry-me"))
    assert back.status_code in (200, 201), back.text
    assert REPLAYED not in back.headers
    (enrollment,) = await live_enrollments(db)
    assert back.json()["enrollment_id"] == enrollment.id
    assert len(await sandbox_orders(db)) == 1
    replay = await initialize(client, headers, course["id"], **keyed("retry-me"))
    assert replay.headers[REPLAYED] == "true" and replay.content == back.content


async def test_keys_are_per_learner(client, db, admin_headers, make_user):
    _, headers = await make_user(password=None)
    _, other_headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    mine = await initialize(client, headers, course["id"], **keyed("shared-key"))
    theirs = await initialize(client, other_headers, course["id"], **keyed("shared-key"))
    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.text
    assert REPLAYED not in theirs.headers
    assert mine.json()["enrollment_id"] != theirs.json()["enrollment_id"]
    assert len(await key_rows(db)) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
async def test_malformed_keys_are_refused_and_change_nothing(
    client, db, admin_headers, make_user, key
):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    response = await initialize(client, headers, course["id"], **keyed(key))
    assert_error(response, 422, "validation_error")
    assert await live_enrollments(db) == [] and await key_rows(db) == []


async def test_purge_removes_keys_past_their_retention(client, db, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    assert (await initialize(client, headers, course["id"], **keyed("old"))).status_code == 201
    assert RETENTION >= timedelta(hours=24)  # SPEC: kept at least 24 hours

    assert await purge_expired(db, now=utcnow() + timedelta(hours=24)) == 0
    assert len(await key_rows(db)) == 1
    assert await purge_expired(db, now=utcnow() + RETENTION + timedelta(minutes=1)) == 1
    assert await key_rows(db) == []
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0

    # The key is free again: the request runs (and resumes the learner's live enrollment).
    again = await initialize(client, headers, course["id"], **keyed("old"))
    assert again.status_code == 200 and REPLAYED not in again.headers
