"""Frequently bought together, live: a rule index for one fast call per request, and bundle ideas."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float, check_int, check_k
from upsell.bundles.itemsets import Itemsets
from upsell.bundles.rules import METRICS, Rules
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

__all__ = ["BasketRecommendation", "BundleRecommender", "Bundles", "suggest_bundles"]

_SCORE_METRICS = tuple(m for m in METRICS if m not in ("p_value", "p_adjusted"))


@dataclass(frozen=True, slots=True)
class BasketRecommendation:
    """Complementary items for one basket, best first, each with the rule that fired.

    Attributes
    ----------
    items : ndarray
        External ids of the recommended items.
    scores : ndarray of float64
        Metric value of the best rule recommending each item (non-increasing).
    antecedents : tuple of tuple
        For each item, the antecedent (external ids) of that rule: the reason.
    rules : ndarray of int64
        Position of that rule in the :class:`~upsell.bundles.Rules` the recommender was built from.

    Examples
    --------
    >>> rec = BasketRecommendation(items=np.array(["mug"]), scores=np.array([2.0]),
    ...                            antecedents=(("tea",),), rules=np.array([0]))
    >>> len(rec), rec.to_list()
    (1, [('mug', 2.0, ('tea',))])
    """

    items: np.ndarray
    scores: np.ndarray
    antecedents: tuple[tuple[Any, ...], ...]
    rules: np.ndarray

    def __len__(self) -> int:
        return int(self.items.size)

    def to_list(self) -> list[tuple[Any, float, tuple[Any, ...]]]:
        """``(item, score, antecedent)`` triples, best first."""
        return [(i, float(s), a) for i, s, a in
                zip(self.items.tolist(), self.scores.tolist(), self.antecedents, strict=True)]

    def to_pandas(self) -> Any:
        """One row per item: ``item``, ``score``, ``because`` (the antecedent)."""
        from upsell._extras import require

        pd = require("pandas", "BasketRecommendation.to_pandas")
        return pd.DataFrame({"item": self.items, "score": self.scores,
                             "because": list(self.antecedents)})

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        return html_table("BasketRecommendation", {
            "item": self.items, "score": self.scores, "because": self.antecedents,
        }, summary=f"{len(self):,} complementary item(s)")


class BundleRecommender:
    """Recommend complements of a basket from association rules, in microseconds.

    Every rule whose antecedent lies inside the basket fires; each consequent item
    not in the basket is scored by the best ``metric`` among the rules recommending
    it. Rules are indexed by antecedent (a tuple of sorted item indices), and a
    request walks only the basket subsets that are prefixes of some antecedent, so
    a call never scans the rule list. The object is read-only after construction
    and safe to share between threads.

    Parameters
    ----------
    rules : Rules
        From :func:`~upsell.bundles.association_rules`.
    metric : str, default "lift"
        Score of a rule: any metric of :data:`~upsell.bundles.METRICS` except the p-values.

    Examples
    --------
    >>> from upsell import Transactions
    >>> from upsell.bundles import association_rules, frequent_itemsets
    >>> tx = Transactions.from_arrays(order=[1, 1, 1, 2, 2, 3, 3],
    ...                               item=["tea", "mug", "cake", "tea", "mug", "tea", "cake"])
    >>> rules = association_rules(frequent_itemsets(tx, min_support=2), min_confidence=0.5)
    >>> rec = BundleRecommender(rules, metric="confidence").recommend(basket=["tea"], k=2)
    >>> rec.to_list()
    [('cake', 0.6666666666666666, ('tea',)), ('mug', 0.6666666666666666, ('tea',))]
    """

    def __init__(self, rules: Rules, *, metric: str = "lift") -> None:
        if not isinstance(rules, Rules):
            raise UpsellDataError(f"`rules` must be Rules; got {type(rules).__name__}")
        self.metric = check_choice(metric, "metric", _SCORE_METRICS)
        self.items = rules.items
        score = np.asarray(getattr(rules, self.metric), dtype=np.float64)
        self._build(rules.antecedent_indptr, rules.antecedent_index, rules.consequent_indptr,
                    rules.consequent_index, score)

    def _build(self, a_ptr: np.ndarray, a_idx: np.ndarray, c_ptr: np.ndarray,
               c_idx: np.ndarray, score: np.ndarray) -> None:
        self._a_ptr, self._a_idx = a_ptr.astype(np.int64), a_idx.astype(np.int32)
        self._c_ptr, self._c_idx = c_ptr.astype(np.int64), c_idx.astype(np.int32)
        # an undefined metric (NaN) ranks below every defined one
        self._score = np.where(np.isnan(score), -np.inf, score).astype(np.float64)
        a = a_idx.tolist()
        ap = a_ptr.tolist()
        c = c_idx.tolist()
        cp = c_ptr.tolist()
        s = self._score.tolist()
        groups: dict[tuple[int, ...], list[tuple[float, int, int]]] = {}
        prefixes: set[tuple[int, ...]] = set()
        for r in range(len(ap) - 1):
            ante = tuple(a[ap[r]:ap[r + 1]])
            for j in range(1, len(ante)):
                prefixes.add(ante[:j])
            bucket = groups.setdefault(ante, [])
            for item in c[cp[r]:cp[r + 1]]:
                bucket.append((s[r], item, r))
        for bucket in groups.values():
            bucket.sort(key=lambda e: (-e[0], e[1]))
        self._index = {ante: tuple(b) for ante, b in groups.items()}
        self._prefixes = frozenset(prefixes)
        self._max_len = max((len(a) for a in groups), default=0)

    def __repr__(self) -> str:
        return (f"BundleRecommender(metric={self.metric!r}, rules={self._score.size:,}, "
                f"antecedents={len(self._index):,})")

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (``metric``)."""
        return {"metric": self.metric}

    def recommend(self, basket: Any, *, k: int = 5, exclude: Any = None) -> BasketRecommendation:
        """Complementary items for one basket, best first.

        Parameters
        ----------
        basket : sequence of item ids
            Items in the basket; ids unknown to the rules are ignored.
        k : int, default 5
            At most this many items.
        exclude : sequence of item ids, optional
            Items never to recommend (out of stock, already offered, ...).

        Returns
        -------
        BasketRecommendation
            Never holds basket or excluded items; scores are non-increasing
            (ties by item index); fewer than ``k`` items when fewer rules fire.

        Examples
        --------
        >>> from upsell import Transactions
        >>> from upsell.bundles import association_rules, frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["a", "b", "a", "b"])
        >>> rec = BundleRecommender(association_rules(frequent_itemsets(tx, min_support=1)))
        >>> rec.recommend(basket=["a"]).items.tolist(), len(rec.recommend(["a"], exclude=["b"]))
        (['b'], 0)
        """
        k = check_k(k)
        held = sorted(set(self.items.encode(_as_list(basket), unknown="skip").tolist()))
        banned = set(held)
        if exclude is not None:
            banned.update(self.items.encode(_as_list(exclude), unknown="skip").tolist())
        best: dict[int, tuple[float, int]] = {}
        index, prefixes, max_len = self._index, self._prefixes, self._max_len
        # depth-first over basket subsets that are prefixes of some antecedent
        stack: list[tuple[tuple[int, ...], int]] = [((), 0)]
        while stack:
            prefix, start = stack.pop()
            for pos in range(start, len(held)):
                cand = (*prefix, held[pos])
                for score, item, rule in index.get(cand, ()):
                    if item in banned:
                        continue
                    old = best.get(item)
                    if old is None or score > old[0]:
                        best[item] = (score, rule)
                if len(cand) < max_len and cand in prefixes:
                    stack.append((cand, pos + 1))
        ranked = sorted(best.items(), key=lambda e: (-e[1][0], e[0]))[:k]
        idx = np.array([e[0] for e in ranked], dtype=np.int32)
        rules = np.array([e[1][1] for e in ranked], dtype=np.int64)
        ids = self.items.ids
        ants = tuple(tuple(ids[self._a_idx[self._a_ptr[r]:self._a_ptr[r + 1]]].tolist())
                     for r in rules.tolist())
        return BasketRecommendation(items=ids[idx], scores=np.array([e[1][0] for e in ranked],
                                                                     dtype=np.float64),
                                    antecedents=ants, rules=rules)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the recommender to one ``.npz`` file (arrays + JSON, no pickle), atomically.

        Examples
        --------
        >>> import os, tempfile
        >>> from upsell import Transactions
        >>> from upsell.bundles import association_rules, frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1], item=["a", "b"])
        >>> rec = BundleRecommender(association_rules(frequent_itemsets(tx, min_support=1)))
        >>> p = os.path.join(tempfile.mkdtemp(), "fbt.npz")
        >>> rec.save(p)
        >>> BundleRecommender.load(p).recommend(["a"]).items.tolist()
        ['b']
        """
        from upsell.persist import index_arrays, write_model  # local: not loaded by mining

        write_model(path, kind="BundleRecommender", params=self.get_params(),
                    arrays={"antecedent_indptr": self._a_ptr, "antecedent_index": self._a_idx,
                            "consequent_indptr": self._c_ptr, "consequent_index": self._c_idx,
                            "score": self._score, **index_arrays(self.items, "items")},
                    meta={})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False) -> BundleRecommender:
        """Read a recommender written by :meth:`save`.

        Parameters
        ----------
        path : path-like
        ids : sequence of IdIndex, optional
            Id maps already loaded; one equal to the saved item map is reused.
        verify : bool, default True
            Check the arrays' SHA-256 (False when the caller checked the file).
        mmap : bool, default False
            Memory-map the large arrays read-only (see :func:`upsell.persist.read_model`).

        Raises
        ------
        ModelFileError
            Missing, corrupted or foreign file.
        """
        from upsell.persist import index_from_arrays, read_model

        doc, arrays = read_model(path, kind="BundleRecommender", verify=verify, mmap=mmap)
        self = cls.__new__(cls)
        self.metric = check_choice(doc["params"].get("metric"), "metric", _SCORE_METRICS)
        self.items = index_from_arrays(arrays, "items", name="item", ids=ids,
                                       legacy=doc["meta"].get("items"))
        self._build(arrays["antecedent_indptr"], arrays["antecedent_index"],
                    arrays["consequent_indptr"], arrays["consequent_index"], arrays["score"])
        return self


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [values]
    return list(values)


@dataclass(frozen=True, slots=True)
class Bundles:
    """Candidate product bundles, best first.

    Attributes
    ----------
    items : tuple of tuple
        External ids of each bundle's items.
    count : ndarray of int64
        Baskets that already hold the whole bundle.
    support, lift : ndarray of float64
        ``count / N`` and the bundle's lift, ``s(S) / prod_i s(i)``.
    list_price : ndarray of float64
        Sum of the catalog prices of the items (NaN if a price is unknown).
    joint_revenue : ndarray of float64
        ``count * list_price``: revenue of the baskets that bought the whole bundle.

    Examples
    --------
    >>> b = Bundles(items=(("a", "b"),), count=np.array([3]), support=np.array([0.3]),
    ...             lift=np.array([2.0]), list_price=np.array([5.0]), joint_revenue=np.array([15.0]))
    >>> len(b), b.to_pandas().columns.tolist()[:3]
    (1, ['items', 'count', 'support'])
    """

    items: tuple[tuple[Any, ...], ...]
    count: np.ndarray
    support: np.ndarray
    lift: np.ndarray
    list_price: np.ndarray
    joint_revenue: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def to_pandas(self) -> Any:
        """One row per bundle: ``items``, ``count``, ``support``, ``lift``, ``list_price``, ``joint_revenue``."""
        from upsell._extras import require

        pd = require("pandas", "Bundles.to_pandas")
        return pd.DataFrame({"items": list(self.items), "count": self.count,
                             "support": self.support, "lift": self.lift,
                             "list_price": self.list_price, "joint_revenue": self.joint_revenue})

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        return html_table("Bundles", {
            "items": self.items, "count": self.count, "support": self.support,
            "lift": self.lift, "list_price": self.list_price,
            "joint_revenue": self.joint_revenue,
        }, summary=f"{len(self):,} candidate bundle(s)")


def suggest_bundles(itemsets: Itemsets, catalog: Catalog, *, sizes: tuple[int, ...] = (2, 3),
                    min_lift: float = 1.0, k: int = 20, rank_by: str = "lift") -> Bundles:
    """Candidate bundles of 2-3 items that customers already buy together, with list prices.

    Parameters
    ----------
    itemsets : Itemsets
        From :func:`~upsell.bundles.frequent_itemsets`.
    catalog : Catalog
        Prices (items it lacks get an unknown price).
    sizes : tuple of int, default (2, 3)
        Bundle sizes considered.
    min_lift : float, default 1.0
        Keep bundles bought together more often than independence predicts.
    k : int, default 20
        Number of bundles returned.
    rank_by : {"lift", "revenue"}, default "lift"
        Order by lift (ties by joint revenue) or by joint revenue (ties by lift).
        Bundles with an unknown price come last when ranking by revenue.

    Returns
    -------
    Bundles

    Notes
    -----
    For a bundle :math:`S`, lift is :math:`s(S) / \\prod_{i \\in S} s(i)`, the
    ratio of the observed joint support to the one expected under independence
    (Brin et al. 1997's dependence ratio); list price is :math:`\\sum_{i \\in S} p_i`
    and joint revenue :math:`n_S \\sum_{i \\in S} p_i`.

    Examples
    --------
    >>> from upsell import Catalog, Transactions
    >>> from upsell.bundles import frequent_itemsets
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3, 4], item=["a", "b", "a", "b", "a", "c"])
    >>> cat = Catalog.from_arrays(item=["a", "b", "c"], price=[2.0, 3.0, 1.0])
    >>> b = suggest_bundles(frequent_itemsets(tx, min_support=2), cat)
    >>> b.items, b.list_price.tolist(), b.joint_revenue.tolist()
    ((('a', 'b'),), [5.0], [10.0])
    """
    if not isinstance(itemsets, Itemsets):
        raise UpsellDataError(f"`itemsets` must be Itemsets; got {type(itemsets).__name__}")
    if not isinstance(catalog, Catalog):
        raise UpsellDataError(f"`catalog` must be a Catalog; got {type(catalog).__name__}")
    sizes = tuple(check_int(s, "sizes", minimum=2) for s in sizes)
    k = check_k(k)
    min_lift = check_float(min_lift, "min_lift", low=0)
    rank_by = check_choice(rank_by, "rank_by", ("lift", "revenue"))
    lat = itemsets.lattice
    price = catalog.align(itemsets.items).price
    n = lat.n_baskets
    mats: list[np.ndarray] = []
    cnts: list[np.ndarray] = []
    lifts: list[np.ndarray] = []
    prices: list[np.ndarray] = []
    for size in sorted(set(sizes)):
        if size > lat.depth:
            continue
        mat = lat.level_items(size)
        cnt = lat.counts[size - 1]
        lift = cnt / n / np.prod(lat.item_counts[mat] / n, axis=1)
        keep = lift >= min_lift
        mats.extend(list(mat[keep]))
        cnts.append(cnt[keep])
        lifts.append(lift[keep])
        prices.append(price[mat[keep]].sum(axis=1))
    count = np.concatenate(cnts) if cnts else np.empty(0, dtype=np.int64)
    lift = np.concatenate(lifts) if lifts else np.empty(0)
    list_price = np.concatenate(prices) if prices else np.empty(0)
    revenue = count * list_price
    rev_key = np.where(np.isnan(revenue), -np.inf, revenue)
    order = (np.lexsort((-rev_key, -lift)) if rank_by == "lift"
             else np.lexsort((-lift, -rev_key)))[:k]
    ids = itemsets.items.ids
    return Bundles(items=tuple(tuple(ids[mats[i]].tolist()) for i in order.tolist()),
                   count=count[order].astype(np.int64), support=count[order] / n,
                   lift=lift[order], list_price=list_price[order], joint_revenue=revenue[order])
