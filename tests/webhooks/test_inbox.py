"""What the admin console will use: listing with filters and cursors, one event, and replay."""

from __future__ import annotations

import pytest

from enrollpay.errors import NotFound, ValidationFailed
from enrollpay.jobs.worker import JobOutcome
from enrollpay.webhooks import service
from enrollpay.webhooks.models import WebhookEventStatus
from tests.webhooks.conftest import deliver, inbox, only_row, processing_jobs, sample


async def _arrange(client, run_jobs, record_fact) -> None:
    """Five events: captured + failed for pay_A (order_A), order.paid for pay_B (order_B), a
    refund speed change (ignored) for pay_A, and an unusable body."""
    await deliver(
        client,
        sample("payment.captured", payment={"id": "pay_A", "order_id": "order_A"}),
        event_id="E1",
    )
    await deliver(
        client,
        sample("payment.failed", payment={"id": "pay_A", "order_id": "order_A"}),
        event_id="E2",
    )
    await deliver(
        client,
        sample(
            "order.paid", payment={"id": "pay_B", "order_id": "order_B"}, order={"id": "order_B"}
        ),
        event_id="E3",
    )
    await deliver(
        client,
        {
            **sample("refund.processed", payment={"id": "pay_A", "order_id": "order_A"}),
            "event": "refund.speed_changed",
        },
        event_id="E4",
    )
    await deliver(client, b"garbage", event_id="E5")
    await run_jobs()


async def _list(db, **filters):
    async with db.transaction() as session:
        return await service.list_events(session, **filters)


async def test_list_filters(client, db, run_jobs, record_fact):
    await _arrange(client, run_jobs, record_fact)

    async def ids(**filters) -> list[str]:
        page = await _list(db, limit=50, **filters)
        return [item.event_id for item in page.items]

    assert await ids() == ["E5", "E4", "E3", "E2", "E1"]  # newest first
    assert await ids(event="order.paid") == ["E3"]
    assert await ids(status=WebhookEventStatus.processed) == ["E3", "E2", "E1"]
    assert await ids(status=WebhookEventStatus.ignored) == ["E4"]
    assert await ids(status=WebhookEventStatus.failed) == ["E5"]
    assert await ids(razorpay_payment_id="pay_A") == ["E4", "E2", "E1"]
    assert await ids(razorpay_order_id="order_B") == ["E3"]
    assert await ids(razorpay_payment_id="pay_A", event="payment.failed") == ["E2"]
    assert await ids(razorpay_order_id="order_nothing") == []


async def test_list_pages_with_a_cursor(client, db, run_jobs, record_fact):
    await _arrange(client, run_jobs, record_fact)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await _list(db, limit=2, cursor=cursor)
        seen += [item.event_id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["E5", "E4", "E3", "E2", "E1"]
    last = await _list(db, limit=5)
    assert last.next_cursor is None  # exactly one full page: no empty page after it
    with pytest.raises(ValidationFailed):
        await _list(db, limit=2, cursor="crs_not_a_webhook_cursor")


async def test_list_items_leave_the_body_out_and_get_has_it(client, db, run_jobs, record_fact):
    await deliver(client, sample("payment.captured"), event_id="EvtOne")
    await run_jobs()
    (item,) = (await _list(db, limit=10)).items
    assert "raw_body" not in item.model_dump()
    assert (item.status, item.outcome, item.attempts) == ("processed", "applied", 1)

    async with db.transaction() as session:
        detail = await service.get_event(session, item.id)
    assert detail.raw_body == (await only_row(db)).raw_body
    assert detail.headers["x-razorpay-event-id"] == "EvtOne"
    assert detail.body_encoding == "utf-8"

    for missing in ("whk_00000000000000000000000000", "nonsense"):
        async with db.transaction() as session:
            with pytest.raises(NotFound):
                await service.get_event(session, missing)


async def test_replay_processes_again_under_a_new_dedupe_key(client, db, run_jobs, record_fact):
    await deliver(client, sample("payment.captured"), event_id="EvtReplay")
    await run_jobs()
    row = await only_row(db)

    for number in (1, 2):
        async with db.transaction() as session:
            replayed = await service.replay(session, row.id)
        assert (replayed.status, replayed.replays, replayed.outcome) == ("pending", number, None)
        assert await run_jobs() == [JobOutcome.done]

    jobs = await processing_jobs(db)
    assert [job.dedupe_key for job in jobs] == [
        f"webhook:{row.id}",
        f"webhook:{row.id}:replay:1",
        f"webhook:{row.id}:replay:2",
    ]
    assert [job.payload for job in jobs] == [
        {"inbox_id": row.id},
        {"inbox_id": row.id, "replay": 1},
        {"inbox_id": row.id, "replay": 2},
    ]
    row = await only_row(db)
    assert (row.status, row.outcome, row.attempts, row.replays) == ("processed", "applied", 3, 2)
    # Each replay hands the same fact again; record_gateway_fact records repeats as duplicates.
    assert len(record_fact.facts) == 3
    assert {fact.reference for fact in record_fact.facts} == {"EvtReplay"}


async def test_replay_revives_a_failed_row(client, db, run_jobs, record_fact):
    from sqlalchemy import update

    from enrollpay.jobs.models import Job

    record_fact.fail_times = 1
    await deliver(client, sample("payment.captured"))
    async with db.transaction() as session:
        await session.execute(update(Job).values(max_attempts=1))
    assert await run_jobs() == [JobOutcome.dead]
    row = await only_row(db)
    assert row.status == "failed"

    async with db.transaction() as session:
        await service.replay(session, row.id)
    assert await run_jobs() == [JobOutcome.done]
    row = await only_row(db)
    assert (row.status, row.outcome, row.attempts) == ("processed", "applied", 2)


async def test_replay_of_an_unusable_body_fails_again(client, db, run_jobs):
    await deliver(client, b"{not json")
    row = await only_row(db)
    async with db.transaction() as session:
        await service.replay(session, row.id)
    assert await run_jobs() == [JobOutcome.dead]
    row = await only_row(db)
    assert (row.status, row.outcome) == ("failed", "unusable body")
    assert "not JSON" in (row.last_error or "")


async def test_replay_of_an_unknown_id_is_not_found(db):
    async with db.transaction() as session:
        with pytest.raises(NotFound):
            await service.replay(session, "whk_00000000000000000000000000")
    assert await inbox(db) == []
