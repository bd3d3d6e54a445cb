"""Personas: recovery of make_shop's true personas, the estimator contract, assign and files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.data import Transactions
from upsell.datasets import make_shop
from upsell.exceptions import ModelFileError, NotFittedError, UnknownIdError, UpsellDataError
from upsell.segments import PERSONAS, Personas
from upsell.segments.personas import _num


def confusion(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.array([[int(np.sum((truth == a) & (pred == b))) for b in PERSONAS]
                     for a in PERSONAS])


def macro_f1(c: np.ndarray) -> float:
    return float(np.mean([2 * c[k, k] / (c[k].sum() + c[:, k].sum()) for k in range(len(c))]))


@pytest.fixture(scope="module")
def shop():
    return make_shop(random_state=0)


@pytest.fixture(scope="module")
def fitted(shop):
    return Personas().fit(shop.transactions, catalog=shop.catalog)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_make_shop_personas(seed, capsys):
    """Macro-F1 0.89-0.93 over seeds 0-7 (2,000 customers); the floor asserted is 0.87.

    Seed 0 (rows truth, columns predicted; new, frequent, price_sensitive, premium):
        [[597 0 3 1] [0 307 21 45] [2 21 569 14] [12 3 32 373]]  macro-F1 0.914
    New customers are found almost perfectly (tenure); the residual errors are
    low-activity "frequent" customers (6 or fewer orders, which price-sensitive and
    premium customers also reach) read as price-sensitive or premium.
    """
    shop = make_shop(random_state=seed)
    pred = Personas().fit(shop.transactions, catalog=shop.catalog).predict()
    assert np.array_equal(pred.customers, shop.truth.customers)
    c = confusion(shop.truth.persona, pred.persona)
    f1 = macro_f1(c)
    with capsys.disabled():
        print(f"\nseed {seed}: macro-F1 {f1:.3f}\n{c}")
    assert f1 >= 0.87
    assert np.diag(c)[0] / c[0].sum() >= 0.97          # new customers


def test_one_persona_each_scores_in_range_and_reasons(fitted, shop):
    res = fitted.predict()
    assert len(res) == len(shop.transactions.customers)
    assert set(res.persona.tolist()) == set(PERSONAS)
    assert res.scores.shape == (len(res), 4)
    assert (res.scores >= 0).all() and (res.scores <= 1).all()
    # the persona is the best score
    assert np.array_equal(np.asarray(PERSONAS)[res.scores.argmax(axis=1)], res.persona)
    reasons = res.reasons()
    assert all(r.startswith(p + ":") for r, p in zip(reasons, res.persona, strict=True))
    # every customer with history has a reason: a feature for the persona, or a weak fit
    named = res.decisive[:, 0] >= 0
    assert all("weak fit" in r for r in reasons[~named])
    assert not any("e+" in r for r in reasons)
    s = res.summary()
    assert s.customers.sum() == len(res) and s.segment.tolist() == list(PERSONAS)
    assert abs(np.nansum(s.revenue_share) - 1) < 1e-9
    df = res.to_pandas()
    assert df.shape[0] == len(res) and "reason" in df


def test_predict_on_transactions_matches_fit(fitted, shop):
    again = fitted.predict(shop.transactions, at=fitted.at_)
    assert np.array_equal(again.persona, fitted.predict().persona)
    np.testing.assert_allclose(again.scores, fitted.predict().scores)
    some = fitted.predict(customers=[shop.truth.customers[5], shop.truth.customers[2]])
    assert some.customers.tolist() == [shop.truth.customers[5], shop.truth.customers[2]]
    one = fitted.predict(customers=shop.truth.customers[3])
    assert one.persona.shape == (1,)
    with pytest.raises(UnknownIdError):
        fitted.predict(customers=["nobody"])


def test_assign_matches_batch(fitted, shop):
    tx = shop.transactions
    df = tx.to_pandas()
    batch = fitted.predict()
    for c in shop.truth.customers[:25]:
        lines = df[df["customer"] == c]
        hist = [{"order": o, "item": i, "quantity": q, "price": p, "time": t}
                for o, i, q, p, t in zip(lines["order"], lines["item"], lines["quantity"],
                                         lines["price"], lines["time"], strict=True)]
        a = fitted.assign(history=hist, at=fitted.at_)
        k = tx.customers.index(c)
        assert a.persona == batch.persona[k]
        np.testing.assert_allclose([a.scores[p] for p in PERSONAS], batch.scores[k], rtol=1e-5)
        assert a.reason == batch.reasons()[k]
    assert fitted.assign(history=None).persona == "new"
    assert fitted.assign(history=[]).reason == "new: no purchase history"


def test_no_history_is_new_in_batch(shop):
    tx = shop.transactions
    keep = tx.customers.ids[:50]
    sub = tx.filter(customers=keep)
    m = Personas().fit(sub, catalog=shop.catalog)
    res = m.predict()
    assert (res.persona[50:] == "new").all()
    assert (res.scores[50:, 0] == 1).all()


def test_without_catalog_still_assigns(shop):
    res = Personas().fit(shop.transactions).predict()
    f1 = macro_f1(confusion(shop.truth.persona, res.persona))
    assert f1 > 0.6          # no tiers or kinds: weaker, still far above chance (0.25)


def test_estimator_contract(shop):
    m = Personas(quantiles=(0.4, 0.95))
    assert m.get_params() == {"quantiles": (0.4, 0.95), "thresholds": None, "evidence": None,
                              "at": None}
    assert repr(m) == "Personas(quantiles=(0.4, 0.95))"
    with pytest.raises(NotFittedError, match="not fitted"):
        m.predict()
    with pytest.raises(NotFittedError):
        m.assign(history=None)
    assert m.fit(shop.transactions, catalog=shop.catalog) is m
    res = m.predict()
    with pytest.raises(ValueError):
        res.scores[0, 0] = 2.0
    with pytest.raises(TypeError):
        m.thresholds_["new"] = {}          # type: ignore[index]


def test_fixed_thresholds_and_evidence(shop):
    m = Personas(thresholds={"tenure_days": (30, 60)}).fit(shop.transactions,
                                                           catalog=shop.catalog)
    assert m.thresholds_["new"]["tenure_days"] == (30.0, 60.0)
    ev = {"new": {"tenure_days": -1}, "frequent": {"orders": 1},
          "price_sensitive": {"discount_share": 1}, "premium": {"aov": 1}}
    m2 = Personas(evidence=ev).fit(shop.transactions)
    assert set(m2.thresholds_["premium"]) == {"aov"}


@pytest.mark.parametrize("kwargs, match", [
    ({"quantiles": (0.9, 0.5)}, "`quantiles` must be two numbers"),
    ({"thresholds": {"nope": (1, 2)}}, "`thresholds` keys must be"),
    ({"thresholds": {"aov": (2, 1)}}, "low < high"),
    ({"evidence": {"new": {"orders": 1}}}, "`evidence` must map each"),
    ({"evidence": {"new": {"x": 1}, "frequent": {"orders": 1},
                   "price_sensitive": {"orders": 1}, "premium": {"orders": 1}}},
     "unknown feature 'x'"),
    ({"at": "whenever"}, "`at` must be a datetime"),
])
def test_parameter_errors(shop, kwargs, match):
    with pytest.raises(UpsellDataError, match=match):
        Personas(**kwargs).fit(shop.transactions)


def test_bad_inputs():
    with pytest.raises(UpsellDataError, match="`tx` must be Transactions"):
        Personas().fit([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(UpsellDataError, match="`customer` column"):
        Personas().fit(Transactions.from_arrays(order=[1], item=["a"], time=["2024-01-01"]))


def test_save_load_round_trip(fitted, shop, tmp_path):
    path = tmp_path / "personas.npz"
    fitted.save(path)
    back = Personas.load(path)
    assert back.get_params() == fitted.get_params()
    a, b = fitted.predict(), back.predict()
    assert np.array_equal(a.persona, b.persona) and np.array_equal(a.scores, b.scores)
    assert np.array_equal(a.reasons(), b.reasons())
    assert back.thresholds_ == fitted.thresholds_
    hist = {"item": [shop.catalog.items.ids[0]], "time": ["2024-12-01"]}
    assert back.assign(history=hist, at="2025-01-01") == fitted.assign(history=hist,
                                                                       at="2025-01-01")
    np.testing.assert_allclose(back.predict(shop.transactions).scores, a.scores)
    with pytest.raises(ModelFileError, match="not Personas"):
        from upsell.segments import Clusters

        Clusters(k=2).fit(shop.transactions).save(tmp_path / "c.npz")
        Personas.load(tmp_path / "c.npz")


@st.composite
def small_shops(draw):
    n = draw(st.integers(3, 40))
    cust = draw(st.lists(st.integers(0, 7), min_size=n, max_size=n))
    day = draw(st.lists(st.integers(0, 400), min_size=n, max_size=n))
    item = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=n, max_size=n))
    price = draw(st.lists(st.sampled_from([1.0, 2.0, 5.0, 9.0]), min_size=n, max_size=n))
    # one order per customer and day, so orders have one or more lines
    return {"order": [f"o{c}-{t // 3}" for c, t in zip(cust, day, strict=True)],
            "item": item, "customer": [f"c{c}" for c in cust], "price": price,
            "time": [np.datetime64("2023-01-01") + np.timedelta64(d, "D") for d in day]}


@settings(max_examples=30, deadline=None)
@given(small_shops(), st.randoms(use_true_random=False))
def test_property_one_persona_each_and_row_order(d, rnd):
    tx = Transactions.from_arrays(**d)
    res = Personas().fit(tx).predict()
    assert len(res) == len(tx.customers) and set(res.persona.tolist()) <= set(PERSONAS)
    assert np.isfinite(res.scores).all()
    assert (res.scores >= 0).all() and (res.scores <= 1).all()
    perm = list(range(len(d["order"])))
    rnd.shuffle(perm)
    tx2 = Transactions.from_arrays(**{k: [v[i] for i in perm] for k, v in d.items()})
    res2 = Personas().fit(tx2).predict()
    assert np.array_equal(res.persona, res2.persona)
    np.testing.assert_array_equal(res.scores, res2.scores)


def _assert_reasons_agree_with_labels(model: Personas, res) -> None:
    """Every named feature is evidence for the label: past its midpoint on the side
    the persona's weight says ("above" for +, "below" for -), and the text says so."""
    from upsell.segments import FEATURES

    reasons = res.reasons()
    for i, persona in enumerate(res.persona.tolist()):
        assert reasons[i].startswith(persona + ":")
        for code, value in zip(res.decisive[i].tolist(), res.decisive_values[i].tolist(),
                               strict=True):
            if code < 0:
                continue
            name = FEATURES[code]
            weight = model.evidence_[persona][name]
            lo, hi = model.thresholds_[persona][name]
            mid = (lo + hi) / 2
            assert (value - mid) * weight > 0, (persona, name, value, mid, reasons[i])
            side = "above" if weight > 0 else "below"
            assert f"{name} {_num(value)} ({side} " in reasons[i], reasons[i]
        if res.decisive[i, 0] < 0:
            assert "weak fit" in reasons[i] or "no purchase history" in reasons[i]
        score = float(res.scores[i, PERSONAS.index(persona)])
        history = "no purchase history" not in reasons[i]
        weak = history and (score < 0.5 or res.decisive[i, 0] < 0)
        assert ("weak fit" in reasons[i]) == weak, reasons[i]


@pytest.mark.parametrize("with_catalog", [True, False])
def test_reasons_never_contradict_labels_on_the_demo(shop, with_catalog):
    model = Personas().fit(shop.transactions, catalog=shop.catalog if with_catalog else None)
    _assert_reasons_agree_with_labels(model, model.predict())


@settings(max_examples=30, deadline=None)
@given(small_shops(), st.sampled_from([(0.5, 0.9), (0.2, 0.6), (0.0, 1.0)]))
def test_property_reasons_agree_with_labels(d, quantiles):
    tx = Transactions.from_arrays(**d)
    model = Personas(quantiles=quantiles).fit(tx)
    res = model.predict()
    _assert_reasons_agree_with_labels(model, res)
    # the one-customer path phrases the same reasons
    for c in res.customers[:3].tolist():
        lines = [i for i in range(len(d["customer"])) if d["customer"][i] == c]
        hist = {k: [d[k][i] for i in lines] for k in ("item", "order", "price", "time")}
        one = model.assign(history=hist, at=model.at_)
        assert one.persona == str(res.persona[res.customers == c][0])
        assert one.reason == str(res.reasons()[res.customers == c][0])


_TIES = [  # shops hypothesis found where the two paths disagreed in the last bit
    # c1's price_position sums to its threshold in one line order and not in the other
    {"order": ["o0-0"] * 10 + ["o1-0"] + ["o0-0"] * 20
     + ["o1-0", "o1-0", "o0-0", "o1-0", "o2-0", "o2-0", "o3-0", "o0-0"],
     "item": ["a"] * 10 + ["b", "a", "b"] + ["a"] * 9 + ["d", "a", "a", "d"] + ["a"] * 7
     + ["d", "a", "a", "b", "a", "c"],
     "customer": ["c0"] * 10 + ["c1"] + ["c0"] * 20
     + ["c1", "c1", "c0", "c1", "c2", "c2", "c3", "c0"],
     "price": [1.0] * 12 + [2.0] + [1.0] * 5 + [2.0] * 4 + [1.0] + [2.0] * 2 + [1.0]
     + [2.0] * 7 + [1.0] + [2.0] * 5,
     "time": ["2023-01-01"] * 39},
    # c1's score is 0.5 less a few ulps: a weak fit in float64, not in the results' float32
    {"order": ["o0-0"] * 25 + ["o1-0", "o0-1", "o2-0"], "item": ["a"] * 25 + ["b"] * 2 + ["a"],
     "customer": ["c0"] * 25 + ["c1", "c0", "c2"], "price": [1.0] * 26 + [2.0] + [1.0],
     "time": ["2023-01-01"] * 26 + ["2023-01-04", "2023-01-02"]},
]


@pytest.mark.parametrize("d", _TIES)
def test_both_paths_agree_at_ties(d):
    model = Personas(quantiles=(0.0, 1.0)).fit(Transactions.from_arrays(**d))
    res = model.predict()
    _assert_reasons_agree_with_labels(model, res)
    for c in res.customers.tolist():
        lines = [i for i in range(len(d["customer"])) if d["customer"][i] == c]
        one = model.assign(history={k: [d[k][i] for i in lines]
                                    for k in ("item", "order", "price", "time")}, at=model.at_)
        assert (one.persona, one.reason) == (str(res.persona[res.customers == c][0]),
                                             str(res.reasons()[res.customers == c][0]))


def test_estimator_to_pandas_and_plot_delegate(fitted):
    pytest.importorskip("pandas")
    df = fitted.to_pandas()
    assert df.shape[0] == len(fitted.customers_) and "reason" in df


def test_new_means_different_things_in_personas_and_rfm(shop):
    from upsell.segments import rfm

    personas = Personas().fit(shop.transactions, catalog=shop.catalog).predict()
    segments = rfm(shop.transactions)
    assert "new" not in set(segments.segment.tolist())
    assert int((segments.segment == "recent").sum()) < int((personas.persona == "new").sum())
