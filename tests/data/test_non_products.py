"""non_product_items: fees, shipping and adjustments found by catalog kinds or the id pattern."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from upsell import Catalog, Transactions
from upsell.data import NonProductItems, non_product_items
from upsell.data._non_products import _shape
from upsell.datasets import make_shop
from upsell.exceptions import UpsellDataError, UpsellTypeError


def _shop(products: list[str], extras: list[str]) -> Transactions:
    """One order per product, each extra in the first orders (a fee on several orders)."""
    order = list(range(len(products)))
    item = list(products)
    for j, e in enumerate(extras):
        order += [j, j + 1]
        item += [e, e]
    return Transactions.from_arrays(order=order, item=item, quantity=[1] * len(item),
                                    price=[2.0] * len(item))


@pytest.mark.parametrize(("item_id", "shape"), [
    ("85123A", "9A"), ("POST", "A"), ("C2", "A9"), ("BANK CHARGES", "A A"), ("22423", "9"),
    ("gift_0001_10", "A_9_9"), ("m", "A"), ("15056BL", "9A"), ("I00010", "A9"),
    ("crème brûlée", "A A"), ("", "")])
def test_shape(item_id: str, shape: str) -> None:
    assert _shape(item_id) == shape


def test_rare_shapes_are_flagged_most_lines_first() -> None:
    products = [str(10000 + i) for i in range(60)] + [f"{20000 + i}A" for i in range(30)]
    tx = _shop(products, ["M", "POST", "POST", "BANK CHARGES"])
    found = non_product_items(tx)
    assert isinstance(found, NonProductItems)
    assert found.method == "id shapes" and found.pattern == ("9", "9A")
    assert found.items.tolist() == ["POST", "BANK CHARGES", "M"]
    assert found.lines.tolist() == [4, 2, 2]
    assert np.isclose(found.line_share.sum(), 8 / len(tx))
    assert np.isclose(found.revenue_share.sum(), 8 / len(tx))  # every line is worth 2.0
    assert "id shape 'A A'" in found.reason[1] and "90 of 93 items" in found.reason[1]
    assert found.n_items == 93 and len(found) == 3
    df = found.to_pandas()
    assert list(df["item"]) == ["POST", "BANK CHARGES", "M"]
    assert "NonProductItems(3 of 93 items" in repr(found)
    assert "POST" in found._repr_html_()


def test_nothing_is_dropped() -> None:
    tx = _shop([str(10000 + i) for i in range(60)], ["POST"])
    before = len(tx)
    non_product_items(tx)
    assert len(tx) == before


def test_all_numeric_ids_flag_nothing() -> None:
    tx = Transactions.from_arrays(order=[1, 1, 2, 3], item=[5, 17, 5, 123456])
    found = non_product_items(tx)
    assert len(found) == 0 and found.method == "none" and "whole numbers" in found.note


def test_one_shape_flags_nothing() -> None:
    shop = make_shop(n_customers=100, n_items=40, n_orders=300, random_state=0)
    found = non_product_items(shop.transactions, shop.catalog)
    assert len(found) == 0 and found.method == "none"


def test_free_text_ids_flag_nothing() -> None:
    # product names as ids (Groceries): many shapes, none dominant
    names = ([f"whole {c}" for c in "abcdefghijklmnopqrst"] + [f"soda{c}" for c in "abcdefghijklmno"]
             + ["long life bakery", "instant food products", "rolls/buns", "red/blush",
                "flower (seeds)"])
    found = non_product_items(_shop(names, []))
    assert len(found) == 0 and "no few shapes" in found.note


def test_a_second_product_line_is_not_fees() -> None:
    # 3% of the items share a code pattern of their own: a product line, nothing flagged
    products = [str(10000 + i) for i in range(600)] + [f"DC{i}X" for i in range(19)]
    found = non_product_items(_shop(products, []))
    assert len(found) == 0 and "product line" in found.note


def test_share_widens_the_pattern() -> None:
    products = [str(10000 + i) for i in range(60)] + [f"{i}A" for i in range(2)]
    tx = _shop(products, ["POST"])
    # "9" holds 60 of 63 items (95.2%): the two "9A" items are flagged with POST
    assert non_product_items(tx).pattern == ("9",)
    assert sorted(non_product_items(tx).items.tolist()) == ["0A", "1A", "POST"]
    # at 97% the pattern needs "9A" too: POST alone
    found = non_product_items(tx, share=0.97)
    assert found.pattern == ("9", "9A") and found.items.tolist() == ["POST"]
    # at 99% it would need every shape: nothing unlike the pattern
    assert len(non_product_items(tx, share=0.99)) == 0


@pytest.mark.parametrize("kind_col", ["type", "item_type", "product_type", "line_type"])
@pytest.mark.parametrize("value", ["Fee", "shipping", "NON-PRODUCT", " service ", "Postage"])
def test_catalog_kind_column_decides(kind_col: str, value: str) -> None:
    tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["A1", "SHIP", "A2", "ZZZ"])
    cat = Catalog.from_records([{"item": "A1", kind_col: "product"},
                                {"item": "A2", kind_col: "product"},
                                {"item": "SHIP", kind_col: value},
                                {"item": "ZZZ", kind_col: "product"}])
    found = non_product_items(tx, cat)
    assert found.method == "catalog"
    assert found.items.tolist() == ["SHIP"]
    assert found.reason[0] == f"catalog {kind_col} {value!r}"


def test_catalog_column_without_fees_flags_nothing_even_for_rare_shapes() -> None:
    products = [str(10000 + i) for i in range(60)]
    tx = _shop(products, ["POST"])
    cat = Catalog.from_records([{"item": i, "type": "goods"} for i in [*products, "POST"]])
    found = non_product_items(tx, cat)
    assert len(found) == 0 and found.method == "catalog"
    # without the column, the id pattern flags POST
    assert non_product_items(tx, Catalog.from_records([{"item": "POST"}])).items.tolist() \
        == ["POST"]


def test_names_come_from_the_lines() -> None:
    products = [str(10000 + i) for i in range(60)]
    tx = Transactions.from_arrays(order=[*range(60), 0], item=[*products, "POST"],
                                  name=["thing"] * 60 + ["POSTAGE"])
    found = non_product_items(tx)
    assert found.names.tolist() == ["POSTAGE"]
    assert np.isnan(found.revenue_share).all()  # no prices: revenue unknown


def test_bad_arguments() -> None:
    tx = Transactions.from_arrays(order=[1], item=["a"])
    with pytest.raises(UpsellTypeError, match="transactions"):
        non_product_items([1, 2])  # type: ignore[arg-type]
    with pytest.raises(UpsellTypeError, match="catalog"):
        non_product_items(tx, {"a": 1})  # type: ignore[arg-type]
    with pytest.raises(UpsellDataError, match="share"):
        non_product_items(tx, share=0.3)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=40, unique=True))
def test_integer_ids_never_flagged(ids: list[int]) -> None:
    tx = Transactions.from_arrays(order=list(range(len(ids))), item=ids)
    assert len(non_product_items(tx)) == 0


@given(st.lists(st.text("0123456789AZaz-_/", min_size=1, max_size=8), min_size=1,
                max_size=60, unique=True))
def test_flagged_items_are_a_small_share_of_distinct_shapes(ids: list[str]) -> None:
    tx = Transactions.from_arrays(order=list(range(len(ids))), item=ids)
    found = non_product_items(tx)
    assert len(found) <= 0.05 * len(tx.items) + 1e-9
    kept_shapes = {_shape(str(i)) for i in tx.items.ids} - {_shape(str(i)) for i in found.items}
    assert all(_shape(str(i)) not in kept_shapes for i in found.items)
    assert set(found.pattern) <= kept_shapes


@pytest.mark.realdata
def test_online_retail_flags_fees_and_postage(online_retail_path: object) -> None:
    tx = Transactions.read_csv(
        online_retail_path,
        columns={"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
                 "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate",
                 "name": "Description"}, cancel_prefix="C")
    found = non_product_items(tx)
    flagged = set(found.items.tolist())
    assert {"POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "B", "S"} <= flagged
    assert found.items[:4].tolist() == ["POST", "DOT", "M", "C2"]
    assert found.pattern == ("9", "9A")
    # every other flagged item: marketplace codes (DCGS...), vouchers and PADS, all rare
    others = flagged - {"POST", "DOT", "M", "m", "C2", "BANK CHARGES", "AMAZONFEE", "B", "S"}
    assert all(o.startswith(("DCGS", "gift_", "PADS")) for o in others)
    assert found.line_share.sum() < 0.01


@pytest.mark.realdata
def test_other_real_files_flag_nothing(groceries_path: object, retail_path: object,
                                       cdnow_master_path: object) -> None:
    from upsell.datasets import load_cdnow, read_baskets

    for tx in (read_baskets(groceries_path), read_baskets(retail_path),
               load_cdnow(cdnow_master_path)):
        assert len(non_product_items(tx)) == 0


@given(st.permutations(list(range(206))))
def test_independent_of_row_order(order: list[int]) -> None:
    items = [str(10000 + i) for i in range(200)] + ["POST", "DOT", "M", "C2", "8A", "9A"]
    tx = Transactions.from_arrays(order=order, item=items)
    found = non_product_items(tx)
    assert set(found.items.tolist()) == {"POST", "DOT", "M", "C2", "8A", "9A"}
