"""CLV: rfm_summary, the BG/NBD, Pareto/NBD and Gamma-Gamma models, CDNOW reference values."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell import Transactions
from upsell.datasets import load_cdnow
from upsell.exceptions import ConvergenceError, ModelFileError, NotFittedError, UpsellDataError
from upsell.kpi import (
    BetaGeo,
    GammaGamma,
    ParetoNBD,
    customer_lifetime_value,
    historic_clv,
    rfm_summary,
    simple_clv,
)
from upsell.kpi import _likelihood as clv_module

BG_PUB = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PNBD_PUB = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
GG_PUB = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@functools.lru_cache(maxsize=1)
def _cdnow_summary(path: str):
    return rfm_summary(load_cdnow(path), calibration_end="1997-09-30",
                       observation_end="1998-06-30")


@pytest.fixture
def cdnow(cdnow_sample_path: Path):
    return _cdnow_summary(str(cdnow_sample_path))


# ---------------------------------------------------------------------------- CDNOW
@pytest.mark.realdata
def test_cdnow_summary_matches_the_published_one(cdnow):
    assert len(cdnow) == 2357
    assert int((cdnow.frequency > 0).sum()) == 946
    i = int(np.flatnonzero(cdnow.customers == 4)[0])   # the first customer of the file
    assert (cdnow.frequency[i], round(cdnow.recency[i], 2), round(cdnow.T[i], 2)) == (2, 30.43, 38.86)
    assert cdnow.duration_holdout == pytest.approx(39.0)


@pytest.mark.realdata
def test_cdnow_bgnbd_reproduces_fader_hardie_lee(cdnow):
    m = BetaGeo().fit(cdnow)
    for k, v in BG_PUB.items():
        assert round(m.params_[k], 3) == v, k
    assert m.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    ex = m.expected_purchases([1, 3, 32, 78])
    np.testing.assert_allclose(ex, [0.0532, 0.1506, 1.0437, 1.8576], atol=5e-4)
    ce = m.conditional_expected_purchases(39, frequency=[2], recency=[30.43], T=[38.86])
    assert round(float(ce[0]), 3) == 1.226


@pytest.mark.realdata
def test_cdnow_pareto_nbd_reproduces_published(cdnow):
    m = ParetoNBD().fit(cdnow)
    for k, v in PNBD_PUB.items():
        assert round(m.params_[k], 3) == v, k
    assert m.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)


@pytest.mark.realdata
def test_cdnow_gamma_gamma_reproduces_fader_hardie_2013(cdnow):
    m = GammaGamma().fit(cdnow)
    assert m.n_customers_ == 946
    assert (round(m.params_["p"], 2), round(m.params_["q"], 2),
            round(m.params_["gamma"], 2)) == (6.25, 3.74, 15.44)


@pytest.mark.realdata
def test_cdnow_weights_give_the_same_fit(cdnow):
    a = BetaGeo().fit(cdnow)
    x, t, T = cdnow.frequency, cdnow.recency, cdnow.T
    b = BetaGeo().fit(frequency=np.r_[x, x[:10]], recency=np.r_[t, t[:10]], T=np.r_[T, T[:10]],
                      weights=np.r_[np.ones(x.size), np.zeros(10)])
    for k in a.params_:
        assert a.params_[k] == pytest.approx(b.params_[k], rel=1e-6)


@pytest.mark.realdata
def test_cdnow_sample_loads_as_the_published_data(cdnow_sample_path):
    tx = load_cdnow(cdnow_sample_path)
    assert tx.report.rows_read == tx.report.rows_kept == 6919                     # every line kept, the $0.00 ones too
    assert dict(tx.report.flagged)["price zero or negative"] == 8


@pytest.mark.realdata
def test_cdnow_master_loads_and_fits(cdnow_master_path):
    # no published figures for the master file: it loads, every model converges, and the
    # estimates sit near those of its 1/10 sample (which reproduce the papers)
    s = rfm_summary(load_cdnow(cdnow_master_path), calibration_end="1997-09-30")
    assert len(s) == 23_570
    assert 9_000 < int((s.frequency > 0).sum()) < 10_000
    for model, pub in ((BetaGeo(), BG_PUB), (ParetoNBD(), PNBD_PUB), (GammaGamma(), GG_PUB)):
        model.fit(s)
        assert np.isfinite(model.log_likelihood_)
        for k, v in pub.items():
            assert model.params_[k] == pytest.approx(v, rel=0.25), (type(model).__name__, k)


# ---------------------------------------------------------------------------- rfm_summary
def _small_tx() -> Transactions:
    return Transactions.from_arrays(
        order=[1, 2, 3, 4, 5, 6], item=["a"] * 6, customer=["x", "x", "x", "y", "y", "z"],
        price=[10.0, 4.0, 6.0, 3.0, 5.0, 1.0],
        time=["2020-01-01T09:00", "2020-01-08T10:00", "2020-01-08T18:00", "2020-01-03",
              "2020-02-10", "2020-02-01"])


def test_rfm_summary_by_hand():
    s = rfm_summary(_small_tx(), calibration_end="2020-01-29", observation_end="2020-02-26",
                    freq="D")
    # z's first purchase is after calibration_end: left out
    assert s.customers.tolist() == ["x", "y"]
    assert s.frequency.tolist() == [1, 0]          # x's two orders of Jan 8 merge into one day
    assert s.recency.tolist() == [7.0, 0.0]
    assert s.T.tolist() == [28.0, 26.0]
    assert s.monetary_value.tolist() == [10.0, 0.0]
    assert s.frequency_holdout is not None and s.frequency_holdout.tolist() == [0, 1]
    assert s.monetary_value_holdout is not None and s.monetary_value_holdout.tolist() == [0.0, 5.0]
    assert s.duration_holdout == 28.0
    df = s.to_pandas()
    assert list(df.index) == ["x", "y"] and "frequency_holdout" in df


def test_rfm_summary_rejects_bad_arguments():
    tx = _small_tx()
    with pytest.raises(UpsellDataError, match="observation_end"):
        rfm_summary(tx, calibration_end="2020-02-01", observation_end="2020-01-01")
    with pytest.raises(UpsellDataError, match="`freq`"):
        rfm_summary(tx, calibration_end="2020-02-01", freq="fortnight")
    with pytest.raises(UpsellDataError, match="calibration_end"):
        rfm_summary(tx, calibration_end="not a date")
    with pytest.raises(UpsellDataError, match="time"):
        rfm_summary(Transactions.from_arrays(order=[1], item=["a"], customer=["x"]),
                    calibration_end="2020-01-01")


def test_rfm_summary_is_row_order_invariant():
    tx = _small_tx()
    df = tx.to_pandas().sample(frac=1.0, random_state=3)
    tx2 = Transactions.from_pandas(df)
    a = rfm_summary(tx, calibration_end="2020-01-29")
    b = rfm_summary(tx2, calibration_end="2020-01-29")
    for f in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


# ---------------------------------------------------------------------------- models
@functools.lru_cache(maxsize=1)
def _sim():
    truth = BetaGeo.from_params(**BG_PUB)
    rng = np.random.default_rng(5)
    T = rng.integers(1, 274, 20_000) / 7.0
    d = truth.sample(T.size, T=T, random_state=6)
    d["recency"] = np.floor(d["recency"] * 7) / 7      # a daily grid, as real data have
    return d


def test_bgnbd_recovers_simulated_parameters():
    m = BetaGeo().fit(_sim())
    assert m.n_unique_ < m.n_customers_ / 2          # fitted over distinct rows
    for k, v in BG_PUB.items():
        assert m.params_[k] == pytest.approx(v, rel=0.25), k


def _gg_naive_negll(z, x, m):
    p, q, g = np.exp(z)
    from scipy.special import gammaln
    return -np.sum(gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
                   + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gamma_gamma_newton_matches_a_naive_maximisation(seed):
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    x = rng.integers(1, 8, 300).astype(float)
    nu = rng.gamma(3.0, 1 / 30.0, x.size)
    m = np.round(rng.gamma(5.0 * x, 1 / (nu * x)), 2)           # cents, so rows repeat
    m = np.r_[m, m[:50]]
    x = np.r_[x, x[:50]]
    gg = GammaGamma().fit(frequency=x, monetary_value=m)
    assert gg.n_unique_ < x.size and gg.n_iter_ < 20
    ref = minimize(_gg_naive_negll, np.log([2.0, 3.0, 30.0]), args=(x, m), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    for k, v in zip(("p", "q", "gamma"), np.exp(ref.x), strict=True):
        assert gg.params_[k] == pytest.approx(v, rel=1e-5), k
    assert gg.log_likelihood_ == pytest.approx(-ref.fun, rel=1e-10)


def test_bgnbd_hessian_matches_differences_of_the_gradient():
    d = _sim()
    g = clv_module._group_rows([d["frequency"].astype(float), d["recency"], d["T"]],
                               [True, False, False])
    rows = clv_module._Rows.build(g, 0.3)
    m, p = BetaGeo(), np.array([0.35, 1.3, 0.7, 2.1])
    _, _, h = m._loglik_grad_hess(p, rows)
    num = np.empty((4, 4))
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-6 * p[i]
        num[:, i] = (m._loglik_and_grad(p + e, rows, True)[1]
                     - m._loglik_and_grad(p - e, rows, True)[1]) / (2 * e[i])
    np.testing.assert_allclose(h, num, rtol=1e-6, atol=1e-6 * np.abs(h).max())


def test_gamma_gamma_falls_back_and_explains_divergence():
    # identical spends: no spread across customers, q and gamma run to infinity
    with pytest.raises(ConvergenceError, match="penalizer_coef"):
        GammaGamma().fit(frequency=[1, 2, 3, 4] * 5, monetary_value=[10.0] * 20)
    # a penalty keeps the fit finite
    gg = GammaGamma(penalizer_coef=0.01).fit(frequency=[1, 2, 3, 4] * 5,
                                              monetary_value=[10.0] * 20)
    assert all(np.isfinite(v) for v in gg.params_.values())


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 1 / 7, 2 / 7, 0.1, 0.3,
                                                                    0.1 + 0.2, 5e-324, 40.0]),
                               st.sampled_from([1.0, 3 / 7, 38.86, 38.86 + 1e-13])),
                     min_size=1, max_size=40),
       weighted=st.booleans(), small_keys=st.booleans())
def test_grouping_is_exact(data, weighted, small_keys):
    x, t, T = (np.array(c, dtype=np.float64) for c in zip(*data, strict=True))
    w = np.arange(1.0, x.size + 1) if weighted else None
    with pytest.MonkeyPatch.context() as mp:
        if small_keys:                                   # the lexsort path
            mp.setattr(clv_module, "_MAX_KEY", 1)
        g = clv_module._group_rows([x, t, T], [True, False, False], w)
    want: dict[tuple[float, float, float], float] = {}
    for i, row in enumerate(zip(x.tolist(), t.tolist(), T.tolist(), strict=True)):
        want[row] = want.get(row, 0.0) + (1.0 if w is None else float(w[i]))
    cols = [g.column(j).tolist() for j in range(3)]
    got = dict(zip(zip(*cols, strict=True), g.w.tolist(), strict=True))
    assert got == want and len(cols[0]) == len(want)


def test_probability_of_purchases_sums_to_one_and_matches_the_mean():
    for m in (BetaGeo.from_params(**BG_PUB), ParetoNBD.from_params(**PNBD_PUB)):
        n = np.arange(400)
        p = m.probability_of_purchases(n, 39.0)
        assert p.sum() == pytest.approx(1.0, abs=1e-8)
        assert (p * n).sum() == pytest.approx(float(m.expected_purchases(39.0)), rel=1e-6)


def test_pareto_conditional_expectation_by_hand():
    m = ParetoNBD.from_params(r=1.0, alpha=1.0, s=2.0, beta=1.0)
    # x = 0, T = 1: E[Y(t)] = (r/(alpha+T)) (beta+T)/(s-1) (1 - ((beta+T)/(beta+T+t))^(s-1)) P(alive)
    pa = float(m.probability_alive(frequency=[0], recency=[0], T=[1.0])[0])
    e = float(m.conditional_expected_purchases(2.0, frequency=[0], recency=[0], T=[1.0])[0])
    assert e == pytest.approx(0.5 * 2.0 * (1 - 2.0 / 4.0) * pa)


def test_not_fitted_and_params():
    m = BetaGeo(penalizer_coef=0.1)
    assert m.get_params() == {"penalizer_coef": 0.1, "max_iter": 2000}
    assert "BetaGeo(penalizer_coef=0.1" in repr(m)
    with pytest.raises(NotFittedError):
        m.expected_purchases(1.0)
    with pytest.raises(NotFittedError):
        GammaGamma().expected_spend(frequency=[1], monetary_value=[2.0])


def test_invalid_summaries_are_named():
    with pytest.raises(UpsellDataError, match="`recency` must be in \\[0, T\\]; position 1"):
        BetaGeo().fit(frequency=[1, 1], recency=[1.0, 5.0], T=[2.0, 4.0])
    with pytest.raises(UpsellDataError, match="`frequency` must be a whole number"):
        BetaGeo().fit(frequency=[1.5], recency=[1.0], T=[2.0])
    with pytest.raises(UpsellDataError, match="`penalizer_coef`"):
        BetaGeo(penalizer_coef=-1).fit(_sim())


def test_convergence_error_with_advice():
    # nobody repeats: the likelihood has no interior maximum
    with pytest.raises(ConvergenceError, match="repeat"):
        BetaGeo().fit(frequency=[0, 0, 0], recency=[0, 0, 0], T=[5.0, 6.0, 7.0])
    # everyone repeats at the end of an equal window: parameters diverge
    with pytest.raises(ConvergenceError, match="penalizer_coef"):
        BetaGeo(max_iter=50).fit(frequency=[3, 3, 3, 3], recency=[10.0] * 4, T=[10.0] * 4)


def test_save_load_round_trip(tmp_path):
    m = BetaGeo().fit(_sim())
    p = tmp_path / "bg.npz"
    m.save(p)
    m2 = BetaGeo.load(p)
    assert m2.params_ == m.params_ and m2.log_likelihood_ == m.log_likelihood_
    with pytest.raises(ModelFileError, match="BetaGeo"):
        ParetoNBD.load(p)
    gg = GammaGamma.from_params(**GG_PUB)
    gg.save(tmp_path / "gg.npz")
    assert GammaGamma.load(tmp_path / "gg.npz").params_ == gg.params_


@settings(max_examples=40, deadline=None)
@given(x=st.integers(0, 40), frac=st.floats(0, 1), T=st.floats(0.1, 200),
       which=st.sampled_from(["bg", "pnbd"]))
def test_probability_alive_in_unit_interval(x, frac, T, which):
    m = (BetaGeo.from_params(**BG_PUB) if which == "bg" else ParetoNBD.from_params(**PNBD_PUB))
    t_x = frac * T if x > 0 else 0.0
    p = m.probability_alive(frequency=[x], recency=[t_x], T=[T])
    assert 0.0 <= p[0] <= 1.0


@settings(max_examples=30, deadline=None)
@given(ts=st.lists(st.floats(0, 500), min_size=2, max_size=10),
       which=st.sampled_from(["bg", "pnbd"]), x=st.integers(0, 10))
def test_expected_purchases_non_decreasing_in_t(ts, which, x):
    m = (BetaGeo.from_params(**BG_PUB) if which == "bg" else ParetoNBD.from_params(**PNBD_PUB))
    t = np.sort(np.asarray(ts))
    e = m.expected_purchases(t)
    assert np.all(np.diff(e) >= -1e-12)
    ce = np.array([m.conditional_expected_purchases(tt, frequency=[x], recency=[min(x, 1) * 20.0],
                                                    T=[30.0])[0] for tt in t])
    assert np.all(np.diff(ce) >= -1e-12)


# ---------------------------------------------------------------------------- value
def test_gamma_gamma_expected_spend_by_hand():
    gg = GammaGamma.from_params(**GG_PUB)
    e = gg.expected_spend(frequency=[0, 3], monetary_value=[0.0, 20.0])
    assert e[0] == pytest.approx(6.25 * 15.44 / 2.74)
    assert e[1] == pytest.approx(6.25 * (15.44 + 60.0) / (18.75 + 2.74))


def test_customer_lifetime_value_discounting():
    bg = BetaGeo.from_params(**BG_PUB)
    kw = {"frequency": [2, 0], "recency": [30.43, 0.0], "T": [38.86, 38.86]}
    undiscounted = customer_lifetime_value(bg, spend=[10.0, 10.0], horizon=39, step=13, **kw)
    direct = 10.0 * bg.conditional_expected_purchases(39, **kw)
    np.testing.assert_allclose(undiscounted, direct)
    discounted = customer_lifetime_value(bg, spend=10.0, horizon=39, step=13,
                                         discount_rate=0.05, **kw)
    assert np.all(discounted < undiscounted)
    gg = GammaGamma.from_params(**GG_PUB)
    v = gg.customer_lifetime_value(bg, horizon=39, step=13, margin=0.5,
                                   monetary_value=[40.0, 0.0], **kw)
    np.testing.assert_allclose(
        v, 0.5 * gg.expected_spend(frequency=[2, 0], monetary_value=[40.0, 0.0]) * direct / 10.0)


def test_historic_and_simple_clv():
    tx = _small_tx()
    h = historic_clv(tx, margin=0.5)
    assert h.customers.tolist() == ["x", "y", "z"]
    assert h.orders.tolist() == [3, 2, 1]
    assert h.revenue.tolist() == [20.0, 8.0, 1.0]
    assert h.value.tolist() == [10.0, 4.0, 0.5]
    assert historic_clv(tx, end="2020-01-05").revenue.tolist() == [10.0, 3.0, 0.0]
    assert float(simple_clv(atv=100, frequency=2, margin=0.25, lifetime=4)) == 200.0
    v = float(simple_clv(atv=100, frequency=2, margin=0.25, lifetime=2, discount_rate=0.1))
    assert v == pytest.approx(50 / 1.1 + 50 / 1.21)
    with pytest.raises(UpsellDataError, match="`margin`"):
        simple_clv(atv=1, frequency=1, margin=2, lifetime=1)


def test_bgnbd_conditional_expectation_is_finite_for_heavy_buyers():
    """Eq. 10 as written overflows to NaN for x in the hundreds; the Euler-transformed
    form used agrees with it wherever it is finite."""
    from scipy import special

    bg = BetaGeo.from_params(r=1.1, alpha=13.4, a=0.029, b=0.51)
    rng = np.random.default_rng(0)
    x = np.r_[rng.integers(0, 60, 300), [300, 1500, 2000]].astype(float)
    T = np.r_[rng.uniform(1, 100, 300), [100.0, 100.0, 100.0]]
    t_x = np.where(x > 0, np.r_[rng.uniform(0, 1, 300), [1.0, 0.99, 0.999]] * T, 0.0)
    r, alpha, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    broke = False
    for t in (1.0, 13.0, 52.0):
        got = bg.conditional_expected_purchases(t, frequency=x, recency=t_x, T=T)
        assert np.all(np.isfinite(got)) and np.all(got >= 0)
        with np.errstate(all="ignore"):
            h = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
            naive = ((a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * h)
                     * bg.probability_alive(frequency=x, recency=t_x, T=T))
        ok = np.isfinite(naive)
        broke |= not ok.all()
        np.testing.assert_allclose(got[ok], naive[ok], rtol=1e-9, atol=1e-12)
    assert broke            # the naive form does break on these customers


def test_times_are_read_by_the_shared_parser():
    tx = _small_tx()
    base = rfm_summary(tx, calibration_end="2020-01-29")
    import datetime as dt

    for v in ("2020-01-29T18:00:00Z", dt.date(2020, 1, 29), np.datetime64("2020-01-29T10:00"),
              "20200129"):
        assert rfm_summary(tx, calibration_end=v).T.tolist() == base.T.tolist()
    for bad in ("soon", True, None, float("nan")):
        with pytest.raises(UpsellDataError, match="`calibration_end` must be a datetime"):
            rfm_summary(tx, calibration_end=bad)
    with pytest.raises(UpsellDataError, match="`end` must be a datetime"):
        historic_clv(tx, end="later")


def test_not_transactions_is_a_type_error():
    from upsell.exceptions import UpsellTypeError
    from upsell.kpi import clv_forecast

    with pytest.raises(UpsellTypeError, match="`tx` must be Transactions; got dict"):
        rfm_summary({}, calibration_end="2020-01-01")
    with pytest.raises(UpsellTypeError, match="`tx` must be Transactions; got NoneType"):
        historic_clv(None)
    with pytest.raises(UpsellTypeError, match="`transactions` must be Transactions"):
        clv_forecast([])


def test_split_modules_keep_every_name_importable():
    """clv.py was split one file per fitter; the old import paths still work."""
    from upsell.kpi import bgnbd, clv, gammagamma, paretonbd, rfm

    for name in clv.__all__:
        assert getattr(clv, name) is getattr(__import__("upsell.kpi", fromlist=[name]), name)
    assert clv.BetaGeo is bgnbd.BetaGeo and clv.ParetoNBD is paretonbd.ParetoNBD
    assert clv.GammaGamma is gammagamma.GammaGamma and clv.rfm_summary is rfm.rfm_summary
    assert clv.FREQ_DAYS is rfm.FREQ_DAYS


def test_result_frames_keep_their_columns():
    pytest.importorskip("pandas")
    tx = _small_tx()
    s = rfm_summary(tx, calibration_end="2020-01-29", observation_end="2020-02-26")
    assert s.to_pandas().columns.tolist() == [
        "frequency", "recency", "T", "monetary_value", "frequency_holdout",
        "monetary_value_holdout", "duration_holdout"]
    assert s.to_pandas().index.name == "customer"
    h = historic_clv(tx)
    df = h.to_pandas()
    assert df.columns.tolist() == ["orders", "revenue", "value"] and df.index.name == "customer"
    assert "<b>CLVTable</b>" in h._repr_html_() and "<th>customer</th>" in h._repr_html_()


def test_clv_model_load_takes_verify_like_every_model_load(tmp_path):
    from upsell.kpi import BetaGeo

    m = BetaGeo.from_params(r=0.24, alpha=4.4, a=0.79, b=2.4)
    path = tmp_path / "bg.npz"
    m.save(path)
    for verify in (True, False):
        assert BetaGeo.load(path, verify=verify).params_ == m.params_
