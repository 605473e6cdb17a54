"""The web UI as an installable app (PWA): the web app manifest, the service worker and the page
it shows offline.

The service worker (templates/pwa/sw.js) is served from the root, `/sw.js`, because a worker
only controls pages under its own path. Its cache names carry `build_id()`, as the static files'
`?v=` does: a new release, or any changed static file or template, makes a new worker that
starts from fresh caches and deletes the old ones."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from enrollpay.web.site import render
from enrollpay.web.templating import build_id, static_url, templates

router = APIRouter(include_in_schema=False)

THEME_COLOR = "#0b57d0"  # base.html's --primary
BACKGROUND_COLOR = "#f4f6f8"  # base.html's --bg
OFFLINE_PATH = "/offline"
# Installed on the worker's first start, so that any page read offline has its script and icons.
PRECACHED_STATIC_FILES = (
    "site.js",
    "course.js",
    "icons/icon.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
)
# Browsers fetch these again on every check for a new worker or manifest.
REVALIDATE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def pages_cache_name() -> str:
    return f"enrollpay-pages-{build_id()}"


def manifest() -> dict[str, Any]:
    def icon(name: str, sizes: str, kind: str, purpose: str = "any") -> dict[str, str]:
        return {"src": static_url(name), "sizes": sizes, "type": kind, "purpose": purpose}

    return {
        "id": "/",
        "name": "enrollpay",
        "short_name": "enrollpay",
        "description": "Browse courses, enroll and pay.",
        "lang": "en",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [
            icon("icons/icon-192.png", "192x192", "image/png"),
            icon("icons/icon-512.png", "512x512", "image/png"),
            # Full bleed, the check mark inside the safe zone: launchers crop it to their shape.
            icon("icons/icon-maskable-512.png", "512x512", "image/png", "maskable"),
            icon("icons/icon.svg", "any", "image/svg+xml"),
        ],
    }


@router.get("/manifest.webmanifest")
async def web_app_manifest() -> Response:
    return JSONResponse(
        manifest(), media_type="application/manifest+json", headers=REVALIDATE_HEADERS
    )


@router.get("/sw.js")
async def service_worker(request: Request) -> Response:
    context = {
        "static_cache": f"enrollpay-static-{build_id()}",
        "pages_cache": pages_cache_name(),
        "offline_url": OFFLINE_PATH,
        "precache_urls": [static_url(name) for name in PRECACHED_STATIC_FILES] + [OFFLINE_PATH],
    }
    return templates.TemplateResponse(
        request,
        "pwa/sw.js",
        context,
        media_type="application/javascript",
        headers=REVALIDATE_HEADERS,
    )


@router.get(OFFLINE_PATH)
async def offline_page(request: Request) -> Response:
    # Cached once and shown to whoever is offline: signed out, so it holds nobody's data.
    return render(request, "site/offline.html", {"pages_cache": pages_cache_name()}, user=None)
