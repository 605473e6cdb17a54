"""Alembic, configured from code so `enrollpay migrate` works from an installed package."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from enrollpay.config import Settings


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", "enrollpay.db:migrations")
    config.attributes["settings"] = settings
    return config


@cache
def head_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config(Settings.model_construct()))
    return set(script.get_heads())


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
