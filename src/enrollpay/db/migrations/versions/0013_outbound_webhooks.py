"""outbound webhooks: endpoints, messages, deliveries and their attempts

Revision ID: 0013_outbound_webhooks
Revises: 0012_platforms
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0013_outbound_webhooks"
down_revision: str | None = "0012_platforms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_endpoints",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("platform_id", sa.String(32), nullable=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_expires_at", UTCDateTime(), nullable=True),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
        sa.Column("failing_since", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["platforms.id"],
            name=op.f("fk_outbound_endpoints_platform_id_platforms"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_endpoints")),
    )
    op.create_index(
        op.f("ix_outbound_endpoints_platform_id"), "outbound_endpoints", ["platform_id"]
    )
    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("enrollment_id", sa.String(32), nullable=True),
        sa.Column("dedupe_key", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_outbound_messages_enrollment_id_enrollments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbound_messages_dedupe_key")),
    )
    op.create_index(
        op.f("ix_outbound_messages_enrollment_id"), "outbound_messages", ["enrollment_id"]
    )
    op.create_table(
        "outbound_deliveries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("endpoint_id", sa.String(32), nullable=False),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_outbound_deliveries_status"),
        ),
        sa.CheckConstraint(
            "attempts >= 0 AND consecutive_failures >= 0",
            name=op.f("ck_outbound_deliveries_counts"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["outbound_endpoints.id"],
            name=op.f("fk_outbound_deliveries_endpoint_id_outbound_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbound_messages.id"],
            name=op.f("fk_outbound_deliveries_message_id_outbound_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id", "message_id", name=op.f("uq_outbound_deliveries_endpoint_id")
        ),
    )
    op.create_index(
        "ix_outbound_deliveries_endpoint_id_status",
        "outbound_deliveries",
        ["endpoint_id", "status"],
    )
    op.create_index("ix_outbound_deliveries_status", "outbound_deliveries", ["status"])
    op.create_index(
        op.f("ix_outbound_deliveries_message_id"), "outbound_deliveries", ["message_id"]
    )
    op.create_table(
        "outbound_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("response_excerpt", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["outbound_deliveries.id"],
            name=op.f("fk_outbound_attempts_delivery_id_outbound_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_attempts")),
    )
    op.create_index(op.f("ix_outbound_attempts_delivery_id"), "outbound_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outbound_attempts_delivery_id"), table_name="outbound_attempts")
    op.drop_table("outbound_attempts")
    op.drop_index(op.f("ix_outbound_deliveries_message_id"), table_name="outbound_deliveries")
    op.drop_index("ix_outbound_deliveries_status", table_name="outbound_deliveries")
    op.drop_index("ix_outbound_deliveries_endpoint_id_status", table_name="outbound_deliveries")
    op.drop_table("outbound_deliveries")
    op.drop_index(op.f("ix_outbound_messages_enrollment_id"), table_name="outbound_messages")
    op.drop_table("outbound_messages")
    op.drop_index(op.f("ix_outbound_endpoints_platform_id"), table_name="outbound_endpoints")
    op.drop_table("outbound_endpoints")
