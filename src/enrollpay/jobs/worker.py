from __future__ import annotations

from enrollpay.config import Settings
from enrollpay.db.engine import Database


class Worker:
    """Placeholder until the jobs core lands."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
