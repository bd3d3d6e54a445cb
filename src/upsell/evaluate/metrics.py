"""Ranking, beyond-accuracy and business metrics @k.

Every metric is defined once, on a *top-k matrix* (one row per request, item
indices best first, ``-1`` for an empty slot) against a *relevance matrix* (a
CSR matrix with one row per request holding the items that request actually
bought). The plain functions over Python lists (:func:`precision_at_k` and
friends) encode their input into that form and call the same code, so the
list form and the vectorised form (:func:`per_request_at_k`,
:func:`metrics_at_k`) agree by construction.

Conventions shared by all metrics (each function's Notes give its formula):

* Only the first ``k`` entries of each list count; a shorter list is padded
  with empty slots, and precision still divides by ``k``.
* An item repeated in one list counts once, at its first position; later copies
  are empty slots.
* A request with no relevant item is *skipped* by every metric that compares
  with the relevant set (the mean runs over the other requests), because
  recall and NDCG are undefined for it; when no request is left the mean is NaN.
* The mean gives every request the same weight (a macro average).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._results import Recommendations
from upsell._validation import check_k, check_memory
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.evaluate._core import (  # public names re-exported: they are documented here
    DEFAULT_METRICS,  # noqa: F401
    GLOBAL_METRICS,  # noqa: F401
    LIST_METRICS,  # noqa: F401
    METRICS,
    PER_REQUEST_METRICS,  # noqa: F401
    RELEVANCE_METRICS,  # noqa: F401
    _Context,
    _dedupe,
    _nanmean,
    _per_request,
    check_metrics,  # noqa: F401
    item_popularity,
    metrics_at_k,
    per_request_at_k,
)
from upsell.exceptions import UpsellDataError

__all__ = [
    "METRICS",
    "catalog_coverage",
    "f1_at_k",
    "hit_rate_at_k",
    "intra_list_diversity",
    "item_popularity",
    "map_at_k",
    "margin_at_k",
    "metrics_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "per_request_at_k",
    "precision_at_k",
    "recall_at_k",
    "revenue_at_k",
]


# ---------------------------------------------------------------------------- list API
class _Encoded:
    """Lists of external ids turned into a top-k matrix and relevance CSR over local codes."""

    __slots__ = ("ids", "relevant", "top")

    def __init__(self, recommended: Any, relevant: Any, k: int) -> None:
        recs = _as_lists(recommended, "recommended")
        check_memory(8 * len(recs) * k, f"`k`={k} for {len(recs):,} lists (a top-k matrix)",
                     budget=_MAX_TOP_BYTES, hint="lower `k`")
        vocab: dict[Any, int] = {}
        top = np.full((len(recs), k), -1, dtype=np.int64)
        for r, lst in enumerate(recs):
            for j, item in enumerate(lst[:k]):
                top[r, j] = vocab.setdefault(_hashable(item, "recommended", r), len(vocab))
        if relevant is None:
            rel_lists: list[Any] = [()] * len(recs)
        else:
            rel_lists = _as_lists(relevant, "relevant")
            if len(rel_lists) != len(recs):
                raise UpsellDataError(
                    f"`recommended` and `relevant` must have one entry per request; got "
                    f"{len(recs)} and {len(rel_lists)}"
                )
        indptr = [0]
        indices: list[int] = []
        for r, s in enumerate(rel_lists):
            codes = {vocab.setdefault(_hashable(item, "relevant", r), len(vocab)) for item in s}
            indices.extend(sorted(codes))
            indptr.append(len(indices))
        n_items = max(len(vocab), 1)
        self.relevant = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.array(indices, dtype=np.int32),
             np.array(indptr, dtype=np.int64)), shape=(len(recs), n_items))
        self.top = _dedupe(top)
        ids = np.empty(len(vocab), dtype=object)
        ids[:] = list(vocab)
        self.ids = ids

#: Largest top-k matrix the list metrics build (bytes).
_MAX_TOP_BYTES = 2 * 2**30

def _hashable(item: Any, name: str, request: int) -> Any:
    """An item id, or an UpsellDataError naming the argument for lists, arrays and dicts."""
    try:
        hash(item)
    except TypeError:
        raise UpsellDataError(
            f"`{name}` entry {request} holds {type(item).__name__} {item!r}; items must be ids "
            f"(strings or integers)") from None
    return item

def _as_lists(value: Any, name: str) -> list[Sequence[Any]]:
    if isinstance(value, Recommendations):
        return list(value.lists())
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise UpsellDataError(
            f"`{name}` must be a list with one collection of items per request; got {value!r}"
        )
    out: list[Sequence[Any]] = []
    for pos, entry in enumerate(value):
        if isinstance(entry, (str, bytes)) or not isinstance(entry, Iterable):
            raise UpsellDataError(
                f"`{name}` must hold one collection of items per request; "
                f"entry {pos} is {entry!r}"
            )
        out.append(entry if isinstance(entry, Sequence) else list(entry))
    return out

def _list_metric(name: str, recommended: Any, relevant: Any, k: Any,
                 ctx_builder: Any = None) -> float:
    k = check_k(k)
    enc = _Encoded(recommended, relevant, k)
    ctx = ctx_builder(enc.ids) if ctx_builder is not None else _Context(len(enc.ids))
    return _nanmean(_per_request(enc.top, enc.relevant, k, (name,), ctx)[name])

def precision_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
                   k: int) -> float:
    """Mean share of the top-k slots holding a relevant item.

    Parameters
    ----------
    recommended : list of sequences
        Ranked item ids per request, best first.
    relevant : list of sets
        The items each request actually bought, aligned with ``recommended``.
    k : int
        List length.

    Returns
    -------
    float
        In [0, 1]; NaN when no request has a relevant item.

    Notes
    -----
    ``P@k = |top_k ∩ R| / k`` per request, averaged over requests with ``R``
    non-empty. Divides by ``k`` even when the list is shorter, as
    recommenders-team/recommenders and RecTools' ``Precision`` do, so a
    perfect ranking scores ``min(k, |R|) / k``.

    Examples
    --------
    >>> # request 1: hits b (1 of 3 slots); request 2: hits x, y (2 of 3)
    >>> round(precision_at_k([["a", "b", "c"], ["x", "y"]], [{"b"}, {"x", "y"}], k=3), 4)
    0.5
    """
    return _list_metric("precision", recommended, relevant, k)

def recall_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
                k: int) -> float:
    """Mean share of each request's relevant items found in its top k.

    Notes
    -----
    ``R@k = |top_k ∩ R| / |R|``, averaged over requests with ``R`` non-empty
    (requests with nothing relevant are skipped, not counted as 0). Same as
    recommenders' ``recall_at_k`` and RecTools' ``Recall``.

    Examples
    --------
    >>> # request 1: 1 of 2 relevant found; request 2: 1 of 1
    >>> recall_at_k([["a", "b"], ["x"]], [{"a", "z"}, {"x"}], k=2)
    0.75
    """
    return _list_metric("recall", recommended, relevant, k)

def f1_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
            k: int) -> float:
    """Mean per-request harmonic mean of precision@k and recall@k.

    Notes
    -----
    ``F1@k = 2 P R / (P + R) = 2 |top_k ∩ R| / (k + |R|)`` per request (0 when
    nothing is hit), then averaged, as RecTools' ``F1Beta`` with beta = 1
    does. This is not the harmonic mean of the mean precision and mean recall.

    Examples
    --------
    >>> # 2 * 1 / (2 + 2) = 0.5
    >>> f1_at_k([["a", "b"]], [{"a", "z"}], k=2)
    0.5
    """
    return _list_metric("f1", recommended, relevant, k)

def ndcg_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
              k: int) -> float:
    """Mean normalised discounted cumulative gain with binary relevance.

    Notes
    -----
    ``DCG@k = Σ_{i=1..k} rel_i / log2(i + 1)`` and ``NDCG@k = DCG@k / IDCG@k``
    with ``IDCG@k = Σ_{i=1..min(k, |R|)} 1 / log2(i + 1)``, the DCG of a list
    with every relevant item on top (Järvelin & Kekäläinen 2002). Matches
    recommenders' ``ndcg_at_k`` with binary relevance and RecTools' ``NDCG``
    with ``divide_by_achievable=True``; RecTools' default divides by the DCG of
    k hits, which caps NDCG below 1 when ``|R| < k``.

    Examples
    --------
    >>> # hit at rank 2 only; |R| = 1 so IDCG = 1: NDCG = 1/log2(3) = 0.6309
    >>> round(ndcg_at_k([["a", "b", "c"]], [{"b"}], k=3), 4)
    0.6309
    """
    return _list_metric("ndcg", recommended, relevant, k)

def map_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
             k: int) -> float:
    """Mean average precision at k.

    Notes
    -----
    ``AP@k = Σ_{i=1..k} P@i · rel_i / min(k, |R|)``, with ``P@i`` the
    precision of the first ``i`` items, averaged over requests with ``R``
    non-empty. The ``min(k, |R|)`` normaliser lets a perfect list score 1 and
    matches recommenders' ``map_at_k`` (and Spark's ``meanAveragePrecisionAt``);
    RecTools' ``MAP`` divides by ``|R|`` (or by ``k`` with ``divide_by_k``).

    Examples
    --------
    >>> # hits at ranks 1 and 3: (1/1 + 2/3) / min(3, 2) = 0.8333
    >>> round(map_at_k([["a", "b", "c"]], [{"a", "c"}], k=3), 4)
    0.8333
    """
    return _list_metric("map", recommended, relevant, k)

def mrr_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
             k: int) -> float:
    """Mean reciprocal rank of the first relevant item within the top k.

    Notes
    -----
    ``RR@k = 1 / rank`` of the first hit, 0 when the top k hold none;
    averaged over requests with ``R`` non-empty (RecTools' ``MRR``).

    Examples
    --------
    >>> # first hit at rank 2 -> 1/2; no hit -> 0; mean 0.25
    >>> mrr_at_k([["a", "b"], ["x"]], [{"b"}, {"y"}], k=2)
    0.25
    """
    return _list_metric("mrr", recommended, relevant, k)

def hit_rate_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
                  k: int) -> float:
    """Share of requests with at least one relevant item in their top k.

    Notes
    -----
    ``HR@k = 1[|top_k ∩ R| > 0]`` averaged over requests with ``R`` non-empty
    (RecTools' ``HitRate``).

    Examples
    --------
    >>> hit_rate_at_k([["a", "b"], ["x"], ["q"]], [{"b"}, {"y"}, set()], k=2)
    0.5
    """
    return _list_metric("hit_rate", recommended, relevant, k)

def _catalog_values(ids: np.ndarray, catalog: Any, column: str) -> np.ndarray:
    """Values of ``column`` for local ids from a Catalog or a mapping (unknown items: NaN/'')."""
    text = column == "category"
    if isinstance(catalog, Catalog):
        source = {"price": catalog.price, "margin": catalog.margin,
                  "category": catalog.category}[column]
        pos = _encode_mask(catalog.items, ids)
        fill: Any = "" if text else np.nan
        return np.array([source[p] if p >= 0 else fill for p in pos.tolist()],
                        dtype=str if text else np.float64)
    if isinstance(catalog, Mapping):
        if text:
            return np.array([str(catalog.get(i, "")) for i in ids.tolist()], dtype=str)
        return np.array([float(catalog.get(i, np.nan)) for i in ids.tolist()], dtype=np.float64)
    raise UpsellDataError(
        f"`catalog` must be a Catalog or a mapping from item to {column}; "
        f"got {type(catalog).__name__}"
    )

def _encode_mask(index: IdIndex, ids: np.ndarray) -> np.ndarray:
    if ids.size == 0:
        return np.empty(0, dtype=np.int32)
    want_int = index.kind == "int"
    ok = np.array([isinstance(v, (int, np.integer)) if want_int else isinstance(v, str)
                   for v in ids.tolist()], dtype=bool)
    out = np.full(ids.size, -1, dtype=np.int32)
    if ok.any():
        out[ok] = index.encode(list(ids[ok]), unknown="mask")
    return out

def revenue_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
                 k: int, catalog: Catalog | Mapping[Any, float]) -> float:
    """Mean list price of the relevant items a top-k list hits: the sales value it points at.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k`.
    catalog : Catalog or mapping of item to price
        Unknown or missing prices count as 0.

    Notes
    -----
    ``Revenue@k = Σ_{i ∈ top_k ∩ R} price_i`` per request, averaged over
    requests with ``R`` non-empty; in the catalog's currency. Neither
    recommenders nor RecTools defines it; it is precision weighted by price
    and not normalised (divide by the mean basket value for a share).

    Examples
    --------
    >>> prices = {"a": 10.0, "b": 4.0, "c": 1.0}
    >>> # request 1 hits a and b: 14; request 2 hits nothing: 0; mean 7
    >>> revenue_at_k([["a", "b"], ["c"]], [{"a", "b"}, {"a"}], k=2, catalog=prices)
    7.0
    """
    return _list_metric("revenue", recommended, relevant, k,
                        lambda ids: _Context(len(ids), price=np.nan_to_num(
                            _catalog_values(ids, catalog, "price"), nan=0.0)))

def margin_at_k(recommended: Sequence[Sequence[Any]], relevant: Sequence[Collection[Any]],
                k: int, catalog: Catalog | Mapping[Any, float]) -> float:
    """Mean margin (price - cost) of the relevant items a top-k list hits.

    Parameters
    ----------
    recommended, relevant, k
        As in :func:`precision_at_k`.
    catalog : Catalog or mapping of item to margin
        A Catalog gives ``price - cost``; a mapping gives each item's margin.
        Unknown margins count as 0.

    Notes
    -----
    ``Margin@k = Σ_{i ∈ top_k ∩ R} (price_i - cost_i)`` per request, averaged
    over requests with ``R`` non-empty.

    Examples
    --------
    >>> from upsell.data import Catalog
    >>> cat = Catalog.from_arrays(item=["a", "b"], price=[10.0, 4.0], cost=[6.0, 1.0])
    >>> # hits a (margin 4) and b (margin 3)
    >>> margin_at_k([["a", "b"]], [{"a", "b"}], k=2, catalog=cat)
    7.0
    """
    return _list_metric("margin", recommended, relevant, k,
                        lambda ids: _Context(len(ids), margin=np.nan_to_num(
                            _catalog_values(ids, catalog, "margin"), nan=0.0)))

def catalog_coverage(recommended: Sequence[Sequence[Any]], k: int,
                     catalog: int | Catalog | IdIndex | Collection[Any]) -> float:
    """Share of the catalog that appears in at least one top-k list.

    Parameters
    ----------
    recommended : list of sequences
        Ranked item ids per request.
    k : int
    catalog : int, Catalog, IdIndex or collection of items
        The catalog: its size (then every recommended item counts), or its
        items (then recommended items outside it are ignored).

    Notes
    -----
    ``coverage@k = |∪_u top_k(u)| / |I|`` (RecTools' ``CatalogCoverage`` with
    ``normalize=True``). A property of all lists together: it has no
    per-request value and no bootstrap interval in
    :func:`~upsell.evaluate.compare`.

    Examples
    --------
    >>> # a, b, c recommended out of 6 items
    >>> catalog_coverage([["a", "b"], ["b", "c"]], k=2, catalog=6)
    0.5
    """
    k = check_k(k)
    enc = _Encoded(recommended, None, k)
    used = enc.ids[np.unique(enc.top[enc.top >= 0])]
    if isinstance(catalog, bool):
        raise UpsellDataError(f"`catalog` must be a size or a collection of items; got {catalog!r}")
    if isinstance(catalog, (int, np.integer)):
        size = int(catalog)
        if size < max(len(used), 1):
            raise UpsellDataError(
                f"`catalog` size must be at least the {len(used)} distinct items recommended "
                f"(and positive); got {size}"
            )
        return float(len(used) / size)
    if isinstance(catalog, (Catalog, IdIndex)):
        index = catalog.items if isinstance(catalog, Catalog) else catalog
        n_in = int((_encode_mask(index, used) >= 0).sum())
        size = len(index)
    elif isinstance(catalog, Collection) and not isinstance(catalog, (str, bytes)):
        universe = set(catalog)
        n_in = sum(1 for i in used.tolist() if i in universe)
        size = len(universe)
    else:
        raise UpsellDataError(
            f"`catalog` must be a size or a collection of items; got {type(catalog).__name__}"
        )
    if size == 0:
        raise UpsellDataError("`catalog` holds no items")
    return float(n_in / size)

def novelty(recommended: Sequence[Sequence[Any]], k: int,
            popularity: Transactions | Mapping[Any, float]) -> float:
    """Mean self-information of the recommended items: how unexpected the lists are.

    Parameters
    ----------
    recommended : list of sequences
        Ranked item ids per request.
    k : int
    popularity : Transactions or mapping of item to probability
        The train data (``p(i)`` from :func:`item_popularity`: items unknown to
        it count as bought by one customer), or ``p(i)`` in (0, 1] per item
        (every recommended item must be in the mapping).

    Notes
    -----
    ``novelty@k = mean_{i ∈ top_k} -log2 p(i)`` per request, with ``p(i)`` the
    share of train customers who bought ``i``, averaged over non-empty lists
    (RecTools' ``MeanInvUserFreq``; Zhou et al. 2010, "mean self-information").
    Higher means less popular items; in bits.

    Examples
    --------
    >>> p = {"a": 0.5, "b": 0.25, "c": 0.125}
    >>> # list 1: (1 + 2) / 2 = 1.5 bits; list 2: 3 bits; mean 2.25
    >>> novelty([["a", "b"], ["c"]], k=2, popularity=p)
    2.25
    """
    k = check_k(k)
    enc = _Encoded(recommended, None, k)
    if isinstance(popularity, Transactions):
        train_items = popularity.items
        pos = _encode_mask(train_items, enc.ids)
        base = item_popularity(popularity)
        n_cust = int((np.diff(popularity.customer_items("binary").indptr) > 0).sum())
        fallback = 1.0 / max(n_cust, 1)
        p = np.where(pos >= 0, base[np.maximum(pos, 0)] if base.size else fallback, fallback)
    elif isinstance(popularity, Mapping):
        missing = [i for i in enc.ids.tolist() if i not in popularity]
        if missing:
            raise UpsellDataError(
                f"`popularity` has no probability for item {missing[0]!r}"
                + (f" ({len(missing)} items in all)" if len(missing) > 1 else "")
            )
        p = np.array([float(popularity[i]) for i in enc.ids.tolist()], dtype=np.float64)
    else:
        raise UpsellDataError(
            f"`popularity` must be Transactions or a mapping of item to probability; "
            f"got {type(popularity).__name__}"
        )
    ok = (p > 0) & (p <= 1)
    if not ok.all():
        raise UpsellDataError(f"`popularity` values must be in (0, 1]; got {p[~ok][0]!r}")
    ctx = _Context(len(enc.ids), info=-np.log2(p) if p.size else np.empty(0))
    return _nanmean(_per_request(enc.top, enc.relevant, k, ("novelty",), ctx)["novelty"])

def intra_list_diversity(recommended: Sequence[Sequence[Any]], k: int,
                         catalog: Catalog | Mapping[Any, str]) -> float:
    """Mean share of item pairs in a top-k list that belong to different categories.

    Parameters
    ----------
    recommended : list of sequences
        Ranked item ids per request.
    k : int
    catalog : Catalog or mapping of item to category
        Items without a category (unknown to the catalog, or "") share the
        category "".

    Notes
    -----
    ``ILD@k = 2 / (m (m - 1)) Σ_{i<j} 1[cat_i ≠ cat_j]`` per list of ``m``
    items (``m ≤ k``), the intra-list diversity of Ziegler et al. (2005) with
    the 0/1 category distance; averaged over lists with ``m ≥ 2``. RecTools'
    ``IntraListDiversity`` takes a general distance; this is that metric with
    a categorical one.

    Examples
    --------
    >>> cats = {"a": "tea", "b": "tea", "c": "mugs"}
    >>> # pairs (a,b) same, (a,c) and (b,c) differ: 2/3
    >>> round(intra_list_diversity([["a", "b", "c"]], k=3, catalog=cats), 4)
    0.6667
    """
    def build(ids: np.ndarray) -> _Context:
        cats = _catalog_values(ids, catalog, "category")
        _, codes = np.unique(cats, return_inverse=True)
        return _Context(len(ids), category=codes.reshape(-1).astype(np.int64))

    return _list_metric("diversity", recommended, None, k, build)
