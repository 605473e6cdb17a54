"""Velocity rules, coupon-guessing throttle and the payment-attempt audit log.

Rate limits (auth/ratelimit.py) stop floods; the velocity rules here stop patterns that look
like fraud (card testing, account farming) and leave a `risk_flags` row for an admin to review.
Counters live in the shared RateLimiter (Redis across replicas) except failed payments, which
are counted from our own payment attempts. Flags are written in their own short transaction:
the request that trips a rule answers 429, and its own transaction rolls back."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

import structlog
from limits import parse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from enrollpay.abuse import repository
from enrollpay.abuse.models import PaymentAttemptLog, RiskFlag
from enrollpay.auth.ratelimit import BAD_COUPONS_PER_CLIENT, SIGNUPS_PER_IP, RateLimiter
from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.enrollments.models import Enrollment
from enrollpay.errors import AppError, NotFound, TooManyRequests
from enrollpay.kit.client import client_ip, user_agent
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.users.models import User

log = structlog.get_logger(__name__)

# Failed Razorpay payment attempts per learner per UTC day: past this, initialize and retry are
# refused until the day rolls over (card testing shows up as a run of declines).
FAILED_PAYMENTS_PER_LEARNER_PER_DAY = 5
# Accounts created per client address over a sliding day (account farming for coupons); not
# lower, since a campus network or a mobile carrier's NAT puts many learners behind one address.
NEW_ACCOUNTS_PER_IP = parse("20/day")
# Payment attempts (initialize and retry) per client address over a sliding hour; generous,
# since a campus or office may share one address.
PAYMENT_ATTEMPTS_PER_IP = parse("100/hour")
# One open flag per rule and subject per day is enough for a reviewer.
FLAG_DEDUPE_WINDOW = timedelta(hours=24)


class RiskKind(StrEnum):
    failed_payments = "failed_payments"
    new_accounts_per_ip = "new_accounts_per_ip"
    payment_attempts_per_ip = "payment_attempts_per_ip"


def ip_subject(settings: Settings, ip: str) -> str:
    """A flag's subject for a client address: keyed hash, so no raw address is stored."""
    digest = hmac.new(settings.secret_key.encode(), ip.encode(), hashlib.sha256).hexdigest()
    return f"ip:{digest}"


async def record_flag(
    db: Database, kind: RiskKind, subject: str, details: dict[str, Any], *, now: datetime
) -> bool:
    """Write a flag in its own transaction unless an open one for the rule and subject is
    recent; True when written."""
    async with db.transaction() as session:
        if await repository.flag_since(session, kind.value, subject, now - FLAG_DEDUPE_WINDOW):
            return False
        session.add(
            RiskFlag(
                id=new_id("rsk"), kind=kind.value, subject=subject, details=details, created_at=now
            )
        )
    log.warning("risk_flag", kind=kind.value, subject=subject, **details)
    return True


def _seconds_to_next_utc_day(now: datetime) -> int:
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)
    return max(1, int((tomorrow - now).total_seconds()))


def _utc_day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time(), tzinfo=now.tzinfo)


# ---- sign-up ------------------------------------------------------------------------------------


async def guard_signup(
    db: Database, settings: Settings, limiter: RateLimiter, ip: str, *, now: datetime
) -> None:
    """Before creating an account (API and web form alike): the sign-up rate limit, then the
    new-accounts-per-address rule."""
    await limiter.consume(SIGNUPS_PER_IP, "signup-ip", ip)
    if await limiter.is_exhausted(NEW_ACCOUNTS_PER_IP, "new-accounts-ip", ip):
        await record_flag(
            db,
            RiskKind.new_accounts_per_ip,
            ip_subject(settings, ip),
            {"limit": str(NEW_ACCOUNTS_PER_IP)},
            now=now,
        )
        raise TooManyRequests(
            await limiter.retry_after(NEW_ACCOUNTS_PER_IP, "new-accounts-ip", ip),
            "Too many accounts were created from your network today. Try again later.",
        )


async def count_new_account(limiter: RateLimiter, ip: str) -> None:
    await limiter.hit(NEW_ACCOUNTS_PER_IP, "new-accounts-ip", ip)


# ---- payments -----------------------------------------------------------------------------------


async def guard_payment_attempt(
    db: Database, settings: Settings, limiter: RateLimiter, user_id: str, ip: str, *, now: datetime
) -> None:
    """Before initialize or retry: failed payments per learner per day, attempts per address."""
    async with db.transaction() as session:
        failed = await repository.failed_attempts_since(session, user_id, _utc_day_start(now))
    if failed >= FAILED_PAYMENTS_PER_LEARNER_PER_DAY:
        await record_flag(
            db,
            RiskKind.failed_payments,
            user_id,
            {"failed_today": failed, "threshold": FAILED_PAYMENTS_PER_LEARNER_PER_DAY},
            now=now,
        )
        raise TooManyRequests(
            _seconds_to_next_utc_day(now),
            "Too many payments failed on your account today, so new payments are paused until "
            "tomorrow (UTC).",
        )
    if not await limiter.hit(PAYMENT_ATTEMPTS_PER_IP, "payment-attempts-ip", ip):
        await record_flag(
            db,
            RiskKind.payment_attempts_per_ip,
            ip_subject(settings, ip),
            {"limit": str(PAYMENT_ATTEMPTS_PER_IP), "user_id": user_id},
            now=now,
        )
        raise TooManyRequests(
            await limiter.retry_after(PAYMENT_ATTEMPTS_PER_IP, "payment-attempts-ip", ip)
        )


# ---- coupons ------------------------------------------------------------------------------------


def coupon_client(user_id: str | None, ip: str) -> str:
    return f"user:{user_id}" if user_id is not None else f"ip:{ip}"


async def guard_coupon(limiter: RateLimiter, client: str) -> None:
    """Refuse any coupon while the client's refused codes fill the window (valid ones too)."""
    if await limiter.is_exhausted(BAD_COUPONS_PER_CLIENT, "bad-coupon", client):
        raise TooManyRequests(
            await limiter.retry_after(BAD_COUPONS_PER_CLIENT, "bad-coupon", client),
            "Too many coupon codes were refused. Wait a while before trying another.",
        )


async def count_bad_coupon(limiter: RateLimiter, client: str) -> None:
    await limiter.hit(BAD_COUPONS_PER_CLIENT, "bad-coupon", client)


# ---- the payment-attempt audit log --------------------------------------------------------------


class AttemptAction(StrEnum):
    initialize = "initialize"
    verify = "verify"
    retry = "retry"
    callback = "callback"  # the hosted payment page's Checkout callback (web/paypage.py)


@dataclass
class AttemptAudit:
    """Filled in by the endpoint as it learns more; written when the request ends."""

    enrollment_id: str | None = None
    outcome: str | None = None  # set for answers that are not raised (a stored error replayed)


@asynccontextmanager
async def audit_payment_attempt(
    request: Request, user_id: str, action: AttemptAction, enrollment_id: str | None = None
) -> AsyncIterator[AttemptAudit]:
    """One `payment_attempt_log` row per checkout call, whatever happens: `success` or the
    error code. Written in its own short transaction (the checkout runs outside the request's)."""
    audit = AttemptAudit(enrollment_id=enrollment_id)
    outcome = "success"
    try:
        yield audit
    except AppError as exc:
        outcome = exc.code
        raise
    except Exception:
        outcome = "internal_error"
        raise
    finally:
        try:
            db: Database = request.app.state.db
            async with db.transaction() as session:
                await _write_attempt(
                    session, request, user_id, action, audit, audit.outcome or outcome
                )
        except Exception:  # the audit must never hide the answer
            log.exception("payment_attempt_log_failed", action=action.value, user_id=user_id)


async def _write_attempt(
    session: AsyncSession,
    request: Request,
    user_id: str,
    action: AttemptAction,
    audit: AttemptAudit,
    outcome: str,
) -> None:
    amount: int | None = None
    currency: str | None = None
    enrollment_id = audit.enrollment_id[:64] if audit.enrollment_id else None
    if enrollment_id is not None and has_prefix(enrollment_id, "enr"):
        enrollment = await session.get(Enrollment, enrollment_id)
        if enrollment is not None and enrollment.user_id == user_id:
            amount, currency = enrollment.total_payable, enrollment.currency
    session.add(
        PaymentAttemptLog(
            id=new_id("pal"),
            user_id=user_id,
            enrollment_id=enrollment_id,
            action=action.value,
            client_ip=client_ip(request)[:64],
            user_agent=user_agent(request),
            amount=amount,
            currency=currency,
            outcome=outcome[:64],
            created_at=utcnow(),
        )
    )


# ---- admin --------------------------------------------------------------------------------------


async def review_flag(
    session: AsyncSession, flag_id: str, admin: User, *, now: datetime
) -> RiskFlag:
    """Mark a flag reviewed; reviewing it again keeps the first review."""
    flag = (
        await repository.get_flag(session, flag_id, for_update=True)
        if has_prefix(flag_id, "rsk")
        else None
    )
    if flag is None:
        raise NotFound("No risk flag with this id.")
    if flag.reviewed_at is None:
        flag.reviewed_at = now
        flag.reviewed_by = admin.id
    return flag
