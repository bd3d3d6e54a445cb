"""Numbers as spreadsheets show them (currency, thousands, accounting negatives): read and
counted as repaired by the file readers, never guessed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data._formatted import read_formatted, strip_currency
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError


@pytest.mark.parametrize(("text", "decimal", "value"), [
    ("£2.55", ".", 2.55),
    ("$1,234.50", ".", 1234.5),
    ("($1,234.50)", ".", -1234.5),
    ("-$3", ".", -3.0),
    ("$-3", ".", -3.0),
    ("US$ 12.50", ".", 12.5),
    ("USD 9.99", ".", 9.99),
    ("12 EUR", ".", 12.0),
    ("CHF 1'234.50", ".", 1234.5),
    ("1,234,567", ".", 1234567.0),  # two groups: no decimal comma reads it
    ("1\u00a0234", ".", 1234.0),  # a space groups, it is never a decimal mark
    ("12,50 €", ",", 12.5),
    ("1.234,50 €", ",", 1234.5),
    ("(3,50 €)", ",", -3.5),
    ("1 234,5", ",", 1234.5),
])
def test_formatted_texts_are_read(text, decimal, value):
    got, ok = read_formatted([text], decimal)
    assert ok.tolist() == [True]
    assert got[0] == pytest.approx(value)


@pytest.mark.parametrize(("text", "decimal"), [
    ("abc", "."), ("$", "."), ("()", "."), ("-(12)", "."), ("12.50-", "."),
    ("1 234,50 €", "."),  # a decimal comma, read without decimal=","
    ("1.234.567", "."), ("1,234.5", ","), ("1,2345", "."), ("usd 12", "."),
    ("1,200", "."), ("1.234", ","),  # could be 1.2 (1.234) with the other decimal mark
    ("12.5", "."),  # a plain number the plain reading refused: not ours to read
])
def test_other_texts_are_not_read(text, decimal):
    got, ok = read_formatted([text], decimal)
    assert ok.tolist() == [False] and math.isnan(got[0])


def test_a_doubtful_separator_is_read_when_the_column_shows_it_grouping():
    texts = ["1,200", "$2,500.00", "7"]
    got, ok = read_formatted(texts)
    assert ok.tolist() == [True, True, False]
    assert got[:2].tolist() == [1200.0, 2500.0]
    assert read_formatted(["1,200", "1,234,567"])[1].tolist() == [True, True]
    # a point grouping digits does not vouch for a comma
    assert read_formatted(["1,200", "CHF 1'234.50"])[1].tolist() == [False, True]


def test_strip_currency_keeps_the_number():
    assert strip_currency(" R$ 10,00 ") == ("10,00", True)
    assert strip_currency("10.00") == ("10.00", False)


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(-10**11, 10**11), symbol=st.sampled_from(["$", "£", "€", "USD "]),
       parens=st.booleans())
def test_a_currency_formatted_amount_reads_back_exactly(cents, symbol, parens):
    whole, frac = divmod(abs(cents), 100)
    body = f"{symbol}{whole:,}.{frac:02d}"
    text = (f"({body})" if parens else f"-{body}") if cents < 0 else body
    got, ok = read_formatted([text, "$1,000.00"])
    assert ok[0]
    assert got[0] == pytest.approx(cents / 100, abs=1e-9)


def test_a_currency_formatted_export_reads_and_counts_the_repairs(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text('order,item,price,quantity\n1,a,£2.55,1\n2,b,"£1,234.50",2\n'
                    '3,c,(£3.00),"1,200.00"\n4,d,£4,"1,200"\n5,e,7.5,3\n')
    tx = Transactions.read_csv(path, bad_prices="keep")
    assert tx.price.tolist() == [2.55, 1234.5, -3.0, 4.0, 7.5]
    assert tx.quantity.tolist() == [1.0, 2.0, 1200.0, 1200.0, 3.0]
    assert tx.report.repaired == {"price read from a formatted number ('£2.55')": 4,
                                  "quantity read from a formatted number ('1,200.00')": 2}


def test_a_lone_doubtful_number_stops_with_both_readings(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text('order,item,quantity\n1,a,"1,200"\n2,b,3\n')
    with pytest.raises(UpsellDataError, match=r"row 1 \(order 1\): `quantity` '1,200' is not a "
                                              r"number; a decimal comma \(pass decimal=','\) or "
                                              r"a thousands separator"):
        Transactions.read_csv(path)


def test_a_euro_export_is_told_its_decimal_mark_then_read(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("order;item;price\n1;a;12,50 €\n2;b;1 234,50 €\n")
    with pytest.raises(UpsellDataError, match="the file writes decimal commas: pass decimal=','"):
        Transactions.read_csv(path, delimiter=";")
    tx = Transactions.read_csv(path, delimiter=";", decimal=",")
    np.testing.assert_array_equal(tx.price, [12.5, 1234.5])
    assert tx.report.n_repaired == 2


def test_a_catalog_file_reads_currency_prices_and_counts_them(tmp_path):
    """A catalog file read as its order lines are: numbers as a spreadsheet shows them are
    read and counted in ``Catalog.repaired``; arrays given in Python are refused with advice."""
    from upsell.data import Catalog

    path = tmp_path / "catalog.csv"
    path.write_text('item,price,cost\na,£2.55,1\nb,"£1,234.50",700\nc,"1,200",900\n')
    cat = Catalog.read_csv(path)
    np.testing.assert_array_equal(cat.price, [2.55, 1234.5, 1200.0])  # "1,200": the column's
    assert dict(cat.repaired) == {"price read from a formatted number ('£2.55')": 3}
    np.testing.assert_array_equal(cat.cost, [1, 700, 900])
    euro = tmp_path / "euro.csv"
    euro.write_text('item;price\na;12,50 €\nb;1.234,50 €\nc;4,5\n')
    cat = Catalog.read_csv(euro, delimiter=";", decimal=",")
    np.testing.assert_array_equal(cat.price, [12.5, 1234.5, 4.5])
    assert sum(cat.repaired.values()) == 2
    plain = tmp_path / "plain.csv"
    plain.write_text("item,price\na,2.5\n")
    assert dict(Catalog.read_csv(plain).repaired) == {}
    # one value no reading makes a number: named, nothing read by half
    path.write_text('item,price\na,£2.55\nb,soon\n')
    with pytest.raises(UpsellDataError, match=r"catalog item 'a': `price` '£2.55' is not a "
                                              r"number; it is written as a spreadsheet shows it"):
        Catalog.read_csv(path)
    with pytest.raises(UpsellDataError, match=r"`price` '£2.55' is not a number; it is written "
                                              r"as a spreadsheet shows it"):
        Catalog.from_records([{"item": "a", "price": "£2.55"}])


def test_the_report_lists_the_catalogs_repairs(tmp_path):
    from upsell.data import Catalog
    from upsell.datasets import make_shop
    from upsell.report import analyse

    shop = make_shop(n_customers=60, random_state=0)
    ids = shop.catalog.items.ids.tolist()
    path = tmp_path / "catalog.csv"
    path.write_text("item,price\n" + "".join(f"{i},£{p:,.2f}\n" for i, p in
                                             zip(ids, shop.catalog.price.tolist(),
                                                 strict=True)))
    cat = Catalog.read_csv(path)
    rows = analyse(shop.transactions, cat, sections=["data"]).sections[0].tables[0].rows
    assert any(str(what).startswith("catalog repaired: price read from a formatted number")
               and n == len(ids) for what, n in rows)


def test_a_catalogs_title_lines_are_named_and_skipped(tmp_path):
    """A price list exported with its title above the table: the error names the header's
    line (sheet row) and the skip_rows that reads it, for a CSV and a workbook."""
    from upsell.data import Catalog

    path = tmp_path / "prices.csv"
    path.write_text("Price list 2021\n\nsku,title,price\nA,Apple,£1.50\nB,Bread,2\n")
    with pytest.raises(UpsellDataError, match=r"has no `item` column.*it has 'Price list "
                                              r"2021'; .*on line 3 \('sku, title, price'\): "
                                              r"pass skip_rows=2"):
        Catalog.read_csv(path)
    cols = {"item": "sku", "name": "title"}
    cat = Catalog.read_csv(path, skip_rows=2, columns=cols)
    assert cat.name.tolist() == ["Apple", "Bread"] and cat.price.tolist() == [1.5, 2.0]
    openpyxl = pytest.importorskip("openpyxl")
    pytest.importorskip("python_calamine")
    wb = openpyxl.Workbook()
    for row in (["Price list 2021"], [None], ["sku", "title", "price"], ["A", "Apple", 1.5],
                ["B", "Bread", 2]):
        wb.active.append(row)
    wb.save(tmp_path / "prices.xlsx")
    with pytest.raises(UpsellDataError, match=r"on sheet row 3 \('sku, title, price'\): "
                                              r"pass skip_rows=2"):
        Catalog.read_table(tmp_path / "prices.xlsx", columns=cols)
    cat = Catalog.read_table(tmp_path / "prices.xlsx", skip_rows=2, columns=cols)
    assert cat.name.tolist() == ["Apple", "Bread"]
    with pytest.raises(UpsellDataError, match=r"`skip_rows` must be a whole number"):
        Catalog.read_csv(path, skip_rows=-1)
