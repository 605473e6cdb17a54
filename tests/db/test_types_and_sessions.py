"""Cross-database behaviour the rest of the code relies on (ARCHITECTURE.md rules)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import Request
from sqlalchemy import func, select

from enrollpay.db.session import SessionDep
from enrollpay.errors import Conflict
from enrollpay.kit.ids import new_id
from enrollpay.users.models import User
from tests.conftest import assert_error


def _user(email: str, **extra) -> User:
    return User(
        id=new_id("usr"), email=email, full_name="T", role="learner", is_active=True, **extra
    )


async def test_datetimes_come_back_utc_aware(db):
    ist = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 3, 1, 10, 0, tzinfo=ist)
    async with db.transaction() as session:
        user = _user("a@example.com", email_verified_at=moment)
        session.add(user)
    async with db.transaction() as session:
        stored = await session.get(User, user.id, populate_existing=True)
        assert stored.email_verified_at == moment
        assert stored.email_verified_at.tzinfo is not None
        assert stored.email_verified_at.utcoffset() == timedelta(0)
        assert stored.email_verified_at == datetime(2026, 3, 1, 4, 30, tzinfo=UTC)


async def test_naive_datetimes_are_refused(db):
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as session:
            session.add(_user("b@example.com", email_verified_at=datetime(2026, 1, 1)))


async def test_request_session_commits_on_success_and_rolls_back_on_error(app, client, db):
    async def create_then(request: Request, session: SessionDep, fail: bool) -> dict:
        session.add(_user(f"{'fail' if fail else 'ok'}@example.com"))
        await session.flush()
        if fail:
            raise Conflict("refused after writing", code="test_refused")
        return {"ok": True}

    app.add_api_route("/api/v1/_test/write", create_then, methods=["POST"])
    assert (await client.post("/api/v1/_test/write?fail=false")).status_code == 200
    assert_error(await client.post("/api/v1/_test/write?fail=true"), 409, "test_refused")
    async with db.transaction() as session:
        emails = (await session.execute(select(User.email))).scalars().all()
    assert emails == ["ok@example.com"]


async def test_concurrent_read_modify_write_transactions_do_not_lose_updates(db):
    """BEGIN IMMEDIATE on SQLite / row locks on PostgreSQL: 20 concurrent increments all land."""
    async with db.transaction() as session:
        session.add(_user("counter@example.com", phone="0"))

    async def increment() -> None:
        async with db.transaction() as session:
            row = await session.execute(
                select(User).where(User.email == "counter@example.com").with_for_update()
            )
            user = row.scalar_one()
            await asyncio.sleep(0)  # let the others interleave
            user.phone = str(int(user.phone) + 1)

    await asyncio.gather(*(increment() for _ in range(20)))
    async with db.transaction() as session:
        value = await session.scalar(select(User.phone).where(User.email == "counter@example.com"))
        assert value == "20"
        assert await session.scalar(select(func.count()).select_from(User)) == 1
