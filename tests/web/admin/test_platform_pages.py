"""Console pages for platforms, API keys and outbound webhooks: they show what the admin API
made (keys by prefix, revoked ones as revoked, an endpoint's deliveries with their attempts)
and never a secret: not a key, its digest, the SSO shared secret or a signing secret."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.e2e.conftest import serve_asgi
from tests.enrollments.helpers import API, drain_jobs
from tests.platform.api_keys import create_key, create_platform

ADMIN = f"{API}/admin"
SSO_SECRET = "sso-shared-secret-" + "s" * 32


def row_of(html: str, needle: str) -> str:
    """The table row that contains `needle`."""
    [row] = [row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if needle in row]
    return row


def delivery_row(html: str, delivery_id: str) -> str:
    """The deliveries table's row of this delivery (its attempts table included)."""
    at = html.index(f'<span class="id">{delivery_id}</span>')
    return html[html.rindex("<tr>", 0, at) : html.index("</td>\n      </tr>", at)]


async def test_platform_pages_show_keys_by_prefix_and_never_a_secret(client, admin):
    _, headers = admin
    platform = await create_platform(
        client,
        headers,
        name="Acme LMS",
        sso_issuer="https://lms.example.com",
        sso_audience="enrollpay",
        sso_hs256_secret=SSO_SECRET,
    )
    other = await create_platform(client, headers, name="Beta Academy")
    kept = await create_key(client, headers, platform["id"], name="LMS production")
    revoked = await create_key(client, headers, platform["id"], name="Old staging")
    response = await client.post(f"{ADMIN}/api-keys/{revoked['id']}/revoke", headers=headers)
    assert response.status_code == 200, response.text

    listing = await client.get("/admin/platforms")
    assert listing.status_code == 200
    acme = row_of(listing.text, platform["id"])
    assert f'<a href="/admin/platforms/{platform["id"]}">Acme LMS</a>' in acme
    assert "HS256" in acme and '<span class="tag ok">active</span>' in acme
    assert "off" in row_of(listing.text, other["id"])
    assert 'data-then="/admin/platforms/{id}"' in listing.text  # the create form goes there

    page = await client.get(f"/admin/platforms/{platform['id']}")
    assert page.status_code == 200
    html = page.text
    for key in (kept, revoked):
        assert key["key"] not in html
        assert hashlib.sha256(key["key"].encode()).hexdigest() not in html
    assert SSO_SECRET not in html
    assert "shared secret set (never shown)" in html
    kept_row, revoked_row = row_of(html, kept["id"]), row_of(html, revoked["id"])
    assert f"<code>{kept['prefix']}…</code>" in kept_row and "LMS production" in kept_row
    assert '<span class="tag ok">active</span>' in kept_row
    assert f'data-api-url="/api/v1/admin/api-keys/{kept["id"]}/revoke"' in kept_row
    assert "data-confirm=" in kept_row
    assert f"<code>{revoked['prefix']}…</code>" in revoked_row
    assert '<span class="tag bad">revoked</span>' in revoked_row
    assert "/revoke" not in revoked_row  # nothing left to revoke
    # The key is shown once, by the create form itself.
    create_form = html.split(f'data-api-url="/api/v1/admin/platforms/{platform["id"]}/api-keys"')[1]
    assert 'data-then="show" data-show="id,key"' in create_form.split(">")[0]
    assert "it is not shown again" in create_form
    # The write-only secret field is empty; the settings forms PATCH the platform.
    assert re.search(r'<input id="sso-secret" name="sso_hs256_secret" type="password"[^>]*>', html)
    assert 'value="https://lms.example.com"' in html
    assert html.count(f'data-api-url="/api/v1/admin/platforms/{platform["id"]}"') == 3

    missing = await client.get("/admin/platforms/plt_nope")
    assert missing.status_code == 404
    assert "Platform not found" in missing.text


@pytest.fixture
def receiver() -> Iterator[str]:
    """A real receiver: answers its first POST 503 with an HTML body, later ones 200."""
    answered: list[int] = []

    async def hook(_request: Request) -> HTMLResponse:
        status = 503 if not answered else 200
        answered.append(status)
        return HTMLResponse("<p>down for maintenance</p>" if status == 503 else "ok", status)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with serve_asgi(app) as base_url:
        yield f"{base_url}/hook"


async def test_webhook_endpoint_pages_show_deliveries_with_their_attempts(
    client, admin, db, settings, receiver
):
    _, headers = admin
    platform = await create_platform(client, headers, name="Acme LMS")
    created = await client.post(
        f"{ADMIN}/webhook-endpoints",
        json={
            "url": receiver,
            "platform_id": platform["id"],
            "event_types": ["enrollment.enrolled", "payment.failed"],
            "description": "LMS receiver",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    global_endpoint = await client.post(
        f"{ADMIN}/webhook-endpoints", json={"url": "https://hooks.example.com/all"}, headers=headers
    )
    global_endpoint = global_endpoint.json()
    disabled = await client.patch(
        f"{ADMIN}/webhook-endpoints/{global_endpoint['id']}",
        json={"is_enabled": False},
        headers=headers,
    )
    assert disabled.status_code == 200, disabled.text
    sent = await client.post(f"{ADMIN}/webhook-endpoints/{endpoint['id']}/test", headers=headers)
    assert sent.status_code == 202, sent.text
    delivery_id = sent.json()["delivery_id"]
    await drain_jobs(db, settings)  # the first attempt gets the 503; the retry waits
    page = await client.get(f"/admin/webhook-endpoints/{endpoint['id']}")
    assert page.status_code == 200
    failing = delivery_row(page.text, delivery_id)
    assert '<span class="tag">pending</span>' in failing
    assert '<td class="num">1</td>' in failing and "HTTP 503" in failing
    assert '<pre tabindex="0">&lt;p&gt;down for maintenance&lt;/p&gt;</pre>' in failing  # escaped
    assert f'data-api-url="/api/v1/admin/webhook-deliveries/{delivery_id}/redeliver"' in failing
    assert "Failing since" in page.text

    redelivered = await client.post(
        f"{ADMIN}/webhook-deliveries/{delivery_id}/redeliver", headers=headers
    )
    assert redelivered.status_code == 202, redelivered.text
    await drain_jobs(db, settings)

    listing = await client.get("/admin/webhook-endpoints")
    assert listing.status_code == 200
    for secret in (endpoint["secret"], global_endpoint["secret"]):
        assert secret not in listing.text
    row = row_of(listing.text, endpoint["id"])
    assert f'<a href="/admin/platforms/{platform["id"]}">Acme LMS</a>' in row
    assert "enrollment.enrolled, payment.failed" in row
    assert '<span class="tag ok">enabled</span>' in row and "LMS receiver" in row
    global_row = row_of(listing.text, global_endpoint["id"])
    assert "every learner" in global_row and "every event" in global_row
    assert '<span class="tag bad">disabled</span> disabled by an admin' in global_row
    assert 'data-then="show" data-show="id,secret"' in listing.text  # the secret, once
    filtered = await client.get("/admin/webhook-endpoints", params={"platform_id": platform["id"]})
    assert endpoint["id"] in filtered.text and global_endpoint["id"] not in filtered.text

    page = await client.get(f"/admin/webhook-endpoints/{endpoint['id']}")
    html = page.text
    assert endpoint["secret"] not in html
    delivered = delivery_row(html, delivery_id)
    assert "<code>endpoint.test</code>" in delivered
    assert '<span class="tag ok">delivered</span>' in delivered
    assert '<td class="num">2</td>' in delivered and "<summary>2 attempts</summary>" in delivered
    assert delivered.count(" ms</td>") == 2 and '<pre tabindex="0">ok</pre>' in delivered
    assert "Failing since" not in html  # the success ended the streak
    # Its actions: test, disable (asks first), rotate (secret shown once) and edit.
    assert f'data-api-url="/api/v1/admin/webhook-endpoints/{endpoint["id"]}/test"' in html
    assert 'name="is_enabled" value="false" data-type="json"' in html
    assert 'data-then="show" data-show="secret"' in html
    assert 'value="[&#34;enrollment.enrolled&#34;, &#34;payment.failed&#34;]"' in html

    only_failed = await client.get(
        f"/admin/webhook-endpoints/{endpoint['id']}", params={"status": "failed"}
    )
    assert delivery_id not in only_failed.text
    assert "No deliveries with this status." in only_failed.text
    unknown = await client.get(
        f"/admin/webhook-endpoints/{endpoint['id']}", params={"status": "nope", "cursor": "junk"}
    )
    assert unknown.status_code == 200 and delivery_id in unknown.text

    disabled_page = await client.get(f"/admin/webhook-endpoints/{global_endpoint['id']}")
    assert "disabled by an admin" in disabled_page.text
    assert 'name="is_enabled" value="true" data-type="json"' in disabled_page.text
    assert "/test" not in disabled_page.text
    assert (await client.get("/admin/webhook-endpoints/whe_nope")).status_code == 404
