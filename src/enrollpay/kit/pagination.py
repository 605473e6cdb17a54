"""Cursor pagination: lists are `{"items": [...], "next_cursor": ...}` (SPEC §4).

Our ids are time-sortable, so the cursor is simply the last id of the page."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
