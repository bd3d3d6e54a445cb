"""RFM and personas: per-customer aggregations in Spark, scores and assignments locally."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from upsell._validation import check_int
from upsell.data.catalog import Catalog
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
from upsell.segments.engine import (
    DISCOUNT_TOLERANCE,
    FEATURES,
    CustomerFeatures,
    ItemTable,
    as_time,
    features_from_sums,
    item_table,
    table_for,
)
from upsell.segments.engine import FEATURE_SUMS as _SUMS
from upsell.segments.engine import rfm_grid as _grid
from upsell.segments.personas import PersonaAssignments, Personas
from upsell.segments.rfm import RFM_SEGMENTS, RFMResult, quantile_scores
from upsell.spark._session import pyspark_modules
from upsell.spark.data import SparkTransactions

__all__ = ["customer_features", "predict_personas", "rfm"]

_DAY = 86_400


def _check(stx: Any, feature: str) -> SparkTransactions:
    if not isinstance(stx, SparkTransactions):
        raise UpsellDataError(f"{feature} needs SparkTransactions; got {type(stx).__name__}")
    return stx


def default_at(stx: SparkTransactions) -> np.datetime64:
    """The day after the last line (as the local engine's default ``at``), from one Spark max."""
    F, _ = pyspark_modules("default_at")
    last = stx.frame.agg(F.max("time")).collect()[0][0]
    day = (int(last) // _DAY + 1) * _DAY
    return np.datetime64(day, "s")


def rfm(stx: SparkTransactions, at: Any = None, bins: int = 5,
        score_map: Mapping[str, Sequence[str] | str] | None = None) -> RFMResult:
    """RFM per customer: recency, frequency and monetary value aggregated by Spark, scored locally.

    The same :class:`~upsell.segments.RFMResult` as :func:`upsell.segments.rfm`:
    orders are summarised in Spark (one group-by over lines, one over orders),
    one row per customer is collected and scored with the local
    :func:`~upsell.segments.quantile_scores` and segment grid.

    Parameters
    ----------
    stx : SparkTransactions
        Needs ``customer`` and ``time``.
    at, bins, score_map
        As :func:`upsell.segments.rfm`.

    Returns
    -------
    RFMResult

    Notes
    -----
    Monetary values are sums of floats in Spark's order, so they may differ from
    the local ones in the last bits before the 6-decimal rounding both apply.

    Examples
    --------
    >>> rfm(stx, at="2025-01-01").segment[:2]  # doctest: +SKIP
    array(['lost', 'at risk'], dtype='<U18')
    >>> rfm(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: rfm needs SparkTransactions; got NoneType
    """
    stx = _check(stx, "rfm")
    F, _ = pyspark_modules("rfm")
    bins = check_int(bins, "bins", minimum=1, maximum=100)
    if score_map is None:
        if bins != 5:
            raise UpsellDataError(
                f"`bins` must be 5 for the default score map; got {bins}: pass a "
                f"`score_map` for a {bins} x {bins} grid")
        score_map = RFM_SEGMENTS
    names, table = _grid(score_map, bins)
    stx.require("customer", "rfm")
    stx.require("time", "rfm")
    when = default_at(stx) if at is None else as_time(at)
    at_s = int(when.astype(np.int64))
    ot = stx.order_frame().where(F.col("customer").isNotNull() & (F.col("time") < at_s))
    value = F.when(F.isnan("value") | F.col("value").isNull(), 0.0).otherwise(F.col("value"))
    sale = F.col("units") > 0
    rows = (ot.groupBy("customer")
            .agg(F.sum(value).alias("monetary"), F.sum(sale.cast("long")).alias("frequency"),
                 F.max(F.when(sale, F.col("time"))).alias("last"))
            .where(F.col("frequency") > 0).collect())
    if not rows:
        raise UpsellDataError(f"no customer has a sale order before `at` ({when})")
    ids = stx.customers.ids
    idx = np.sort(stx.customers.encode([r["customer"] for r in rows]))
    pos = {c: j for j, c in enumerate(ids[idx].tolist())}
    order = np.array([pos[r["customer"]] for r in rows])
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    rows = [rows[j] for j in inv]
    recency = (at_s - np.array([int(r["last"]) for r in rows], dtype=np.int64)) // _DAY
    freq = np.array([int(r["frequency"]) for r in rows], dtype=np.int64)
    mon = np.round(np.array([float(r["monetary"]) for r in rows], dtype=np.float64), 6)
    r_ = quantile_scores(-recency, bins)
    f_ = quantile_scores(freq, bins)
    m_ = quantile_scores(mon, bins)
    seg = np.asarray(names)[table[r_.astype(np.int64) - 1, f_.astype(np.int64) - 1]]
    out = RFMResult(customers=ids[idx], recency=recency, frequency=freq, monetary=mon,
                    r=r_, f=f_, m=m_, segment=seg, at=when, bins=bins, segments=names)
    for a in (out.recency, out.frequency, out.monetary, out.r, out.f, out.m, out.segment):
        a.flags.writeable = False
    return out


def _item_table(stx: SparkTransactions, catalog: Catalog | None) -> ItemTable:
    """The local per-item lookups, from each item's highest positive-line price (one Spark query)."""
    F, _ = pyspark_modules("customer_features")
    items = stx.items
    price = np.zeros(len(items))
    if stx.has("price"):
        rows = (stx.frame.where(F.col("quantity") > 0).groupBy("item")
                .agg(F.max("price").alias("p")).collect())
        if rows:
            price[items.encode([r[0] for r in rows])] = [float(r[1]) for r in rows]
    # one line per item carrying that price: the local item table reads nothing else
    proxy = Transactions.from_arrays(
        order=items.ids, item=items.ids, price=np.maximum(price, 0.0) if stx.has("price") else None,
        bad_prices="keep", source="spark items")
    return item_table(proxy, catalog)


def _customer_sums(stx: SparkTransactions, table: ItemTable, at: np.datetime64
                   ) -> dict[str, np.ndarray]:
    """The per-customer sums of the local feature code, aggregated by Spark."""
    F, _ = pyspark_modules("customer_features")
    spark = stx.frame.sparkSession
    items = stx.items
    at_s = int(at.astype(np.int64))
    cols = ("ref_price", "tier_pos", "price_pos", "low_tier", "high_tier", "value_pack",
            "exclusive", "warranty", "accessory", "subscription")
    data = [tuple([items.ids[j].item(), *(_py(getattr(table, c)[j]) for c in cols)])
            for j in range(len(items))]
    id_type = "string" if items.kind == "str" else "long"
    schema = (f"item {id_type}, ref_price double, tier_pos double, price_pos double, "
              "low_tier boolean, high_tier boolean, value_pack boolean, exclusive boolean, "
              "warranty boolean, accessory boolean, subscription boolean")
    tab = spark.createDataFrame(data, schema)
    known = F.col("customer").isNotNull() & (F.col("time") < at_s)
    price = F.col("price") if stx.has("price") else F.lit(float("nan"))
    lines = stx.frame.where(known & (F.col("quantity") > 0)).join(F.broadcast(tab), "item")

    def finite(c: Any) -> Any:
        return c.isNotNull() & ~F.isnan(c)

    disc = (finite(price) & finite(F.col("ref_price"))
            & (price < F.col("ref_price") * F.lit(1.0 - DISCOUNT_TOLERANCE)))
    tiered, priced = finite(F.col("tier_pos")), finite(F.col("price_pos"))

    def n(cond: Any) -> Any:
        return F.sum(cond.cast("double"))

    line_sums = lines.groupBy("customer").agg(
        F.count(F.lit(1)).cast("double").alias("lines"), n(disc).alias("disc"),
        n(tiered).alias("tiered"), n(F.col("low_tier")).alias("low"),
        n(F.col("high_tier")).alias("high"),
        F.sum(F.when(tiered, F.col("tier_pos")).otherwise(0.0)).alias("tier_pos"),
        n(F.col("value_pack")).alias("value"), n(priced).alias("priced"),
        F.sum(F.when(priced, F.col("price_pos")).otherwise(0.0)).alias("price_pos"),
        n(F.col("exclusive")).alias("excl"), n(F.col("warranty")).alias("warranty"),
        n(F.col("accessory")).alias("acc"), n(F.col("subscription")).alias("sub"))
    allc = stx.frame.where(known)
    val = F.col("quantity") * price
    val = F.when(finite(val), val).otherwise(0.0)
    money = allc.groupBy("customer").agg(F.sum(val).alias("monetary"))
    orders = (allc.groupBy("order").agg(F.max("customer").alias("customer"),
                                        F.sum("quantity").alias("units"),
                                        F.min("time").alias("t"))
              .where(F.col("units") > 0)
              .groupBy("customer").agg(F.count(F.lit(1)).cast("double").alias("orders"),
                                       F.min("t").cast("double").alias("first"),
                                       F.max("t").cast("double").alias("last")))
    customers = stx.customers
    m = len(customers)
    out: dict[str, np.ndarray] = {k: np.zeros(m) for k in _SUMS}
    out["first"] = np.full(m, np.inf)
    out["last"] = np.full(m, -np.inf)
    for frame in (line_sums, money, orders):
        rows = frame.collect()
        if not rows:
            continue
        pos = customers.encode([r["customer"] for r in rows])
        for key in frame.columns:
            if key != "customer":
                out[key][pos] = [float(r[key]) for r in rows]
    return out


def _py(v: Any) -> Any:
    v = v.item() if isinstance(v, np.generic) else v
    return v


def customer_features(stx: SparkTransactions, catalog: Catalog | None = None, *,
                      at: Any = None) -> CustomerFeatures:
    """Behavioural features of every customer, aggregated by Spark.

    The same table as :func:`upsell.segments.customer_features`: the per-item
    lookups (list and reference prices, tiers, kinds) are built locally from the
    catalog and each item's highest price (one small Spark query), broadcast to
    the executors, and the per-customer sums are three group-bys; the features
    follow from the collected sums (one row per customer) by the local formulas.

    Parameters
    ----------
    stx : SparkTransactions
        Needs ``customer`` and ``time``.
    catalog, at
        As :func:`upsell.segments.customer_features`.

    Returns
    -------
    CustomerFeatures

    Examples
    --------
    >>> customer_features(stx, shop.catalog).column("orders")[:3]  # doctest: +SKIP
    array([4., 2., 7.])
    >>> customer_features(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: customer_features needs SparkTransactions; got NoneType
    """
    stx = _check(stx, "customer_features")
    if catalog is not None and not isinstance(catalog, Catalog):
        raise UpsellDataError(f"`catalog` must be a Catalog or None; got {type(catalog).__name__}")
    stx.require("customer", "customer_features")
    stx.require("time", "customer_features")
    when = default_at(stx) if at is None else as_time(at)
    table = _item_table(stx, catalog)
    values = features_from_sums(_customer_sums(stx, table, when), when)
    values.flags.writeable = False
    return CustomerFeatures(customers=stx.customers.ids, values=values, names=FEATURES, at=when)


def predict_personas(model: Personas, stx: SparkTransactions, *, at: Any = None
                     ) -> PersonaAssignments:
    """Personas of every customer of ``stx`` with a locally fitted model's thresholds.

    Features are aggregated by Spark (as :func:`customer_features`, with the
    model's per-item lookups); scores and assignments use ``model`` exactly as
    :meth:`Personas.predict` does. Fit the model locally on a sample, e.g.
    ``Personas().fit(stx.to_local(fraction=0.05), catalog=cat)``: thresholds are
    quantiles and need no more.

    Parameters
    ----------
    model : Personas
        Fitted.
    stx : SparkTransactions
    at : datetime or str, optional
        Reference time (default: the day after the last line).

    Returns
    -------
    PersonaAssignments

    Examples
    --------
    >>> res = predict_personas(Personas().fit(stx.to_local(fraction=0.1)), stx)  # doctest: +SKIP
    >>> predict_personas(Personas(), None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: predict_personas needs SparkTransactions; got NoneType
    """
    stx = _check(stx, "predict_personas")
    if not isinstance(model, Personas):
        raise UpsellDataError(f"`model` must be a fitted Personas; got {type(model).__name__}")
    model._check_fitted()
    stx.require("customer", "Personas.predict")
    stx.require("time", "Personas.predict")
    when = default_at(stx) if at is None else as_time(at)
    table = table_for(model.items_, model.item_table_, stx.items)
    X = features_from_sums(_customer_sums(stx, table, when), when)
    return model._assign_matrix(X, stx.customers.ids)
