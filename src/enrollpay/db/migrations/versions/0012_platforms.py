"""course platforms, their API keys, learners' external ids, courses they sync

Revision ID: 0012_platforms
Revises: 0011_refunds_disputes
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0012_platforms"
down_revision: str | None = "0011_refunds_disputes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platforms",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("sso_issuer", sa.String(500), nullable=True),
        sa.Column("sso_audience", sa.String(500), nullable=True),
        sa.Column("sso_hs256_secret", sa.String(500), nullable=True),
        sa.Column("sso_jwks_url", sa.String(2048), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platforms")),
        sa.UniqueConstraint("name", name=op.f("uq_platforms_name")),
        sa.UniqueConstraint("sso_issuer", name=op.f("uq_platforms_sso_issuer")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("platform_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["platform_id"], ["platforms.id"], name=op.f("fk_api_keys_platform_id_platforms")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_api_keys_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_index(op.f("ix_api_keys_platform_id"), "api_keys", ["platform_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("platform_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(200), nullable=True))
        batch.create_foreign_key(
            op.f("fk_users_platform_id_platforms"), "platforms", ["platform_id"], ["id"]
        )
        batch.create_unique_constraint(op.f("uq_users_platform_id"), ["platform_id", "external_id"])
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("platform_id", sa.String(32), nullable=True))
        batch.create_foreign_key(
            op.f("fk_courses_platform_id_platforms"), "platforms", ["platform_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_constraint(op.f("fk_courses_platform_id_platforms"), type_="foreignkey")
        batch.drop_column("platform_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_platform_id"), type_="unique")
        batch.drop_constraint(op.f("fk_users_platform_id_platforms"), type_="foreignkey")
        batch.drop_column("external_id")
        batch.drop_column("platform_id")
    op.drop_index(op.f("ix_api_keys_platform_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("platforms")
