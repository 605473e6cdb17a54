"""catalog, coupons and enrollment holds

Revision ID: 0003_catalog
Revises: 0002_jobs
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import enrollpay.db.types

revision: str = "0003_catalog"
down_revision: str | None = "0002_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must stay identical to enrollpay.enrollments.models.LIVE_STATUS_SQL.
LIVE_STATUS_SQL = "status IN ('pending', 'failed', 'enrolled')"


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", enrollpay.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", enrollpay.db.types.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("instructor", sa.String(length=200), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("discount_price", sa.BigInteger(), nullable=True),
        sa.Column("discount_starts_at", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("discount_ends_at", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("duration_weeks", sa.Integer(), nullable=True),
        sa.Column("enrollment_deadline", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("refund_window_days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("access_url", sa.String(length=2048), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'archived')", name=op.f("ck_courses_status")
        ),
        sa.CheckConstraint(
            "price >= 0 AND (discount_price IS NULL OR (discount_price >= 0 AND discount_price < price))",
            name=op.f("ck_courses_price"),
        ),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name=op.f("ck_courses_capacity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("external_id", name=op.f("uq_courses_external_id")),
    )

    op.create_table(
        "course_prerequisites",
        sa.Column("course_id", sa.String(length=32), nullable=False),
        sa.Column("prerequisite_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "course_id <> prerequisite_id", name=op.f("ck_course_prerequisites_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_prerequisites_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prerequisite_id"],
            ["courses.id"],
            name=op.f("fk_course_prerequisites_prerequisite_id_courses"),
        ),
        sa.PrimaryKeyConstraint(
            "course_id", "prerequisite_id", name=op.f("pk_course_prerequisites")
        ),
    )
    with op.batch_alter_table("course_prerequisites", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_course_prerequisites_prerequisite_id"), ["prerequisite_id"], unique=False
        )

    op.create_table(
        "coupons",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("discount_type", sa.String(length=16), nullable=False),
        sa.Column("discount_value", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("valid_until", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("per_user_limit", sa.Integer(), nullable=True),
        sa.Column("min_amount", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "discount_type IN ('percent', 'flat')", name=op.f("ck_coupons_discount_type")
        ),
        sa.CheckConstraint(
            "discount_value > 0 AND (discount_type <> 'percent' OR discount_value <= 10000)",
            name=op.f("ck_coupons_discount_value"),
        ),
        sa.CheckConstraint(
            "(max_redemptions IS NULL OR max_redemptions >= 1) "
            "AND (per_user_limit IS NULL OR per_user_limit >= 1) "
            "AND (min_amount IS NULL OR min_amount >= 0)",
            name=op.f("ck_coupons_limits"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_coupons_code")),
    )

    op.create_table(
        "coupon_courses",
        sa.Column("coupon_id", sa.String(length=32), nullable=False),
        sa.Column("course_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["coupon_id"],
            ["coupons.id"],
            name=op.f("fk_coupon_courses_coupon_id_coupons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_coupon_courses_course_id_courses")
        ),
        sa.PrimaryKeyConstraint("coupon_id", "course_id", name=op.f("pk_coupon_courses")),
    )
    with op.batch_alter_table("coupon_courses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_courses_course_id"), ["course_id"], unique=False
        )

    op.create_table(
        "enrollments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("course_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("coupon_id", sa.String(length=32), nullable=True),
        sa.Column("original_amount", sa.BigInteger(), nullable=False),
        sa.Column("course_discount", sa.BigInteger(), nullable=False),
        sa.Column("coupon_discount", sa.BigInteger(), nullable=False),
        sa.Column("final_amount", sa.BigInteger(), nullable=False),
        sa.Column("tax_amount", sa.BigInteger(), nullable=False),
        sa.Column("total_payable", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expires_at", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("enrolled_at", enrollpay.db.types.UTCDateTime(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('pending', 'failed', 'enrolled', 'expired', 'cancelled', 'refunded')",
            name=op.f("ck_enrollments_status"),
        ),
        sa.CheckConstraint(
            "original_amount >= 0 AND course_discount >= 0 AND coupon_discount >= 0 "
            "AND final_amount >= 0 AND tax_amount >= 0 AND total_payable >= 0",
            name=op.f("ck_enrollments_amounts_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_enrollments_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_enrollments_course_id_courses")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_enrollments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
    )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrollments_course_id_status", ["course_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_enrollments_coupon_id_status", ["coupon_id", "status"], unique=False
        )
        # SPEC §1.2: one live enrollment per learner and course, enforced by the database.
        batch_op.create_index(
            "uq_enrollments_live_user_course",
            ["user_id", "course_id"],
            unique=True,
            sqlite_where=sa.text(LIVE_STATUS_SQL),
            postgresql_where=sa.text(LIVE_STATUS_SQL),
        )


def downgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index("uq_enrollments_live_user_course")
        batch_op.drop_index("ix_enrollments_coupon_id_status")
        batch_op.drop_index("ix_enrollments_course_id_status")
    op.drop_table("enrollments")
    with op.batch_alter_table("coupon_courses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_courses_course_id"))
    op.drop_table("coupon_courses")
    op.drop_table("coupons")
    with op.batch_alter_table("course_prerequisites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_prerequisites_prerequisite_id"))
    op.drop_table("course_prerequisites")
    op.drop_table("courses")
