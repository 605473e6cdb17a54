from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollpay.kit.ids import has_prefix, new_id


def test_shape_and_prefix():
    value = new_id("usr")
    assert re.fullmatch(r"usr_[0-9a-hjkmnp-tv-z]{26}", value)
    assert has_prefix(value, "usr")
    assert not has_prefix(value, "crs")
    assert not has_prefix("usr_short", "usr")
    with pytest.raises(ValueError, match="unknown id prefix"):
        new_id("foo")


def test_ids_sort_in_creation_order_even_within_a_millisecond():
    ids = [new_id("enr") for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


@given(st.integers(min_value=1, max_value=50))
def test_sorted_across_calls(n):
    batch = [new_id("job") for _ in range(n)]
    assert batch == sorted(batch)
