"""Tests of the simulated offer loop (upsell.recommend.simulate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from upsell.datasets import Shop, make_shop
from upsell.exceptions import UpsellDataError
from upsell.recommend import OfferLog, Recommender, Simulation, simulate


@pytest.fixture(scope="module")
def shop() -> Shop:
    return make_shop(n_customers=150, n_items=60, n_orders=600, random_state=2)


@dataclass(frozen=True)
class _Offer:
    item: str
    kind: str = "cross_sell"
    channel: str = "web"
    sources: tuple[str, ...] = ("stub",)


class RandomItems:
    """Offers k items drawn at random (seeded per call from the customer and time)."""

    def __init__(self, items: np.ndarray) -> None:
        self.items = items
        self.updates = 0
        self.seen = 0

    def recommend(self, customer: Any = None, *, k: int = 5, at: Any = None,
                  channel: str = "web") -> list[_Offer]:
        seed = abs(hash((str(customer), str(at)))) % 2**32
        pick = np.random.default_rng(seed).choice(self.items.size, size=k, replace=False)
        return [_Offer(str(self.items[i])) for i in pick]

    def update(self, log: Any) -> None:
        self.updates += 1
        self.seen = len(log)


class Oracle:
    """Shows each customer the k items of the highest true P(accept) x price."""

    def __init__(self, shop: Shop) -> None:
        self.rm = shop.response
        stock = shop.catalog.stock
        self.value = np.where((np.isnan(stock) | (stock > 0)), self.rm.price, 0.0)

    def recommend(self, customer: Any = None, *, k: int = 5, at: Any = None,
                  channel: str = "web") -> list[_Offer]:
        ev = self.rm.probability_matrix([customer])[0] * self.value
        best = np.argsort(-ev, kind="stable")[:k]
        ids = self.rm.items.ids
        return [_Offer(str(ids[i]), "upsell" if self.rm.probability(
            customer, ids[i], "upsell") > self.rm.probability(customer, ids[i]) else
            "cross_sell") for i in best]


def test_deterministic_with_a_seed(shop: Shop) -> None:
    rec = RandomItems(shop.catalog.items.ids)
    a = simulate(shop, rec, visits=300, update_every=100, k=3, random_state=7)
    b = simulate(shop, rec, visits=300, update_every=100, k=3, random_state=7)
    c = simulate(shop, rec, visits=300, update_every=100, k=3, random_state=8)
    for f in ("visit_customer", "visit_time", "visit_revenue", "visit_expected", "regret"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert not np.array_equal(a.visit_customer, c.visit_customer)


def test_oracle_bounds_every_policy_in_expectation(shop: Shop) -> None:
    sim = simulate(shop, RandomItems(shop.catalog.items.ids), visits=300, update_every=100,
                   k=4, random_state=1)
    assert np.all(sim.visit_oracle >= sim.visit_expected - 1e-12)
    assert np.all(np.diff(np.r_[0.0, sim.regret]) >= 0)
    best = simulate(shop, Oracle(shop), visits=300, update_every=100, k=4, random_state=1)
    assert np.allclose(best.visit_expected, best.visit_oracle)
    assert abs(float(best.regret[-1])) < 1e-6
    assert best.revenue_per_visit(expected=True) > sim.revenue_per_visit(expected=True)


def test_log_counts_match_the_outcomes(shop: Shop) -> None:
    log = OfferLog.in_memory()
    sim = simulate(shop, RandomItems(shop.catalog.items.ids), visits=250, update_every=100,
                   k=3, offer_log=log, random_state=4)
    assert sim.offer_log is log
    events = [e.event for e in log.events()]
    assert events.count("presented") == int(sim.offers.sum()) == 250 * 3
    acc = events.count("accepted")
    assert acc + events.count("declined") == 250 * 3
    assert acc == round(float(np.sum(sim.acceptance * sim.offers)))
    revenue = sum(e.revenue for e in log.events() if e.event == "accepted")
    assert revenue == pytest.approx(float(sim.visit_revenue.sum()))
    assert np.allclose(sim.revenue * np.diff(np.r_[0, sim.window_end]),
                       np.add.reduceat(sim.visit_revenue, np.r_[0, sim.window_end[:-1]]))
    quiet = simulate(shop, RandomItems(shop.catalog.items.ids), visits=50, update_every=50,
                     k=3, random_state=4, log_declines=False)
    assert {e.event for e in quiet.offer_log.events()} <= {"presented", "accepted"}


def test_update_runs_between_windows_with_the_log(shop: Shop) -> None:
    rec = RandomItems(shop.catalog.items.ids)
    sim = simulate(shop, rec, visits=250, update_every=100, k=2, random_state=0)
    assert len(sim) == 3 and sim.window_end.tolist() == [100, 200, 250]
    assert rec.updates == sim.updates == 2
    assert rec.seen > 0


def test_visits_come_after_the_history_in_order(shop: Shop) -> None:
    sim = simulate(shop, RandomItems(shop.catalog.items.ids), visits=100, update_every=50,
                   k=1, days=10)
    end = shop.transactions.time.max()
    assert sim.visit_time.min() > end
    assert sim.visit_time.max() <= end + np.timedelta64(11, "D")
    assert np.all(np.diff(sim.visit_time.astype(np.int64)) >= 0)
    assert set(sim.visit_customer.tolist()) <= set(shop.transactions.customers.ids.tolist())


def test_a_real_recommender_and_the_result_views(shop: Shop) -> None:
    rec = Recommender(catalog=shop.catalog, history=shop.transactions)
    sim = simulate(shop, rec, visits=120, update_every=60, k=3, random_state=5)
    assert isinstance(sim, Simulation) and sim.visits == 120
    df = sim.to_pandas()
    assert df.columns.tolist() == ["visits", "revenue_per_visit", "expected_per_visit",
                                   "oracle_per_visit", "acceptance", "offers",
                                   "cumulative_regret"]
    assert len(df) == 2 and "visits" in repr(sim)
    assert "<b>Simulation</b>" in sim._repr_html_()
    pytest.importorskip("matplotlib")
    ax = sim.plot()
    assert ax.get_xlabel() == "visits"


def test_bad_arguments_are_refused(shop: Shop) -> None:
    rec = RandomItems(shop.catalog.items.ids)
    with pytest.raises(UpsellDataError, match="`visits`"):
        simulate(shop, rec, visits=0)
    with pytest.raises(UpsellDataError, match="`update_every`"):
        simulate(shop, rec, visits=10, update_every=0)
    with pytest.raises(UpsellDataError, match="`recommender` must have recommend"):
        simulate(shop, object(), visits=10)
    with pytest.raises(UpsellDataError, match="`shop` must be a synthetic shop"):
        simulate(object(), rec, visits=10)
    with pytest.raises(UpsellDataError, match="`log_declines`"):
        simulate(shop, rec, visits=10, log_declines="yes")

    class Stranger:
        def recommend(self, customer: Any = None, **kw: Any) -> list[_Offer]:
            return [_Offer("not-an-item")]

    with pytest.raises(UpsellDataError, match="'not-an-item', which the shop's catalog"):
        simulate(shop, Stranger(), visits=10)
