"""The one Jinja environment every HTML page renders with (autoescaped), plus money formatting
and the static files' URLs."""

from __future__ import annotations

import functools
import hashlib
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.responses import Response
from starlette.templating import Jinja2Templates
from starlette.types import Scope

from enrollpay import __version__
from enrollpay.kit.money import format_money, to_minor

_HERE = Path(__file__).parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"
STATIC_PATH = "/static"


@functools.cache
def build_id() -> str:
    """The release plus a digest of every static file and template: it changes whenever what
    the browser gets could change, even without a new version number."""
    digest = hashlib.sha256()
    for directory in (STATIC_DIR, TEMPLATES_DIR):
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            digest.update(path.relative_to(directory).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{__version__}-{digest.hexdigest()[:12]}"


def static_url(name: str) -> str:
    # The build id busts browser caches whenever a file changes (they are cached for a year).
    return f"{STATIC_PATH}/{name}?v={build_id()}"


def format_major_money(amount: float, currency: str = "INR") -> str:
    """The API's major-unit amounts (e.g. QuoteOut) formatted like `money`."""
    return format_money(to_minor(Decimal(str(amount)), currency), currency)


class VersionedStaticFiles(StaticFiles):
    """Files asked for by `static_url` (this build's `?v=`) never change: browsers keep them a
    year without asking again, which saves a round trip per file on a phone's network."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if response.status_code == 200 and query.get("v") == [build_id()]:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def static_files() -> StaticFiles:
    return VersionedStaticFiles(directory=STATIC_DIR)


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["money"] = format_money
_environment.filters["major_money"] = format_major_money
_environment.globals["static_url"] = static_url

templates = Jinja2Templates(env=_environment)
