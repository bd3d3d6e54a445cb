"""The command line on shops unlike Online Retail: single-item orders, baskets files without
customers, files missing a column. Every command either works and says why a table is empty,
or stops with an error in the command line's words (``--columns order=HEADER``, never
``columns={'order': ...}``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from upsell.cli import main


def run(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(["--quiet", *argv], out=buf)
    return code, buf.getvalue()


@pytest.fixture
def single(tmp_path: Path) -> Path:
    """Orders of one line each (a CDNOW-like shop: nothing is bought together)."""
    path = tmp_path / "single.csv"
    rows = ["order,item,customer,quantity,price,time"]
    for i in range(60):
        rows.append(f"{i},{'abc'[i % 3]},{i % 12},1,{5 + i % 4}.5,2011-0{1 + i % 9}-1{i % 10}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("what", ["rules", "itemsets", "bundles", "sequences"])
def test_mine_on_single_item_orders_writes_a_header_and_says_why(single, what, capsys):
    code, text = run("mine", str(single), "--what", what)
    err = capsys.readouterr().err
    assert code == 0, err
    header = text.splitlines()[0]
    assert header.split(",")[0] in ("antecedent", "itemset", "bundle", "first")
    if what in ("rules", "bundles"):
        assert len(text.splitlines()) == 1
        assert "no order holds two or more items" in err


def test_mine_itemsets_above_every_item_says_lower_the_support(single, capsys):
    code, text = run("mine", str(single), "--what", "itemsets", "--min-support", "0.9")
    err = capsys.readouterr().err
    assert code == 0
    assert text.splitlines() == ["itemset,count,support"]
    assert "no itemsets" in err and "lower --min-support" in err


def test_rules_that_fail_the_thresholds_are_said(tmp_path, capsys):
    path = tmp_path / "pairs.csv"
    rows = ["order,item"] + [f"{o},{i}" for o in range(40) for i in ("a", "b", "c")[: 1 + o % 3]]
    path.write_text("\n".join(rows) + "\n")
    code, text = run("mine", str(path), "--min-confidence", "1", "--max-p", "1e-12")
    err = capsys.readouterr().err
    assert code == 0 and len(text.splitlines()) == 1
    assert "no rules" in err and "confidence >= 1" in err


@pytest.mark.parametrize("command", ["clv", "segment", "evaluate"])
def test_baskets_file_refused_for_customer_commands_in_cli_words(tmp_path, command, capsys):
    path = tmp_path / "baskets.csv"
    path.write_text("milk,bread\nbeer\nmilk,eggs,bread\n")
    code, _ = run(command, str(path), "--format", "baskets")
    err = capsys.readouterr().err
    assert code == 2
    assert "baskets file (--format baskets)" in err and "customer" in err
    assert "columns={" not in err


def test_missing_column_errors_name_the_cli_option(tmp_path, capsys):
    path = tmp_path / "cdnow.csv"
    path.write_text("customer,date,cds,value\n1,1997-01-01,1,11.77\n")
    code, _ = run("inspect", str(path), "--columns", "customer=customer,time=date")
    err = capsys.readouterr().err
    assert code == 2
    assert "--columns order=HEADER" in err and "columns={" not in err


def test_bad_value_error_names_the_cli_option(tmp_path, capsys):
    path = tmp_path / "us.csv"
    path.write_text("order,item,time\n1,a,12/1/2010 8:26\n")
    code, _ = run("inspect", str(path))
    err = capsys.readouterr().err
    assert code == 2
    assert "'12/1/2010 8:26'" in err and "--invalid drop" in err and "invalid='drop'" not in err


def test_clv_without_a_price_says_value_works_too(single, tmp_path, capsys):
    path = tmp_path / "noprice.csv"
    lines = single.read_text().splitlines()
    path.write_text("\n".join(",".join(r.split(",")[:4] + r.split(",")[5:]) for r in lines))
    code, _ = run("clv", str(path))
    err = capsys.readouterr().err
    assert code == 2
    assert "price (or value, a line total)" in err and "--columns price=HEADER" in err


def test_report_on_single_item_orders_says_why_rules_are_empty(single, tmp_path):
    report = tmp_path / "r.html"
    code, _ = run("report", str(single), "-o", str(report), "--no-charts")
    assert code == 0
    page = report.read_text(encoding="utf-8")
    assert "No rules: no order holds two or more products" in page
    assert "<th>if bought</th>" not in page  # no empty table


@pytest.fixture
def one_day(tmp_path: Path) -> Path:
    """A shop of one day: nobody has bought twice, the later customers are all new."""
    path = tmp_path / "day.csv"
    rows = ["order,item,customer,price,time"]
    for o in range(30):
        for i in range(1 + o % 3):
            rows.append(f"{o},{'abcdef'[(o + i) % 6]},{o},2.5,2011-03-01 {8 + o // 3:02d}:00")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_report_on_one_day_says_why_clv_and_evaluation_are_left_out(one_day, tmp_path):
    report = tmp_path / "r.html"
    code, text = run("report", str(one_day), "-o", str(report), "--no-charts")
    assert code == 0
    assert "Mean 12-month CLV" not in text  # not a CLV of 0 for everyone
    assert "Customer lifetime value: skipped (no customer bought on two different days" in text
    assert "Offline evaluation: skipped (every customer has a single order" in text


def test_evaluate_with_nothing_to_score_says_why_and_what_to_try(single, capsys):
    # every customer keeps buying the same 3 items: nothing new after the split
    code, _ = run("evaluate", str(single))
    err = capsys.readouterr().err
    assert code == 2
    assert "nothing to evaluate" in err and "--repeat" in err


def test_report_on_a_baskets_file_has_no_list_price_column_of_dashes(tmp_path):
    path = tmp_path / "baskets.csv"
    lines = [("milk,bread,butter" if b % 3 else "beer,chips") for b in range(90)]
    lines += ["milk,eggs"] * 5
    path.write_text("\n".join(lines) + "\n")
    report = tmp_path / "r.html"
    code, _ = run("report", str(path), "--format", "baskets", "-o", str(report), "--no-charts")
    assert code == 0
    page = report.read_text(encoding="utf-8")
    assert "Bundle candidates" in page and "No prices in the data: list prices left out" in page
    assert "<th>list price</th>" not in page


def test_clv_chart_draws_from_a_thousandth_of_the_median():
    """A lapsed customer's CLV of 1e-12 no longer stretches the log axis over 15 decades."""
    import numpy as np

    from upsell.report.analysis import _clv_result

    clv = np.r_[np.full(50, 6.0), np.geomspace(10, 5000, 50), 1e-12, 0.0, 0.0]
    out = _clv_result(clv, None, 1.0, np.arange(clv.size), "note")
    chart = out["charts"][0]
    drawn = np.asarray(chart.kwargs["values"])
    assert drawn.min() >= 1e-3 * np.median(clv[clv > 0]) and drawn.size == 100
    assert "1 above 0 but below a thousandth of the median; 2 at 0 or below not drawn" in chart.note
    assert out["values"]["mean_clv"] == clv.mean()  # the figures keep every customer


def test_a_baskets_file_read_as_order_lines_suggests_format_baskets(tmp_path, capsys):
    path = tmp_path / "groceries.csv"
    path.write_text("citrus fruit,margarine\nwhole milk\nyogurt,coffee\n")
    code, _ = run("mine", str(path))
    err = capsys.readouterr().err
    assert code == 2 and "add --format baskets" in err


def test_report_on_a_one_product_shop_says_why_there_are_no_offers(tmp_path):
    """CDNOW has customers, dates, units and spend but no item column: one product."""
    path = tmp_path / "cdnow.csv"
    rows = ["order,customer,time,quantity,value,item"]
    for o in range(200):
        rows.append(f"{o},{o % 40:05d},1997-{1 + o % 12:02d}-{1 + o % 28:02d},{1 + o % 3},"
                    f"{10 + o % 17}.5,cd")
    path.write_text("\n".join(rows) + "\n")
    report = tmp_path / "r.html"
    code, text = run("report", str(path), "-o", str(report), "--no-charts")
    assert code == 0
    assert "Example offers: skipped (none of the" in text
    assert "already bought the shop's only product" in text
    page = report.read_text(encoding="utf-8")
    assert "no offer" not in page and "No rules: no order holds two or more products" in page


def test_recommend_on_orders_reads_them_like_fit_and_takes_customer_ids(tmp_path):
    """`upsell recommend ORDERS --customer ID` read the id as the customer column's header,
    and had no --delimiter/--encoding/--cancel-prefix for a shop's own export."""
    path = tmp_path / "export.csv"
    rows = ["Invoice;Article;Customer;Qty;Date;sales_value;Description"]
    for o in range(120):
        for i in range(1 + o % 3):
            item = (o * 3 + i) % 20
            rows.append(f"{o};A{item};C{o % 15};2;2011-{1 + o % 9:02d}-{1 + o % 27:02d};"
                        f"{3 + item}.5;CAF\u00c9 {item}")
    rows.append("C999;A1;C3;-2;2011-09-28;-9.0;CAF\u00c9 1")  # a cancellation
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    code, text = run("recommend", str(path), "--delimiter", ";", "--encoding", "latin-1",
                     "--cancel-prefix", "C", "--customer", "C3", "-k", "2", "--columns",
                     "order=Invoice,item=Article,customer=Customer,quantity=Qty,time=Date,"
                     "value=sales_value,name=Description")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith("customer,item,name") and len(lines) == 3
    assert all(line.startswith("C3,A") and "CAF\u00c9" in line for line in lines[1:])


@pytest.mark.parametrize(("header", "line", "says"), [
    ("order,item,value", "1,a,\"15,3\"", "the file writes decimal commas: pass --decimal ,"),
    ("order,item,time", "1,a,12/1/2010 8:26",
     "no field above 12 tells day/month from month/day: '%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M'"),
    ("order,item,time", "1,a,2010/12/01", "pass --time-format '%Y/%m/%d'"),
    ("order,item,time", "1,a,2010-12-01 08:26 CET", "a time zone name (CET) is not read"),
])
def test_unsupported_formats_say_what_to_convert(tmp_path, capsys, header, line, says):
    path = tmp_path / "export.csv"
    path.write_text(f"{header}\n{line}\n")
    code, _ = run("inspect", str(path))
    err = capsys.readouterr().err
    assert code == 2 and says in err and "row 1" in err


def test_title_lines_above_the_header_are_named(tmp_path, capsys):
    """Some till and POS reports write a title (and a blank line) above the table."""
    path = tmp_path / "report.csv"
    path.write_text("Sales report March 2021\nShop: Main St\n\nInvoiceNo,StockCode,Quantity\n"
                    "1,a,2\n")
    assert run("inspect", str(path))[0] == 2
    err = capsys.readouterr().err
    assert ("the table's header seems to be below, on line 4 ('InvoiceNo,StockCode,Quantity'): "
            "pass --skip-rows 3 to read from it") in err and "--format baskets" not in err
    code, out = run("inspect", str(path), "--skip-rows", "3", "--columns",
                    "order=InvoiceNo,item=StockCode,quantity=Quantity")
    assert code == 0 and "1 rows read, 1 kept" in out and "units per order (UPT): 2.00" in out
    path.write_text("\n".join(["InvoiceNo,StockCode,Quantity", "1,a,2"][1:]) + "\n")
    assert run("inspect", str(path))[0] == 2
    assert "header seems to be below" not in capsys.readouterr().err


@pytest.mark.parametrize(("header", "line", "says"), [
    ("order;item;quantity", "1;a;2", "it splits at ';' into 'order', 'item', 'quantity': "
                                     "pass --delimiter ';'"),
    ("order\titem", "1\ta", "pass --delimiter $'\\t'"),
])
def test_another_field_separator_is_named(tmp_path, capsys, header, line, says):
    path = tmp_path / "export.csv"
    path.write_text(f"{header}\n{line}\n")
    assert run("inspect", str(path))[0] == 2
    err = capsys.readouterr().err
    assert says in err and "--format baskets" not in err


def test_time_format_reads_day_month_dates_and_the_error_names_it(tmp_path, capsys):
    """A shop's export with dates like 31/12/2011 23:59 (UK) or 12/31/2011 (US)."""
    fmt = "%d/%m/%Y %H:%M"
    out = _advised_then_read(
        tmp_path, capsys, "order,item,customer,time\n1,a,c1,01/12/2010 08:26\n"
        "2,b,c1,13/12/2010 9:05\n3,a,c2,02/01/2011 17:00\n",
        f"pass --time-format '{fmt}' (a first field above 12", ["--time-format", fmt])
    assert "2010-12-01 to 2011-01-02" in out, out
    path = tmp_path / "export.csv"
    code, _ = run("inspect", str(path), "--time-format", "%m/%d/%Y %H:%M")
    err = capsys.readouterr().err
    assert code == 2 and "'13/12/2010 9:05' is not a timestamp (expected --time-format" in err
    code, _ = run("inspect", str(path), "--time-format", "dd/mm/yyyy")
    assert code == 2 and "must be a strptime format" in capsys.readouterr().err


def _advised_then_read(tmp_path: Path, capsys: Any, text: str, advice: str,
                       fix: list[str], *extra: str) -> str:
    """``upsell inspect`` on a file: an error holding ``advice``, never the baskets hint;
    then, with ``fix`` (the advice as arguments) and ``extra``, the file read."""
    path = tmp_path / "export.csv"
    path.write_text(text)
    code, _ = run("inspect", str(path))
    err = capsys.readouterr().err
    assert code == 2 and advice in err and "--format baskets" not in err, err
    code, out = run("inspect", str(path), *fix, *extra)
    assert code == 0, capsys.readouterr().err
    return out


def test_unmapped_export_headers_get_a_columns_line_to_paste(tmp_path, capsys):
    """Online Retail II's headers: no role under its own name, every one a common export name."""
    cols = ("order=Invoice,item=StockCode,customer=Customer ID,quantity=Quantity,price=Price,"
            "time=InvoiceDate,name=Description")
    out = _advised_then_read(
        tmp_path, capsys,
        "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
        "489434,85048,LED BULB,12,2009-12-01 07:45:00,6.95,13085,UK\n"
        "489435,22350,CAT BOWL,12,2009-12-01 07:46:00,2.55,13085,UK\n",
        f"its headers look like --columns '{cols}'", ["--columns", cols])
    assert "2 orders" in out.replace(",", ""), out


def test_basic_iso_dates_are_read(tmp_path):
    """CDNOW writes dates as YYYYMMDD (ISO 8601 basic form); a bad calendar date is an error."""
    path = tmp_path / "cdnow.csv"
    path.write_text("order,item,time\n1,a,19970101\n2,a,19970325\n")
    code, text = run("inspect", str(path))
    assert code == 0 and "1997-01-01 to 1997-03-25" in text
    path.write_text("order,item,time\n1,a,19970231\n")
    assert run("inspect", str(path))[0] == 2


def test_evaluate_on_one_order_per_customer_says_so(tmp_path, capsys):
    """Orders merged per customer (a B2B export): the lines of one order span months."""
    path = tmp_path / "merged.csv"
    rows = ["order,item,customer,time"]
    for c in range(30):
        for i in range(8):
            rows.append(f"c{c},{'abcdefghij'[(c + i) % 10]},{c},2011-{1 + i:02d}-{1 + c % 27:02d}")
    path.write_text("\n".join(rows) + "\n")
    code, _ = run("evaluate", str(path))
    err = capsys.readouterr().err
    assert code == 2 and "every customer has a single order" in err
    report = tmp_path / "r.html"
    code, text = run("report", str(path), "-o", str(report), "--no-charts")
    assert code == 0 and "Offline evaluation: skipped (every customer has a single order" in text


def test_orders_joined_from_customer_and_day_on_the_command_line(tmp_path, capsys):
    cols = ("order=CUSTOMER_ID+TRANSACTION_DT,item=PRODUCT_ID,customer=CUSTOMER_ID,"
            "time=TRANSACTION_DT")
    out = _advised_then_read(
        tmp_path, capsys, "TRANSACTION_DT,CUSTOMER_ID,PRODUCT_ID\n11/1/2000,01,A\n"
        "11/1/2000,01,B\n11/2/2000,01,A\n11/13/2000,02,C\n",
        f"join those columns: --columns {cols}", ["--columns", cols],
        "--time-format", "%m/%d/%Y")
    assert "3 orders" in out, out


def test_catalog_columns_map_a_catalog_export(tmp_path, capsys):
    orders = tmp_path / "orders.csv"
    orders.write_text("order,item,customer,time\n1,A1,c,2011-01-01\n1,A2,c,2011-01-01\n"
                      "2,A1,d,2011-01-02\n")
    catalog = tmp_path / "products.csv"
    catalog.write_text("sku,title,price\nA1,Red mug,4.5\nA2,Blue mug,5.5\n")
    code, _ = run("kpi", str(orders), "--catalog", str(catalog))
    err = capsys.readouterr().err
    assert code == 2 and "map one with --catalog-columns item=HEADER" in err
    assert "its headers look like --catalog-columns item=sku,name=title" in err
    code, text = run("kpi", str(orders), "--catalog", str(catalog),
                     "--catalog-columns", "item=sku,name=title")
    assert code == 0, text
    code, _ = run("kpi", str(orders), "--catalog", str(catalog), "--catalog-columns", "item")
    assert code == 2 and "name=header pairs" in capsys.readouterr().err


def test_decimal_comma_export_reads_with_decimal_flag(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("order;item;customer;quantity;price\n1;A;c;2;15,3\n1;B;c;1;2,25\n2;A;d;1;15,3\n")
    code, text = run("inspect", str(path), "--delimiter", ";", "--decimal", ",")
    # orders: 2 x 15.3 + 2.25 = 32.85 and 15.3
    assert code == 0 and "average transaction value (ATV): 24.0" in text, text


def test_orders_file_gives_the_lines_customer_and_time(tmp_path, capsys):
    """Olist's layout: the items file has no customer or time; the orders file has them."""
    items = tmp_path / "olist_order_items_dataset.csv"
    items.write_text("order_id,order_item_id,product_id,price\n"
                     + "".join(f"o{i},1,p{i % 5},{10 + i % 7}.9\no{i},2,p{(i + 2) % 5},4.5\n"
                               for i in range(40)))
    orders = tmp_path / "olist_orders_dataset.csv"
    orders.write_text("order_id,customer_id,order_status,order_purchase_timestamp\n"
                      + "".join(f"o{i},c{i % 9},delivered,2018-0{1 + i % 9}-1{i % 10} 10:00:00\n"
                                for i in range(40)))
    heads = "order=order_id,customer=customer_id,time=order_purchase_timestamp"
    code, out = run("inspect", str(items), "--columns", "order=order_id,item=product_id,"
                    "price=price", "--orders-file", str(orders), "--orders-columns", heads)
    assert code == 0, capsys.readouterr().err
    assert "40 orders" in out and "9 customers" in out
    code, _ = run("clv", str(items), "--columns", "order=order_id,item=product_id,price=price",
                  "--orders-file", str(orders), "--orders-columns", heads)
    assert code == 0, capsys.readouterr().err
    # Olist's third table: each order's customer id is its own, the person is named apart
    people = tmp_path / "olist_customers_dataset.csv"
    people.write_text("customer_id,customer_unique_id\n"
                      + "".join(f"c{i},u{i % 4}\n" for i in range(9)))
    code, out = run("inspect", str(items), "--columns", "order=order_id,item=product_id",
                    "--orders-file", str(orders), "--orders-columns", heads,
                    "--customers-file", str(people),
                    "--customers-columns", "customer=customer_id,person=customer_unique_id")
    assert code == 0, capsys.readouterr().err
    assert "4 customers" in out and "customers file" in out
    code, _ = run("inspect", str(items), "--orders-file", str(orders), "--orders-columns",
                  heads, "--customers-file", str(people), "--customers-columns", "customer=x")
    assert code == 2 and "--customers-columns must map `customer`" in capsys.readouterr().err
    # an order the orders file does not list: named, in the command line's words
    orders.write_text(orders.read_text().replace("o7,", "o77,"))
    code, _ = run("inspect", str(items), "--columns", "order=order_id,item=product_id",
                  "--orders-file", str(orders), "--orders-columns", heads)
    err = capsys.readouterr().err
    assert code == 2 and "order 'o7'" in err and "--invalid drop" in err
    code, _ = run("inspect", str(items), "--orders-columns", heads)
    assert code == 2 and "--orders-columns goes with --orders-file" in capsys.readouterr().err
    # Parquet lines beside a Parquet orders file (a warehouse export of the two tables)
    pacsv = pytest.importorskip("pyarrow.csv")
    pq = pytest.importorskip("pyarrow.parquet")
    orders.write_text(orders.read_text().replace("o77,", "o7,"))
    for src in (items, orders):
        pq.write_table(pacsv.read_csv(src), src.with_suffix(".parquet"))
    code, out = run("inspect", str(items.with_suffix(".parquet")), "--columns",
                    "order=order_id,item=product_id,price=price", "--orders-file",
                    str(orders.with_suffix(".parquet")), "--orders-columns", heads)
    assert code == 0, capsys.readouterr().err
    assert "40 orders" in out and "9 customers" in out


def test_skip_rows_for_a_sheet_and_refused_for_parquet(tmp_path, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    pytest.importorskip("python_calamine")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    wb = openpyxl.Workbook()
    for row in (["Till report"], [None], ["InvoiceNo", "StockCode", "Quantity"], [1, "a", 2],
                [1, "b", 1]):
        wb.active.append(row)
    wb.save(tmp_path / "till.xlsx")
    assert run("inspect", str(tmp_path / "till.xlsx"))[0] == 2
    assert "sheet row 3 ('InvoiceNo, StockCode, Quantity'): pass --skip-rows 2" in \
        capsys.readouterr().err
    code, out = run("inspect", str(tmp_path / "till.xlsx"), "--skip-rows", "2", "--columns",
                    "order=InvoiceNo,item=StockCode,quantity=Quantity")
    assert code == 0 and "2 rows read, 2 kept" in out
    pq.write_table(pa.table({"order": [1], "item": ["a"]}), tmp_path / "l.parquet")
    assert run("inspect", str(tmp_path / "l.parquet"), "--skip-rows", "2")[0] == 2
    assert "--skip-rows goes with CSV files and workbooks" in capsys.readouterr().err
