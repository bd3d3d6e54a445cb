"""The hashing fast path for Python lists of ids agrees with the general column path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Transactions
from upsell.data import _columns
from upsell.exceptions import UpsellDataError


def _general(values, name="item"):
    # the general path: what factorize_column does for anything but a list or tuple
    return _columns.factorize_column(np.array(values, dtype=object), name)


def _same(a, b):
    codes_a, index_a, miss_a, unknown_a = a
    codes_b, index_b, miss_b, unknown_b = b
    assert codes_a.tolist() == codes_b.tolist()
    assert index_a.ids.tolist() == index_b.ids.tolist()
    assert miss_a.tolist() == miss_b.tolist()
    assert unknown_a.tolist() == unknown_b.tolist()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["a", "b ", " b", "", "  ", "c", "ü"]), min_size=1, max_size=30))
def test_string_lists_match_the_general_path(values):
    if not any(v.strip() for v in values):
        return
    fast = _columns.factorize_column(values, "item")
    assert _columns._factorize_list(values, "item") is not None
    _same(fast, _general(values))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30))
def test_int_lists_match_the_general_path(values):
    _same(_columns.factorize_column(tuple(values), "order"), _general(values, "order"))


@pytest.mark.parametrize("values", [
    ["a", None, "b"], [1, 2.0], [1, "a"], [True, False], [2**70, 1], [["x"], "y"], [1.5, 2.5],
    [1, True], [0, False, 2], [1, 1.0],
])
def test_other_content_takes_the_general_path(values):
    assert _columns._factorize_list(values, "item") is None


def test_booleans_equal_to_ids_are_not_merged_into_them():
    with pytest.raises(UpsellDataError, match=r"position 1 holds True \(bool\)"):
        Transactions.from_arrays(order=[1, 2], item=[1, True])


def test_nul_and_mixed_ids_are_refused_with_the_column_name():
    with pytest.raises(UpsellDataError, match="NUL"):
        _columns.factorize_column(["a", "b\x00"], "item")
    with pytest.raises(UpsellDataError, match="item"):
        Transactions.from_arrays(order=[1, 2], item=[1, "a"])


def test_from_arrays_on_lists_reports_blank_items():
    tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["a", " ", "b", "a"], invalid="drop")
    assert tx.items.ids.tolist() == ["a", "b"]
    assert tx.report.n_dropped == 1
    assert tx.report.rows_kept == 3


def test_suggest_columns_maps_common_export_headers_once_each():
    from upsell.data._columns import suggest_columns

    olist = ["order_id", "order_item_id", "product_id", "seller_id", "price", "freight_value",
             "customer_unique_id", "order_purchase_timestamp"]
    assert suggest_columns(olist) == {
        "order": "order_id", "item": "product_id", "customer": "customer_unique_id",
        "price": "price", "time": "order_purchase_timestamp"}
    # a role already read keeps its column; "Date" and "date" are one header for one role
    assert suggest_columns(["order", "SKU", "Date", "date"], {"order": 0}) == {
        "item": "SKU", "time": "Date"}
    assert suggest_columns(["a", "b"]) == {}


@pytest.mark.parametrize("headers, want", [
    # Magento's order grid export: "Order #", "Qty Ordered"
    (["Order #", "Purchase Date", "Bill-to Name", "Grand Total (Base)", "Status", "SKU",
      "Product Name", "Qty Ordered", "Price", "Customer Email"],
     {"order": "Order #", "item": "SKU", "customer": "Customer Email",
      "quantity": "Qty Ordered", "price": "Price", "time": "Purchase Date",
      "name": "Product Name"}),
    # BigCommerce and Ecwid: every line column starts with "Product"
    (["Order ID", "Order Date", "Customer ID", "Product ID", "Product SKU", "Product Name",
      "Product Qty", "Product Unit Price", "Order Total (inc tax)"],
     {"order": "Order ID", "item": "Product ID", "customer": "Customer ID",
      "quantity": "Product Qty", "price": "Product Unit Price", "time": "Order Date",
      "name": "Product Name"}),
    (["Order Number", "Order Date", "Customer Email", "Product SKU", "Product Name",
      "Product Quantity", "Product Price"],
     {"order": "Order Number", "item": "Product SKU", "customer": "Customer Email",
      "quantity": "Product Quantity", "price": "Product Price", "time": "Order Date",
      "name": "Product Name"}),
    # Etsy's sold order items: the buyer's user name, "Sale Date"
    (["Sale Date", "Item Name", "Buyer", "Quantity", "Price", "Item Total", "Transaction ID",
      "Order ID", "SKU"],
     {"order": "Order ID", "item": "SKU", "customer": "Buyer", "quantity": "Quantity",
      "price": "Price", "time": "Sale Date", "name": "Item Name", "value": "Item Total"}),
    # Amazon's orders report: "item-price" is the line's total, beside "amazon-order-id"
    (["amazon-order-id", "merchant-order-id", "purchase-date", "order-status", "product-name",
      "sku", "asin", "quantity", "currency", "item-price", "item-tax"],
     {"order": "amazon-order-id", "item": "sku", "quantity": "quantity",
      "time": "purchase-date", "name": "product-name", "value": "item-price"}),
    # Ta-Feng: "AMOUNT" is the units and "SALES_PRICE" the line's total
    (["TRANSACTION_DT", "CUSTOMER_ID", "AGE_GROUP", "PIN_CODE", "PRODUCT_SUBCLASS",
      "PRODUCT_ID", "AMOUNT", "ASSET", "SALES_PRICE"],
     {"item": "PRODUCT_ID", "customer": "CUSTOMER_ID", "quantity": "AMOUNT",
      "time": "TRANSACTION_DT", "value": "SALES_PRICE"}),
    # no synonym, but the shape of a count and of an amount (CDNOW, a payments export)
    (["customer_id", "date", "number_of_cds", "dollar_value"],
     {"customer": "customer_id", "quantity": "number_of_cds", "time": "date",
      "value": "dollar_value"}),
    (["Customer", "Paid At", "Order Amount"],
     {"customer": "Customer", "time": "Paid At", "value": "Order Amount"}),
    # dunnhumby's "Let's Get Sort of Real": no synonym, ids and the date by their shapes
    (["SHOP_WEEK", "SHOP_DATE", "SHOP_HOUR", "QUANTITY", "SPEND", "PROD_CODE", "PROD_CODE_10",
      "CUST_CODE", "CUST_PRICE_SENSITIVITY", "BASKET_ID", "BASKET_SIZE", "STORE_CODE"],
     {"order": "BASKET_ID", "item": "PROD_CODE", "customer": "CUST_CODE",
      "quantity": "QUANTITY", "time": "SHOP_DATE", "value": "SPEND"}),
    (["TxnKey", "txn_ts", "GoodsRef", "ShopperNbr", "sales_commission_code", "SalesRepId",
      "BillingAddressId", "PartnerId"],  # (a salesperson, an address: no order or item)
     {"order": "TxnKey", "item": "GoodsRef", "customer": "ShopperNbr", "time": "txn_ts"}),
    # Walmart's trip types (a visit is an order; negative scan counts are returns) and
    # Pakistan's e-commerce data (Magento: the order number is "increment_id")
    (["TripType", "VisitNumber", "Weekday", "Upc", "ScanCount", "DepartmentDescription"],
     {"order": "VisitNumber", "item": "Upc", "quantity": "ScanCount"}),
    # Maven's coffee shop sales: the names in "product_detail"
    (["transaction_id", "transaction_date", "transaction_qty", "product_id", "unit_price",
      "product_category", "product_detail"],
     {"order": "transaction_id", "item": "product_id", "quantity": "transaction_qty",
      "price": "unit_price", "time": "transaction_date", "name": "product_detail"}),
    # Kaggle's supermarket and retail sales files name no product: the category is the item
    (["Invoice ID", "Branch", "Customer type", "Product line", "Unit price", "Quantity",
      "Total", "Date", "Time", "cogs"],
     {"order": "Invoice ID", "quantity": "Quantity", "price": "Unit price", "time": "Date",
      "item": "Product line"}),
    (["Transaction ID", "Date", "Customer ID", "Product Category", "Quantity",
      "Price per Unit", "Total Amount"],
     {"order": "Transaction ID", "customer": "Customer ID", "quantity": "Quantity",
      "price": "Price per Unit", "time": "Date", "item": "Product Category"}),
    # elsewhere "Item Price" is a unit price
    (["Order No.", "Item No.", "Item Description", "Item Price", "Qty"],
     {"order": "Order No.", "item": "Item No.", "name": "Item Description",
      "price": "Item Price", "quantity": "Qty"}),
])
def test_suggest_columns_knows_the_shop_platforms_exports(headers, want):
    from upsell.data._columns import suggest_columns

    assert suggest_columns(headers) == want


def test_missing_order_column_names_the_mapping_to_pass():
    with pytest.raises(UpsellDataError) as err:
        _columns.resolve_columns(["InvoiceNo", "StockCode", "Qty"], None, source="f.csv")
    assert str(err.value).endswith(
        "its headers look like columns={'order': 'InvoiceNo', 'item': 'StockCode', "
        "'quantity': 'Qty'}")
    with pytest.raises(UpsellDataError) as err:
        _columns.resolve_columns(["a", "b"], None, source="f.csv")
    assert "look like" not in str(err.value)


def test_joined_headers_outside_read_csv_say_how_to_build_the_column():
    import pandas as pd

    frame = pd.DataFrame({"cust": ["a", "a"], "day": ["d1", "d2"], "sku": ["x", "y"]})
    with pytest.raises(UpsellDataError, match=r"which Transactions.read_csv does; for the "
                                              r"DataFrame build the column first"):
        Transactions.from_pandas(frame, columns={"order": ("cust", "day"), "item": "sku"})


def test_a_file_of_many_headers_says_how_many_it_does_not_list():
    heads = [f"col{i}" for i in range(25)]
    with pytest.raises(UpsellDataError, match=r"'col19' and 5 more"):
        _columns.resolve_columns(heads, None, source="f.csv")


def test_a_category_advised_as_the_item_is_said_to_be_one():
    with pytest.raises(UpsellDataError, match=r"'item': 'category'\}; it names no "
                       r"product: the categories in 'category' are advised as the items$"):
        _columns.resolve_columns(["invoice_no", "customer_id", "category", "quantity"], None,
                                 source="customer_shopping_data.csv")
