"""Settings: every knob is an environment variable (SPEC §2); a `.env` file is read too.

The real environment wins over `.env`. Values are validated once at start; a bad value stops the
process with a message naming the variable (see `load_settings`).
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "enrollpay.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A setting has a bad value; the message is meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    DATABASE_URL: str = f"sqlite:///./{DEFAULT_SQLITE_PATH.as_posix()}"
    DATABASE_POOL_SIZE: int = Field(10, ge=1, le=1000)
    DATABASE_MAX_OVERFLOW: int = Field(10, ge=0, le=1000)
    SECRET_KEY: str | None = None

    RAZORPAY_KEY_ID: str | None = None
    RAZORPAY_KEY_SECRET: str | None = None
    RAZORPAY_WEBHOOK_SECRET: str | None = None
    RAZORPAY_API_BASE: str | None = None
    RAZORPAY_CHECKOUT_JS: str | None = None

    PUBLIC_BASE_URL: str = "http://127.0.0.1:8000"
    ALLOWED_REDIRECT_HOSTS: str | None = None
    PENDING_ENROLLMENT_TTL_SECONDS: int = Field(1800, ge=60, le=7 * 24 * 3600)
    RECONCILE_INTERVAL_SECONDS: int = Field(60, ge=1, le=24 * 3600)
    TAX_RATE: Decimal = Field(Decimal("0.18"), ge=0, lt=1)
    TAX_INCLUSIVE: bool = False
    ACCESS_TOKEN_TTL_SECONDS: int = Field(3600, ge=60, le=30 * 24 * 3600)
    MAX_REQUEST_BODY_BYTES: int = Field(1_048_576, ge=1024, le=100 * 1_048_576)
    SMTP_URL: str | None = None
    EMAIL_FROM: str = "enrollpay@localhost"
    ABANDONED_CHECKOUT_DELAY_SECONDS: int = Field(3600, ge=60)
    EMBEDDED_WORKER: bool | None = None
    RATE_LIMIT_STORAGE: str = "memory://"
    LOG_LEVEL: str = "INFO"

    # Job worker tuning (not part of the SPEC contract, but operators need them).
    WORKER_CONCURRENCY: int = Field(4, ge=1, le=256)
    WORKER_POLL_INTERVAL_SECONDS: float = Field(1.0, gt=0, le=60)
    JOB_LEASE_SECONDS: int = Field(300, ge=5, le=24 * 3600)
    # `enrollpay worker` serves Prometheus metrics on this port (all interfaces); unset: none.
    # `serve` exposes the same counters at /metrics when the worker is embedded.
    WORKER_METRICS_PORT: int | None = Field(None, ge=1, le=65535)

    # Where generated files (SQLite database, generated secret key) live in embedded mode.
    VAR_DIR: Path = Path("var")

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme.split("+", 1)[0] not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must start with sqlite:///, postgresql:// or postgres://")
        return value

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _public_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://pay.example.com")
        return value.rstrip("/")

    @field_validator("RAZORPAY_API_BASE")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL without /v1")
        value = value.rstrip("/")
        if value.endswith("/v1"):
            raise ValueError("give the base URL without /v1, e.g. https://api.razorpay.com")
        return value

    @field_validator("RAZORPAY_KEY_ID")
    @classmethod
    def _key_id(cls, value: str | None) -> str | None:
        if value and not value.startswith(("rzp_test_", "rzp_live_")):
            raise ValueError("a Razorpay key id starts with rzp_test_ or rzp_live_")
        return value or None

    @field_validator("RATE_LIMIT_STORAGE")
    @classmethod
    def _rate_limit_storage(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("must be memory:// or redis://host:port")
        return value

    @field_validator("SMTP_URL")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("smtp", "smtps"):
            raise ValueError("must look like smtp://user:pass@host:port")
        return value or None

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        if bool(self.RAZORPAY_KEY_ID) != bool(self.RAZORPAY_KEY_SECRET):
            raise ValueError(
                "RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET must be set together "
                "(leave both unset to use the built-in sandbox)"
            )
        if self.is_postgres and not self.SECRET_KEY:
            raise ValueError("SECRET_KEY is required with PostgreSQL (use 32+ random characters)")
        if self.SECRET_KEY is not None and len(self.SECRET_KEY) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters")
        return self

    # ---- derived values -------------------------------------------------------------------

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return not self.is_sqlite

    @cached_property
    def async_database_url(self) -> str:
        """The URL with the async driver SQLAlchemy needs (`aiosqlite` / `psycopg`)."""
        scheme, rest = self.DATABASE_URL.split("://", 1)
        if scheme.startswith("sqlite"):
            return f"sqlite+aiosqlite://{rest}"
        return f"postgresql+psycopg://{rest}"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        path = self.DATABASE_URL.split("://", 1)[1]
        # sqlite:///relative/path and sqlite:////absolute/path
        return Path(path[1:]) if path.startswith("/") else Path(path)

    @property
    def sandbox_mode(self) -> bool:
        """No real keys: the built-in Razorpay sandbox stands in (SPEC §6)."""
        return self.RAZORPAY_KEY_ID is None

    @property
    def embedded_worker(self) -> bool:
        return self.is_sqlite if self.EMBEDDED_WORKER is None else self.EMBEDDED_WORKER

    @property
    def allowed_redirect_hosts(self) -> frozenset[str]:
        if self.ALLOWED_REDIRECT_HOSTS:
            hosts = (h.strip().lower() for h in self.ALLOWED_REDIRECT_HOSTS.split(","))
            return frozenset(h for h in hosts if h)
        return frozenset({urlsplit(self.PUBLIC_BASE_URL).hostname or ""})

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        if not self.RAZORPAY_WEBHOOK_SECRET:
            return ()
        return tuple(s.strip() for s in self.RAZORPAY_WEBHOOK_SECRET.split(",") if s.strip())

    @property
    def rate_limit_storage_uri(self) -> str:
        """`limits` wants the async flavour of the storage URI."""
        return f"async+{self.RATE_LIMIT_STORAGE}"

    @property
    def secret_key(self) -> str:
        assert self.SECRET_KEY is not None, "call ensure_secret_key() at start"
        return self.SECRET_KEY

    def ensure_secret_key(self) -> None:
        """On SQLite an unset SECRET_KEY is generated once and kept under VAR_DIR."""
        if self.SECRET_KEY:
            return
        key_file = self.VAR_DIR / "secret_key"
        if key_file.exists():
            self.SECRET_KEY = key_file.read_text().strip()
            return
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        self.SECRET_KEY = key


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise SettingsError with one line per bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]) or "settings"
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {name}: {message}" if error["loc"] else f"  {message}")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None
    settings.ensure_secret_key()
    return settings
