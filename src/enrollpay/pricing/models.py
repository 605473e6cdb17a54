"""Coupons. The code is stored upper-cased, so the unique index is case-insensitive."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime


class DiscountType(StrEnum):
    percent = "percent"
    flat = "flat"


# Percent values are stored in basis points (hundredths of a percent): 12.5 % → 1250, so
# every stored number is an integer like the paise of a flat discount.
BASIS_POINTS_PER_PERCENT = 100
FULL_PERCENT_BP = 100 * BASIS_POINTS_PER_PERCENT


class Coupon(TimestampMixin, Base):
    __tablename__ = "coupons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    discount_type: Mapped[str] = mapped_column(String(16), nullable=False)
    # percent: basis points (1..10000); flat: paise (> 0).
    discount_value: Mapped[int] = mapped_column(BigInteger, nullable=False)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    max_redemptions: Mapped[int | None] = mapped_column(Integer)  # None = unlimited
    per_user_limit: Mapped[int | None] = mapped_column(Integer)  # None = unlimited
    min_amount: Mapped[int | None] = mapped_column(BigInteger)  # paise, before tax
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (
        CheckConstraint("discount_type IN ('percent', 'flat')", name="discount_type"),
        CheckConstraint(
            "discount_value > 0 AND (discount_type <> 'percent' OR discount_value <= 10000)",
            name="discount_value",
        ),
        CheckConstraint(
            "(max_redemptions IS NULL OR max_redemptions >= 1) "
            "AND (per_user_limit IS NULL OR per_user_limit >= 1) "
            "AND (min_amount IS NULL OR min_amount >= 0)",
            name="limits",
        ),
    )


class CouponCourse(Base):
    """The coupon's scope; a coupon without rows here applies to every course."""

    __tablename__ = "coupon_courses"

    coupon_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True
    )
    course_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("courses.id"), primary_key=True, index=True
    )
