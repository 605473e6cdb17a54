"""The one Jinja environment every HTML page renders with (autoescaped), plus money formatting
and the static files' URLs."""

from __future__ import annotations

from pathlib import Path

from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from starlette.templating import Jinja2Templates

from enrollpay import __version__
from enrollpay.kit.money import CURRENCY_EXPONENTS, to_major

_HERE = Path(__file__).parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"
STATIC_PATH = "/static"
CURRENCY_SYMBOLS = {"INR": "₹"}


def static_url(name: str) -> str:
    # The version busts browser caches on upgrade; the files themselves carry ETags.
    return f"{STATIC_PATH}/{name}?v={__version__}"


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)


def _group_indian(whole: int) -> str:
    """12345678 → 1,23,45,678 (lakh/crore grouping, as Indian prices are written)."""
    digits = str(whole)
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def format_money(minor: int, currency: str = "INR") -> str:
    """Paise → "₹5,898.82"."""
    exponent = CURRENCY_EXPONENTS[currency]
    whole, _, fraction = f"{to_major(minor, currency):.{exponent}f}".partition(".")
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    text = symbol + _group_indian(int(whole))
    return f"{text}.{fraction}" if fraction else text


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["money"] = format_money
_environment.globals["static_url"] = static_url

templates = Jinja2Templates(env=_environment)
