"""Fixtures for the enrollment flow tests."""

from __future__ import annotations

import pytest

from enrollpay.users.models import Role
from tests.conftest import MakeUser


@pytest.fixture
async def admin_headers(make_user: MakeUser) -> dict[str, str]:
    """The admin only needs a token here: no password, so no hashing in every test's setup."""
    _, headers = await make_user(role=Role.admin, email="admin@example.com", password=None)
    return headers
