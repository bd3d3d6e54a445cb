"""Implicit-feedback ALS on Spark, exported as a local :class:`upsell.cf.ALS` for serving."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._validation import check_choice, check_int
from upsell.cf.als import ALS
from upsell.cf.base import WEIGHTINGS, check_positive
from upsell.cf.engine import Weighter as _Weighter
from upsell.exceptions import NotFittedError, UpsellDataError
from upsell.spark._session import pyspark_modules
from upsell.spark.data import SparkTransactions

__all__ = ["SparkALS", "customer_item_frame"]


def customer_item_frame(stx: SparkTransactions, weighting: str = "count") -> Any:
    """The customers x items matrix of :meth:`Transactions.customer_items` as a Spark DataFrame.

    Parameters
    ----------
    stx : SparkTransactions
    weighting : {"count", "binary", "units", "value"}
        "count": orders in which the customer bought the item (net quantity of the
        order's lines of it positive); "binary": 1; "units": summed quantity;
        "value": summed quantity x price. Cells whose total is not positive are left out.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer``, ``item``, ``value`` (double); anonymous lines left out.

    Examples
    --------
    >>> customer_item_frame(stx).count()  # doctest: +SKIP
    4907
    >>> customer_item_frame(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: customer_item_frame needs SparkTransactions; got NoneType
    """
    if not isinstance(stx, SparkTransactions):
        raise UpsellDataError(f"customer_item_frame needs SparkTransactions; got {type(stx).__name__}")
    F, _ = pyspark_modules("customer_item_frame")
    weighting = check_choice(weighting, "weighting", ("count", "binary", "units", "value"))
    stx.require("customer", f"customer_items(weighting={weighting!r})")
    lines = stx.frame.where(F.col("customer").isNotNull())
    if weighting in ("count", "binary"):
        per_order = (lines.groupBy("order", "item", "customer").agg(F.sum("quantity").alias("q"))
                     .where(F.col("q") > 0))
        out = per_order.groupBy("customer", "item").agg(F.count(F.lit(1)).cast("double")
                                                        .alias("value"))
        if weighting == "binary":
            out = out.withColumn("value", F.lit(1.0))
        return out
    if weighting == "value":
        stx.require("price", "customer_items(weighting='value')")
        w = F.col("quantity") * F.col("price")
    else:
        w = F.col("quantity")
    # float32 as the local matrix, whose stored values are float32
    return (lines.groupBy("customer", "item").agg(F.sum(w).alias("value"))
            .where(F.col("value") > 0)
            .withColumn("value", F.col("value").cast("float").cast("double")))


class SparkALS:
    """Fit implicit ALS with ``pyspark.ml.recommendation.ALS`` and export a local :class:`upsell.cf.ALS`.

    The customers x items counts and their weighting (BM25 by default, as the
    local ALS) are computed in Spark; Spark's ALS learns the factors
    (``implicitPrefs=True``); :attr:`model_` is an ordinary :class:`upsell.cf.ALS`
    holding the factors, the id maps and the purchase history, so it recommends,
    folds in baskets, saves and loads (``upsell.cf.ALS.load``) like one fitted locally.

    Parameters
    ----------
    factors : int, default 64
        Spark's ``rank``.
    regularization : float, default 0.05
        Spark's ``regParam``. Spark scales it by each customer's (item's) number
        of purchases (ALS-WR), implicit does not, so the same value regularises
        more in Spark; the exported model folds in with this value unscaled.
    alpha : float, default 2.0
        Confidence scale: Spark's confidence is ``1 + alpha * w``, implicit's ``alpha * w``.
    iterations : int, default 15
        Spark's ``maxIter``.
    random_state : int, default 0
        Spark's ``seed``.
    weighting : {"count", "binary", "units", "value", "bm25", "tfidf"}, default "bm25"
    num_blocks : int, optional
        Spark's ``numUserBlocks`` and ``numItemBlocks`` (default: Spark's 10).

    Attributes
    ----------
    model_ : upsell.cf.ALS
        The exported local model.
    spark_model_ : pyspark.ml.recommendation.ALSModel

    Examples
    --------
    >>> model = SparkALS(factors=32, iterations=10).fit(stx).model_  # doctest: +SKIP
    >>> model.recommend(customers=["C0000001"], k=5).lists()  # doctest: +SKIP
    [['I00158', 'I00080', 'I00042', 'I00205', 'I00013']]
    >>> SparkALS(factors=8)
    SparkALS(factors=8)
    """

    def __init__(self, *, factors: int = 64, regularization: float = 0.05, alpha: float = 2.0,
                 iterations: int = 15, random_state: int = 0, weighting: str = "bm25",
                 num_blocks: int | None = None) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.weighting = weighting
        self.num_blocks = num_blocks

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters as a dict.

        Examples
        --------
        >>> SparkALS(alpha=4.0).get_params()["alpha"]
        4.0
        """
        return {k: getattr(self, k) for k in ("factors", "regularization", "alpha", "iterations",
                                              "random_state", "weighting", "num_blocks")}

    def __repr__(self) -> str:
        defaults = SparkALS().get_params()
        parts = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"SparkALS({', '.join(parts)})"

    @property
    def model(self) -> ALS:
        """The exported model (``model_``), or NotFittedError before :meth:`fit`."""
        if not hasattr(self, "model_"):
            raise NotFittedError("SparkALS is not fitted yet; call fit first")
        return self.model_

    def fit(self, stx: SparkTransactions) -> SparkALS:
        """Learn factors with Spark and build the local model.

        Parameters
        ----------
        stx : SparkTransactions
            Needs ``customer``.

        Returns
        -------
        self

        Examples
        --------
        >>> SparkALS().fit(None)
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: SparkALS.fit needs SparkTransactions; got NoneType
        """
        if not isinstance(stx, SparkTransactions):
            raise UpsellDataError(f"SparkALS.fit needs SparkTransactions; got {type(stx).__name__}")
        F, _ = pyspark_modules("SparkALS.fit")
        from pyspark.ml.recommendation import ALS as SparkALSEstimator

        factors = check_int(self.factors, "factors", minimum=1)
        reg = check_positive(self.regularization, "regularization")
        alpha = check_positive(self.alpha, "alpha")
        iterations = check_int(self.iterations, "iterations", minimum=1)
        seed = check_int(self.random_state, "random_state", minimum=0)
        weighting = check_choice(self.weighting, "weighting", WEIGHTINGS)
        stx.require("customer", "SparkALS.fit")
        customers, items = stx.customers, stx.items
        n_c, n_i = len(customers), len(items)
        raw_kind = weighting if weighting in ("units", "value") else "count"
        raw = (customer_item_frame(stx, raw_kind)
               .join(stx.index_frame("customer"), "customer")
               .join(stx.index_frame("item"), "item")
               .select(F.col("customer_index").alias("u"), F.col("item_index").alias("i"),
                       F.col("value").alias("c"))).persist()
        weighted = _weight(F, raw, weighting, n_c)
        est = SparkALSEstimator(
            rank=factors, maxIter=iterations, regParam=reg, alpha=alpha, implicitPrefs=True,
            userCol="u", itemCol="i", ratingCol="w", seed=seed, nonnegative=False,
            coldStartStrategy="drop")
        if self.num_blocks is not None:
            nb = check_int(self.num_blocks, "num_blocks", minimum=1)
            est = est.setNumUserBlocks(nb).setNumItemBlocks(nb)
        spark_model = est.fit(weighted)
        U = _factor_array(spark_model.userFactors.collect(), n_c, factors)
        V = _factor_array(spark_model.itemFactors.collect(), n_i, factors)
        cells = raw.collect()
        raw.unpersist()
        rows = np.array([r["u"] for r in cells], dtype=np.int64)
        cols = np.array([r["i"] for r in cells], dtype=np.int64)
        vals = np.array([r["c"] for r in cells], dtype=np.float32)
        history = sp.csr_matrix((vals, (rows, cols)), shape=(n_c, n_i), dtype=np.float32)
        history.sort_indices()
        model = ALS(factors=factors, regularization=reg, alpha=alpha, iterations=iterations,
                    random_state=seed)
        # the local engine's own fit steps after its solver: id maps, history, weighting
        # learned from the raw counts (for fold-in), then the factors
        model._set_common(history, customers, items, _Weighter.learn(history, weighting))
        model._set_factors(U, V)
        self.spark_model_ = spark_model
        self.model_ = model
        return self


def _weight(F: Any, raw: Any, weighting: str, n_rows: int, k1: float = 100.0,
            b: float = 0.8) -> Any:
    """The model input of :class:`upsell.cf.engine.Weighter`, computed in Spark."""
    c = F.col("c")
    if weighting in ("count", "units", "value"):
        return raw.withColumn("w", c.cast("float"))
    if weighting == "binary":
        return raw.withColumn("w", F.lit(1.0).cast("float"))
    df = raw.groupBy("i").agg(F.count(F.lit(1)).alias("df"))
    idf = F.greatest(F.log(F.lit(float(max(n_rows, 1)))) - F.log1p(F.col("df")), F.lit(0.0))
    out = raw.join(df.withColumn("idf", idf), "i")
    if weighting == "tfidf":
        return out.withColumn("w", (F.sqrt(c) * F.col("idf")).cast("float")).where(F.col("w") > 0)
    sums = raw.groupBy("u").agg(F.sum("c").alias("len"))
    avg = float(raw.agg(F.sum("c")).collect()[0][0] or 0.0) / max(n_rows, 1)
    avg = avg if avg > 0 else 1.0
    length = F.lit(1.0 - b) + F.lit(b) * F.col("len") / F.lit(avg)
    w = c * F.lit(k1 + 1.0) / (F.lit(k1) * length + c) * F.col("idf")
    return out.join(sums, "u").withColumn("w", w.cast("float")).where(F.col("w") > 0)


def _factor_array(rows: list[Any], n: int, rank: int) -> np.ndarray:
    out = np.zeros((n, rank), dtype=np.float32)
    if rows:
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        out[ids] = np.array([r["features"] for r in rows], dtype=np.float32)
    return out
