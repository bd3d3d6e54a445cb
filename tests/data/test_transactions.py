"""Transactions: cleaning rules, reports, views, constructors and row-order independence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import Catalog, IdIndex, Transactions
from upsell.exceptions import UpsellDataError

lines = st.lists(
    st.tuples(
        st.sampled_from(["o1", "o2", "o3", "o4", "C5"]),   # order ("C" = cancellation)
        st.sampled_from(["a", "b", "c", "d"]),             # item
        st.sampled_from(["x", "y", "z", None]),             # customer (None = anonymous)
        st.sampled_from([-2, -1, 0, 1, 2, 3]),              # quantity
        st.sampled_from([0.0, 1.5, 2.0, -1.0]),             # price
        st.sampled_from(["2011-01-01", "2011-01-02 10:00", "2011-02-01"]),
    ),
    min_size=1, max_size=30,
)


def build(rows, **options):
    cols = list(zip(*rows, strict=True))
    return Transactions.from_arrays(
        order=list(cols[0]), item=list(cols[1]), customer=list(cols[2]),
        quantity=list(cols[3]), price=list(cols[4]), time=list(cols[5]), **options)


def consistent_orders(rows):
    """Give each order one customer, as real data do (the rest of the dirt stays)."""
    owner: dict[str, object] = {}
    out = []
    for r in rows:
        cust = owner.setdefault(r[0], r[2])
        out.append((r[0], r[1], cust, *r[3:]))
    return out


OPTIONS = st.fixed_dictionaries({
    "returns": st.sampled_from(["net", "drop", "keep"]),
    "anonymous": st.sampled_from(["keep", "drop"]),
    "bad_prices": st.sampled_from(["keep", "drop"]),
    "duplicates": st.sampled_from(["keep", "drop"]),
})


@settings(max_examples=60, deadline=None)
@given(lines, st.randoms(use_true_random=False), OPTIONS)
def test_any_row_order_gives_same_data(rows, rnd, options):
    rows = consistent_orders(rows)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    try:
        a = build(rows, cancel_prefix="C", **options)
    except UpsellDataError:
        with pytest.raises(UpsellDataError):
            build(shuffled, cancel_prefix="C", **options)
        return
    b = build(shuffled, cancel_prefix="C", **options)
    assert a.items == b.items and a.orders == b.orders and a.customers == b.customers
    for col in ("order", "item", "customer", "quantity", "price", "time"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    assert (a.baskets() != b.baskets()).nnz == 0
    for w in ("count", "units", "value", "bm25"):
        np.testing.assert_allclose(a.customer_items(w).toarray(), b.customer_items(w).toarray())
    assert a.report.to_dict() == b.report.to_dict()


@settings(max_examples=60, deadline=None)
@given(lines, OPTIONS)
def test_report_always_adds_up(rows, options):
    rows = consistent_orders(rows)
    try:
        tx = build(rows, cancel_prefix="C", **options)
    except UpsellDataError as exc:
        assert "no order lines left" in str(exc)
        return
    r = tx.report
    assert r.rows_read == len(rows)
    assert r.rows_kept == len(tx)
    assert r.rows_read == r.rows_kept + sum(r.dropped.values())
    assert (tx.quantity != 0).all()
    if options["returns"] != "keep":
        assert (tx.quantity > 0).all()


def test_net_returns_reduce_latest_purchases_first():
    tx = Transactions.from_arrays(
        order=["o1", "o2", "C3", "o4"], item=["a", "a", "a", "b"],
        customer=["x", "x", "x", "y"], quantity=[2, 3, -4, 1],
        time=["2011-01-01", "2011-01-05", "2011-01-06", "2011-01-01"], cancel_prefix="C")
    # 4 returned: the 3 of o2 (latest) fully, then 1 of the 2 of o1
    assert tx.orders.ids.tolist() == ["o1", "o4"]
    assert tx.quantity.tolist() == [1.0, 1.0]
    assert dict(tx.report.dropped) == {"fully returned": 1, "return netted against a purchase": 1}
    assert dict(tx.report.repaired) == {"quantity reduced by a return": 1}


def test_return_without_purchase_and_anonymous_return_are_counted():
    tx = Transactions.from_arrays(order=["o1", "o2", "o3"], item=["a", "b", "a"],
                                  customer=["x", "x", None], quantity=[1, -1, -1])
    assert len(tx) == 1
    assert tx.report.dropped["return without a matching purchase"] == 2


def test_returns_keep_stays_out_of_baskets_but_counts_in_order_value():
    tx = Transactions.from_arrays(order=["1", "C2"], item=["a", "a"], customer=["x", "x"],
                                  quantity=[2, 1], price=[5.0, 5.0], cancel_prefix="C",
                                  returns="keep")
    assert tx.quantity.tolist() == [2.0, -1.0]
    assert tx.baskets().toarray().tolist() == [[1.0], [0.0]]
    assert tx.order_table().value.tolist() == [10.0, -5.0]
    assert tx.customer_items("units").toarray().tolist() == [[1.0]]
    assert tx.report.flagged["return or cancellation kept"] == 1


def test_customer_filled_from_its_order_and_conflicts_refused():
    tx = Transactions.from_arrays(order=[1, 1], item=["a", "b"], customer=["x", None])
    assert tx.customer.tolist() == [0, 0]
    assert tx.report.repaired["customer filled from its order"] == 1
    with pytest.raises(UpsellDataError, match=r"order 1 has lines of two customers \('x' and 'y'\)"):
        Transactions.from_arrays(order=[1, 1], item=["a", "b"], customer=["x", "y"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"order": ["o1", ""], "item": ["a", "b"]}, r"row 2: `order` is empty"),
    ({"order": ["o1", None], "item": ["a", "b"]}, r"row 2: `order` is empty"),
    ({"order": ["o1", "o2"], "item": ["a", None]}, r"row 2 \(order 'o2'\): `item` is empty"),
    ({"order": [1, 2], "item": ["a", "b"], "quantity": [1, "x"]}, r"row 2: `quantity` 'x' is not a number"),
    ({"order": [1, 2], "item": ["a", "b"], "quantity": [1, float("nan")]}, r"row 2 \(order 2\): `quantity` nan is missing"),
    ({"order": [1, 2], "item": ["a", "b"], "price": [1.0, float("inf")]}, r"row 2 \(order 2\): `price` inf is missing or not finite"),
    ({"order": [1, 2], "item": ["a", "b"], "time": ["2011-01-01", "2011-13-01"]}, r"row 2: `time` '2011-13-01' is not a timestamp"),
    ({"order": [1, 2], "item": ["a", "b"], "time": ["2011-01-01", None]}, r"row 2 \(order 2\): `time` is missing"),
    ({"order": [1, 2], "item": ["a", "b"], "time": [1, 2]}, r"column `time` holds numbers"),
    ({"order": [1, 2], "item": ["a"]}, r"same length; got order=2, item=1"),
    ({"order": [], "item": []}, r"no data rows"),
    ({"order": [1, 2], "item": ["a", 3]}, r"mix strings and integers"),
    ({"order": [1, 2], "item": ["a", "b"], "quantity": [True, False]}, r"`quantity` must be numeric"),
    ({"order": [1, 2], "item": ["a", "b"], "quantity": [1, 0]}, None),
    ({"order": [1], "item": ["a"], "quantity": [0]}, r"no order lines left .* zero quantity: 1"),
])
def test_malformed_input_names_row_and_column(kwargs, message):
    if message is None:
        tx = Transactions.from_arrays(**kwargs)
        assert tx.report.dropped["zero quantity"] == 1
        return
    with pytest.raises(UpsellDataError, match=message):
        Transactions.from_arrays(**kwargs)


@pytest.mark.parametrize(("option", "kwargs", "message"), [
    ({"returns": "raise"}, {"quantity": [1, -1]}, r"row 2 \(order 2\): return or cancellation"),
    ({"anonymous": "raise"}, {"customer": ["x", None]}, r"row 2 \(order 2\): no customer"),
    ({"bad_prices": "raise"}, {"price": [1.0, 0.0]}, r"row 2 \(order 2\): `price` 0.0 is zero"),
    ({"duplicates": "raise"}, {}, None),
])
def test_raise_policies(option, kwargs, message):
    base = {"order": [1, 2], "item": ["a", "b"]}
    if message is None:  # duplicates: make line 2 a copy of line 1
        with pytest.raises(UpsellDataError, match=r"row 2 \(order 1\): duplicate line"):
            Transactions.from_arrays(order=[1, 1], item=["a", "a"], **option)
        return
    with pytest.raises(UpsellDataError, match=message):
        Transactions.from_arrays(**base, **kwargs, **option)


def test_invalid_drop_counts_every_reason():
    tx = Transactions.from_arrays(
        order=[1, 2, 3, None, 5], item=["a", "b", None, "d", "e"],
        quantity=[1, "x", 1, 1, float("nan")], invalid="drop")
    assert len(tx) == 1
    assert dict(tx.report.dropped) == {
        "quantity not a number": 1, "item id missing": 1, "order id missing": 1,
        "quantity missing or not finite": 1}


def test_bad_policy_names_are_refused():
    with pytest.raises(UpsellDataError, match="`returns` must be one of"):
        Transactions.from_arrays(order=[1], item=[1], returns="nett")
    with pytest.raises(UpsellDataError, match="`cancel_prefix` must be a non-empty string"):
        Transactions.from_arrays(order=[1], item=[1], cancel_prefix="")


def test_fixed_item_index():
    items = IdIndex(["a", "b", "c"], name="item")
    tx = Transactions.from_arrays(order=[1, 2], item=["c", "a"], item_index=items)
    assert tx.items is items
    assert tx.baskets().shape == (2, 3)
    with pytest.raises(UpsellDataError, match=r"row 2 \(order 2\): `item` is not in the given item index"):
        Transactions.from_arrays(order=[1, 2], item=["c", "z"], item_index=items)
    tx = Transactions.from_arrays(order=[1, 2], item=["c", "z"], item_index=items, invalid="drop")
    assert tx.report.dropped["item not in the item index"] == 1


def test_customer_items_weightings_match_formulas():
    tx = Transactions.from_arrays(
        order=[1, 1, 2, 3, 4], item=["a", "b", "a", "a", "b"], customer=["x", "x", "x", "y", "y"],
        quantity=[2, 1, 3, 1, 4], price=[1.0, 10.0, 1.0, 1.0, 10.0])
    assert tx.customer_items("count").toarray().tolist() == [[2, 1], [1, 1]]
    assert tx.customer_items("binary").toarray().tolist() == [[1, 1], [1, 1]]
    assert tx.customer_items("units").toarray().tolist() == [[5, 1], [1, 4]]
    assert tx.customer_items("value").toarray().tolist() == [[5, 10], [1, 40]]
    counts = np.array([[2.0, 1.0], [1.0, 1.0]])
    idf = np.log(2) - np.log1p(np.array([2.0, 2.0]))
    np.testing.assert_allclose(tx.customer_items("tfidf").toarray(), np.sqrt(counts) * idf,
                               rtol=1e-6)
    k1, b = 100.0, 0.8
    length = (1 - b) + b * counts.sum(1) / counts.sum(1).mean()
    bm25 = counts * (k1 + 1) / (k1 * length[:, None] + counts) * idf
    np.testing.assert_allclose(tx.customer_items("bm25").toarray(), bm25, rtol=1e-5)
    with pytest.raises(UpsellDataError, match="`weighting` must be one of"):
        tx.customer_items("tf")


def test_views_are_cached_and_read_only():
    tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"], customer=["x", "y"])
    assert tx.baskets() is tx.baskets()
    assert tx.customer_items() is tx.customer_items()
    with pytest.raises(ValueError):
        tx.baskets().data[0] = 5
    with pytest.raises(ValueError):
        tx.item[0] = 1


def test_missing_optional_columns_say_which_feature_needs_them():
    tx = Transactions.from_arrays(order=[1], item=["a"])
    with pytest.raises(UpsellDataError, match=r"customer_items\(weighting='count'\) needs the `customer` column"):
        tx.customer_items()
    with pytest.raises(UpsellDataError, match="split_at needs the `time` column"):
        tx.split_at("2011-01-01")
    with pytest.raises(UpsellDataError, match="needs the `price` column"):
        tx.price  # noqa: B018
    assert tx.quantity.tolist() == [1.0]


def test_filter_and_split_keep_indexes_and_never_overlap():
    tx = Transactions.from_arrays(
        order=[1, 2, 3, 4], item=["a", "b", "a", "c"], customer=["x", "y", "x", "z"],
        time=["2011-01-01", "2011-01-10", "2011-02-01", "2011-03-01"])
    before, after = tx.split_at("2011-02-01")
    assert len(before) + len(after) == len(tx)
    assert set(before.order.tolist()).isdisjoint(after.order.tolist())
    assert (before.time < np.datetime64("2011-02-01")).all()
    assert before.items == tx.items and after.customers == tx.customers
    assert before.customer_items().shape == tx.customer_items().shape
    assert before.report.dropped == {"at or after the split": 2}
    sub = tx.filter(customers=["x"], start="2011-01-15")
    assert sub.order.tolist() == [2]
    with pytest.raises(UpsellDataError, match="`mask` must be a boolean array of length 4"):
        tx.filter(np.array([1, 0]))
    with pytest.raises(KeyError, match="customer 'nobody'"):
        tx.filter(customers=["nobody"])
    with pytest.raises(UpsellDataError, match="`start` must be a datetime"):
        tx.filter(start="soon")


def test_order_table():
    tx = Transactions.from_arrays(
        order=["b", "a", "a"], item=[1, 1, 2], customer=["x", None, None],
        quantity=[1, 2, 3], price=[2.0, 1.0, 1.0],
        time=["2011-01-02", "2011-01-01 10:00", "2011-01-01 09:00"])
    t = tx.order_table()
    assert t.order_ids.tolist() == ["a", "b"]
    assert t.customer.tolist() == [-1, 0]
    assert t.lines.tolist() == [2, 1]
    assert t.units.tolist() == [5.0, 1.0]
    assert t.value.tolist() == [5.0, 2.0]
    assert str(t.time[0]) == "2011-01-01T09:00:00"
    df = t.to_pandas()
    assert len(df) == 2


def test_other_constructors_agree_with_from_arrays():
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    data = {"InvoiceNo": ["1", "1", "2"], "StockCode": ["a", "b", "a"],
            "CustomerID": [17850.0, 17850.0, np.nan], "Qty": [1, 2, 1],
            "When": pd.to_datetime(["2011-01-01", "2011-01-01", "2011-01-03"])}
    cols = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
            "quantity": "Qty", "time": "When"}
    df = pd.DataFrame(data)
    a = Transactions.from_pandas(df, columns=cols)
    b = Transactions.from_arrow(pa.Table.from_pandas(df), columns=cols)
    c = Transactions.from_records(df.to_dict("records"), columns=cols)
    ref = Transactions.from_arrays(order=["1", "1", "2"], item=["a", "b", "a"],
                                   customer=[17850, 17850, None], quantity=[1, 2, 1],
                                   time=["2011-01-01", "2011-01-01", "2011-01-03"])
    for tx in (a, b, c):
        assert tx.customers.ids.tolist() == [17850]
        for col in ("order", "item", "customer", "quantity", "time"):
            np.testing.assert_array_equal(getattr(tx, col), getattr(ref, col))
    with pytest.raises(UpsellDataError, match="no `item` column in the DataFrame"):
        Transactions.from_pandas(df[["InvoiceNo"]], columns={"order": "InvoiceNo"})
    with pytest.raises(UpsellDataError, match="column 'Nope' \\(for `price`\\) is not in the DataFrame"):
        Transactions.from_pandas(df, columns={**cols, "price": "Nope"})
    with pytest.raises(UpsellDataError, match="unknown role 'sku'"):
        Transactions.from_pandas(df, columns={"sku": "StockCode"})
    t = Transactions.from_records([("o1", "a"), ("o1", "b")])
    assert t.shape == (2, 1, 2)
    round_trip = a.to_pandas()
    assert round_trip["customer"].tolist()[:2] == [17850, 17850]


def test_csv_basic_and_errors(tmp_path):
    p = tmp_path / "orders.csv"
    p.write_text("order,item,quantity,price,time\n1,A,2,1.5,2011-01-01 10:00:00\n"
                 "1,B,1,3,2011-01-01 10:00:00\n2,A,1,1.5,2011-01-02 09:00:00\n")
    tx = Transactions.read_csv(p)
    assert tx.shape == (3, 2, 2)
    assert tx.orders.kind == "int"
    assert tx.order_table().value.tolist() == [6.0, 1.5]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UpsellDataError, match="is empty"):
        Transactions.read_csv(empty)
    header_only = tmp_path / "h.csv"
    header_only.write_text("order,item\n")
    with pytest.raises(UpsellDataError, match="header but no data rows"):
        Transactions.read_csv(header_only)
    with pytest.raises(UpsellDataError, match=r"column 'sku' \(for `item`\) is not in .*orders.csv"):
        Transactions.read_csv(p, columns={"item": "sku"})
    with pytest.raises(UpsellDataError, match="does not exist"):
        Transactions.read_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("order,item,quantity\n1,A,2\n2,B,abc\n")
    with pytest.raises(UpsellDataError, match=r"row 2\b.*`quantity` 'abc' is not a number"):
        Transactions.read_csv(bad)
    short = tmp_path / "short.csv"
    short.write_text("order,item,quantity\n1,A,2\n2,B\n")
    with pytest.raises(UpsellDataError, match=r"row 2\b.*has 2 fields; the header has 3"):
        Transactions.read_csv(short)


def test_repr_and_report_text():
    tx = Transactions.from_arrays(order=[1, 1], item=["a", "a"], quantity=[2, 2],
                                  duplicates="drop")
    assert "lines=1" in repr(tx)
    assert "duplicate line: 1" in str(tx.report)
    assert "<table>" in tx.report._repr_html_()


def test_identical_lines_without_a_quantity_column_are_units():
    """A file of one line per unit (no quantity column, H&M's export): a second identical
    line is a second unit, and the report says so instead of calling it a duplicate."""
    tx = Transactions.from_arrays(order=[1, 1, 1, 2], item=["a", "a", "b", "a"])
    assert dict(tx.report.flagged) == {"identical lines, one unit each (no quantity column)": 1}
    assert float(tx.quantity.sum()) == 4.0  # kept: every unit counts
    tx = Transactions.from_arrays(order=[1, 1], item=["a", "a"], duplicates="drop")
    assert dict(tx.report.dropped) == {"identical lines, one unit each (no quantity column)": 1}
    with pytest.raises(UpsellDataError, match=r"row 2 \(order 1\): duplicate line .*no "
                                              r"quantity column, so each line is one unit"):
        Transactions.from_arrays(order=[1, 1], item=["a", "a"], duplicates="raise")
    tx = Transactions.from_arrays(order=[1, 1], item=["a", "a"], quantity=[1, 1])
    assert dict(tx.report.flagged) == {"duplicate line": 1}


def test_netting_matches_per_key_totals_on_many_keys():
    # brute force: per (customer, item), kept units = max(bought - returned, 0)
    rng = np.random.default_rng(3)
    n = 20_000
    customer = rng.integers(0, 300, n)
    item = rng.integers(0, 200, n)
    order = np.arange(n) // 2
    customer = customer[order * 2]  # one customer per order
    qty = rng.integers(1, 5, n).astype(float)
    qty[rng.random(n) < 0.1] *= -1
    time = np.datetime64("2011-01-01") + rng.integers(0, 300, n).astype("timedelta64[D]")
    tx = Transactions.from_arrays(order=order, item=item, customer=customer, quantity=qty,
                                  time=time[order * 2])
    bought: dict[tuple[int, int], float] = {}
    back: dict[tuple[int, int], float] = {}
    for c, i, q in zip(customer.tolist(), item.tolist(), qty.tolist(), strict=True):
        book = bought if q > 0 else back
        book[(c, i)] = book.get((c, i), 0) + abs(q)
    kept: dict[tuple[int, int], float] = {}
    cids, iids = tx.customers.ids[tx.customer], tx.items.ids[tx.item]
    for c, i, q in zip(cids.tolist(), iids.tolist(), tx.quantity.tolist(), strict=True):
        kept[(c, i)] = kept.get((c, i), 0) + q
    want = {k: v - back.get(k, 0) for k, v in bought.items() if v - back.get(k, 0) > 0}
    assert kept == want
    r = tx.report
    n_ret = int((qty < 0).sum())
    assert r.dropped["return netted against a purchase"] + r.dropped.get(
        "return without a matching purchase", 0) == n_ret


@pytest.mark.parametrize("shuffle", [False, True])
def test_duplicate_raise_names_the_later_copy(shuffle):
    """Sorted input skips the sort, shuffled input takes it; both name the same line."""
    order = [1, 1, 2, 2, 2, 3]
    item = ["a", "b", "a", "a", "a", "c"]
    quantity = [1, 1, 2, 3, 2, 1]
    idx = [5, 3, 0, 4, 2, 1] if shuffle else list(range(6))
    later = max(idx.index(2), idx.index(4)) + 1  # the copies of each other are rows 2 and 4
    with pytest.raises(UpsellDataError, match=rf"row {later} \(order 2\): duplicate line"):
        Transactions.from_arrays(order=[order[i] for i in idx], item=[item[i] for i in idx],
                                 quantity=[quantity[i] for i in idx], duplicates="raise")


# ---------------------------------------------------------------- names and line totals
def test_names_most_frequent_per_item_and_ids_where_unknown():
    tx = Transactions.from_arrays(order=[1, 2, 3, 4, 5], item=["a", "a", "a", "b", "c"],
                                  name=["Mug", "mug", "Mug", None, ""])
    assert tx.has("name")
    assert tx.item_names().tolist() == ["Mug", "b", "c"]
    plain = Transactions.from_arrays(order=[1], item=[7])
    assert not plain.has("name") and plain.item_names().tolist() == ["7"]


def test_names_survive_cleaning_subsets_and_csv(tmp_path):
    tx = Transactions.from_arrays(
        order=[1, 1, 2, 3], item=["a", "b", "c", "b"], customer=["x", "x", "y", "y"],
        quantity=[1, 1, 0, 2], price=[1.0, 2.0, 3.0, 2.0], name=["A n", "B, n", "C n", "B, n"],
        time=["2011-01-01", "2011-01-01", "2011-01-02", "2011-02-01"])
    assert tx.items.ids.tolist() == ["a", "b"]  # c: zero quantity, dropped
    assert tx.item_names().tolist() == ["A n", "B, n"]
    before, after = tx.split_at("2011-01-15")
    assert before.item_names().tolist() == after.item_names().tolist() == ["A n", "B, n"]
    assert tx.filter(items=["b"]).item_names().tolist() == ["A n", "B, n"]
    tx.to_csv(tmp_path / "n.csv")
    back = Transactions.read_csv(tmp_path / "n.csv")
    assert back.item_names().tolist() == ["A n", "B, n"]
    assert "name" in tx.to_pandas().columns


def test_value_role_gives_unit_prices(tmp_path):
    tx = Transactions.from_arrays(order=[1, 1, 2, 3], item=["a", "b", "a", "c"],
                                  quantity=[2, 4, 0, 5], value=[5.0, 2.0, 9.0, -5.0])
    assert tx.price.tolist() == [2.5, 0.5]  # zero quantity dropped; negative price dropped
    assert tx.report.dropped == {"zero quantity": 1, "price zero or negative": 1}
    with pytest.raises(UpsellDataError, match="`price` nan is missing"):
        Transactions.from_arrays(order=[1], item=["a"], quantity=[1], value=[float("nan")])
    p = tmp_path / "v.csv"
    p.write_text("Invoice,Sku,Qty,sales_value,Description\n1,A,2,7.0,Tea\n1,B,1,3.5,Mug\n")
    got = Transactions.read_csv(p, columns={"order": "Invoice", "item": "Sku",
                                            "quantity": "Qty", "value": "sales_value",
                                            "name": "Description"})
    assert got.price.tolist() == [3.5, 3.5] and got.item_names().tolist() == ["Tea", "Mug"]
    import pandas as pd

    df = pd.read_csv(p)
    cols = {"order": "Invoice", "item": "Sku", "quantity": "Qty", "value": "sales_value",
            "name": "Description"}
    from_df = Transactions.from_pandas(df, columns=cols)
    assert from_df.price.tolist() == [3.5, 3.5] and from_df.item_names().tolist() == ["Tea", "Mug"]
    recs = Transactions.from_records(df.to_dict("records"), columns=cols)
    assert recs.item_names().tolist() == ["Tea", "Mug"]


def test_order_table_shows_external_customer_ids():
    tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "a", "b"],
                                  customer=[17850, None, 13047])
    t = tx.order_table()
    assert t.customer_ids.tolist() == [17850, None, 13047]
    assert t.customer.tolist() == [1, -1, 0]


def test_catalog_from_transactions_median_prices():
    from upsell.data import Catalog

    tx = Transactions.from_arrays(order=[1, 2, 3, 4, 5], item=["a", "a", "a", "a", "b"],
                                  price=[1.0, 2.0, 4.0, 100.0, 3.0], name=["A"] * 4 + [None])
    cat = Catalog.from_transactions(tx)
    assert cat.items == tx.items
    assert cat.price.tolist() == [3.0, 3.0] and cat.name.tolist() == ["A", "b"]
    bare = Catalog.from_transactions(Transactions.from_arrays(order=[1], item=["z"]))
    assert np.isnan(bare.price).all() and bare.name.tolist() == ["z"]


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["n1", "n2", "n3", None]),
                                st.floats(0.5, 50).map(lambda x: round(x, 2))),
                      min_size=1, max_size=25),
       seed=st.integers(0, 2**16))
def test_names_and_derived_prices_do_not_depend_on_row_order(lines, seed):
    from upsell.data import Catalog

    items = [f"i{it}" for it, _, _ in lines]
    names = [nm for _, nm, _ in lines]
    prices = [p for _, _, p in lines]
    a = Transactions.from_arrays(order=list(range(len(lines))), item=items, name=names,
                                 price=prices)
    perm = np.random.default_rng(seed).permutation(len(lines))
    b = Transactions.from_arrays(order=perm.tolist(), item=[items[i] for i in perm],
                                 name=[names[i] for i in perm], price=[prices[i] for i in perm])
    assert a.item_names().tolist() == b.item_names().tolist()
    ca, cb = Catalog.from_transactions(a), Catalog.from_transactions(b)
    assert ca.price.tolist() == cb.price.tolist()
    for k, item in enumerate(a.items.ids.tolist()):
        mine = [p for it, p in zip(items, prices, strict=True) if it == item]
        assert ca.price[k] == pytest.approx(float(np.median(mine)))
        counts: dict[str, int] = {}
        for it, nm in zip(items, names, strict=True):
            if it == item and nm:
                counts[nm] = counts.get(nm, 0) + 1
        want = min((-c, nm) for nm, c in counts.items())[1] if counts else item
        assert a.item_names()[k] == want


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=30),
       n_keys=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_group_order_is_lexsort(sizes, n_keys, seed):
    from upsell.data._clean import _group_order

    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(len(sizes)), sizes)
    pool = np.array([-0.0, 0.0, 1.5, -2.0, 3.0, np.inf])
    keys = [rng.choice(pool, group.size) if j % 2 == 0 else rng.integers(-3, 3, group.size)
            for j in range(n_keys)]
    want = np.lexsort([*reversed(keys), group]) if keys else np.arange(group.size)
    assert _group_order(group, keys).tolist() == want.tolist()


def test_times_of_filter_and_split_at_parse_like_every_time_argument():
    """One parser (upsell._validation.as_time): offsets, datetimes, epoch seconds; no year 500."""
    import datetime as dt

    tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"],
                                  time=["2011-01-01T10:00", "2011-01-01T12:00"])
    same = [tx.filter(start=s) for s in ("2011-01-01T12:30+01:00", "2011-01-01T11:30Z",
                                         dt.datetime(2011, 1, 1, 11, 30),
                                         np.datetime64("2011-01-01T11:30"), 1_293_881_400)]
    assert [len(s) for s in same] == [1] * 5
    assert [len(part) for part in tx.split_at(dt.date(2011, 1, 2))] == [2, 0]
    for bad in ("0500-01-01", True, dt.timedelta(days=1)):
        with pytest.raises(UpsellDataError, match="`end` must be a datetime"):
            tx.filter(end=bad)
    with pytest.raises(TypeError, match="`transactions` must be Transactions; got list"):
        Catalog.from_transactions([])


def test_time_format_for_arrays_and_frames_and_the_advice_without_it():
    times = ["31/12/2011 23:59", "31/12/2011 23:59", "1/2/2012 8:05"]
    with pytest.raises(UpsellDataError, match=r"pass time_format='%d/%m/%Y %H:%M' \(a first "
                                              r"field above 12"):
        Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"], time=times)
    tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
                                  time=np.array(times, dtype=object), time_format="%d/%m/%Y %H:%M")
    assert [str(t) for t in tx.time] == ["2011-12-31T23:59:00", "2011-12-31T23:59:00",
                                         "2012-02-01T08:05:00"]
    with pytest.raises(UpsellDataError, match=r"row 1: `time` '31/12/2011 23:59' is not a "
                                              r"timestamp \(expected time_format '%m/%d/%Y %H:%M'\)"):
        Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"], time=times,
                                 time_format="%m/%d/%Y %H:%M")
    kept = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"], time=times,
                                    time_format="%m/%d/%Y %H:%M", invalid="drop")
    assert kept.report.dropped == {"time not a timestamp": 2} and len(kept.orders) == 1
    # datetime values ignore the format; a bad format is named
    dt = Transactions.from_arrays(order=[1], item=["a"], time=np.array(["2011-01-01"], "M8[s]"),
                                  time_format="%d/%m/%Y")
    assert str(dt.time[0]) == "2011-01-01T00:00:00"
    with pytest.raises(UpsellDataError, match="`time_format` must be a strptime format"):
        Transactions.from_arrays(order=[1], item=["a"], time=["x"], time_format="dd/mm")


def test_a_read_holds_text_ids_as_bytes_and_the_order_table_no_text(tmp_path):
    # H&M's layout: no order column (a customer's lines of one day), hashed customer ids
    cust = [f"{i:064x}" for i in (5, 9, 5, 7)]
    days = (1, 1, 2, 1)
    rows = [f"{c},2019-05-{d:02d},01000{j}"
            for j, (c, d) in enumerate(zip(cust, days, strict=True))]
    path = tmp_path / "hm.csv"
    path.write_text("customer_id,t_dat,article_id\n" + "\n".join(rows + rows[:1]) + "\n")
    tx = Transactions.read_csv(path, columns={"order": ("customer_id", "t_dat"),
                                              "customer": "customer_id", "time": "t_dat",
                                              "item": "article_id"})
    assert len(tx.orders) == 4 and len(tx.customers) == 3
    before = tx.orders.nbytes + tx.customers.nbytes
    # one byte a character (the order ids: 64 + "|" + 10), not numpy's four
    assert tx.orders.nbytes <= 4 * 75 + 4 * 4 and tx.customers.nbytes <= 3 * 64 + 3 * 4
    t = tx.order_table()
    assert t.order_ids.tolist() == sorted(f"{c}|2019-05-{d:02d}"
                                          for c, d in zip(cust, days, strict=True))
    assert t.customer_ids.tolist() == [cust[0], cust[2], cust[3], cust[1]]
    assert tx.orders.nbytes + tx.customers.nbytes == before  # nothing widened to build it


def test_unit_costs_from_a_cost_or_a_profit_column():
    tx = Transactions.from_arrays(order=[1, 1, 2, 3, 4], item=["a", "b", "a", "a", "b"],
                                  price=[10.0, 4.0, 10.0, 12.0, 4.0], quantity=[1, 2, 2, 1, -1],
                                  profit=[4.0, 2.0, 8.0, 5.0, -1.0], customer=[1, 1, 2, 2, 1])
    # a: 10 - 4/1 = 6, 10 - 8/2 = 6, 12 - 5 = 7 -> median 6; b: 4 - 2/2 = 3 (the return's
    # line is netted against the purchase, its profit not a cost of its own)
    assert tx.has("cost") and tx.item_costs().tolist() == [6.0, 3.0]
    # a cost column wins over profit; a blank cost is unknown, not a reason to drop the line
    tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "a", "b"], price=[10.0] * 3,
                                  cost=[5.0, 7.0, np.nan], profit=[0.0, 0.0, 0.0])
    assert len(tx) == 3 and tx.item_costs()[0] == 6.0 and np.isnan(tx.item_costs()[1])
    assert tx.filter(np.array([True, False, True])).item_costs()[0] == 6.0
    assert not Transactions.from_arrays(order=[1], item=["a"]).has("cost")
    assert np.isnan(Transactions.from_arrays(order=[1], item=["a"]).item_costs()).all()
    with pytest.raises(UpsellDataError, match=r"row 1: `cost` 'n/a' is not a "
                                              r"number"):
        Transactions.from_arrays(order=[1], item=["a"], cost=["n/a"])


def test_a_superstore_export_is_read_with_its_profit(tmp_path):
    p = tmp_path / "superstore.csv"
    p.write_text("Row ID,Order ID,Order Date,Customer ID,Product ID,Product Name,Sales,"
                 "Quantity,Discount,Profit\n"
                 "1,CA-2016-152156,11/8/2016,CG-12520,FUR-BO-10001798,Bookcase,261.96,2,0,41.91\n"
                 "2,CA-2016-152156,11/8/2016,CG-12520,FUR-CH-10000454,Chairs,731.94,3,0,219.58\n"
                 "3,US-2015-108966,10/11/2015,SO-20335,FUR-BO-10001798,Bookcase,957.58,5,0.45,"
                 "-383.03\n")
    with pytest.raises(UpsellDataError, match=r"look like columns=\{'order': 'Order ID', 'item': "
                       r"'Product ID', 'customer': 'Customer ID', 'quantity': 'Quantity', "
                       r"'time': 'Order Date', 'name': 'Product Name', 'value': 'Sales', "
                       r"'profit': 'Profit'\}"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, time_format="%m/%d/%Y", columns={
        "order": "Order ID", "item": "Product ID", "customer": "Customer ID",
        "quantity": "Quantity", "time": "Order Date", "value": "Sales", "profit": "Profit"})
    # Bookcase: (261.96 - 41.91) / 2 and (957.58 + 383.03) / 5; Chairs (731.94 - 219.58) / 3
    want = [np.median([110.025, 268.122]), (731.94 - 219.58) / 3]
    assert np.allclose(tx.item_costs(), want)
    from upsell import Catalog

    assert np.allclose(Catalog.from_transactions(tx).cost, want)


def test_unit_costs_survive_to_csv_and_back(tmp_path):
    tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "a", "b"], price=[10.0, 9.0, 4.0],
                                  profit=[4.0, 2.5, np.nan], customer=[1, 2, 1])
    tx.to_csv(tmp_path / "lines.csv")
    head = (tmp_path / "lines.csv").read_text().splitlines()[0]
    assert head == "order,item,customer,quantity,price,cost"
    back = Transactions.read_csv(tmp_path / "lines.csv")
    assert np.allclose(back.item_costs(), tx.item_costs(), equal_nan=True)
    assert tx.item_costs()[0] == 6.25 and np.isnan(tx.item_costs()[1])


def test_cost_headers_are_advised_but_a_purchase_price_is_not_a_cost():
    from upsell.data._suggest import suggest_columns

    got = suggest_columns(["Order", "SKU", "Qty", "Unit Price", "Unit Cost", "Date"])
    assert (got["price"], got["cost"]) == ("Unit Price", "Unit Cost")
    # in order lines a "Purchase Price" may be what the customer paid: no guess
    assert "cost" not in suggest_columns(["Order", "SKU", "Purchase Price"])


def test_an_anonymous_return_nets_against_its_own_order():
    """A till's void (Walmart's negative scan count): no customer, so the return nets
    against the purchases of its own order, and only those."""
    tx = Transactions.from_arrays(order=[1, 1, 1, 2, 3], item=["a", "a", "b", "a", "a"],
                                  quantity=[2, -1, 1, 1, -1])
    assert tx.quantity.tolist() == [1.0, 1.0, 1.0]
    assert tx.report.dropped == {"return netted against a purchase": 1,
                                 "return without a matching purchase": 1}
    named = Transactions.from_arrays(order=[1, 1, 2, 3], item=["a", "a", "a", "a"],
                                     quantity=[2, -2, 3, -1], customer=[None, None, "u", "u"])
    assert named.quantity.tolist() == [2.0]  # u's 3 less 1; the anonymous 2 voided
    assert named.report.dropped == {"fully returned": 1, "return netted against a purchase": 2}


@pytest.mark.parametrize("n", [2, 100])
def test_times_ending_in_utc_or_gmt_read_without_a_numpy_warning(n):
    import warnings

    for zone in ("UTC", "GMT"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tx = Transactions.from_arrays(order=np.arange(n), item=["a"] * n,
                                          time=[f"2010-12-01 08:26:00 {zone}"] * n)
        assert str(tx.time[0]) == "2010-12-01T08:26:00", zone
