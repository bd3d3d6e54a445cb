"""Association rules X => Y from frequent itemsets, with every usual metric and a significance test."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float, check_int
from upsell.bundles.itemsets import Itemsets
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

__all__ = ["METRICS", "Rules", "association_rules"]

#: Metric columns of :class:`Rules`, in ``to_pandas`` order.
METRICS = ("support", "confidence", "coverage", "lift", "leverage", "conviction", "zhang",
           "jaccard", "certainty", "kulczynski", "p_value", "p_adjusted")


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
        from upsell.report.plots import plot_rules

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
    p, q = threshold.numerator, threshold.denominator
    for i in close.tolist():
        out[i] = int(num[i]) * q >= p * int(den[i])
    return out


def _adjust(p: np.ndarray, method: str | None) -> np.ndarray:
    m = p.size
    if method is None or m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
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
                      max_p: float | None = None) -> Rules:
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
        the confidence and lift thresholds (the rules tested): Holm's step-down
        family-wise correction or Benjamini-Hochberg's false discovery rate.
    max_p : float, optional
        Keep only rules whose adjusted p-value is <= this.

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
      ``fishersExactTest``).

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
    """
    if not isinstance(itemsets, Itemsets):
        raise UpsellDataError(
            f"`itemsets` must be the Itemsets from frequent_itemsets; got {type(itemsets).__name__}")
    min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p = _rule_args(
        min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p)

    lat = itemsets.lattice
    n = lat.n_baskets
    conf_t = _fraction(min_confidence)
    lift_t = _fraction(min_lift) if min_lift is not None else None
    top = lat.depth if max_len is None else min(lat.depth, max_len)
    ant_parts: list[np.ndarray] = []
    con_parts: list[np.ndarray] = []
    cxy_parts: list[np.ndarray] = []
    cx_parts: list[np.ndarray] = []
    cy_parts: list[np.ndarray] = []
    sort_parts: list[np.ndarray] = []
    offset = 0
    for k in range(min_len, top + 1):
        mat = lat.level_items(k)
        cxy = lat.counts[k - 1]
        base = offset + np.arange(cxy.size, dtype=np.int64)
        offset += cxy.size
        combo_no = 0
        for size in range(1, min(consequent_len, k - 1) + 1):
            for cons in itertools.combinations(range(k), size):
                ante = [j for j in range(k) if j not in cons]
                a_mat, c_mat = mat[:, ante], mat[:, list(cons)]
                cx = (lat.parents[k - 1].astype(np.int64) if cons == (k - 1,) else None)
                cx = lat.counts[k - 2][cx] if cx is not None else lat.count_of(a_mat)
                cy = lat.count_of(c_mat)
                keep = _ratio_at_least(cxy, cx, conf_t)
                if lift_t is not None:
                    keep &= _ratio_at_least(cxy * n, cx * cy, lift_t)
                ant_parts.append(a_mat[keep])
                con_parts.append(c_mat[keep])
                cxy_parts.append(cxy[keep])
                cx_parts.append(cx[keep])
                cy_parts.append(cy[keep])
                sort_parts.append(base[keep] * 4096 + combo_no)
                combo_no += 1
    if sort_parts:
        order = np.argsort(np.concatenate(sort_parts), kind="stable")
        cxy = np.concatenate(cxy_parts)[order]
        cx = np.concatenate(cx_parts)[order]
        cy = np.concatenate(cy_parts)[order]
        a_len = np.concatenate([np.full(a.shape[0], a.shape[1]) for a in ant_parts])[order]
        c_len = np.concatenate([np.full(c.shape[0], c.shape[1]) for c in con_parts])[order]
        a_flat, a_ptr = _flatten(ant_parts, order, a_len)
        c_flat, c_ptr = _flatten(con_parts, order, c_len)
    else:
        cxy = cx = cy = np.empty(0, dtype=np.int64)
        a_flat = c_flat = np.empty(0, dtype=np.int32)
        a_ptr = c_ptr = np.zeros(1, dtype=np.int64)
    metrics = rule_metrics(cxy, cx, cy, n)
    metrics["p_adjusted"] = _adjust(metrics["p_value"], p_adjust)
    if max_p is not None:
        keep = metrics["p_adjusted"] <= max_p
        idx = np.flatnonzero(keep)
        a_flat, a_ptr = _take(a_flat, a_ptr, idx)
        c_flat, c_ptr = _take(c_flat, c_ptr, idx)
        cxy, cx, cy = cxy[idx], cx[idx], cy[idx]
        metrics = {k: v[idx] for k, v in metrics.items()}
    return Rules(items=itemsets.items, antecedent_indptr=a_ptr, antecedent_index=a_flat,
                 consequent_indptr=c_ptr, consequent_index=c_flat, count=cxy,
                 count_antecedent=cx, count_consequent=cy, n_baskets=n, **metrics)


def _flatten(parts: list[np.ndarray], order: np.ndarray, lengths: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    flat_unsorted = np.concatenate([p.reshape(-1) for p in parts]).astype(np.int32)
    ptr_unsorted = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(np.concatenate([np.full(p.shape[0], p.shape[1]) for p in parts]),
              out=ptr_unsorted[1:])
    flat, _ = _take(flat_unsorted, ptr_unsorted, order)
    return flat, ptr


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
    from scipy.stats import hypergeom

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
    p = (hypergeom.sf(np.asarray(n_xy) - 1, n, np.asarray(n_y), np.asarray(n_x))
         if xy.size else np.empty(0))
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    return {"support": s_xy, "confidence": conf, "coverage": s_x, "lift": lift,
            "leverage": lev, "conviction": conv, "zhang": zhang, "jaccard": jac,
            "certainty": cert, "kulczynski": kulc, "p_value": p}
