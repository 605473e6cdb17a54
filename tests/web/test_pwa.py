"""The installable web app: the manifest and its icons, the service worker (served from the root,
never cached by the browser, its caches named after the build), the offline page, and sign-out
wiping what the browser kept."""

from __future__ import annotations

import json
import re
import struct

import pytest

from enrollpay import __version__
from enrollpay.web import pwa, templating
from enrollpay.web.templating import build_id
from tests.conftest import TEST_PASSWORD

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a PNG must start with."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_pages_link_the_manifest_icons_and_site_script(client):
    html = (await client.get("/")).text
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert '<meta name="theme-color" content="#0b57d0">' in html
    for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        assert (await client.get(url)).status_code == 200, url
    assert f'src="/static/site.js?v={build_id()}"' in html


async def test_manifest_describes_a_standalone_app_with_icons_that_exist(client):
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["name"] == "enrollpay" and manifest["short_name"]
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0b57d0" and manifest["background_color"] == "#f4f6f8"

    pngs = {}
    for icon in manifest["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200, icon
        assert image.headers["content-type"] == icon["type"], icon
        if icon["type"] == "image/png":
            width, height = png_size(image.content)
            assert icon["sizes"] == f"{width}x{height}", icon
            pngs[icon["sizes"], icon["purpose"]] = icon["src"]
        else:
            assert icon["type"] == "image/svg+xml" and icon["sizes"] == "any"
            assert image.text.startswith("<svg")
    # Install prompts need 192 and 512; Android launchers crop a maskable one to their shape.
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(pngs)


async def test_service_worker_is_served_from_the_root_and_revalidated(client):
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["cache-control"] == "no-cache"
    script = response.text
    build = build_id()
    assert build.startswith(__version__ + "-")
    assert f'"enrollpay-static-{build}"' in script and f'"enrollpay-pages-{build}"' in script

    # What install precaches must all load, or the worker never installs.
    match = re.search(r"^var PRECACHE_URLS = (.*);$", script, flags=re.M)
    assert match is not None
    precache = json.loads(match.group(1))
    assert "/offline" in precache
    assert {f"/static/{name}?v={build}" for name in pwa.PRECACHED_STATIC_FILES} <= set(precache)
    for url in precache:
        assert (await client.get(url)).status_code == 200, url


def test_build_id_changes_with_any_static_file_or_template(tmp_path, monkeypatch):
    static, templates = tmp_path / "static", tmp_path / "templates"
    static.mkdir()
    templates.mkdir()
    (static / "site.js").write_text("one")
    (templates / "base.html").write_text("<html>")
    monkeypatch.setattr(templating, "STATIC_DIR", static)
    monkeypatch.setattr(templating, "TEMPLATES_DIR", templates)
    compute = templating.build_id.__wrapped__

    first = compute()
    assert compute() == first
    (static / "site.js").write_text("two")
    second = compute()
    (templates / "base.html").write_text("<html lang=en>")
    third = compute()
    assert len({first, second, third}) == 3
    assert all(build.startswith(__version__ + "-") for build in (first, second, third))


async def test_offline_page_says_what_still_works_and_holds_nobodys_data(client, make_user):
    await make_user(email="offline@example.com")
    signed_in = await client.post(
        "/login", data={"email": "offline@example.com", "password": TEST_PASSWORD}
    )
    assert signed_in.status_code == 303

    response = await client.get("/offline")
    assert response.status_code == 200
    html = response.text
    assert "<h1>You're offline</h1>" in html
    assert "courses you've opened before" in html
    assert ">Try again</a>" in html
    assert f'data-cache="{pwa.pages_cache_name()}"' in html
    # The worker keeps this page for everyone: no signed-in nav, no CSRF token.
    assert "Log out" not in html and "offline@example.com" not in html
    assert client.cookies["csrf"] not in html


@pytest.mark.parametrize("signed_in", [True, False])
async def test_logout_wipes_the_browsers_cache_and_storage(client, make_user, signed_in):
    if signed_in:
        await make_user(email="leaving@example.com")
        await client.post(
            "/login", data={"email": "leaving@example.com", "password": TEST_PASSWORD}
        )
    data = {"csrf_token": client.cookies["csrf"]} if signed_in else {}
    response = await client.post("/logout", data=data)
    assert response.status_code == 303
    assert response.headers["clear-site-data"] == '"cache", "storage"'
