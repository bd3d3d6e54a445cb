"""NPS: range, order independence, interval, invalid answers, segments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.exceptions import UpsellDataError
from upsell.kpi import nps


def test_by_hand():
    r = nps([10, 9, 8, 7, 6, 0])
    assert (r.promoters[0], r.passives[0], r.detractors[0]) == (2, 2, 2)
    assert float(r) == 0.0
    assert r.promoter_share[0] == pytest.approx(1 / 3)
    # Var = (p+ + p- - d^2)/n = (2/3)/6
    assert r.high[0] == pytest.approx(100 * 1.959964 * np.sqrt((2 / 3) / 6), rel=1e-5)


def test_invalid_answers():
    with pytest.raises(UpsellDataError, match=r"position 2 holds 7\.5"):
        nps([10, 9, 7.5])
    with pytest.raises(UpsellDataError, match="position 1 holds None"):
        nps([10, None])
    r = nps([10, 11, -1, "x", None, 9.0, 3], invalid="drop")
    assert r.n.tolist() == [3] and r.n_invalid.tolist() == [4]
    assert float(r) == pytest.approx(100 * (2 / 3 - 1 / 3))
    with pytest.raises(UpsellDataError, match="`invalid`"):
        nps([1], invalid="ignore")


def test_by_segment():
    r = nps([10, 0, 10, 10, 5], by=["a", "a", "b", "b", None])
    assert r.groups.tolist() == ["a", "b"] and r.nps.tolist() == [0.0, 100.0]
    assert r.to_pandas()["n"].tolist() == [2, 2]
    with pytest.raises(UpsellDataError, match="one label per row"):
        nps([10, 9], by=["a"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=300), st.randoms(use_true_random=False))
def test_range_order_and_interval(scores, rnd):
    r = nps(scores)
    assert -100 <= r.nps[0] <= 100
    assert r.low[0] <= r.nps[0] <= r.high[0]
    assert r.low[0] >= -100 and r.high[0] <= 100
    shuffled = list(scores)
    rnd.shuffle(shuffled)
    r2 = nps(shuffled)
    assert r2.nps[0] == r.nps[0] and r2.low[0] == r.low[0] and r2.high[0] == r.high[0]
