"""Order lines as a Spark DataFrame, cleaned by the rules of :class:`~upsell.data.Transactions`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from upsell._validation import check_choice
from upsell.data.ids import IdIndex
from upsell.data.io import resolve_columns
from upsell.data.report import ZERO_BOTH, DataReport, duplicate_reason
from upsell.data.transactions import ROLES, Transactions
from upsell.exceptions import UpsellDataError, UpsellDeprecationWarning
from upsell.spark._session import check_frame, pyspark_modules

__all__ = ["SparkTransactions", "from_spark"]

_RETURNS = ("net", "drop", "keep", "raise")
_KDR = ("keep", "drop", "raise")
_INVALID = ("raise", "drop")
_HINT = "; pass invalid='drop' to drop such rows"
# returns netted within this much of the purchased quantity count as returned in full
_EPS = 1e-12


class SparkTransactions:
    """Cleaned order lines in a Spark DataFrame, with the cleaning report of the local engine.

    Build one with :func:`from_spark`. ``frame`` holds one row per kept line with
    the canonical columns ``order``, ``item`` and ``quantity`` (double), plus
    ``customer``, ``price`` (double), ``time`` (long: seconds since 1970-01-01
    UTC) and ``channel`` when they were mapped. Ids keep their Spark type (string
    or long). Every ``upsell.spark`` step reads this frame; the id maps
    (:attr:`items`, :attr:`customers`) are collected once, when first needed.

    Attributes
    ----------
    frame : pyspark.sql.DataFrame
        The cleaned lines (persisted; :meth:`unpersist` frees them).
    report : DataReport
        Rows read, kept, repaired, dropped and flagged, by reason: the same
        counts the local engine reports for the same rows.
    roles : tuple of str
        The roles present, in :data:`~upsell.data.transactions.ROLES` order.

    Examples
    --------
    >>> import pandas as pd
    >>> from upsell.spark import from_spark, local_session
    >>> spark = local_session()  # doctest: +SKIP
    >>> df = spark.createDataFrame(pd.DataFrame(  # doctest: +SKIP
    ...     {"InvoiceNo": ["1", "1", "C2"], "StockCode": ["a", "b", "a"],
    ...      "CustomerID": ["x", "x", "x"], "Quantity": [2, 1, -1]}))
    >>> stx = from_spark(df, columns={"order": "InvoiceNo", "item": "StockCode",  # doctest: +SKIP
    ...                               "customer": "CustomerID", "quantity": "Quantity"},
    ...                  cancel_prefix="C")
    >>> stx.report.rows_kept, stx.report.repaired  # doctest: +SKIP
    (2, mappingproxy({'quantity reduced by a return': 1}))
    >>> SparkTransactions.__name__
    'SparkTransactions'
    """

    def __init__(self, frame: Any, report: DataReport, roles: tuple[str, ...],
                 stage: Any = None) -> None:
        """Low-level constructor over an already-clean frame; use :func:`from_spark`."""
        self.frame = frame
        self.report = report
        self.roles = roles
        self._stage = stage
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return (f"SparkTransactions(lines={self.report.rows_kept:,}, "
                f"columns={list(self.roles)})")

    def has(self, role: str) -> bool:
        """Whether the optional column (customer, price, time, channel) is present.

        Examples
        --------
        >>> SparkTransactions(None, DataReport(rows_read=1, rows_kept=1),
        ...                   ("order", "item", "quantity")).has("price")
        False
        """
        if role not in ROLES:
            raise UpsellDataError(f"`column` must be one of {', '.join(ROLES)}; got {role!r}")
        return role in self.roles

    def require(self, role: str, feature: str) -> None:
        """Raise the local engine's error when ``feature`` needs a column that is absent.

        Examples
        --------
        >>> SparkTransactions(None, DataReport(rows_read=1, rows_kept=1),
        ...                   ("order", "item", "quantity")).require("time", "rfm")
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: rfm needs the `time` column, which these transactions do not have; map it with columns={'time': ...}
        """
        if not self.has(role):
            raise UpsellDataError(
                f"{feature} needs the `{role}` column, which these transactions do not have; "
                f"map it with columns={{'{role}': ...}}")

    def _index(self, role: str) -> IdIndex:
        if role not in self._cache:
            F, _ = pyspark_modules(f"SparkTransactions.{role}s")
            col = F.col(role)
            rows = (self.frame.where(col.isNotNull()).select(col).distinct().orderBy(col)
                    .collect())
            self._cache[role] = ids_to_index([r[0] for r in rows], role)
        out: IdIndex = self._cache[role]
        return out

    @property
    def items(self) -> IdIndex:
        """Item ids of the kept lines, sorted (the local ``tx.items``); collected once."""
        return self._index("item")

    @property
    def customers(self) -> IdIndex:
        """Customer ids of the kept lines, sorted (the local ``tx.customers``); collected once."""
        self.require("customer", "customers")
        return self._index("customer")

    @property
    def n_orders(self) -> int:
        """Number of orders left after cleaning (``len(tx.orders)``)."""
        if "n_orders" not in self._cache:
            self._cache["n_orders"] = int(self.frame.select("order").distinct().count())
        return int(self._cache["n_orders"])

    def index_frame(self, role: str) -> Any:
        """A Spark DataFrame ``(role, <role>_index)`` giving each id its local index.

        The index is the position in :attr:`items` / :attr:`customers` (ids sorted),
        numbered in Spark by a row number over the sorted distinct ids.

        Examples
        --------
        >>> SparkTransactions.index_frame.__name__
        'index_frame'
        """
        F, _ = pyspark_modules("index_frame")
        from pyspark.sql import Window

        index = self._index(role)  # the same sort, collected: checks the orders agree
        col = F.col(role)
        w = Window.orderBy(col)
        frame = (self.frame.where(col.isNotNull()).select(col).distinct()
                 .withColumn(f"{role}_index", (F.row_number().over(w) - 1).cast("int")))
        del index
        return frame

    def order_frame(self) -> Any:
        """One row per order: ``order``, ``customer``, ``time``, ``lines``, ``units``, ``value``.

        The Spark form of :meth:`Transactions.order_table` (``time`` the first line's,
        ``value`` NaN without prices).

        Examples
        --------
        >>> SparkTransactions.order_frame.__name__
        'order_frame'
        """
        F, _ = pyspark_modules("order_frame")
        aggs = [F.count(F.lit(1)).alias("lines"), F.sum("quantity").alias("units")]
        if self.has("price"):
            aggs.append(F.sum(F.col("quantity") * F.col("price")).alias("value"))
        else:
            aggs.append(F.lit(float("nan")).alias("value"))
        aggs.append(F.max("customer").alias("customer") if self.has("customer")
                    else F.lit(None).alias("customer"))
        aggs.append(F.min("time").alias("time") if self.has("time")
                    else F.lit(None).cast("long").alias("time"))
        if self.has("channel"):
            aggs.append(F.min("channel").alias("channel"))
        return self.frame.groupBy("order").agg(*aggs)

    def to_local(self, *, fraction: float | None = None, random_state: int = 0,
                 seed: int | None = None) -> Transactions:
        """Collect the cleaned lines into a local :class:`~upsell.data.Transactions`.

        Parameters
        ----------
        fraction : float, optional
            Keep about this share of the customers (all their lines; a hash of the
            customer id with ``random_state`` decides), e.g. to fit a
            :class:`~upsell.segments.Personas` model on a sample. Anonymous lines
            are kept with the same share of orders. Default: every line.
        random_state : int, default 0
            Seed of the sample's hash; the same value keeps the same customers.
        seed : int, optional
            Deprecated alias of ``random_state`` (an
            :class:`~upsell.exceptions.UpsellDeprecationWarning`).

        Returns
        -------
        Transactions
            Its ``report`` is this object's report when every line is collected.

        Examples
        --------
        >>> stx = from_spark(df)  # doctest: +SKIP
        >>> stx.to_local().shape == (len(stx.frame.collect()), stx.n_orders, len(stx.items))  # doctest: +SKIP
        True
        >>> SparkTransactions.to_local.__name__
        'to_local'
        """
        if seed is not None:
            if random_state not in (0, seed):
                raise UpsellDataError(
                    f"pass `random_state` only (`seed` is its deprecated alias); got "
                    f"random_state={random_state!r} and seed={seed!r}")
            warnings.warn("`seed` is deprecated; use `random_state`", UpsellDeprecationWarning,
                          stacklevel=2)
            random_state = seed
        F, _ = pyspark_modules("to_local")
        frame = self.frame
        if fraction is not None:
            if not 0 < float(fraction) <= 1:
                raise UpsellDataError(f"`fraction` must be in (0, 1]; got {fraction!r}")
            key = (F.coalesce(F.col("customer").cast("string"), F.col("order").cast("string"))
                   if self.has("customer") else F.col("order").cast("string"))
            bucket = F.pmod(F.hash(key, F.lit(int(random_state))), F.lit(1_000_000))
            frame = frame.where(bucket < F.lit(round(float(fraction) * 1_000_000)))
        rows = frame.select(*self.roles).collect()
        if not rows:
            raise UpsellDataError("no order lines to collect (the sample is empty)")
        cols = list(zip(*rows, strict=True))
        data: dict[str, Any] = {}
        for role, values in zip(self.roles, cols, strict=True):
            if role == "time":
                data[role] = np.array(values, dtype=np.int64).astype("datetime64[s]")
            elif role in ("quantity", "price"):
                data[role] = np.array(values, dtype=np.float64)
            else:
                arr = np.empty(len(values), dtype=object)
                arr[:] = list(values)
                data[role] = arr
        tx = Transactions.from_arrays(**data, returns="keep", anonymous="keep",
                                      bad_prices="keep", duplicates="keep", source="spark")
        if fraction is None:
            tx.report = self.report
        return tx

    def unpersist(self) -> None:
        """Release the cached frames (the object is unusable afterwards).

        Examples
        --------
        >>> SparkTransactions.unpersist.__name__
        'unpersist'
        """
        for f in (self.frame, self._stage):
            if f is not None:
                f.unpersist()


def ids_to_index(ids: list[Any], name: str) -> IdIndex:
    """An IdIndex over ids collected from Spark in sorted order (checked to agree with numpy's)."""
    index = IdIndex(ids, name=name)
    srt = index.ids
    if srt.size > 1 and not bool(np.all(srt[1:] > srt[:-1])):
        # Spark sorted in another collation than numpy: refuse rather than misalign factors
        raise UpsellDataError(
            f"`{name}` ids sort differently in Spark and numpy (a non-binary collation?); "
            f"cast them to plain strings or integers")
    return index


# ---------------------------------------------------------------------- cleaning
def _id_column(F: Any, T: Any, df: Any, name: str, role: str) -> tuple[Any, Any]:
    """(value, missing) columns for an id column: strings or integers, as the local engine."""
    dt = df.schema[name].dataType
    col = F.col(f"`{name}`")
    if isinstance(dt, T.StringType):
        return col, col.isNull() | (F.trim(col) == "")
    if isinstance(dt, (T.IntegerType, T.LongType, T.ShortType, T.ByteType)):
        return col.cast("long"), col.isNull()
    if isinstance(dt, (T.DoubleType, T.FloatType, T.DecimalType)):
        bad = df.where(col.isNotNull() & ~F.isnan(col.cast("double"))
                       & (col.cast("double") != F.floor(col.cast("double")))).limit(1).collect()
        if bad:
            raise UpsellDataError(
                f"`{role}` ids must be integers or strings; column {name!r} holds {bad[0][0]!r}")
        missing = col.isNull() | F.isnan(col.cast("double"))
        return F.when(~missing, col.cast("long")), missing
    raise UpsellDataError(
        f"`{role}` ids must be integers or strings; column {name!r} is {dt.simpleString()}")


def _number_column(F: Any, T: Any, df: Any, name: str, role: str) -> tuple[Any, Any]:
    """(double value, unparseable) for a numeric column; strings are parsed like float()."""
    dt = df.schema[name].dataType
    col = F.col(f"`{name}`")
    if isinstance(dt, T.BooleanType):
        raise UpsellDataError(f"column `{role}` must be numeric; got booleans")
    if isinstance(dt, T.NumericType):
        return col.cast("double"), F.lit(False)
    if isinstance(dt, T.StringType):
        parsed = F.expr(f"try_cast(`{name}` AS DOUBLE)")
        blank = col.isNull() | (F.trim(col) == "")
        return parsed, ~blank & parsed.isNull()
    raise UpsellDataError(f"column `{role}` must be numeric; column {name!r} is {dt.simpleString()}")


def _time_column(F: Any, T: Any, df: Any, name: str) -> tuple[Any, Any]:
    """(epoch seconds, unparseable) for a time column."""
    dt = df.schema[name].dataType
    col = F.col(f"`{name}`")
    if isinstance(dt, T.TimestampType):
        return F.unix_seconds(col), F.lit(False)
    if isinstance(dt, T.DateType):
        return F.unix_date(col).cast("long") * 86400, F.lit(False)
    if type(dt).__name__ == "TimestampNTZType":
        parsed = F.expr(f"try_cast(cast(`{name}` AS STRING) AS TIMESTAMP)")
        return F.unix_seconds(parsed), F.lit(False)
    if isinstance(dt, T.StringType):
        parsed = F.expr(f"try_cast(`{name}` AS TIMESTAMP)")
        blank = col.isNull() | (F.trim(col) == "")
        return F.unix_seconds(parsed), ~blank & parsed.isNull()
    if isinstance(dt, T.NumericType):
        raise UpsellDataError(
            f"column `time` holds numbers ({dt.simpleString()}); pass timestamps or "
            f"ISO 8601 strings such as '2011-12-09 12:50:00'")
    raise UpsellDataError(f"column `time` must hold timestamps; column {name!r} is {dt.simpleString()}")


def from_spark(df: Any, *, columns: Mapping[str, str | int] | None = None,
               returns: str = "net", anonymous: str = "keep", bad_prices: str = "drop",
               duplicates: str = "keep", invalid: str = "raise",
               cancel_prefix: str | None = None, source: str = "spark",
               persist: bool = True) -> SparkTransactions:
    """Clean order lines held in a Spark DataFrame by the rules of the local engine.

    The same column mapping as :meth:`Transactions.read_csv` and the same cleaning
    rules, applied in the same order with the same counts in the report, computed
    by Spark (three shuffles: by order, by (customer, item), by line).

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        One row per order line, e.g. ``spark.read.parquet("s3://.../lines/")``.
    columns : mapping, optional
        Role -> column name (or 0-based position); roles not given are looked up
        under their own names. ``order`` and ``item`` are required.
    returns, anonymous, bad_prices, duplicates, invalid, cancel_prefix
        The cleaning rules of :class:`~upsell.data.Transactions` (defaults too).
    source : str, default "spark"
        Label for the report.
    persist : bool, default True
        Cache the cleaned lines (memory, spilling to disk): every later step reads them.

    Returns
    -------
    SparkTransactions

    Raises
    ------
    UpsellDataError
        As the local engine: bad values under ``invalid="raise"``, an order with
        two customers, refused returns, anonymous lines, bad prices or duplicates,
        no rows, no rows left. Messages name the order instead of the row number
        (Spark rows have no position).

    Notes
    -----
    Ids keep their Spark type: string ids stay strings (blank ones are missing),
    integer ids integers; a column of integral doubles is read as integers. Number
    columns given as strings are parsed with Spark's ``try_cast`` and time strings
    as ISO 8601 in the session time zone (set ``spark.sql.session.timeZone`` to
    UTC, as :func:`local_session` does, for the times the local engine reads).
    Times are kept to the second.

    Examples
    --------
    >>> import pandas as pd
    >>> from upsell.spark import local_session
    >>> spark = local_session()  # doctest: +SKIP
    >>> df = spark.createDataFrame(pd.DataFrame({"order": ["o1", "o1", "o2"],  # doctest: +SKIP
    ...     "item": ["tea", "mug", "tea"], "price": [3.0, 0.0, 3.0]}))
    >>> print(from_spark(df).report)  # doctest: +SKIP
    DataReport (spark): 3 rows read, 2 kept, 0 repaired, 1 dropped
      dropped   price zero or negative: 1
    >>> from_spark([1, 2])
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `df` must be a Spark DataFrame; got list
    """
    df = check_frame(df)
    F, T = pyspark_modules("from_spark")
    check_choice(returns, "returns", _RETURNS)
    check_choice(anonymous, "anonymous", _KDR)
    check_choice(bad_prices, "bad_prices", _KDR)
    check_choice(duplicates, "duplicates", _KDR)
    check_choice(invalid, "invalid", _INVALID)
    if cancel_prefix is not None and (not isinstance(cancel_prefix, str) or not cancel_prefix):
        raise UpsellDataError(f"`cancel_prefix` must be a non-empty string; got {cancel_prefix!r}")
    names = list(df.columns)
    unread = [r for r in ("name", "value", "cost", "profit")
              if isinstance((columns or {}).get(r), (str, int))]
    if unread:  # mapped, and not read: a price or a cost would be silently missing
        r = unread[0]
        raise UpsellDataError(
            f"from_spark does not read the `{r}` column ({dict(columns or {})[r]!r}, of "
            "`columns`): "
            "map order, item, customer, quantity, price, time and channel (a line total: "
            "compute price = value / quantity in Spark first), or read the lines with the "
            "local readers, which take it")
    pos = resolve_columns(names, columns, source="the Spark DataFrame")
    if "item" not in pos:  # columns={"item": None}
        raise UpsellDataError("from_spark reads order lines with items; a purchase log without "
                              "them (columns={'item': None}) is read by the local readers")
    col_of = {role: names[p] for role, p in pos.items()}

    job = _Cleaning(F, T, df, col_of)
    job.row_rules(invalid, bad_prices)
    job.mark_rows()
    if job.has_customer:
        job.fill_customers(anonymous)
    order_is_str = isinstance(df.schema[col_of["order"]].dataType, T.StringType)
    job.returns(returns, cancel_prefix if order_is_str else None)
    job.stage = job.stage.drop(*[c for c in ("_cmin", "_cmax", "_returned", "_n_ret", "_cum",
                                             "_n_cand", "_consumed", "_full", "_anon_order")
                                 if c in job.stage.columns])
    if persist:
        job.stage = job.stage.persist()
    n_read, n_kept, dropped, flagged, repaired = job.count(source, anonymous, returns)
    clean, n_kept = job.duplicates(duplicates, n_kept, dropped, flagged, persist)
    report = DataReport(rows_read=n_read, rows_kept=n_kept, repaired=repaired, dropped=dropped,
                        flagged=flagged, source=source)
    return SparkTransactions(clean, report, job.roles, stage=job.stage if persist else None)


class _Cleaning:
    """The stages of :func:`from_spark` over one lazily built Spark plan.

    Every line gets a ``_drop`` code (None: kept) and ``_flag<j>`` columns; the codes
    are the positions in ``rules`` (the row rules, in the local engine's order), then
    ``n_pre`` (anonymous) and ``n_pre + 1..4`` (returns: dropped, fully returned,
    netted, unmatched).
    """

    def __init__(self, F: Any, T: Any, df: Any, col_of: dict[str, str]) -> None:
        self.F, self.T = F, T
        cols: dict[str, Any] = {}
        missing: dict[str, Any] = {}
        for role in ("order", "item", "customer", "channel"):
            if role in col_of:
                cols[role], missing[role] = _id_column(F, T, df, col_of[role], role)
        bad: list[tuple[str, Any]] = []
        for role in ("quantity", "price"):
            if role in col_of:
                cols[role], unparsed = _number_column(F, T, df, col_of[role], role)
                bad.append((f"{role} not a number", unparsed))
        if "quantity" not in cols:
            cols["quantity"] = F.lit(1.0)
        if "time" in col_of:
            cols["time"], unparsed = _time_column(F, T, df, col_of["time"])
            bad.append(("time not a timestamp", unparsed))
        self.roles = tuple(r for r in ROLES if r in cols)
        self.has_customer = "customer" in self.roles
        # the raw text of a number or time, for the message when it does not parse
        self.raw = {r: F.col(f"`{col_of[r]}`").cast("string")
                    for r in ("quantity", "price", "time") if r in col_of}
        self.bad = bad
        sel = [cols[r].alias(r) for r in self.roles]
        sel += [F.col(f"`{col_of['order']}`").cast("string").alias("_order_text")]
        sel += [m.alias(f"_miss_{r}") for r, m in missing.items()]
        sel += [b.alias(f"_bad{j}") for j, (_, b) in enumerate(bad)]
        sel += [v.alias(f"_raw_{r}") for r, v in self.raw.items()]
        self.stage = df.select(*sel)
        # (reason, condition, policy, flag label, what for a raise message)
        self.rules: list[tuple[str, Any, str, str | None, str]] = []
        self.flags: dict[str, Any] = {}
        self.counts: dict[Any, Any] = {}

    def _finite(self, c: Any) -> Any:
        F = self.F
        return (c.isNotNull() & ~F.isnan(c) & (c != float("inf")) & (c != float("-inf")))

    def row_rules(self, invalid: str, bad_prices: str) -> None:
        """The rules before customers are filled, in the local engine's order."""
        F, roles, rules = self.F, self.roles, self.rules
        for j, (reason, _) in enumerate(self.bad):
            role = reason.split(" ")[0]
            rules.append((reason, F.col(f"_bad{j}"), invalid, None,
                          f"`{role}` {{raw_{role}}} is not a "
                          f"{'timestamp' if role == 'time' else 'number'}"))
        rules.append(("order id missing", F.col("_miss_order"), invalid, None,
                      f"`order` is empty{_HINT}"))
        rules.append(("item id missing", F.col("_miss_item"), invalid, None,
                      f"`item` is empty{_HINT}"))
        rules.append(("quantity missing or not finite", ~self._finite(F.col("quantity")),
                      invalid, None, f"`quantity` {{raw_quantity}} is missing or not finite{_HINT}"))
        if "price" in roles:
            rules.append(("price missing or not finite", ~self._finite(F.col("price")), invalid,
                          None, f"`price` {{raw_price}} is missing or not finite{_HINT}"))
        if "time" in roles:
            rules.append(("time missing", F.col("time").isNull(), invalid, None,
                          f"`time` is missing or not a timestamp{_HINT}"))
        if "price" in roles:
            rules.append((ZERO_BOTH, (F.col("quantity") == 0) & (F.col("price") == 0), "drop",
                          None, ZERO_BOTH))
        rules.append(("zero quantity", F.col("quantity") == 0, "drop", None, "zero quantity"))
        if "price" in roles:
            rules.append(("price zero or negative", F.col("price") <= 0, bad_prices, None,
                          "`price` {raw_price} is zero or negative; "
                          "pass bad_prices='drop' or 'keep'"))
        self.n_pre = len(rules)
        n_pre = self.n_pre
        self.code_ret, self.code_full = n_pre + 1, n_pre + 2
        self.code_net, self.code_unmatched = n_pre + 3, n_pre + 4

    def _flag(self, reason: str, cond: Any) -> None:
        # a flag counts the rows still kept at its step: materialise it now
        self.flags[reason] = cond
        self.stage = self.stage.withColumn(f"_flag{len(self.flags) - 1}", cond)

    def mark_rows(self) -> None:
        """``_drop``: the first row rule that drops or refuses a line; flags for kept rules."""
        F = self.F
        code = None
        for r, (_, cond, policy, _, _) in enumerate(self.rules):
            if policy == "keep":
                continue
            code = (F.when(cond, F.lit(r)) if code is None else code.when(cond, F.lit(r)))
        drop1 = code.otherwise(F.lit(None).cast("int")) if code is not None else F.lit(None)
        self.stage = self.stage.withColumn("_drop", drop1.cast("int"))
        for r, (reason, cond, policy, _, _) in enumerate(self.rules):
            if policy == "keep":
                self._flag(reason, (F.col("_drop").isNull() | (F.col("_drop") > r)) & cond)

    def fill_customers(self, anonymous: str) -> None:
        """An order's missing customer from its other lines; two customers are a conflict."""
        from pyspark.sql import Window

        F = self.F
        kept = F.col("_drop").isNull()
        w_order = Window.partitionBy("order")
        in_kept = F.when(kept, F.col("customer"))
        stage = (self.stage.withColumn("_cmin", F.min(in_kept).over(w_order))
                 .withColumn("_cmax", F.max(in_kept).over(w_order)))
        fill = kept & F.col("customer").isNull() & F.col("_cmax").isNotNull()
        stage = (stage.withColumn("_conflict", kept & (F.col("_cmin") != F.col("_cmax")))
                 .withColumn("_filled", fill)
                 .withColumn("customer", F.when(fill, F.col("_cmax")).otherwise(F.col("customer"))))
        self.stage = stage
        anon = F.col("customer").isNull()
        if anonymous == "keep":
            self._flag("anonymous (no customer)", kept & anon)
        else:
            self.stage = stage.withColumn("_drop", F.when(kept & anon, F.lit(self.n_pre))
                                          .otherwise(F.col("_drop")))

    def returns(self, returns: str, cancel_prefix: str | None) -> None:
        """Negative lines and lines of cancellation orders: dropped, kept, or netted."""
        F = self.F
        kept = F.col("_drop").isNull()
        stage = self.stage
        if cancel_prefix is not None:
            cancel = F.coalesce(F.col("order").startswith(cancel_prefix), F.lit(False))
            stage = stage.withColumn("quantity", F.when(cancel, -F.abs(F.col("quantity")))
                                     .otherwise(F.col("quantity")))
        self.stage = stage.withColumn("_ret", kept & (F.col("quantity") < 0))
        ret = F.col("_ret")
        if returns == "keep":
            self._flag("return or cancellation kept", ret)
        elif returns != "net":
            self.stage = self.stage.withColumn(
                "_drop", F.when(ret, F.lit(self.code_ret)).otherwise(F.col("_drop")))
        else:
            self._net_returns(kept, ret)

    def _net_returns(self, kept: Any, ret: Any) -> None:
        """Net returns against the latest purchases of the same (customer, item); an
        anonymous line's against its own order's (a till's void), as the local engine."""
        from pyspark.sql import Window

        F, roles, stage = self.F, self.roles, self.stage
        matchable = F.lit(True)
        if self.has_customer:
            stage = stage.withColumn("_anon_order", F.when(F.col("customer").isNull(),
                                                           F.col("order")))
            key = ["customer", "_anon_order", "item"]
        else:
            key = ["order", "item"]
        w_key = Window.partitionBy(*key)
        purchase = kept & ~ret & matchable
        stage = stage.withColumn(
            "_returned", F.sum(F.when(ret & matchable, -F.col("quantity")).otherwise(0.0))
            .over(w_key)).withColumn(
            "_n_ret", F.sum(F.when(ret & matchable, 1).otherwise(0)).over(w_key))
        stage = stage.withColumn("_cand", purchase & (F.col("_n_ret") > 0))
        # latest purchase first; ties broken by content, as the local engine does
        order_by = [F.col("_cand").desc()]
        if "time" in roles:
            order_by.append(F.col("time").desc())
        order_by += [F.col("quantity").desc(), F.col("order").desc()]
        if "price" in roles:
            order_by.append(F.col("price").desc())
        if "channel" in roles:
            order_by.append(F.col("channel").desc_nulls_last())
        w_cum = w_key.orderBy(*order_by).rowsBetween(Window.unboundedPreceding, Window.currentRow)
        q = F.col("quantity")
        cum = F.sum(F.when(F.col("_cand"), q)).over(w_cum)
        stage = (stage.withColumn("_cum", cum)
                 .withColumn("_n_cand", F.sum(F.col("_cand").cast("int")).over(w_key)))
        tot = F.col("_returned")
        consumed = F.least(F.col("_cum"), tot) - F.least(F.col("_cum") - q, tot)
        stage = stage.withColumn("_consumed", F.when(F.col("_cand"), consumed))
        remaining = q - F.col("_consumed")
        full = F.col("_cand") & (remaining <= _EPS)
        part = F.col("_cand") & ~(remaining <= _EPS) & (F.col("_consumed") > 0)
        self.stage = (stage.withColumn("_part", part).withColumn("_full", full)
                      .withColumn("quantity", F.when(F.col("_part"), remaining).otherwise(q))
                      .withColumn("_drop", F.when(F.col("_full"), F.lit(self.code_full))
                                  .when(ret & matchable & (F.col("_n_cand") > 0),
                                        F.lit(self.code_net))
                                  .when(ret, F.lit(self.code_unmatched))
                                  .otherwise(F.col("_drop"))))

    # ------------------------------------------------------------------ counting
    def _total(self, name: str) -> int:
        return sum(int(r[name] or 0) for r in self.counts.values())

    def _n_code(self, c: int | None) -> int:
        return int(self.counts[c]["n"]) if c in self.counts else 0

    def _example(self, cond: Any, what: str) -> None:
        stage, raw = self.stage, self.raw
        row = stage.where(cond).select(
            "_order_text", *[f"_raw_{r}" for r in raw]).limit(1).collect()[0]
        n = stage.where(cond).count()
        more = f" ({n:,} such rows)" if n > 1 else ""
        text = what.format(**{f"raw_{r}": repr(row[f"_raw_{r}"]) for r in raw})
        raise UpsellDataError(f"order {row['_order_text']!r}: {text}{more}")

    def count(self, source: str, anonymous: str, returns: str
              ) -> tuple[int, int, dict[str, int], dict[str, int], dict[str, int]]:
        """One job counts every reason; refused lines raise with an example order.

        Returns ``(rows read, rows kept, dropped, flagged, repaired)``.
        """
        F, stage, has_customer = self.F, self.stage, self.has_customer
        flag_cols = {reason: f"_flag{j}" for j, reason in enumerate(self.flags)}
        aggs = [F.count(F.lit(1)).alias("n")]
        aggs += [F.sum(F.col(c).cast("long")).alias(c) for c in flag_cols.values()]
        if has_customer:
            aggs += [F.sum(F.col("_filled").cast("long")).alias("_filled"),
                     F.sum(F.col("_conflict").cast("long")).alias("_conflict")]
        if "_part" in stage.columns:
            aggs.append(F.sum(F.col("_part").cast("long")).alias("_part"))
        self.counts = {r["_drop"]: r for r in stage.groupBy("_drop").agg(*aggs).collect()}
        n_read = sum(int(r["n"]) for r in self.counts.values())
        if n_read == 0:
            raise UpsellDataError(f"no order lines in {source}: it has no data rows")
        n_code, n_pre = self._n_code, self.n_pre
        for r, (_, _, policy, _, what) in enumerate(self.rules):
            if policy == "raise" and n_code(r):
                if r < len(self.bad):  # the local reader refuses these at once, without the hint
                    what = what.replace(_HINT, "")
                self._example(F.col("_drop") == r, what)
        if has_customer and self._total("_conflict"):
            row = stage.where(F.col("_conflict")).select("_order_text").limit(1).collect()[0]
            raise UpsellDataError(
                f"order {row[0]!r} has lines of two customers; an order belongs to one customer, "
                f"check the `order` and `customer` columns")
        if has_customer and anonymous == "raise" and n_code(n_pre):
            self._example(F.col("_drop") == n_pre,
                          "no customer (anonymous order); pass anonymous='keep' or 'drop'")
        if returns == "raise" and n_code(self.code_ret):
            self._example(F.col("_drop") == self.code_ret,
                          "return or cancellation; pass returns='net', 'drop' or 'keep'")

        dropped: dict[str, int] = {}
        for r, (reason, _, policy, _, _) in enumerate(self.rules):
            if policy == "drop" and n_code(r):
                dropped[reason] = dropped.get(reason, 0) + n_code(r)
        if has_customer and anonymous == "drop":
            dropped["anonymous (no customer)"] = n_code(n_pre)
        if returns == "drop":
            dropped["return or cancellation"] = n_code(self.code_ret)
        dropped["fully returned"] = n_code(self.code_full)
        dropped["return netted against a purchase"] = n_code(self.code_net)
        dropped["return without a matching purchase"] = n_code(self.code_unmatched)
        flagged = {reason: self._total(c) for reason, c in flag_cols.items()}
        repaired: dict[str, int] = {}
        if has_customer:
            repaired["customer filled from its order"] = self._total("_filled")
        if "_part" in stage.columns:
            repaired["quantity reduced by a return"] = self._total("_part")
        n_kept = n_code(None)
        if n_kept == 0:
            reasons = ", ".join(f"{r}: {n:,}" for r, n in dropped.items() if n)
            raise UpsellDataError(f"no order lines left in {source} after cleaning "
                                  f"({n_read:,} rows read; dropped {reasons})")
        return n_read, n_kept, dropped, flagged, repaired

    def duplicates(self, duplicates: str, n_kept: int, dropped: dict[str, int],
                   flagged: dict[str, int], persist: bool) -> tuple[Any, int]:
        """The kept lines, with identical lines kept, dropped or refused; and their count."""
        F, roles = self.F, self.roles
        clean = self.stage.where(F.col("_drop").isNull()).select(*roles)
        groups = clean.groupBy(*roles).count().where(F.col("count") > 1)
        n_dup = int(groups.agg(F.sum(F.col("count") - 1)).collect()[0][0] or 0)
        key, hint = duplicate_reason("quantity" in roles)
        if n_dup:
            if duplicates == "raise":
                row = groups.limit(1).collect()[0]
                raise UpsellDataError(
                    f"order {row['order']!r}: duplicate line (identical in every column to an "
                    f"earlier one; {n_dup:,} such lines); pass duplicates='keep' or "
                    f"'drop'{hint}")
            if duplicates == "drop":
                dropped[key] = n_dup
                clean = clean.dropDuplicates()
                n_kept -= n_dup
                if persist:
                    clean = clean.persist()
            else:
                flagged[key] = n_dup
        return clean, n_kept
