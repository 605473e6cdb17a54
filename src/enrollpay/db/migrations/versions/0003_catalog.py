"""catalog, coupons and enrollment holds

Revision ID: 0003_catalog
Revises: 0002_jobs
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "0003_catalog"
down_revision: str | None = "0002_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # placeholder: tables arrive with this revision's work


def downgrade() -> None:
    pass
