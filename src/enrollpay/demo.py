"""Demo data for the embedded default (filled in by the catalog work)."""

from __future__ import annotations

from dataclasses import dataclass

from enrollpay.config import Settings


@dataclass(frozen=True)
class DemoAccount:
    role: str
    email: str
    password: str


async def demo_accounts_present(settings: Settings) -> list[DemoAccount]:
    return []


async def seed_demo(settings: Settings) -> str:
    return "nothing to seed yet"
