"""admin: indexes for the console's enrollment search

A learner's enrollments newest first (the console's search by learner, and the learner's own
list) and one status newest first (e.g. every failed enrollment): the only index on user_id
was the partial one of live enrollments, and none led with status.

Revision ID: 0017_admin_enrollment_search
Revises: 0016_admin_actions
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_admin_enrollment_search"
down_revision: str | None = "0016_admin_actions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_enrollments_user_id_id", "enrollments", ["user_id", "id"])
    op.create_index("ix_enrollments_status_id", "enrollments", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_enrollments_status_id", table_name="enrollments")
    op.drop_index("ix_enrollments_user_id_id", table_name="enrollments")
