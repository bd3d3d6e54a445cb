"""Transactions.read_csv (pyarrow parsing, upsell's rules) against a stdlib-csv oracle, and to_csv."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from upsell.data import _arrow, _sources
from upsell.data import _columns as C
from upsell.data._clean import EMPTY_ROW, prepare
from upsell.data._columns import _positional, resolve_columns
from upsell.data.ids import IdIndex
from upsell.data.io import maybe_int_ids
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

OPTS = {"columns": None, "delimiter": ",", "encoding": "utf-8", "header": True}


@contextmanager
def block_size(n: int):
    """Make pyarrow read small blocks, so records cross block boundaries."""
    old = _sources._BLOCK
    _sources._BLOCK = n
    try:
        yield
    finally:
        _sources._BLOCK = old


def fast(path: Path, *, invalid: str = "raise", **kw: Any):
    opts = {**OPTS, **kw}
    return Transactions.read_csv(path, invalid=invalid, **opts)


def _oracle_ids(values: np.ndarray, role: str, repairs: dict[str, np.ndarray]) -> np.ndarray:
    """The documented id rules, written plainly: strip (counted), blank = missing, ints."""
    arr = np.char.strip(values)
    changed = (np.char.str_len(arr) != np.char.str_len(values)) & (np.char.str_len(arr) > 0)
    if changed.any():
        repairs[f"{role} id stripped of surrounding spaces"] = changed
    blank = np.char.str_len(arr) == 0
    if not blank.any() or blank.all():
        return maybe_int_ids(arr)
    ints = maybe_int_ids(arr[~blank])
    if ints.dtype.kind != "i":
        return arr
    out = np.empty(arr.size, dtype=object)
    out[~blank] = ints.tolist()
    return out


def reference(path: Path, *, invalid: str = "raise", **kw: Any):
    """Read a well-formed CSV with the stdlib csv module and the documented rules."""
    opts = {**OPTS, **kw}
    header, columns = opts["header"], opts["columns"]
    label = str(path)
    text = path.read_bytes().decode("utf-8")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""),
                        delimiter=opts["delimiter"])
    first = next(reader, None)
    if first is None:
        raise UpsellDataError(f"{label} is empty: no header and no data rows")
    if header:
        names, pending = [h.strip() for h in first], []
    else:
        names, pending = [str(i) for i in range(len(first))], [first]
    roles = resolve_columns(names, _positional(columns, header), source=label)
    width = len(names)
    cols: dict[str, list[str]] = {r: [] for r in roles}
    row_no = 0
    for row in itertools.chain(pending, reader):
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            raise UpsellDataError(f"{label} row {row_no + 1:,} (line {reader.line_num:,}): "
                                  f"has {len(row)} fields; the header has {width}")
        row_no += 1
        for role, pos in roles.items():
            cols[role].append(row[pos])
    if row_no == 0:
        raise UpsellDataError(f"{label} has a header but no data rows")
    repairs: dict[str, np.ndarray] = {}
    arrays: dict[str, Any] = {}
    for role, values in cols.items():
        arr = np.array(values, dtype=str)
        if role in ("order", "item", "customer", "channel"):
            arr = _oracle_ids(arr, role, repairs)
        arrays[role] = arr
    prep = prepare(arrays, invalid=invalid, item_index=None, customer_index=None, source=label)
    prep.repairs.update(repairs)
    return Transactions._from_prepared(prep, invalid=invalid)


def outcome(read, path: Path, invalid: str, **kw: Any):
    """Transactions a reader built, or the UpsellDataError it raised."""
    try:
        return read(path, invalid=invalid, **kw)
    except UpsellDataError as exc:
        return exc


def row_of(message: str) -> str | None:
    m = re.search(r"row ([\d,]+)", message)
    return m.group(1) if m else None


def assert_same(a: Any, b: Any, b_empty_rows_unseen: int = 0) -> None:
    """``a`` and ``b`` hold the same lines and report, or fail at the same row; ``b``'s
    last ``b_empty_rows_unseen`` empty rows (dropped and counted) are not in ``a``."""
    if isinstance(b, Exception) or isinstance(a, Exception):
        assert isinstance(a, UpsellDataError) and isinstance(b, UpsellDataError), (a, b)
        assert row_of(str(a)) == row_of(str(b)), (str(a), str(b))
        return
    assert a.shape == b.shape
    for col in ("order", "item", "customer", "quantity", "price", "time", "channel"):
        x, y = a._cols[col], b._cols[col]
        if x is None or y is None:
            assert x is None and y is None, col
            continue
        assert x.dtype == y.dtype, col
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), col
    for name in ("orders", "items", "customers"):
        ia, ib = getattr(a, name), getattr(b, name)
        assert ia == ib, (name, ia, ib)
        assert ia.ids.tolist() == ib.ids.tolist()
    want = dict(b.report.dropped)
    if b_empty_rows_unseen:
        assert want[EMPTY_ROW] >= b_empty_rows_unseen
        want[EMPTY_ROW] -= b_empty_rows_unseen
    assert a.report.rows_read == b.report.rows_read - b_empty_rows_unseen
    assert dict(a.report.dropped) == {k: v for k, v in want.items() if v}
    assert dict(a.report.repaired) == dict(b.report.repaired)
    assert dict(a.report.flagged) == dict(b.report.flagged)


# ---------------------------------------------------------------- random files
_id_text = st.one_of(
    st.integers(0, 10**6).map(str),
    st.sampled_from(["007", "12.0", "-4", " 5 ", "x", "a,b", 'q"t', "line\nbreak", "é", "Z9"]),
    st.text(alphabet='ab ,"\n0', min_size=1, max_size=4),
)
_number_text = st.one_of(
    st.integers(-3, 9).map(str),
    st.sampled_from(["1.5", "2.", ".25", "1e2", "-0", " 3 ", "", "1_0", "nan", "abc", "1e400"]),
    st.floats(0.01, 1e6, allow_nan=False).map(repr),
)
_time_text = st.sampled_from(["2011-12-09 12:50:00", "2011-12-09T12:50", "2011-12-09",
                              "2011-12-10 08:00:00", "", "2011-02-30", "soon", "2011-12"])


@st.composite
def csv_files(draw: Any, header: bool = True) -> tuple[str, str]:
    roles = ["order", "item", *draw(st.lists(
        st.sampled_from(["customer", "quantity", "price", "time", "extra"]), unique=True))]
    roles = draw(st.permutations(roles))
    int_ids = draw(st.booleans())
    n = draw(st.integers(1, 12))
    orders = [str(draw(st.integers(1, 4))) for _ in range(n)]
    rows = []
    for i in range(n):
        row = []
        for role in roles:
            if role == "order":
                value = orders[i] if int_ids else draw(_id_text)
            elif role == "item":
                value = str(draw(st.integers(1, 5))) if int_ids else draw(_id_text)
            elif role == "customer":
                value = draw(st.sampled_from(["", "10", "11", "12", "c1", "10.0"])) \
                    if not int_ids else draw(st.sampled_from(["", "10", "11"]))
            elif role in ("quantity", "price"):
                value = draw(_number_text)
            elif role == "time":
                value = draw(_time_text)
            else:
                value = draw(st.text(alphabet='xy ,"\r\n', max_size=3))
            row.append(value)
        rows.append(row)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = []
    for row in [roles, *rows] if header else rows:
        cells = []
        for v in row:
            must = any(c in v for c in ',"\n\r')
            if must or draw(st.integers(0, 5)) == 0:
                v = '"' + v.replace('"', '""') + '"'
            cells.append(v)
        lines.append(",".join(cells))
        if draw(st.integers(0, 6)) == 0:
            lines.append(draw(st.sampled_from(["", "  "])))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text, draw(st.sampled_from(["raise", "drop"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_files(), chunk=st.sampled_from([256, 1 << 24]))
def test_fast_reader_matches_reference(tmp_path_factory, case, chunk):
    text, invalid = case
    path = tmp_path_factory.mktemp("twin") / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    with block_size(chunk):
        got = outcome(fast, path, invalid)
    assert_same(got, outcome(reference, path, invalid))


@settings(max_examples=40, deadline=None)
@given(case=csv_files(header=False))
def test_fast_reader_without_header_matches_reference(tmp_path_factory, case):
    text, invalid = case
    path = tmp_path_factory.mktemp("nohead") / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    cols = {"order": 0, "item": 1}
    assert_same(outcome(fast, path, invalid, header=False, columns=cols),
                outcome(reference, path, invalid, header=False, columns=cols))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_files())
def test_parquet_of_the_same_cells_reads_as_the_csv(tmp_path_factory, case):
    """``read_parquet`` on the CSV's cells, written as text columns, gives what ``read_csv``
    gives: the same arrays, ids and report, or an error naming the same row."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    text, invalid = case
    folder = tmp_path_factory.mktemp("pq")
    path = folder / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    want = outcome(fast, path, invalid)
    names = next(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    try:
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                               convert_options=pacsv.ConvertOptions(
                                   column_types={n: pa.string() for n in names},
                                   strings_can_be_null=False))
    except pa.ArrowInvalid:
        event("skipped")
        return  # a line of blanks read as a row of one field: no table to write
    pq.write_table(table, folder / "f.parquet")
    assert_same(outcome(Transactions.read_parquet, folder / "f.parquet", invalid), want)


_EMPTY_ROWS = '"order","item"\n\n"0",","\n" ","\n"\n"0","0"\n",",","\n"0",","\n'


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_files())
@example(case=(_EMPTY_ROWS, "raise"))  # a row of blanks: an error in the CSV, none in the sheet
@example(case=(_EMPTY_ROWS, "drop"))
@example(case=(_EMPTY_ROWS + '"",""\n,\n', "drop"))  # empty rows the sheet does not hold
def test_a_workbook_of_the_same_text_cells_reads_as_the_csv(tmp_path_factory, case):
    """``read_excel`` on the CSV's cells written as text cells gives what ``read_csv`` gives."""
    pytest.importorskip("python_calamine")
    openpyxl = pytest.importorskip("openpyxl")
    text, invalid = case
    folder = tmp_path_factory.mktemp("xlsx")
    path = folder / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    want = outcome(fast, path, invalid)
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
            if r]  # blank lines are skipped by both readers
    if len({len(r) for r in rows}) != 1:
        event("skipped")
        return  # a row with the wrong number of fields: the CSV error has no sheet twin
    book = openpyxl.Workbook()
    for r in rows:
        book.active.append([c if c.strip() else None for c in r])
    book.save(folder / "f.xlsx")
    got = outcome(Transactions.read_excel, folder / "f.xlsx", invalid)
    # a sheet ends at its last row with a value: the CSV's empty rows after it have no twin
    trailing = next(j for j, r in enumerate(reversed(rows)) if any(c.strip() for c in r)
                    or j == len(rows) - 1)
    if trailing and not isinstance(want, Exception):
        event("trailing empty rows")
    assert_same(got, want, b_empty_rows_unseen=trailing)


def test_whole_files_cross_blocks_identically(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    lines = ["order,item,customer,quantity,price,time"]
    for i in range(n):
        cust = "" if (i // 3) % 10 == 0 else str(100 + (i // 3) % 29)
        item = rng.choice(["A", '"B,1"', "C C", '"say ""hi"""', "1234567890ABC"])
        lines.append(f"{i // 3},{item},{cust},{rng.integers(-1, 5)},{rng.integers(1, 999) / 100},"
                     f"2011-12-{1 + i % 28:02d} 10:{i % 60:02d}:00")
    path = tmp_path / "big.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    with block_size(1000):
        got = outcome(fast, path, "raise")
    assert_same(got, outcome(reference, path, "raise"))
    assert isinstance(got, Transactions) and got.customers.kind == "int"


def test_quoted_line_breaks_across_blocks_read_again(tmp_path):
    # pyarrow reads without newlines_in_values first; a block cut inside quotes makes
    # it read again with it, never a wrong row
    lines = ["order,item,note,quantity"]
    for i in range(600):
        note = '"two\nlines, and ""quotes"""' if i % 5 == 0 else "plain"
        item = "Q" if i % 5 == 0 else f"I{i % 17}"
        lines.append(f"{i // 2},{item},{note},{1 + i % 3}")
    path = tmp_path / "notes.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cols = {"order": "order", "item": "item", "name": "note", "quantity": "quantity"}
    for size in (300, 1 << 24):
        with block_size(size):
            got = Transactions.read_csv(path, columns=cols, duplicates="keep")
        assert got.report.rows_read == 600
        names = dict(zip(got.items.ids.tolist(), got.item_names().tolist(), strict=True))
        assert names.pop("Q") == 'two\nlines, and "quotes"'
        assert set(names.values()) == {"plain"}


# ---------------------------------------------------------------- malformed input
def write(tmp_path: Path, text: str, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


def test_wrong_field_count_names_row_and_line(tmp_path):
    p = write(tmp_path, 'order,item,quantity\n1,"a\nb",2\n\n2,B\n')
    with pytest.raises(UpsellDataError, match=r"f\.csv row 2 \(line 5\): has 2 fields; the header has 3"):
        Transactions.read_csv(p)
    with pytest.raises(UpsellDataError, match=r"row 2 \(line 5\)"):
        reference(p)


def test_bad_number_names_row_order_column_and_value(tmp_path):
    p = write(tmp_path, "order,item,quantity\n1,A,2\nX7,B,abc\n")
    with pytest.raises(UpsellDataError,
                       match=r"row 2 \(order 'X7'\): `quantity` 'abc' is not a number"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, invalid="drop")
    assert tx.report.dropped == {"quantity not a number": 1}


def test_today_and_now_are_not_read_as_the_run_time(tmp_path):
    # numpy reads "today" and "now" as the moment of the run: a dirty line would move to it
    p = write(tmp_path, "order,item,time\n1,A,2011-01-01\n2,B,today\n3,C, NOW \n4,D, 2011-01-02 \n")
    with pytest.raises(UpsellDataError, match=r"row 2 \(order 2\): `time` 'today' is not a timestamp"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, invalid="drop")
    assert tx.report.dropped == {"time not a timestamp": 2}
    assert tx.time.astype(str).tolist() == ["2011-01-01T00:00:00", "2011-01-02T00:00:00"]


def test_bad_price_and_timestamp(tmp_path):
    p = write(tmp_path, "order,item,price,time\n1,A,1.5,2011-01-01\n2,B,2,2011-02-30\n")
    with pytest.raises(UpsellDataError,
                       match=r"row 2 \(order 2\): `time` '2011-02-30' is not a timestamp"):
        Transactions.read_csv(p)
    assert Transactions.read_csv(p, invalid="drop").report.dropped == {
        "time not a timestamp": 1}
    p2 = write(tmp_path, "order,item,price\n1,A,1.5\n2,B,1.2.3\n", "g.csv")
    with pytest.raises(UpsellDataError, match=r"row 2 \(order 2\): `price` '1.2.3'"):
        Transactions.read_csv(p2)


@pytest.mark.parametrize("gz", [False, True])
def test_time_format_reads_the_file_and_keeps_offsets_in_utc(tmp_path, gz):
    text = ("order,item,time\n1,A,12/31/2011 23:59\n2,B,1/2/2012 8:05 \n"
            "4,B,12/13/2011 00:00\n")
    p = tmp_path / "f.csv"
    if gz:
        import gzip

        p = tmp_path / "f.csv.gz"
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    tx = Transactions.read_csv(p, time_format="%m/%d/%Y %H:%M")
    got = sorted(str(t) for t in tx.time)
    assert got == ["2011-12-13T00:00:00", "2011-12-31T23:59:00", "2012-01-02T08:05:00"]
    with pytest.raises(UpsellDataError, match=r"pass time_format='%m/%d/%Y %H:%M' \(a second "
                                              r"field above 12 \(12/31/2011 23:59\) is a day\)"):
        Transactions.read_csv(p)
    with pytest.raises(UpsellDataError, match=r"row 1 \(order 1\): `time` '12/31/2011 23:59' is "
                                              r"not a timestamp \(expected time_format "
                                              r"'%d/%m/%Y %H:%M'\)"):
        Transactions.read_csv(p, time_format="%d/%m/%Y %H:%M")
    dropped = Transactions.read_csv(p, time_format="%d/%m/%Y %H:%M", invalid="drop")
    assert dropped.report.dropped == {"time not a timestamp": 2}
    assert str(dropped.time[0]) == "2012-02-01T08:05:00"
    z = write(tmp_path, "order,item,time\n1,A,2011-12-31T23:59:00+0100\n", "z.csv")
    tz = Transactions.read_csv(z, time_format="%Y-%m-%dT%H:%M:%S%z")
    assert str(tz.time[0]) == "2011-12-31T22:59:00"
    with pytest.raises(UpsellDataError, match="`time_format` must be a strptime format"):
        Transactions.read_csv(z, time_format="yyyy-mm-dd")


def test_invalid_utf8_names_line_and_byte(tmp_path):
    p = tmp_path / "f.csv"
    p.write_bytes(b"order,item\n1,A\n2,\xff\n")
    with pytest.raises(UpsellDataError, match=r"f\.csv line 3 is not valid utf-8 text .*byte 17"):
        Transactions.read_csv(p)
    assert Transactions.read_csv(p, encoding="latin-1").items.ids.tolist() == ["A", "ÿ"]


def test_empty_header_only_and_missing_column(tmp_path):
    with pytest.raises(UpsellDataError, match="is empty: no header and no data rows"):
        Transactions.read_csv(write(tmp_path, "", "e.csv"))
    with pytest.raises(UpsellDataError, match="is empty"):
        Transactions.read_csv(write(tmp_path, "\ufeff", "bom.csv"))
    with pytest.raises(UpsellDataError, match="has a header but no data rows"):
        Transactions.read_csv(write(tmp_path, "order,item\r\n\r\n", "h.csv"))
    with pytest.raises(UpsellDataError, match=r"no `item` column in .*m\.csv"):
        Transactions.read_csv(write(tmp_path, "order,sku\n1,a\n", "m.csv"))
    with pytest.raises(UpsellDataError, match=r"column 'Sku' \(for `item`\) is not in"):
        Transactions.read_csv(write(tmp_path, "order,sku\n1,a\n", "m.csv"),
                              columns={"item": "Sku"})
    with pytest.raises(UpsellDataError, match="not a known text encoding"):
        Transactions.read_csv(write(tmp_path, "order,item\n1,a\n", "x.csv"), encoding="nope")


# ---------------------------------------------------------------- options and formats
def test_gzip_by_magic_bom_crlf_and_delimiter(tmp_path):
    text = "\ufefforder;item;customer\r\n1;a;7\r\n1;b;7\r\n2;a;\r\n"
    p = tmp_path / "plain_name.csv"
    with gzip.open(p, "wb") as fh:
        fh.write(text.encode("utf-8"))
    tx = Transactions.read_csv(p, delimiter=";")
    assert tx.shape == (3, 2, 2)
    assert tx.customers.ids.tolist() == [7]  # blank customer is missing, ids stay int
    assert tx.customer.tolist() == [0, 0, -1]


def test_header_false_positions_and_fixed_item_index(tmp_path):
    p = write(tmp_path, "1\tA\t2\n2\tZ\t1\n")
    tx = Transactions.read_csv(p, header=False, delimiter="\t",
                               columns={"order": 0, "item": 1, "quantity": 2},
                               item_index=IdIndex(["A", "B"]), invalid="drop")
    assert tx.items.ids.tolist() == ["A", "B"]
    assert tx.report.dropped == {"item not in the item index": 1}
    with pytest.raises(UpsellDataError, match="holds str ids but the given item index holds int"):
        Transactions.read_csv(p, header=False, delimiter="\t",
                              columns={"order": 0, "item": 1}, item_index=IdIndex([1, 2]))


def test_lenient_quoting_reads_like_the_csv_module(tmp_path):
    p = write(tmp_path, 'order,item\n1,ab"c\n2,"x"y\n')
    tx = Transactions.read_csv(p)
    assert tx.items.ids.tolist() == ['ab"c', "xy"]


def test_ids_follow_the_integer_rule(tmp_path):
    p = write(tmp_path, "order,item\n17850.0,007\n 12 ,7\n")
    tx = Transactions.read_csv(p)
    assert tx.orders.ids.tolist() == [12, 17850]
    assert tx.items.ids.tolist() == ["007", "7"]


# ---------------------------------------------------------------- to_csv
def test_to_csv_round_trips(tmp_path):
    tx = Transactions.from_arrays(
        order=["o1", "o1", "o2", "o3"], item=["a,b", 'say "x"', "a,b", "c"],
        customer=[5, 5, None, 6], quantity=[1, 2.5, 3, 1], price=[0.1, 2.0, 1e-7, 3.0],
        time=["2011-12-09 12:50:00", "2011-12-09 12:50:00", "2011-12-10", "2012-01-01"],
        channel=["web", "web", "shop", "web"])
    for name in ("t.csv", "t.csv.gz"):
        tx.to_csv(tmp_path / name)
        back = Transactions.read_csv(tmp_path / name)
        for col in ("order", "item", "customer", "quantity", "price", "time", "channel"):
            assert np.array_equal(back._cols[col], tx._cols[col]), col
        assert back.items == tx.items and back.customers == tx.customers
    with gzip.open(tmp_path / "t.csv.gz", "rt") as fh:
        assert fh.readline() == "order,item,customer,quantity,price,time,channel\n"
    cols = {"order": "InvoiceNo", "item": "StockCode"}
    tx.to_csv(tmp_path / "named.csv", columns=cols)
    assert Transactions.read_csv(tmp_path / "named.csv", columns=cols).shape == tx.shape
    with pytest.raises(UpsellDataError, match="unknown role 'sku'"):
        tx.to_csv(tmp_path / "x.csv", columns={"sku": "x"})


# ---------------------------------------------------------------- larger files
def _order_file(tmp_path: Path, n: int = 4000, blank_at: int | None = None) -> Path:
    rng = np.random.default_rng(1)
    lines = ["order,item,customer,quantity,price,time,channel"]
    for i in range(n):
        if i == blank_at:
            lines.append("")
        cust = "" if i % 7 == 0 else f"C{(i // 3) % 50:04d}"
        lines.append(f"O{i // 3:07d},I{rng.integers(0, 300):05d},{cust},{rng.integers(-1, 4)},"
                     f"{rng.integers(1, 99999) / 100},2011-12-{1 + i % 28:02d}T10:{i % 60:02d}:00,"
                     f"{rng.choice(['web', 'store', 'app'])}")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("blank_at", [None, 1234])
def test_small_blocks_agree_with_reference(tmp_path, blank_at):
    path = _order_file(tmp_path, blank_at=blank_at)
    want = outcome(reference, path, "raise")
    with block_size(4096):
        assert_same(outcome(fast, path, "raise"), want)


def test_errors_in_later_blocks_name_file_wide_row_and_line(tmp_path):
    path = _order_file(tmp_path, n=3000)
    lines = path.read_text().split("\n")
    lines[2500] = lines[2500] + ",extra"
    path.write_text("\n".join(lines))
    with block_size(2048), pytest.raises(
            UpsellDataError, match=r"row 2,500 \(line 2,501\): has 8 fields"):
        fast(path)
    with pytest.raises(UpsellDataError, match=r"row 2,500 \(line 2,501\)"):
        reference(path)


def test_id_column_mixes_sorted_hashed_and_wide_blocks(tmp_path):
    # short sorted ids, short unsorted ids, then ids over 8 bytes, across many blocks
    rows = [f"{o},{i}" for o, i in zip(range(100, 900), ["b", "a", "c", "aa"] * 200, strict=True)]
    rows += [f"x{o % 13},item-number-{o % 17}" for o in range(600)]
    path = tmp_path / "mix.csv"
    path.write_text("order,item\n" + "\n".join(rows) + "\n")
    want = outcome(reference, path, "raise")
    with block_size(512):
        assert_same(outcome(fast, path, "raise"), want)


def test_text_ids_shortcut_keeps_the_reference_rules(tmp_path):
    text = ("order,item,customer\n"
            "O2,é-1,c 1\nO1,Z,\nO10,\" Z\",c2\nO3,a,c2\nO1,-,c 1\n")
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8")
    got = outcome(fast, path, "raise")
    assert_same(got, outcome(reference, path, "raise"))
    assert got.items.ids.tolist() == ["-", "Z", "a", "é-1"]  # " Z" stripped onto "Z"
    assert got.orders.ids.tolist() == ["O1", "O10", "O2", "O3"]


@pytest.mark.parametrize("cells", [
    ["1", "-2", "+3", "007", "-0", "0", "12"],
    ["1.5", "-.25", "2.", "+.5", "-0.0", "107.99", "0.1", "3"],
    ["999999999999999", "-123456789012345", "1234567890.12345"],
    ["9999999999999999", "12345678901234567", "0.1234567890123456789"],
    ["", "1e5", " 3 ", "1_0", "nan", "-inf", "1.2.3", "abc", "-", ".", "+-1", "1-"],
    ["12345678901234567890123", "1e400", "0x10", "٣"],
])
def test_numbers_match_float(tmp_path, cells):
    """Numbers in a CSV are what float() reads (pyarrow's parser or, when it refuses, float())."""
    lines = ["order,item,quantity"] + [f'{i},a,"{c}"' for i, c in enumerate(cells)]
    p = write(tmp_path, "\n".join(lines) + "\n")
    part = _arrow.read_part(p.read_bytes(), label="f", **OPTS)
    prep = _arrow.prepare_parts([part], label="f", order_headers=None, invalid="drop",
                                item_index=None, customer_index=None)
    bad = prep.bad.get("quantity not a number", np.zeros(len(cells), dtype=bool))
    for i, cell in enumerate(cells):
        try:
            want = float(cell) if cell.strip() else float("nan")
        except ValueError:
            assert bad[i], cell
            continue
        assert not bad[i], cell
        got = prep.quantity[i]
        assert (got == want and np.signbit(got) == np.signbit(want)) or (
            np.isnan(got) and np.isnan(want)), (cell, got, want)
    _, wrong = C.parse_numbers(np.array(cells))
    assert wrong.tolist() == bad.tolist()


@settings(max_examples=30, deadline=None)
@given(seconds=st.lists(st.integers(-2_208_988_800, 7_258_118_399), min_size=1, max_size=30),
       sep=st.sampled_from(["T", " "]))
def test_timestamps_read_back_exactly(tmp_path_factory, seconds, sep):
    stamps = np.array(seconds, dtype="datetime64[s]")
    text = np.char.replace(np.datetime_as_string(stamps, unit="s"), "T", sep)
    p = tmp_path_factory.mktemp("ts") / "t.csv"
    p.write_text("order,item,time\n" + "".join(f"{i},a,{t}\n" for i, t in enumerate(text)))
    tx = Transactions.read_csv(p)
    np.testing.assert_array_equal(np.sort(tx.time), np.sort(stamps))


def test_timestamp_shapes_mixed_in_a_block(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("order,item,time\n1,a,2011-12-09 12:50:00\n2,b,2011-12-09T12:50\n"
                    "3,c,2011-12-09\n4,d,2012-02-29T23:59:59\n5,e,2011-02-29 00:00:00\n")
    with pytest.raises(UpsellDataError, match=r"row 5 \(order 5\): `time` '2011-02-29 00:00:00'"):
        Transactions.read_csv(path)
    got = outcome(fast, path, "drop")
    assert_same(got, outcome(reference, path, "drop"))
    assert str(got.time[1]) == "2011-12-09T12:50:00"


def test_time_texts_with_utc_offsets_raise_no_warning(tmp_path):
    path = write(tmp_path, "order,item,time\n1,a,2011-12-09T12:50:00+01:00\n2,b,2011-12-09T12:50:00Z\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tx = Transactions.read_csv(path)
    assert [str(t) for t in tx.time] == ["2011-12-09T11:50:00", "2011-12-09T12:50:00"]


# ------------------------------------------------------- gzip inflated while it is parsed
def _big_text(n: int = 60_000, *, crlf: bool = False, quotes: bool = True) -> str:
    end = "\r\n" if crlf else "\n"
    rows = ["\ufefforder,item,customer,quantity,name"]
    for i in range(n):
        name = f'"cup, {i % 7}"' if quotes and i % 5 == 0 else f"cup {i % 7}"
        rows.append(f"{i // 3},I{i % 97},{1000 + i // 30},{1 + i % 4},{name}")
    return end.join(rows) + end


def test_gzip_streamed_matches_plain_members_bom_crlf(tmp_path):
    # beyond the first inflated megabyte the file is inflated while pyarrow parses it;
    # two gzip members (as `cat a.gz b.gz` makes), a BOM and CR LF line ends as well
    text = _big_text(crlf=True)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(text.encode()[3:])
    raw = text.encode()
    half = len(raw) // 2 + 1  # a CR LF may fall across the members too
    packed = tmp_path / "two.csv.gz"
    packed.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    assert _sources.GzipSource.open(str(packed)) is not None  # the streamed path
    a, b = Transactions.read_csv(plain), Transactions.read_csv(packed)
    assert a.report.rows_read == b.report.rows_read == 60_000
    for col in ("order", "item", "customer", "quantity"):
        assert np.array_equal(a._cols[col], b._cols[col]), col
    assert a.item_names().tolist() == b.item_names().tolist()


def test_gzip_streamed_truncated_or_damaged_is_a_clear_error(tmp_path):
    whole = gzip.compress(_big_text(quotes=False).encode(), compresslevel=1)
    for cut in (0.6, 0.97):
        p = tmp_path / f"cut{cut}.csv.gz"
        p.write_bytes(whole[:int(len(whole) * cut)])
        if cut == 0.97:  # well past the first inflated megabyte: found while parsing
            assert _sources.GzipSource.open(str(p)) is not None
        with pytest.raises(UpsellDataError, match="truncated or damaged gzip"):
            Transactions.read_csv(p)
    damaged = bytearray(whole)
    damaged[len(whole) * 9 // 10] ^= 0xFF
    p = tmp_path / "damaged.csv.gz"
    p.write_bytes(bytes(damaged))
    with pytest.raises(UpsellDataError, match="truncated or damaged gzip"):
        Transactions.read_csv(p)


def test_gzip_streamed_unterminated_quote_and_bad_utf8_named(tmp_path):
    lines = _big_text(quotes=False).split("\n")
    lines[50_001] = lines[50_001].replace("cup", '"cup', 1)
    p = tmp_path / "q.csv.gz"
    p.write_bytes(gzip.compress("\n".join(lines).encode()))
    with pytest.raises(UpsellDataError, match="line 50,002: a quoted field opens here"):
        Transactions.read_csv(p)
    raw = "\n".join(_big_text(quotes=False).split("\n")).encode()
    at = raw.index(b"I5", len(raw) * 9 // 10)
    bad = raw[:at] + b"\xff" + raw[at + 1:]
    p = tmp_path / "u.csv.gz"
    p.write_bytes(gzip.compress(bad))
    with pytest.raises(UpsellDataError, match=rf"not valid utf-8 text .*byte {at - 3:,}\b"):
        Transactions.read_csv(p)


def test_zip_member_streamed_matches_plain_bom_crlf_quotes(tmp_path):
    """A ZIP member (deflated or stored) is inflated while pyarrow parses it: the same
    columns as the plain file, beyond the first megabyte, BOM, CR LF and quotes too."""
    import zipfile

    from upsell.data._zip import Member

    text = _big_text(crlf=True)
    plain = tmp_path / "plain.csv"
    plain.write_bytes(text.encode()[3:])
    a = Transactions.read_csv(plain)
    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        packed = tmp_path / f"sales{method}.zip"
        with zipfile.ZipFile(packed, "w", method) as z:
            z.writestr("sales.csv", text.encode())
        assert _sources.ZipMemberSource.open_member(Member(str(packed), "sales.csv")) is not None
        b = Transactions.read_csv(packed)
        assert a.report.rows_read == b.report.rows_read == 60_000
        for col in ("order", "item", "customer", "quantity"):
            assert np.array_equal(a._cols[col], b._cols[col]), col
        assert a.item_names().tolist() == b.item_names().tolist()


def test_zip_member_streamed_damaged_quote_and_utf8_named(tmp_path):
    import zipfile

    whole = _big_text(quotes=False).encode()
    packed = tmp_path / "sales.zip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("sales.csv", whole)
    raw = bytearray(packed.read_bytes())
    with zipfile.ZipFile(packed) as z:
        info = z.getinfo("sales.csv")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + info.compress_size * 9 // 10] ^= 0xFF  # past the first inflated megabyte
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(UpsellDataError, match=r"damaged\.zip:sales\.csv cannot be read from the "
                                              r"archive \(.*\); unpack it"):
        Transactions.read_csv(damaged)
    lines = whole.decode().split("\n")
    lines[50_001] = lines[50_001].replace("cup", '"cup', 1)
    quoted = tmp_path / "q.zip"
    with zipfile.ZipFile(quoted, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("q.csv", "\n".join(lines).encode())
    with pytest.raises(UpsellDataError, match=r"q\.zip:q\.csv line 50,002: a quoted field opens"):
        Transactions.read_csv(quoted)
    at = whole.index(b"I5", len(whole) * 9 // 10)
    bad = tmp_path / "u.zip"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("u.csv", whole[:at] + b"\xff" + whole[at + 1:])
    with pytest.raises(UpsellDataError, match=rf"u\.zip:u\.csv .*not valid utf-8 text .*byte "
                                              rf"{at - 3:,}\b"):
        Transactions.read_csv(bad)


# ------------------------------------------- shortcuts that must not change a result
_short_id = st.text(alphabet=["a", "b", "Z", "1", " ", "\t", "\u00a0", "é", "\x00", "~"],
                    max_size=10)


@st.composite
def id_files(draw: Any) -> str:
    """Order-line files whose ids are short (<= 8 bytes, hashed as integers) or not."""
    n = draw(st.integers(3, 40))
    pool = draw(st.lists(_short_id, min_size=1, max_size=6))
    grouped = draw(st.booleans())  # orders in increasing runs: the run-cutting path
    orders = sorted(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))) \
        if grouped else draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    lines = ["order,item,customer"]
    for o in orders:
        cells = [o, draw(st.sampled_from(pool)), draw(st.sampled_from([*pool, "", "NULL"]))]
        lines.append(",".join('"' + c.replace('"', '""') + '"' for c in cells))
    return "\n".join(lines) + "\n"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=id_files(), invalid=st.sampled_from(["raise", "drop"]))
def test_short_id_and_strip_shortcuts_change_nothing(tmp_path_factory, text, invalid):
    """Ids hashed as integers and the skipped strip give what the plain text path gives.

    Spaces, tabs, U+00A0 and NUL bytes at either end or inside, empty ids and ids of
    exactly 8 bytes, grouped in runs or not: same ids, codes, repairs and errors.
    """
    path = tmp_path_factory.mktemp("short") / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    got = outcome(fast, path, invalid)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_arrow, "_short_keys", lambda col: None)
        m.setattr(_arrow, "_edges_may_be_space", lambda arr, lengths: True)
        plain = outcome(fast, path, invalid)
    if isinstance(got, Exception) or isinstance(plain, Exception):
        assert str(got) == str(plain)
        return
    assert_same(got, plain)
    assert a_names(got) == a_names(plain)


def a_names(tx: Any) -> list[Any]:
    return [getattr(tx, n).ids.tolist() for n in ("orders", "items", "customers")]


def test_short_ids_with_nul_bytes_are_refused_as_before(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"order,item\n1,a\x00\n1,a\n")
    with pytest.raises(UpsellDataError, match="NUL"):
        fast(path)


def test_padded_and_spaced_short_ids_stay_apart(tmp_path):
    """'a' and 'a ' are different texts; the strip merges them and counts the repair."""
    path = tmp_path / "sp.csv"
    path.write_text("order,item\nO1,a\nO1,b\nO2, a\nO3,\u00a0b\n", encoding="utf-8")
    tx = fast(path)
    assert tx.items.ids.tolist() == ["a", "b"]
    assert tx.report.repaired == {"item id stripped of surrounding spaces": 2}


def test_gzip_stream_closed_when_the_parse_fails_unexpectedly(tmp_path):
    """The inflating stream is closed (settled) on every way out of the parse."""
    import pyarrow.csv as pacsv

    path = tmp_path / "o.csv.gz"
    path.write_bytes(gzip.compress(b"order,item\n1,a\n2,b\n"))
    opened: list[Any] = []

    class Recording(_sources._Inflating):
        def __init__(self, p: str) -> None:
            super().__init__(p)
            opened.append(self)

    def boom(*args: Any, **kw: Any) -> Any:
        raise MemoryError("no room")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(_sources, "_Inflating", Recording)
        m.setattr(pacsv, "read_csv", boom)
        with pytest.raises(MemoryError):
            fast(path)
    assert opened and all(s.closed for s in opened)


def test_an_order_id_joined_from_customer_and_day(tmp_path):
    """Ta-Feng's layout: no order id, one order per customer and day (US dates)."""
    p = write(tmp_path, "TRANSACTION_DT,CUSTOMER_ID,PRODUCT_ID,AMOUNT\n"
                        "11/1/2000,01,A,2\n11/1/2000,01,B,1\n11/2/2000,01,A,1\n"
                        "11/1/2000,02,A,1\n11/13/2000,02,C,3\n")
    with pytest.raises(UpsellDataError) as err:
        Transactions.read_csv(p)
    assert ("join those columns: columns={'order': ('CUSTOMER_ID', 'TRANSACTION_DT'), "
            "'item': 'PRODUCT_ID', 'customer': 'CUSTOMER_ID', 'time': 'TRANSACTION_DT'}"
            in str(err.value))
    cols = {"order": ("CUSTOMER_ID", "TRANSACTION_DT"), "item": "PRODUCT_ID",
            "customer": "CUSTOMER_ID", "time": "TRANSACTION_DT", "quantity": "AMOUNT"}
    tx = Transactions.read_csv(p, columns=cols, time_format="%m/%d/%Y")
    assert sorted(tx.orders.ids.tolist()) == ["01|11/1/2000", "01|11/2/2000", "02|11/1/2000",
                                              "02|11/13/2000"]
    assert tx.shape == (5, 4, 3) and str(tx.time.max()) == "2000-11-13T00:00:00"
    # without a header: positions
    q = write(tmp_path, "11/1/2000,01,A\n11/1/2000,01,B\n11/2/2000,01,A\n", "nh.csv")
    tx2 = Transactions.read_csv(q, header=False, columns={"order": (1, 0), "item": 2})
    assert len(tx2.orders) == 2
    with pytest.raises(UpsellDataError, match=r"column 'DAY' \(joined into `order`\) is not in"):
        Transactions.read_csv(p, columns={**cols, "order": ("CUSTOMER_ID", "DAY")})
    for bad in ({"quantity": ("AMOUNT", "AMOUNT")}, {"order": ("CUSTOMER_ID",)}):
        with pytest.raises(UpsellDataError, match="joins two or more headers into one id"):
            Transactions.read_csv(p, columns={**cols, **bad})


def test_a_time_joined_from_a_day_and_a_time_of_day(tmp_path):
    """Dunnhumby's layout: a day number and TRANS_TIME (HHMM) in two columns."""
    p = write(tmp_path, "household_key,BASKET_ID,DAY,PRODUCT_ID,QUANTITY,TRANS_TIME\n"
                        "7,b1,1,A,1,0826\n7,b1,1,B,2,0826\n7,b2,1,A,1,1631\n"
                        "8,b3,2,C,1,5\n8,b4,3,C,1,\n")
    cols = {"order": "BASKET_ID", "item": "PRODUCT_ID", "customer": "household_key",
            "quantity": "QUANTITY", "time": ("DAY", "TRANS_TIME")}
    tx = Transactions.read_csv(p, columns=cols, time_format="days_since:2010-01-01")
    got = [str(t) for t in tx.time]
    assert got == ["2010-01-02T08:26:00", "2010-01-02T08:26:00", "2010-01-02T16:31:00",
                   "2010-01-03T00:05:00", "2010-01-04T00:00:00"]  # a blank clock: the day
    # a date column and an HH:MM:SS column, the date read by the format
    q = write(tmp_path, "Date,Time,Transaction,Item\n30/10/2016,09:58:11,1,Bread\n"
                        "30/10/2016,10:05:34,2,Coffee\n", "bakery.csv")
    tx2 = Transactions.read_csv(q, columns={"order": "Transaction", "item": "Item",
                                            "time": ("Date", "Time")}, time_format="%d/%m/%Y")
    assert [str(t) for t in tx2.time] == ["2016-10-30T09:58:11", "2016-10-30T10:05:34"]
    # a bad clock is named with its row, and drop counts it
    bad = write(tmp_path, "BASKET_ID,DAY,PRODUCT_ID,TRANS_TIME\nb1,1,A,0826\nb2,1,B,2575\n",
                "bad.csv")
    two = {"order": "BASKET_ID", "item": "PRODUCT_ID", "time": ("DAY", "TRANS_TIME")}
    with pytest.raises(UpsellDataError, match=r"row 2 \(order 'b2'\): `time` '1\|2575' is not"):
        Transactions.read_csv(bad, columns=two, time_format="days_since:2010-01-01")
    tx3 = Transactions.read_csv(bad, columns=two, time_format="days_since:2010-01-01",
                                invalid="drop")
    assert len(tx3.orders) == 1 and tx3.report.dropped == {"time not a timestamp": 1}
    with pytest.raises(UpsellDataError, match="joins exactly two headers"):
        Transactions.read_csv(p, columns={**cols, "time": ("DAY", "TRANS_TIME", "DAY")})


def test_decimal_commas_are_read_when_told_and_named_when_not(tmp_path):
    p = write(tmp_path, 'order;item;quantity;price\n1;A;2;15,3\n1;B;1;2\n2;A;1,5;"1.234,5"\n'
                        "3;C;-1;,5\n", "eu.csv")
    with pytest.raises(UpsellDataError, match=r"`quantity` '1,5' is not a number; the file "
                                              r"writes decimal commas: pass decimal=','"):
        Transactions.read_csv(p, delimiter=";")
    # 1.234,5: a point that groups thousands before the decimal comma (as a spreadsheet
    # shows it) is read, and counted as repaired
    tx = Transactions.read_csv(p, delimiter=";", decimal=",", returns="keep")
    assert tx.report.repaired == {"price read from a formatted number ('1.234,5')": 1}
    assert sorted(tx.price.tolist()) == [0.5, 2.0, 15.3, 1234.5]
    assert sorted(tx.quantity.tolist()) == [-1.0, 1.0, 1.5, 2.0]
    p2 = write(tmp_path, 'order;item;price\n1;A;"1.234"\n', "eu2.csv")
    with pytest.raises(UpsellDataError, match=r"row 1 \(order 1\): `price` '1.234' is not a "
                                              r"number; pass invalid='drop'"):
        Transactions.read_csv(p2, delimiter=";", decimal=",")  # 1234, or 1.234 misdeclared?
    with pytest.raises(UpsellDataError, match="`decimal` is the decimal mark"):
        Transactions.read_csv(p, delimiter=";", decimal=";")


def test_number_times_epoch_and_day_numbers(tmp_path):
    """Dunnhumby writes day numbers (DAY 1..711), event logs epoch seconds or milliseconds."""
    p = write(tmp_path, "order,item,DAY\n1,A,1\n1,B,1\n2,A,15\n3,C,711\n", "dh.csv")
    cols = {"time": "DAY"}
    with pytest.raises(UpsellDataError, match=r"`time` '1' is not a timestamp .*pass "
                                              r"time_format='days_since:YYYY-MM-DD'"):
        Transactions.read_csv(p, columns=cols)  # never the year 1
    tx = Transactions.read_csv(p, columns=cols, time_format="days_since:2020-01-01")
    assert [str(t)[:10] for t in (tx.time.min(), tx.time.max())] == ["2020-01-02", "2021-12-12"]
    e = write(tmp_path, "order,item,ts\n1,A,1291191960\n2,B,1291195560.5\n", "ep.csv")
    with pytest.raises(UpsellDataError, match=r"pass time_format='epoch' \(seconds since"):
        Transactions.read_csv(e, columns={"time": "ts"})
    tx = Transactions.read_csv(e, columns={"time": "ts"}, time_format="epoch")
    assert [str(t) for t in tx.time] == ["2010-12-01T08:26:00", "2010-12-01T09:26:00"]
    frac = write(tmp_path, "order,item,DAY\n1,A,1.5\n", "frac.csv")
    with pytest.raises(UpsellDataError, match=r"'1.5' is not a timestamp \(expected "
                                              r"time_format 'days_since:2020-01-01'\)"):
        Transactions.read_csv(frac, columns=cols, time_format="days_since:2020-01-01")
    with pytest.raises(UpsellDataError, match="`time_format` must be"):
        Transactions.read_csv(p, columns=cols, time_format="days_since:2020-13-01")
    # arrays of numbers, and text that is a year or a basic date stays a date
    ms = Transactions.from_arrays(order=[1], item=["a"], time=np.array([1291191960000]),
                                  time_format="epoch_ms")
    assert str(ms.time[0]) == "2010-12-01T08:26:00"
    v, bad = C.parse_times(np.array(["711", "2011", "19970101"]))
    assert bad.tolist() == [True, False, False] and str(v[2]) == "1997-01-01T00:00:00"


# ------------------------------------------------------ title lines above the table
_TITLE = 'Sales export "Q1"\r\nGenerated 2021-03-01, by ShopX\r\n\r\n'


def test_skip_rows_reads_below_a_reports_title_lines(tmp_path):
    body = "order,item,quantity\r\n1,A,2\r\n1,B,1\r\n2,A,1\r\n"
    want = Transactions.read_csv(write(tmp_path, body, "plain.csv"))
    titled = write(tmp_path, _TITLE + body)
    with pytest.raises(UpsellDataError, match=r"header seems to be below, on line 4 \('order,"
                                              r"item,quantity'\): pass skip_rows=3 to read") as e:
        Transactions.read_csv(titled)
    assert "whitespace" not in str(e.value)  # a title of words is no table aligned by spaces
    zipped = tmp_path / "t.csv.gz"
    zipped.write_bytes(gzip.compress((_TITLE + body).encode()))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(("Ventes été\n" + body).encode("latin-1"))
    for path, k, enc in ((titled, 3, "utf-8"), (zipped, 3, "utf-8"), (latin, 1, "latin-1")):
        got = Transactions.read_csv(path, skip_rows=k, encoding=enc)
        for col in ("order", "item", "quantity"):
            assert np.array_equal(getattr(got, col), getattr(want, col)), (path, col)
        assert got.report.rows_read == 3
    # one skipped too few: the advice counts from where the read began
    with pytest.raises(UpsellDataError, match=r"on line 4 .*pass skip_rows=3"):
        Transactions.read_csv(titled, skip_rows=1)


def test_skip_rows_errors_number_the_files_lines(tmp_path):
    p = write(tmp_path, _TITLE + 'order,item,quantity\n1,"a\nb",2\n\n2,B\n')
    with pytest.raises(UpsellDataError, match=r"row 2 \(line 8\): has 2 fields"):
        Transactions.read_csv(p, skip_rows=3)
    p = write(tmp_path, _TITLE + 'order,item\n1,A\n2,"B\n3,C\n')
    with pytest.raises(UpsellDataError, match=r"line 6: a quoted field opens here"):
        Transactions.read_csv(p, skip_rows=3)
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(UpsellDataError, match=r"`skip_rows` must be a whole number"):
            Transactions.read_csv(p, skip_rows=bad)
    with pytest.raises(UpsellDataError, match=r"nothing below the 9 line\(s\)"):
        Transactions.read_csv(p, skip_rows=9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=csv_files(), title=st.lists(st.sampled_from(
    ["", "Report", 'Shop "A", 2021', "a,b,c", " "]), min_size=1, max_size=4))
def test_title_lines_skipped_read_as_the_table_alone(tmp_path_factory, case, title):
    """Any file with title lines above it, read with ``skip_rows``, reads as the file alone:
    the same arrays and report, or an error naming the same row."""
    text, invalid = case
    folder = tmp_path_factory.mktemp("skip")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    plain = write(folder, text, "plain.csv")
    titled = write(folder, bom + "\n".join(title) + "\n" + text.removeprefix(bom), "t.csv")
    assert_same(outcome(fast, titled, invalid, skip_rows=len(title)),
                outcome(fast, plain, invalid))


# ------------------------------------------------------ columns aligned by spaces
_ALIGNED = (" customer_id  date number_of_cds  dollar_value  sku\n"
            " 00001 19970101  1   11.77  A\n"
            " 00002 19970112  1   12.00  B\n"
            "\t00002\t19970112  5   77.00  A  \n"
            "\n")
_ALIGNED_COLS = {"order": ("customer_id", "date"), "item": "sku", "customer": "customer_id",
                 "time": "date", "quantity": "number_of_cds", "value": "dollar_value"}


def test_whitespace_delimiter_reads_columns_aligned_by_spaces(tmp_path):
    """CDNOW-like text: runs of spaces or tabs separate fields, spaces at either end of a
    line do not count; as its CSV twin reads."""
    csv_twin = write(tmp_path, "customer_id,date,number_of_cds,dollar_value,sku\n"
                     "00001,19970101,1,11.77,A\n00002,19970112,1,12.00,B\n"
                     "00002,19970112,5,77.00,A\n", "twin.csv")
    want = Transactions.read_csv(csv_twin, columns=_ALIGNED_COLS)
    p = write(tmp_path, _ALIGNED, "aligned.txt")
    zipped = tmp_path / "aligned.txt.gz"
    zipped.write_bytes(gzip.compress(_ALIGNED.encode()))
    for path in (p, zipped):
        got = Transactions.read_csv(path, delimiter="whitespace", columns=_ALIGNED_COLS)
        assert_same(got, want)
    assert got.customers.decode(got.customer).tolist() == ["00001", "00002", "00002"]
    # a comma inside a field stays in it
    commas = write(tmp_path, "order item price\n1 A,B 1,5\n", "commas.txt")
    got = Transactions.read_csv(commas, delimiter="whitespace", decimal=",")
    assert got.items.ids.tolist() == ["A,B"] and got.price.tolist() == [1.5]


def test_whitespace_delimiter_is_advised_and_refuses_quotes(tmp_path):
    p = write(tmp_path, _ALIGNED, "aligned.txt")
    with pytest.raises(UpsellDataError, match=r"it splits at spaces into 'customer_id', "
                                              r"'date', .*: pass delimiter='whitespace'"):
        Transactions.read_csv(p)
    q = write(tmp_path, 'order item\n1 "a b"\n', "q.txt")
    with pytest.raises(UpsellDataError, match=r"q.txt line 2 has a quote"):
        Transactions.read_csv(q, delimiter="whitespace")
    with pytest.raises(UpsellDataError, match=r"or 'whitespace'; got 'spaces'"):
        Transactions.read_csv(p, delimiter="spaces")
    short = write(tmp_path, "order item qty\n1 A 2\n2 B\n", "short.txt")
    with pytest.raises(UpsellDataError, match=r"row 2 \(line 3\): has 2 fields; the header has 3"):
        Transactions.read_csv(short, delimiter="whitespace")


def test_cdnow_master_reads_with_the_whitespace_delimiter(cdnow_master_path):
    from upsell.datasets import load_cdnow

    path = cdnow_master_path
    ref = load_cdnow(path)
    tx = Transactions.read_csv(path, delimiter="whitespace", columns={
        "order": ("customer_id", "date"), "item": "number_of_cds", "customer": "customer_id",
        "time": "date", "value": "dollar_value"}, bad_prices="keep")  # as load_cdnow: $0 kept
    assert len(tx.customers) == len(ref.customers) == 23_570  # the published count
    assert len(tx.orders) == len(ref.orders) and len(tx) == len(ref)
    assert np.isclose((tx.price * tx.quantity).sum(), (ref.price * ref.quantity).sum())


def test_a_header_repeated_among_the_rows_is_dropped_and_counted(tmp_path):
    """Monthly exports joined with cat: each brings its header; those rows are no data and
    no error, and the rest reads as the files one after the other."""
    head = "InvoiceNo,StockCode,Quantity,UnitPrice,InvoiceDate\n"
    jan = "1,A,2,1.5,2011-01-03 10:00:00\n1,B,1,2.0,2011-01-03 10:00:00\n"
    feb = "2,A,1,1.5,2011-02-01 09:00:00\n"
    cols = {"order": "InvoiceNo", "item": "StockCode", "quantity": "Quantity",
            "price": "UnitPrice", "time": "InvoiceDate"}
    want = Transactions.read_csv(write(tmp_path, head + jan + feb, "one.csv"), columns=cols)
    got = Transactions.read_csv(write(tmp_path, head + jan + " " + head + feb, "cat.csv"),
                                columns=cols)
    for col in ("order", "item", "quantity", "price", "time"):
        assert np.array_equal(getattr(got, col), getattr(want, col)), col
    assert got.report.rows_read == 4
    assert got.report.dropped == {"header line repeated (files joined into one)": 1}
    # without a header row, a row is never taken for one
    p = write(tmp_path, "0,1\n0,1\n", "noheader.csv")
    assert len(Transactions.read_csv(p, header=False, columns={"order": 0, "item": 1})) == 2


def test_an_encoding_error_names_the_usual_encoding_it_reads_in(tmp_path):
    """Excel's CSV on Windows is cp1252 ('£', 'é'); its "Unicode Text" is UTF-16 with tabs:
    the error says which, and the file then reads."""
    p = tmp_path / "win.csv"
    p.write_bytes("order,item,price\n1,Café,£1.50\n".encode("cp1252"))
    with pytest.raises(UpsellDataError, match=r"line 2 is not valid utf-8 text .*it reads as "
                                              r"cp1252 .*'Caf\u00e9'\); pass encoding='cp1252'"):
        Transactions.read_csv(p)
    tx = Transactions.read_csv(p, encoding="cp1252")
    assert tx.items.ids.tolist() == ["Café"] and tx.price.tolist() == [1.5]
    u = tmp_path / "unicode.txt"
    u.write_bytes("order\titem\n1\tA\n2\tB\n".encode("utf-16"))
    with pytest.raises(UpsellDataError, match=r"is UTF-16 text .*pass encoding='utf-16'"):
        Transactions.read_csv(u)
    assert Transactions.read_csv(u, encoding="utf-16", delimiter="\t").shape == (2, 2, 2)
    bad = tmp_path / "bad.csv"  # bytes no usual encoding reads: the generic advice
    bad.write_bytes(b"order,item\n1,\x81\x8d\n")
    with pytest.raises(UpsellDataError, match=r"\); pass the right `encoding`$"):
        Transactions.read_csv(bad)
