"""upsell.spark.conversion groups by policy version and exploration as upsell.kpi.conversion."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from upsell import kpi
from upsell.exceptions import UpsellDataError
from upsell.spark import conversion

_FIELDS = ("groups", "presented", "accepted", "declined", "rate", "low", "high", "revenue",
           "revenue_per_offer")


def _log() -> dict[str, list[Any]]:
    # offers of two versions, one logged without a policy ("" and None), explored or not
    # (a missing flag is exploitation); follow-ups carry the presented offer's fields
    policy = ["shop@a1", "shop@a1", "shop@b2", "shop@b2", "", None, "shop@b2", "shop@a1",
              None]
    explored = [False, True, False, True, None, False, True, False, None]
    event = ["presented"] * 6 + ["accepted", "accepted", "declined"]
    revenue = [None] * 6 + [12.0, 30.0, None]
    return {"event": event, "policy": policy, "explored": explored, "revenue": revenue}


def _same(a: Any, b: Any) -> None:
    for name in _FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.tolist() == y.tolist() if x.dtype.kind in "OUS" else \
            np.array_equal(x, y, equal_nan=True), name


@pytest.mark.parametrize("flag", ["boolean", "int", "string"])
def test_policy_and_explored_groups_equal_the_local_kpi(spark: Any, flag: str) -> None:
    log = _log()
    if flag == "int":
        log["explored"] = [None if v is None else int(v) for v in log["explored"]]
    elif flag == "string":
        log["explored"] = [None if v is None else str(v) for v in log["explored"]]
    df = spark.createDataFrame(list(zip(*log.values(), strict=True)),
                               f"event string, policy string, explored {flag}, revenue double")
    local = {k: np.array(v, dtype=object) for k, v in log.items()}
    for by in ("policy", "explored", None):
        a, b = kpi.conversion(local, by=by), conversion(df, by=by)
        _same(a, b)
    assert conversion(df, by="policy").groups.tolist() == ["(none)", "shop@a1", "shop@b2"]
    assert conversion(df, by="explored").groups.tolist() == ["exploit", "explore"]


def test_explored_keeps_both_groups_and_refuses_a_non_flag(spark: Any) -> None:
    df = spark.createDataFrame([("presented", False), ("accepted", False)],
                               "event string, explored boolean")
    r = conversion(df, by="explored")
    assert r.groups.tolist() == ["exploit", "explore"]
    assert r.presented.tolist() == [1, 0]
    _same(kpi.conversion({"event": np.array(["presented", "accepted"]),
                          "explored": np.array([False, False])}, by="explored"), r)
    bad = spark.createDataFrame([("presented", "maybe")], "event string, explored string")
    with pytest.raises(UpsellDataError, match="not a flag"):
        conversion(bad, by="explored")


def test_a_group_column_without_a_value_is_an_error_as_locally(spark: Any) -> None:
    df = spark.createDataFrame([("presented", "web"), ("presented", None)],
                               "event string, channel string")
    with pytest.raises(UpsellDataError, match="channel"):
        conversion(df, by="channel")
    with pytest.raises(UpsellDataError, match="channel"):
        kpi.conversion({"event": np.array(["presented", "presented"]),
                        "channel": np.array(["web", None], dtype=object)}, by="channel")
