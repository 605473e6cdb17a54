"""audit: the trail of admin actions

Revision ID: 0016_admin_actions
Revises: 0015_abuse
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0016_admin_actions"
down_revision: str | None = "0015_abuse"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_actions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(32), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("enrollment_id", sa.String(32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_admin_actions_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_actions")),
    )
    op.create_index("ix_admin_actions_target_id", "admin_actions", ["target_id"])
    op.create_index("ix_admin_actions_enrollment_id", "admin_actions", ["enrollment_id"])
    op.create_index("ix_admin_actions_actor_id", "admin_actions", ["actor_id"])


def downgrade() -> None:
    op.drop_index("ix_admin_actions_actor_id", table_name="admin_actions")
    op.drop_index("ix_admin_actions_enrollment_id", table_name="admin_actions")
    op.drop_index("ix_admin_actions_target_id", table_name="admin_actions")
    op.drop_table("admin_actions")
