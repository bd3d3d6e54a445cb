"""Close the offer loop on a synthetic shop: visits, offers, true outcomes, learning, regret.

:func:`simulate` sends simulated visits of a :func:`~upsell.datasets.make_shop`
shop's customers to a recommender, draws whether each offer is accepted from the
shop's ground truth (:attr:`Shop.response <upsell.datasets.Shop.response>`), writes
every presentation and outcome to an :class:`~upsell.recommend.OfferLog`, lets the
recommender learn from the log every ``update_every`` visits and scores it against
the oracle that knows the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._validation import check_float, check_int
from upsell.exceptions import UpsellDataError
from upsell.recommend.offerlog import OfferLog

__all__ = ["Simulation", "simulate"]

_FOLLOW_UP_SECONDS = 60.0  # an outcome is logged a minute after the offer was shown


@dataclass(frozen=True, slots=True, repr=False)
class Simulation(TableResult):
    """What a simulated offer loop earned, window by window, against the oracle.

    One table row per window of ``update_every`` visits (the recommender learnt
    from the log after each). Per-visit arrays hold every visit.

    Attributes
    ----------
    window_end : ndarray of int64
        Visits done at the end of each window.
    revenue : ndarray of float64
        Realised revenue per visit in each window (accepted offers at list price).
    expected_revenue : ndarray of float64
        The policy's expected revenue per visit: the sum over the offers shown of
        true P(accept) x price, averaged over the window's visits (less noisy
        than ``revenue``).
    oracle_revenue : ndarray of float64
        Expected revenue per visit of the oracle, which shows each visitor the
        ``k`` in-stock items with the highest true P(accept) x price.
    acceptance : ndarray of float64
        Accepted offers / offers shown, per window.
    offers : ndarray of int64
        Offers shown per window.
    regret : ndarray of float64
        Cumulative expected regret at each window end: the sum over visits so far
        of oracle minus policy expected revenue.
    visit_customer : ndarray
        The customer of each visit.
    visit_time : ndarray of datetime64[s]
    visit_revenue, visit_expected, visit_oracle : ndarray of float64
        Per visit: realised revenue, the policy's and the oracle's expected revenue.
    offer_log : OfferLog
        Every presentation and outcome.
    k, update_every, updates, random_state : int
        List length, window size, ``update`` calls made, seed.
    policy : str
        The recommender's ``policy_`` at the end ("" when it has none).

    Examples
    --------
    See :func:`simulate`.
    """

    window_end: np.ndarray
    revenue: np.ndarray
    expected_revenue: np.ndarray
    oracle_revenue: np.ndarray
    acceptance: np.ndarray
    offers: np.ndarray
    regret: np.ndarray
    visit_customer: np.ndarray
    visit_time: np.ndarray
    visit_revenue: np.ndarray
    visit_expected: np.ndarray
    visit_oracle: np.ndarray
    offer_log: Any
    k: int
    update_every: int
    updates: int
    random_state: int
    policy: str = ""

    _title = "Simulation"
    _plot_function = "upsell.recommend.plots:plot_regret"

    def __len__(self) -> int:
        return int(self.window_end.size)

    @property
    def visits(self) -> int:
        """Visits simulated."""
        return int(self.visit_expected.size)

    def revenue_per_visit(self, last: int | None = None, *, expected: bool = False) -> float:
        """Mean revenue per visit, over the ``last`` visits (default all).

        ``expected=True`` averages the policy's expected revenue (true P(accept) x
        price of the offers shown) instead of the realised one.

        Examples
        --------
        See :func:`simulate`.
        """
        v = self.visit_expected if expected else self.visit_revenue
        if last is not None:
            last = check_int(last, "last", minimum=1)
            v = v[-last:]
        return float(v.mean()) if v.size else float("nan")

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        sel = slice(None) if rows is None else slice(rows.start, rows.stop)
        return {"visits": self.window_end[sel], "revenue_per_visit": self.revenue[sel],
                "expected_per_visit": self.expected_revenue[sel],
                "oracle_per_visit": self.oracle_revenue[sel],
                "acceptance": self.acceptance[sel], "offers": self.offers[sel],
                "cumulative_regret": self.regret[sel]}

    def _summary(self) -> str:
        last = min(self.visits, max(self.update_every, self.visits // 5))
        return (f"{self.visits:,} visits, k={self.k}, {self.updates:,} updates: revenue per "
                f"visit {self.revenue_per_visit(last):.3f} over the last {last:,} (expected "
                f"{self.revenue_per_visit(last, expected=True):.3f}, oracle "
                f"{float(self.visit_oracle[-last:].mean()):.3f}); regret "
                f"{float(self.regret[-1]) if self.regret.size else 0.0:,.1f}")

    def __repr__(self) -> str:
        return f"Simulation({self._summary()})"


def _visit_weights(tx: Any, n_customers: int) -> np.ndarray:
    """Each customer's share of visits: their orders in the history (at least one)."""
    cust = np.asarray(tx.customer)
    order = np.asarray(tx.order)
    known = cust >= 0
    if not known.any():
        return np.full(n_customers, 1.0 / n_customers)
    width = int(order.max(initial=0)) + 1
    pairs = np.unique(cust[known].astype(np.int64) * width + order[known])
    w = np.bincount(pairs // width, minlength=n_customers).astype(np.float64)
    w = np.maximum(w, 1.0)
    return w / w.sum()


class _Oracle:
    """Expected revenue of the best ``k`` in-stock items per customer (cached, exact)."""

    def __init__(self, response: Any, catalog: Any, k: int) -> None:
        self.response = response
        price = np.asarray(response.price, dtype=np.float64)
        stock = np.asarray(catalog.stock, dtype=np.float64)
        self.value = np.where(np.isfinite(price) & (price > 0)
                              & (np.isnan(stock) | (stock > 0)), price, 0.0)
        self.k = k
        self.cache = np.full(len(response.customers), np.nan)

    def __call__(self, codes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        todo = np.unique(codes[np.isnan(self.cache[codes])])
        if todo.size:
            ev = self.response.probability_matrix(ids[todo]) * self.value[None, :]
            k = min(self.k, ev.shape[1])
            top = -np.partition(-ev, k - 1, axis=1)[:, :k]
            self.cache[todo] = top.sum(axis=1)
        return self.cache[codes]


def _check(shop: Any, recommender: Any, visits: Any, update_every: Any, k: Any,
           offer_log: Any, random_state: Any, days: Any) -> tuple[int, int, int, int, float]:
    for attr in ("response", "transactions", "catalog"):
        if not hasattr(type(shop), attr) and not hasattr(shop, attr):
            raise UpsellDataError(f"`shop` must be a synthetic shop from "
                                  f"upsell.datasets.make_shop (with `{attr}`); got "
                                  f"{type(shop).__name__}")
    if not callable(getattr(recommender, "recommend", None)):
        raise UpsellDataError(f"`recommender` must have recommend(customer=, k=, at=); got "
                              f"{type(recommender).__name__}")
    if offer_log is not None and not callable(getattr(offer_log, "presented", None)):
        raise UpsellDataError(f"`offer_log` must be an OfferLog; got {type(offer_log).__name__}")
    return (check_int(visits, "visits", minimum=1),
            check_int(update_every, "update_every", minimum=1), check_int(k, "k", minimum=1),
            check_int(random_state, "random_state", minimum=0),
            check_float(days, "days", low=0, high=36_500))


def simulate(shop: Any, recommender: Any, *, visits: int = 50_000, update_every: int = 1_000,
             k: int = 5, offer_log: OfferLog | None = None, random_state: int = 0,
             days: float = 90.0, channel: str = "web", log_declines: bool = True
             ) -> Simulation:
    """Run the closed offer loop on a synthetic shop and score it against the oracle.

    Parameters
    ----------
    shop : Shop
        From :func:`upsell.datasets.make_shop`; its :attr:`~upsell.datasets.Shop.response`
        is the ground truth.
    recommender : Recommender or object
        Anything with ``recommend(customer=, k=, at=, channel=)`` returning offers
        (objects with ``item`` and ``kind``); with ``update(offer_log)`` it learns
        from the log every ``update_every`` visits.
    visits : int, default 50,000
    update_every : int, default 1,000
        Visits per window; the recommender's ``update`` runs after each.
    k : int, default 5
        Offers asked per visit.
    offer_log : OfferLog, optional
        Where presentations and outcomes go; default a new in-memory log.
    random_state : int, default 0
        Seeds the visits and the outcomes: the same arguments and recommender
        give the same simulation.
    days : float, default 90
        The visits are spread evenly at random over this many days after the
        last order of the history.
    channel : str, default "web"
    log_declines : bool, default True
        Log ``declined`` for every offer not accepted (as a shop with a "no
        thanks" button would); False logs acceptances only, as most web shops see.

    Returns
    -------
    Simulation

    Raises
    ------
    UpsellDataError
        Arguments out of range, a shop without ground truth, a recommender
        without ``recommend``, offers of items the catalog does not hold.

    Notes
    -----
    A visit is one request from one customer, drawn with probability
    proportional to the customer's orders in the history (frequent shoppers
    visit more), at a time after the history's end. Each offer shown is
    accepted independently with the customer's true probability
    (:meth:`ResponseModel.probability <upsell.datasets.ResponseModel.probability>`,
    with the offer's kind); an accepted offer earns the item's list price,
    logged as its revenue. Position effects and basket context are not
    simulated, and what customers accept does not enter their history.

    The oracle shows each visitor the ``k`` in-stock items of the highest true
    P(accept) x price; its expected revenue per visit bounds every policy's in
    expectation. Regret compares expectations (the sum of true P(accept) x
    price of what was shown), so it is not blurred by the outcome draws.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> from upsell.recommend import Recommender, simulate
    >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
    >>> rec = Recommender(catalog=shop.catalog, history=shop.transactions)
    >>> sim = simulate(shop, rec, visits=200, update_every=100, k=3, random_state=1)
    >>> len(sim), sim.visits, bool(sim.oracle_revenue.min() >= sim.expected_revenue.max())
    (2, 200, True)
    >>> sim.to_pandas().columns.tolist()[:3]
    ['visits', 'revenue_per_visit', 'expected_per_visit']
    """
    visits, update_every, k, seed, days = _check(shop, recommender, visits, update_every, k,
                                                 offer_log, random_state, days)
    if not isinstance(log_declines, (bool, np.bool_)):
        raise UpsellDataError(f"`log_declines` must be True or False; got {log_declines!r}")
    log = OfferLog.in_memory() if offer_log is None else offer_log
    response = shop.response
    tx, catalog = shop.transactions, shop.catalog
    cust_ids = np.asarray(response.customers.ids)
    item_pos = {str(x): i for i, x in enumerate(np.asarray(response.items.ids).tolist())}
    # an unknown price earns nothing: realised and expected revenue count it alike
    price = np.nan_to_num(np.asarray(response.price, dtype=np.float64))
    oracle = _Oracle(response, catalog, k)

    rng = np.random.default_rng(seed)
    codes = rng.choice(cust_ids.size, size=visits, p=_visit_weights(tx, cust_ids.size))
    start = np.asarray(tx.time).max().astype("datetime64[s]") + np.timedelta64(3600, "s")
    offsets = np.sort(rng.random(visits)) * days * 86_400.0
    times = start + offsets.astype(np.int64).astype("timedelta64[s]")
    draws = rng.random((visits, k))

    v_rev = np.zeros(visits)
    v_exp = np.zeros(visits)
    v_orc = np.zeros(visits)
    n_win = -(-visits // update_every)
    w_end = np.zeros(n_win, dtype=np.int64)
    w_acc = np.zeros(n_win)
    w_off = np.zeros(n_win, dtype=np.int64)
    can_learn = callable(getattr(recommender, "update", None))
    updates = 0
    for w in range(n_win):
        lo, hi = w * update_every, min((w + 1) * update_every, visits)
        shown = _serve_window(recommender, log, cust_ids, codes, times, lo, hi, k, channel,
                              item_pos)
        vis, slot, items, kinds, oids = shown
        if items.size:
            p = response.probability(cust_ids[codes[vis]], response.items.ids[items], kinds)
            took = draws[vis, slot] < p
            earned = np.where(took, price[items], 0.0)
            np.add.at(v_rev, vis, earned)
            np.add.at(v_exp, vis, p * price[items])
            _log_outcomes(log, oids, took, price[items], times[vis], log_declines)
            w_acc[w] = float(took.mean())
        v_orc[lo:hi] = oracle(codes[lo:hi], cust_ids)
        w_end[w], w_off[w] = hi, items.size
        if can_learn and hi < visits:
            recommender.update(log)
            updates += 1

    bounds = np.r_[0, w_end]
    sizes = np.diff(bounds).astype(np.float64)

    def per_window(v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(v, bounds[:-1]) / sizes

    regret = np.cumsum(v_orc - v_exp)[w_end - 1]
    pol = getattr(recommender, "policy_", "")
    return Simulation(
        window_end=w_end, revenue=per_window(v_rev), expected_revenue=per_window(v_exp),
        oracle_revenue=per_window(v_orc), acceptance=w_acc, offers=w_off, regret=regret,
        visit_customer=cust_ids[codes], visit_time=times, visit_revenue=v_rev,
        visit_expected=v_exp, visit_oracle=v_orc, offer_log=log, k=k,
        update_every=update_every, updates=updates, random_state=seed,
        policy=pol if isinstance(pol, str) else "")


def _serve_window(recommender: Any, log: Any, cust_ids: np.ndarray, codes: np.ndarray,
                  times: np.ndarray, lo: int, hi: int, k: int, channel: str,
                  item_pos: dict[str, int]) -> tuple[np.ndarray, ...]:
    """Ask for and log the offers of visits ``lo:hi``; (visit, slot, item, kind, offer id)."""
    vis: list[int] = []
    slot: list[int] = []
    items: list[int] = []
    kinds: list[str] = []
    oids: list[str] = []
    for v in range(lo, hi):
        cid = cust_ids[codes[v]].item()
        at = times[v]
        offers = list(recommender.recommend(customer=cid, k=k, at=at, channel=channel))[:k]
        if not offers:
            continue
        ids = log.presented(offers, customer=cid, time=at)
        for j, o in enumerate(offers):
            pos = item_pos.get(str(o.item))
            if pos is None:
                raise UpsellDataError(f"the recommender offered item {o.item!r}, which the "
                                      f"shop's catalog does not hold")
            vis.append(v)
            slot.append(j)
            items.append(pos)
            kinds.append(str(getattr(o, "kind", "cross_sell")))
        oids.extend(ids)
    return (np.asarray(vis, dtype=np.int64), np.asarray(slot, dtype=np.int64),
            np.asarray(items, dtype=np.int64), np.asarray(kinds, dtype=str),
            np.asarray(oids, dtype=object))


def _log_outcomes(log: Any, oids: np.ndarray, took: np.ndarray, price: np.ndarray,
                  when: np.ndarray, declines: bool) -> None:
    """Accepted offers with their revenue (list price); declines when asked."""
    t = (when.astype("datetime64[s]").astype(np.int64) + _FOLLOW_UP_SECONDS).tolist()
    for oid, ok, pr, ts in zip(oids.tolist(), took.tolist(), price.tolist(), t, strict=True):
        if ok:
            log.accepted(oid, revenue=pr if pr == pr else None, time=ts)
        elif declines:
            log.declined(oid, time=ts)
