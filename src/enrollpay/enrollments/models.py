"""The `enrollments` table: a learner's claim on a course, its pricing snapshot and its hold.

Live states hold a seat and a coupon redemption; final states release them (SPEC §3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime


class EnrollmentStatus(StrEnum):
    pending = "pending"
    failed = "failed"
    enrolled = "enrolled"
    expired = "expired"
    cancelled = "cancelled"
    refunded = "refunded"


LIVE_STATUSES: tuple[EnrollmentStatus, ...] = (
    EnrollmentStatus.pending,
    EnrollmentStatus.failed,
    EnrollmentStatus.enrolled,
)
# Live but not paid: these hold a seat until their hold (expires_at) runs out.
UNPAID_STATUSES: tuple[EnrollmentStatus, ...] = (EnrollmentStatus.pending, EnrollmentStatus.failed)
FINAL_STATUSES: tuple[EnrollmentStatus, ...] = (
    EnrollmentStatus.expired,
    EnrollmentStatus.cancelled,
    EnrollmentStatus.refunded,
)

# The same SQL text on both dialects and in migration 0003, so the index means one thing.
LIVE_STATUS_SQL = "status IN ('pending', 'failed', 'enrolled')"
STATUS_CHECK_SQL = "status IN ('pending', 'failed', 'enrolled', 'expired', 'cancelled', 'refunded')"


class Enrollment(TimestampMixin, Base):
    __tablename__ = "enrollments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"), nullable=False)
    course_id: Mapped[str] = mapped_column(String(32), ForeignKey("courses.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    coupon_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("coupons.id"))

    # Pricing snapshot in paise, fixed when the attempt is priced: what the order charges.
    original_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    course_discount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    coupon_discount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    final_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total_payable: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="INR")

    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The payment (gateway order) of the latest attempt; older ones are superseded. No foreign
    # key: payments already point here, and a cycle would complicate every insert.
    current_payment_id: Mapped[str | None] = mapped_column(String(32))
    # The Razorpay payment id whose capture enrolled this learner (others get refunded).
    enrolled_by: Mapped[str | None] = mapped_column(String(40))
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # percent, 0-100
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        # SPEC §1.2: one live enrollment per learner and course, decided by the database.
        Index(
            "uq_enrollments_live_user_course",
            "user_id",
            "course_id",
            unique=True,
            sqlite_where=text(LIVE_STATUS_SQL),
            postgresql_where=text(LIVE_STATUS_SQL),
        ),
        # Seats taken: live enrollments of a course.
        Index("ix_enrollments_course_id_status", "course_id", "status"),
        # Coupon redemptions held: live enrollments with a coupon (globally and per user).
        Index("ix_enrollments_coupon_id_status", "coupon_id", "status"),
        # The admin search (migration 0017): a learner's enrollments, or one status, newest first.
        Index("ix_enrollments_user_id_id", "user_id", "id"),
        Index("ix_enrollments_status_id", "status", "id"),
        CheckConstraint(STATUS_CHECK_SQL, name="status"),
        CheckConstraint(
            "original_amount >= 0 AND course_discount >= 0 AND coupon_discount >= 0 "
            "AND final_amount >= 0 AND tax_amount >= 0 AND total_payable >= 0",
            name="amounts_not_negative",
        ),
    )

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES
