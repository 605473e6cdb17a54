"""The `enrollpay` command. Every subcommand reads the same environment (SPEC §2)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

import click

from enrollpay.config import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from enrollpay.admin.invariants import InvariantReport


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"enrollpay: {exc}", err=True)
        sys.exit(2)


def _with_settings(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(_settings(), *args, **kwargs)

    return wrapper


@click.group()
@click.version_option(package_name="enrollpay")
def main() -> None:
    """enrollpay: course enrollment with Razorpay payments handled correctly."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@_with_settings
def serve(settings: Settings, host: str, port: int) -> None:
    """Run the web service (and the job worker when EMBEDDED_WORKER is on)."""
    import uvicorn

    from enrollpay.app import create_app
    from enrollpay.db.migrate import upgrade

    if settings.is_sqlite:
        upgrade(settings)  # the embedded default keeps itself migrated
    _print_banner(settings, host, port)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


def _print_banner(settings: Settings, host: str, port: int) -> None:
    from enrollpay.demo import demo_accounts_present

    click.echo(f"enrollpay listening on http://{host}:{port}")
    database = f"SQLite {settings.sqlite_path}" if settings.is_sqlite else "PostgreSQL"
    click.echo(f"  database: {database}")
    click.echo(
        f"  payments: {'built-in Razorpay sandbox' if settings.sandbox_mode else 'Razorpay'}"
    )
    click.echo(
        f"  job worker: {'embedded' if settings.embedded_worker else 'run `enrollpay worker`'}"
    )
    accounts = asyncio.run(demo_accounts_present(settings))
    for account in accounts:
        click.echo(f"  demo {account.role}: {account.email} / {account.password}")


@main.command()
@_with_settings
def worker(settings: Settings) -> None:
    """Run the job worker until SIGINT/SIGTERM (finishes running jobs first)."""
    from enrollpay.jobs.worker import run_worker

    asyncio.run(run_worker(settings))


@main.command()
@click.option("--revision", default="head", show_default=True)
@_with_settings
def migrate(settings: Settings, revision: str) -> None:
    """Apply database migrations."""
    from enrollpay.db.migrate import upgrade

    upgrade(settings, revision)
    click.echo(f"database migrated to {revision}")


@main.command("create-admin")
@click.option("--email", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@click.option("--full-name", default="Administrator", show_default=True)
@_with_settings
def create_admin(settings: Settings, email: str, password: str, full_name: str) -> None:
    """Create an admin account, or make an existing account an admin."""
    from pydantic import ValidationError

    from enrollpay.auth.schemas import SignupRequest
    from enrollpay.db.engine import Database
    from enrollpay.users.service import create_or_promote_admin

    try:
        # The same rules as sign-up for the email, password and name.
        email = str(SignupRequest(email=email, password=password, full_name=full_name).email)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise click.BadParameter(f"{error['loc'][0]}: {error['msg']}") from None

    async def run() -> tuple[str, str, bool]:
        db = Database(settings)
        try:
            async with db.transaction() as session:
                user, created = await create_or_promote_admin(
                    session, email=email, password=password, full_name=full_name
                )
                return user.id, user.email, created
        finally:
            await db.dispose()

    user_id, stored_email, created = asyncio.run(run())
    click.echo(f"{'created' if created else 'promoted'} admin {stored_email} ({user_id})")


@main.command("create-api-key")
@click.option("--name", required=True, help="What the key is for, e.g. 'LMS production'.")
@click.option(
    "--platform",
    "platform_name",
    default="default",
    show_default=True,
    help="The course platform the key belongs to (created if missing).",
)
@_with_settings
def create_api_key(settings: Settings, name: str, platform_name: str) -> None:
    """Create an API key for a course platform. Only the key goes to stdout, so
    KEY=$(enrollpay create-api-key --name …) keeps it; it is never shown again."""
    from pydantic import ValidationError

    from enrollpay.admin.service import record_admin_action
    from enrollpay.db.engine import Database
    from enrollpay.platform import keys, service
    from enrollpay.platform.models import Platform
    from enrollpay.platform.schemas import ApiKeyCreate, PlatformCreate

    try:
        # The admin API's rules for both names.
        name = ApiKeyCreate(name=name).name
        platform_name = PlatformCreate(name=platform_name).name
    except ValidationError as exc:
        raise click.BadParameter(exc.errors()[0]["msg"]) from None

    async def run() -> tuple[Platform, bool, keys.IssuedKey]:
        db = Database(settings)
        try:
            async with db.transaction() as session:
                platform, created = await service.platform_named(session, platform_name)
                if created:
                    await record_admin_action(
                        session,
                        None,
                        "platform.create",
                        target_type="platform",
                        target_id=platform.id,
                        details={"name": platform.name, "sso_issuer": None},
                    )
                issued = await keys.issue_key(session, platform, name=name)
                # The trail names the key, never the key itself.
                await record_admin_action(
                    session,
                    None,
                    "api_key.create",
                    target_type="api_key",
                    target_id=issued.api_key.id,
                    details={"name": issued.api_key.name, "platform_id": platform.id},
                )
                return platform, created, issued
        finally:
            await db.dispose()

    platform, platform_created, issued = asyncio.run(run())
    if platform_created:
        click.echo(f"created platform {platform.name} ({platform.id})", err=True)
    elif not platform.is_active:
        click.echo(
            f"warning: platform {platform.name} is deactivated: its keys are refused", err=True
        )
    click.echo(
        f"created API key {issued.api_key.id} ({issued.api_key.name}) for platform {platform.name}",
        err=True,
    )
    click.echo(issued.key)
    click.echo(
        "Store this key now: enrollpay keeps only a hash and cannot show it again.", err=True
    )


@main.command("revoke-api-key")
@click.argument("key_id")
@_with_settings
def revoke_api_key(settings: Settings, key_id: str) -> None:
    """Revoke an API key (key_…): calls with it are refused at once. Running it again is
    harmless."""
    from enrollpay.admin.service import record_admin_action
    from enrollpay.db.engine import Database
    from enrollpay.errors import NotFound
    from enrollpay.kit.clock import utcnow
    from enrollpay.platform import keys
    from enrollpay.platform.models import ApiKey

    async def run() -> ApiKey:
        db = Database(settings)
        try:
            async with db.transaction() as session:
                now = utcnow()
                api_key = await keys.revoke_key(session, key_id, now=now)
                if api_key.revoked_at == now:  # revoked by this run, not an earlier one
                    await record_admin_action(
                        session,
                        None,
                        "api_key.revoke",
                        target_type="api_key",
                        target_id=api_key.id,
                        details={"name": api_key.name, "platform_id": api_key.platform_id},
                    )
                return api_key
        finally:
            await db.dispose()

    try:
        api_key = asyncio.run(run())
    except NotFound as exc:
        raise click.ClickException(f"{key_id}: {exc.message}") from None
    assert api_key.revoked_at is not None
    click.echo(
        f"API key {api_key.id} ({api_key.prefix}…, {api_key.name}) "
        f"revoked since {api_key.revoked_at.isoformat(timespec='seconds')}"
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--key-id", help="rzp_test_ + 14 letters/digits  [default: derived from SECRET_KEY]")
@click.option("--key-secret", help="[default: derived from SECRET_KEY]")
@click.option(
    "--webhook-url",
    help="where webhooks go ('' for none)  [default: PUBLIC_BASE_URL/api/v1/webhooks/razorpay]",
)
@click.option("--webhook-secret", help="signs X-Razorpay-Signature  [default: derived]")
@click.option(
    "--refund-settle-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="settle pending refunds automatically after this long  [default: never]",
)
@_with_settings
def sandbox(
    settings: Settings,
    host: str,
    port: int,
    key_id: str | None,
    key_secret: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    refund_settle_seconds: float | None,
) -> None:
    """Run the Razorpay sandbox alone (REST at /v1, control API at /_sandbox, /checkout.js)."""
    import dataclasses

    import uvicorn

    from enrollpay.sandbox.app import create_standalone_app
    from enrollpay.sandbox.config import derive_sandbox_config

    if settings.is_sqlite:
        from enrollpay.db.migrate import upgrade

        upgrade(settings)
    display_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    derived = derive_sandbox_config(settings, base_url=f"http://{display_host}:{port}")
    try:
        config = dataclasses.replace(
            derived,
            key_id=key_id or derived.key_id,
            key_secret=key_secret or derived.key_secret,
            webhook_url=derived.webhook_url if webhook_url is None else (webhook_url or None),
            webhook_secret=webhook_secret or derived.webhook_secret,
            refund_settle_seconds=refund_settle_seconds,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--key-id") from None
    click.echo(f"Razorpay sandbox listening on {config.base_url}")
    click.echo(f"  key id: {config.key_id}")
    click.echo(f"  key secret: {config.key_secret_hint}")
    click.echo(f"  API base (without /v1): {config.base_url}")
    click.echo(f"  checkout.js: {config.checkout_js_url}")
    click.echo(f"  control API: {config.base_url}/_sandbox/")
    click.echo(f"  webhooks to: {config.webhook_url or 'nowhere (disabled)'}")
    click.echo(f"  webhook secret: {config.webhook_secret_hint}")
    uvicorn.run(
        create_standalone_app(settings, config),
        host=host,
        port=port,
        log_config=None,
        server_header=False,
    )


@main.command()
@_with_settings
def reconcile(settings: Settings) -> None:
    """One full reconciliation pass now: every open payment of the last 7 days is checked with
    the gateway and what it says is applied (also what the worker does every
    RECONCILE_INTERVAL_SECONDS, for the payments that are due)."""
    from enrollpay.reconciliation.cli import run_full_pass

    report = asyncio.run(run_full_pass(settings))
    click.echo(
        f"checked {report.checked} orders: {report.repaired} facts applied, "
        f"{report.orders_found} lost orders found, {report.errors} gateway errors"
        + (" (stopped: Razorpay rate limit, run again later)" if report.throttled else "")
    )
    if report.errors:
        sys.exit(1)


@main.command("check-invariants")
@_with_settings
def check_invariants(settings: Settings) -> None:
    """Check SPEC §1's money promises against the database (read-only; run it with the job
    queue drained). Exits 1 and lists the violations if any promise is broken."""
    from enrollpay.admin.invariants import check_invariants as run_checks
    from enrollpay.db.engine import Database

    async def run() -> InvariantReport:
        db = Database(settings)
        try:
            async with db.transaction() as session:
                return await run_checks(session)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    for name, violations in report.violations.items():
        click.echo(f"{'ok' if not violations else 'BROKEN':6} {name}")
        for violation in violations:
            click.echo(f"       {violation}")
    click.echo(f"{report.enrollments} enrollments, {report.captured_payments} captured payments")
    if not report.ok:
        sys.exit(1)


@main.command("seed-demo")
@click.option(
    "--force",
    is_flag=True,
    help="Also seed a PostgreSQL database (demo accounts have published passwords).",
)
@_with_settings
def seed_demo(settings: Settings, force: bool) -> None:
    """Load the demo catalog, coupon and accounts (safe to run again)."""
    from enrollpay.demo import seed_demo as run_seed

    if settings.is_sqlite:
        from enrollpay.db.migrate import upgrade

        upgrade(settings)
    summary = asyncio.run(run_seed(settings, force=force))
    click.echo(summary)


if __name__ == "__main__":
    main()
