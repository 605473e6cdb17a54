"""Console page fixtures: a client signed in (session cookie) as an admin."""

from __future__ import annotations

import pytest

from enrollpay.users.models import Role, User
from tests.conftest import TEST_PASSWORD


@pytest.fixture
async def admin(client, make_user) -> tuple[User, dict[str, str]]:
    """An admin signed in on `client` (session cookie), and their Bearer headers."""
    user, headers = await make_user(role=Role.admin, email="admin@example.com")
    response = await client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 303
    return user, headers
