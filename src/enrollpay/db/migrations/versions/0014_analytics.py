"""analytics: course views (one row per visitor, course and 15-minute bucket)

Revision ID: 0014_analytics
Revises: 0013_outbound_webhooks
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0014_analytics"
down_revision: str | None = "0013_outbound_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "course_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("course_id", sa.String(32), nullable=False),
        sa.Column("visitor_key", sa.String(64), nullable=False),
        sa.Column("viewed_at", UTCDateTime(), nullable=False),
        sa.Column("bucket_start", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"], ["courses.id"], name=op.f("fk_course_views_course_id_courses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_views")),
        sa.UniqueConstraint(
            "course_id",
            "visitor_key",
            "bucket_start",
            name=op.f("uq_course_views_course_id"),
        ),
    )
    op.create_index("ix_course_views_viewed_at", "course_views", ["viewed_at"])


def downgrade() -> None:
    op.drop_index("ix_course_views_viewed_at", table_name="course_views")
    op.drop_table("course_views")
