"""Cases an independent hostile run added after issue 18 (classes, not single examples).

- Model files: a member stored big-endian, as float16, or as uint64 beyond int64 holds the
  same (or a hostile) value in another representation: it must load with native dtypes
  and give the same answer, or be refused with ``ModelFileError``; no numpy warning.
- Hand-made offer logs for ``kpi.conversion``: repeated answers, acceptances without a
  presentation, hostile revenue, columns that are not one-dimensional and groups without
  a label give an ``UpsellDataError`` naming the row, never a raw exception.
"""

from __future__ import annotations

import re
import shutil
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from upsell.exceptions import ModelFileError, UpsellDataError, UpsellError
from upsell.kpi import conversion
from upsell.persist import check_array

from .test_untrusted import MODELS, PROPERTY, _model_params, _rewrite, saved  # noqa: F401

REPRESENTATIONS = ("bigendian", "fortran", "float16", "uint64_max")


def _represent(a: np.ndarray, how: str) -> np.ndarray | None:
    if how == "bigendian" and a.dtype.itemsize > 1:
        return a.astype(a.dtype.newbyteorder(">"))
    if how == "fortran" and a.ndim == 2:
        return np.asfortranarray(a)
    if how == "float16" and a.dtype.kind == "f":
        return a.astype(np.float16) if np.abs(a).max(initial=0) < 6e4 else None
    if how == "uint64_max" and a.dtype.kind in "iu" and a.size:
        out = a.astype(np.uint64)
        out.reshape(-1)[0] = np.iinfo(np.uint64).max
        return out
    return None


def _dtypes(x: Any) -> list[np.dtype]:
    """Every array dtype inside a served result (dataclasses, tuples, lists)."""
    if isinstance(x, np.ndarray):
        return [x.dtype]
    if isinstance(x, (tuple, list)):
        return [d for v in x for d in _dtypes(v)]
    slots = getattr(type(x), "__slots__", ()) or getattr(x, "__dict__", {})
    return [d for name in slots for d in _dtypes(getattr(x, name, None))]


@pytest.mark.parametrize("name", _model_params())
@PROPERTY
@given(data=st.data())
def test_any_member_in_another_representation_loads_the_same_or_is_refused(
        world, saved, tmp_path, name, data):  # noqa: F811
    good, load, serve = saved[name]
    with np.load(good, allow_pickle=False) as npz:
        members = {n: npz[n] for n in npz.files if n != "__meta__"}
    member = data.draw(st.sampled_from(sorted(members)), label="member")
    how = data.draw(st.sampled_from(REPRESENTATIONS), label="representation")
    new = _represent(members[member], how)
    if new is None:
        return
    bad = tmp_path / f"{name}-r.npz"
    shutil.copy(good, bad)
    _rewrite(bad, lambda d, arrs: arrs.__setitem__(member, new))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            model = load(bad)
        except ModelFileError as exc:
            assert str(exc)
            return
        try:
            got = serve(model, world)
        except UpsellError:
            return
    assert all(d.isnative for d in _dtypes(got)), f"{name}.{member} {how}: {_dtypes(got)}"
    if how in ("bigendian", "fortran"):  # same values: same answer
        assert repr(got) == repr(serve(load(good), world)), f"{name}.{member} {how}"


@given(values=st.lists(st.floats(width=16, allow_nan=False, allow_infinity=False),
                       min_size=1, max_size=20),
       low=st.one_of(st.none(), st.floats(-1e300, 1e300)),
       high=st.one_of(st.none(), st.floats(-1e300, 1e300)))
def test_check_array_bounds_never_warn(values, low, high):
    """A float16 member against a bound such as 1e12 overflowed numpy's cast (RuntimeWarning)."""
    a = np.array(values, dtype=np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            check_array(a, file="m.npz", member="x", low=low, high=high)
        except ModelFileError as exc:
            assert "member 'x'" in str(exc)


def test_saved_counts_and_tree_positions_beyond_their_range_are_refused(world, tmp_path):
    p = tmp_path / "c.npz"
    world.clusters.save(p)
    _rewrite(p, lambda d, a: a.__setitem__("p_size", np.full(a["p_size"].shape, 10**9)))
    with pytest.raises(ModelFileError, match="p_size"):
        type(world.clusters).load(p)
    p = tmp_path / "b.npz"
    world.bundles.save(p)
    _rewrite(p, lambda d, a: a.__setitem__("node_parent", _represent(a["node_parent"],
                                                                      "uint64_max")))
    with pytest.raises(ModelFileError, match="node_parent"):
        type(world.bundles).load(p)


# ---------------------------------------------------------------------------- offer logs
EVENT = st.sampled_from(["presented", "accepted", "declined"])
REVENUE = st.one_of(st.floats(), st.integers(-10**6, 10**6), st.text(max_size=3), st.none(),
                    st.complex_numbers(max_magnitude=10))


@PROPERTY
@given(rows=st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), EVENT,
                               st.sampled_from(["upsell", "cross_sell", None]), REVENUE),
                     max_size=12),
       by=st.sampled_from([None, "kind"]), frame=st.booleans())
def test_conversion_on_any_hand_made_log_names_the_row(rows, by, frame):
    log: Any = {"offer_id": [r[0] for r in rows], "event": [r[1] for r in rows],
                "kind": [r[2] for r in rows], "revenue": [r[3] for r in rows]}
    if frame:
        log = pd.DataFrame(log) if rows else pd.DataFrame({k: pd.Series([], dtype=object)
                                                           for k in log})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            r = conversion(log, by=by)
        except UpsellDataError as exc:
            msg = str(exc)
            assert re.search(r"row \d+", msg), msg
            assert "np.str_" not in msg and "np.float64" not in msg, msg
            return
    assert (r.accepted <= r.presented).all()
    answered: dict[str, int] = {}
    for oid, ev, *_ in rows:  # every offer answered at most once when it was accepted
        if oid is not None and ev != "presented":
            answered[oid] = answered.get(oid, 0) + 1
    assert all(n <= 1 for n in answered.values())


@pytest.mark.parametrize("log, match", [
    ({"offer_id": ["a", "a", "a"], "event": ["presented", "accepted", "accepted"]},
     r"row 2: offer_id 'a' was already answered at row 1"),
    ({"offer_id": ["a", "a", "a"], "event": ["presented", "accepted", "declined"]},
     r"row 2: offer_id 'a' was already answered"),
    ({"event": ["presented", "accepted", "accepted"], "kind": ["upsell"] * 3},
     r"row 2: 2 accepted but only 1 presented"),
    ({"event": ["presented", "accepted"], "revenue": [0, "x"]}, r"row 1: `revenue` 'x'"),
    ({"event": ["presented", "accepted"], "revenue": [0, 1 + 1j]}, r"row 1: `revenue`"),
    ({"event": ["presented", "accepted"], "revenue": [0, np.inf]}, r"row 1: `revenue` inf"),
    ({"event": np.array([["presented", "accepted"]])}, r"column 'event' must be one-dim"),
    (pd.DataFrame([["presented", "accepted"]], columns=["event", "event"]),
     r"must not repeat a column"),
])
def test_conversion_hand_made_log_errors(log, match):
    with pytest.raises(UpsellDataError, match=match):
        conversion(log)


def test_conversion_group_without_label_names_the_row():
    with pytest.raises(UpsellDataError, match=r"row 1: `kind` has no value"):
        conversion({"event": ["presented", "presented"], "kind": ["upsell", None]}, by="kind")


# ---------------------------------------------------------------------------- OfferLog
def _logs(tmp_path: Any) -> list[Any]:
    import sqlite3

    from upsell.recommend import OfferLog

    return [OfferLog.in_memory(), OfferLog.sqlite(tmp_path / "log.db"),
            OfferLog.from_connection(sqlite3.connect(":memory:", check_same_thread=False))]


NOT_OFFERS = st.one_of(st.none(), st.text(max_size=3), st.integers(),
                       st.lists(st.one_of(st.text(max_size=3), st.integers(), st.none(),
                                          st.dictionaries(st.text(max_size=2), st.integers())),
                                min_size=1, max_size=3))


@PROPERTY
@given(offers=NOT_OFFERS)
def test_presented_refuses_anything_but_offers(tmp_path, offers):
    for log in _logs(tmp_path):
        with pytest.raises(UpsellDataError, match="offers"):
            log.presented(offers, customer="c", time="2024-01-01")
        assert len(log) == 0


@pytest.mark.parametrize("when", [pd.NaT, np.datetime64("NaT"), "not a time"])
def test_event_time_nat_is_refused_by_every_backend(tmp_path, when):
    for log in _logs(tmp_path):
        with pytest.raises(UpsellDataError, match="time"):
            log.record("presented", item="i", time=when)


def test_offer_log_constructors_name_themselves_and_their_arguments(tmp_path):
    import sqlite3

    from upsell.recommend import OfferLog

    with pytest.raises(TypeError, match=r"OfferLog\.sqlite\(\)"):
        OfferLog.sqlite(tmp_path / "a.db", tabel="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"OfferLog\.from_connection\(\)"):
        OfferLog.from_connection(sqlite3.connect(":memory:"), paramstyl="qmark")  # type: ignore[call-arg]
    for bad in ("not a connection", 5, object()):
        with pytest.raises(UpsellDataError, match="connection"):
            OfferLog.from_connection(bad)
    for path in (None, b"x.db", "", "a\x00b", 3.5):
        with pytest.raises(UpsellDataError, match="path"):
            OfferLog.sqlite(path)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- plots
PRIMITIVES = {
    "line_chart": lambda p, **kw: p.line_chart([1, 2], [1.0, 2.0], **kw),
    "bar_chart": lambda p, **kw: p.bar_chart(["a"], [1.0], **kw),
    "hbar_chart": lambda p, **kw: p.hbar_chart(["a"], [1.0], **kw),
    "share_bars": lambda p, **kw: p.share_bars(["a"], [0.5], [0.5], **kw),
    "grouped_bars": lambda p, **kw: p.grouped_bars(["a"], {"s": [1.0]}, **kw),
    "histogram": lambda p, **kw: p.histogram([1.0, 2.0, 3.0], **kw),
    "rules_scatter": lambda p, **kw: p.rules_scatter([0.5, 0.6], [1.2, 2.0], **kw),
}


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
@PROPERTY
@given(key=st.from_regex(r"[a-z]{2,8}_?[a-z]{0,4}", fullmatch=True),
       ax=st.sampled_from([None, "ax", 5, [], object()]))
def test_chart_keywords_and_axes_are_checked(name, key, ax):
    """matplotlib's AttributeError for an unknown keyword and for a non-Axes ``ax`` escaped."""
    pytest.importorskip("matplotlib")
    from upsell.report import plots

    draw = PRIMITIVES[name]
    if ax is not None:
        with pytest.raises(UpsellDataError, match="`ax` must be a matplotlib Axes"):
            draw(plots, ax=ax)
        return
    try:
        out = draw(plots, **{key: 1})
    except TypeError as exc:
        assert f"{name}()" in str(exc) and key in str(exc), str(exc)
    except (UpsellError, ValueError):  # a known keyword with a value matplotlib refuses
        pass
    else:
        import matplotlib.figure

        assert isinstance(out.figure, matplotlib.figure.Figure)


def test_result_plot_with_a_misspelled_keyword_is_a_type_error():
    pytest.importorskip("matplotlib")
    r = conversion({"event": ["presented", "accepted"], "kind": ["a", "a"]}, by="kind")
    with pytest.raises(TypeError, match=r"bar_chart\(\).*'colr'"):
        r.plot(colr="red")


def test_every_result_plot_with_a_misspelled_keyword_is_a_type_error(world):
    """Domain plot functions that call matplotlib themselves (rules: ax.scatter) too."""
    pytest.importorskip("matplotlib")
    import upsell as us

    fi = us.bundles.frequent_itemsets(world.tx, min_support=0.01)
    for result in (fi, us.bundles.association_rules(fi, min_confidence=0.1)):
        with pytest.raises(TypeError, match="'colr'"):
            result.plot(colr="red")


# ---------------------------------------------------------------------------- CLV models
@pytest.mark.parametrize("model", ["betageo", "pareto"])
@PROPERTY
@given(f=st.one_of(st.integers(0, 10), st.integers(0, 10**13).map(float)),
       T=st.floats(1e-300, 1e13), frac=st.floats(0.0, 1.0), t=st.floats(0.0, 1e13))
def test_clv_predictions_are_finite_or_refused_for_any_customer(world, model, f, T, frac, t):
    """ParetoNBD warned (inf - inf in its A0 term) from frequency 1,000 on; BetaGeo gave -1.6e-16."""
    m = getattr(world, model)
    r = T * frac if f > 0 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            pred = m.predict(t, frequency=[f], recency=[r], T=[T])
            alive = m.probability_alive(frequency=[f], recency=[r], T=[T])
        except UpsellDataError as exc:
            assert f > 1e12 or T > 1e12, str(exc)
            return
    assert np.isfinite(pred).all() and (pred >= 0).all(), pred
    assert ((alive >= 0) & (alive <= 1)).all(), alive


# ---------------------------------------------------------------------------- constructor parameters
def _param_cases() -> list[Any]:
    from upsell.cf import ALS, BPR, EASE, ItemKNN, RepeatBlend
    from upsell.segments import Clusters
    from upsell.tiers import UpsellRanker

    return [(ALS, "num_threads"), (ALS, "iterations"), (BPR, "num_threads"),
            (BPR, "learning_rate"), (ItemKNN, "n_neighbors"), (ItemKNN, "num_threads"),
            (EASE, "n_neighbors"), (RepeatBlend, "cf_weight"), (RepeatBlend, "popularity_weight"),
            (RepeatBlend, "half_life_days"), (RepeatBlend, "n_neighbors"),
            (Clusters, "features"), (UpsellRanker, "kinds")]


HOSTILE_PARAMS = st.one_of(st.integers(2**31, 2**200), st.floats(1e13, 1e308),
                           st.floats(1e-320, 1e-300), st.booleans(), st.none(),
                           st.complex_numbers(allow_nan=False, max_magnitude=5),
                           st.floats(allow_nan=True).filter(lambda v: v != v))


@pytest.mark.parametrize("cls, name", _param_cases(),
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
@PROPERTY
@given(value=HOSTILE_PARAMS)
def test_any_hostile_constructor_parameter_is_refused_or_fits(world, cls, name, value):
    """Huge ints overflowed C longs (OverflowError), 10**30 broke np.isfinite (TypeError),
    implicit's ModelFitError escaped BPR, non-iterable ``features``/``kinds`` gave TypeError,
    a tiny half-life warned. The fits run a few iterations only."""
    from upsell.segments import Clusters
    from upsell.tiers import UpsellRanker

    small = {"iterations": 2} if name != "iterations" and "iterations" in \
        cls.__init__.__code__.co_varnames else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            model = cls(**{name: value, **small})
            if cls is Clusters:
                model.fit(world.tx, catalog=world.cat)
            elif cls is UpsellRanker:
                model.fit(world.tx, world.cat)
            else:
                if name in ("iterations",) and isinstance(value, int) and value > 100:
                    model._validate_params()  # would run for ever if accepted
                    return
                model.fit(world.tx)
        except UpsellError as exc:
            assert str(exc)


def test_a_keyword_value_matplotlib_refuses_is_named():
    """``ec=1`` (an edge colour matplotlib cannot read) escaped as its own TypeError."""
    pytest.importorskip("matplotlib")
    from upsell.report import plots

    with pytest.raises(UpsellDataError, match=r"bar_chart\(\).*\(ec=1\)"):
        plots.bar_chart(["a", "b"], [1, 2], ec=1)
    with pytest.raises(TypeError, match="positional"):  # our own signature: as Python says
        plots.bar_chart(["a"], [1], 5)
