"""Transactions.read_parquet: the CSV reader's rules on typed columns, and binary files refused
by the text readers."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pytest

from upsell.data.io import file_kind
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

# dirty lines: spaces around ids, a NULL customer, a cancellation, a zero price, a blank customer
CSV = """InvoiceNo,StockCode,CustomerID,Quantity,UnitPrice,InvoiceDate
536365, 85123A ,17850,6,2.55,2010-12-01 08:26:00
536365,71053,17850,6,3.39,2010-12-01 08:26:00
536366,22633,NULL,6,1.85,2010-12-01 08:28:00
536367,84879,13047,32,1.69,2010-12-01 08:34:00
536367,22745,13047,6,0,2010-12-01 08:34:00
C536368,84879,13047,-2,1.69,2010-12-01 09:00:00
536369,22633,,2,1.85,2010-12-02 10:00:00
536370,71053,12583,3,3.39,2010-12-03 11:15:30
"""
COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
           "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate"}
ARRAYS = ("order", "item", "customer", "quantity", "price", "time")


def _text_table() -> pa.Table:
    """The CSV's cells as text, exactly as written (the CSV reader's input)."""
    import pyarrow.csv as pacsv

    names = CSV.splitlines()[0].split(",")
    return pacsv.read_csv(io.BytesIO(CSV.encode()), convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=False))


def _same(a: Transactions, b: Transactions) -> None:
    assert a.shape == b.shape
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    for name in ("orders", "items", "customers"):
        assert getattr(a, name).ids.tolist() == getattr(b, name).ids.tolist(), name
    ra, rb = a.report, b.report
    assert (ra.rows_read, ra.rows_kept) == (rb.rows_read, rb.rows_kept)
    assert str(ra).split("\n", 1)[1] == str(rb).split("\n", 1)[1]  # every count, by reason


@pytest.fixture
def expected(tmp_path: Path) -> Transactions:
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    return Transactions.read_csv(path, columns=COLUMNS, cancel_prefix="C")


def _write(tmp_path: Path, table: pa.Table, name: str = "orders.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_text_columns_read_as_the_csv_reader_reads_them(tmp_path, expected):
    got = Transactions.read_parquet(_write(tmp_path, _text_table()), columns=COLUMNS,
                                    cancel_prefix="C")
    _same(got, expected)
    assert got.report.source.endswith("orders.parquet")


def _typed(t: pa.Table) -> dict[str, pa.Array]:
    """The same cells in the types a pandas or warehouse export writes."""
    cust = [None if v.strip() in ("", "NULL") else float(v) for v in t["CustomerID"].to_pylist()]
    times = [dt.datetime.fromisoformat(v) for v in t["InvoiceDate"].to_pylist()]
    return {
        "InvoiceNo": t["InvoiceNo"].dictionary_encode(),
        "StockCode": pa.array(t["StockCode"].to_pylist(), pa.large_string()),
        "CustomerID": pa.array(cust, pa.float64()),  # pandas: int ids with gaps are floats
        "Quantity": pa.array([int(v) for v in t["Quantity"].to_pylist()], pa.int32()),
        "UnitPrice": pa.array([float(v) for v in t["UnitPrice"].to_pylist()]),
        "InvoiceDate": pa.array(times, pa.timestamp("ns")),
    }


def test_typed_columns_give_the_same_transactions(tmp_path, expected):
    # "NULL" and a blank customer are missing in a typed column: both anonymous, as in the CSV
    # (where "NULL" is counted as a repair): compare everything but that count
    got = Transactions.read_parquet(_write(tmp_path, pa.table(_typed(_text_table()))),
                                    columns=COLUMNS, cancel_prefix="C")
    assert got.shape == expected.shape
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    assert got.customers.ids.tolist() == expected.customers.ids.tolist()
    assert got.customers.kind == "int"  # 17850.0 is the integer id 17850


def test_a_nan_id_is_missing_not_the_text_nan(tmp_path):
    table = pa.table({"order": pa.array([1.0, 2.0, float("nan")]), "item": ["a", "b", "a"]})
    tx = Transactions.read_parquet(_write(tmp_path, table), invalid="drop")
    assert tx.shape[0] == 2
    assert tx.report.rows_read == 3
    assert "missing" in str(tx.report) or "dropped" in str(tx.report)


def test_zone_aware_times_are_read_at_their_utc_instant(tmp_path):
    stamp = dt.datetime(2011, 3, 1, 9, 30, 15, 987654, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    table = pa.table({"order": ["1"], "item": ["a"],
                      "time": pa.array([stamp], pa.timestamp("us", tz="+02:00"))})
    tx = Transactions.read_parquet(_write(tmp_path, table))
    assert tx.time[0] == np.datetime64("2011-03-01T07:30:15")  # whole seconds, UTC
    csv = tmp_path / "t.csv"
    csv.write_text("order,item,time\n1,a,2011-03-01T09:30:15+02:00\n")
    assert Transactions.read_csv(csv).time[0] == tx.time[0]


def test_dates_are_midnight_and_integer_dates_follow_time_format(tmp_path):
    table = pa.table({"order": ["1", "2"], "item": ["a", "b"],
                      "day": pa.array([dt.date(2011, 1, 31), dt.date(2011, 2, 1)]),
                      "ymd": pa.array([20110131, 20110201])})
    path = _write(tmp_path, table)
    by_date = Transactions.read_parquet(path, columns={"time": "day"})
    assert by_date.time.tolist() == [dt.datetime(2011, 1, 31), dt.datetime(2011, 2, 1)]
    by_int = Transactions.read_parquet(path, columns={"time": "ymd"}, time_format="%Y%m%d")
    np.testing.assert_array_equal(by_int.time, by_date.time)
    # ISO 8601's basic form reads them too, as it does in a CSV
    iso = Transactions.read_parquet(path, columns={"time": "ymd"})
    np.testing.assert_array_equal(iso.time, by_date.time)


def test_joined_order_of_a_customer_and_a_date_matches_the_csv(tmp_path):
    text = "cust,day,sku\nu1,2020-01-01,a\nu1,2020-01-01,b\nu1,2020-01-02,a\nu2,2020-01-01,a\n"
    csv = tmp_path / "o.csv"
    csv.write_text(text)
    cols = {"order": ("cust", "day"), "item": "sku", "customer": "cust", "time": "day"}
    want = Transactions.read_csv(csv, columns=cols)
    rows = [line.split(",") for line in text.splitlines()[1:]]
    table = pa.table({"cust": [r[0] for r in rows],
                      "day": pa.array([dt.date.fromisoformat(r[1]) for r in rows]),
                      "sku": pa.array([r[2] for r in rows]).dictionary_encode()})
    got = Transactions.read_parquet(_write(tmp_path, table), columns=cols)
    assert got.shape == want.shape == (4, 3, 2)
    for name in (*ARRAYS[:3], "time"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


def test_a_bad_text_number_is_named_by_row_or_dropped_and_counted(tmp_path):
    table = pa.table({"order": ["1", "2", "3"], "item": ["a", "b", "c"],
                      "price": ["1.5", "abc", None]})
    path = _write(tmp_path, table)
    with pytest.raises(UpsellDataError, match=r"row 2 \(order 2\): `price` 'abc' is not a number"):
        Transactions.read_parquet(path)
    tx = Transactions.read_parquet(path, invalid="drop")
    assert tx.report.rows_read == 3
    assert "price not a number: 1" in str(tx.report)
    assert "price missing or not finite: 1" in str(tx.report)  # null: a blank, as in a CSV
    assert tx.price.tolist() == [1.5]


def test_a_folder_of_parts_with_partition_folders(tmp_path, expected):
    t = _text_table()
    folder = tmp_path / "lines"
    for k, part in enumerate((t.slice(0, 3), t.slice(3))):
        sub = folder / f"shard={k}"
        sub.mkdir(parents=True)
        pq.write_table(part, sub / f"part-{k:05d}.parquet")
    (folder / "_SUCCESS").write_text("")  # Spark's marker: not a part
    got = Transactions.read_parquet(folder, columns=COLUMNS, cancel_prefix="C")
    _same(got, expected)
    by_shard = Transactions.read_parquet(folder, columns={**COLUMNS, "channel": "shard"},
                                         cancel_prefix="C")
    assert by_shard.channels.ids.tolist() == [0, 1]


def test_errors_name_the_file_and_the_column(tmp_path):
    path = _write(tmp_path, pa.table({"order": ["1"], "item": ["a"],
                                      "price": pa.array([[1.0]], pa.list_(pa.float64()))}))
    with pytest.raises(UpsellDataError, match=r"column 'price' \(for `price`\).*not numbers"):
        Transactions.read_parquet(path)
    with pytest.raises(UpsellDataError, match=r"column 'sku' \(for `item`\) is not in"):
        Transactions.read_parquet(path, columns={"item": "sku"})
    with pytest.raises(UpsellDataError, match="does not exist"):
        Transactions.read_parquet(tmp_path / "missing.parquet")
    csv = tmp_path / "o.csv"
    csv.write_text("order,item\n1,a\n")
    with pytest.raises(UpsellDataError, match="is not a Parquet file"):
        Transactions.read_parquet(csv)
    empty = _write(tmp_path, pa.table({"order": pa.array([], pa.string()),
                                       "item": pa.array([], pa.string())}), "empty.parquet")
    with pytest.raises(UpsellDataError, match="has no rows"):
        Transactions.read_parquet(empty)
    with pytest.raises(TypeError, match="delimiter"):
        Transactions.read_parquet(path, delimiter=";")


def test_a_joined_header_written_with_a_plus_is_told_to_pass_a_tuple(tmp_path):
    path = _write(tmp_path, pa.table({"cust": ["u"], "day": ["2020-01-01"], "item": ["a"]}))
    with pytest.raises(UpsellDataError, match=r"pass a tuple, columns=\{'order': \('cust', "
                                              r"'day'\)\}"):
        Transactions.read_parquet(path, columns={"order": "cust+day"})


@pytest.mark.parametrize(("head", "kind", "says"), [
    (b"PK\x03\x04not really a zip", "zip", "a damaged or encrypted ZIP archive .*unpack it"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "xls",
     r"an Excel 97-2003 workbook.*Transactions\.read_excel"),
])
def test_text_readers_refuse_archives_and_workbooks_with_advice(tmp_path, head, kind, says):
    path = tmp_path / "orders.bin"
    path.write_bytes(head)
    assert file_kind(path) == kind
    with pytest.raises(UpsellDataError, match=says):
        Transactions.read_csv(path)


def test_read_csv_on_a_parquet_file_points_to_read_parquet(tmp_path):
    path = _write(tmp_path, _text_table())
    assert file_kind(path) == "parquet"
    with pytest.raises(UpsellDataError, match=r"is a Parquet file.*Transactions\.read_parquet"):
        Transactions.read_csv(path)
    fake = tmp_path / "par1.csv"  # a CSV that starts with the magic is still text
    fake.write_text("PAR1,item\n1,a\n")
    assert file_kind(fake) == "text"


def test_the_command_line_reads_parquet_files_and_folders(tmp_path, capsys):
    from upsell.cli import main

    path = _write(tmp_path, _text_table())
    cols = ("--columns", "order=InvoiceNo,item=StockCode,customer=CustomerID,quantity=Quantity,"
            "price=UnitPrice,time=InvoiceDate")
    out = io.StringIO()
    assert main(["--quiet", "kpi", str(path), *cols, "--cancel-prefix", "C"], out=out) == 0
    csv = tmp_path / "orders.csv"
    csv.write_text(CSV)
    want = io.StringIO()
    assert main(["--quiet", "kpi", str(csv), *cols, "--cancel-prefix", "C"], out=want) == 0
    assert out.getvalue() == want.getvalue()
    assert main(["--quiet", "kpi", str(path), *cols, "--delimiter", ";"]) == 2
    assert "--delimiter goes with CSV files" in capsys.readouterr().err


def test_a_parquet_catalog_reads_as_its_csv_export(tmp_path):
    from upsell.data import Catalog

    path = _write(tmp_path, pa.table({"sku": pa.array([85123.0, 71053.0, None]),
                                      "price": [2.55, 3.39, 1.0], "family": ["a", "a", None],
                                      "storage_gb": pa.array([64, 128, 256], pa.int32())}),
                  "catalog.parquet")
    with pytest.raises(UpsellDataError, match=r"a catalog with Catalog\.read_table"):
        Catalog.read_csv(path)
    with pytest.raises(UpsellDataError, match=r"has no `item` column.*columns=\{'item': 'sku'\}"):
        Catalog.read_table(path)
    with pytest.raises(UpsellDataError, match=r"`item` is empty|item"):
        Catalog.read_table(path, columns={"item": "sku"})  # a blank id, as in a CSV
    csv = tmp_path / "catalog.csv"
    csv.write_text("sku,price,family,storage_gb\n85123,2.55,a,64\n71053,3.39,a,128\n")
    want = Catalog.read_csv(csv, columns={"item": "sku"})
    got = Catalog.read_table(_write(tmp_path, pa.table({
        "sku": pa.array([85123.0, 71053.0]), "price": [2.55, 3.39], "family": ["a", "a"],
        "storage_gb": pa.array([64, 128], pa.int32())}), "ok.parquet"), columns={"item": "sku"})
    assert got.items.ids.tolist() == want.items.ids.tolist() == [71053, 85123]
    assert got.price.tolist() == want.price.tolist()
    assert got.features["storage_gb"].tolist() == want.features["storage_gb"].tolist()
