"""The assembled pipeline: the blend seam, include_owned, plural requests, lazy assembly, files."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import upsell as us
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.recommend import (
    Blend,
    BlendRequest,
    Candidate,
    NotOwned,
    OfferList,
    Recommender,
    WeightedBlend,
    blend_types,
    register_blend,
)
from upsell.recommend.blending import normalise, normalise_columns

from .conftest import AT, build, small_catalog


class Fixed:
    """A source returning a fixed scored list."""

    def __init__(self, name: str, pairs: list[tuple[str, float]], kind: str = "cross_sell"):
        self.name = name
        self.pairs = pairs
        self.kind = kind

    def candidates(self, request: Any, n: int) -> list[Candidate]:  # the old parameter name
        return [Candidate(i, s, self.kind) for i, s in self.pairs[:n]]


class Generic(WeightedBlend):
    """WeightedBlend's arithmetic through the generic (matrix) path of the pipeline."""

    calls: list[tuple[Any, ...]]

    def blend(self, request: Any, items: np.ndarray, source_scores: np.ndarray,
              source_names: tuple[str, ...]) -> tuple[np.ndarray, None]:
        assert not items.flags.writeable and not source_scores.flags.writeable
        assert source_scores.flags.c_contiguous
        self.calls.append((request, items.copy(), source_scores.copy(), source_names))
        return super().blend(request, items, source_scores, source_names)


def generic(**kw: Any) -> Generic:
    g = Generic(**kw)
    g.calls = []
    return g


# --------------------------------------------------------------------------- the seam
def test_weighted_blend_is_registered_and_a_blend() -> None:
    assert blend_types()["WeightedBlend"] is WeightedBlend
    assert isinstance(WeightedBlend(), Blend)
    assert WeightedBlend(weights={"a": 2}) == WeightedBlend(weights={"a": 2.0}) != WeightedBlend()
    with pytest.raises(UpsellDataError, match="normalize"):
        WeightedBlend(normalize="zscore")
    with pytest.raises(UpsellDataError, match="weights"):
        WeightedBlend(weights={"a": -1})


def test_default_equals_an_explicit_weighted_blend_offer_for_offer(parts: Any) -> None:
    w = {"bundles": 2.0, "itemknn": 0.5}
    old = build(parts, weights=w, normalize="rank")
    new = build(parts, blend=WeightedBlend(weights=w, normalize="rank"))
    for c in parts.tx.customers.ids[:25].tolist():
        for moment in (None, "cart", "post_purchase"):
            assert old.recommend(c, k=5, moment=moment, at=AT) == \
                new.recommend(c, k=5, moment=moment, at=AT)


def test_blend_and_weights_together_are_refused(parts: Any) -> None:
    with pytest.raises(UpsellDataError, match="not both"):
        build(parts, weights={"bundles": 2.0}, blend=WeightedBlend()).fit()
    with pytest.raises(UpsellDataError, match="weights"):
        build(parts, blend=WeightedBlend(weights={"nope": 1.0})).fit()


@pytest.mark.parametrize("normalize", ["max", "minmax"])
def test_generic_path_gives_the_default_scores_and_order(parts: Any, normalize: str) -> None:
    """The matrix a blend sees holds everything the per-source path blends.

    ("rank" breaks ties by row order in the matrix and by each source's own order on the
    default path, so tied candidates may swap.)
    """
    g = generic(weights={"bundles": 1.5}, normalize=normalize)
    default = build(parts, weights={"bundles": 1.5}, normalize=normalize)
    seam = build(parts, blend=g)
    for c in parts.tx.customers.ids[:30].tolist():
        a = default.recommend(c, k=6, at=AT)
        b = seam.recommend(c, k=6, at=AT)
        assert [o.item for o in a] == [o.item for o in b]
        for x, y in zip(a, b, strict=True):
            assert math.isclose(x.score, y.score, rel_tol=1e-12, abs_tol=1e-12)
            assert y.components.get("blend") is not None or y.components.get("fill") is not None
            assert set(x.sources) == set(y.sources)
    req, items, scores, names = g.calls[0]
    assert isinstance(req, BlendRequest)
    assert names == ("bundles", "itemknn", "next_purchase", "upsell")
    assert items.dtype == np.int32 and scores.dtype == np.float64
    assert scores.shape == (items.size, 4)
    assert np.all(np.isnan(scores).sum(axis=1) < 4)  # every candidate has a proposer


def test_blend_request_describes_the_request(parts: Any) -> None:
    g = generic()
    rec = build(parts, blend=g)
    cust = parts.tx.customers.ids[3].item()
    owned_ids = rec.history_.owned(cust)[0]
    basket = [parts.cat.items.ids[i].item() for i in (1, 2)]
    rec.recommend(cust, basket=basket, k=4, moment="cart", channel="email", at=AT,
                  include_owned=True, context={"page": "x"})
    req = g.calls[-1][0]
    assert req.customer == cust and req.customer_index == rec.history_.row(cust)
    assert req.basket.tolist() == [1, 2] and req.basket.dtype == np.int32
    assert parts.cat.items.ids[req.owned].tolist() == list(owned_ids)
    assert req.owned_time.dtype == np.dtype("datetime64[s]")
    assert req.at == np.datetime64(AT, "s") and req.k == 4
    assert (req.moment, req.channel, req.include_owned) == ("cart", "email", True)
    assert req.segment == rec.segments_.segment_of(cust) and req.context == {"page": "x"}
    rec.recommend(basket=basket[:1], k=3, at=AT)
    anon = g.calls[-1][0]
    assert anon.customer is None and anon.customer_index == -1 and anon.owned.size == 0


class Reverse:
    """Prefers what the sources like least, and says so."""

    def __init__(self) -> None:
        self.bound: list[tuple[int, tuple[str, ...]]] = []

    def bind(self, catalog: Any, source_names: tuple[str, ...]) -> Reverse:
        self.bound.append((len(catalog), source_names))
        return self

    def blend(self, request: Any, items: np.ndarray, source_scores: np.ndarray,
              source_names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
        total = np.nansum(source_scores, axis=1)
        return -total, tuple(f"reverse of {t:g}" for t in total)


def test_a_user_blend_decides_the_order_and_gives_reasons() -> None:
    cat = small_catalog()
    blend = Reverse()
    rec = Recommender(catalog=cat, cross_sell=[Fixed("a", [("mug", 3.0), ("pot", 1.0)]),
                                               Fixed("b", [("pot", 1.0), ("ink", 0.5)])],
                      rules=[], blend=blend,
                      cue_templates={"web": {"cf": "{blend_reason}!"}})
    assert blend.bound == []  # nothing assembled before the first use
    offers = rec.recommend(k=3, at=AT)
    assert blend.bound == [(6, ("a", "b"))]
    assert [o.item for o in offers] == ["ink", "pot", "mug"]
    assert [o.score for o in offers] == [-0.5, -2.0, -3.0]
    assert offers[0].components == {"blend": -0.5}
    assert offers.reasons == ("reverse of 0.5", "reverse of 2", "reverse of 3")
    rec.recommend(k=3, at=AT)
    assert len(blend.bound) == 1  # bound once


def test_non_finite_blend_scores_drop_the_candidate_and_are_counted() -> None:
    class Picky:
        def blend(self, request: Any, items: np.ndarray, source_scores: np.ndarray,
                  source_names: tuple[str, ...]) -> tuple[np.ndarray, None]:
            out = np.nan_to_num(source_scores[:, 0], nan=0.0)
            out[0] = np.nan
            return out, None

    rec = Recommender(catalog=small_catalog(), rules=[], blend=Picky(),
                      cross_sell=[Fixed("a", [("mug", 3.0), ("pot", 1.0), ("ink", 2.0)])])
    offers = rec.recommend(k=5, at=AT)
    assert [o.item for o in offers] == ["ink", "pot"] and offers.removed == {"blend": 1}


@pytest.mark.parametrize("result, match", [
    (np.zeros(5), r"must return \(scores, reasons\)"),
    ((np.zeros(5), None), "one score"),
    ((np.zeros(2), ("x",)), "1 reasons"),
])
def test_a_blend_returning_the_wrong_shape_is_an_error(result: Any, match: str) -> None:
    class Wrong:
        def blend(self, *a: Any) -> Any:
            return result

    rec = Recommender(catalog=small_catalog(), rules=[], blend=Wrong(),
                      cross_sell=[Fixed("a", [("mug", 3.0), ("pot", 1.0)])])
    with pytest.raises(UpsellDataError, match=match):
        rec.recommend(k=2, at=AT)
    with pytest.raises(UpsellDataError, match="blend"):
        Recommender(catalog=small_catalog(), blend=object()).fit()  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(data=st.data(), n=st.integers(1, 12), s=st.integers(1, 4),
       normalize=st.sampled_from(["max", "minmax", "rank"]))
def test_weighted_blend_matrix_equals_the_per_source_sum(data: Any, n: int, s: int,
                                                         normalize: str) -> None:
    vals = data.draw(st.lists(st.one_of(st.just(float("nan")), st.floats(-1e6, 1e6)),
                              min_size=n * s, max_size=n * s))
    m = np.array(vals, dtype=np.float64).reshape(n, s)
    names = tuple(f"s{j}" for j in range(s))
    w = {nm: data.draw(st.floats(0, 10)) for nm in names}
    got, reasons = WeightedBlend(weights=w, normalize=normalize).blend(
        None, np.arange(n, dtype=np.int32), m, names)
    assert reasons is None
    want = np.zeros(n)
    for j, nm in enumerate(names):
        rows = [i for i in range(n) if not math.isnan(m[i, j])]
        if rows:
            z = normalise([float(m[i, j]) for i in rows], normalize)
            for i, v in zip(rows, z, strict=True):
                want[i] += w[nm] * v
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    z = normalise_columns(m, normalize)
    assert np.array_equal(np.isnan(z), np.isnan(m))
    assert np.all((z[~np.isnan(z)] >= 0) & (z[~np.isnan(z)] <= 1))


# --------------------------------------------------------------------------- include_owned
def test_include_owned_lets_owned_items_through_never_the_basket() -> None:
    cat = small_catalog()
    tx = us.Transactions.from_arrays(order=[1, 2, 3], item=["mug", "pot", "tea"],
                                     customer=["c", "c", "d"], time=["2024-01-01"] * 3)
    src = Fixed("s", [("mug", 3.0), ("pot", 2.0), ("tea", 1.0), ("plan", 0.5)])
    rec = Recommender(catalog=cat, cross_sell=[src], history=tx, rules=[NotOwned()])
    assert [o.item for o in rec.recommend("c", basket=["tea"], k=5, at=AT)] == ["plan"]
    again = rec.recommend("c", basket=["tea"], k=5, at=AT, include_owned=True)
    assert [o.item for o in again] == ["mug", "pot", "plan"]
    assert ("not_owned", "owned, buy again allowed") in again[0].reason.rules
    with pytest.raises(UpsellDataError, match="include_owned"):
        rec.recommend("c", k=5, at=AT, include_owned="yes")


def test_include_owned_reaches_cf_sources_and_the_fill(parts: Any) -> None:
    rec = build(parts, cross_sell=[parts.knn], upsell=None, rules=[NotOwned()])
    heavy = max(parts.tx.customers.ids.tolist(), key=lambda c: len(rec.history_.owned(c)[0]))
    owned = set(rec.history_.owned(heavy)[0])
    plain = rec.recommend(heavy, k=10, at=AT)
    assert not owned & {o.item for o in plain}
    again = rec.recommend(heavy, k=10, at=AT, include_owned=True)
    assert owned & {o.item for o in again}
    filled = rec.recommend(heavy, k=10, at=AT, include_owned=True, fill=True)
    assert len(filled) == 10


# --------------------------------------------------------------------------- plural requests
def test_plural_customers_and_baskets_return_recommendations(parts: Any, rec: Any) -> None:
    custs = [*parts.tx.customers.ids[:6].tolist(), "nobody"]
    many = rec.recommend(customers=custs, k=4, at=AT)
    assert isinstance(many, us.Recommendations) and many.request_kind == "customer"
    assert many.requests.tolist() == custs
    for r, c in enumerate(custs):
        one = rec.recommend(c, k=4, at=AT)
        assert many.item_ids(r).tolist() == list(one.items)
        np.testing.assert_allclose(many.request_scores(r), one.scores.astype(np.float32))
        assert many.reasons_for(r) == one.reasons
        assert np.all(np.diff(many.request_scores(r)) <= 0)
    baskets = [[parts.cat.items.ids[i].item()] for i in (0, 5, 9)]
    bs = rec.recommend(baskets=baskets, k=3, at=AT)
    assert bs.request_kind == "basket" and bs.requests.tolist() == [0, 1, 2]
    assert bs.lists() == [list(rec.recommend(basket=b, k=3, at=AT).items) for b in baskets]
    both = rec.recommend(customers=custs[:3], baskets=baskets, k=3, at=AT)
    assert both.lists() == [list(rec.recommend(c, basket=b, k=3, at=AT).items)
                            for c, b in zip(custs[:3], baskets, strict=True)]
    assert "reason" in many.to_pandas().columns


@pytest.mark.parametrize("kwargs, match", [
    ({"customer": "x", "customers": ["y"]}, "not both"),
    ({"baskets": ["a", "b"]}, "not single ids"),
    ({"customers": ["x"], "baskets": [[], []]}, "one basket per customer"),
    ({"customers": [["x"]]}, "ids"),
])
def test_plural_arguments_are_checked(rec: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(UpsellDataError, match=match):
        rec.recommend(**kwargs, at=AT)


# --------------------------------------------------------------------------- OfferList
def test_offer_list_is_read_only_and_reads_like_the_result_family(rec: Any,
                                                                  parts: Any) -> None:
    offers = rec.recommend(parts.tx.customers.ids[0].item(), k=5, at=AT)
    assert isinstance(offers, OfferList) and offers == list(offers)
    assert offers.items == tuple(o.item for o in offers)
    assert offers.lists() == [list(offers.items)]
    assert offers.scores.dtype == np.float64 and np.all(np.diff(offers.scores) <= 0)
    assert offers.reasons == tuple(o.reason.summary for o in offers)
    for mutate in (lambda o: o.append(o[0]), lambda o: o.sort(), lambda o: o.pop(),
                   lambda o: o.__setitem__(0, o[0]), lambda o: o.__delitem__(0),
                   lambda o: o.extend([]), lambda o: o.clear(), lambda o: o.reverse(),
                   lambda o: o.insert(0, o[0]), lambda o: o.remove(o[0])):
        with pytest.raises(TypeError, match="immutable"):
            mutate(offers)
    with pytest.raises(TypeError, match="immutable"):
        offers += []
    with pytest.raises(TypeError, match="immutable"):
        offers.note = "x"
    assert offers[:2] == list(offers)[:2] and len(offers) <= 5
    import copy
    import pickle
    for clone in (copy.copy(offers), copy.deepcopy(offers), pickle.loads(pickle.dumps(offers))):
        assert clone == offers and clone.removed == offers.removed and clone.note == offers.note
    pd = pytest.importorskip("pandas")
    frame = offers.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert frame.columns.tolist() == ["item", "name", "kind", "item_kind", "score", "probability",
                                      "expected_revenue", "expected_margin", "sources", "reason",
                                      "cue", "channel", "moment", "due", "propensity",
                                      "explored"]
    assert "<b>OfferList</b>" in offers._repr_html_()


# --------------------------------------------------------------------------- assembly
def test_constructor_only_stores_parameters(parts: Any) -> None:
    rec = build(parts)
    assert "_built" not in rec.__dict__
    assert rec.get_params()["blend"] is None and rec.get_params()["cross_sell"] == \
        [parts.bundles, parts.knn, parts.seq]
    assert rec.fit() is rec and "_built" in rec.__dict__
    pipe = rec.__dict__["_built"]
    rec.recommend(k=2, at=AT)
    assert rec.__dict__["_built"] is pipe  # built once
    with pytest.raises(AttributeError):
        rec.no_such_attribute_  # noqa: B018


def test_threads_assemble_one_pipeline_and_serve_like_one(parts: Any) -> None:
    rec = build(parts)
    custs = parts.tx.customers.ids[:40].tolist()
    want = {c: build(parts).recommend(c, k=4, at=AT) for c in custs}
    got: dict[Any, Any] = {}
    pipes: list[Any] = []
    start = threading.Barrier(8)

    def work(part: list[Any]) -> None:
        start.wait()
        pipes.append(rec._pipeline())
        for c in part:
            got[c] = rec.recommend(c, k=4, at=AT)

    threads = [threading.Thread(target=work, args=(custs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p is pipes[0] for p in pipes)
    assert all(got[c] == want[c] for c in custs)


# --------------------------------------------------------------------------- files
def test_default_blend_saves_as_format_one_without_a_blend_entry(rec: Any,
                                                                  tmp_path: Path) -> None:
    rec.save(tmp_path / "r")
    doc = json.loads((tmp_path / "r" / "recommender.json").read_text())
    assert doc["format_version"] == 1 and "blend" not in doc
    assert not (tmp_path / "r" / "blend").exists()


def test_weighted_blend_round_trips(parts: Any, tmp_path: Path) -> None:
    rec = build(parts, blend=WeightedBlend(weights={"bundles": 3.0}, normalize="minmax"))
    rec.save(tmp_path / "r")
    doc = json.loads((tmp_path / "r" / "recommender.json").read_text())
    assert doc["format_version"] == 2
    assert doc["blend"] == {"type": "WeightedBlend", "dir": None,
                            "config": {"weights": {"bundles": 3.0}, "normalize": "minmax"}}
    back = Recommender.load(tmp_path / "r", offer_log=us.recommend.OfferLog.in_memory())
    assert back.blend == rec.blend
    for c in parts.tx.customers.ids[:10].tolist():
        assert back.recommend(c, k=5, at=AT) == rec.recommend(c, k=5, at=AT)


@register_blend
class FileBlend:
    """A registered blend with its own file: a weight per catalog position."""

    def __init__(self, boost: dict[str, float], *, scale: float = 1.0) -> None:
        self.boost = dict(boost)
        self.scale = scale

    def blend(self, request: Any, items: np.ndarray, source_scores: np.ndarray,
              source_names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
        ids = request.context.get("ids") if request.context else None
        base = np.nansum(source_scores, axis=1)
        extra = np.array([self.boost.get(str(ids[i]) if ids is not None else "", 0.0)
                          for i in items.tolist()])
        return self.scale * (base + extra), tuple("file" for _ in items.tolist())

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def save(self, folder: str) -> None:
        with open(os.path.join(folder, "boost.json"), "w") as fh:
            json.dump(self.boost, fh)

    @classmethod
    def load(cls, folder: str, *, scale: float = 1.0, verify: bool = True) -> FileBlend:
        with open(os.path.join(folder, "boost.json")) as fh:
            return cls(json.load(fh), scale=scale)


def _file_rec(tmp_path: Path) -> tuple[Recommender, Path]:
    cat = small_catalog()
    rec = Recommender(catalog=cat, rules=[], blend=FileBlend({"pot": 5.0}, scale=2.0),
                      cross_sell=[us.recommend.PopularitySource.fit(
                          us.Transactions.from_arrays(order=[1, 2, 3], item=["mug", "pot", "mug"],
                                                      customer=["a", "b", "c"]), cat,
                          name="pop")])
    path = tmp_path / "r"
    rec.save(path)
    return rec, path


def test_a_registered_blend_saves_its_files_in_blend_and_loads(tmp_path: Path) -> None:
    rec, path = _file_rec(tmp_path)
    doc = json.loads((path / "recommender.json").read_text())
    assert doc["blend"] == {"type": "FileBlend", "config": {"scale": 2.0}, "dir": "blend"}
    assert "blend/boost.json" in doc["files"]
    back = Recommender.load(path)
    assert isinstance(back.blend, FileBlend) and back.blend.boost == {"pot": 5.0}
    ctx = {"ids": small_catalog().items.ids.tolist()}
    assert back.recommend(k=3, at=AT, context=ctx) == rec.recommend(k=3, at=AT, context=ctx)
    assert back.recommend(k=3, at=AT, context=ctx)[0].item == "pot"


def test_blend_files_are_checked_like_every_part(tmp_path: Path) -> None:
    _, path = _file_rec(tmp_path)
    (path / "blend" / "boost.json").write_text('{"pot": 6.0}')  # same size, other bytes
    with pytest.raises(ModelFileError, match="checksum"):
        Recommender.load(path)
    (tmp_path / "b").mkdir()
    _, path = _file_rec(tmp_path / "b")
    (path / "blend" / "extra.bin").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"extra\.bin"):
        Recommender.load(path)
    (tmp_path / "c").mkdir()
    _, path = _file_rec(tmp_path / "c")
    doc = json.loads((path / "recommender.json").read_text())
    doc["blend"]["type"] = "os.system"
    (path / "recommender.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="not registered"):
        Recommender.load(path)
    doc["blend"] = {"type": "FileBlend", "config": {}, "dir": "../elsewhere"}
    (path / "recommender.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="blend"):
        Recommender.load(path)


def test_a_blend_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    _, path = _file_rec(tmp_path)
    outside = tmp_path / "outside"
    (path / "blend").rename(outside)
    (path / "blend").symlink_to(outside)
    with pytest.raises(ModelFileError):
        Recommender.load(path)


def test_unsaveable_blends_are_named(tmp_path: Path) -> None:
    rec = Recommender(catalog=small_catalog(), blend=Reverse())
    with pytest.raises(UpsellDataError, match="Reverse"):
        rec.save(tmp_path / "r")

    class Unregistered(FileBlend):
        pass

    rec = Recommender(catalog=small_catalog(), blend=Unregistered({}))
    with pytest.raises(UpsellDataError, match="register_blend"):
        rec.save(tmp_path / "r")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(weights=st.dictionaries(st.sampled_from(["bundles", "itemknn", "next_purchase", "upsell"]),
                               st.floats(0, 5), max_size=4),
       normalize=st.sampled_from(["max", "minmax", "rank"]), pos=st.integers(0, 399))
def test_weighted_blend_save_load_round_trip_property(parts: Any, tmp_path_factory: Any,
                                                       weights: dict[str, float], normalize: str,
                                                       pos: int) -> None:
    rec = build(parts, blend=WeightedBlend(weights=weights, normalize=normalize))
    path = tmp_path_factory.mktemp("wb") / "r"
    rec.save(path)
    back = Recommender.load(path, offer_log=us.recommend.OfferLog.in_memory())
    c = parts.tx.customers.ids[pos].item()
    assert back.recommend(c, k=5, at=AT) == rec.recommend(c, k=5, at=AT)


# --------------------------------------------------------------------------- the learned blend
@pytest.fixture(scope="module")
def learned(parts: Any) -> Any:
    from upsell.recommend import LearnedBlend

    return LearnedBlend(n_cuts=2, max_rounds=20).fit(parts.tx, catalog=parts.cat,
                                                      random_state=0)


def test_learned_blend_serves_through_the_pipeline_and_round_trips(parts: Any, learned: Any,
                                                                   tmp_path: Path) -> None:
    rec = build(parts, blend=learned)
    custs = parts.tx.customers.ids[:12].tolist()
    for c in custs:
        offers = rec.recommend(c, k=5, at=AT)
        assert np.all(np.diff(offers.scores) <= 0) and len(offers) <= 5
        owned = set(rec.history_.owned(c)[0])
        assert all(o.item not in owned or o.item_kind == "value_pack" for o in offers)
        assert all(set(o.components) <= {"blend", "segment", "fill", "fill_cap"}
                   | {k for k in o.components if k.startswith("rule:")} for o in offers)
    rec.save(tmp_path / "r")
    doc = json.loads((tmp_path / "r" / "recommender.json").read_text())
    assert doc["format_version"] == 2 and doc["blend"]["type"] == "LearnedBlend"
    back = Recommender.load(tmp_path / "r", offer_log=us.recommend.OfferLog.in_memory())
    for c in custs:
        assert back.recommend(c, k=5, at=AT) == rec.recommend(c, k=5, at=AT)
        assert back.recommend(c, k=5, at=AT, include_owned=True) == \
            rec.recommend(c, k=5, at=AT, include_owned=True)


def test_batch_takes_include_owned_like_single_requests(parts: Any, rec: Any) -> None:
    custs = parts.tx.customers.ids[:8].tolist()
    for flag in (False, True):
        got = dict(rec.recommend_batch(custs, k=4, at=AT, include_owned=flag))
        for c in custs:
            assert got[c] == rec.recommend(c, k=4, at=AT, include_owned=flag,
                                           channel="email", moment="post_purchase")


def test_an_empty_offer_list_says_why():
    """No offer: the note names the rules that left candidates out, or says that no source
    had one and how many of the items the customer owns (a 6-category shop's customer who
    bought every category)."""
    tx = us.Transactions.from_arrays(order=[1, 1, 2, 3], item=["a", "b", "a", "b"],
                                     customer=["u", "u", "v", "w"])
    cat = us.Catalog.from_transactions(tx)
    rec = Recommender(catalog=cat, cross_sell=[Fixed("fixed", [("a", 1.0), ("b", 0.5)])],
                      history=tx).fit()
    got = rec.recommend("u", k=3, fill=False)
    assert not list(got) and "left out by rule: not_owned 2" in got.note
    alone = Recommender(catalog=cat, cross_sell=[Fixed("fixed", [])], history=tx).fit()
    assert alone.recommend("u", k=3, fill=False).note == (
        "no source had an offer that passed the rules (no source had a candidate; the "
        "customer owns 2 of the 2 items)")
