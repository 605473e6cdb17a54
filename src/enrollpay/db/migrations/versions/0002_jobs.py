"""jobs core

Revision ID: 0002_jobs
Revises: 0001_users
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "0002_jobs"
down_revision: str | None = "0001_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # placeholder: tables arrive with this revision's work


def downgrade() -> None:
    pass
