"""Request parsing with Razorpay's (Laravel-style) validation messages.

Bodies are JSON objects. `application/x-www-form-urlencoded` bodies are accepted too, with PHP's
bracket syntax (`notes[key]=value`, `payment[capture]=manual`); form values are strings, so
integer fields accept digit strings there. In JSON an integer field must be a JSON integer
("5000" is refused: the stricter choice, since whether Razorpay coerces is unconfirmed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from enrollpay.sandbox.errors import SandboxError, validation_error

MAX_NOTES = 15
MAX_NOTE_LENGTH = 256
_DIGITS = re.compile(r"^-?[0-9]+$")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def label(name: str) -> str:
    """Laravel shows attribute names with spaces for underscores."""
    return name.replace("_", " ")


class Payload:
    """A request body (or query) and the rules to read its fields."""

    def __init__(self, data: Mapping[str, Any], *, strings: bool = False) -> None:
        self.data = dict(data)
        self.strings = strings  # form bodies and query strings carry only strings

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        allowed = set(allowed)
        unknown = [name for name in self.data if name not in allowed]
        if unknown:
            raise validation_error(
                f"{', '.join(unknown)} is/are not required and should not be sent.", unknown[0]
            )

    def present(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.data.get(name)
        if value is None or (self.strings and value == ""):
            if required:
                raise validation_error(f"The {label(name)} field is required.", name)
            return None
        return to_integer(value, name, strings=self.strings)

    def string(self, name: str, *, required: bool = False, max_length: int | None = None) -> Any:
        value = self.data.get(name)
        if value is None:
            if required:
                raise validation_error(f"The {label(name)} field is required.", name)
            return None
        if not isinstance(value, str):
            raise validation_error(f"The {label(name)} must be a string.", name)
        if required and value == "":
            raise validation_error(f"The {label(name)} field is required.", name)
        if max_length is not None and len(value) > max_length:
            raise validation_error(
                f"The {label(name)} may not be greater than {max_length} characters.", name
            )
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None:
            return None
        return to_boolean(value, name)

    def choice(self, name: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self.string(name, required=required)
        if value is not None and value not in set(choices):
            raise validation_error(f"The selected {label(name)} is invalid.", name)
        return value

    def notes(self, name: str = "notes") -> dict[str, Any]:
        return check_notes(self.data.get(name), name)


def to_integer(value: Any, name: str, *, strings: bool = False) -> int:
    if isinstance(value, bool):
        raise validation_error(f"The {label(name)} must be an integer.", name)
    if isinstance(value, int):
        return value
    if strings and isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    raise validation_error(f"The {label(name)} must be an integer.", name)


def to_boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise validation_error(f"The {label(name)} field must be true or false.", name)


def check_notes(value: Any, name: str = "notes") -> dict[str, Any]:
    """At most 15 pairs, each value a string or number of at most 256 characters."""
    if value is None or value == [] or value == "":
        return {}
    if not isinstance(value, dict):
        raise validation_error(f"The {name} must be an array.", name)
    if len(value) > MAX_NOTES:
        raise validation_error(f"The {name} may not have more than {MAX_NOTES} items.", name)
    for key, item in value.items():
        field = f"{name}.{key}"
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise validation_error(f"The {field} must be a string.", field)
        if len(str(item)) > MAX_NOTE_LENGTH:
            raise validation_error(
                f"The {field} may not be greater than {MAX_NOTE_LENGTH} characters.", field
            )
    return dict(value)


def nested(value: Any, name: str) -> Payload:
    """A sub-object such as `payment` in an order body."""
    if value is None:
        return Payload({})
    if not isinstance(value, dict):
        raise validation_error(f"The {name} must be an array.", name)
    return Payload(value)


def _php_form(body: bytes) -> dict[str, Any]:
    """`a=1&notes[k]=v&payment[capture_options][refund_speed]=optimum` → nested dicts."""
    result: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        head, _, rest = raw_key.partition("[")
        keys = [head] + (_BRACKETS.findall("[" + rest) if rest else [])
        target = result
        for key in keys[:-1]:
            child = target.get(key)
            if not isinstance(child, dict):
                child = target[key] = {}
            target = child
        target[keys[-1]] = value
    return result


async def read_body(request: Request) -> Payload:
    """The body as a Payload; an empty body is an empty object."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            return Payload(_php_form(raw), strings=True)
        except UnicodeDecodeError:
            raise SandboxError("The request body is not valid UTF-8.") from None
    if not raw.strip():
        return Payload({})
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SandboxError("The request body is not valid JSON.") from None
    if isinstance(data, list) and not data:
        return Payload({})  # PHP clients send [] for an empty object
    if not isinstance(data, dict):
        raise SandboxError("The request body must be a JSON object.")
    return Payload(data)


def query(request: Request) -> Payload:
    return Payload(dict(request.query_params), strings=True)
