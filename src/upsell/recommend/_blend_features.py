"""The learned blend's view of the history before one point in time: sources, candidates, features.

:class:`BlendState` holds everything the blend knows about the shop as of a cut time
``cut`` (only order lines strictly before it): per customer x item purchase counts,
decayed counts, first / last purchase times; per customer basket size, tenure and
spend; per item popularity, its trend and prices; the last basket of each customer;
co-purchase confidences; the item-neighbour lists of EASE and ItemKNN (fitted with
``upsell.cf`` on the same lines). Training builds one state per cut, serving one on
the whole history, and both call the same :meth:`BlendState.candidates` and
:meth:`BlendState.features`, so a feature means the same thing in both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._lookup import find_sorted
from upsell._stats import median_by as _median_by
from upsell.cf import EASE, ItemKNN
from upsell.cf.base import gather_rows

__all__ = ["FEATURE_GROUPS", "BlendState", "LineData", "feature_names",
           "lossless", "spend_columns"]

_DAY = 86_400.0
log = logging.getLogger("upsell")

# feature name -> group; the order is the column order of the feature matrix
_BASE_FEATURES: tuple[tuple[str, str], ...] = (
    ("ease_score", "sources"), ("ease_rank", "sources"),
    ("knn_score", "sources"), ("knn_rank", "sources"),
    ("cooc_score", "sources"), ("cooc_rank", "sources"),
    ("uknn_score", "sources"), ("uknn_rank", "sources"),
    ("repeat_rank", "sources"), ("pop_rank", "sources"),
    ("times_bought", "repeat"), ("decayed_count", "repeat"),
    ("days_since_bought", "repeat"), ("repurchase_interval", "repeat"),
    ("since_over_interval", "repeat"), ("share_of_orders", "repeat"),
    ("item_repeat_rate", "repeat"), ("item_interval", "repeat"),
    ("since_over_item_interval", "repeat"),
    ("orders_since_bought", "repeat"), ("in_last_2_orders", "repeat"),
    ("in_last_4_orders", "repeat"), ("order_decayed_count", "repeat"),
    ("item_next_order_rate", "repeat"),
    ("buyers_log", "popularity"), ("recent_buyers_share", "popularity"),
    ("popularity_trend", "popularity"),
    ("lift_last_basket", "copurchase"), ("conf_history_max", "copurchase"),
    ("price", "price"), ("price_vs_usual", "price"), ("price_vs_order_value", "price"),
    ("discount", "price"), ("margin", "price"),
    ("orders", "customer"), ("tenure_days", "customer"), ("days_since_order", "customer"),
    ("basket_size", "customer"), ("orders_per_window", "customer"),
    ("distinct_items", "customer"), ("repeat_share", "customer"),
    ("next_order_overlap", "customer"),
    ("segment", "segment"),
    ("kind", "catalog"), ("tier", "catalog"),
    ("spend_share", "spend"), ("quantity_per_order", "spend"), ("quantity_vs_item", "spend"),
)
FEATURE_GROUPS: dict[str, str] = dict(_BASE_FEATURES)
CATEGORICAL = ("segment", "kind")
# per (customer, item) purchase statistics counted in the customer's own orders (aligned with H)
ENTRY = ("orders_since", "in_last_2", "in_last_4", "order_decayed", "spend", "quantity")
NAN_ENTRY = ("orders_since", "spend", "quantity")  # NaN (not 0) for items never bought
_ORDER_HALF_LIFE = 3.0  # orders: a shop-free scale (the customer's own rhythm)
#: Cells (customers x items, or x customers for user-KNN) of the source matrices of one batch
#: of customers: ~8M bound them to ~100 MB each, whatever the catalog (Online Retail's cuts,
#: ~1,000 customers x 3,739 items, are one batch)
CHUNK_CELLS = 8_000_000


def feature_names() -> tuple[str, ...]:
    """Column names of :meth:`BlendState.features`, in order."""
    return tuple(name for name, _ in _BASE_FEATURES)


@dataclass(frozen=True)
class LineData:
    """The order lines the blend learns from, as plain arrays (purchases only).

    ``customer``/``item``/``order`` are int32 indices of the full Transactions,
    ``time`` int64 seconds, ``value`` the line value (NaN without prices),
    ``unit`` the unit price (NaN without prices). Anonymous lines keep customer -1:
    they count for co-purchases and popularity, not for a customer's history.
    """

    customer: np.ndarray
    item: np.ndarray
    order: np.ndarray
    time: np.ndarray
    unit: np.ndarray
    value: np.ndarray
    n_customers: int
    n_items: int
    item_cost: np.ndarray  # per item, NaN when unknown
    item_kind: np.ndarray  # per item, int code (-1 unknown)
    item_tier: np.ndarray  # per item, float (NaN unknown)
    segment: np.ndarray  # per customer, int code (-1 unknown)

    def before(self, cut: int) -> LineData:
        """The lines strictly before ``cut`` (seconds)."""
        keep = self.time < cut
        return LineData(self.customer[keep], self.item[keep], self.order[keep],
                        self.time[keep], self.unit[keep], self.value[keep], self.n_customers,
                        self.n_items, self.item_cost, self.item_kind, self.item_tier,
                        self.segment)


def _csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]
         ) -> sp.csr_matrix:
    m = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.sort_indices()
    return m


def _row_of(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def _keys(m: sp.csr_matrix, rows: np.ndarray | None = None) -> np.ndarray:
    """Sorted int64 keys row * n_cols + col of the stored entries (``rows`` maps local rows)."""
    r = _row_of(m)
    if rows is not None:
        r = rows[r].astype(np.int64)
    return r * m.shape[1] + m.indices.astype(np.int64)


def _row_keys(m: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys ``row * n_cols + col`` of the entries of ``rows`` (sorted, distinct) and
    their positions in ``m.data``: a batch's lookups read its own rows, not every row (on
    a 1.4M-customer shop a batch is 5 customers, and :func:`_keys` of all rows cost more
    than the batch)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = m.indptr[rows].astype(np.int64)
    counts = m.indptr[rows + 1].astype(np.int64) - starts
    total = int(counts.sum())
    first = np.cumsum(counts) - counts  # where each row's entries start in the output
    pos = np.repeat(starts - first, counts) + np.arange(total, dtype=np.int64)
    keys = np.repeat(rows, counts) * m.shape[1] + m.indices[pos].astype(np.int64)
    return keys, pos


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray,
            missing: float = np.nan) -> np.ndarray:
    """``values`` at ``query`` keys (``keys`` sorted), ``missing`` where absent."""
    out = np.full(query.size, missing, dtype=np.float64)
    at, hit = find_sorted(keys, query)
    out[hit] = values[at[hit]]
    return out


def _row_ranks(m: sp.csr_matrix) -> np.ndarray:
    """1-based rank of each stored entry within its row, by value descending."""
    # two stable sorts (value descending, then row) keep equal values in column order
    # when the indices are sorted: the order of a three-key lexsort, in 40% of its time
    lens = np.diff(m.indptr)
    if m.has_sorted_indices and m.nnz >= 16 * max(m.shape[0], 1):
        # long rows: one small stable sort per row is ~2x faster than two over all
        # entries (measured on 1,000-20,000 rows of 37-3,000 entries), same ranks
        rank = np.empty(m.nnz, dtype=np.float64)
        neg = -np.asarray(m.data)
        steps = np.arange(1, int(lens.max()) + 1, dtype=np.float64)
        for lo, hi in zip(m.indptr[:-1].tolist(), m.indptr[1:].tolist(), strict=True):
            if hi > lo:
                rank[lo + np.argsort(neg[lo:hi], kind="stable")] = steps[:hi - lo]
        return rank
    r = np.repeat(np.arange(m.shape[0], dtype=np.int32), lens)
    if m.has_sorted_indices:
        order = np.argsort(-np.asarray(m.data), kind="stable")
        order = order[np.argsort(r[order], kind="stable")]
    else:
        order = np.lexsort((m.indices, -m.data, r))
    rank = np.empty(m.nnz, dtype=np.float64)
    rank[order] = np.arange(m.nnz) - np.repeat(m.indptr[:-1], lens) + 1
    return rank


def _top_per_row(m: sp.csr_matrix, k: int, rank: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(local rows, columns) of the ``k`` best entries of every row (``rank``: its
    :func:`_row_ranks`, when known)."""
    if m.nnz == 0 or k <= 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    rank = _row_ranks(m) if rank is None else rank
    keep = rank <= k
    return _row_of(m)[keep], m.indices[keep].astype(np.int64)


#: narrower dtypes tried for a stored array, in order (the first that holds it bit for bit)
_NARROWER = {"f": ("uint8", "int16", "int32", "float32"), "i": ("int8", "int16", "int32")}


def lossless(a: np.ndarray) -> np.ndarray:
    """``a`` in the narrowest dtype that gives it back bit for bit (else ``a`` itself).

    Many per-purchase arrays of the state hold flags (0/1), small counts or epoch
    seconds: kept narrow (in memory and in the file) they take a quarter to an eighth
    of the bytes of float64 / int64, and every reader widens a gathered value to the
    same float64 (same bits, NaN and -0.0 included), so features do not change.

    Examples
    --------
    >>> lossless(np.array([0.0, 1.0, 1.0])).dtype, lossless(np.array([0.5, np.nan])).dtype
    (dtype('uint8'), dtype('float32'))
    >>> lossless(np.array([0.1])).dtype, lossless(np.array([-0.0])).dtype
    (dtype('float64'), dtype('float32'))
    """
    a = np.asarray(a)
    kind = "i" if a.dtype.kind in "iu" else a.dtype.kind
    if a.size == 0 or kind not in _NARROWER or a.dtype.itemsize <= 1:
        return a
    bits = {8: np.uint64, 4: np.uint32, 2: np.uint16}[a.dtype.itemsize]
    with np.errstate(invalid="ignore", over="ignore"):
        for name in _NARROWER[kind]:
            dtype = np.dtype(name)
            if dtype.itemsize >= a.dtype.itemsize:
                break
            if dtype.kind in "iu":
                info = np.iinfo(dtype)
                if kind == "f" and not np.isfinite(a).all():
                    continue
                if not (a.min() >= info.min and a.max() <= info.max):
                    continue
            narrow = a.astype(dtype)
            if np.array_equal(narrow.astype(a.dtype).view(bits), a.view(bits)):
                return narrow
    return a


@dataclass
class BlendState:
    """What the blend knows as of ``cut`` (seconds): see the module docstring."""

    cut: int
    window: float  # seconds: length of a label window, also the "recent" span
    half_life: float  # seconds, of the decayed counts
    n_customers: int
    n_items: int
    H: sp.csr_matrix  # orders holding the item, per customer
    decayed: np.ndarray  # aligned with H.data
    first_t: np.ndarray  # aligned with H.data (seconds; int32 until 2038, see lossless)
    last_t: np.ndarray  # aligned with H.data (seconds)
    last_basket: sp.csr_matrix  # 1 for the items of the customer's last order
    cust: dict[str, np.ndarray]  # per customer statistics
    item: dict[str, np.ndarray]  # per item statistics
    conf: sp.csr_matrix  # items x items: share of X's orders that hold j (top per row)
    ease: sp.csr_matrix  # EASE neighbour weights
    knn: sp.csr_matrix  # ItemKNN cosine neighbour weights
    pop_order: np.ndarray  # items by recent buyers, best first
    knn_users: int = 100  # neighbours of the user-KNN source
    entry: dict[str, np.ndarray] = field(default_factory=dict)  # aligned with H.data (ENTRY,
    # each in its lossless dtype: flags are uint8)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # customers as L2-normalised decayed purchase vectors, for the user-KNN source
        H = self.H
        rows = _row_of(H)
        norm = np.sqrt(np.bincount(rows, weights=self.decayed ** 2, minlength=H.shape[0]))
        vals = self.decayed / np.where(norm > 0, norm, 1.0)[rows]
        self._unit = sp.csr_matrix((vals.astype(np.float32), H.indices, H.indptr),
                                   shape=H.shape)
        self._unit_t = sp.csr_matrix(self._unit.T)

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, lines: LineData, cut: int, *, window: float, half_life: float,
              n_neighbors: int, use_ease: bool, random_state: int = 0,
              ease_items: int | None = None) -> BlendState:
        """Fit every statistic and source on ``lines`` before ``cut``.

        ``ease_items``: EASE spans at most this many items, the most bought before
        ``cut`` (None: all); the others get no EASE score.
        """
        d = lines.before(cut)
        n_c, n_i = d.n_customers, d.n_items
        named = d.customer >= 0
        # one purchase per (customer, order, item)
        c, o, i, t = d.customer[named], d.order[named], d.item[named], d.time[named]
        key = (c.astype(np.int64) * n_i + i) * (int(o.max()) + 1 if o.size else 1) + o
        _key_u, first = np.unique(key, return_index=True)
        c, o, i, t = c[first], o[first], i[first], t[first]
        ci = c.astype(np.int64) * n_i + i
        order = np.lexsort((t, ci))
        ci, c, i, t, o = ci[order], c[order], i[order], t[order], o[order]
        uniq, start, counts = np.unique(ci, return_index=True, return_counts=True)
        first_t = t[start]
        last_t = t[start + counts - 1]
        w = 0.5 ** ((cut - t) / half_life)
        dec = np.add.reduceat(w, start) if start.size else np.empty(0)
        H = sp.csr_matrix((counts.astype(np.float32),
                           ((uniq // n_i).astype(np.int64), (uniq % n_i).astype(np.int64))),
                          shape=(n_c, n_i))
        H.sort_indices()  # keys were sorted: H.data stays aligned with the arrays above
        # per customer: orders, first/last order time, basket size, spend
        ord_u, ord_pos = np.unique(d.order[named], return_inverse=True)
        ord_pos = ord_pos.ravel()
        ord_cust = np.zeros(ord_u.size, dtype=np.int64)
        ord_cust[ord_pos] = d.customer[named]
        ord_time = np.full(ord_u.size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(ord_time, ord_pos, d.time[named])
        n_orders = np.bincount(ord_cust, minlength=n_c).astype(np.float64)
        cfirst = np.full(n_c, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(cfirst, ord_cust, ord_time)
        clast = np.full(n_c, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(clast, ord_cust, ord_time)
        lines_per_order = np.bincount(np.searchsorted(ord_u, o), minlength=ord_u.size)
        basket = np.bincount(ord_cust, weights=lines_per_order, minlength=n_c)
        with np.errstate(invalid="ignore", divide="ignore"):
            basket_size = basket / n_orders
            val = d.value[named]
            spend = np.bincount(d.customer[named], weights=np.nan_to_num(val), minlength=n_c)
            has_val = np.bincount(d.customer[named], weights=np.isfinite(val), minlength=n_c)
            order_value = np.where(has_val > 0, spend / n_orders, np.nan)
        usual = _median_by(d.customer[named], d.unit[named], n_c)
        has = n_orders > 0
        tenure = np.where(has, (cut - cfirst) / _DAY, np.nan)
        since_order = np.where(has, (cut - clast) / _DAY, np.nan)
        span_windows = np.where(has, np.maximum(cut - cfirst, window) / window, np.nan)
        c_of = (uniq // n_i).astype(np.int64)
        i_of = (uniq % n_i).astype(np.int64)
        purchases = np.bincount(c_of, weights=counts, minlength=n_c)
        with np.errstate(invalid="ignore", divide="ignore"):
            repeat_share = (purchases - np.diff(H.indptr)) / purchases
            own_interval = np.where(counts >= 2, (last_t - first_t) / _DAY
                                    / np.maximum(counts - 1, 1), np.nan)
        # every purchase's order counted from the customer's latest (0 = the last order)
        by_recent = np.lexsort((ord_u, -ord_time, ord_cust))
        o_rank = np.empty(ord_u.size, dtype=np.int64)
        oc_s = ord_cust[by_recent]
        o_rank[by_recent] = np.arange(ord_u.size) - np.searchsorted(oc_s, oc_s)
        rk = o_rank[np.searchsorted(ord_u, o)] if o.size else np.empty(0, np.int64)
        entry, next_rate, overlap = _order_stats(ci, rk, start, n_orders, n_c, n_i)
        # value and units per (customer, item) over every line (NaN without prices)
        at_u = np.searchsorted(uniq, d.customer[named].astype(np.int64) * n_i + d.item[named])
        with np.errstate(invalid="ignore", divide="ignore"):
            units = d.value[named] / d.unit[named]
        for name, v in (("spend", d.value[named]), ("quantity", units)):
            ok = np.isfinite(v)
            seen = np.bincount(at_u[ok], minlength=uniq.size) > 0
            entry[name] = np.where(seen, np.bincount(at_u[ok], weights=v[ok],
                                                     minlength=uniq.size), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            item_quantity = _median_by(i_of, entry["quantity"] / counts, n_i)
        cust = {
            "spend": np.where(has_val > 0, spend, np.nan),
            "next_order_overlap": overlap,
            "repeat_share": repeat_share,
            "orders": n_orders, "tenure_days": tenure, "days_since_order": since_order,
            "basket_size": basket_size, "orders_per_window": n_orders / span_windows,
            "distinct_items": np.diff(H.indptr).astype(np.float64),
            "usual_price": usual, "order_value": order_value,
        }
        # last basket: every item of the customer's latest order
        is_last = np.zeros(ord_u.size, dtype=bool)
        if ord_u.size:
            is_last = ord_time == clast[ord_cust]
        last_orders = ord_u[is_last]
        in_last = np.isin(o, last_orders)
        last_basket = _csr(c[in_last].astype(np.int64), i[in_last].astype(np.int64),
                           np.ones(int(in_last.sum()), dtype=np.float32), (n_c, n_i))
        last_basket.data[:] = 1.0
        # per item: buyers, recent buyers and their trend, prices
        buyers = np.diff(H.tocsc().indptr).astype(np.float64)
        recent = _buyers_between(d, cut - window, cut, n_i)
        prev = _buyers_between(d, cut - 2 * window, cut - window, n_i)
        price = _median_by(d.item, d.unit, n_i)
        recent_price = _median_by(d.item[d.time >= cut - window], d.unit[d.time >= cut - window],
                                  n_i)
        repeaters = np.bincount(i_of, weights=counts >= 2, minlength=n_i)
        with np.errstate(invalid="ignore", divide="ignore"):
            repeat_rate = np.where(buyers > 0, repeaters / buyers, np.nan)
        item = {
            "next_order_rate": next_rate,
            "repeat_rate": repeat_rate, "interval": _median_by(i_of, own_interval, n_i),
            "buyers": buyers, "recent": recent, "prev": prev, "price": price,
            "recent_price": recent_price,
            "order_count": np.bincount(d.item, minlength=n_i).astype(np.float64),
            "quantity": item_quantity,
        }
        n_orders_all = float(np.unique(d.order).size)
        item["n_orders_total"] = np.array([n_orders_all])
        conf = _cooccurrence(d, n_i, n_neighbors)
        binary = sp.csr_matrix((np.ones(H.nnz, dtype=np.float32), H.indices, H.indptr),
                               shape=H.shape)
        knn = ItemKNN(similarity="cosine", n_neighbors=n_neighbors,
                      num_threads=1).fit(binary).neighbors_
        if use_ease:
            ease = _ease_over_top(binary, buyers, n_neighbors, ease_items)
        else:
            ease = sp.csr_matrix((n_i, n_i), dtype=np.float32)
        pop_order = np.lexsort((-buyers, -recent)).astype(np.int32)
        cust["segment"] = np.where(lines.segment >= 0, lines.segment, np.nan)
        item["cost"] = lines.item_cost.astype(np.float64)
        item["kind"] = np.where(lines.item_kind >= 0, lines.item_kind, np.nan)
        item["tier"] = lines.item_tier.astype(np.float64)
        return cls(cut=int(cut), window=float(window), half_life=float(half_life),
                   n_customers=n_c, n_items=n_i, H=H, decayed=dec, first_t=lossless(first_t),
                   last_t=lossless(last_t), last_basket=last_basket, cust=cust, item=item,
                   conf=conf, ease=sp.csr_matrix(ease), knn=sp.csr_matrix(knn),
                   pop_order=pop_order, knn_users=int(n_neighbors),
                   entry={n: lossless(v) for n, v in entry.items()})

    def chunk_rows(self, most: int | None = None) -> int:
        """Customers per batch of :meth:`candidates` / :meth:`features` (``CHUNK_CELLS``)."""
        rows = max(1, CHUNK_CELLS // max(self.n_items, self.n_customers, 1))
        return rows if most is None else max(1, min(rows, int(most)))

    # ------------------------------------------------------------------ sources
    def _hist_rows(self, u: np.ndarray, basket: sp.csr_matrix | None = None
                   ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
        """(binary history, decayed history scaled to max 1, last basket) of customers ``u``."""
        Hu = self.H[u]
        D = sp.csr_matrix((self.decayed, self.H.indices, self.H.indptr), shape=self.H.shape)[u]
        B = sp.csr_matrix((np.ones(Hu.nnz, dtype=np.float32), Hu.indices, Hu.indptr),
                          shape=Hu.shape)
        if D.nnz:
            top = np.maximum.reduceat(D.data, D.indptr[:-1][np.diff(D.indptr) > 0])
            scale = np.zeros(D.shape[0])
            scale[np.diff(D.indptr) > 0] = 1.0 / top
            D = sp.diags(scale) @ D
        L = self.last_basket[u] if basket is None else basket
        return B, sp.csr_matrix(D), L

    def _source_mats(self, u: np.ndarray, basket: sp.csr_matrix | None = None
                     ) -> dict[str, sp.csr_matrix]:
        if u.size == 1:
            return self._one_customer(int(u[0]), basket)
        B, D, L = self._hist_rows(u, basket)
        if basket is not None:  # the request's basket counts as bought now
            B = sp.csr_matrix(((B + basket) > 0).astype(np.float32))
            D = sp.csr_matrix(D.maximum(basket))
        mats = {"ease": sp.csr_matrix(B @ self.ease), "knn": sp.csr_matrix(D @ self.knn),
                "cooc": _row_max_product(L, self.conf), "repeat": D, "_last": L,
                "uknn": self._user_knn(u, D)}
        for m in mats.values():
            m.sort_indices()
            m.eliminate_zeros()
        return mats

    def _one_customer(self, c: int, basket: sp.csr_matrix | None) -> dict[str, sp.csr_matrix]:
        """:meth:`_source_mats` for one customer: plain numpy on the rows it touches.

        One request is dominated by scipy's per-call overhead, not arithmetic; the
        same sums over the stored entries, without building intermediate matrices.
        """
        n = self.n_items
        H = self.H
        lo, hi = int(H.indptr[c]), int(H.indptr[c + 1])
        items = H.indices[lo:hi].astype(np.int64)
        dec = self.decayed[lo:hi]
        d = dec / dec.max() if dec.size and dec.max() > 0 else dec.astype(np.float64)
        if basket is not None:
            last = np.asarray(basket.indices, dtype=np.int64)
            both = np.union1d(items, last)
            dd = np.zeros(both.size)
            dd[np.searchsorted(both, items)] = d
            at = np.searchsorted(both, last)
            dd[at] = np.maximum(dd[at], 1.0)
            items, d = both, dd
        else:
            lb = self.last_basket
            last = lb.indices[lb.indptr[c]:lb.indptr[c + 1]].astype(np.int64)

        def row(cols: np.ndarray, vals: np.ndarray) -> sp.csr_matrix:
            keep = vals > 0
            cols, vals = cols[keep], vals[keep]
            return sp.csr_matrix((vals.astype(np.float32), cols.astype(np.int32),
                                  np.array([0, cols.size])), shape=(1, n))

        L = row(last, np.ones(last.size))
        mats = {"ease": row(*gather_rows(self.ease, items, np.ones(items.size))),
                "knn": row(*gather_rows(self.knn, items, d)),
                "cooc": _row_max_product(L, self.conf), "repeat": row(items, d), "_last": L}
        # user-KNN: the customers sharing an item, by cosine; the best knn_users of them
        norm = float(np.sqrt((d * d).sum()))
        cu, sim = gather_rows(self._unit_t, items, d / (norm if norm > 0 else 1.0))
        keep = (cu != c) & (sim > 0)
        cu, sim = cu[keep], sim[keep]
        k = max(1, min(self.knn_users, self.n_customers))
        if cu.size > k:
            top = np.lexsort((cu, -sim))[:k]
            cu, sim = cu[top], sim[top]
        mats["uknn"] = row(*gather_rows(self._unit, cu.astype(np.int64),
                                        sim.astype(np.float64)))
        for m in mats.values():
            m.sort_indices()
        return mats

    def _user_knn(self, u: np.ndarray, D: sp.csr_matrix) -> sp.csr_matrix:
        """Sum over the most similar customers (cosine of decayed vectors) of their vectors."""
        norm = np.sqrt(np.asarray(D.multiply(D).sum(axis=1)).ravel())
        Du = sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ D
        S = sp.csr_matrix(Du @ self._unit_t)
        S = S - sp.csr_matrix((np.asarray(S[np.arange(u.size), u]).ravel(),
                               (np.arange(u.size), u)), shape=S.shape)  # not oneself
        S.eliminate_zeros()
        S.sort_indices()
        k = max(1, min(self.knn_users, S.shape[1]))
        r, c = _top_per_row(S, k)
        v = _lookup(_keys(S), S.data.astype(np.float64), r * S.shape[1] + c, 0.0)
        top = sp.csr_matrix((v, (r, c)), shape=S.shape)
        return sp.csr_matrix(top @ self._unit)

    def candidates(self, u: np.ndarray, n_candidates: int, *, include_owned: bool,
                   basket: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Candidate (customer, item) pairs for customers ``u``: the union of every source's top.

        Per source (EASE, ItemKNN, co-purchase with the last basket, user-KNN): the best
        ``n_candidates // 2``; the owned items (by decayed count, at most
        ``n_candidates``) when ``include_owned``; the ``n_candidates // 5`` most
        bought items of the last window. Sorted by (customer, item).
        """
        mats = self._source_mats(u, basket)
        # each source row's ranks, sorted once: features() reads them again
        ranks = {name: _row_ranks(mats[name]) for name in ("ease", "knn", "cooc", "uknn",
                                                            "repeat")}
        # one tuple, replaced atomically: threads sharing the state never mix two requests
        self._cache["last"] = (u, mats, ranks)
        per = max(1, n_candidates // 2)
        rows, cols = [], []
        for name in ("ease", "knn", "cooc", "uknn"):
            r, c = _top_per_row(mats[name], per, ranks[name])
            rows.append(r)
            cols.append(c)
        if include_owned:
            r, c = _top_per_row(mats["repeat"], n_candidates, ranks["repeat"])
            rows.append(r)
            cols.append(c)
        n_pop = max(1, n_candidates // 5)
        pop = self.pop_order[:n_pop].astype(np.int64)
        rows.append(np.repeat(np.arange(u.size, dtype=np.int64), pop.size))
        cols.append(np.tile(pop, u.size))
        key = np.unique(np.concatenate(rows) * self.n_items + np.concatenate(cols))
        cu = u[key // self.n_items]
        ci = (key % self.n_items).astype(np.int64)
        if not include_owned:
            hk, pos = _row_keys(self.H, np.unique(u))
            owned = _lookup(hk, self.H.data[pos], cu * self.n_items + ci, 0.0) > 0
            cu, ci = cu[~owned], ci[~owned]
        return cu.astype(np.int64), ci

    def source_coverage(self, u: np.ndarray, n_candidates: int, include_owned: bool
                        ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per source, the (customer, item) pairs it proposes (for coverage reports)."""
        mats = self._source_mats(u)
        per = max(1, n_candidates // 2)
        out = {}
        for name in ("ease", "knn", "cooc", "uknn"):
            r, c = _top_per_row(mats[name], per)
            out[name] = (u[r], c)
        if include_owned:
            r, c = _top_per_row(mats["repeat"], n_candidates)
            out["repeat"] = (u[r], c)
        pop = self.pop_order[:max(1, n_candidates // 5)].astype(np.int64)
        out["popular"] = (np.repeat(u, pop.size), np.tile(pop, u.size))
        return out

    # ------------------------------------------------------------------ features
    def features(self, cu: np.ndarray, ci: np.ndarray, *, at: int | None = None,
                 basket: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Feature matrix (float32, columns :func:`feature_names`) of pairs ``(cu, ci)``.

        Also returns the item of the last basket that explains each pair's
        co-purchase best (-1 when none), for reasons. ``at`` is the request time
        (seconds, default the cut); it only moves the "days since" features.
        """
        n_i = self.n_items
        now = float(self.cut if at is None else max(int(at), self.cut))
        u, inv = np.unique(cu, return_inverse=True)
        cached = self._cache.get("last")
        ranks: dict[str, np.ndarray] = {}
        if basket is None and cached is not None and np.array_equal(cached[0], u):
            mats, ranks = cached[1], cached[2]
        else:
            mats = self._source_mats(u, basket)
        qk = inv.astype(np.int64) * n_i + ci
        cols: dict[str, np.ndarray] = {}
        for name in ("ease", "knn", "cooc", "uknn"):
            m = mats[name]
            k = _keys(m)
            cols[f"{name}_score"] = _lookup(k, m.data.astype(np.float64), qk, 0.0)
            rank = ranks[name] if name in ranks else _row_ranks(m)
            cols[f"{name}_rank"] = _lookup(k, rank, qk)
        rep = mats["repeat"]
        rank = ranks["repeat"] if "repeat" in ranks else _row_ranks(rep)
        cols["repeat_rank"] = _lookup(_keys(rep), rank, qk)
        pop_rank = np.empty(n_i, dtype=np.float64)
        pop_rank[self.pop_order] = np.arange(1, n_i + 1)
        cols["pop_rank"] = pop_rank[ci]
        # repeat signals
        hk, pos = _row_keys(self.H, u)
        gk = cu * n_i + ci
        times = _lookup(hk, self.H.data[pos].astype(np.float64), gk, 0.0)
        cols["times_bought"] = times
        cols["decayed_count"] = _lookup(hk, self.decayed[pos], gk, 0.0)
        last = _lookup(hk, self.last_t[pos].astype(np.float64), gk)
        first = _lookup(hk, self.first_t[pos].astype(np.float64), gk)
        since = (now - last) / _DAY
        cols["days_since_bought"] = since
        with np.errstate(invalid="ignore", divide="ignore"):
            interval = np.where(times >= 2, (last - first) / _DAY / (times - 1), np.nan)
            cols["repurchase_interval"] = interval
            cols["since_over_interval"] = since / np.maximum(interval, 1.0)
            cols["share_of_orders"] = times / self.cust["orders"][cu]
            cols["item_repeat_rate"] = self.item["repeat_rate"][ci]
            cols["item_interval"] = self.item["interval"][ci]
            cols["since_over_item_interval"] = since / np.maximum(self.item["interval"][ci], 1.0)
        cols["orders_since_bought"] = _lookup(hk, self.entry["orders_since"][pos], gk)
        cols["in_last_2_orders"] = _lookup(hk, self.entry["in_last_2"][pos], gk, 0.0)
        cols["in_last_4_orders"] = _lookup(hk, self.entry["in_last_4"][pos], gk, 0.0)
        cols["order_decayed_count"] = _lookup(hk, self.entry["order_decayed"][pos], gk, 0.0)
        cols["item_next_order_rate"] = self.item["next_order_rate"][ci]
        cols.update(spend_columns(times, _lookup(hk, self.entry["spend"][pos], gk),
                                  _lookup(hk, self.entry["quantity"][pos], gk),
                                  self.cust["spend"][cu], self.item["quantity"][ci]))
        # popularity
        it = self.item
        cols["buyers_log"] = np.log1p(it["buyers"][ci])
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["recent_buyers_share"] = it["recent"][ci] / np.maximum(it["buyers"][ci], 1.0)
        cols["popularity_trend"] = np.log((it["recent"][ci] + 1.0) / (it["prev"][ci] + 1.0))
        # co-purchase with the last basket (the request's basket when given)
        conf = cols["cooc_score"]
        p_j = it["order_count"][ci] / max(float(it["n_orders_total"][0]), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["lift_last_basket"] = np.where(conf > 0, conf / np.maximum(p_j, 1e-12), 0.0)
        cols["conf_history_max"] = _history_conf(self, u, inv, ci)
        # price
        price = it["price"][ci]
        cols["price"] = price
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["price_vs_usual"] = price / self.cust["usual_price"][cu]
            cols["price_vs_order_value"] = price / self.cust["order_value"][cu]
            cols["discount"] = 1.0 - it["recent_price"][ci] / price
            cols["margin"] = (price - it["cost"][ci]) / price if "cost" in it else \
                np.full(ci.size, np.nan)
        # customer
        for name in ("orders", "tenure_days", "basket_size", "orders_per_window",
                     "distinct_items", "repeat_share", "next_order_overlap"):
            cols[name] = self.cust[name][cu]
        cols["days_since_order"] = self.cust["days_since_order"][cu] + (now - self.cut) / _DAY
        cols["segment"] = self.cust["segment"][cu] if "segment" in self.cust else \
            np.full(cu.size, np.nan)
        cols["kind"] = it["kind"][ci] if "kind" in it else np.full(ci.size, np.nan)
        cols["tier"] = it["tier"][ci] if "tier" in it else np.full(ci.size, np.nan)
        X = np.empty((cu.size, len(_BASE_FEATURES)), dtype=np.float32)
        for j, name in enumerate(feature_names()):
            X[:, j] = cols[name]
        return X, _best_last_item(self, mats, u, inv, ci)


def _order_stats(ci: np.ndarray, rank: np.ndarray, start: np.ndarray, n_orders: np.ndarray,
                 n_c: int, n_i: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Order-counted repeat statistics from one row per (customer, order, item) purchase.

    ``ci`` holds customer * n_i + item (sorted; groups begin at ``start``), ``rank`` the
    purchase's order counted from the customer's latest (0 = last order). Returns the
    per-(customer, item) arrays of :data:`ENTRY`, per item the share of its purchases
    (with a later order of that customer) repeated in the customer's next order, and per
    customer the share of their basket lines (orders after the first) already in their
    previous order.
    """
    if ci.size == 0:
        empty = {name: np.empty(0) for name in ENTRY}
        return empty, np.full(n_i, np.nan), np.full(n_c, np.nan)
    entry = {
        "orders_since": np.minimum.reduceat(rank, start).astype(np.float64),
        "in_last_2": np.add.reduceat((rank < 2).astype(np.float64), start),
        "in_last_4": np.add.reduceat((rank < 4).astype(np.float64), start),
        "order_decayed": np.add.reduceat(0.5 ** (rank / _ORDER_HALF_LIFE), start),
    }
    span = int(rank.max()) + 2
    key = ci * span + rank
    key_s = np.sort(key)

    def has(q: np.ndarray) -> np.ndarray:
        return find_sorted(key_s, q)[1]

    item, cust = ci % n_i, ci // n_i
    later = rank > 0  # the customer ordered again after this purchase
    again = later & has(key - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        next_rate = (np.bincount(item[again], minlength=n_i)
                     / np.bincount(item[later], minlength=n_i).astype(np.float64))
        not_first = rank < n_orders[cust] - 1
        kept = not_first & has(key + 1)
        overlap = (np.bincount(cust[kept], minlength=n_c)
                   / np.bincount(cust[not_first], minlength=n_c).astype(np.float64))
    return entry, next_rate, overlap


def spend_columns(times: np.ndarray, spend: np.ndarray, quantity: np.ndarray,
                  customer_spend: float | np.ndarray, item_quantity: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """The [spend] features of pairs, one formula for the batch and the one-request paths.

    ``times``: orders of the customer holding the item (0: never bought); ``spend`` and
    ``quantity``: the customer's value and units of the item (NaN when never bought or
    without prices); ``customer_spend``: the customer's whole spend; ``item_quantity``:
    the item's median over its buyers of units per order. Items never bought get 0 (not
    NaN: a column that is NaN on every row of the never-bought ranker still moves
    LightGBM's column sampling, measured to shift that ranker's recall by +-0.003).
    """
    bought = times > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        per_order = np.where(bought, quantity / times, 0.0)
        return {"spend_share": np.where(bought, spend / customer_spend, 0.0),
                "quantity_per_order": per_order,
                "quantity_vs_item": np.where(bought, per_order / item_quantity, 0.0)}


def _buyers_between(d: LineData, t0: float, t1: float, n_items: int) -> np.ndarray:
    m = (d.time >= t0) & (d.time < t1) & (d.customer >= 0)
    key = np.unique(d.customer[m].astype(np.int64) * n_items + d.item[m])
    return np.bincount((key % n_items).astype(np.int64), minlength=n_items).astype(np.float64)


def _cooccurrence(d: LineData, n_items: int, n_neighbors: int) -> sp.csr_matrix:
    """Items x items: share of the orders holding X that also hold j (best per row, >= 2 orders)."""
    ou, oi = np.unique(d.order, return_inverse=True)
    Bo = sp.csr_matrix((np.ones(d.order.size, dtype=np.float32), (oi.ravel(), d.item)),
                       shape=(ou.size, n_items))
    Bo.sum_duplicates()
    Bo.data[:] = 1.0
    C = sp.csr_matrix(Bo.T @ Bo)
    n_x = C.diagonal().astype(np.float64)
    C.setdiag(0)
    C.eliminate_zeros()
    C.data[C.data < 2] = 0  # one shared order is anecdote, not evidence
    C.eliminate_zeros()
    rows = _row_of(C)
    C.data = (C.data / n_x[rows]).astype(np.float32)
    r, c = _top_per_row(C, n_neighbors)
    keep = _lookup(_keys(C), C.data.astype(np.float64), r * n_items + c, 0.0)
    return _csr(r, c, keep.astype(np.float32), (n_items, n_items))


def _row_max_product(L: sp.csr_matrix, M: sp.csr_matrix) -> sp.csr_matrix:
    """Per row r of ``L`` (binary), max over its items x of ``M[x, j]``, sparse."""
    rows = _row_of(L)
    x = L.indices
    starts = M.indptr[x]
    lens = M.indptr[x + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return sp.csr_matrix(L.shape, dtype=np.float32)
    offs = np.cumsum(lens) - lens
    pos = np.repeat(starts - offs, lens) + np.arange(total)
    r = np.repeat(rows, lens)
    j = M.indices[pos].astype(np.int64)
    v = M.data[pos]
    key = r * M.shape[1] + j
    order = np.argsort(key)  # one integer sort, then the max per key (6x a two-key lexsort)
    key, v = key[order], v[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    v = np.maximum.reduceat(v, first)
    key = key[first]
    return sp.csr_matrix((v, (key // M.shape[1], key % M.shape[1])), shape=(L.shape[0],
                                                                            M.shape[1]))


def _best_last_item(state: BlendState, mats: dict[str, sp.csr_matrix], u: np.ndarray,
                    inv: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """The last-basket item X with the highest conf(X -> j) per pair (-1 when none)."""
    L = mats.get("_last")
    if L is None:
        L = state.last_basket[u]
    M = state.conf
    rows = _row_of(L)
    x = L.indices.astype(np.int64)
    starts = M.indptr[x]
    lens = M.indptr[x + 1] - starts
    total = int(lens.sum())
    out = np.full(ci.size, -1, dtype=np.int64)
    if total == 0:
        return out
    offs = np.cumsum(lens) - lens
    pos = np.repeat(starts - offs, lens) + np.arange(total)
    r = np.repeat(rows, lens)
    src = np.repeat(x, lens)
    key = r * M.shape[1] + M.indices[pos].astype(np.int64)
    order = np.lexsort((src, -M.data[pos], key))
    key, src = key[order], src[order]
    first = np.r_[True, key[1:] != key[:-1]]
    key, src = key[first], src[first]
    q = inv.astype(np.int64) * M.shape[1] + ci
    at = np.minimum(np.searchsorted(key, q), key.size - 1)
    hit = key[at] == q
    out[hit] = src[at[hit]]
    return out


def _history_conf(state: BlendState, u: np.ndarray, inv: np.ndarray, ci: np.ndarray
                  ) -> np.ndarray:
    """Max over every item the customer ever bought of conf(X -> j) (0 when none)."""
    B = sp.csr_matrix(state.H[u])
    B.data[:] = 1.0
    m = _row_max_product(B, state.conf)
    m.sort_indices()
    return _lookup(_keys(m), m.data.astype(np.float64), inv.astype(np.int64) * state.n_items + ci,
                   0.0)


def _ease_over_top(binary: sp.csr_matrix, buyers: np.ndarray, n_neighbors: int,
                   max_items: int | None) -> sp.csr_matrix:
    """EASE neighbour weights over the ``max_items`` items with the most buyers (None: all).

    EASE inverts a dense items x items matrix (cubic in the items): above the budget
    it is fitted on the best-selling items' columns only, and its weights are put
    back at their item positions (the other items get no EASE weight).
    """
    n_i = binary.shape[1]
    if max_items is None or max_items >= n_i:
        return EASE(n_neighbors=n_neighbors,
                    regularization=_ease_lambda(binary)).fit(binary).neighbors_
    top = np.sort(np.argsort(-buyers, kind="stable")[:max(int(max_items), 1)])
    sub = sp.csr_matrix(binary[:, top])
    nb = EASE(n_neighbors=n_neighbors, regularization=_ease_lambda(sub)).fit(sub).neighbors_
    rows = np.repeat(top, np.diff(nb.indptr))
    return sp.csr_matrix((np.asarray(nb.data, dtype=np.float32),
                          (rows, top[np.asarray(nb.indices, dtype=np.int64)])),
                         shape=(n_i, n_i))


def _ease_lambda(X: sp.csr_matrix) -> float:
    """EASE's L2 weight scaled to the data: the mean item degree (at least 1).

    The EASE paper's best lambda grows with the number of interactions per item; a
    fixed constant over- or under-regularises shops of other sizes.
    """
    cols = np.diff(X.tocsc().indptr)
    bought = cols[cols > 0]
    return float(max(1.0, bought.mean() if bought.size else 1.0))
