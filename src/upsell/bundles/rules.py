"""Association rules X => Y from frequent itemsets, with every usual metric and a significance test."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float, check_int
from upsell.bundles.itemsets import Itemsets
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

__all__ = ["METRICS", "Rules", "association_rules", "fisher_p_value", "rule_metrics"]

#: Metric columns of :class:`Rules`, in ``to_pandas`` order.
METRICS = ("support", "confidence", "coverage", "lift", "leverage", "conviction", "zhang",
           "jaccard", "certainty", "kulczynski", "p_value", "p_adjusted")

# metrics where smaller is better (Rules.top)
_ASCENDING = ("p_value", "p_adjusted")


@dataclass(frozen=True, slots=True)
class Rules:
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
    """

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

    def to_pandas(self) -> Any:
        """One row per rule: ``antecedent``, ``consequent`` (tuples of ids), ``count`` and every metric.

        Examples
        --------
        >>> from upsell import Transactions
        >>> from upsell.bundles import frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"])
        >>> df = association_rules(frequent_itemsets(tx, min_support=1)).to_pandas()
        >>> df.columns.tolist()[:5]
        ['antecedent', 'consequent', 'count', 'support', 'confidence']
        """
        from upsell._extras import require

        pd = require("pandas", "Rules.to_pandas")
        cols: dict[str, Any] = {
            "antecedent": self._tuples(self.antecedent_indptr, self.antecedent_index),
            "consequent": self._tuples(self.consequent_indptr, self.consequent_index),
            "count": self.count,
        }
        for m in METRICS:
            cols[m] = getattr(self, m)
        return pd.DataFrame(cols)

    def _repr_html_(self) -> str:
        from upsell._display import head, html_table

        rows = head(len(self))
        return html_table("Rules", {
            "antecedent": [self.antecedent(r) for r in rows],
            "consequent": [self.consequent(r) for r in rows],
            "support": self.support, "confidence": self.confidence, "lift": self.lift,
        }, n_rows=len(self), summary=f"{len(self):,} rules from {self.n_baskets:,} baskets")

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Draw the rules as points of support against confidence, coloured by lift with matplotlib; see :func:`upsell.report.plots.plot_rules`.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; default a new figure (pyplot is used only if already imported).
        **kwargs
            ``title`` and the other options of :func:`~upsell.report.plots.plot_rules`;
            the rest go to the matplotlib call that draws the data.

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        MissingExtraError
            If matplotlib (the ``plots`` extra) is not installed.

        Examples
        --------
        >>> ax = association_rules(itemsets).plot()  # doctest: +SKIP
        """
        from upsell.bundles.plots import plot_rules

        return plot_rules(self, ax=ax, **kwargs)


def _fraction(value: float) -> Fraction:
    # the decimal the user typed: 0.8 means 4/5, not the binary double just above it
    return Fraction(repr(float(value))).limit_denominator(10**9)


def _ratio_at_least(num: np.ndarray, den: np.ndarray, threshold: Fraction) -> np.ndarray:
    """``num / den >= threshold`` decided exactly (integer arithmetic near the boundary)."""
    t = float(threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    out = ratio >= t
    close = np.flatnonzero(np.abs(ratio - t) <= 1e-9 * max(abs(t), 1.0))
    if close.size == 0:
        return out
    p, q = threshold.numerator, threshold.denominator
    n_c, d_c = num[close], den[close]
    if int(np.abs(n_c).max()) * q < 2**62 and p * int(np.abs(d_c).max()) < 2**62:
        out[close] = n_c.astype(np.int64) * q >= p * d_c.astype(np.int64)
    else:  # products beyond int64: Python integers
        for i in close.tolist():
            out[i] = int(num[i]) * q >= p * int(den[i])
    return out


def _adjust(p: np.ndarray, method: str | None) -> np.ndarray:
    m = p.size
    if method is None or m == 0:
        return p.copy()
    # any sort does: equal p-values get equal adjusted ones (Holm's running max and BH's
    # running min end a run of ties on the same value), so their order cannot show; the
    # default sort is several times faster than the stable one
    order = np.argsort(p)
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate(ps * (m - np.arange(m)))
    else:  # Benjamini-Hochberg
        adj = np.minimum.accumulate((ps * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


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
    blocks: list[_Block] = []
    n_pruned = 0
    for k in range(min_len, top + 1):
        mat = lat.level_items(k)
        cxy = lat.counts[k - 1]
        combos = [cons for size in range(1, min(consequent_len, k - 1) + 1)
                  for cons in itertools.combinations(range(k), size)]
        rows_p: list[np.ndarray] = []
        combo_p: list[np.ndarray] = []
        cx_p: list[np.ndarray] = []
        cy_p: list[np.ndarray] = []
        for c, cons in enumerate(combos):
            ante = [j for j in range(k) if j not in cons]
            if cons == (k - 1,):
                cx_all = lat.counts[k - 2][lat.parents[k - 1].astype(np.int64)]
            else:
                cx_all = lat.count_of(mat[:, ante])
            rows = np.flatnonzero(_ratio_at_least(cxy, cx_all, conf_t))
            cx = cx_all[rows]
            del cx_all
            sub = mat[rows]
            cy = lat.count_of(sub[:, list(cons)])
            if lift_t is not None:
                ok = _ratio_at_least(cxy[rows] * n, cx * cy, lift_t)
                rows, cx, cy, sub = rows[ok], cx[ok], cy[ok], sub[ok]
            if prune and len(ante) >= 2:
                red = _redundant(lat, sub, ante, list(cons), cxy[rows], cx)
                n_pruned += int(red.sum())
                ok = ~red
                rows, cx, cy = rows[ok], cx[ok], cy[ok]
            rows_p.append(rows)
            combo_p.append(np.full(rows.size, c, dtype=np.int64))
            cx_p.append(cx)
            cy_p.append(cy)
        if not rows_p:
            continue
        rows = np.concatenate(rows_p)
        combo = np.concatenate(combo_p)
        # (itemset, consequent position) order: the order of the itemsets, then of the consequents
        order = _key_order(rows * len(combos) + combo, mat.shape[0] * len(combos))
        rows, combo = rows[order], combo[order]
        blocks.append(_Block(k, mat, combos, rows, combo, cxy[rows],
                             np.concatenate(cx_p)[order], np.concatenate(cy_p)[order]))
    cxy = _cat([b.cxy for b in blocks])
    cx = _cat([b.cx for b in blocks])
    cy = _cat([b.cy for b in blocks])
    eff_conf = float(min_confidence)
    if max_rules is not None and cxy.size > max_rules:
        conf = cxy / cx
        best = np.lexsort((np.arange(cxy.size), -cxy, -conf))[:max_rules]
        keep = np.zeros(cxy.size, dtype=bool)
        keep[best] = True
        eff_conf = float(conf[best].min())
        cxy, cx, cy = cxy[keep], cx[keep], cy[keep]
        at = 0
        for b in blocks:
            sel = keep[at:at + b.rows.size]
            at += b.rows.size
            b.rows, b.combo = b.rows[sel], b.combo[sel]
    a_flat, a_ptr = _assemble(blocks, antecedent=True)
    c_flat, c_ptr = _assemble(blocks, antecedent=False)
    del blocks
    metrics = rule_metrics(cxy, cx, cy, n)
    metrics["p_adjusted"] = _adjust(metrics["p_value"], p_adjust)
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


@dataclass
class _Block:
    """The rules of one itemset length: itemset rows and consequent positions (combos)."""

    k: int
    mat: np.ndarray
    combos: list[tuple[int, ...]]
    rows: np.ndarray
    combo: np.ndarray
    cxy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray


def _key_order(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """``argsort(keys)`` for distinct keys in ``[0, n_keys)``: a scatter when the range is small."""
    if n_keys > 16 * keys.size + 4096:
        return np.argsort(keys, kind="stable")
    slot = np.full(n_keys, -1, dtype=np.int64)
    slot[keys] = np.arange(keys.size, dtype=np.int64)
    return np.compress(slot >= 0, slot)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _redundant(lat: Any, sub: np.ndarray, ante: list[int], cons: list[int], cxy: np.ndarray,
               cx: np.ndarray) -> np.ndarray:
    """Rules with a more general rule (antecedent a non-empty proper subset) of >= confidence.

    ``sub`` holds the rules' itemsets (sorted item rows); ``ante`` / ``cons`` are
    column positions. Confidences compare exactly: ``n_SY n_X >= n_XY n_S``.
    """
    out = np.zeros(sub.shape[0], dtype=bool)
    for size in range(1, len(ante)):
        for part in itertools.combinations(ante, size):
            n_s = lat.count_of(sub[:, list(part)])
            n_sy = lat.count_of(sub[:, sorted((*part, *cons))])
            out |= n_sy * cx >= cxy * n_s
    return out


def _assemble(blocks: list[_Block], *, antecedent: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flat item indices and pointers of the antecedents (or consequents) of every rule."""
    flats: list[np.ndarray] = []
    lens: list[np.ndarray] = []
    for b in blocks:
        cols = [[j for j in range(b.k) if j not in cons] if antecedent else list(cons)
                for cons in b.combos]
        width = np.array([len(c) for c in cols], dtype=np.int64)
        start = np.zeros(width.size, dtype=np.int64)
        np.cumsum(width[:-1], out=start[1:])
        table = np.array([j for c in cols for j in c], dtype=np.int64)
        length = width[b.combo]
        total = int(length.sum())
        pos = _ranges(start[b.combo], length, total)
        # positions in the flattened itemset rows: one take instead of 2-d fancy indexing
        src = np.repeat(b.rows.astype(np.int64) * b.k, length)
        src += np.take(table, pos)
        flats.append(np.take(b.mat.reshape(-1), src))
        lens.append(length)
    length = _cat(lens)
    ptr = np.zeros(length.size + 1, dtype=np.int64)
    np.cumsum(length, out=ptr[1:])
    flat = np.concatenate(flats).astype(np.int32) if flats else np.empty(0, dtype=np.int32)
    return flat, ptr


def _ranges(start: np.ndarray, length: np.ndarray, total: int) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(start, length)])``; every ``n >= 1``."""
    if total == 0:
        return np.ones(0, dtype=np.int64)
    run_start = np.zeros(length.size, dtype=np.int64)
    np.cumsum(length[:-1], out=run_start[1:])
    # a repeat of each run's shift plus one arange (numpy's cumsum over ``total`` is slower)
    out = np.repeat(start - run_start, length)
    out += np.arange(total, dtype=np.int64)
    return out


def _take(flat: np.ndarray, ptr: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` of a CSR-like (flat, ptr) pair, vectorised."""
    lengths = (ptr[1:] - ptr[:-1])[idx]
    new_ptr = np.zeros(idx.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_ptr[1:])
    starts = np.repeat(ptr[:-1][idx] - new_ptr[:-1], lengths)
    pos = np.arange(int(new_ptr[-1]), dtype=np.int64) + starts
    return flat[pos], new_ptr


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


# ---------------------------------------------------------------- Fisher's exact test, vectorised
_LN_SQRT_2PI = 0.918938533204672741780329736406
# Loader's (2000) series for the Stirling-formula error, coefficients 1/12, 1/360, ...
_S0, _S1, _S2, _S3, _S4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
# terms of the tail sum evaluated per rule and pass: the first passes are short because
# most rules of interest sit far in the tail, where a few terms reach full precision
_TAIL_BLOCKS = (8, 16, 32, 64)
# rules per chunk of the p-value computation (bounds its temporaries to a few MB)
_P_CHUNK = 1 << 15
# rules per chunk of the other metrics
_METRIC_CHUNK = 1 << 18


def _stirlerr_table() -> np.ndarray:
    from scipy.special import gammaln

    n = np.arange(16, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = gammaln(n + 1) - (n + 0.5) * np.log(n) + n - _LN_SQRT_2PI
    out[0] = 0.0
    return np.asarray(out, dtype=np.float64)


_STIRL: list[np.ndarray] = []


def _stirlerr(n: np.ndarray) -> np.ndarray:
    """``log(n!) - log(sqrt(2 pi n) (n / e)^n)`` for integer-valued ``n >= 1`` (Loader 2000)."""
    if not _STIRL:
        _STIRL.append(_stirlerr_table())
    nn = n * n
    # Loader's series to the 1/n^9 term for every n > 15 (R stops earlier for large n
    # to save time; the extra terms only add precision); a table below
    series = (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / n
    small = n <= 15
    if small.any():
        series = np.where(small, _STIRL[0][np.minimum(n, 15).astype(np.intp)], series)
    return series


def _bd0(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x log(x / m) + m - x`` without cancellation (Loader 2000); ``x > 0``, ``m > 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(x / m) + m - x
    near = np.flatnonzero(np.abs(x - m) < 0.1 * (x + m))
    if near.size:
        xn, mn = x[near], m[near]
        v = (xn - mn) / (xn + mn)
        s = (xn - mn) * v
        ej = 2 * xn * v
        v = v * v
        for j in range(1, 1000):
            ej = ej * v
            s1 = s + ej / (2 * j + 1)
            if np.array_equal(s1, s):
                break
            s = s1
        out[near] = s
    return out


def _log_binom_pmf(x: np.ndarray, n: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Log binomial pmf in Loader's saddle-point form (as R's ``dbinom``); ``0 <= x <= n``."""
    out = np.empty_like(x)
    mid = (x > 0) & (x < n)
    xm, nm = x[mid], n[mid]
    lc = (_stirlerr(nm) - _stirlerr(xm) - _stirlerr(nm - xm)
          - _bd0(xm, nm * p[mid]) - _bd0(nm - xm, nm * q[mid]))
    out[mid] = lc - 0.5 * (2 * _LN_SQRT_2PI + np.log(xm) + np.log1p(-xm / nm))
    zero = x == 0
    pz, qz = p[zero], q[zero]
    out[zero] = n[zero] * np.where(pz < 0.5, np.log1p(-pz), np.log(qz))
    full = (x == n) & ~zero
    pf, qf = p[full], q[full]
    out[full] = n[full] * np.where(qf < 0.5, np.log1p(-qf), np.log(pf))
    return out


def _log_hypergeom_pmf(h: np.ndarray, good: np.ndarray, draws: np.ndarray, n: float
                       ) -> np.ndarray:
    """Log pmf of the hypergeometric distribution as a ratio of binomial pmfs (R's ``dhyper``)."""
    p = draws / n
    q = (n - draws) / n
    # the denominator's binomial sits at its mean (x = n p): both deviance terms vanish
    inner = (draws > 0) & (draws < n)
    nn = np.full(1, n)  # the same population for every rule: its Stirling term once
    d = draws[inner]
    log_den = np.zeros_like(h)
    log_den[inner] = (_stirlerr(nn) - _stirlerr(d) - _stirlerr(nn - d)
                      - 0.5 * (2 * _LN_SQRT_2PI + np.log(d) + np.log1p(-d / n)))
    return (_log_binom_pmf(h, good, p, q) + _log_binom_pmf(draws - h, n - good, p, q)
            - log_den)


def _tail_sum(start: np.ndarray, good: np.ndarray, draws: np.ndarray, n: float, upper: bool
              ) -> np.ndarray:
    """``sum_j pmf(start +- j) / pmf(start)`` over the tail away from the mode (terms <= 1)."""
    total = np.ones(start.size)
    last = np.ones(start.size)
    h = start.copy()
    # ratio of consecutive terms, (u - h)(v - h) / ((h + 1)(w + h)) for the upper tail and
    # h (w + h) / ((u - h)(v - h)) with shifted constants for the lower one
    if upper:
        u, v, w = good, draws, n - good - draws + 1
    else:
        u, v, w = good + 1, draws + 1, n - good - draws
    act = np.arange(start.size)
    sign = 1.0 if upper else -1.0
    for width in itertools.chain(_TAIL_BLOCKS, itertools.repeat(_TAIL_BLOCKS[-1])):
        if act.size == 0:
            break
        # one row per term, one column per rule: every numpy call runs along the rules
        # (rows of a few terms would cost a loop call each)
        hh = (np.arange(width, dtype=np.float64) * sign)[:, None] + h[act]
        a = u[act] - hh
        b = v[act] - hh
        a *= b
        np.add(hh, w[act], out=b)
        # denominators stay positive inside the support; numerators reach 0 at its end
        # (and the clip keeps every later term at 0)
        if upper:
            hh += 1.0
            hh *= b
            np.divide(a, hh, out=a)
        else:
            hh *= b
            np.divide(hh, a, out=a)
        np.maximum(a, 0.0, out=a)
        for j in range(1, width):  # the running product down the terms
            np.multiply(a[j - 1], a[j], out=a[j])
        a *= last[act]
        total[act] += _sum_rows(a)
        last[act] = a[-1]
        h[act] += sign * width
        act = act[last[act] > 1e-17 * total[act]]
    return total


def _sum_rows(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` for 8 to 128 rows (a multiple of 8), added in the order numpy adds a row.

    numpy sums a contiguous run of 8 to 128 values in 8 interleaved lanes, then pairs
    the lanes; done down the columns here, so the tail sums keep their last bit.
    """
    lanes = a[:8].copy()
    for i in range(8, a.shape[0], 8):
        lanes += a[i:i + 8]
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5])
                                                              + (lanes[6] + lanes[7]))


def fisher_p_value(n_xy: Any, n_x: Any, n_y: Any, n: int) -> np.ndarray:
    """One-sided Fisher exact test for positive association of ``X`` and ``Y``, vectorised.

    Parameters
    ----------
    n_xy, n_x, n_y : array-like of int
        Baskets holding both, ``X`` and ``Y``.
    n : int
        Number of baskets.

    Returns
    -------
    ndarray of float64
        :math:`P(H \\ge n_{XY})` for :math:`H` hypergeometric with population
        :math:`N`, :math:`n_Y` successes and :math:`n_X` draws, in [0, 1].

    Notes
    -----
    The probability of the first term is computed in log space with Loader's
    (2000) saddle-point form of the binomial (the algorithm of R's ``dhyper``,
    relative error near 1e-14 where :func:`scipy.special.gammaln` differences
    lose digits for large ``N``). The tail is then summed from there with the
    ratio of consecutive terms, all rules at once, in short passes: past the
    mode the terms fall, and a rule stops once its next term adds less than
    1e-17 of its sum. When ``n_xy`` lies at or below the mode the lower tail is
    summed instead and ``p = 1 - P(H < n_xy)``. Each rule's result depends only
    on its own counts (not on the other rules passed along).

    Examples
    --------
    >>> [f"{p:.6g}" for p in fisher_p_value([8, 2], [10, 10], [20, 20], 100)]
    ['2.37827e-05', '0.636951']
    >>> from scipy.stats import hypergeom
    >>> bool(np.isclose(fisher_p_value([3], [10], [20], 100)[0], hypergeom.sf(2, 100, 20, 10), rtol=1e-12))
    True
    """
    a = np.asarray(n_xy, dtype=np.int64).reshape(-1)
    draws = np.asarray(n_x, dtype=np.int64).reshape(-1)
    good = np.asarray(n_y, dtype=np.int64).reshape(-1)
    if not a.size == draws.size == good.size:
        raise UpsellDataError(f"`n_xy`, `n_x` and `n_y` must have the same length; got "
                              f"{a.size}, {draws.size} and {good.size}")
    out = np.empty(a.size, dtype=np.float64)
    # in chunks: the tail sums hold (rules x terms) temporaries
    for lo in range(0, a.size, _P_CHUNK):
        hi = lo + _P_CHUNK
        out[lo:hi] = _fisher(a[lo:hi], draws[lo:hi], good[lo:hi], n)
    return out


def _fisher(a: np.ndarray, draws: np.ndarray, good: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(a.size, dtype=np.float64)
    lo = np.maximum(0, draws + good - n)
    hi = np.minimum(draws, good)
    out[a <= lo] = 1.0
    out[a > hi] = 0.0
    inner = np.flatnonzero((a > lo) & (a <= hi))
    if inner.size == 0:
        return out
    nf = float(n)
    af = a[inner].astype(np.float64)
    dr = draws[inner].astype(np.float64)
    gd = good[inner].astype(np.float64)
    up = af > np.floor((dr + 1) * (gd + 1) / (nf + 2))
    start = np.where(up, af, af - 1)
    log_first = _log_hypergeom_pmf(start, gd, dr, nf)
    total = np.ones(inner.size)
    for upper in (True, False):
        rows = np.flatnonzero(up == upper)
        if rows.size:
            total[rows] = _tail_sum(start[rows], gd[rows], dr[rows], nf, upper)
    log_tail = log_first + np.log(total)
    out[inner] = np.where(up, np.exp(log_tail), -np.expm1(np.minimum(log_tail, 0.0)))
    return np.clip(out, 0.0, 1.0)
