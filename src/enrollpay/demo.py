"""Demo data for the embedded default (SPEC §2): a paid course with an active discount, a free
course, a course with a prerequisite and a seat limit, a coupon, a demo learner and admin.

Idempotent: everything is found by a fixed natural key (external_id, coupon code, email) and
left alone when present, so a second run changes nothing. The demo passwords are public, so
seeding refuses PostgreSQL (a production database) unless the caller insists."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.auth.passwords import verify_password
from enrollpay.config import Settings
from enrollpay.courses import repository as courses_repository
from enrollpay.courses import service as courses_service
from enrollpay.courses.models import Course, CourseStatus
from enrollpay.courses.schemas import CourseCreate
from enrollpay.db.engine import Database
from enrollpay.pricing import repository as pricing_repository
from enrollpay.pricing import service as pricing_service
from enrollpay.pricing.models import DiscountType
from enrollpay.pricing.schemas import CouponCreate
from enrollpay.users import repository as users_repository
from enrollpay.users.models import Role
from enrollpay.users.service import create_user


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    password: str


DEMO_LEARNER = DemoAccount(Role.learner.value, "learner@demo.enrollpay.dev", "demo-learner-pass")
DEMO_ADMIN = DemoAccount(Role.admin.value, "admin@demo.enrollpay.dev", "demo-admin-pass")
DEMO_ACCOUNTS = (DEMO_LEARNER, DEMO_ADMIN)
DEMO_NAMES = {DEMO_LEARNER.email: "Demo Learner", DEMO_ADMIN.email: "Demo Admin"}
# Checkout asks for a phone number; prefilled, paying in the demo takes one field less.
DEMO_PHONES = {DEMO_LEARNER.email: "+919000090000"}

DEMO_COUPON_CODE = "SAVE10"

# Seeded in this order: the third course requires the first.
DEMO_COURSES: tuple[tuple[str, dict[str, object]], ...] = (
    (
        "demo-programming-basics",
        {
            "title": "Programming Basics",
            "description": "Variables, loops, functions and debugging: the free first step.",
            "instructor": "Ravi Kumar",
            "price": Decimal("0"),
            "duration_weeks": 4,
            "access_url": "https://learn.example.com/courses/programming-basics",
        },
    ),
    (
        "demo-full-stack",
        {
            # The PRD's example: 4999 → 2999, + 18 % GST = 3538.82.
            "title": "Full Stack Development",
            "description": "Build and deploy a web application end to end.",
            "instructor": "Jane Smith",
            "price": Decimal("4999"),
            "discount_price": Decimal("2999"),
            "duration_weeks": 12,
            "access_url": "https://learn.example.com/courses/full-stack-development",
        },
    ),
    (
        "demo-system-design",
        {
            "title": "System Design Cohort",
            "description": "A small live cohort: design, review and defend real systems.",
            "instructor": "Anita Rao",
            "price": Decimal("3999"),
            "duration_weeks": 6,
            "capacity": 20,
            "access_url": "https://learn.example.com/courses/system-design-cohort",
        },
    ),
)
PREREQUISITES = {"demo-system-design": ["demo-programming-basics"]}


class DemoSeedRefused(click.ClickException):
    """Shown by the CLI as an error (exit status 1) instead of a traceback."""


async def _seed_courses(session: AsyncSession, lines: list[str]) -> Course:
    by_external_id: dict[str, Course] = {}
    for external_id, fields in DEMO_COURSES:
        course = await courses_repository.get_by_external_id(session, external_id)
        if course is not None:
            lines.append(f"  course  {course.title} ({course.id}): already present")
        else:
            prerequisites = [by_external_id[p].id for p in PREREQUISITES.get(external_id, [])]
            body = CourseCreate.model_validate(
                {
                    **fields,
                    "external_id": external_id,
                    "status": CourseStatus.published,
                    "prerequisites": prerequisites,
                }
            )
            course = await courses_service.create_course(session, body)
            lines.append(f"  course  {course.title} ({course.id}): created")
        by_external_id[external_id] = course
    return by_external_id["demo-full-stack"]


async def _seed_coupon(session: AsyncSession, lines: list[str]) -> None:
    if await pricing_repository.get_by_code(session, DEMO_COUPON_CODE) is not None:
        lines.append(f"  coupon  {DEMO_COUPON_CODE}: already present")
        return
    await pricing_service.create_coupon(
        session,
        CouponCreate(
            code=DEMO_COUPON_CODE,
            discount_type=DiscountType.percent,
            discount_value=Decimal("10"),
            max_redemptions=1000,
            per_user_limit=1,
        ),
    )
    lines.append(f"  coupon  {DEMO_COUPON_CODE} (10 % off any course, once per learner): created")


async def _seed_accounts(session: AsyncSession, lines: list[str]) -> None:
    for account in DEMO_ACCOUNTS:
        label = f"  {account.role:<7} {account.email} / {account.password}"
        existing = await users_repository.get_by_email(session, account.email)
        if existing is not None:
            # Never advertise credentials that no longer work.
            if _password_matches(account.password, existing.password_hash):
                lines.append(f"{label}: already present")
            else:
                lines.append(f"  {account.role:<7} {account.email}: present, password changed")
            continue
        await create_user(
            session,
            email=account.email,
            password=account.password,
            full_name=DEMO_NAMES[account.email],
            phone=DEMO_PHONES.get(account.email),
            role=Role(account.role),
        )
        lines.append(f"{label}: created")


async def seed_demo(settings: Settings, *, force: bool = False) -> str:
    """Create whatever demo data is missing; return a summary for the terminal."""
    if settings.is_postgres and not force:
        raise DemoSeedRefused(
            "refusing to seed demo accounts with published passwords into PostgreSQL; "
            "demo data is for the embedded SQLite default"
        )
    lines = ["Demo data:"]
    db = Database(settings)
    try:
        async with db.transaction() as session:
            await _seed_courses(session, lines)
            await _seed_coupon(session, lines)
            await _seed_accounts(session, lines)
    finally:
        await db.dispose()
    lines.append("The demo passwords are public: use them only in this embedded demo.")
    return "\n".join(lines)


async def demo_accounts_present(settings: Settings) -> list[DemoAccount]:
    """Demo accounts that exist and still sign in with the published password and role (an
    account whose password was changed is not advertised)."""
    db = Database(settings)
    present = []
    try:
        async with db.transaction() as session:
            for account in DEMO_ACCOUNTS:
                user = await users_repository.get_by_email(session, account.email)
                if (
                    user is not None
                    and user.is_active
                    and user.role == account.role
                    and _password_matches(account.password, user.password_hash)
                ):
                    present.append(account)
    except SQLAlchemyError:
        return []  # not migrated yet, or unreachable: the banner simply lists no accounts
    finally:
        await db.dispose()
    return present


def _password_matches(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        return False
    try:
        return verify_password(password, password_hash)
    except Exception:  # an unknown hash format is simply "not the demo password"
        return False
