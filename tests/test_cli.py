"""The `enrollpay` command, run as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from enrollpay.cli import main
from tests.conftest import TEST_SECRET_KEY


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_migrates_sqlite_and_answers(env, tmp_path: Path):
    port = _free_port()
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
