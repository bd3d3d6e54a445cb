"""Offer conversion: Wilson intervals, groupings, input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.exceptions import UpsellDataError
from upsell.kpi import conversion

LOG = {
    "event": ["presented", "presented", "presented", "accepted", "declined", "presented",
              "accepted"],
    "kind": ["upsell", "upsell", "cross_sell", "upsell", "upsell", "cross_sell", "cross_sell"],
    "channel": ["web", "app", "web", "web", "app", "web", "web"],
    "customer": ["a", "b", "a", "a", "b", "c", "c"],
    "offer_id": [1, 2, 3, 1, 2, 4, 4],
    "revenue": [0, 0, 0, 25.0, 0, 0, np.nan],
}


def test_overall_and_by_kind():
    r = conversion(LOG)
    assert (r.presented.tolist(), r.accepted.tolist(), r.declined.tolist()) == ([4], [2], [1])
    assert r.rate.tolist() == [0.5] and r.revenue_per_offer.tolist() == [25.0 / 4]
    k = conversion(pd.DataFrame(LOG), by="kind")
    assert k.groups.tolist() == ["cross_sell", "upsell"]
    assert k.rate.tolist() == [0.5, 0.5] and k.revenue.tolist() == [0.0, 25.0]
    ch = conversion(LOG, by="channel")
    assert ch.groups.tolist() == ["app", "web"] and ch.accepted.tolist() == [0, 2]
    s = conversion(LOG, by="segment", segments={"a": "new", "b": "new", "c": "vip"})
    assert s.groups.tolist() == ["new", "vip"] and s.presented.tolist() == [3, 1]
    assert list(k.to_pandas().columns)[:3] == ["kind", "presented", "accepted"]


def test_wilson_by_hand():
    r = conversion({"event": ["presented"] * 10 + ["accepted"] * 5})
    assert r.low[0] == pytest.approx(0.2366, abs=1e-4)
    assert r.high[0] == pytest.approx(0.7634, abs=1e-4)


def test_errors_name_row_and_value():
    with pytest.raises(UpsellDataError, match="row 1: `event` 'clicked'"):
        conversion({"event": ["presented", "clicked"]})
    with pytest.raises(UpsellDataError, match="2 accepted but only 1 presented"):
        conversion({"event": ["presented", "accepted", "accepted"]})
    with pytest.raises(UpsellDataError, match="'event' column"):
        conversion({"kind": ["upsell"]})
    with pytest.raises(UpsellDataError, match="`by`"):
        conversion(LOG, by="color")


@settings(max_examples=50, deadline=None)
@given(k=st.integers(0, 200), extra=st.integers(0, 200), conf=st.floats(0.5, 0.999))
def test_wilson_interval_contains_the_estimate(k, extra, conf):
    n = k + extra
    if n == 0:
        return
    r = conversion({"event": ["presented"] * n + ["accepted"] * k}, confidence=conf)
    assert 0 <= r.low[0] <= r.rate[0] <= r.high[0] <= 1
