"""Scores in an offer's reason read as numbers for people: never an exponent (a CF source's
raw score on Online Retail read 'itemknn 2.66e+04')."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from upsell.recommend.recommender import _score


@given(st.floats(allow_nan=True, allow_infinity=True, width=64))
def test_reason_scores_never_use_an_exponent(v):
    text = _score(v)
    assert "e" not in text.lower() or text == "n/a"
    if not abs(v) >= 1e15:
        assert len(text) <= 21  # 1e-300 is '~0', not 300 zeros
    if math.isfinite(v) and 1e-3 <= abs(v) < 1e15:
        # the number read back is the score to three significant digits (or whole)
        back = float(text.replace(",", ""))
        assert abs(back - v) <= max(abs(v) * 5e-3, 0.5 if abs(v) >= 100 else 0)
