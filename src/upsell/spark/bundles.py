"""Frequent itemsets, association rules and purchase sequences on Spark."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float, check_int, support_count
from upsell.bundles.engine import Lattice
from upsell.bundles.engine import exact_fraction as _fraction
from upsell.bundles.engine import itemsets_from_lattice as _from_lattice
from upsell.bundles.engine import rule_args as _rule_args
from upsell.bundles.engine import sequence_window as _window
from upsell.bundles.itemsets import Itemsets
from upsell.bundles.rules import METRICS, Rules
from upsell.bundles.sequences import SequenceRules
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError
from upsell.spark._session import pyspark_modules
from upsell.spark.data import SparkTransactions

__all__ = ["SparkItemsets", "association_rules", "frequent_itemsets", "sequence_rules"]


def _check_stx(stx: Any, feature: str) -> SparkTransactions:
    if not isinstance(stx, SparkTransactions):
        raise UpsellDataError(
            f"{feature} needs SparkTransactions (from upsell.spark.from_spark); "
            f"got {type(stx).__name__}")
    return stx


@dataclass(frozen=True)
class SparkItemsets:
    """Frequent itemsets mined by Spark: the Spark table and the exact local result.

    Attributes
    ----------
    frame : pyspark.sql.DataFrame
        One row per frequent itemset: ``items`` (array of item ids, sorted like
        the local item index), ``count`` (long, exact) and ``length``.
    itemsets : Itemsets
        The same itemsets as the local :func:`~upsell.bundles.frequent_itemsets`
        returns (counts, order, ``kind``, ``min_len``), with the lattice that
        :func:`~upsell.bundles.association_rules` reads.
    item_counts : pyspark.sql.DataFrame
        ``item``, ``count``: baskets holding each item (frequent or not).

    Examples
    --------
    >>> fi = frequent_itemsets(stx, min_support=0.001, max_len=4)  # doctest: +SKIP
    >>> fi.itemsets.counts[:3]  # doctest: +SKIP
    array([ 8, 29, 15])
    >>> SparkItemsets.__name__
    'SparkItemsets'
    """

    frame: Any
    itemsets: Itemsets
    item_counts: Any

    @property
    def n_baskets(self) -> int:
        """Baskets mined."""
        return self.itemsets.n_baskets

    @property
    def items(self) -> IdIndex:
        """The item id map."""
        return self.itemsets.items

    def __len__(self) -> int:
        return len(self.itemsets)


def _lattice(levels: dict[int, tuple[np.ndarray, np.ndarray]], item_counts: np.ndarray,
             n_baskets: int, min_count: int) -> Lattice:
    """A prefix-tree lattice from the itemsets of every level (rows of sorted item indices)."""
    parents: list[np.ndarray] = []
    last: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    n_items = int(item_counts.size)
    for k in range(1, max(levels, default=0) + 1):
        mat, cnt = levels.get(k, (np.empty((0, k), dtype=np.int32), np.empty(0, dtype=np.int64)))
        if mat.shape[0] == 0:
            break
        order = np.lexsort(mat.T[::-1])
        mat, cnt = mat[order], cnt[order]
        if k == 1:
            parent = np.full(mat.shape[0], -1, dtype=np.int32)
        else:
            partial = Lattice(n_items=n_items, n_baskets=n_baskets, min_count=min_count,
                              parents=tuple(parents), last=tuple(last), counts=tuple(counts),
                              item_counts=item_counts, complete=True)
            parent_l = partial.lookup(mat[:, :-1])
            if (parent_l < 0).any():
                raise UpsellDataError("FPGrowth returned an itemset without its prefix; "
                                      "the mining result is not downward closed")
            parent = parent_l.astype(np.int32)
        parents.append(parent)
        last.append(mat[:, -1].astype(np.int32))
        counts.append(cnt.astype(np.int64))
    return Lattice(n_items=n_items, n_baskets=n_baskets, min_count=min_count,
                   parents=tuple(parents), last=tuple(last), counts=tuple(counts),
                   item_counts=item_counts, complete=True)


def frequent_itemsets(stx: SparkTransactions, *, min_support: float = 0.01, min_len: int = 1,
                      max_len: int | None = None, kind: str = "all",
                      num_partitions: int | None = None) -> SparkItemsets:
    """Mine frequent itemsets with Spark's FPGrowth, with exact counts and the local engine's result.

    Parameters
    ----------
    stx : SparkTransactions
        Orders are the baskets (lines with positive quantity), as :meth:`Transactions.baskets`.
    min_support : float or int, default 0.01
        A fraction in (0, 1] of the baskets or an absolute count, made a count
        exactly as the local engine does: ``ceil(min_support * n_baskets)``.
    min_len, max_len, kind
        As :func:`upsell.bundles.frequent_itemsets`.
    num_partitions : int, optional
        FPGrowth's ``numPartitions`` (default: the input's).

    Returns
    -------
    SparkItemsets
        ``.itemsets`` equals the local engine's :class:`~upsell.bundles.Itemsets`.

    Notes
    -----
    FPGrowth takes a fractional ``minSupport`` and keeps itemsets with
    ``count >= ceil(minSupport * n)``, computed in floating point: for 0.001 of
    9,835 baskets the product is 9.835000000000001, whose ceiling is 10, but
    other fractions land just above an integer and lose an itemset that sits
    exactly at the threshold. So the effective count ``c`` is computed exactly
    first, FPGrowth runs with ``minSupport = (c - 0.5) / n`` (whose ceiling is
    ``c`` whatever the rounding) and the result is filtered on ``count >= c``.
    FPGrowth has no length limit: ``max_len`` filters after mining, so a low
    support on long baskets costs what it costs without it.

    Examples
    --------
    >>> fi = frequent_itemsets(stx, min_support=0.001)  # doctest: +SKIP
    >>> fi.itemsets.min_count, len(fi)  # doctest: +SKIP
    (10, 13492)
    >>> frequent_itemsets(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: frequent_itemsets needs SparkTransactions (from upsell.spark.from_spark); got NoneType
    """
    stx = _check_stx(stx, "frequent_itemsets")
    F, _ = pyspark_modules("frequent_itemsets")
    from pyspark.ml.fpm import FPGrowth

    min_len = check_int(min_len, "min_len", minimum=1)
    if max_len is not None:
        max_len = check_int(max_len, "max_len", minimum=min_len)
    kind = check_choice(kind, "kind", ("all", "closed", "maximal"))
    items = stx.items
    n = stx.n_orders
    min_count = support_count(min_support, n)
    pos = stx.frame.where(F.col("quantity") > 0)
    baskets = pos.groupBy("order").agg(F.array_sort(F.collect_set("item")).alias("items"))
    item_counts = pos.select("order", "item").distinct().groupBy("item").count()
    fp = FPGrowth(itemsCol="items", minSupport=(min_count - 0.5) / n, minConfidence=1.0)
    if num_partitions is not None:
        fp = fp.setNumPartitions(check_int(num_partitions, "num_partitions", minimum=1))
    freq = (fp.fit(baskets).freqItemsets
            .select(F.array_sort("items").alias("items"), F.col("freq").alias("count"))
            .where(F.col("count") >= min_count)
            .withColumn("length", F.size("items")))
    if max_len is not None:
        freq = freq.where(F.col("length") <= max_len)
    freq = freq.persist()
    rows = freq.collect()
    ic = np.zeros(len(items), dtype=np.int64)
    ic_rows = item_counts.collect()
    if ic_rows:
        ids = [r[0] for r in ic_rows]
        ic[items.encode(ids)] = [int(r[1]) for r in ic_rows]
    levels: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    by_len: dict[int, list[Any]] = {}
    for r in rows:
        by_len.setdefault(int(r["length"]), []).append(r)
    for k, rs in by_len.items():
        flat = [x for r in rs for x in r["items"]]
        mat = items.encode(flat).astype(np.int32).reshape(len(rs), k)
        mat.sort(axis=1)
        levels[k] = (mat, np.array([int(r["count"]) for r in rs], dtype=np.int64))
    lat = _lattice(levels, ic, n, min_count)
    return SparkItemsets(frame=freq, itemsets=_from_lattice(lat, items, min_len=min_len, kind=kind),
                         item_counts=item_counts)


def _fisher_udf(F: Any, T: Any) -> Any:
    """Column function: one-sided Fisher p-value P(H >= n_xy), computed on the executors
    by :func:`upsell.bundles.fisher_p_value` (the local engine's function, so equal bits)."""
    def sf(xy: Any, n: Any, y: Any, x: Any) -> Any:
        from upsell.bundles import fisher_p_value

        xy, n, y, x = (np.atleast_1d(np.asarray(v)) for v in (xy, n, y, x))
        out = np.empty(xy.size, dtype=np.float64)
        for total in np.unique(n).tolist():
            at = np.flatnonzero(n == total)
            out[at] = fisher_p_value(xy[at], x[at], y[at], int(total))
        return out

    try:
        import pandas as pd  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:  # no Arrow: a row-at-a-time UDF gives the same numbers, slower
        return F.udf(lambda xy, n, y, x: float(sf(xy, n, y, x)[0]), T.DoubleType())

    # unannotated on purpose: pyspark reads annotations as pandas types, and the
    # module's postponed annotations would not resolve
    def batch(xy, n, y, x):
        import pandas as pd

        return pd.Series(sf(xy.to_numpy(), n.to_numpy(), y.to_numpy(), x.to_numpy()))

    with warnings.catch_warnings():
        # pyspark warns (FutureWarning) that it does not fully support pandas >= 3 each
        # time a pandas UDF is made; this one only moves int64 and float64 Series
        warnings.simplefilter("ignore", FutureWarning)
        return F.pandas_udf(batch, T.DoubleType())


def association_rules(itemsets: SparkItemsets, *, min_confidence: float = 0.8,
                      min_lift: float | None = None, min_len: int = 2, max_len: int | None = None,
                      consequent_len: int = 1, p_adjust: str | None = "holm",
                      max_p: float | None = None) -> Rules:
    """Generate and measure the rules ``X => Y`` in Spark; return the local :class:`~upsell.bundles.Rules`.

    The same rules, in the same order, with the same counts and bit-for-bit the
    same metrics as :func:`upsell.bundles.association_rules` on the same itemsets,
    ready for :class:`~upsell.bundles.BundleRecommender`.

    Parameters
    ----------
    itemsets : SparkItemsets
        From :func:`frequent_itemsets`.
    min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p
        As :func:`upsell.bundles.association_rules`.

    Returns
    -------
    Rules

    Notes
    -----
    Each frequent itemset is joined with the positions of its consequents (all
    subsets of up to ``consequent_len`` items; one small table), the antecedent
    and consequent counts come from joins with the itemset table, and the
    thresholds are applied on integer counts in decimal arithmetic (``n_xy q >=
    p n_x`` for a threshold ``p / q``), never on float ratios. Every metric is a
    Spark column with the local formula in the same operation order (IEEE
    doubles, so equal to the last bit); the Fisher p-value is
    :func:`upsell.bundles.fisher_p_value` in a vectorised UDF on the executors; the Holm and
    Benjamini-Hochberg adjustments are running maxima / minima over a window
    ordered by p-value (ties in rule order, as the local stable sort). That window
    has no partition key, so the rule table passes through one task: rule tables
    are small next to the order lines.

    Examples
    --------
    >>> rules = association_rules(fi, min_confidence=0.8)  # doctest: +SKIP
    >>> len(rules)  # doctest: +SKIP
    410
    >>> association_rules(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `itemsets` must be the SparkItemsets from upsell.spark.frequent_itemsets; got NoneType
    """
    if not isinstance(itemsets, SparkItemsets):
        raise UpsellDataError("`itemsets` must be the SparkItemsets from "
                              f"upsell.spark.frequent_itemsets; got {type(itemsets).__name__}")
    F, T = pyspark_modules("association_rules")
    from pyspark.sql import Window

    min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p = _rule_args(
        min_confidence, min_lift, min_len, max_len, consequent_len, p_adjust, max_p)
    local = itemsets.itemsets
    lat = local.lattice
    n = lat.n_baskets
    top = lat.depth if max_len is None else min(lat.depth, max_len)
    spark = itemsets.frame.sparkSession
    combos = [(k, no, list(cons)) for k in range(min_len, top + 1)
              for no, cons in enumerate(c for size in range(1, min(consequent_len, k - 1) + 1)
                                        for c in itertools.combinations(range(k), size))]
    items_schema = itemsets.frame.schema["items"].dataType
    if not combos:
        return _collect_rules(local, [], p_adjust)
    combo_df = spark.createDataFrame(combos, "length int, combo int, cons array<int>")
    z = itemsets.frame.where((F.col("length") >= min_len) & (F.col("length") <= top))
    cand = z.join(F.broadcast(combo_df), "length").select(
        F.col("items").alias("z"), F.col("length"), F.col("combo"), F.col("count").alias("n_xy"),
        F.filter("items", lambda v, i: ~F.array_contains("cons", i)).alias("x"),
        F.filter("items", lambda v, i: F.array_contains("cons", i)).alias("y"))
    counts = itemsets.frame.select(F.col("items").cast(items_schema), "count")
    cand = (cand.join(counts.withColumnRenamed("items", "x").withColumnRenamed("count", "n_x"), "x")
            .join(counts.withColumnRenamed("items", "y").withColumnRenamed("count", "n_y"), "y"))
    dec = "decimal(38,0)"
    conf_t = _fraction(min_confidence)
    keep = (F.col("n_xy").cast(dec) * F.lit(conf_t.denominator).cast(dec)
            >= F.lit(conf_t.numerator).cast(dec) * F.col("n_x").cast(dec))
    if min_lift is not None:
        lift_t = _fraction(min_lift)
        keep &= (F.col("n_xy").cast(dec) * F.lit(n).cast(dec) * F.lit(lift_t.denominator).cast(dec)
                 >= F.lit(lift_t.numerator).cast(dec) * F.col("n_x").cast(dec)
                 * F.col("n_y").cast(dec))
    cand = cand.where(keep)
    xy, x, y = (F.col(c).cast("double") for c in ("n_xy", "n_x", "n_y"))
    nn = F.lit(float(n))
    s_xy, s_x, s_y = xy / nn, x / nn, y / nn
    conf = xy / x
    lev = s_xy - s_x * s_y
    denom = F.greatest(s_xy * (F.lit(1.0) - s_x), s_x * (s_y - s_xy))
    nan = F.lit(float("nan"))
    fisher = _fisher_udf(F, T)
    rules = cand.select(
        "z", "length", "combo", "x", "y", "n_xy", "n_x", "n_y",
        s_xy.alias("support"), conf.alias("confidence"), s_x.alias("coverage"),
        (xy * nn / (x * y)).alias("lift"), lev.alias("leverage"),
        F.when(xy == x, F.lit(float("inf")))
        .otherwise(x * (nn - y) / (nn * (x - xy))).alias("conviction"),
        F.when(denom > 0, lev / denom).otherwise(nan).alias("zhang"),
        (xy / (x + y - xy)).alias("jaccard"),
        F.when(y < nn, (conf - s_y) / (F.lit(1.0) - s_y)).otherwise(nan).alias("certainty"),
        ((xy / x + xy / y) / F.lit(2.0)).alias("kulczynski"),
        fisher(F.col("n_xy"), F.lit(n).cast("long"), F.col("n_y"), F.col("n_x"))
        .alias("p_value"))
    rid = Window.orderBy("length", "z", "combo")
    rules = rules.withColumn("_rid", F.row_number().over(rid))
    m = rules.count()
    by_p = Window.orderBy("p_value", "_rid")
    i = F.row_number().over(by_p) - 1
    if p_adjust == "holm":
        rules = rules.withColumn("_adj", F.col("p_value") * (F.lit(m) - i).cast("double"))
        run = by_p.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        rules = rules.withColumn("p_adjusted", F.least(F.max("_adj").over(run), F.lit(1.0)))
    elif p_adjust == "bh":
        rules = rules.withColumn("_adj", F.col("p_value") * F.lit(float(m)) / (i + 1).cast("double"))
        run = by_p.rowsBetween(Window.currentRow, Window.unboundedFollowing)
        rules = rules.withColumn("p_adjusted", F.least(F.min("_adj").over(run), F.lit(1.0)))
    else:
        rules = rules.withColumn("p_adjusted", F.col("p_value"))
    if max_p is not None:
        rules = rules.where(F.col("p_adjusted") <= max_p)
    out = rules.orderBy("_rid").select("x", "y", "n_xy", "n_x", "n_y", *METRICS).collect()
    return _collect_rules(local, out, p_adjust)


def _collect_rules(local: Itemsets, rows: list[Any], p_adjust: str | None) -> Rules:
    items = local.items

    def flat(col: str) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([len(r[col]) for r in rows], dtype=np.int64)
        ptr = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        ids = [v for r in rows for v in r[col]]
        idx = items.encode(ids).astype(np.int32) if ids else np.empty(0, dtype=np.int32)
        return idx, ptr

    a_idx, a_ptr = flat("x")
    c_idx, c_ptr = flat("y")
    ints = {c: np.array([int(r[c]) for r in rows], dtype=np.int64) for c in ("n_xy", "n_x", "n_y")}
    metrics: dict[str, Any] = {c: np.array([r[c] for r in rows], dtype=np.float64)
                               for c in METRICS}
    return Rules(items=items, antecedent_indptr=a_ptr, antecedent_index=a_idx,
                 consequent_indptr=c_ptr, consequent_index=c_idx, count=ints["n_xy"],
                 count_antecedent=ints["n_x"], count_consequent=ints["n_y"],
                 n_baskets=local.n_baskets, **metrics)


def sequence_rules(stx: SparkTransactions, *, within: Any = "90D", min_support: float = 0.01,
                   min_confidence: float = 0.0) -> SequenceRules:
    """"Bought A, later bought B" across customers, with window functions and a self-join in Spark.

    The same rules and numbers as :func:`upsell.bundles.sequence_rules`: each
    customer's first purchase of each item (a group-by), the pairs of first
    purchases of one customer with ``0 < t_B - t_A <= within`` (a self-join on the
    customer), counted per (A, B) with the exact median lag (Spark's ``percentile``
    on whole seconds).

    Parameters
    ----------
    stx : SparkTransactions
        Needs ``customer`` and ``time``.
    within, min_support, min_confidence
        As :func:`upsell.bundles.sequence_rules`.

    Returns
    -------
    SequenceRules

    Examples
    --------
    >>> seq = sequence_rules(stx, within="30D", min_support=0.01)  # doctest: +SKIP
    >>> sequence_rules(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: sequence_rules needs SparkTransactions (from upsell.spark.from_spark); got NoneType
    """
    stx = _check_stx(stx, "sequence_rules")
    F, _ = pyspark_modules("sequence_rules")
    stx.require("customer", "sequence_rules")
    stx.require("time", "sequence_rules")
    window = _window(within)
    min_confidence = check_float(min_confidence, "min_confidence", low=0, high=1)
    lines = stx.frame.where(F.col("customer").isNotNull() & (F.col("quantity") > 0))
    first = lines.groupBy("customer", "item").agg(F.min("time").alias("t")).persist()
    n_cust = int(first.select("customer").distinct().count())
    if n_cust == 0:
        raise UpsellDataError("sequence_rules needs lines with a customer; every line is anonymous")
    min_count = support_count(min_support, n_cust)
    base = first.groupBy("item").agg(F.count(F.lit(1)).alias("n")).where(F.col("n") >= min_count)
    ev = first.join(base.select("item"), "item")
    a = ev.select("customer", F.col("item").alias("a"), F.col("t").alias("ta"))
    b = ev.select("customer", F.col("item").alias("b"), F.col("t").alias("tb"))
    pairs = (a.join(b, "customer")
             .where((F.col("tb") > F.col("ta")) & (F.col("tb") <= F.col("ta") + F.lit(window))))
    agg = (pairs.groupBy("a", "b")
           .agg(F.count(F.lit(1)).alias("count"),
                F.expr("percentile(tb - ta, 0.5)").alias("median"))
           .where(F.col("count") >= min_count))
    conf_t = _fraction(min_confidence)
    na = base.select(F.col("item").alias("a"), F.col("n").alias("n_a"))
    nb = base.select(F.col("item").alias("b"), F.col("n").alias("n_b"))
    dec = "decimal(38,0)"
    agg = (agg.join(na, "a").join(nb, "b")
           .where(F.col("count").cast(dec) * F.lit(conf_t.denominator).cast(dec)
                  >= F.lit(conf_t.numerator).cast(dec) * F.col("n_a").cast(dec)))
    rows = agg.select("a", "b", "count", "n_a", "n_b", "median").collect()
    first.unpersist()
    items = stx.items
    if rows:
        ai = items.encode([r["a"] for r in rows]).astype(np.int32)
        bi = items.encode([r["b"] for r in rows]).astype(np.int32)
    else:
        ai = bi = np.empty(0, dtype=np.int32)
    order = np.lexsort((bi, ai))
    cnt = np.array([int(r["count"]) for r in rows], dtype=np.int64)[order]
    n_a = np.array([int(r["n_a"]) for r in rows], dtype=np.float64)[order]
    n_b = np.array([int(r["n_b"]) for r in rows], dtype=np.float64)[order]
    med = np.array([float(r["median"]) for r in rows], dtype=np.float64)[order] / 86400.0
    conf = cnt / n_a
    return SequenceRules(items=items, first=ai[order], then=bi[order], count=cnt,
                         support=cnt / n_cust, confidence=conf, lift=conf / (n_b / n_cust),
                         median_lag_days=med, n_customers=n_cust)
