"""Imports every domain's models so `Base.metadata` knows all tables (Alembic, tests)."""

from enrollpay.db.base import Base
from enrollpay.users import models as _users  # noqa: F401

__all__ = ["Base"]
