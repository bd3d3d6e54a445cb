"""KPIs as Spark aggregations: ATV, UPT, attach rate, conversion, NPS and the CLV inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell._validation import as_segments, check_choice
from upsell.data.catalog import Catalog
from upsell.exceptions import UpsellDataError
from upsell.kpi.basket import ATTACH_KINDS, BY
from upsell.kpi.clv import RFMSummary
from upsell.kpi.conversion import EVENTS, EXPLORED_GROUPS, NO_POLICY, ConversionResult
from upsell.kpi.engine import KPIResult, z_value
from upsell.kpi.engine import clv_window as _window
from upsell.kpi.engine import conversion_from_counts as _conversion_from_counts
from upsell.kpi.engine import nps_from_counts as _nps_from_counts
from upsell.kpi.nps import NPSResult
from upsell.spark._session import check_frame, pyspark_modules
from upsell.spark.data import SparkTransactions

__all__ = ["attach_rate", "atv", "conversion", "nps", "rfm_summary", "upt"]

_DAY = 86_400


def _check(stx: Any, feature: str) -> SparkTransactions:
    if not isinstance(stx, SparkTransactions):
        raise UpsellDataError(f"{feature} needs SparkTransactions; got {type(stx).__name__}")
    return stx


def _group_column(F: Any, stx: SparkTransactions, orders: Any, by: str | None, segments: Any
                  ) -> tuple[Any, str]:
    """Orders with a ``_group`` column (null: left out) and the label kind."""
    if by is None:
        if segments is not None:
            raise UpsellDataError("`segments` is only used with by='segment'; got by=None")
        return orders.withColumn("_group", F.lit("all")), "str"
    check_choice(by, "by", BY)
    if by in ("day", "week", "month"):
        stx.require("time", f"by={by!r}")
        day = F.floor(F.col("time") / _DAY).cast("long")
        if by == "day":
            return orders.withColumn("_group", day), "day"
        if by == "week":  # Monday of the week; 1970-01-01 was a Thursday
            return orders.withColumn("_group", day - F.pmod(day + 3, F.lit(7))), "day"
        month = F.date_format(F.timestamp_seconds(F.col("time")), "yyyy-MM")
        return orders.withColumn("_group", month), "month"
    if by == "channel":
        stx.require("channel", "by='channel'")
        return orders.withColumn("_group", F.col("channel")), "id"
    if segments is None:
        raise UpsellDataError(
            "by='segment' needs `segments`: a mapping customer id -> label (a Spark DataFrame "
            "with columns customer and segment also works)")
    stx.require("customer", "by='segment'")
    from pyspark.sql import DataFrame

    if isinstance(segments, DataFrame):
        seg = check_frame(segments, "segments").select(
            "customer", F.col("segment").cast("string").alias("_group"))
    else:  # every local form of segments= (mapping, Series, segmenter result, pairs)
        labels, _ = as_segments(segments, stx.customers)
        keep = labels != ""
        pairs = list(zip(stx.customers.ids[keep].tolist(), labels[keep].tolist(), strict=True))
        id_type = "string" if stx.customers.kind == "str" else "long"
        seg = stx.frame.sparkSession.createDataFrame(pairs, f"customer {id_type}, _group string")
    return orders.join(F.broadcast(seg), "customer", "inner"), "str"


def _labels(values: list[Any], kind: str) -> np.ndarray:
    if kind == "day":
        return np.array(values, dtype=np.int64).astype("datetime64[D]")
    if kind == "month":
        return np.array(values, dtype="datetime64[M]")
    if kind == "id":
        return np.array(values)
    return np.array([str(v) for v in values])


def _ratio(metric: str, by: str | None, rows: list[Any], kind: str) -> KPIResult:
    rows = sorted(rows, key=lambda r: r["_group"])
    groups = _labels([r["_group"] for r in rows], kind)
    num = np.array([float(r["num"] or 0.0) for r in rows], dtype=np.float64)
    den = np.array([float(r["den"] or 0.0) for r in rows], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return KPIResult(metric=metric, by=by, groups=groups, value=v, numerator=num, denominator=den)


def _order_kpi(stx: SparkTransactions, metric: str, column: str, by: str | None,
               segments: Any) -> KPIResult:
    F, _ = pyspark_modules(metric)
    orders, kind = _group_column(F, stx, stx.order_frame(), by, segments)
    rows = (orders.where(F.col("_group").isNotNull()).groupBy("_group")
            .agg(F.sum(column).alias("num"), F.count(F.lit(1)).alias("den")).collect())
    return _ratio(metric, by, rows, kind)


def atv(stx: SparkTransactions, *, by: str | None = None, segments: Any = None) -> KPIResult:
    """Average transaction value (net revenue per order), aggregated by Spark.

    Parameters
    ----------
    stx : SparkTransactions
        Needs ``price``.
    by : {None, "day", "week", "month", "segment", "channel"}
        As :func:`upsell.kpi.atv` (weeks start on Monday).
    segments : mapping, segmenter result, Series, pair or Spark DataFrame, optional
        With ``by="segment"``: any form of ``segments=`` the local engine reads
        (:func:`upsell.kpi.atv`: customer id -> label, a ``(customers, labels)`` pair,
        an RFM/Personas/Clusters result ...), or a DataFrame with columns
        ``customer`` and ``segment``.

    Returns
    -------
    KPIResult
        As the local :func:`upsell.kpi.atv` (sums of floats in Spark's order).

    Examples
    --------
    >>> float(atv(stx))  # doctest: +SKIP
    96.31
    >>> atv(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: atv needs SparkTransactions; got NoneType
    """
    stx = _check(stx, "atv")
    stx.require("price", "atv")
    return _order_kpi(stx, "atv", "value", by, segments)


def upt(stx: SparkTransactions, *, by: str | None = None, segments: Any = None) -> KPIResult:
    """Units per transaction (net units per order), aggregated by Spark.

    Parameters
    ----------
    stx, by, segments
        As :func:`atv` (no price needed).

    Returns
    -------
    KPIResult

    Examples
    --------
    >>> float(upt(stx))  # doctest: +SKIP
    2.3
    >>> upt(None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: upt needs SparkTransactions; got NoneType
    """
    stx = _check(stx, "upt")
    return _order_kpi(stx, "upt", "units", by, segments)


def attach_rate(stx: SparkTransactions, catalog: Catalog, *, by: str | None = None,
                segments: Any = None) -> KPIResult:
    """Share of orders with a primary product that also hold one of its attachments, in Spark.

    The definition of :func:`upsell.kpi.attach_rate`: the catalog's family and
    ``attaches_to`` of every item are broadcast, and each order compares the set
    of its primaries' families with the set of its attachments' targets.

    Parameters
    ----------
    stx : SparkTransactions
    catalog : Catalog
    by, segments
        As :func:`atv`.

    Returns
    -------
    KPIResult

    Examples
    --------
    >>> float(attach_rate(stx, shop.catalog))  # doctest: +SKIP
    0.21
    >>> attach_rate(None, None)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: attach_rate needs SparkTransactions; got NoneType
    """
    stx = _check(stx, "attach_rate")
    F, _ = pyspark_modules("attach_rate")
    if not isinstance(catalog, Catalog):
        raise UpsellDataError(
            f"attach_rate needs `catalog` (a Catalog); got {type(catalog).__name__}")
    items = stx.items
    cat = catalog.align(items)
    primary = (cat.kind == "product") & (np.char.str_len(cat.family) > 0)
    attach = np.isin(cat.kind, ATTACH_KINDS) & (np.char.str_len(cat.attaches_to) > 0)
    data = [(items.ids[j].item(), str(cat.family[j]) if primary[j] else None,
             str(cat.attaches_to[j]) if attach[j] else None)
            for j in np.flatnonzero(primary | attach).tolist()]
    id_type = "string" if items.kind == "str" else "long"
    tab = stx.frame.sparkSession.createDataFrame(data, f"item {id_type}, fam string, att string")
    per_order = (stx.frame.where(F.col("quantity") > 0).join(F.broadcast(tab), "item")
                 .groupBy("order").agg(F.collect_set("fam").alias("fams"),
                                       F.collect_set("att").alias("atts")))
    flags = per_order.select(
        "order", (F.size("fams") > 0).cast("double").alias("den"),
        F.arrays_overlap("fams", "atts").cast("double").alias("num"))
    orders = stx.order_frame().join(flags, "order", "left").fillna(0.0, ["num", "den"])
    orders, kind = _group_column(F, stx, orders, by, segments)
    rows = (orders.where(F.col("_group").isNotNull()).groupBy("_group")
            .agg(F.sum("num").alias("num"), F.sum("den").alias("den")).collect())
    return _ratio("attach_rate", by, rows, kind)


def nps(df: Any, *, score: str = "score", by: str | None = None, invalid: str = "raise",
        confidence: float = 0.95) -> NPSResult:
    """Net Promoter Score of 0-10 answers held in a Spark DataFrame.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One answer per row.
    score : str, default "score"
        Column of the answers (whole numbers 0-10; ``9.0`` is accepted, ``9.5`` not).
    by : str, optional
        Column of segment labels; rows with a null label are left out.
    invalid : {"raise", "drop"}
        As :func:`upsell.kpi.nps` (the message names a value, not a position).
    confidence : float, default 0.95

    Returns
    -------
    NPSResult
        Counted by Spark, the shares and interval by the local formulas.

    Examples
    --------
    >>> float(nps(spark.createDataFrame([(10,), (3,)], "score int")).nps[0])  # doctest: +SKIP
    0.0
    >>> nps([1, 2])
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `df` must be a Spark DataFrame; got list
    """
    df = check_frame(df)
    F, _ = pyspark_modules("nps")
    check_choice(invalid, "invalid", ("raise", "drop"))
    z = z_value(confidence)
    s = F.expr(f"try_cast(`{score}` AS DOUBLE)") if score in df.columns else None
    if s is None:
        raise UpsellDataError(f"`score` column {score!r} is not in the DataFrame; "
                              f"it has {', '.join(repr(c) for c in df.columns)}")
    ok = s.isNotNull() & ~F.isnan(s) & (s == F.floor(s)) & (s >= 0) & (s <= 10)
    if invalid == "raise":
        bad = df.where(~ok).select(F.col(f"`{score}`")).limit(1).collect()
        if bad:
            n_bad = df.where(~ok).count()
            more = f" ({n_bad} invalid answers)" if n_bad > 1 else ""
            raise UpsellDataError(
                f"`scores` holds {bad[0][0]!r}, not a whole number in 0-10{more}; "
                f"pass invalid='drop' to drop and count such answers")
    group = F.lit("all") if by is None else F.col(f"`{by}`").cast("string")
    rows = (df.select(group.alias("g"), F.when(ok, s).alias("s"), ok.alias("ok"))
            .where(F.col("g").isNotNull()).groupBy("g")
            .agg(F.sum(F.col("ok").cast("long")).alias("n"),
                 F.sum((F.col("s") >= 9).cast("long")).alias("pro"),
                 F.sum((F.col("s") <= 6).cast("long")).alias("det"),
                 F.sum((~F.col("ok")).cast("long")).alias("bad"))
            .orderBy("g").collect())
    groups = np.array([r["g"] for r in rows]) if rows else np.array([], dtype=str)
    n = np.array([int(r["n"] or 0) for r in rows], dtype=np.int64)
    pro = np.array([int(r["pro"] or 0) for r in rows], dtype=np.int64)
    det = np.array([int(r["det"] or 0) for r in rows], dtype=np.int64)
    n_invalid = np.array([int(r["bad"] or 0) for r in rows], dtype=np.int64)
    return _nps_from_counts(None if by is None else "segment", groups, n, pro, det, n_invalid, z,
                            confidence)


def conversion(df: Any, *, by: str | None = None, confidence: float = 0.95) -> ConversionResult:
    """Conversion rate of offers (accepted / presented) from an offer log in a Spark DataFrame.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        The offer log: an ``event`` column (presented, accepted, declined) and
        optionally ``revenue`` and grouping columns, as :func:`upsell.kpi.conversion`.
    by : str, optional
        A column of the log ("kind", "channel", "segment", "item", ...), grouped
        as :func:`upsell.kpi.conversion` groups it: "policy" gives one group per
        policy version (offers logged without one: "(none)"), "explored" the
        groups "exploit" and "explore" (a missing flag is exploitation). Every
        other column needs a value in every row.
    confidence : float, default 0.95
        Level of the Wilson intervals.

    Returns
    -------
    ConversionResult
        Equal to ``upsell.kpi.conversion`` on the same log.

    Examples
    --------
    >>> conversion(log_df, by="kind").rate  # doctest: +SKIP
    array([0.5, 0.5])
    >>> conversion("log")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `df` must be a Spark DataFrame; got str
    """
    df = check_frame(df)
    F, _ = pyspark_modules("conversion")
    z = z_value(confidence)
    if "event" not in df.columns:
        raise UpsellDataError(
            f"`offer_log` needs an 'event' column ({', '.join(EVENTS)}); "
            f"it has {', '.join(repr(c) for c in df.columns) or 'no columns'}")
    ev = F.col("event").cast("string")
    bad = df.where(ev.isNull() | ~ev.isin(*EVENTS)).select("event").limit(1).collect()
    if bad:
        raise UpsellDataError(f"offer_log: `event` {bad[0][0]!r} is not one of {', '.join(EVENTS)}")
    if by is not None and (by not in df.columns or by == "event"):
        raise UpsellDataError(
            f"`by` must be None or a column of the offer log "
            f"({', '.join(c for c in df.columns if c != 'event')}); got {by!r}")
    group = F.lit("all") if by is None else _conversion_group(df, by, F)
    rev = (F.when(F.isnan(F.col("revenue").cast("double")), 0.0)
           .otherwise(F.coalesce(F.col("revenue").cast("double"), F.lit(0.0)))
           if "revenue" in df.columns else F.lit(None).cast("double"))
    rows = (df.select(group.alias("g"), ev.alias("e"), rev.alias("r")).where(F.col("g").isNotNull())
            .groupBy("g").agg(*[F.sum((F.col("e") == e).cast("long")).alias(e) for e in EVENTS],
                              F.sum(F.when(F.col("e") == "accepted", F.col("r"))).alias("rev"))
            .orderBy("g").collect())
    if by == "explored":  # both groups, as the local KPI gives them, even one without rows
        got = {r["g"]: r for r in rows}
        rows = [got.get(g, {"g": g, **dict.fromkeys((*EVENTS, "rev"))}) for g in EXPLORED_GROUPS]
    groups = np.array([r["g"] for r in rows]) if by is not None else np.array(["all"])
    cnt = {e: np.array([int(r[e] or 0) for r in rows], dtype=np.int64) for e in EVENTS}
    if "revenue" in df.columns:
        revenue = np.array([float(r["rev"] or 0.0) for r in rows], dtype=np.float64)
    else:
        revenue = np.full(len(rows), np.nan)
    return _conversion_from_counts(by, groups, cnt, revenue, z, confidence)


def _conversion_group(df: Any, by: str, F: Any) -> Any:
    """The group label of each row, as :func:`upsell.kpi.conversion` labels it."""
    col = F.col(f"`{by}`")
    kind = dict(df.dtypes)[by]
    if by == "policy":
        text = col.cast("string")
        return F.when(text.isNull() | (text == ""), F.lit(NO_POLICY)).otherwise(text)
    if by == "explored":
        if kind == "boolean":
            flag = F.coalesce(col, F.lit(False))
        elif kind in ("string", "varchar") or kind.startswith(("char", "varchar")):
            text = F.lower(F.trim(col))
            bad = col.isNotNull() & ~text.isin("true", "1", "false", "0", "")
            flag = F.coalesce(text.isin("true", "1"), F.lit(False))
        else:  # numbers: 1 / 0, a missing value (NULL, NaN) is exploitation
            num = col.cast("double")
            missing = num.isNull() | F.isnan(num)
            bad = ~missing & ~num.isin(0.0, 1.0)
            flag = F.when(missing, F.lit(False)).otherwise(num == 1.0)
        if kind != "boolean":
            got = df.where(bad).select(col.cast("string")).limit(1).collect()
            if got:
                raise UpsellDataError(f"offer_log: `explored` {got[0][0]!r} is not a flag "
                                      f"(True / False, 1 / 0)")
        return F.when(flag, F.lit(EXPLORED_GROUPS[1])).otherwise(F.lit(EXPLORED_GROUPS[0]))
    missing = col.isNull() | (F.isnan(col) if kind in ("double", "float") else F.lit(False))
    if df.where(missing).limit(1).collect():
        raise UpsellDataError(f"offer_log: `{by}` has no value in some rows; every event needs "
                              f"one to be grouped by {by!r}")
    return col


def rfm_summary(stx: SparkTransactions, *, calibration_end: Any, observation_end: Any = None,
                freq: str | float = "W") -> RFMSummary:
    """The CLV models' sufficient statistics ``(x, t_x, T)`` and mean repeat spend, from Spark.

    Purchase days per customer are aggregated in Spark (orders, then
    (customer, day), then customer: one compressed row per customer), so the
    local :class:`~upsell.kpi.BetaGeo`, :class:`~upsell.kpi.ParetoNBD` and
    :class:`~upsell.kpi.GammaGamma` fit on it in seconds whatever the log size.

    Parameters
    ----------
    stx : SparkTransactions
        Needs ``customer`` and ``time``.
    calibration_end, observation_end, freq
        As :func:`upsell.kpi.rfm_summary`.

    Returns
    -------
    RFMSummary

    Examples
    --------
    >>> s = rfm_summary(stx, calibration_end="2024-06-30")  # doctest: +SKIP
    >>> BetaGeo().fit(s)  # doctest: +SKIP
    BetaGeo()
    >>> rfm_summary(None, calibration_end="2024-06-30")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: rfm_summary needs SparkTransactions; got NoneType
    """
    stx = _check(stx, "rfm_summary")
    F, _ = pyspark_modules("rfm_summary")
    unit, cal_end, obs_end = _window(calibration_end, observation_end, freq)
    stx.require("customer", "rfm_summary")
    stx.require("time", "rfm_summary")
    cal = int(cal_end.astype(np.int64))
    ot = stx.order_frame().where(F.col("customer").isNotNull())
    days = (ot.withColumn("day", F.floor(F.col("time") / _DAY).cast("long"))
            .groupBy("customer", "day").agg(F.sum("value").alias("v")))
    first = days.groupBy("customer").agg(F.min("day").alias("first"))
    days = days.join(first, "customer").where(F.col("first") <= cal)
    in_cal = F.col("day") <= cal
    aggs = [F.min("first").alias("first"),
            F.sum(in_cal.cast("long")).alias("n_days"),
            F.max(F.when(in_cal, F.col("day"))).alias("last"),
            F.sum(F.when(in_cal, F.col("v"))).alias("total"),
            F.sum(F.when(F.col("day") == F.col("first"), F.col("v"))).alias("first_val")]
    if obs_end is not None:
        hold = (F.col("day") > cal) & (F.col("day") <= int(obs_end.astype(np.int64)))
        aggs += [F.sum(hold.cast("long")).alias("n_h"),
                 F.sum(F.when(hold, F.col("v"))).alias("v_h")]
    rows = days.groupBy("customer").agg(*aggs).collect()
    if not rows:
        raise UpsellDataError(f"no customer purchases on or before `calibration_end` {cal_end}")
    customers = stx.customers
    idx = customers.encode([r["customer"] for r in rows])
    order = np.argsort(idx)
    rows = [rows[j] for j in order]

    def col(name: str, dtype: Any) -> np.ndarray:
        return np.array([r[name] if r[name] is not None else np.nan for r in rows], dtype=dtype)

    first_d = col("first", np.int64)
    x = col("n_days", np.int64) - 1
    t_x = (col("last", np.int64) - first_d) / unit
    T = (cal - first_d) / unit
    total, first_val = col("total", np.float64), col("first_val", np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mon = np.where(x > 0, (total - first_val) / np.maximum(x, 1), 0.0)
    f_h = m_h = None
    dur = None
    if obs_end is not None:
        f_h = col("n_h", np.int64)
        v_h = np.nan_to_num(col("v_h", np.float64), nan=0.0) if stx.has("price") else \
            col("v_h", np.float64)
        m_h = np.where(f_h > 0, v_h / np.maximum(f_h, 1), 0.0)
        dur = float((obs_end - cal_end).astype(np.int64) / unit)
    return RFMSummary(
        customers=customers.ids[idx[order]], frequency=x, recency=t_x.astype(np.float64),
        T=T.astype(np.float64), monetary_value=mon.astype(np.float64),
        first_purchase=first_d.astype("datetime64[D]"), frequency_holdout=f_h,
        monetary_value_holdout=m_h, duration_holdout=dur,
        freq=freq if isinstance(freq, str) else f"{float(freq):g}D",
        calibration_end=cal_end, observation_end=obs_end)
