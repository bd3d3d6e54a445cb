"""Dirty and hostile input, one hypothesis property per defect class (issue 18, part 3).

Every public reader must answer with an UpsellDataError (or a TypeError for a bad
keyword), never a raw exception, and never a warning (pytest runs with -W error).
"""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from upsell import kpi
from upsell.data import Catalog, Transactions
from upsell.data.transactions import MAX_PRICE, MAX_QUANTITY, TIME_MAX, TIME_MIN
from upsell.datasets import read_baskets
from upsell.exceptions import UpsellDataError

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

_cell = st.text(alphabet="abcXYZ0123456789 -.", min_size=1, max_size=6).filter(
    lambda t: t.strip())


@st.composite
def order_csv(draw, min_rows: int = 1) -> tuple[str, int]:
    """A well-formed order-line CSV (no quotes) and its number of data rows."""
    n = draw(st.integers(min_rows, 30))
    rows = ["order,item,customer,quantity,price"]
    for _ in range(n):
        order = draw(st.integers(1, 9))
        rows.append(f"{order},{draw(_cell)},{100 + order},"
                    f"{draw(st.integers(1, 5))},{draw(st.integers(1, 999)) / 100}")
    return "\n".join(rows) + "\n", n


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ---------------------------------------------------------------- truncated gzip
@SETTINGS
@given(case=order_csv(), cut=st.floats(0.05, 0.999))
def test_truncated_gzip_is_a_clear_error_everywhere(tmp_path, case, cut):
    text, _ = case
    whole = gzip.compress(text.encode())
    data = whole[:max(10, int(len(whole) * cut))]
    assume(len(data) < len(whole))
    p = _write(tmp_path, "t.csv", data)
    for read in (Transactions.read_csv, Catalog.read_csv, read_baskets):
        with pytest.raises(UpsellDataError, match="truncated or damaged gzip"):
            read(p)


# ---------------------------------------------------------------- encodings
@SETTINGS
@given(case=order_csv(), word=st.text(alphabet="éüßñøÆ", min_size=1, max_size=4))
def test_wrong_encoding_names_the_byte_and_encoding_reads_it(tmp_path, case, word):
    text, n = case
    lines = text.split("\n")
    lines[1] = lines[1].replace(",", f",{word}", 1)  # into the first item
    latin = "\n".join(lines).encode("latin-1")
    p = _write(tmp_path, "l.csv", latin)
    first_bad = next(i for i, b in enumerate(latin) if b >= 0x80)
    with pytest.raises(UpsellDataError, match=rf"not valid utf-8 text .*byte {first_bad:,}\b"):
        Transactions.read_csv(p)
    assert Transactions.read_csv(p, encoding="latin-1").report.rows_read == n
    cat_text = f"item,name\nA,{word}\n".encode("latin-1")
    c = _write(tmp_path, "cat.csv", cat_text)
    with pytest.raises(UpsellDataError, match=r"line 2 .*byte 12\b"):
        Catalog.read_csv(c)
    assert Catalog.read_csv(c, encoding="latin-1").name.tolist() == [word]
    with pytest.raises(UpsellDataError, match="not a known text encoding"):
        Catalog.read_csv(c, encoding="no-such-codec")


# ---------------------------------------------------------------- duplicate headers
@SETTINGS
@given(role=st.sampled_from(["order", "item", "customer", "quantity", "price"]))
def test_duplicate_header_of_a_used_column_is_refused(tmp_path, role):
    head = ["order", "item", "customer", "quantity", "price", role]
    p = _write(tmp_path, "d.csv", (",".join(head) + "\n1,a,7,1,2.0,x\n").encode())
    with pytest.raises(UpsellDataError, match=rf"two columns named '{role}'"):
        Transactions.read_csv(p)
    import pandas as pd

    df = pd.DataFrame([[1, "a", 7, 1, 2.0, 3]], columns=head)
    with pytest.raises(UpsellDataError, match=rf"two columns named '{role}'"):
        Transactions.from_pandas(df)
    cat = pd.DataFrame([["a", 1.0, 2.0]], columns=["item", "price", "price"])
    with pytest.raises(UpsellDataError, match="two columns named 'price'"):
        Catalog.from_pandas(cat)
    c = _write(tmp_path, "c.csv", b"item,price,price\na,1,2\n")
    with pytest.raises(UpsellDataError, match="two columns named 'price'"):
        Catalog.read_csv(c)


def test_duplicate_unused_headers_are_fine(tmp_path):
    p = _write(tmp_path, "d.csv", b"order,item,note,note\n1,a,x,y\n")
    assert Transactions.read_csv(p).shape == (1, 1, 1)


# ---------------------------------------------------------------- times
_far = st.one_of(st.integers(-5000, 1899), st.integers(2200, 9999))


@SETTINGS
@given(year=_far, invalid=st.sampled_from(["raise", "drop"]))
def test_times_outside_the_plausible_range_are_refused(tmp_path, year, invalid):
    text = "-" + f"{-year:04d}" if year < 0 else f"{year:04d}"
    p = _write(tmp_path, "t.csv",
               f"order,item,time\n1,a,2011-01-01\n2,b,{text}-06-01 00:00:00\n".encode())
    if invalid == "raise":
        with pytest.raises(UpsellDataError, match=r"row 2 .*`time`"):
            Transactions.read_csv(p)
    else:
        tx = Transactions.read_csv(p, invalid="drop")
        assert sum(tx.report.dropped.values()) == 1 and len(tx) == 1
    with pytest.raises(UpsellDataError, match="time"):
        Transactions.from_arrays(order=[1], item=["a"], time=[f"{text}-06-01"])


def test_time_range_bounds_are_documented():
    assert str(TIME_MIN) == "1900-01-01T00:00:00" and str(TIME_MAX) == "2200-01-01T00:00:00"
    assert "TIME_MIN" in (Transactions.__module__ and
                          __import__("upsell.data.transactions").data.transactions.__dict__)


@SETTINGS
@given(days=st.lists(st.integers(1, 10**6), min_size=1, max_size=5))
def test_time_spans_are_not_times(days):
    import pandas as pd

    span = np.array(days, dtype="timedelta64[D]")
    n = len(days)
    with pytest.raises(UpsellDataError, match="time spans"):
        Transactions.from_arrays(order=list(range(n)), item=["a"] * n, time=span)
    df = pd.DataFrame({"order": range(n), "item": ["a"] * n, "time": pd.to_timedelta(days, "D")})
    with pytest.raises(UpsellDataError, match="time spans"):
        Transactions.from_pandas(df)


@SETTINGS
@given(hours=st.integers(-12, 14), minutes=st.sampled_from([0, 30, 45]),
       z=st.booleans())
def test_utc_offsets_are_converted_without_a_warning(tmp_path, hours, minutes, z):
    sign = "+" if hours >= 0 else "-"
    off = "Z" if z else f"{sign}{abs(hours):02d}:{minutes:02d}"
    stamp = f"2011-06-01T12:00:00{off}"
    p = _write(tmp_path, "o.csv", f"order,item,time\n1,a,{stamp}\n".encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tx = Transactions.read_csv(p)
        ta = Transactions.from_arrays(order=[1], item=["a"], time=[stamp])
    delta = 0 if z else (hours * 60 + (minutes if hours >= 0 else -minutes))
    want = np.datetime64("2011-06-01T12:00:00") - np.timedelta64(delta, "m")
    assert tx.time[0] == want and ta.time[0] == want


# ---------------------------------------------------------------- numbers
@SETTINGS
@given(exp=st.integers(13, 307), role=st.sampled_from(["quantity", "price"]),
       sign=st.sampled_from([1, -1]))
def test_huge_numbers_are_refused_so_sums_stay_finite(tmp_path, exp, role, sign):
    big = sign * float(f"1e{exp}")
    q = [1.0, big] if role == "quantity" else [1.0, 2.0]
    pr = [2.0, abs(big)] if role == "price" else [2.0, 3.0]
    with pytest.raises(UpsellDataError, match=rf"`{role}`"):
        Transactions.from_arrays(order=[1, 2], item=["a", "b"], quantity=q, price=pr)
    tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"], quantity=q, price=pr,
                                  invalid="drop")
    assert tx.report.dropped.get(f"{role} out of range") == 1
    assert np.isfinite(kpi.atv(tx).value if hasattr(kpi.atv(tx), "value") else 0.0)
    text = f"order,item,quantity,price\n1,a,1,2\n2,b,{q[1]!r},{pr[1]!r}\n"
    p = _write(tmp_path, "h.csv", text.encode())
    with pytest.raises(UpsellDataError, match=rf"`{role}`"):
        Transactions.read_csv(p)


def test_bounds_are_documented():
    assert MAX_QUANTITY == 1e12 and MAX_PRICE == 1e12


@SETTINGS
@given(re_=st.floats(0.5, 100), im=st.floats(0.1, 5))
def test_complex_prices_are_refused(re_, im):
    import pandas as pd

    df = pd.DataFrame({"order": [1], "item": ["a"], "price": [complex(re_, im)]})
    with pytest.raises(UpsellDataError, match="complex"):
        Transactions.from_pandas(df)
    with pytest.raises(UpsellDataError, match="complex"):
        Transactions.from_arrays(order=[1], item=["a"], price=np.array([complex(re_, im)]))
    with pytest.raises(UpsellDataError, match="complex"):
        Catalog.from_arrays(item=["a"], price=np.array([complex(re_, im)]))


# ---------------------------------------------------------------- ids
@SETTINGS
@given(pads=st.lists(st.tuples(st.sampled_from(["", " ", "  ", "\t"]),
                               st.sampled_from(["", " "])), min_size=1, max_size=20))
def test_stripped_ids_are_counted_as_repaired(tmp_path, pads):
    rows = ["order,item,customer"]
    padded = 0
    for i, (left, right) in enumerate(pads):
        rows.append(f"{i},{left}A1{right},c{i % 3}")
        padded += bool(left or right)
    tx = Transactions.read_csv(_write(tmp_path, "s.csv", ("\n".join(rows) + "\n").encode()))
    assert tx.items.ids.tolist() == ["A1"]
    assert tx.report.repaired.get("item id stripped of surrounding spaces", 0) == padded


@SETTINGS
@given(marker=st.sampled_from(["nan", "NaN", "NULL", "null", "None", "N/A", "NA", ""]),
       kind=st.sampled_from(["csv", "arrays"]))
def test_null_customer_markers_are_anonymous_and_counted(tmp_path, marker, kind):
    customers = ["17850", marker, "13047", marker]
    if kind == "csv":
        text = "order,item,customer\n" + "".join(
            f"{i},a,{c}\n" for i, c in enumerate(customers))
        tx = Transactions.read_csv(_write(tmp_path, "n.csv", text.encode()))
    else:
        tx = Transactions.from_arrays(order=[0, 1, 2, 3], item=["a"] * 4, customer=customers)
    assert tx.customers.ids.tolist() in ([13047, 17850], ["13047", "17850"])
    assert (tx.customer < 0).sum() == 2
    assert tx.report.flagged.get("anonymous (no customer)") == 2
    if marker:
        assert sum(v for k, v in tx.report.repaired.items() if "anonymous" in k) == 2


# ---------------------------------------------------------------- keywords
@SETTINGS
@given(word=st.sampled_from(["returns", "anonymous", "bad_prices", "duplicates", "invalid",
                             "cancel_prefix"]),
       where=st.integers(0, 3), how=st.sampled_from(["swap", "drop", "double"]))
def test_misspelled_keywords_name_the_function_and_the_close_match(tmp_path, word, where, how):
    i = where % (len(word) - 1)
    typo = {"swap": word[:i] + word[i + 1] + word[i] + word[i + 2:],
            "drop": word[:i] + word[i + 1:], "double": word[:i] + word[i] * 2 + word[i + 1:]}[how]
    assume(typo != word)
    p = _write(tmp_path, "k.csv", b"order,item\n1,a\n")
    calls = [(lambda: Transactions.read_csv(p, **{typo: "drop"}), "read_csv")]
    if word != "cancel_prefix":  # basket files have no order ids to cancel
        calls.append((lambda: read_baskets(p, **{typo: "drop"}), "read_baskets"))
    for call, name in calls:
        with pytest.raises(TypeError, match=rf"{name}\(\) got an unexpected keyword argument "
                                            rf"'{re.escape(typo)}'; did you mean '{word}'"):
            call()


# ---------------------------------------------------------------- quotes
@SETTINGS
@given(case=order_csv(min_rows=2), row=st.integers(0, 29), col=st.integers(0, 4))
def test_an_unterminated_quote_is_an_error_not_a_silent_swallow(tmp_path, case, row, col):
    text, n = case
    lines = text.split("\n")
    r = 1 + row % n
    cells = lines[r].split(",")
    cells[col] = '"' + cells[col]
    lines[r] = ",".join(cells)
    p = _write(tmp_path, "q.csv", "\n".join(lines).encode())
    with pytest.raises(UpsellDataError, match=rf"line {r + 1}: a quoted field opens here"):
        Transactions.read_csv(p)


# ---------------------------------------------------------------- catalog tiers
@SETTINGS
@given(tier=st.integers(-10**6, 0))
def test_catalog_tiers_start_at_one(tier):
    with pytest.raises(UpsellDataError, match="tier"):
        Catalog.from_arrays(item=["a", "b"], family=["f", "f"], tier=[1, tier])
