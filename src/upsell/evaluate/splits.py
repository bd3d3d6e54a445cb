"""Train/test splits of order history that never leak a test order into train.

Every split keeps the id indexes of its input (``Transactions.filter`` keeps
them), so the train matrices, the test matrices and the relevance matrix of a
split share rows (customers or orders) and columns (items) with the input.
An order is never cut in two: it goes to train or test as a whole (the query
part of a basket-completion request belongs to neither; see
:func:`random_basket_split`).
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._display import TableResult
from upsell._lookup import find_sorted
from upsell._validation import as_transactions, check_choice, check_float, check_int, to_datetime64
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["Split", "leave_last_n_split", "random_basket_split", "temporal_split"]


@dataclass(frozen=True, slots=True)
class Split(TableResult):
    """A train/test split and what each test request should be scored against.

    Attributes
    ----------
    train : Transactions
        Lines a model may learn from. Same id indexes as the input.
    test : Transactions
        The held-out lines behind ``relevant`` (after the split's filters),
        same id indexes as the input.
    relevant : scipy.sparse.csr_matrix, shape (len(customers or orders), len(items))
        Binary (float32): row ``r`` holds the items request ``r`` bought in the
        test period. Rows are customer indices (``request_kind == "customer"``)
        or order indices (``"basket"``) of the input; columns its item indices.
    requests : ndarray of int32
        Rows of ``relevant`` that are test requests (those with at least one
        relevant item), ascending.
    request_kind : str
        ``"customer"`` or ``"basket"``.
    query : scipy.sparse.csr_matrix or None
        For basket completion, the visible part of each test basket (same
        shape as ``relevant``); None otherwise.
    method : str
        Which split made it, with its main parameter.
    at : numpy.datetime64 or None
        The cut time of a temporal split.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 1, 2, 3], item=["a", "b", "a", "c"], customer=["x", "x", "y", "x"],
    ...     time=["2011-01-01", "2011-01-01", "2011-01-02", "2011-02-01"])
    >>> s = temporal_split(tx, at="2011-01-15")
    >>> len(s), s.request_ids.tolist()
    (0, [])
    >>> s = temporal_split(tx, at="2011-01-15", drop_unseen_items=False)
    >>> s.request_ids.tolist(), s.relevant_sets(), s.relevant.shape
    (['x'], [{'c'}], (2, 3))
    >>> s.to_pandas().values.tolist()  # long: one row per (request, item, role)
    [['x', 'c', 'relevant']]
    """

    train: Transactions
    test: Transactions
    relevant: sp.csr_matrix
    requests: np.ndarray
    request_kind: str
    query: sp.csr_matrix | None
    method: str
    at: np.datetime64 | None = None

    _title = "Split"

    def __len__(self) -> int:
        return int(self.requests.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        if rows is not None:  # a notebook: one row per request, its items as lists
            shown = self.requests[rows.start:rows.stop]
            cols: dict[str, Any] = {
                self.request_kind: self.request_ids[rows.start:rows.stop],
                "relevant": _rows_as_lists(self.relevant, shown, self.train)}
            if self.query is not None:
                cols["query"] = _rows_as_lists(self.query, shown, self.train)
            return cols
        # the frame: long, one row per (request, item, role)
        ids, items, roles = [], [], []
        for role, m in (("relevant", self.relevant), ("query", self.query)):
            if m is None:
                continue
            sub = m[self.requests]
            ids.append(np.repeat(self.request_ids, np.diff(sub.indptr)))
            items.append(self.train.items.ids[sub.indices])
            roles.append(np.full(sub.indices.size, role, dtype=object))
        return {self.request_kind: np.concatenate(ids), "item": np.concatenate(items),
                "role": np.concatenate(roles)}

    def _summary(self) -> str:
        return repr(self).removeprefix("Split(").removesuffix(")")

    @property
    def request_ids(self) -> np.ndarray:
        """External ids of the test requests (customer ids, or order ids for baskets)."""
        index = self.train.customers if self.request_kind == "customer" else self.train.orders
        return index.ids[self.requests]

    def relevant_sets(self) -> list[set[Any]]:
        """External item ids each request bought, as sets (for the list metrics).

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"], customer=["x", "x"],
        ...                               time=["2011-01-01", "2011-02-01"])
        >>> temporal_split(tx, at="2011-01-15", drop_unseen_items=False).relevant_sets()
        [{'b'}]
        """
        return [set(x) for x in _rows_as_lists(self.relevant, self.requests, self.train)]

    def query_lists(self) -> list[list[Any]] | None:
        """Visible items of each basket-completion request (None for customer requests).

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["a", "b", "a", "b"])
        >>> s = random_basket_split(tx, test_size=0.5, random_state=0)
        >>> len(s.query_lists()[0])
        1
        """
        if self.query is None:
            return None
        return _rows_as_lists(self.query, self.requests, self.train)

    def __repr__(self) -> str:
        n_rel = int(self.relevant[self.requests].nnz) if self.requests.size else 0
        at = f", at={self.at}" if self.at is not None else ""
        return (f"Split({self.method}{at}: train={len(self.train):,} lines, "
                f"test={len(self.test):,} lines, {len(self):,} {self.request_kind} requests, "
                f"{n_rel:,} relevant items)")


def _rows_as_lists(m: sp.csr_matrix, rows: np.ndarray, tx: Transactions) -> list[list[Any]]:
    ids = tx.items.ids
    return [ids[m.indices[m.indptr[r]:m.indptr[r + 1]]].tolist() for r in rows.tolist()]


# ---------------------------------------------------------------------------- helpers
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([WDhms])\s*$")
_UNIT_SECONDS = {"W": 604800, "D": 86400, "h": 3600, "m": 60, "s": 1}


def _as_duration(value: Any, name: str) -> np.timedelta64:
    """A positive duration from '30D', '12h', a numpy/py timedelta."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            secs = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            if secs > 0:
                return np.timedelta64(round(secs), "s")
    else:
        try:
            out = np.timedelta64(value).astype("timedelta64[s]")
        except (TypeError, ValueError):
            out = None
        if out is not None and not np.isnat(out) and out > np.timedelta64(0, "s"):
            return out
    raise UpsellDataError(
        f"`{name}` must be a positive duration such as '30D', '12h' or a timedelta; "
        f"got {value!r}"
    )


def _resolve_at(at: Any, order_times: np.ndarray) -> np.datetime64:
    if isinstance(at, numbers.Real) and not isinstance(at, bool):
        q = check_float(at, "at", low=0, high=1, low_open=True, high_open=True)
        srt = np.sort(order_times)
        return srt[min(int(np.floor(q * srt.size)), srt.size - 1)]
    out = to_datetime64(at, "s")
    if np.isnat(out):
        raise UpsellDataError(
            f"`at` must be a datetime, an ISO 8601 string such as '2011-09-01', or a "
            f"fraction in (0, 1) of the orders to keep in train; got {at!r}"
        )
    return out


def _seen_items(train: Transactions) -> np.ndarray:
    seen = np.zeros(len(train.items), dtype=bool)
    seen[train.item[train.quantity > 0]] = True
    return seen


def _finish(tx: Transactions, train: Transactions, test_lines: np.ndarray, *,
            drop_unseen_items: bool, exclude_train_items: bool, method: str,
            at: np.datetime64 | None = None) -> Split:
    """Apply the item filters to the test lines and build the customer-request split."""
    if drop_unseen_items:
        test_lines = test_lines & _seen_items(train)[tx.item]
    if exclude_train_items and test_lines.any():
        owned = train.customer_items("binary")
        if not owned.has_sorted_indices:
            owned = owned.sorted_indices()
        n_items = np.int64(max(len(tx.items), 1))
        rows = np.repeat(np.arange(owned.shape[0], dtype=np.int64), np.diff(owned.indptr))
        owned_keys = rows * n_items + owned.indices  # sorted: by row, then by column
        cust = tx.customer
        pos = np.flatnonzero(test_lines)
        keys = cust[pos].astype(np.int64) * n_items + tx.item[pos]
        bought = find_sorted(owned_keys, keys)[1]  # (np.isin would sort both)
        test_lines = test_lines.copy()
        test_lines[pos[bought]] = False
    test = tx.filter(mask=test_lines)
    relevant = test.customer_items("binary")
    requests = np.flatnonzero(np.diff(relevant.indptr) > 0).astype(np.int32)
    return Split(train=train, test=test, relevant=relevant, requests=requests,
                 request_kind="customer", query=None, method=method, at=at)


# ---------------------------------------------------------------------------- splits
def temporal_split(tx: Transactions, at: Any, *, test_customers: str = "seen",
                   target: str = "next_basket", horizon: Any = None,
                   drop_unseen_items: bool = True,
                   exclude_train_items: bool = False) -> Split:
    """Split at a point in time: learn from the past, predict what customers buy next.

    Parameters
    ----------
    tx : Transactions
        Needs the ``customer`` and ``time`` columns.
    at : datetime-like or float
        The cut: orders whose time is before ``at`` form train, the others are
        test candidates. A float in (0, 1) puts that fraction of the orders
        (by time) in train.
    test_customers : {"seen", "all"}, default "seen"
        "seen": only customers with at least one train order are test requests
        (what a collaborative model can score); "all" also keeps customers new
        after ``at`` (cold start: the model must handle unknown customers).
    target : {"next_basket", "all"}, default "next_basket"
        What each test customer should be predicted: their first order at or
        after ``at`` (ties in time broken by order id), or every order after it.
    horizon : duration, optional
        Only orders before ``at + horizon`` count as test ('30D', '12h',
        ``numpy.timedelta64`` or ``datetime.timedelta``); later orders are in
        neither part.
    drop_unseen_items : bool, default True
        Leave out test lines of items that never appear in train: no model
        trained on train can recommend them.
    exclude_train_items : bool, default False
        Leave out test lines of items the customer already bought in train, so
        only new-to-customer items are relevant (cross-sell). Use it with
        ``exclude_owned=True`` in :func:`~upsell.evaluate.compare`; without it
        repeat purchases count as relevant and a model that hides owned items
        cannot reach them.

    Returns
    -------
    Split
        ``request_kind == "customer"``; ``relevant`` is customers x items over
        ``tx.customers`` and ``tx.items``.

    Raises
    ------
    UpsellDataError
        Missing ``customer`` or ``time`` column, or an invalid option.

    Notes
    -----
    An order's time is the time of its first line (``tx.order_table().time``),
    so an order is never cut in two: every line of a test order is at or after
    ``at``, and no order has lines in both parts. Train keeps every line of the
    orders before ``at``, anonymous ones included; test and ``relevant`` hold
    only the lines that survive the filters above. A customer whose test
    lines are all filtered out is not a request.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 2, 2, 3, 4], item=["a", "b", "c", "a", "c"],
    ...     customer=["x", "x", "x", "x", "y"],
    ...     time=["2011-01-01", "2011-02-01", "2011-02-01", "2011-03-01", "2011-02-05"])
    >>> s = temporal_split(tx, at="2011-01-15", drop_unseen_items=False)
    >>> s.request_ids.tolist(), [sorted(r) for r in s.relevant_sets()]
    (['x'], [['b', 'c']])
    >>> s = temporal_split(tx, at="2011-01-15", target="all", drop_unseen_items=False)
    >>> [sorted(r) for r in s.relevant_sets()]
    [['a', 'b', 'c']]
    >>> temporal_split(tx, at="2011-01-15", target="all").relevant_sets()
    [{'a'}]
    """
    as_transactions(tx, "tx")
    tx.require("customer", "temporal_split")
    tx.require("time", "temporal_split")
    test_customers = check_choice(test_customers, "test_customers", ("seen", "all"))
    target = check_choice(target, "target", ("next_basket", "all"))
    ot = tx.order_table()
    cut = _resolve_at(at, ot.time)
    test_order = ot.time >= cut
    train = tx.filter(mask=~test_order[tx.order])
    cand = test_order & (ot.customer >= 0)
    if horizon is not None:
        cand &= ot.time < cut + _as_duration(horizon, "horizon")
    if test_customers == "seen":
        seen = np.zeros(len(tx.customers), dtype=bool)
        train_cust = ot.customer[~test_order]
        seen[train_cust[train_cust >= 0]] = True
        cand &= seen[np.maximum(ot.customer, 0)]
    if target == "next_basket" and cand.any():
        orders = np.flatnonzero(cand)
        # first order per customer by (customer, time, order id); orders are indexed by sorted id
        srt = orders[np.lexsort((orders, ot.time[orders].astype(np.int64), ot.customer[orders]))]
        c = ot.customer[srt]
        first = np.r_[True, c[1:] != c[:-1]]
        cand = np.zeros_like(cand)
        cand[srt[first]] = True
    return _finish(tx, train, cand[tx.order], drop_unseen_items=drop_unseen_items,
                   exclude_train_items=exclude_train_items,
                   method=f"temporal_split(target={target!r})", at=cut)


def leave_last_n_split(tx: Transactions, n: int = 1, *, min_train_baskets: int = 1,
                       drop_unseen_items: bool = True,
                       exclude_train_items: bool = False) -> Split:
    """Hold out each customer's last ``n`` orders (by time).

    Parameters
    ----------
    tx : Transactions
        Needs the ``customer`` and ``time`` columns.
    n : int, default 1
        Orders held out per customer.
    min_train_baskets : int, default 1
        A customer is a test request only with at least ``n + min_train_baskets``
        orders; customers with fewer keep all their orders in train.
    drop_unseen_items, exclude_train_items : bool
        As in :func:`temporal_split`.

    Returns
    -------
    Split
        ``request_kind == "customer"``.

    Notes
    -----
    Orders are ranked per customer by (time, order id). Anonymous orders stay
    in train. Unlike :func:`temporal_split` the cut differs per customer, so
    train may hold other customers' orders from after a customer's test
    orders: popular-item trends can leak across customers. Prefer a temporal
    split to claim what a model will do in production.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 2, 3, 4], item=["a", "b", "a", "c"], customer=["x", "x", "y", "y"],
    ...     time=["2011-01-01", "2011-02-01", "2011-01-01", "2011-03-01"])
    >>> s = leave_last_n_split(tx, n=1, drop_unseen_items=False)
    >>> s.request_ids.tolist(), s.relevant_sets(), len(s.train)
    (['x', 'y'], [{'b'}, {'c'}], 2)
    """
    as_transactions(tx, "tx")
    n = check_int(n, "n", minimum=1)
    min_train_baskets = check_int(min_train_baskets, "min_train_baskets", minimum=0)
    tx.require("customer", "leave_last_n_split")
    tx.require("time", "leave_last_n_split")
    ot = tx.order_table()
    orders = np.flatnonzero(ot.customer >= 0)
    srt = orders[np.lexsort((orders, ot.time[orders].astype(np.int64), ot.customer[orders]))]
    c = ot.customer[srt]
    per_customer = np.bincount(c, minlength=len(tx.customers))
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if c.size else np.empty(0, np.int64)
    pos = np.arange(c.size) - np.repeat(starts, np.diff(np.r_[starts, c.size]))
    from_end = per_customer[c] - pos  # 1 for the last order
    held = (from_end <= n) & (per_customer[c] >= n + min_train_baskets)
    test_order = np.zeros(len(tx.orders), dtype=bool)
    test_order[srt[held]] = True
    train = tx.filter(mask=~test_order[tx.order])
    return _finish(tx, train, test_order[tx.order], drop_unseen_items=drop_unseen_items,
                   exclude_train_items=exclude_train_items, method=f"leave_last_n_split(n={n})")


def random_basket_split(tx: Transactions, hide: float = 0.5, *, test_size: float = 0.2,
                        min_basket_size: int = 2, random_state: Any = None,
                        drop_unseen_items: bool = True) -> Split:
    """Basket completion: hide part of some baskets and ask for the hidden items.

    A random ``test_size`` share of the orders with at least
    ``min_basket_size`` distinct items become test baskets; in each, a random
    ``hide`` share of its distinct items (at least one, and at least one left
    visible) is hidden. The visible items are the query, the hidden ones are
    relevant. All other orders form train.

    Parameters
    ----------
    tx : Transactions
        Customers and time are not needed.
    hide : float in (0, 1), default 0.5
        Share of each test basket's distinct items to hide, rounded to the
        nearest count and clipped to [1, size - 1].
    test_size : float in (0, 1], default 0.2
        Share of the eligible orders that become test baskets.
    min_basket_size : int, default 2
        Orders with fewer distinct items are never test baskets (at least 2).
    random_state : int, numpy.random.Generator or None
        Seed; the same seed gives the same split.
    drop_unseen_items : bool, default True
        Hidden items that never appear in train are not relevant.

    Returns
    -------
    Split
        ``request_kind == "basket"``; ``relevant`` and ``query`` are orders x
        items over ``tx.orders`` and ``tx.items``; ``test`` holds the lines of
        the hidden items. The query lines are in neither ``train`` nor ``test``.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 1, 1, 1, 2, 2], item=list("abcdab"))
    >>> s = random_basket_split(tx, hide=0.5, test_size=0.5, random_state=0,
    ...                         drop_unseen_items=False)
    >>> s.request_ids.tolist(), len(s.relevant_sets()[0]), len(s.query_lists()[0])
    ([1], 2, 2)
    >>> sorted(s.relevant_sets()[0] | set(s.query_lists()[0]))
    ['a', 'b', 'c', 'd']
    """
    as_transactions(tx, "tx")
    hide = check_float(hide, "hide", low=0, high=1, low_open=True, high_open=True)
    test_size = check_float(test_size, "test_size", low=0, high=1, low_open=True)
    min_basket_size = check_int(min_basket_size, "min_basket_size", minimum=2)
    rng = _rng(random_state)
    baskets = tx.baskets()
    size = np.diff(baskets.indptr)
    eligible = np.flatnonzero(size >= min_basket_size)
    n_test = round(test_size * eligible.size)
    if eligible.size and n_test == 0:
        n_test = 1
    test_orders = np.sort(rng.permutation(eligible)[:n_test])
    is_test = np.zeros(len(tx.orders), dtype=bool)
    is_test[test_orders] = True
    # rank the items of each test basket in a random order; the first h are hidden
    sub = baskets[test_orders]
    sub_size = np.diff(sub.indptr)
    n_hide = np.clip(np.rint(hide * sub_size), 1, sub_size - 1).astype(np.int64)
    row = np.repeat(np.arange(test_orders.size), sub_size)
    perm = np.lexsort((rng.random(row.size), row))
    rank = np.empty(row.size, dtype=np.int64)
    rank[perm] = np.arange(row.size) - np.repeat(sub.indptr[:-1], sub_size)
    hidden = rank < n_hide[row]
    item = sub.indices
    order = test_orders[row]
    train = tx.filter(mask=~is_test[tx.order])
    keep_hidden = hidden
    if drop_unseen_items:
        keep_hidden = hidden & _seen_items(train)[item]
    shape = (len(tx.orders), len(tx.items))

    def csr(mask: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix((np.ones(int(mask.sum()), dtype=np.float32),
                           (order[mask], item[mask])), shape=shape)
        m.sort_indices()
        return m

    relevant = csr(keep_hidden)
    query = csr(~hidden)
    n_items = np.int64(max(len(tx.items), 1))
    hidden_keys = order[keep_hidden].astype(np.int64) * n_items + item[keep_hidden]
    line_keys = tx.order.astype(np.int64) * n_items + tx.item
    test = tx.filter(mask=is_test[tx.order] & np.isin(line_keys, hidden_keys))
    requests = np.flatnonzero(np.diff(relevant.indptr) > 0).astype(np.int32)
    return Split(train=train, test=test, relevant=relevant, requests=requests,
                 request_kind="basket", query=query,
                 method=f"random_basket_split(hide={hide:g}, test_size={test_size:g})")


def _rng(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    seed = check_int(random_state, "random_state", minimum=0)
    return np.random.default_rng(seed)
