"""The metrics' one implementation: top-k matrices against relevance CSR matrices, per request and averaged.

:mod:`upsell.evaluate.metrics` documents the conventions and re-exports the public names;
:mod:`upsell.evaluate.compare` builds on the private ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._results import Recommendations
from upsell._validation import as_csr, as_transactions, check_choice, check_k
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

#: Metrics that compare each list with the request's relevant items.
RELEVANCE_METRICS = ("precision", "recall", "f1", "ndcg", "map", "mrr", "hit_rate",
                     "revenue", "margin")

#: Metrics of the lists alone, one value per request.
LIST_METRICS = ("novelty", "diversity")

#: Metrics of all lists together (one value, no per-request array).
GLOBAL_METRICS = ("coverage",)

#: Every metric name accepted by :func:`metrics_at_k` and :func:`~upsell.evaluate.compare`.
METRICS = (*RELEVANCE_METRICS, *LIST_METRICS, *GLOBAL_METRICS)

#: Per-request metrics: the ones that can be bootstrapped.
PER_REQUEST_METRICS = (*RELEVANCE_METRICS, *LIST_METRICS)

DEFAULT_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "coverage")

# ---------------------------------------------------------------------------- core
def _discounts(k: int) -> np.ndarray:
    """1 / log2(rank + 1) for ranks 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))

def _dedupe(top: np.ndarray) -> np.ndarray:
    """Clear (set to -1) every repeat of an item within a row, keeping its first position."""
    if top.shape[1] < 2:
        return top
    order = np.argsort(top, axis=1, kind="stable")
    srt = np.take_along_axis(top, order, axis=1)
    rep_sorted = np.zeros(top.shape, dtype=bool)
    rep_sorted[:, 1:] = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
    if not rep_sorted.any():
        return top
    rep = np.empty_like(rep_sorted)
    np.put_along_axis(rep, order, rep_sorted, axis=1)
    return np.where(rep, -1, top)

def _hits(top: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean (n, k): whether ``top[r, j]`` is among the stored items of row ``r``."""
    n, k = top.shape
    m = np.int64(max(relevant.shape[1], 1))
    counts = np.diff(relevant.indptr)
    keys = np.repeat(np.arange(n, dtype=np.int64), counts) * m + relevant.indices
    if keys.size == 0:
        return np.zeros((n, k), dtype=bool)
    # rows are sorted and column indices sorted within rows, so `keys` is sorted
    query = np.arange(n, dtype=np.int64)[:, None] * m + top
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return (keys[pos] == query) & (top >= 0)

def _category_pairs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: number of filled slots and number of slot pairs sharing a category code."""
    n = codes.shape[0]
    filled = codes >= 0
    length = filled.sum(axis=1)
    rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], codes.shape)[filled]
    n_cat = np.int64(max(int(codes.max()) + 1 if codes.size else 1, 1))
    keys = rows * n_cat + codes[filled]
    uniq, cnt = np.unique(keys, return_counts=True)
    same = np.bincount(uniq // n_cat, weights=cnt * (cnt - 1) / 2.0, minlength=n)
    return length, same

class _Context:
    """Item-level side data a metric may need, aligned with the item indices of ``top``."""

    __slots__ = ("category", "info", "margin", "n_items", "price")

    def __init__(self, n_items: int, *, price: np.ndarray | None = None,
                 margin: np.ndarray | None = None, category: np.ndarray | None = None,
                 info: np.ndarray | None = None) -> None:
        self.n_items = n_items
        self.price = price
        self.margin = margin
        self.category = category
        self.info = info

def _gather(values: np.ndarray, top: np.ndarray, fill: float) -> np.ndarray:
    """``values[top]`` with ``fill`` in empty slots."""
    out = np.full(top.shape, fill, dtype=values.dtype)
    filled = top >= 0
    out[filled] = values[top[filled]]
    return out

def _per_request(top: np.ndarray, relevant: sp.csr_matrix, k: int, names: Sequence[str],
                 ctx: _Context) -> dict[str, np.ndarray]:
    """The one definition of every per-request metric; ``top`` is deduplicated, width k.

    NaN marks a request the metric skips (see the module docstring).
    """
    out: dict[str, np.ndarray] = {}
    n_rel = np.diff(relevant.indptr).astype(np.float64)
    has_rel = n_rel > 0
    need_hits = any(m in RELEVANCE_METRICS for m in names)
    hits = _hits(top, relevant) if need_hits else np.zeros(top.shape, dtype=bool)
    nh = hits.sum(axis=1).astype(np.float64)
    safe_rel = np.where(has_rel, n_rel, 1.0)

    def skip(values: np.ndarray) -> np.ndarray:
        return np.where(has_rel, values, np.nan)

    filled = top >= 0
    for name in names:
        if name == "precision":
            out[name] = skip(nh / k)
        elif name == "recall":
            out[name] = skip(nh / safe_rel)
        elif name == "f1":
            # 2PR / (P + R) with P = h/k and R = h/|R| simplifies to 2h / (k + |R|)
            out[name] = skip(2.0 * nh / (k + n_rel))
        elif name == "ndcg":
            disc = _discounts(k)
            ideal = np.concatenate(([1.0], np.cumsum(disc)))
            dcg = hits @ disc
            out[name] = skip(np.asarray(dcg / ideal[np.minimum(k, n_rel).astype(np.int64)]))
        elif name == "map":
            ranks = np.arange(1, k + 1, dtype=np.float64)
            prec_at = np.cumsum(hits, axis=1) / ranks
            ap = (prec_at * hits).sum(axis=1) / np.maximum(np.minimum(k, n_rel), 1.0)
            out[name] = skip(ap)
        elif name == "mrr":
            first = np.argmax(hits, axis=1)
            out[name] = skip(np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0))
        elif name == "hit_rate":
            out[name] = skip(np.asarray(hits.any(axis=1), dtype=np.float64))
        elif name in ("revenue", "margin"):
            value = ctx.price if name == "revenue" else ctx.margin
            assert value is not None
            out[name] = skip(np.where(hits, _gather(value, top, 0.0), 0.0).sum(axis=1))
        elif name == "novelty":
            assert ctx.info is not None
            length = filled.sum(axis=1)
            total = _gather(ctx.info, top, 0.0).sum(axis=1)
            out[name] = np.where(length > 0, total / np.maximum(length, 1), np.nan)
        elif name == "diversity":
            assert ctx.category is not None
            codes = _gather(ctx.category, top, -1)
            length, same = _category_pairs(codes)
            pairs = length * (length - 1) / 2.0
            out[name] = np.where(length > 1, 1.0 - same / np.maximum(pairs, 1.0), np.nan)
        else:  # pragma: no cover - names are validated at the entry points
            raise AssertionError(name)
    return out

def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries; NaN (without a warning) when there are none."""
    ok = ~np.isnan(values)
    n = int(ok.sum())
    return float(values[ok].sum() / n) if n else math.nan

def _coverage(top: np.ndarray, n_items: int) -> float:
    if n_items <= 0:
        return math.nan
    seen = np.zeros(n_items, dtype=bool)
    valid = top[top >= 0]
    seen[valid[valid < n_items]] = True
    return float(seen.sum() / n_items)

# ---------------------------------------------------------------------------- validation
def check_metrics(metrics: Any, name: str = "metrics") -> tuple[str, ...]:
    """Return metric names as a tuple, each checked against :data:`METRICS`.

    Examples
    --------
    >>> check_metrics(["ndcg", "recall"])
    ('ndcg', 'recall')
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    try:
        out = tuple(metrics)
    except TypeError:
        raise UpsellDataError(f"`{name}` must be a list of metric names; got {metrics!r}") from None
    if not out:
        raise UpsellDataError(f"`{name}` must name at least one metric; got {metrics!r}")
    for m in out:
        check_choice(m, name, METRICS)
    if len(set(out)) != len(out):
        raise UpsellDataError(f"`{name}` names a metric twice; got {list(out)!r}")
    return out

def _top_matrix(recommended: Any, k: int) -> np.ndarray:
    """Top-k int64 matrix (-1 = empty slot) from Recommendations or an int matrix."""
    if isinstance(recommended, Recommendations):
        counts = np.minimum(np.diff(recommended.indptr), k)
        n = len(recommended)
        top = np.full((n, k), -1, dtype=np.int64)
        rows = np.repeat(np.arange(n), counts)
        starts = recommended.indptr[:-1]
        pos = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        top[rows, pos] = recommended.item_index[np.repeat(starts, counts) + pos]
    else:
        arr = np.asarray(recommended)
        if arr.ndim != 2 or (arr.size and arr.dtype.kind not in "iu"):
            raise UpsellDataError(
                f"`recommended` must be Recommendations or a 2-d integer array of item indices; "
                f"got {type(recommended).__name__} with shape {getattr(arr, 'shape', None)} "
                f"and dtype {getattr(arr, 'dtype', None)}"
            )
        top = np.full((arr.shape[0], k), -1, dtype=np.int64)
        width = min(k, arr.shape[1])
        top[:, :width] = arr[:, :width]
        top[top < 0] = -1
    return _dedupe(top)

def _relevance(relevant: Any, n_rows: int) -> sp.csr_matrix:
    rel = as_csr(relevant, "relevant")
    if rel.shape[0] != n_rows:
        raise UpsellDataError(
            f"`relevant` must have one row per request ({n_rows}); got shape {rel.shape}"
        )
    return rel

def _context(names: Sequence[str], n_items: int, items: IdIndex | None,
             catalog: Catalog | None, popularity: Any) -> _Context:
    ctx = _Context(n_items)
    wants_cat = [m for m in names if m in ("revenue", "margin", "diversity")]
    if wants_cat:
        if catalog is None:
            raise UpsellDataError(
                f"metric {wants_cat[0]!r} needs a `catalog` (prices, costs, categories); got None"
            )
        if not isinstance(catalog, Catalog):
            raise UpsellDataError(f"`catalog` must be a Catalog; got {type(catalog).__name__}")
        if items is not None and catalog.items != items:
            catalog = catalog.align(items)
        if len(catalog) != n_items:
            raise UpsellDataError(
                f"`catalog` has {len(catalog)} items but the item indices cover {n_items}; "
                f"align it with catalog.align(items)"
            )
        ctx.price = np.nan_to_num(catalog.price, nan=0.0)
        ctx.margin = np.nan_to_num(catalog.margin, nan=0.0)
        _, codes = np.unique(catalog.category, return_inverse=True)
        ctx.category = codes.reshape(-1).astype(np.int64)
    if "novelty" in names:
        if popularity is None:
            raise UpsellDataError(
                "metric 'novelty' needs `popularity` (see item_popularity(train)); got None"
            )
        pop = np.asarray(popularity, dtype=np.float64)
        if pop.shape != (n_items,):
            raise UpsellDataError(
                f"`popularity` must have one value per item ({n_items}); got shape {pop.shape}"
            )
        if not np.all((pop > 0) & (pop <= 1)):
            bad = pop[~((pop > 0) & (pop <= 1))][0]
            raise UpsellDataError(f"`popularity` values must be in (0, 1]; got {bad!r}")
        ctx.info = -np.log2(pop)
    return ctx

# ---------------------------------------------------------------------------- vectorised API
def per_request_at_k(recommended: Recommendations | np.ndarray, relevant: Any, k: int, *,
                     metrics: Sequence[str] = DEFAULT_METRICS[:-1],
                     catalog: Catalog | None = None,
                     popularity: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-request values of per-request metrics, vectorised over many requests.

    Parameters
    ----------
    recommended : Recommendations or ndarray of int, shape (n, width)
        Ranked item indices per request, best first; ``-1`` marks an empty slot.
        Only the first ``k`` of each row count.
    relevant : scipy sparse matrix, shape (n, n_items)
        Row ``r`` holds the items request ``r`` actually bought (any stored value
        counts as relevant), in the item index space of ``recommended``
        (e.g. ``split.relevant[split.requests]``).
    k : int
        List length.
    metrics : sequence of str
        Any of "precision", "recall", "f1", "ndcg", "map", "mrr", "hit_rate",
        "revenue", "margin", "novelty", "diversity" ("coverage" is a property
        of all lists together: see :func:`metrics_at_k`).
    catalog : Catalog, optional
        Needed by "revenue", "margin" (price and price - cost; unknown values
        count as 0) and "diversity" (category). Re-aligned to the item index of a
        Recommendations; with a plain matrix it must have one row per column of
        ``relevant``, in that order.
    popularity : ndarray of float, shape (n_items,), optional
        Probability in (0, 1] that a train customer bought each item, for
        "novelty"; see :func:`item_popularity`.

    Returns
    -------
    dict of str to ndarray of float64, shape (n,)
        NaN where a metric skips the request: no relevant item (relevance
        metrics), an empty list ("novelty"), fewer than two items ("diversity").

    Notes
    -----
    The formulas are in the docstrings of the list functions
    (:func:`precision_at_k`, ...), which call the same code.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> top = np.array([[0, 1, 2], [2, 1, -1]])
    >>> rel = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0]]))
    >>> out = per_request_at_k(top, rel, 3, metrics=["precision", "hit_rate"])
    >>> out["precision"].round(3).tolist(), out["hit_rate"].tolist()
    ([0.333, nan], [1.0, nan])
    """
    names = check_metrics(metrics)
    if "coverage" in names:
        raise UpsellDataError(
            "`metrics` may not hold 'coverage' here: it has no per-request value; "
            "use metrics_at_k"
        )
    return _vectorised(recommended, relevant, k, names, catalog, popularity)[0]

def _vectorised(recommended: Any, relevant: Any, k: Any, names: Sequence[str],
                catalog: Catalog | None, popularity: Any
                ) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Validate once; return per-request values, the top-k matrix and the item count."""
    k = check_k(k)
    top = _top_matrix(recommended, k)
    rel = _relevance(relevant, top.shape[0])
    if top.size and top.max() >= rel.shape[1]:
        raise UpsellDataError(
            f"`recommended` holds item index {int(top.max())}; `relevant` has "
            f"{rel.shape[1]} columns (items)"
        )
    per = [m for m in names if m != "coverage"]
    items = recommended.items if isinstance(recommended, Recommendations) else None
    ctx = _context(per, rel.shape[1], items, catalog, popularity)
    return _per_request(top, rel, k, per, ctx), top, int(rel.shape[1])

def metrics_at_k(recommended: Recommendations | np.ndarray, relevant: Any, k: int, *,
                 metrics: Sequence[str] = DEFAULT_METRICS, catalog: Catalog | None = None,
                 popularity: np.ndarray | None = None) -> dict[str, float]:
    """Mean of each metric over requests, vectorised (the form for millions of requests).

    Same parameters as :func:`per_request_at_k`, plus "coverage": the share of
    the ``relevant.shape[1]`` items that appear in at least one top-k list.
    Each other value is the mean of the per-request values, skipping NaN.

    Returns
    -------
    dict of str to float

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> top = np.array([[0, 1], [2, 3]])
    >>> rel = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 1]]))
    >>> {m: round(v, 3) for m, v in metrics_at_k(top, rel, 2,
    ...                                           metrics=["precision", "mrr", "coverage"]).items()}
    {'precision': 0.5, 'mrr': 0.75, 'coverage': 1.0}
    """
    names = check_metrics(metrics)
    values, top, n_items = _vectorised(recommended, relevant, k, names, catalog, popularity)
    return {m: _coverage(top, n_items) if m == "coverage" else _nanmean(values[m])
            for m in names}

def item_popularity(train: Transactions, items: IdIndex | None = None) -> np.ndarray:
    """Share of train customers who bought each item, for :func:`novelty`.

    ``p(i) = max(c_i, 1) / N`` with ``c_i`` the number of customers who bought
    item ``i`` and ``N`` the number of customers with at least one purchase;
    an item nobody bought counts as bought once, so its self-information is
    the largest observable one, ``log2 N``, instead of infinity.

    Parameters
    ----------
    train : Transactions
        Needs a customer column.
    items : IdIndex, optional
        Item order of the result (default ``train.items``); items unknown to
        ``train`` get ``1 / N``.

    Returns
    -------
    ndarray of float64, shape (len(items),)

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
    ...                               customer=["x", "x", "y"])
    >>> item_popularity(tx).tolist()
    [1.0, 0.5]
    """
    as_transactions(train, "train")
    ci = train.customer_items("binary")
    counts = np.bincount(ci.indices, minlength=ci.shape[1]).astype(np.float64)
    n_customers = max(int((np.diff(ci.indptr) > 0).sum()), 1)
    if items is not None and items != train.items:
        pos = train.items.encode(items.ids, unknown="mask")
        counts = np.where(pos >= 0, counts[np.maximum(pos, 0)], 0.0)
    return np.maximum(counts, 1.0) / n_customers
