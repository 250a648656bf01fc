"""Path segments: the fast paths (one regex scan) agree with the plain definitions."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annoq import InvalidArgumentError
from annoq._args import require_segment, segment

ids = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="abcdef0123456789-_.~/\\?#%\x00\x1f\x7f é", max_size=40),
)


def plain_is_valid(text: str) -> bool:
    if not text.strip() or text.strip() in (".", ".."):
        return False
    return not any(c in "/\\?#" or ord(c) < 0x20 or ord(c) == 0x7F for c in text)


@given(ids)
def test_segment_equals_quote_with_nothing_safe(value):
    if plain_is_valid(value):
        assert segment(value, "item_id") == quote(value, safe="")


@given(ids)
def test_require_segment_refuses_exactly_the_breaking_ids(value):
    if plain_is_valid(value):
        assert require_segment(value, "item_id") == value
    else:
        with pytest.raises(InvalidArgumentError):
            require_segment(value, "item_id")
