"""The sandbox's identity, the gateway factory, and where the sandbox is (and is not) mounted."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from enrollpay.config import load_settings
from enrollpay.payments.gateway.factory import (
    RAZORPAY_API_BASE,
    RAZORPAY_CHECKOUT_JS,
    build_gateway,
    gateway_credentials,
)
from enrollpay.sandbox.config import SandboxConfig, derive_sandbox_config
from tests.conftest import TEST_SECRET_KEY, assert_error
from tests.sandbox.conftest import Sandbox


def _settings(tmp_path: Path, **overrides):
    values = {
        "_env_file": None,
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "SECRET_KEY": TEST_SECRET_KEY,
        "VAR_DIR": tmp_path,
    }
    values.update(overrides)
    return load_settings(**values)


def test_derived_config_is_stable_per_install_and_shaped_like_razorpay(tmp_path):
    config = derive_sandbox_config(_settings(tmp_path))
    again = derive_sandbox_config(_settings(tmp_path))
    other = derive_sandbox_config(_settings(tmp_path, SECRET_KEY="another-secret-key-" + "x" * 20))

    assert config == again  # survives restarts
    assert re.fullmatch(r"rzp_test_[A-Za-z0-9]{14}", config.key_id)
    assert re.fullmatch(r"[A-Za-z0-9]{24}", config.key_secret)
    assert re.fullmatch(r"acc_[A-Za-z0-9]{14}", config.account_id)
    assert config.webhook_secret != config.key_secret
    assert (other.key_id, other.key_secret, other.webhook_secret) != (
        config.key_id,
        config.key_secret,
        config.webhook_secret,
    )
    assert config.webhook_url == "http://127.0.0.1:8000/api/v1/webhooks/razorpay"
    assert config.base_url == "http://127.0.0.1:8000/sandbox/razorpay"
    assert config.checkout_js_url == "http://127.0.0.1:8000/sandbox/razorpay/checkout.js"
    assert config.key_secret not in config.key_secret_hint


def test_an_explicit_webhook_secret_is_what_the_sandbox_signs_with(tmp_path):
    config = derive_sandbox_config(_settings(tmp_path, RAZORPAY_WEBHOOK_SECRET="new-one,old-one"))
    assert config.webhook_secret == "new-one"


def test_config_refuses_a_key_that_is_not_a_test_key():
    with pytest.raises(ValueError, match="rzp_test_"):
        SandboxConfig("rzp_live_ABCDEFGHIJKLMN", "s", None, "w", "http://x")


def test_credentials_in_sandbox_mode_are_the_sandboxes(tmp_path):
    settings = _settings(tmp_path, PUBLIC_BASE_URL="https://pay.example.com")
    config = derive_sandbox_config(settings)
    credentials = gateway_credentials(settings)
    assert credentials.sandbox
    assert (credentials.key_id, credentials.key_secret) == (config.key_id, config.key_secret)
    assert credentials.api_base == "https://pay.example.com/sandbox/razorpay"
    assert credentials.checkout_js_url == "https://pay.example.com/sandbox/razorpay/checkout.js"
    assert credentials.webhook_secrets == (config.webhook_secret,)


def test_explicit_settings_win_in_sandbox_mode(tmp_path):
    settings = _settings(
        tmp_path,
        RAZORPAY_API_BASE="http://127.0.0.1:9000",
        RAZORPAY_CHECKOUT_JS="http://127.0.0.1:9000/checkout.js",
        RAZORPAY_WEBHOOK_SECRET="whsec-a,whsec-b",
    )
    credentials = gateway_credentials(settings)
    assert credentials.sandbox
    assert credentials.api_base == "http://127.0.0.1:9000"
    assert credentials.checkout_js_url == "http://127.0.0.1:9000/checkout.js"
    assert credentials.webhook_secrets == ("whsec-a", "whsec-b")


def test_real_keys_mean_real_razorpay(tmp_path):
    settings = _settings(
        tmp_path,
        RAZORPAY_KEY_ID="rzp_live_ABCDEFGHIJKLMN",
        RAZORPAY_KEY_SECRET="live-secret",
        RAZORPAY_WEBHOOK_SECRET="whsec",
    )
    credentials = gateway_credentials(settings)
    assert not credentials.sandbox
    assert credentials.key_id == "rzp_live_ABCDEFGHIJKLMN"
    assert credentials.api_base == RAZORPAY_API_BASE
    assert credentials.checkout_js_url == RAZORPAY_CHECKOUT_JS
    assert credentials.webhook_secrets == ("whsec",)


async def test_build_gateway_needs_the_sandbox_app_in_sandbox_mode(tmp_path):
    with pytest.raises(ValueError, match="sandbox app"):
        build_gateway(_settings(tmp_path))
    client = build_gateway(_settings(tmp_path, RAZORPAY_API_BASE="http://127.0.0.1:9000"))
    assert client.key_id.startswith("rzp_test_")
    await client.aclose()


async def test_the_app_mounts_the_sandbox_and_talks_to_it_in_process(app, sandbox: Sandbox):
    assert app.state.sandbox_config == sandbox.config
    assert app.state.sandbox_app is not None
    assert app.state.gateway.key_id == sandbox.config.key_id
    # No server listens anywhere in tests: the order below went through ASGI.
    order = await app.state.gateway.create_order(
        amount=12300, currency="INR", receipt="rcpt-1", notes={"a": "b"}
    )
    fetched = await sandbox.rest("GET", f"/v1/orders/{order.id}")
    assert fetched.json()["amount"] == 12300
    assert fetched.json()["notes"] == {"a": "b"}


@pytest.mark.parametrize(
    "settings_overrides",
    [{"RAZORPAY_KEY_ID": "rzp_test_ABCDEFGHIJKLMN", "RAZORPAY_KEY_SECRET": "real-secret"}],
)
async def test_never_mounted_with_real_keys(app, client: httpx.AsyncClient):
    assert app.state.sandbox_app is None
    assert app.state.sandbox_config is None
    assert app.state.gateway.key_id == "rzp_test_ABCDEFGHIJKLMN"
    for path in ("/sandbox/razorpay/v1/orders", "/sandbox/razorpay/_sandbox/config"):
        response = await client.get(path)
        assert_error(response, 404, "not_found")  # our envelope: nothing is mounted there


async def test_control_config_shows_no_secrets(sandbox: Sandbox):
    response = await sandbox.control("GET", "/config")
    body = response.json()
    assert body["key_id"] == sandbox.config.key_id
    assert body["account_id"] == sandbox.config.account_id
    assert body["checkout_js_url"] == sandbox.config.checkout_js_url
    assert sandbox.config.key_secret not in response.text
    assert sandbox.config.webhook_secret not in response.text
