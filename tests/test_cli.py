"""The `enrollpay` command, run as a user would."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from enrollpay.cli import main
from tests.conftest import TEST_SECRET_KEY, free_port


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    values = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "SECRET_KEY": TEST_SECRET_KEY,
        "LOG_LEVEL": "WARNING",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_bad_setting_stops_with_a_clear_message(env, monkeypatch):
    monkeypatch.setenv("TAX_RATE", "lots")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2
    assert "invalid configuration" in result.output
    assert "TAX_RATE" in result.output


def test_migrate_then_create_admin_then_promote(env):
    runner = CliRunner()
    migrated = runner.invoke(main, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    created = runner.invoke(
        main, ["create-admin", "--email", "Ops@Example.com", "--password", "long-enough-pw"]
    )
    assert created.exit_code == 0, created.output
    assert "created admin ops@example.com" in created.output
    again = runner.invoke(
        main, ["create-admin", "--email", "ops@example.com", "--password", "another-long-pw"]
    )
    assert again.exit_code == 0, again.output
    assert "promoted admin ops@example.com" in again.output


def test_create_admin_validates_input(env):
    runner = CliRunner()
    runner.invoke(main, ["migrate"])
    short = runner.invoke(main, ["create-admin", "--email", "ops@example.com", "--password", "x"])
    assert short.exit_code == 2
    assert "password" in short.output
    bad_email = runner.invoke(
        main, ["create-admin", "--email", "nope", "--password", "long-enough-pw"]
    )
    assert bad_email.exit_code == 2
    assert "email" in bad_email.output


def test_serve_migrates_sqlite_and_answers(env, tmp_path: Path):
    port = free_port()
    enrollpay = Path(sys.executable).with_name("enrollpay")
    process = subprocess.Popen(
        [str(enrollpay), "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["migrations"] == "ok"
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the parent sees why it stopped.
    assert process.returncode in (0, -15), output
    assert f"enrollpay listening on http://127.0.0.1:{port}" in output


def _authenticate(key: str):
    """What the API does with a key, on the CLI's database."""
    from enrollpay.config import load_settings
    from enrollpay.db.engine import Database
    from enrollpay.kit.clock import utcnow
    from enrollpay.platform import keys

    async def run():
        db = Database(load_settings())
        try:
            async with db.transaction() as session:
                return await keys.authenticate(session, key, now=utcnow())
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_create_api_key_prints_the_key_once_and_stores_only_its_digest(env, tmp_path: Path):
    runner = CliRunner()
    runner.invoke(main, ["migrate"])
    created = runner.invoke(main, ["create-api-key", "--name", "LMS production"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()  # alone on stdout, for KEY=$(enrollpay create-api-key …)
    assert re.fullmatch(r"ep_live_[A-Za-z0-9_-]{43}", key)
    assert "created platform default" in created.stderr
    assert "cannot show it again" in created.stderr
    assert _authenticate(key).platform.name == "default"

    another = runner.invoke(main, ["create-api-key", "--name", "Staging", "--platform", "default"])
    assert another.exit_code == 0, another.output
    assert "created platform" not in another.stderr  # the existing one is reused
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        rows = conn.execute("SELECT prefix, secret_hash FROM api_keys ORDER BY id").fetchall()
        platforms = conn.execute("SELECT name FROM platforms").fetchall()
    assert rows[0] == (key[:12], hashlib.sha256(key.encode()).hexdigest())
    assert len(rows) == 2 and platforms == [("default",)]

    unnamed = runner.invoke(main, ["create-api-key", "--name", "  "])
    assert unnamed.exit_code == 2


def test_revoke_api_key_refuses_the_key_from_then_on(env):
    from enrollpay.platform.keys import InvalidApiKey

    runner = CliRunner()
    runner.invoke(main, ["migrate"])
    created = runner.invoke(main, ["create-api-key", "--name", "LMS", "--platform", "Acme LMS"])
    key = created.stdout.strip()
    [key_id] = re.findall(r"key_[0-9a-z]{26}", created.stderr)

    revoked = runner.invoke(main, ["revoke-api-key", key_id])
    assert revoked.exit_code == 0, revoked.output
    assert f"API key {key_id} ({key[:12]}…, LMS) revoked since" in revoked.output
    with pytest.raises(InvalidApiKey, match="revoked"):
        _authenticate(key)
    again = runner.invoke(main, ["revoke-api-key", key_id])
    assert again.exit_code == 0 and again.output == revoked.output

    unknown = runner.invoke(main, ["revoke-api-key", "key_nope"])
    assert unknown.exit_code == 1
    assert "key_nope: No API key with this id." in unknown.output
