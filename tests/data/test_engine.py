"""upsell.data.engine: building Transactions from prepared arrays, as datasets and spark do."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import Transactions, engine


def _same(a: Transactions, b: Transactions) -> bool:
    return (a.orders == b.orders and a.items == b.items and a.customers == b.customers
            and dict(a.report.dropped) == dict(b.report.dropped)
            and dict(a.report.flagged) == dict(b.report.flagged)
            and all(np.array_equal(getattr(a, c), getattr(b, c))
                    for c in ("order", "item", "customer", "quantity")))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from("abcd"),
                          st.sampled_from(["x", "y", None]), st.integers(-2, 3)),
                min_size=1, max_size=30),
       st.sampled_from(["net", "drop", "keep"]), st.sampled_from(["keep", "drop"]))
def test_from_prepared_equals_from_arrays(rows: list[tuple[int, str, str | None, int]],
                                          returns: str, duplicates: str) -> None:
    order, item, customer, quantity = (list(c) for c in zip(*rows, strict=True))
    if not any(q > 0 for q in quantity):
        quantity[0] = 1
    arrays = {"order": order, "item": item, "customer": customer,
              "quantity": np.array(quantity, dtype=float)}
    prep = engine.prepare(arrays, invalid="raise", item_index=None, customer_index=None,
                          source="rows")
    try:
        want = Transactions.from_arrays(**arrays, returns=returns, duplicates=duplicates)
    except ValueError as exc:  # the engine refuses too, with the same message
        with pytest.raises(ValueError) as info:
            engine.from_prepared(prep, returns=returns, duplicates=duplicates)
        assert str(info.value).split(" in ")[0] == str(exc).split(" in ")[0]
        return
    got = engine.from_prepared(prep, returns=returns, duplicates=duplicates)
    assert _same(got, want)


def test_engine_names() -> None:
    assert engine.__all__ == ["Prepared", "from_prepared", "prepare"]
