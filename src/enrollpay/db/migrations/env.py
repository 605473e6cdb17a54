"""Alembic environment: a synchronous engine on the same database (stdlib sqlite3 / psycopg)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from enrollpay.config import Settings, load_settings
from enrollpay.db.models import Base

config = context.config
settings: Settings = config.attributes.get("settings") or load_settings()


def sync_url(settings: Settings) -> str:
    return settings.async_database_url.replace("sqlite+aiosqlite://", "sqlite://")


def run_migrations_offline() -> None:
    context.configure(
        url=sync_url(settings),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sync_url(settings), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,  # SQLite needs table rebuilds for most ALTERs
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
