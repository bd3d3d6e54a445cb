"""from_spark: the local engine's cleaning rules and report, computed by Spark."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from upsell.data import Transactions
from upsell.exceptions import UpsellDataError, UpsellDeprecationWarning
from upsell.spark import from_spark

POLICIES = [
    {"invalid": "drop", "cancel_prefix": "C"},
    {"invalid": "drop", "cancel_prefix": "C", "returns": "drop", "anonymous": "drop",
     "bad_prices": "keep", "duplicates": "drop"},
    {"invalid": "drop", "returns": "keep", "duplicates": "drop"},
]


@pytest.mark.parametrize("options", POLICIES)
def test_report_and_lines_equal_local(dirty: tuple[Any, Any], options: dict[str, Any]) -> None:
    raw, sdf = dirty
    local = Transactions.from_pandas(raw, **options)
    stx = from_spark(sdf, **options)
    try:
        assert stx.report.to_dict() == {**local.report.to_dict(), "source": "spark"}
        assert stx.report.n_dropped > 0
        back = stx.to_local()
        assert back.report is stx.report
        assert local.to_pandas().equals(back.to_pandas())
        assert stx.items == local.items and stx.customers == local.customers
        assert stx.n_orders == len(local.orders)
    finally:
        stx.unpersist()


def test_to_local_sample_random_state_and_deprecated_seed(dirty: tuple[Any, Any]) -> None:
    _, sdf = dirty
    stx = from_spark(sdf, invalid="drop", cancel_prefix="C")
    try:
        a = stx.to_local(fraction=0.5, random_state=3)
        with pytest.warns(UpsellDeprecationWarning, match="use `random_state`"):
            b = stx.to_local(fraction=0.5, seed=3)
        assert a.to_pandas().equals(b.to_pandas())
        assert 0 < len(a.customers) < len(stx.customers)
        with pytest.raises(UpsellDataError, match="random_state"):
            stx.to_local(fraction=0.5, random_state=1, seed=3)
    finally:
        stx.unpersist()


def test_net_returns_repair_and_fill_are_counted(dirty: tuple[Any, Any]) -> None:
    _, sdf = dirty
    rep = from_spark(sdf, invalid="drop", cancel_prefix="C").report
    assert rep.repaired["quantity reduced by a return"] > 0
    assert rep.repaired["customer filled from its order"] > 0
    assert rep.dropped["return without a matching purchase"] > 0
    assert rep.rows_read == rep.rows_kept + rep.n_dropped


def test_column_mapping_and_errors(spark: Any) -> None:
    df = spark.createDataFrame(
        [("1", "a", "x", "2"), ("1", "b", "y", "1"), ("2", "a", "x", "abc")],
        "InvoiceNo string, StockCode string, CustomerID string, Quantity string")
    cols = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
            "quantity": "Quantity"}
    with pytest.raises(UpsellDataError, match=r"order '2': `quantity` 'abc' is not a number"):
        from_spark(df, columns=cols)
    with pytest.raises(UpsellDataError, match="order '1' has lines of two customers"):
        from_spark(df, columns=cols, invalid="drop")
    with pytest.raises(UpsellDataError, match=r"column 'Nope' .* is not in the Spark DataFrame"):
        from_spark(df, columns={**cols, "price": "Nope"})
    with pytest.raises(UpsellDataError, match=r"purchase log without them .* local readers"):
        from_spark(df, columns={**cols, "item": None})
    ok = from_spark(df.where("InvoiceNo = '2' or StockCode = 'a'"), columns=cols, invalid="drop")
    assert ok.report.dropped == {"quantity not a number": 1}
    assert np.array_equal(ok.items.ids, np.array(["a"]))


@pytest.mark.parametrize("role", ["value", "profit", "name"])
def test_from_spark_refuses_a_mapped_role_it_does_not_read(spark, role):
    sdf = spark.createDataFrame([("1", "a", 2.0)], "o string, i string, v double")
    with pytest.raises(UpsellDataError, match=rf"from_spark does not read the `{role}` column "
                                              r"\('v', of `columns`\)"):
        from_spark(sdf, columns={"order": "o", "item": "i", role: "v"})
