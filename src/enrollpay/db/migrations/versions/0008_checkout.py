"""checkout: idempotency keys, payment redirects and order lease, enrollment cancellation

Revision ID: 0008_checkout
Revises: 0007_enrollment_progress
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0008_checkout"
down_revision: str | None = "0007_enrollment_progress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False
    )
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("order_lease_expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("success_url", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("cancel_url", sa.String(2048), nullable=True))
        batch.add_column(sa.Column("notes", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("cancelled_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("cancel_reason")
        batch.drop_column("cancelled_at")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("notes")
        batch.drop_column("cancel_url")
        batch.drop_column("success_url")
        batch.drop_column("order_lease_expires_at")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
