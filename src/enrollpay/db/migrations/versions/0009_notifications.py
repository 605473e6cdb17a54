"""notifications: the email outbox

Revision ID: 0009_notifications
Revises: 0008_checkout
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0009_notifications"
down_revision: str | None = "0008_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("enrollment_id", sa.String(32), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'stored', 'dropped', 'failed')",
            name=op.f("ck_email_messages_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_email_messages_attempts")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_messages_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_email_messages_enrollment_id_enrollments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_email_messages_dedupe_key")),
    )
    op.create_index(op.f("ix_email_messages_user_id"), "email_messages", ["user_id"])
    op.create_index(op.f("ix_email_messages_enrollment_id"), "email_messages", ["enrollment_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_email_messages_enrollment_id"), table_name="email_messages")
    op.drop_index(op.f("ix_email_messages_user_id"), table_name="email_messages")
    op.drop_table("email_messages")
