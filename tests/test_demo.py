"""Demo data: what SPEC §2 promises, idempotent, and never into PostgreSQL by accident."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from enrollpay.auth.passwords import hash_password
from enrollpay.config import load_settings
from enrollpay.courses.models import Course, CoursePrerequisite
from enrollpay.demo import (
    DEMO_ADMIN,
    DEMO_LEARNER,
    DemoSeedRefused,
    demo_accounts_present,
    seed_demo,
)
from enrollpay.pricing.models import Coupon
from enrollpay.users.models import User
from tests.conftest import TEST_SECRET_KEY

TABLES = (Course, CoursePrerequisite, Coupon, User)


async def row_counts(db) -> dict[str, int]:
    async with db.transaction() as session:
        return {
            model.__tablename__: int(
                (await session.execute(select(func.count()).select_from(model))).scalar_one()
            )
            for model in TABLES
        }


async def test_seed_creates_the_demo_and_is_idempotent(client, db, settings) -> None:
    summary = await seed_demo(settings, force=True)
    assert "Full Stack Development" in summary and "created" in summary
    assert DEMO_LEARNER.email in summary and DEMO_LEARNER.password in summary
    assert DEMO_ADMIN.email in summary and DEMO_ADMIN.password in summary
    counts = await row_counts(db)
    assert counts == {"courses": 3, "course_prerequisites": 1, "coupons": 1, "users": 2}

    again = await seed_demo(settings, force=True)
    assert "created" not in again and "already present" in again
    assert await row_counts(db) == counts

    catalog = (await client.get("/api/v1/courses")).json()["items"]
    by_title = {course["title"]: course for course in catalog}
    paid = by_title["Full Stack Development"]
    assert paid["has_active_discount"] is True
    assert (paid["price"], paid["discount_price"]) == (4999, 2999)
    assert (paid["pricing"]["tax_amount"], paid["pricing"]["total_payable"]) == (539.82, 3538.82)
    free = by_title["Programming Basics"]
    assert free["pricing"]["total_payable"] == 0
    gated = by_title["System Design Cohort"]
    assert gated["prerequisites"] == [free["id"]]
    assert gated["capacity"] == 20 and gated["seats_left"] == 20

    quote = await client.get(
        f"/api/v1/courses/{paid['id']}/quote", params={"coupon_code": "save10"}
    )
    assert quote.status_code == 200 and quote.json()["total_payable"] == 3184.94

    # The printed credentials work, with the right roles.
    for account in (DEMO_LEARNER, DEMO_ADMIN):
        login = await client.post(
            "/api/v1/auth/login", json={"email": account.email, "password": account.password}
        )
        assert login.status_code == 200, login.text
        assert login.json()["user"]["role"] == account.role
        if account is DEMO_LEARNER:  # prefilled in Checkout, which asks for one
            assert login.json()["user"]["phone"] == "+919000090000"
    assert await demo_accounts_present(settings) == [DEMO_LEARNER, DEMO_ADMIN]


async def test_accounts_with_changed_passwords_are_not_advertised(client, db, settings) -> None:
    assert await demo_accounts_present(settings) == []
    await seed_demo(settings, force=True)
    async with db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.email == DEMO_ADMIN.email)
            .values(password_hash=hash_password("changed-by-the-operator"))
        )
    assert await demo_accounts_present(settings) == [DEMO_LEARNER]
    summary = await seed_demo(settings, force=True)
    assert f"{DEMO_ADMIN.email}: present, password changed" in summary
    assert DEMO_ADMIN.password not in summary


async def test_refuses_postgresql_unless_forced(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        SECRET_KEY=TEST_SECRET_KEY,
        VAR_DIR=tmp_path,
    )
    with pytest.raises(DemoSeedRefused, match="PostgreSQL"):
        await seed_demo(settings)


async def test_accounts_present_on_an_unmigrated_database_is_empty(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}",
        SECRET_KEY=TEST_SECRET_KEY,
        VAR_DIR=tmp_path,
    )
    assert await demo_accounts_present(settings) == []
