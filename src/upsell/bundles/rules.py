"""Association rules X => Y from frequent itemsets, with every usual metric and a significance test."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._stats import adjust_p_values
from upsell._validation import check_choice, check_float, check_int
from upsell.bundles._fisher import _sum_rows, fisher_p_value
from upsell.bundles._rulegen import (
    _assemble,
    _cap,
    _cat,
    _fraction,
    _generate,
    _ratio_at_least,
    _take,
)
from upsell.bundles.itemsets import Itemsets
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

__all__ = ["METRICS", "Rules", "association_rules", "fisher_p_value", "rule_metrics"]

#: Metric columns of :class:`Rules`, in ``to_pandas`` order.
METRICS = ("support", "confidence", "coverage", "lift", "leverage", "conviction", "zhang",
           "jaccard", "certainty", "kulczynski", "p_value", "p_adjusted")

# moved to bundles._fisher and bundles._rulegen; still importable from here
_REEXPORTED = (_ratio_at_least, _sum_rows)

# rules per chunk of the metrics other than the p-value
_METRIC_CHUNK = 1 << 18

# metrics where smaller is better (Rules.top)
_ASCENDING = ("p_value", "p_adjusted")


@dataclass(frozen=True, slots=True)
class Rules(TableResult):
    """Association rules ``antecedent => consequent`` with their counts and metrics.

    Antecedents and consequents are stored flat like CSR matrices: rule ``r``
    has antecedent ``antecedent_index[antecedent_indptr[r]:antecedent_indptr[r + 1]]``
    (item indices into ``items``), likewise for the consequent.

    Attributes
    ----------
    items : IdIndex
    antecedent_indptr, antecedent_index, consequent_indptr, consequent_index : ndarray
    count : ndarray of int64
        Baskets holding antecedent and consequent, :math:`n_{XY}`.
    count_antecedent, count_consequent : ndarray of int64
        :math:`n_X` and :math:`n_Y`.
    n_baskets : int
        :math:`N`.
    support, confidence, coverage, lift, leverage, conviction, zhang, jaccard, certainty,
    kulczynski, p_value, p_adjusted : ndarray of float64
        See :func:`association_rules` for the formulas.
    min_support : float
        Effective minimum support of the itemsets the rules come from
        (``min_count / n_baskets``; NaN when unknown).
    min_confidence : float
        Effective minimum confidence: the one asked for, or, when ``max_rules`` cut
        the list, the confidence of the weakest rule kept (NaN when unknown).
    n_pruned : int
        Rules dropped as redundant (``prune=True``).

    Examples
    --------
    >>> from upsell import Transactions
    >>> from upsell.bundles import frequent_itemsets
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3], item=["a", "b", "a", "b", "a"])
    >>> rules = association_rules(frequent_itemsets(tx, min_support=2), min_confidence=0.9)
    >>> len(rules), rules.rule(0), float(rules.lift[0])
    (1, (('b',), ('a',)), 1.0)
    >>> rules.to_pandas().columns.tolist()[:5]
    ['antecedent', 'consequent', 'count', 'support', 'confidence']

    ``to_pandas()`` gives one row per rule (``antecedent``, ``consequent`` as tuples of
    ids, ``count`` and every metric of :data:`METRICS`); ``plot()`` draws support
    against confidence, coloured by lift (:func:`upsell.bundles.plots.plot_rules`).
    """

    _title = "Rules"
    _plot_function = "upsell.bundles.plots:plot_rules"

    items: IdIndex
    antecedent_indptr: np.ndarray
    antecedent_index: np.ndarray
    consequent_indptr: np.ndarray
    consequent_index: np.ndarray
    count: np.ndarray
    count_antecedent: np.ndarray
    count_consequent: np.ndarray
    n_baskets: int
    support: np.ndarray
    confidence: np.ndarray
    coverage: np.ndarray
    lift: np.ndarray
    leverage: np.ndarray
    conviction: np.ndarray
    zhang: np.ndarray
    jaccard: np.ndarray
    certainty: np.ndarray
    kulczynski: np.ndarray
    p_value: np.ndarray
    p_adjusted: np.ndarray
    min_support: float = float("nan")
    min_confidence: float = float("nan")
    n_pruned: int = 0

    def __len__(self) -> int:
        return int(self.count.size)

    def __repr__(self) -> str:
        return f"Rules(n={len(self):,}, n_baskets={self.n_baskets:,})"

    @property
    def lengths(self) -> np.ndarray:
        """Items per rule, ``|X| + |Y|`` (int64)."""
        return np.diff(self.antecedent_indptr) + np.diff(self.consequent_indptr)

    def antecedent(self, r: int) -> tuple[Any, ...]:
        """External ids of rule ``r``'s antecedent."""
        lo, hi = int(self.antecedent_indptr[r]), int(self.antecedent_indptr[r + 1])
        return tuple(self.items.ids[self.antecedent_index[lo:hi]].tolist())

    def consequent(self, r: int) -> tuple[Any, ...]:
        """External ids of rule ``r``'s consequent."""
        lo, hi = int(self.consequent_indptr[r]), int(self.consequent_indptr[r + 1])
        return tuple(self.items.ids[self.consequent_index[lo:hi]].tolist())

    def rule(self, r: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """``(antecedent, consequent)`` of rule ``r`` as tuples of external ids."""
        return self.antecedent(r), self.consequent(r)

    def metric(self, name: str) -> np.ndarray:
        """One metric column by name (one of :data:`METRICS`).

        Examples
        --------
        >>> from upsell import Transactions
        >>> from upsell.bundles import frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"])
        >>> association_rules(frequent_itemsets(tx, min_support=1), min_confidence=1).metric("lift")
        array([1.])
        """
        name = check_choice(name, "metric", METRICS)
        out: np.ndarray = getattr(self, name)
        return out

    def select(self, indices: Any) -> Rules:
        """The rules at positions ``indices`` (in that order), every column kept.

        Parameters
        ----------
        indices : array-like of int or bool
            Positions (negative ones count from the end) or a boolean mask of length ``len(self)``.

        Returns
        -------
        Rules
            ``p_adjusted`` is carried over, not adjusted again.

        Raises
        ------
        UpsellDataError
            For positions out of range or a mask of the wrong length.

        Examples
        --------
        >>> from upsell import Transactions
        >>> from upsell.bundles import frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"])
        >>> rules = association_rules(frequent_itemsets(tx, min_support=1), min_confidence=0)
        >>> [rules.select([1]).rule(0), len(rules.select(rules.lift > 5))]
        [(('a',), ('b',)), 0]
        """
        n = len(self)
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise UpsellDataError(f"a boolean `indices` mask must have length {n:,}; "
                                      f"got shape {idx.shape}")
            idx = np.flatnonzero(idx)
        elif idx.size == 0:
            idx = np.empty(0, dtype=np.int64)
        elif idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise UpsellDataError(f"`indices` must be a 1-d array of rule positions or a boolean "
                                  f"mask; got {idx.dtype} of shape {idx.shape}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx[(idx < -n) | (idx >= n)][0])
            raise UpsellDataError(f"`indices` holds position {bad} outside the {n:,} rules")
        idx = np.where(idx < 0, idx + n, idx)
        a_idx, a_ptr = _take(self.antecedent_index, self.antecedent_indptr, idx)
        c_idx, c_ptr = _take(self.consequent_index, self.consequent_indptr, idx)
        cols = {m: getattr(self, m)[idx] for m in METRICS}
        return replace(self, antecedent_indptr=a_ptr, antecedent_index=a_idx,
                       consequent_indptr=c_ptr, consequent_index=c_idx, count=self.count[idx],
                       count_antecedent=self.count_antecedent[idx],
                       count_consequent=self.count_consequent[idx], **cols)

    def itemset_keys(self) -> np.ndarray:
        """A group number per rule, equal for rules over the same item set ``X ∪ Y`` (int64).

        Examples
        --------
        >>> from upsell import Transactions
        >>> from upsell.bundles import frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"])
        >>> association_rules(frequent_itemsets(tx, min_support=1), min_confidence=0).itemset_keys().tolist()
        [0, 0]
        """
        n = len(self)
        out = np.empty(n, dtype=np.int64)
        if n == 0:
            return out
        lengths = self.lengths
        # the union, sorted, per rule; grouped by length so rows stack into matrices
        a_len = np.diff(self.antecedent_indptr)
        c_len = np.diff(self.consequent_indptr)
        offset = 0
        for size in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == size)
            a_flat, _ = _take(self.antecedent_index, self.antecedent_indptr, rows)
            c_flat, _ = _take(self.consequent_index, self.consequent_indptr, rows)
            owner = np.arange(rows.size, dtype=np.int64)
            flat = np.concatenate((a_flat, c_flat)).astype(np.int64)
            owner = np.concatenate((np.repeat(owner, a_len[rows]), np.repeat(owner, c_len[rows])))
            mat = flat[np.lexsort((flat, owner))].reshape(rows.size, size)
            order = np.lexsort(mat.T[::-1])
            new = np.ones(rows.size, dtype=bool)
            new[1:] = (mat[order[1:]] != mat[order[:-1]]).any(axis=1)
            group = np.empty(rows.size, dtype=np.int64)
            group[order] = np.cumsum(new) - 1
            out[rows] = group + offset
            offset += int(new.sum())
        return out

    def top(self, k: int = 10, *, by: str = "lift", distinct: bool = True,
            max_per_item: int | None = None) -> Rules:
        """The ``k`` best rules by one metric, optionally one per item set.

        Parameters
        ----------
        k : int, default 10
            At most this many rules.
        by : str, default "lift"
            A metric of :data:`METRICS`, or ``"count"``. Larger is better, except for
            ``p_value`` and ``p_adjusted`` (smaller is better). Undefined (NaN) values
            come last; ties keep the rules' order.
        distinct : bool, default True
            Keep at most one rule per item set ``X ∪ Y`` (its best one), so the table
            shows different ideas rather than permutations of one itemset
            (``{a, b} => c``, ``{a, c} => b``, ...).
        max_per_item : int, optional
            Each item in at most this many of the rules returned (a rule that would
            exceed it is passed over for the next best), so one product line cannot
            fill a table for people. None: no limit.

        Returns
        -------
        Rules
            Best first.

        Examples
        --------
        >>> from upsell import Transactions
        >>> from upsell.bundles import frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3], item=["a", "b", "a", "b", "a"])
        >>> rules = association_rules(frequent_itemsets(tx, min_support=1), min_confidence=0)
        >>> len(rules), len(rules.top(5)), rules.top(5).rule(0)
        (2, 1, (('b',), ('a',)))
        >>> len(rules.top(5, distinct=False, max_per_item=1))
        1
        """
        k = check_int(k, "k", minimum=1)
        by = check_choice(by, "by", (*METRICS, "count"))
        if not isinstance(distinct, bool):
            raise UpsellDataError(f"`distinct` must be True or False; got {distinct!r}")
        if max_per_item is not None:
            max_per_item = check_int(max_per_item, "max_per_item", minimum=1)
            # the best rules (one per item set) in order, then a greedy pass over a bounded
            # head of them (50 per rule asked for: enough for any table a person reads)
            ranked = self.top(min(len(self), max(50 * k, 1000)), by=by,
                              distinct=distinct) if len(self) else self
            ai, ap = ranked.antecedent_index.tolist(), ranked.antecedent_indptr.tolist()
            ci, cp = ranked.consequent_index.tolist(), ranked.consequent_indptr.tolist()
            uses: dict[int, int] = {}
            chosen: list[int] = []
            for r in range(len(ranked)):
                items = (*ai[ap[r]:ap[r + 1]], *ci[cp[r]:cp[r + 1]])
                if any(uses.get(i, 0) >= max_per_item for i in items):
                    continue
                for i in items:
                    uses[i] = uses.get(i, 0) + 1
                chosen.append(r)
                if len(chosen) == k:
                    break
            return ranked.select(np.asarray(chosen, dtype=np.int64))
        value = np.asarray(getattr(self, by), dtype=np.float64)
        key = value if by in _ASCENDING else -value
        key = np.where(np.isnan(key), np.inf, key)
        order = np.argsort(key, kind="stable")
        if distinct and order.size:
            # item sets of the best few rules first; widen until k distinct ones are found
            m = min(4 * k, order.size)
            while True:
                group = self.select(order[:m]).itemset_keys()
                _, first = np.unique(group, return_index=True)
                if first.size >= k or m == order.size:
                    order = order[:m][np.sort(first)]
                    break
                m = min(4 * m, order.size)
        return self.select(order[:k])

    def _tuples(self, ptr: np.ndarray, idx: np.ndarray) -> list[tuple[Any, ...]]:
        ids = self.items.ids[idx].tolist()
        p = ptr.tolist()
        return [tuple(ids[p[i]:p[i + 1]]) for i in range(len(self))]

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        if rows is None:
            cols: dict[str, Any] = {
                "antecedent": self._tuples(self.antecedent_indptr, self.antecedent_index),
                "consequent": self._tuples(self.consequent_indptr, self.consequent_index),
                "count": self.count,
            }
            for m in METRICS:
                cols[m] = getattr(self, m)
            return cols
        n = len(rows)
        return {"antecedent": [self.antecedent(r) for r in rows],
                "consequent": [self.consequent(r) for r in rows],
                "support": self.support[:n], "confidence": self.confidence[:n],
                "lift": self.lift[:n]}

    def _summary(self) -> str:
        return f"{len(self):,} rules from {self.n_baskets:,} baskets"


def _rule_args(min_confidence: Any, min_lift: Any, min_len: Any, max_len: Any,
               consequent_len: Any, p_adjust: Any, max_p: Any
               ) -> tuple[float, float | None, int, int | None, int, str | None, float | None]:
    """The checked arguments of :func:`association_rules` (shared with the Spark engine)."""
    min_confidence = check_float(min_confidence, "min_confidence", low=0, high=1)
    if min_lift is not None:
        min_lift = check_float(min_lift, "min_lift", low=0)
    min_len = check_int(min_len, "min_len", minimum=2)
    if max_len is not None:
        max_len = check_int(max_len, "max_len", minimum=min_len)
    consequent_len = check_int(consequent_len, "consequent_len", minimum=1)
    if p_adjust is not None:
        p_adjust = check_choice(p_adjust, "p_adjust", ("holm", "bh"))
    if max_p is not None:
        max_p = check_float(max_p, "max_p", low=0, high=1)
    return min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p


def association_rules(itemsets: Itemsets, *, min_confidence: float = 0.8,
                      min_lift: float | None = None, min_len: int = 2, max_len: int | None = None,
                      consequent_len: int = 1, p_adjust: str | None = "holm",
                      max_p: float | None = None, max_rules: int | None = None,
                      prune: bool = False) -> Rules:
    """Generate the rules ``X => Y`` from frequent itemsets and measure them.

    Every itemset :math:`Z` of ``min_len`` to ``max_len`` items gives the rules
    :math:`Z \\setminus Y \\Rightarrow Y` for each non-empty consequent
    :math:`Y \\subset Z` of at most ``consequent_len`` items (antecedents are
    never empty). A rule is kept when its confidence, and lift if asked, reach the
    thresholds, compared exactly on the integer counts.

    Parameters
    ----------
    itemsets : Itemsets
        From :func:`~upsell.bundles.frequent_itemsets` (any ``kind`` or
        ``min_len``: subset counts come from the full mining result it carries).
    min_confidence : float, default 0.8
        In [0, 1]. ``0.8`` keeps a rule with 8 of 10 (the decimal is taken as typed).
    min_lift : float, optional
        Keep rules with lift >= this.
    min_len, max_len : int
        Bounds on ``|X| + |Y|`` (arules' ``minlen``/``maxlen`` for rules); default 2 and none.
    consequent_len : int, default 1
        Largest consequent.
    p_adjust : {"holm", "bh", None}, default "holm"
        Multiple-testing adjustment of the Fisher p-values over the rules kept by
        the other criteria (the rules tested): Holm's step-down family-wise
        correction or Benjamini-Hochberg's false discovery rate.
    max_p : float, optional
        Keep only rules whose adjusted p-value is <= this.
    max_rules : int, optional
        A budget: when more rules pass the thresholds (and pruning), keep the
        ``max_rules`` of highest confidence (ties: higher count, then rule order).
        This raises the effective minimum confidence, recorded as
        ``Rules.min_confidence`` (the weakest confidence kept). Applied before
        the p-values, so ``max_p`` may leave fewer.
    prune : bool, default False
        Drop redundant rules by the *improvement* criterion of Bayardo, Agrawal
        & Gunopulos (2000): a rule :math:`X \\Rightarrow Y` is redundant when a
        more general rule :math:`X' \\Rightarrow Y` with the same consequent and a
        non-empty proper subset :math:`X' \\subset X` as antecedent has the same
        or a higher confidence (its improvement, the smallest
        :math:`c(X \\Rightarrow Y) - c(X' \\Rightarrow Y)`, is <= 0): the longer
        antecedent adds nothing. Decided exactly on the counts over every such
        subset (the general rule's itemset is frequent; with a confidence at least
        as high it passes ``min_confidence`` and ``min_lift`` too). With the same
        consequent, confidence and lift order rules alike, so "adds no lift" is
        the same test. The subset ``X' = {}`` (the consequent's base rate) is
        not used: use ``min_lift=1`` for that. The number dropped is
        ``Rules.n_pruned``; pruned rules are a subset of the unpruned ones.

    Returns
    -------
    Rules
        Ordered like the itemsets they come from, then by consequent.

    Raises
    ------
    UpsellDataError
        For malformed arguments.

    Notes
    -----
    With :math:`N` baskets, :math:`n_X`, :math:`n_Y`, :math:`n_{XY}` the counts of
    the antecedent, consequent and both, and :math:`s(\\cdot) = n_\\cdot / N`:

    - support :math:`s(XY)`; coverage :math:`s(X)`;
    - confidence :math:`c = n_{XY} / n_X`;
    - lift :math:`c / s(Y) = N n_{XY} / (n_X n_Y)`;
    - leverage :math:`s(XY) - s(X) s(Y)`;
    - conviction :math:`(1 - s(Y)) / (1 - c)` (infinite when :math:`c = 1`);
    - Zhang's metric :math:`(c - c') / \\max(c, c')` with
      :math:`c' = (n_Y - n_{XY}) / (N - n_X)` the confidence of :math:`\\neg X \\Rightarrow Y`
      (Zhang 2000), equal to leverage / max(s(XY)(1 - s(X)), s(X)(s(Y) - s(XY))); NaN when 0/0;
    - Jaccard :math:`n_{XY} / (n_X + n_Y - n_{XY})`;
    - certainty factor :math:`(c - s(Y)) / (1 - s(Y))` (Berzal et al. 2002; NaN when s(Y) = 1);
    - Kulczynski :math:`(n_{XY}/n_X + n_{XY}/n_Y) / 2`;
    - p-value of the one-sided Fisher exact test for positive association:
      :math:`P(H \\ge n_{XY})` for :math:`H` hypergeometric with population
      :math:`N`, :math:`n_Y` successes and :math:`n_X` draws (as arules'
      ``fishersExactTest``), computed vectorised by :func:`fisher_p_value` for
      the rules kept only.

    The rules are generated level by level with a fixed number of numpy calls
    per level and consequent position: no Python code runs per rule.

    Examples
    --------
    >>> from upsell import Transactions
    >>> from upsell.bundles import frequent_itemsets
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3, 4],
    ...                               item=["tea", "mug", "tea", "mug", "tea", "pen"])
    >>> rules = association_rules(frequent_itemsets(tx, min_support=2), min_confidence=0.5)
    >>> [rules.rule(r) for r in range(len(rules))]
    [(('tea',), ('mug',)), (('mug',), ('tea',))]
    >>> rules.confidence.round(3).tolist(), rules.lift.round(3).tolist()
    ([0.667, 1.0], [1.333, 1.333])
    >>> association_rules(frequent_itemsets(tx, min_support=2), min_confidence=0.5,
    ...                   max_rules=1).rule(0)
    (('mug',), ('tea',))
    """
    if not isinstance(itemsets, Itemsets):
        raise UpsellDataError(
            f"`itemsets` must be the Itemsets from frequent_itemsets; got {type(itemsets).__name__}")
    min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p = _rule_args(
        min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p)
    if max_rules is not None:
        max_rules = check_int(max_rules, "max_rules", minimum=1)
    if not isinstance(prune, (bool, np.bool_)):
        raise UpsellDataError(f"`prune` must be True or False; got {prune!r}")

    lat = itemsets.lattice
    n = lat.n_baskets
    conf_t = _fraction(min_confidence)
    lift_t = _fraction(min_lift) if min_lift is not None else None
    top = lat.depth if max_len is None else min(lat.depth, max_len)
    blocks, n_pruned = _generate(lat, min_len, top, consequent_len, conf_t, lift_t,
                                 bool(prune))
    cxy = _cat([b.cxy for b in blocks])
    cx = _cat([b.cx for b in blocks])
    cy = _cat([b.cy for b in blocks])
    eff_conf = float(min_confidence)
    if max_rules is not None and cxy.size > max_rules:
        keep, eff_conf = _cap(blocks, cxy, cx, max_rules)
        cxy, cx, cy = cxy[keep], cx[keep], cy[keep]
    a_flat, a_ptr = _assemble(blocks, antecedent=True)
    c_flat, c_ptr = _assemble(blocks, antecedent=False)
    del blocks
    metrics = rule_metrics(cxy, cx, cy, n)
    metrics["p_adjusted"] = adjust_p_values(metrics["p_value"], p_adjust)
    if max_p is not None:
        idx = np.flatnonzero(metrics["p_adjusted"] <= max_p)
        a_flat, a_ptr = _take(a_flat, a_ptr, idx)
        c_flat, c_ptr = _take(c_flat, c_ptr, idx)
        cxy, cx, cy = cxy[idx], cx[idx], cy[idx]
        metrics = {k: v[idx] for k, v in metrics.items()}
    return Rules(items=itemsets.items, antecedent_indptr=a_ptr, antecedent_index=a_flat,
                 consequent_indptr=c_ptr, consequent_index=c_flat, count=cxy,
                 count_antecedent=cx, count_consequent=cy, n_baskets=n, **metrics,
                 min_support=lat.min_count / n, min_confidence=eff_conf, n_pruned=n_pruned)


def rule_metrics(n_xy: np.ndarray, n_x: np.ndarray, n_y: np.ndarray, n: int
                 ) -> dict[str, np.ndarray]:
    """Every rule metric from the counts (vectorised); see :func:`association_rules` Notes.

    Parameters
    ----------
    n_xy, n_x, n_y : array-like of int
        Counts of antecedent and consequent together, antecedent, consequent.
    n : int
        Number of baskets.

    Returns
    -------
    dict of str to ndarray of float64
        Keys as :data:`METRICS` without ``p_adjusted``.

    Examples
    --------
    >>> m = rule_metrics(np.array([8]), np.array([10]), np.array([20]), 100)
    >>> float(m["confidence"][0]), float(m["lift"][0]), round(float(m["leverage"][0]), 4)
    (0.8, 4.0, 0.06)
    """
    n_xy, n_x, n_y = (np.asarray(v).reshape(-1) for v in (n_xy, n_x, n_y))
    size = n_xy.size
    out = {name: np.empty(size, dtype=np.float64) for name in METRICS[:-1]}
    # in chunks: each formula makes temporaries as long as its input
    for lo in range(0, size, _METRIC_CHUNK):
        hi = min(lo + _METRIC_CHUNK, size)
        part = _metrics(n_xy[lo:hi], n_x[lo:hi], n_y[lo:hi], n)
        for name, values in part.items():
            out[name][lo:hi] = values
    return out


def _metrics(n_xy: np.ndarray, n_x: np.ndarray, n_y: np.ndarray, n: int) -> dict[str, np.ndarray]:
    xy = np.asarray(n_xy, dtype=np.float64)
    x = np.asarray(n_x, dtype=np.float64)
    y = np.asarray(n_y, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_xy, s_x, s_y = xy / n, x / n, y / n
        conf = xy / x
        lift = xy * n / (x * y)
        lev = s_xy - s_x * s_y
        conv = np.where(xy == x, np.inf, x * (n - y) / (n * (x - xy)))
        denom = np.maximum(s_xy * (1 - s_x), s_x * (s_y - s_xy))
        zhang = np.where(denom > 0, lev / np.where(denom > 0, denom, 1.0), np.nan)
        jac = xy / (x + y - xy)
        cert = np.where(y < n, (conf - s_y) / np.where(y < n, 1 - s_y, 1.0), np.nan)
        kulc = (xy / x + xy / y) / 2
    p = fisher_p_value(n_xy, n_x, n_y, n) if xy.size else np.empty(0)
    return {"support": s_xy, "confidence": conf, "coverage": s_x, "lift": lift,
            "leverage": lev, "conviction": conv, "zhang": zhang, "jaccard": jac,
            "certainty": cert, "kulczynski": kulc, "p_value": p}
