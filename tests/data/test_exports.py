"""Shop platform exports as they come: Shopify's order export (an order's time and customer
on its first line only, zone offsets after a space, currency-formatted prices), common
time formats named by the errors."""

from __future__ import annotations

import io

import numpy as np
import pytest

from upsell._validation import to_datetime64
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

SHOPIFY = """Name,Email,Financial Status,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku
#1001,ann@example.com,paid,2021-03-04 10:15:32 -0500,1,Espresso Machine,$249.00,ESP-1
#1001,,,,2,Descaler,$9.50,DSC-2
#1002,bob@example.com,paid,2021-03-05 11:00:00 -0500,1,"Grinder, burr","$1,049.00",GRD-1
#1003,ann@example.com,paid,2021-04-05 09:00:00 -0400,3,Descaler,$9.50,DSC-2
"""
SHOPIFY_COLUMNS = {"order": "Name", "customer": "Email", "time": "Created at",
                   "quantity": "Lineitem quantity", "name": "Lineitem name",
                   "price": "Lineitem price", "item": "Lineitem sku"}


@pytest.mark.parametrize(("text", "utc"), [
    ("2021-03-04 10:15:32 -0500", "2021-03-04T15:15:32"),
    ("2021-03-04 10:15:32 +05:30", "2021-03-04T04:45:32"),
    ("2021-03-04T10:15:32.123Z", "2021-03-04T10:15:32"),
    ("2021-03-04 10:15:32 UTC", "2021-03-04T10:15:32"),
    ("2021-03-04 10:15:32 GMT", "2021-03-04T10:15:32"),
    ("2021-03-04T10:15-05", "2021-03-04T15:15:00"),
])
def test_zone_forms_of_exports_are_read_at_their_utc_instant(text, utc):
    assert to_datetime64(text) == np.datetime64(utc)


def test_a_zone_name_is_nat_without_a_numpy_warning():
    # filterwarnings = error: numpy's "no explicit representation of timezones" would fail
    assert np.isnat(to_datetime64("2021-03-04 10:15:32 EST"))


def test_a_shopify_export_reads_with_its_order_level_fields_filled(tmp_path):
    path = tmp_path / "orders_export.csv"
    path.write_text(SHOPIFY)
    tx = Transactions.read_csv(path, columns=SHOPIFY_COLUMNS)
    assert tx.shape == (4, 3, 3)
    assert tx.report.repaired == {"price read from a formatted number ('$249.00')": 4,
                                  "customer filled from its order": 1,
                                  "time filled from its order": 1}
    first = tx.order == tx.orders.index("#1001")
    assert [str(t) for t in tx.time[first]] == ["2021-03-04T15:15:32"] * 2
    assert set(tx.customers.ids[tx.customer[first]].tolist()) == {"ann@example.com"}
    assert sorted(tx.price.tolist()) == [9.5, 9.5, 249.0, 1049.0]


def test_a_blank_time_in_an_order_without_any_time_is_still_an_error(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("order,item,time\n1,a,2021-01-01\n2,b,\n")
    with pytest.raises(UpsellDataError, match=r"row 2 \(order 2\): `time` is missing"):
        Transactions.read_csv(path)


def test_the_earliest_time_of_an_order_fills_its_blank_lines():
    tx = Transactions.from_arrays(order=[1, 1, 1], item=["a", "b", "c"],
                                  time=["2021-01-02", None, "2021-01-01"])
    assert [str(t)[:10] for t in tx.time] == ["2021-01-02", "2021-01-01", "2021-01-01"]
    assert tx.report.repaired == {"time filled from its order": 1}


def test_the_command_line_suggests_shopify_columns(tmp_path, capsys):
    from upsell.cli import main

    path = tmp_path / "orders_export.csv"
    path.write_text(SHOPIFY)
    assert main(["--quiet", "inspect", str(path)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert ("--columns 'order=Name,item=Lineitem sku,customer=Email,quantity=Lineitem quantity,"
            "price=Lineitem price,time=Created at,name=Lineitem name'") in err


@pytest.mark.parametrize(("written", "advice"), [
    ("2021/03/04 10:15", "pass time_format='%Y/%m/%d %H:%M'"),
    ("04-Mar-2021 10:15", "pass time_format='%d-%b-%Y %H:%M'"),
    ("20210304101532", "pass time_format='%Y%m%d%H%M%S'"),
    ("1614852932000", "pass time_format='epoch_ms'"),
    ("2021-03-04 10:15:32 EST", "a time zone name (EST) is not read"),
])
def test_time_errors_name_the_format_that_reads_the_column(tmp_path, written, advice):
    path = tmp_path / "o.csv"
    path.write_text(f"order,item,time\n1,a,{written}\n")
    with pytest.raises(UpsellDataError, match=r"row 1 \(order 1\): `time`") as err:
        Transactions.read_csv(path)
    assert advice in str(err.value)
    if "time_format=" in advice:  # and that format reads it
        fmt = advice.split("time_format=")[1].strip("'")
        assert not np.isnat(Transactions.read_csv(path, time_format=fmt).time[0])


def test_the_command_line_suggests_woocommerce_columns(tmp_path, capsys):
    from upsell.cli import main

    path = tmp_path / "woo.csv"
    path.write_text("Order Number,Order Date,Billing Email,Item Name,SKU,Quantity,Item Cost\n"
                    '1001,2021-03-04 10:15,a@x.com,Mug,MUG-1,2,$5.00\n')
    assert main(["--quiet", "inspect", str(path)], out=io.StringIO()) == 2
    assert ("--columns 'order=Order Number,item=SKU,customer=Billing Email,quantity=Quantity,"
            "price=Item Cost,time=Order Date,name=Item Name'") in capsys.readouterr().err


def test_excel_serial_dates_are_named_then_read(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("order,item,time\n1,a,40513.35138888889\n2,b,40514.5\n")
    with pytest.raises(UpsellDataError, match=r"pass time_format='excel' \(Excel's serial"):
        Transactions.read_csv(path)
    tx = Transactions.read_csv(path, time_format="excel")
    assert [str(t) for t in tx.time] == ["2010-12-01T08:26:00", "2010-12-02T12:00:00"]
    arrays = Transactions.from_arrays(order=[1, 2], item=["a", "b"],
                                      time=[40513.35138888889, 40514.5], time_format="excel")
    np.testing.assert_array_equal(arrays.time, tx.time)
    with pytest.raises(UpsellDataError, match="not a timestamp"):  # before 1900-03-01
        Transactions.from_arrays(order=[1], item=["a"], time=[59.5], time_format="excel")
