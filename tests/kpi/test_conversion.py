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


def test_segments_forms():
    want = conversion(LOG, by="segment", segments={"a": "new", "b": "new", "c": "vip"})
    forms = [
        pd.Series({"a": "new", "b": "new", "c": "vip"}),
        (["a", "b", "c"], ["new", "new", "vip"]),
        ["new", "new", "new", "new", "new", "vip", "vip"],       # one label per event row
    ]
    for seg in forms:
        r = conversion(LOG, by="segment", segments=seg)
        assert r.groups.tolist() == want.groups.tolist()
        assert r.presented.tolist() == want.presented.tolist()
        assert r.accepted.tolist() == want.accepted.tolist()


def test_segments_keyed_by_int_float_or_mixed_customer_columns():
    ev = ["presented", "accepted", "presented", "presented", "accepted"]
    for cust in (np.array([1, 1, 2, 3, 3]), np.array([1.0, 1.0, np.nan, 3.0, 3.0]),
                 np.array([1, "1", None, "b", "b"], dtype=object)):
        seg = {1: "n", 3: "v"} if cust.dtype.kind != "O" else {1: "n", "b": "v"}
        r = conversion({"event": ev, "customer": cust}, by="segment", segments=seg)
        assert r.groups.tolist() == ["n", "v"] and r.rate.tolist() == [1.0, 1.0]


def test_segments_per_row_series_is_positional_and_mapping_needs_customers():
    ev = ["presented", "accepted", "presented", "presented", "accepted"]
    r = conversion({"event": ev}, by="segment",
                   segments=pd.Series(["x", "x", "y", "y", "y"], index=[9, 8, 7, 6, 5]))
    assert r.groups.tolist() == ["x", "y"] and r.presented.tolist() == [1, 2]
    with pytest.raises(UpsellDataError, match="needs a 'customer' column"):
        conversion({"event": ev}, by="segment", segments={"a": "x"})


# ------------------------------------------------------------------ the policy dimension
POLICY_LOG = {
    "event": ["presented"] * 5 + ["accepted", "accepted", "declined"],
    "policy": ["upsell@a1", "upsell@a1", "upsell@b2", "upsell@b2", None,
               "upsell@a1", "upsell@b2", "upsell@b2"],
    "explored": [False, True, False, True, None, True, True, False],
    "revenue": [0, 0, 0, 0, 0, 10.0, 4.0, 0],
}


def test_by_policy_compares_policy_versions_and_names_unlogged_ones():
    r = conversion(POLICY_LOG, by="policy")
    assert r.by == "policy"
    assert r.groups.tolist() == ["(none)", "upsell@a1", "upsell@b2"]
    assert r.presented.tolist() == [1, 2, 2] and r.accepted.tolist() == [0, 1, 1]
    assert r.declined.tolist() == [0, 0, 1] and r.revenue.tolist() == [0.0, 10.0, 4.0]
    frame = pd.DataFrame(POLICY_LOG)
    frame.loc[4, "policy"] = np.nan  # pandas: a missing policy is NaN
    same = conversion(frame, by="policy")
    assert same.groups.tolist() == r.groups.tolist() and same.rate.tolist() == r.rate.tolist()
    assert conversion({k: np.array(["" if v is None else v for v in POLICY_LOG[k]])
                       if k == "policy" else v for k, v in POLICY_LOG.items()},
                      by="policy").groups.tolist() == r.groups.tolist()


def test_by_explored_splits_exploration_from_exploitation():
    r = conversion(POLICY_LOG, by="explored")
    assert r.groups.tolist() == ["exploit", "explore"]
    assert r.presented.tolist() == [3, 2] and r.accepted.tolist() == [0, 2]
    assert r.rate.tolist() == [0.0, 1.0] and r.revenue.tolist() == [0.0, 14.0]
    for form in ([0, 1, 0, 1, 0, 1, 1, 0], ["false", "true", "0", "1", "", "True", "1", "0"],
                 np.array([0.0, 1.0, 0.0, 1.0, np.nan, 1.0, 1.0, 0.0])):
        other = conversion({**POLICY_LOG, "explored": form}, by="explored")
        assert other.presented.tolist() == [3, 2] and other.accepted.tolist() == [0, 2]
    with pytest.raises(UpsellDataError, match=r"row 2: `explored` 'maybe' is not a flag"):
        conversion({**POLICY_LOG, "explored": [0, 1, "maybe", 1, 0, 1, 1, 0]}, by="explored")
    with pytest.raises(UpsellDataError, match="row 1: `explored` 2 is not a flag"):
        conversion({**POLICY_LOG, "explored": [0, 2, 0, 1, 0, 1, 1, 0]}, by="explored")


def test_existing_groupings_keep_their_types_with_the_new_columns():
    r = conversion(POLICY_LOG)
    assert r.by is None and r.groups.tolist() == ["all"] and r.presented.dtype == np.int64
    assert conversion(POLICY_LOG).to_pandas().columns.tolist() == [
        "group", "presented", "accepted", "declined", "rate", "low", "high", "revenue",
        "revenue_per_offer"]
    with pytest.raises(UpsellDataError, match="'policy', 'explored'"):
        conversion({"event": ["presented"]}, by="explored")
