"""Settings: SPEC §2 names and defaults, .env support, clear messages for bad values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from enrollpay.config import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env, var/ goes to a temporary folder


def test_embedded_defaults(tmp_path):
    settings = load_settings()
    assert settings.is_sqlite
    assert settings.async_database_url == "sqlite+aiosqlite:///./var/enrollpay.db"
    assert settings.sandbox_mode
    assert settings.embedded_worker is True
    assert settings.TAX_RATE == Decimal("0.18") and settings.TAX_INCLUSIVE is False
    assert settings.PENDING_ENROLLMENT_TTL_SECONDS == 1800
    assert settings.allowed_redirect_hosts == {"127.0.0.1"}
    assert settings.rate_limit_storage_uri == "async+memory://"
    # The generated secret key is kept, so tokens survive a restart.
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text() == settings.secret_key
    assert load_settings().secret_key == settings.secret_key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_postgres_urls_map_to_psycopg_and_need_a_secret(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/enrollpay")
    with pytest.raises(SettingsError, match="SECRET_KEY is required"):
        load_settings()
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    settings = load_settings()
    assert settings.async_database_url == "postgresql+psycopg://u:p@db:5432/enrollpay"
    assert settings.embedded_worker is False


def test_env_file_is_read_and_real_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("TAX_RATE=0.05\nLOG_LEVEL=debug\n")
    monkeypatch.setenv("TAX_RATE", "0.12")
    settings = load_settings()
    assert settings.TAX_RATE == Decimal("0.12")
    assert settings.LOG_LEVEL == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: must start with sqlite:///"),
        ("TAX_RATE", "1.5", "TAX_RATE"),
        ("TAX_RATE", "eighteen", "TAX_RATE"),
        ("PENDING_ENROLLMENT_TTL_SECONDS", "-1", "PENDING_ENROLLMENT_TTL_SECONDS"),
        ("PUBLIC_BASE_URL", "pay.example.com", "PUBLIC_BASE_URL: must be an absolute http(s) URL"),
        ("RAZORPAY_KEY_ID", "pk_test_123", "RAZORPAY_KEY_ID: a Razorpay key id starts with"),
        ("RAZORPAY_API_BASE", "https://api.razorpay.com/v1", "without /v1"),
        ("RATE_LIMIT_STORAGE", "memcached://x", "RATE_LIMIT_STORAGE: must be memory://"),
        ("SMTP_URL", "http://mail", "SMTP_URL"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: must be one of"),
        ("EMBEDDED_WORKER", "maybe", "EMBEDDED_WORKER"),
        ("SECRET_KEY", "short", "at least 32 characters"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert message in str(excinfo.value)


def test_razorpay_keys_come_in_pairs(monkeypatch):
    monkeypatch.setenv("RAZORPAY_KEY_ID", "rzp_test_abc")
    with pytest.raises(SettingsError, match="must be set together"):
        load_settings()
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", "shh")
    assert not load_settings().sandbox_mode


def test_list_settings(monkeypatch):
    monkeypatch.setenv("ALLOWED_REDIRECT_HOSTS", "App.Example.com, lms.example.org ,")
    monkeypatch.setenv("RAZORPAY_WEBHOOK_SECRET", "old-secret, new-secret")
    settings = load_settings()
    assert settings.allowed_redirect_hosts == {"app.example.com", "lms.example.org"}
    assert settings.webhook_secrets == ("old-secret", "new-secret")
