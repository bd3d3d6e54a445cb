"""The shared argument checks of ``upsell._validation`` (as_transactions, as_time, as_segments,
check_memory)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import IdIndex, Transactions
from upsell._validation import (
    as_segments,
    as_time,
    as_transactions,
    check_memory,
    format_bytes,
    memory_budget,
)
from upsell.exceptions import (
    UpsellDataError,
    UpsellError,
    UpsellMemoryError,
    UpsellTypeError,
    UpsellValueError,
)


# ----------------------------------------------------------------- as_transactions
def test_as_transactions_returns_the_object() -> None:
    tx = Transactions.from_arrays(order=[1, 1], item=["a", "b"])
    assert as_transactions(tx) is tx


@pytest.mark.parametrize("value", [None, [(1, "a")], "tx.csv", np.zeros(3)])
def test_as_transactions_refuses_other_types_naming_the_argument(value: object) -> None:
    with pytest.raises(UpsellTypeError, match=f"`tx` must be Transactions; got "
                                              f"{type(value).__name__}"):
        as_transactions(value, "tx")


def test_type_error_is_a_data_error_and_a_type_error() -> None:
    assert issubclass(UpsellTypeError, UpsellDataError)
    assert issubclass(UpsellTypeError, TypeError) and issubclass(UpsellTypeError, ValueError)
    assert UpsellValueError is UpsellDataError


# -------------------------------------------------------------------------- as_time
@pytest.mark.parametrize(("value", "expected"), [
    ("2024-06-01", "2024-06-01T00:00:00"),
    ("2024-06-01T10:30:00", "2024-06-01T10:30:00"),
    ("2024-06-01 10:30", "2024-06-01T10:30:00"),
    ("2024-06-01T10:30:00Z", "2024-06-01T10:30:00"),
    ("2024-06-01T10:30:00+02:00", "2024-06-01T08:30:00"),
    ("2024-06-01T10:30:00-0130", "2024-06-01T12:00:00"),
    ("19970101", "1997-01-01T00:00:00"),
    (dt.datetime(2024, 6, 1, 10, 30), "2024-06-01T10:30:00"),
    (dt.datetime(2024, 6, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
     "2024-06-01T09:30:00"),
    (dt.date(2024, 6, 1), "2024-06-01T00:00:00"),
    (np.datetime64("2024-06-01"), "2024-06-01T00:00:00"),
    (np.datetime64("2024-06-01T10:30:00.75"), "2024-06-01T10:30:00"),
    (86_400, "1970-01-02T00:00:00"),
    (np.int64(86_400), "1970-01-02T00:00:00"),
    (86_400.5, "1970-01-02T00:00:00"),
    (1_700_000_000, "2023-11-14T22:13:20"),
])
def test_as_time_accepts_every_form(value: object, expected: str) -> None:
    assert as_time(value, "at") == np.datetime64(expected, "s")


def test_as_time_accepts_pandas_timestamps() -> None:
    pd = pytest.importorskip("pandas")
    assert as_time(pd.Timestamp("2024-06-01 10:30"), "at") == np.datetime64("2024-06-01T10:30")
    aware = pd.Timestamp("2024-06-01 10:30", tz="Europe/Paris")
    assert as_time(aware, "at") == np.datetime64("2024-06-01T08:30")
    with pytest.raises(UpsellDataError, match="`at` must be a datetime"):
        as_time(pd.NaT, "at")
    with pytest.raises(UpsellDataError, match="`at` must be a datetime"):
        as_time(pd.Timedelta(days=1), "at")
    with pytest.raises(UpsellDataError, match="`at` must be a datetime"):
        as_time(pd.NA, "at")


@pytest.mark.parametrize("value", [
    "soon", "", "2024-13-01", "20240231", True, False, np.bool_(True), float("nan"),
    float("inf"), np.datetime64("NaT"), dt.timedelta(days=1), np.timedelta64(1, "D"),
    [2024, 6, 1], None,
])
def test_as_time_refuses_what_is_no_time(value: object) -> None:
    with pytest.raises(UpsellValueError, match="`at` must be a datetime, date, ISO 8601"):
        as_time(value, "at")


@pytest.mark.parametrize("value", ["0999-12-31", "0500-01-01", 1e12, -1e11,
                                   np.datetime64("10000-01-01")])
def test_as_time_refuses_years_outside_1000_to_9999(value: object) -> None:
    with pytest.raises(UpsellDataError, match=r"year in 1000\.\.9999"):
        as_time(value, "start")


def test_as_time_none_only_when_allowed_and_unit() -> None:
    assert as_time(None, "at", allow_none=True) is None
    assert as_time("2024-06-01T18:30", "end", unit="D") == np.datetime64("2024-06-01")
    assert as_time("2024-06-01T18:30", "end", unit="D").dtype == np.dtype("datetime64[D]")
    assert as_time(1_700_000_000, "end", unit="D") == np.datetime64("2023-11-14")
    assert as_time("2024-06-01", "x", unit="ms").dtype == np.dtype("datetime64[ms]")


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31),
                    timezones=st.none() | st.just(dt.timezone.utc)
                    | st.builds(lambda m: dt.timezone(dt.timedelta(minutes=m)),
                                st.integers(-12 * 60, 12 * 60))))
def test_as_time_same_instant_whatever_the_form(when: dt.datetime) -> None:
    utc = when if when.tzinfo is None else when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if not dt.datetime(1000, 1, 1) <= utc <= dt.datetime(9999, 12, 31):
        return
    expected = np.datetime64(utc.replace(microsecond=0), "s")
    assert as_time(when, "at") == expected
    assert as_time(when.isoformat(), "at") == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(-30_000_000_000, 250_000_000_000))
def test_as_time_epoch_seconds(seconds: int) -> None:
    assert as_time(seconds, "at") == np.datetime64(seconds, "s")
    assert as_time(float(seconds), "at") == np.datetime64(seconds, "s")


# ---------------------------------------------------------------------- as_segments
CUSTOMERS = IdIndex(["c1", "c2", "c3", "c4"])


def test_as_segments_every_form_gives_the_same_labels() -> None:
    expected = ["gold", "", "new", "gold"]
    forms = [
        {"c1": "gold", "c3": "new", "c4": "gold"},
        (["c4", "c3", "c1"], ["gold", "new", "gold"]),
        (np.array(["c1", "c3", "c4"]), np.array(["gold", "new", "gold"])),
        ["gold", None, "new", "gold"],
        np.array(["gold", "", "new", "gold"]),
        ("gold", float("nan"), "new", "gold"),
    ]
    for form in forms:
        labels, names = as_segments(form, CUSTOMERS)
        assert labels.tolist() == expected, form
        assert names.tolist() == ["gold", "new"]


def test_as_segments_pandas_series_indexed_by_customer() -> None:
    pd = pytest.importorskip("pandas")
    series = pd.Series(["vip", "new", None], index=["c2", "zz", "c1"])
    report: dict[str, int] = {}
    labels, names = as_segments(series, CUSTOMERS, report=report)
    assert labels.tolist() == ["", "vip", "", ""]
    assert names.tolist() == ["vip"]
    assert report == {"unknown customers": 1}


def test_as_segments_counts_unknown_customers() -> None:
    report: dict[str, int] = {}
    labels, _ = as_segments({"c1": 1, "x": 2, "y": 3}, CUSTOMERS, report=report)
    assert labels.tolist() == ["1", "", "", ""]
    assert report == {"unknown customers": 2}


def test_as_segments_none_and_empty() -> None:
    labels, names = as_segments(None, CUSTOMERS)
    assert labels.tolist() == [""] * 4 and names.size == 0
    labels, names = as_segments({}, IdIndex([], name="customer"))
    assert labels.size == 0 and names.size == 0


class _Result:
    def __init__(self, customers: np.ndarray, segment: np.ndarray) -> None:
        self.customers = customers
        self.segment = segment


class _Model:
    """A fitted segmenter: customers_ plus predict()."""

    def __init__(self) -> None:
        self.customers_ = IdIndex(["c3", "c1"])

    def predict(self) -> _Result:
        return _Result(self.customers_.ids, np.array(["b", "a"]))


class _Predictor:
    """Only predict(customers=...), labels aligned to what was asked."""

    def predict(self, *, customers: np.ndarray) -> np.ndarray:
        return np.array([f"s{len(str(c))}" for c in customers])


def test_as_segments_results_and_models() -> None:
    assert as_segments(_Result(np.array(["c2"]), np.array(["x"])), CUSTOMERS)[0].tolist() == \
        ["", "x", "", ""]
    assert as_segments(_Model(), CUSTOMERS)[0].tolist() == ["a", "", "b", ""]
    assert as_segments(_Predictor(), CUSTOMERS)[0].tolist() == ["s2"] * 4


def test_as_segments_real_segmenters(small_shop_for_segments: tuple[Transactions, object]) -> None:
    from upsell.segments import Personas, rfm

    tx, catalog = small_shop_for_segments
    personas = Personas().fit(tx, catalog=catalog)
    by_model, names = as_segments(personas, tx.customers)
    by_result, _ = as_segments(personas.predict(), tx.customers)
    assert by_model.tolist() == by_result.tolist()
    assert set(names) <= set(personas.predict().persona.tolist())
    result = rfm(tx)
    labels, _ = as_segments(result, tx.customers)
    assert labels.tolist() == [str(s) for s in result.segment]


@pytest.fixture(scope="module")
def small_shop_for_segments() -> tuple[Transactions, object]:
    from upsell.datasets import make_shop

    shop = make_shop(n_customers=60, n_items=40, n_orders=240, random_state=0)
    return shop.transactions, shop.catalog


@pytest.mark.parametrize(("value", "match"), [
    (["a"], r"one label per customer \(4\); got 1"),
    (np.zeros((2, 2)), r"one label per customer \(4\); got shape \(2, 2\)"),
    ("gold", "must be None, a mapping customer -> label"),
    (42, "must be None, a mapping customer -> label"),
    ((["c1", "c2"], ["a"]), "pair each customer with one label; got 2 customers and 1 labels"),
])
def test_as_segments_refuses_naming_the_argument(value: object, match: str) -> None:
    with pytest.raises(UpsellDataError, match=match):
        as_segments(value, CUSTOMERS, "by")


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 40), st.sampled_from(["a", "b", "c", None]),
                       max_size=30),
       st.integers(0, 30))
def test_as_segments_mapping_equals_aligned_labels(mapping: dict[int, str | None],
                                                   n: int) -> None:
    customers = IdIndex(list(range(n)))
    report: dict[str, int] = {}
    labels, names = as_segments(mapping, customers, report=report)
    aligned = [mapping.get(c) for c in range(n)]
    assert labels.tolist() == [v or "" for v in aligned]
    assert as_segments(aligned, customers)[0].tolist() == labels.tolist()
    assert names.tolist() == sorted({v for v in aligned if v})
    assert report["unknown customers"] == sum(1 for c in mapping if c >= n)


# -------------------------------------------------------------------- check_memory
def test_check_memory_passes_under_the_budget() -> None:
    check_memory(0, "nothing")
    check_memory(2**30, "a table", budget=2**30)
    assert memory_budget() > 0


def test_check_memory_says_what_and_how_to_lower_it() -> None:
    with pytest.raises(UpsellMemoryError) as info:
        check_memory(3 * 2**30, "`k`=500 for 2,000,000 lists", budget=2**30, hint="lower `k`")
    assert isinstance(info.value, MemoryError) and isinstance(info.value, UpsellError)
    assert str(info.value) == ("`k`=500 for 2,000,000 lists needs 3 GiB of memory, more than "
                               "the budget of 1 GiB; lower `k`")
    with pytest.raises(UpsellMemoryError, match=r"\(half the physical memory\); lower `x`"):
        check_memory(10 * memory_budget(), "`x`")


@pytest.mark.parametrize("value", [-1, float("nan"), "1 GB", True])
def test_check_memory_refuses_a_bad_size(value: object) -> None:
    with pytest.raises(UpsellDataError, match="`n_bytes` must be a number >= 0"):
        check_memory(value, "x")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**50), st.integers(1, 2**50))
def test_check_memory_raises_exactly_above_the_budget(n_bytes: int, budget: int) -> None:
    if n_bytes > budget:
        with pytest.raises(UpsellMemoryError):
            check_memory(n_bytes, "x", budget=budget)
    else:
        check_memory(n_bytes, "x", budget=budget)


def test_format_bytes() -> None:
    assert format_bytes(0) == "0 bytes"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(250 * 2**30) == "250 GiB"
    assert format_bytes(2**41) == "2 TiB"


@settings(max_examples=60, deadline=None)
@given(st.one_of(
    # (numpy text drops trailing NULs, which ids refuse anyway)
    st.lists(st.text(st.characters(blacklist_characters="\x00"), max_size=4), min_size=1,
             max_size=20),
    st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=20),
    st.lists(st.booleans(), min_size=1, max_size=20),
    st.lists(st.floats(allow_infinity=True, allow_nan=True), min_size=1, max_size=20)))
def test_as_segments_arrays_read_like_lists(values: list[object]) -> None:
    """The vectorised reading of numpy labels gives the texts the per-value one gives."""
    customers = IdIndex(list(range(len(values))))
    as_list, names = as_segments(list(values), customers)
    expected = ["" if v != v else str(v) for v in values]  # NaN: no label
    assert as_list.tolist() == expected
    as_array, names_a = as_segments(np.array(values), customers)
    assert as_array.tolist() == expected
    assert names.tolist() == names_a.tolist() == sorted(set(expected) - {""})


def test_as_segments_recommend_segment_map() -> None:
    from upsell.recommend.history import SegmentMap

    segment_map = SegmentMap.from_mapping({"c1": "gold", "c3": "new"})
    labels, names = as_segments(segment_map, CUSTOMERS)
    assert labels.tolist() == ["gold", "", "new", ""]
    assert names.tolist() == ["gold", "new"]
