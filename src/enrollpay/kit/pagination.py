"""Cursor pagination: lists are `{"items": [...], "next_cursor": ...}` (SPEC §4).

Our ids are time-sortable, so the cursor is simply the last id of the page."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from enrollpay.errors import ValidationFailed, field_problem
from enrollpay.kit.ids import has_prefix

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def checked_cursor(cursor: str | None, prefix: str) -> str | None:
    """A cursor is an id of the listed kind; anything else is a 422, not an empty page."""
    if cursor is not None and not has_prefix(cursor, prefix):
        problem = field_problem("cursor", "not a cursor from a previous page", location="query")
        raise ValidationFailed(details={"fields": [problem]})
    return cursor
