"""The audit trail of platform, API key, outbound webhook and risk flag actions: one entry per
change (none for a repeat that changes nothing), in the admin's name, or in no one's from the
command line, and never a secret: not a key, its digest, the SSO shared secret or a signing
secret."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from enrollpay.abuse import service as abuse
from enrollpay.cli import main
from enrollpay.kit.clock import utcnow
from enrollpay.users.models import Role
from tests.conftest import TEST_SECRET_KEY, MigratedDatabase
from tests.platform.api_keys import API, create_key, create_platform

ADMIN = f"{API}/admin"
SSO_SECRET = "first-shared-secret-" + "a" * 32
NEW_SSO_SECRET = "second-shared-secret-" + "b" * 32


async def audit_entries(client, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every entry, oldest first."""
    response = await client.get(f"{ADMIN}/audit-log", params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["items"]
    return entries[::-1]


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e["action"], e["target_id"], e["details"]) for e in entries]


def assert_no_secret(entries: list[dict[str, Any]], secrets: list[str]) -> None:
    dumped = json.dumps(entries)
    for secret in secrets:
        assert secret not in dumped


async def test_platform_and_key_actions_are_audited_without_secrets(client, make_user):
    admin, headers = await make_user(role=Role.admin, email="admin@example.com")
    platform = await create_platform(
        client,
        headers,
        sso_issuer="https://lms.example.com",
        sso_audience="enrollpay",
        sso_hs256_secret=SSO_SECRET,
    )
    patch = {
        "name": "Acme Learning",
        "sso_hs256_secret": NEW_SSO_SECRET,
        "sso_audience": "enrollpay",
    }
    url = f"{ADMIN}/platforms/{platform['id']}"
    assert (await client.patch(url, json=patch, headers=headers)).status_code == 200
    # Sending the values it already has changes nothing, so leaves no entry.
    assert (await client.patch(url, json=patch, headers=headers)).status_code == 200
    taken = await create_platform(client, headers, name="Other")
    clash = await client.patch(url, json={"name": "Other"}, headers=headers)
    assert clash.status_code == 409  # refused: no entry either

    key = await create_key(client, headers, platform["id"], name="LMS production")
    revoke_url = f"{ADMIN}/api-keys/{key['id']}/revoke"
    assert (await client.post(revoke_url, headers=headers)).status_code == 200
    assert (await client.post(revoke_url, headers=headers)).status_code == 200  # already revoked

    entries = await audit_entries(client, headers)
    assert summary(entries) == [
        (
            "platform.create",
            platform["id"],
            {"name": "Acme LMS", "sso_issuer": "https://lms.example.com"},
        ),
        ("platform.update", platform["id"], {"fields": ["name", "sso_hs256_secret"]}),
        ("platform.create", taken["id"], {"name": "Other", "sso_issuer": None}),
        ("api_key.create", key["id"], {"name": "LMS production", "platform_id": platform["id"]}),
        ("api_key.revoke", key["id"], {"name": "LMS production", "platform_id": platform["id"]}),
    ]
    assert {e["actor_id"] for e in entries} == {admin.id}
    assert [e["target_type"] for e in entries] == ["platform"] * 3 + ["api_key"] * 2
    digest = hashlib.sha256(key["key"].encode()).hexdigest()
    assert_no_secret(entries, [SSO_SECRET, NEW_SSO_SECRET, key["key"], digest])


async def test_webhook_and_risk_flag_actions_are_audited_without_secrets(client, db, make_user):
    admin, headers = await make_user(role=Role.admin, email="admin@example.com")
    created = await client.post(
        f"{ADMIN}/webhook-endpoints",
        # A receiver's token in the URL is kept out of the trail too.
        json={"url": "https://hooks.example.com/in?token=receiver-token", "event_types": []},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    endpoint_url = f"{ADMIN}/webhook-endpoints/{endpoint['id']}"
    edits = [
        {"is_enabled": False},
        {"is_enabled": False},  # no change: no entry
        {"is_enabled": True, "event_types": ["payment.failed"], "description": "LMS"},
    ]
    for edit in edits:
        response = await client.patch(endpoint_url, json=edit, headers=headers)
        assert response.status_code == 200, response.text
    rotated = await client.post(f"{endpoint_url}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    sent = await client.post(f"{endpoint_url}/test", headers=headers)
    assert sent.status_code == 202, sent.text
    delivery_id = sent.json()["delivery_id"]
    redelivered = await client.post(
        f"{ADMIN}/webhook-deliveries/{delivery_id}/redeliver", headers=headers
    )
    assert redelivered.status_code == 202, redelivered.text

    learner, _ = await make_user(email="learner@example.com")
    await abuse.record_flag(db, abuse.RiskKind.failed_payments, learner.id, {}, now=utcnow())
    flags = await client.get(f"{ADMIN}/risk-flags", headers=headers)
    [flag] = flags.json()["items"]
    for _ in range(2):  # the second review keeps the first: one entry
        response = await client.post(f"{ADMIN}/risk-flags/{flag['id']}/review", headers=headers)
        assert response.status_code == 200, response.text

    entries = await audit_entries(client, headers)
    message_id = sent.json()["message_id"]
    assert summary(entries) == [
        ("webhook_endpoint.create", endpoint["id"], {"platform_id": None, "event_types": []}),
        (
            "webhook_endpoint.update",
            endpoint["id"],
            {"fields": ["is_enabled"], "is_enabled": False},
        ),
        (
            "webhook_endpoint.update",
            endpoint["id"],
            {"fields": ["description", "event_types", "is_enabled"], "is_enabled": True},
        ),
        ("webhook_endpoint.rotate_secret", endpoint["id"], {}),
        (
            "webhook_endpoint.test",
            endpoint["id"],
            {"delivery_id": delivery_id, "message_id": message_id},
        ),
        (
            "webhook_delivery.redeliver",
            delivery_id,
            {"endpoint_id": endpoint["id"], "message_id": message_id},
        ),
        ("risk_flag.review", flag["id"], {"kind": "failed_payments", "subject": learner.id}),
    ]
    assert {e["actor_id"] for e in entries} == {admin.id}
    assert_no_secret(entries, [endpoint["secret"], rotated.json()["secret"], "receiver-token"])


def test_cli_key_commands_are_audited_without_an_actor(
    database: MigratedDatabase, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    runner = CliRunner()
    created = runner.invoke(main, ["create-api-key", "--name", "LMS", "--platform", "Acme LMS"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    [key_id] = re.findall(r"key_[0-9a-z]{26}", created.stderr)
    [platform_id] = re.findall(r"plt_[0-9a-z]{26}", created.stderr)
    for _ in range(2):  # revoking again changes nothing: one entry
        revoked = runner.invoke(main, ["revoke-api-key", key_id])
        assert revoked.exit_code == 0, revoked.output

    with database.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT actor_id, action, target_id, details FROM admin_actions ORDER BY id")
        ).all()
    details = [json.loads(d) if isinstance(d, str) else d for *_, d in rows]
    assert [(actor, action, target) for actor, action, target, _ in rows] == [
        (None, "platform.create", platform_id),
        (None, "api_key.create", key_id),
        (None, "api_key.revoke", key_id),
    ]
    assert details == [
        {"name": "Acme LMS", "sso_issuer": None},
        {"name": "LMS", "platform_id": platform_id},
        {"name": "LMS", "platform_id": platform_id},
    ]
    assert_no_secret(
        [{"details": d} for d in details], [key, hashlib.sha256(key.encode()).hexdigest()]
    )
