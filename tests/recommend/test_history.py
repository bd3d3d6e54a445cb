"""CustomerHistory (what each customer owns, and when) and SegmentMap (customer -> segment)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.recommend import CustomerHistory, SegmentMap
from upsell.recommend.history import as_segment_map

CAT = us.Catalog.from_records([{"item": x} for x in ("a", "b", "c", "d")])


def history_tx() -> us.Transactions:
    return us.Transactions.from_arrays(
        order=[1, 1, 2, 3, 4, 5],
        item=["a", "b", "a", "c", "zzz", "d"],
        customer=["x", "x", "x", "y", "y", "y"],
        quantity=[1, 1, 1, 1, 1, -1],
        time=["2024-01-01", "2024-01-01", "2024-03-01", "2024-02-01", "2024-02-02",
              "2024-02-03"])


def test_owned_items_latest_first_with_their_latest_time() -> None:
    h = CustomerHistory.from_transactions(history_tx(), CAT)
    items, times = h.owned("x")
    assert items == ("a", "b")  # a again on 1 March: the latest first
    assert times == (np.datetime64("2024-03-01T00:00:00"), np.datetime64("2024-01-01T00:00:00"))
    # y: "zzz" is not in the catalog, "d" was a return (quantity < 0): neither counts
    assert h.owned("y")[0] == ("c",)
    assert h.owned("nobody") == ((), ()) and h.row("nobody") == -1 and h.row(None) == -1
    assert len(h) == 2


def test_history_needs_transactions_with_customers() -> None:
    with pytest.raises(UpsellDataError, match="`history` must be Transactions; got list"):
        CustomerHistory.from_transactions([], CAT)  # type: ignore[arg-type]
    with pytest.raises(UpsellDataError, match="customer"):
        CustomerHistory.from_transactions(us.Transactions.from_arrays(order=[1], item=["a"]),
                                          CAT)


def test_history_without_times_has_nat() -> None:
    tx = us.Transactions.from_arrays(order=[1], item=["a"], customer=["x"])
    items, times = CustomerHistory.from_transactions(tx, CAT).owned("x")
    assert items == ("a",) and np.isnat(times[0])


def test_history_save_load_round_trip(tmp_path: Path) -> None:
    h = CustomerHistory.from_transactions(history_tx(), CAT)
    h.save(tmp_path / "h.npz")
    back = CustomerHistory.load(tmp_path / "h.npz")
    for c in ("x", "y", "nobody"):
        assert back.owned(c) == h.owned(c)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError):
        CustomerHistory.load(tmp_path / "bad.npz")


# --------------------------------------------------------------------------- segments
def test_segment_map_forms() -> None:
    m = SegmentMap.from_mapping({"x": "gold", "y": "new"}, unknown="new")
    assert (m.segment_of("x"), m.segment_of("zz"), m.segment_of(None)) == ("gold", "new", "new")
    ids = us.IdIndex(["x", "y", "z"])
    lab = SegmentMap.from_labels(ids, ["a", None, ""])
    assert (lab.segment_of("x"), lab.segment_of("y"), lab.segment_of("z")) == ("a", None, None)
    assert lab.labels_for(us.IdIndex(["z", "x", "q"])).tolist() == ["", "a", ""]
    with pytest.raises(UpsellDataError, match="one label per customer"):
        SegmentMap.from_labels(ids, ["a"])


def test_as_segment_map_reads_every_form_of_segments() -> None:
    h = CustomerHistory.from_transactions(history_tx(), CAT)
    assert as_segment_map(None, h) is None
    for form in ({"x": "gold", "y": "new"}, (["x", "y"], ["gold", "new"]), ["gold", "new"]):
        m = as_segment_map(form, h)
        assert m is not None
        assert (m.segment_of("x"), m.segment_of("y")) == ("gold", "new"), form
    pd = pytest.importorskip("pandas")
    m = as_segment_map(pd.Series({"y": "new", "x": "gold", "other": "vip"}), h)
    assert m is not None and (m.segment_of("x"), m.segment_of("y")) == ("gold", "new")
    with pytest.raises(UpsellDataError, match="segments"):
        as_segment_map(object(), None)
    with pytest.raises(UpsellDataError, match="one label per customer"):
        as_segment_map(["gold"], h)


def test_a_mapping_keeps_customers_outside_the_history() -> None:
    """A segment for a customer the history does not know still counts (their fill)."""
    h = CustomerHistory.from_transactions(history_tx(), CAT)
    m = as_segment_map({"newcomer": "vip"}, h)
    assert m is not None and m.segment_of("newcomer") == "vip"


def test_segment_map_from_a_fitted_segmenter() -> None:
    shop = us.datasets.make_shop(n_customers=60, n_items=40, n_orders=240, random_state=1)
    model = us.segments.Personas().fit(shop.transactions, catalog=shop.catalog)
    m = as_segment_map(model, None)
    assert m is not None and m.unknown == "new"
    c = shop.transactions.customers.ids[0].item()
    assert m.segment_of(c) in m.labels
    with pytest.raises(UpsellDataError, match="customers_"):
        SegmentMap.from_model(type("M", (), {"customers_": None})())


def test_segment_map_save_load(tmp_path: Path) -> None:
    m = SegmentMap.from_mapping({"x": "gold", "y": "new", "z": "gold"}, unknown="new")
    m.save(tmp_path / "s.npz")
    back = SegmentMap.load(tmp_path / "s.npz")
    assert [back.segment_of(c) for c in ("x", "y", "z", "q")] == ["gold", "new", "gold", "new"]


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from("pqrs"), st.sampled_from("abcd"),
                               st.integers(0, 10_000)), min_size=1, max_size=30))
def test_owned_is_the_latest_purchase_of_each_item(rows: list[tuple[str, str, int]]) -> None:
    tx = us.Transactions.from_arrays(
        order=np.arange(len(rows)), customer=[r[0] for r in rows], item=[r[1] for r in rows],
        time=np.array([r[2] * 3600 for r in rows], dtype="datetime64[s]"))
    h = CustomerHistory.from_transactions(tx, CAT)
    for c in set(r[0] for r in rows):
        latest: dict[str, int] = {}
        for cc, i, t in rows:
            if cc == c:
                latest[i] = max(latest.get(i, -1), t * 3600)
        items, times = h.owned(c)
        assert set(items) == set(latest)
        got = [int(t.astype(np.int64)) for t in times]
        assert got == sorted(got, reverse=True)
        assert all(latest[i] == t for i, t in zip(items, got, strict=True))
