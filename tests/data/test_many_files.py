"""Several files of order lines read as one history: a list of paths, a folder of monthly
exports, a glob pattern (``read_csv``, ``read_parquet``, ``read_excel`` and the CLI)."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from upsell.cli import main
from upsell.data import Transactions
from upsell.data.report import SPLIT_ORDER
from upsell.exceptions import UpsellDataError

HEAD = "order,item,customer,quantity,price,time\n"
JAN = ("1,A,c1,2,1.5,2011-01-03 10:00:00\n1,B,c1,1,4.0,2011-01-03 10:00:00\n"
       "2,A,c2,1,1.5,2011-01-20 09:00:00\n")
FEB = ("3,B,c1,3,4.0,2011-02-02 11:00:00\nC9,A,c1,-2,1.5,2011-02-05 12:00:00\n"
       "4,C,,1,9.0,2011-02-07 13:00:00\n")
ROLES = ("order", "item", "customer", "quantity", "price", "time")


def same(a: Transactions, b: Transactions) -> None:
    for role in ROLES:
        assert a.has(role) == b.has(role), role
        if not a.has(role):
            continue
        x, y = getattr(a, role), getattr(b, role)
        if x.dtype.kind == "f":
            assert np.allclose(x, y, equal_nan=True), role
        else:
            assert np.array_equal(x, y), role
    assert a.orders == b.orders and a.items == b.items and a.customers == b.customers
    for group in ("dropped", "repaired"):
        assert dict(getattr(a.report, group)) == dict(getattr(b.report, group)), group


@pytest.fixture
def months(tmp_path):
    d = tmp_path / "exports"
    d.mkdir()
    (d / "2011-01.csv").write_text(HEAD + JAN)
    (d / "2011-02.csv").write_text(HEAD + FEB)
    (d / "notes.md").write_text("# not an export\n")  # not a CSV name: not read
    (tmp_path / "one.csv").write_text(HEAD + JAN + FEB)
    return d


def test_a_folder_a_list_and_a_pattern_read_as_the_joined_file(months):
    one = Transactions.read_csv(months.parent / "one.csv", cancel_prefix="C")
    for path in (months, str(months), [months / "2011-01.csv", months / "2011-02.csv"],
                 str(months / "2011-*.csv")):
        tx = Transactions.read_csv(path, cancel_prefix="C")
        same(one, tx)
        assert dict(tx.report.files) == {str(months / "2011-01.csv"): 3,
                                         str(months / "2011-02.csv"): 3}
        assert SPLIT_ORDER not in tx.report.flagged
    # one cleaning pass: February's return finds January's purchase of A by c1
    assert tx.report.dropped == {"return netted against a purchase": 1, "fully returned": 1}
    assert Transactions.read_csv(months).report.source == f"{months} (2 files)"
    assert "file      " in str(tx.report) and tx.report.to_dict()["files"]


def test_errors_name_the_file_and_its_row(months):
    (months / "2011-02.csv").write_text(HEAD + FEB.replace("3,B,c1,3", "3,B,c1,x"))
    with pytest.raises(UpsellDataError, match=r"2011-02\.csv row 1 \(order '3'\): `quantity` 'x'"):
        Transactions.read_csv(months)
    tx = Transactions.read_csv(months, invalid="drop")
    assert tx.report.dropped["quantity not a number"] == 1 and tx.report.rows_read == 6
    (months / "2011-02.csv").write_text(HEAD + FEB)  # a cleaning rule names it too
    with pytest.raises(UpsellDataError, match=r"2011-02\.csv row 2 \(order 'C9'\): return"):
        Transactions.read_csv(months, cancel_prefix="C", returns="raise")
    (months / "2011-02.csv").write_text(HEAD + FEB + "5,A,c3\n")  # a short row
    with pytest.raises(UpsellDataError, match=r"2011-02\.csv.*row 4"):
        Transactions.read_csv(months)


def test_orders_in_two_files_are_flagged_and_repeats_found(months):
    """Exports that overlap: February's file sent again with January's last order."""
    (months / "2011-02b.csv").write_text(HEAD + JAN.splitlines(True)[2] + FEB)
    tx = Transactions.read_csv(months, cancel_prefix="C")
    # orders 2, 3 and 4 twice each (the return C9's lines are netted away: not kept)
    assert tx.report.flagged[SPLIT_ORDER] == 6
    assert tx.report.flagged["duplicate line"] == 3
    dropped = Transactions.read_csv(months, cancel_prefix="C", duplicates="drop")
    assert dropped.report.dropped["duplicate line"] == 3
    assert len(dropped) == len(tx) - 3


def test_empty_months_and_column_order(months):
    (months / "2011-03.csv").write_text(HEAD)  # a month without sales
    # the same roles in another column order, with an extra column
    (months / "2011-04.csv").write_text("time,price,quantity,customer,item,order,note\n"
                                        "2011-04-01 10:00:00,2.0,1,c4,D,6,x\n")
    tx = Transactions.read_csv(months)
    assert dict(tx.report.files)[str(months / "2011-03.csv")] == 0
    assert tx.items.decode(tx.item).tolist()[-1] == "D" and tx.report.rows_read == 7
    (months / "2011-01.csv").write_text(HEAD)
    (months / "2011-02.csv").write_text(HEAD)
    (months / "2011-04.csv").write_text(HEAD)
    with pytest.raises(UpsellDataError, match=r"\(4 files\) has headers but no data rows"):
        Transactions.read_csv(months)


def test_a_role_missing_from_one_file(months):
    (months / "2011-02.csv").write_text("order,item,quantity,price,time\n3,B,3,4.0,2011-02-02\n")
    with pytest.raises(UpsellDataError, match=r"2011-01\.csv has a `customer` column and .*"
                                              r"2011-02\.csv has none"):
        Transactions.read_csv(months)


def test_types_that_differ_between_files(tmp_path):
    """A dirty number in one file (read as text) beside clean ones; decimal commas too."""
    (tmp_path / "a.csv").write_text("order;item;price\n1;A;1,5\n2;B;2\n")
    (tmp_path / "b.csv").write_text("order;item;price\n3;A;£1,25\n")
    (tmp_path / "one.csv").write_text("order;item;price\n1;A;1,5\n2;B;2\n3;A;£1,25\n")
    kw = {"delimiter": ";", "decimal": ","}
    same(Transactions.read_csv(tmp_path / "one.csv", **kw),
         Transactions.read_csv([tmp_path / "a.csv", tmp_path / "b.csv"], **kw))
    assert Transactions.read_csv([tmp_path / "a.csv", tmp_path / "b.csv"],
                                 **kw).price.tolist() == [1.5, 2.0, 1.25]


@pytest.mark.parametrize("path, match", [
    ([], "empty list"),
    ("{d}/*.tsv", "matches no file"),
    (["{d}/a.csv", "{d}/./a.csv"], "names .* twice"),
    (["{d}/a.csv", "{d}/missing.csv"], "does not exist"),
    (["{d}/a.csv", "{d}"], "is a folder; name its files"),
    (["{d}/a.csv", 3], "must be file paths; got int"),
])
def test_bad_paths(tmp_path, path, match):
    (tmp_path / "a.csv").write_text("order,item\n1,A\n")
    d = str(tmp_path)
    arg = path.format(d=d) if isinstance(path, str) else [
        p.format(d=d) if isinstance(p, str) else p for p in path]
    with pytest.raises(UpsellDataError, match=match):
        Transactions.read_csv(arg)


def test_a_month_in_another_format_is_not_left_out(months):
    (months / "2011-03.xlsx").write_bytes(b"")
    with pytest.raises(UpsellDataError, match=r"holds 2 CSV files and 1 other data file\(s\) "
                                              r"\('2011-03.xlsx'\), which would not be read"):
        Transactions.read_csv(months)


def test_a_folder_of_parquet_is_not_read_as_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"order": [1], "item": ["A"]}), tmp_path / "part-0.parquet")
    with pytest.raises(UpsellDataError, match=r"no CSV files in it.*read by read_parquet"):
        Transactions.read_csv(tmp_path)
    assert Transactions.read_parquet(tmp_path).shape == (1, 1, 1)  # one dataset, as before


def test_parquet_files_with_other_types(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    t0 = pa.array([1293840000, 1293926400], pa.timestamp("s"))
    pq.write_table(pa.table({"order": [1, 2], "item": ["A", "B"], "quantity": [2, 1],
                             "time": t0}), tmp_path / "a.parquet")
    # pandas' ids with a gap (floats), a dirty quantity and times as text
    pq.write_table(pa.table({"order": [3.0, None], "item": ["A", "B"],
                             "quantity": ["2", "x"], "time": ["2011-02-01", "2011-02-02"]}),
                   tmp_path / "b.parquet")
    tx = Transactions.read_parquet([tmp_path / "a.parquet", tmp_path / "b.parquet"],
                                   invalid="drop")
    assert tx.orders.ids.tolist() == [1, 2, 3] and tx.quantity.tolist() == [2.0, 1.0, 2.0]
    assert [str(t)[:10] for t in tx.time] == ["2011-01-01", "2011-01-02", "2011-02-01"]
    assert tx.report.dropped == {"quantity not a number": 1}
    with pytest.raises(UpsellDataError, match=r"b\.parquet row 2: `quantity` 'x'"):
        Transactions.read_parquet(str(tmp_path / "*.parquet"))
    # a time format: a typed time is written in it before the text ones are read by it
    pq.write_table(pa.table({"order": [4], "item": ["C"], "time": ["03/02/2011"]}),
                   tmp_path / "c.parquet")
    pq.write_table(pa.table({"order": [5], "item": ["C"], "time": t0[:1]}), tmp_path / "d.parquet")
    tx = Transactions.read_parquet([tmp_path / "c.parquet", tmp_path / "d.parquet"],
                                   time_format="%d/%m/%Y")
    assert [str(t)[:10] for t in tx.time] == ["2011-02-03", "2011-01-01"]


def test_parquet_folders_in_a_list_or_a_pattern(tmp_path):
    """A Spark job's output per month: each folder one dataset, the folders one history."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    for month, rows in (("2011-01", [1, 2]), ("2011-02", [3])):
        (tmp_path / month).mkdir()
        pq.write_table(pa.table({"order": rows, "item": ["A"] * len(rows)}),
                       tmp_path / month / "part-0.parquet")
    for path in ([tmp_path / "2011-01", tmp_path / "2011-02"], str(tmp_path / "2011-*")):
        tx = Transactions.read_parquet(path)
        assert tx.orders.ids.tolist() == [1, 2, 3] and len(tx.report.files) == 2


def test_workbooks(tmp_path):
    pytest.importorskip("python_calamine")
    openpyxl = pytest.importorskip("openpyxl")
    for name, rows in (("jan.xlsx", [["order", "item", "quantity"], [1, "A", 2]]),
                       ("feb.xlsx", [["order", "item", "quantity"], [2, "A", 1], [2, "B", 3]])):
        wb = openpyxl.Workbook()
        for r in rows:
            wb.active.append(r)
        wb.save(tmp_path / name)
    tx = Transactions.read_excel(tmp_path)
    assert tx.shape == (3, 2, 2)
    assert [f.split(" sheet")[0] for f in tx.report.files] == [str(tmp_path / "feb.xlsx"),
                                                               str(tmp_path / "jan.xlsx")]
    out = io.StringIO()  # the command line tells a folder of workbooks by its files' names
    assert main(["--quiet", "inspect", str(tmp_path)], out=out) == 0
    assert "3 rows read, 3 kept" in out.getvalue()


def test_orders_file_beside_several_line_files(months, tmp_path):
    for f in ("2011-01.csv", "2011-02.csv"):  # lines without customer and time
        text = (months / f).read_text().splitlines()
        (months / f).write_text("\n".join(",".join(r.split(",")[:2] + r.split(",")[3:5])
                                          for r in text) + "\n")
    (tmp_path / "orders.csv").write_text("order,customer\n1,c1\n2,c2\n3,c1\n")
    with pytest.raises(UpsellDataError, match=r"e\.g\. .*2011-02\.csv row 2 \(order 'C9'\)"):
        Transactions.read_csv(months, orders_file=tmp_path / "orders.csv",
                              orders_columns={"order": "order", "customer": "customer"})


@settings(max_examples=60, deadline=None)
@example(lines=[(1, "A", "x"), "empty"], cuts=[1])  # a dirty number beside a file of blanks
@example(lines=["head", "empty"], cuts=[1])
@given(st.lists(st.one_of(st.tuples(st.integers(0, 5), st.sampled_from("ABC"),
                                    st.one_of(st.integers(-2, 3), st.sampled_from(["x", ""]))),
                          st.sampled_from(["head", "empty"])),
                min_size=1, max_size=24),
       st.lists(st.integers(0, 24), max_size=4))
def test_property_any_split_reads_as_the_whole_file(tmp_path_factory, lines, cuts):
    """Lines cut into files anywhere (empty files included; a repeated header, an empty
    row, a file whose quantities are numbers beside one with a dirty or blank one) read as
    the whole file: the same arrays, ids and counts, or the same error."""
    d = tmp_path_factory.mktemp("split")
    head = "order,item,customer,quantity\n"
    body = [head if x == "head" else ",,,\n" if x == "empty" else
            f"O{x[0]},{x[1]},C{x[0] % 2},{x[2]}\n" for x in lines]
    (d / "whole.csv").write_text(head + "".join(body))
    bounds = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    paths = []
    edges = [0, *bounds, len(body)]  # an empty file first and last, too
    for j, (lo, hi) in enumerate(itertools.pairwise(edges)):
        (d / f"part{j:02d}.csv").write_text(head + "".join(body[lo:hi]))
        paths.append(d / f"part{j:02d}.csv")
    kw = {"invalid": "drop"}
    try:
        want = Transactions.read_csv(d / "whole.csv", **kw)
    except UpsellDataError as exc:
        with pytest.raises(UpsellDataError) as got:
            Transactions.read_csv(paths, **kw)
        assert str(got.value).split(": ", 1)[-1] == str(exc).split(": ", 1)[-1]
        return
    got = Transactions.read_csv(paths, **kw)
    same(want, got)
    assert dict(got.report.flagged).get("duplicate line", 0) == \
        dict(want.report.flagged).get("duplicate line", 0)
    assert sum(got.report.files.values()) == want.report.rows_read


def test_the_command_line_reads_a_folder_and_several_files(months, tmp_path):
    out = io.StringIO()
    report = tmp_path / "r.html"
    assert main(["--quiet", "report", str(months), "--cancel-prefix", "C", "--no-charts",
                 "-o", str(report)], out=out) == 0
    page = report.read_text(encoding="utf-8")
    assert "exports (2 files)" in page and "file: 2011-01.csv" in page
    out = io.StringIO()
    assert main(["--quiet", "report", str(months / "2011-01.csv"), str(months / "2011-02.csv"),
                 "--cancel-prefix", "C", "--no-charts", "-o", str(report)], out=out) == 0
    assert "2011-01.csv ... 2011-02.csv (2 files)" in report.read_text(encoding="utf-8")
    assert main(["--quiet", "mine", str(months / "2011-01.csv"), "-"], out=io.StringIO()) == 2


def test_the_command_line_warns_of_overlapping_exports(months, tmp_path, capsys):
    (months / "2011-02b.csv").write_text(HEAD + FEB)
    assert main(["--quiet", "report", str(months), "--no-charts", "-o",
                 str(tmp_path / "r.html")], out=io.StringIO()) == 0
    err = capsys.readouterr().err
    assert "4 lines belong to orders found in more than one of the 3 files" in err
    assert "--duplicates drop" in err


def test_reading_a_folder_imports_no_pandas(months):
    code = ("import sys, upsell as us\n"
            f"tx = us.Transactions.read_csv({str(months)!r}, cancel_prefix='C')\n"
            "assert len(tx.report.files) == 2\n"
            "assert 'pandas' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_many_files_are_summed_up(tmp_path):
    """A year of daily exports: the report and the Data section give their number and
    sizes, not a line each; an empty day is named."""
    d = tmp_path / "daily"
    d.mkdir()
    for day in range(1, 15):
        rows = "".join(f"{day}{k},A{k},c{day % 3},1,2.0,2011-01-{day:02d} 10:00:00\n"
                       for k in range(day % 3))
        (d / f"2011-01-{day:02d}.csv").write_text(HEAD + rows)
    tx = Transactions.read_csv(d)
    assert "  files     14 files, 0 to 2 rows each; 4 without rows" in str(tx.report)
    report = tmp_path / "r.html"
    assert main(["--quiet", "report", str(d), "--no-charts", "-o", str(report)],
                out=io.StringIO()) == 0
    page = report.read_text(encoding="utf-8")
    assert "14 files, 0 to 2 rows each (2011-01-01.csv ... 2011-01-14.csv)" in page
    assert "2011-01-03.csv, 2011-01-06.csv, 2011-01-09.csv, 2011-01-12.csv" in page
    assert "file: 2011-01-01.csv" not in page


def test_side_files_in_several_files(tmp_path):
    """Monthly exports of the orders (and of the customers) beside monthly lines."""
    (tmp_path / "lines").mkdir()
    (tmp_path / "orders").mkdir()
    (tmp_path / "lines" / "2017-10.csv").write_text("order_id,product_id\no1,A\no1,B\no2,A\n")
    (tmp_path / "lines" / "2017-11.csv").write_text("order_id,product_id\no3,C\n")
    (tmp_path / "orders" / "2017-10.csv").write_text(
        "order_id,customer_id,ts\no1,c1,2017-10-02\no2,c2,2017-10-03\n")
    (tmp_path / "orders" / "2017-11.csv").write_text(  # o2 again: the exports overlap
        "order_id,customer_id,ts\no3,c1,2017-11-01\no2,c2,2017-10-03\n")
    (tmp_path / "people1.csv").write_text("customer_id,person\nc1,p1\n")
    (tmp_path / "people2.csv").write_text("customer_id,person\nc2,p1\n")
    kw = {"columns": {"order": "order_id", "item": "product_id"},
          "orders_file": tmp_path / "orders",
          "orders_columns": {"order": "order_id", "customer": "customer_id", "time": "ts"}}
    tx = Transactions.read_csv(tmp_path / "lines", **kw)
    assert tx.customers.decode(tx.customer).tolist() == ["c1", "c1", "c2", "c1"]
    assert "orders file " + str(tmp_path / "orders") + " (2 files)" in tx.report.source
    tx = Transactions.read_csv(tmp_path / "lines", **kw, customers_file=[
        tmp_path / "people1.csv", tmp_path / "people2.csv"],
        customers_columns={"customer": "customer_id", "person": "person"})
    assert tx.customers.ids.tolist() == ["p1"]
    (tmp_path / "orders" / "2017-11.csv").write_text(
        "order_id,customer_id,ts\no3,c1,2017-11-01\no2,c9,2017-10-03\n")
    with pytest.raises(UpsellDataError, match=r"lists order 'o2' twice with different `customer` "
                                              r"\('c2' and 'c9', .*2017-11\.csv row 2\)"):
        Transactions.read_csv(tmp_path / "lines", **kw)


def test_csv_files_inside_a_zip_archive(months, tmp_path):
    """An export as mailed (a ZIP of monthly CSV files), a download of one CSV: read without
    unpacking; an archive of different tables (Olist's) is refused with its members named."""
    import gzip
    import zipfile

    one = Transactions.read_csv(months.parent / "one.csv", cancel_prefix="C")
    with zipfile.ZipFile(tmp_path / "exports.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(months / "2011-02.csv", "exports/2011-02.csv")
        z.writestr("exports/2011-01.csv.gz", gzip.compress((HEAD + JAN).encode()))
        z.writestr("__MACOSX/exports/._2011-01.csv", b"\0\5\26\7")  # macOS's resource forks
        z.writestr("exports/README.md", "not read")
    tx = Transactions.read_csv(tmp_path / "exports.zip", cancel_prefix="C")
    same(one, tx)
    assert list(tx.report.files) == [f"{tmp_path / 'exports.zip'}:exports/2011-01.csv.gz",
                                     f"{tmp_path / 'exports.zip'}:exports/2011-02.csv"]
    with zipfile.ZipFile(tmp_path / "one.zip", "w") as z:  # cp1252, as Excel on Windows saves
        z.writestr("sales.csv", (HEAD + JAN.replace("c2", "café")).encode("cp1252"))
    tx = Transactions.read_csv(tmp_path / "one.zip", encoding="cp1252")
    assert "café" in tx.customers.ids.tolist() and tx.report.source.endswith("one.zip:sales.csv")
    with pytest.raises(UpsellDataError, match=r"one\.zip:sales\.csv line 4 is not valid utf-8.*pass encoding='cp1252'"):
        Transactions.read_csv(tmp_path / "one.zip")
    with zipfile.ZipFile(tmp_path / "olist.zip", "w") as z:
        z.writestr("olist_order_items_dataset.csv", "order_id,product_id\no1,A\n")
        z.writestr("olist_orders_dataset.csv", "order_id,customer_id\no1,c1\n")
    with pytest.raises(UpsellDataError, match=r"holds 2 CSV files with different headers "
                                              r"\('olist_order_items_dataset.csv', "):
        Transactions.read_csv(tmp_path / "olist.zip")
    with zipfile.ZipFile(tmp_path / "books.zip", "w") as z:
        z.writestr("sales.xlsx", b"PK")
    with pytest.raises(UpsellDataError, match=r"no CSV file in it \(it holds 'sales.xlsx'\)"):
        Transactions.read_csv(tmp_path / "books.zip")
    (tmp_path / "broken.zip").write_bytes((tmp_path / "exports.zip").read_bytes()[:-60])
    with pytest.raises(UpsellDataError, match="damaged or encrypted ZIP archive"):
        Transactions.read_csv(tmp_path / "broken.zip")
    out = io.StringIO()
    assert main(["--quiet", "inspect", str(tmp_path / "exports.zip"), "--cancel-prefix", "C"],
                out=out) == 0
    assert "6 rows read" in out.getvalue()
