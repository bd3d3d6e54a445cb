"""Order lines: the columnar, immutable data every other module works on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from upsell._validation import as_time, check_choice, check_float
from upsell.data import _columns as C
from upsell.data import _matrices as M
from upsell.data._clean import (  # noqa: F401 - the limits are documented here
    _INVALID,
    MAX_PRICE,
    MAX_QUANTITY,
    TIME_MAX,
    TIME_MIN,
    Prepared,
    clean,
    prepare,
)
from upsell.data._file_readers import (
    OPTIONS,
    FileReaders,
    InvalidPolicy,
    Policy3,
    ReturnsPolicy,
)
from upsell.data._order_table import OrderTable
from upsell.data.ids import IdIndex
from upsell.data.report import DataReport
from upsell.exceptions import UpsellDataError

if TYPE_CHECKING:
    import scipy.sparse as sp

    from upsell.data.io import ColumnMap

__all__ = ["ROLES", "OrderTable", "Transactions"]

_ID_ROLES = frozenset({"order", "item", "customer", "channel"})

#: Column roles Transactions understands, in their canonical order.
ROLES = ("order", "item", "customer", "quantity", "price", "time", "channel")

Weighting = Literal["count", "binary", "units", "value", "bm25", "tfidf"]

_OPTIONS = OPTIONS

_WEIGHTINGS = ("count", "binary", "units", "value", "bm25", "tfidf")


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None:
        a.flags.writeable = False
    return a


class Transactions(FileReaders):
    """Order lines as columnar numpy arrays, cleaned by documented rules and immutable.

    Build one with :meth:`read_csv`, :meth:`from_pandas`, :meth:`from_arrow`,
    :meth:`from_records` or :meth:`from_arrays`. Only ``order`` and ``item`` are
    required; ``customer``, ``quantity`` (default 1), ``price``, ``time``,
    ``channel``, ``name`` (product name, see :meth:`item_names`) and ``value``
    (line total: unit price = value / quantity when there is no ``price``) are
    optional, and a feature that needs a missing one says so.

    Lines are held sorted by (order, item) with the ids of each kind mapped to
    contiguous int32 indices through :class:`~upsell.data.IdIndex` (``tx.orders``,
    ``tx.items``, ``tx.customers``), sorted by id, so the same lines in any row
    order give identical arrays and matrices.

    Cleaning rules (each a keyword of every constructor; counts in ``tx.report``):

    ``returns`` ("net")
        A return is a line with negative quantity or an order whose id starts with
        ``cancel_prefix``. "net" subtracts each customer's returned quantity of an
        item from their latest purchases of it (lines returned in full are dropped,
        partly returned ones repaired) and drops the return lines; "drop" drops
        return lines only; "keep" keeps them as negative lines; "raise" refuses them.
    ``anonymous`` ("keep")
        Lines with no customer: keep (customer -1, left out of per-customer
        views), drop, or raise. A line with no customer in an order whose other
        lines name one is given that customer (repaired).
    ``bad_prices`` ("drop")
        Unit price zero or negative: drop, keep, or raise.
    ``duplicates`` ("keep")
        Lines identical in every column: keep (flagged), drop all but one, or raise.
    ``invalid`` ("raise")
        Missing ids, unparseable or non-finite numbers and timestamps, items not
        in a given item index: raise an :class:`~upsell.exceptions.UpsellDataError`
        naming row, column and value, or drop the row (counted).

    Lines with quantity zero are always dropped and counted.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=["o1", "o1", "o2", "C9"], item=["tea", "mug", "tea", "mug"],
    ...     customer=["ann", "ann", "bob", "ann"], quantity=[1, 1, 2, -1],
    ...     price=[3.0, 8.0, 3.0, 8.0], cancel_prefix="C")
    >>> len(tx), tx.items.ids.tolist()
    (2, ['tea'])
    >>> print(tx.report)  # doctest: +NORMALIZE_WHITESPACE
    DataReport (arrays): 4 rows read, 2 kept, 0 repaired, 2 dropped
      dropped   fully returned: 1
      dropped   return netted against a purchase: 1
    >>> tx.customer_items().toarray().tolist()
    [[1.0], [1.0]]
    """

    __slots__ = ("_cache", "_cols", "_costs", "_lock", "_names", "channels", "customers", "items",
                 "orders", "report")

    orders: IdIndex
    items: IdIndex
    customers: IdIndex
    channels: IdIndex | None
    report: DataReport

    def __init__(self, *, order: np.ndarray, item: np.ndarray, customer: np.ndarray | None,
                 quantity: np.ndarray, price: np.ndarray | None, time: np.ndarray | None,
                 channel: np.ndarray | None, orders: IdIndex, items: IdIndex,
                 customers: IdIndex, channels: IdIndex | None, report: DataReport,
                 names: np.ndarray | None = None, no_items: bool = False,
                 costs: np.ndarray | None = None) -> None:
        """Low-level constructor over already-clean, sorted arrays; use the ``from_*`` methods.
        ``no_items``: a purchase log read without items (``has("item")`` is False)."""
        self._cols: dict[str, np.ndarray | None] = {
            "order": _readonly(order), "item": _readonly(item),
            "customer": _readonly(customer), "quantity": _readonly(quantity),
            "price": _readonly(price), "time": _readonly(time), "channel": _readonly(channel),
        }
        self.orders = orders
        self.items = items
        self.customers = customers
        self.channels = channels
        self.report = report
        # one product name per item (aligned with ``items``; "" where unknown), or None
        self._names = _readonly(names)
        # one unit cost per item (aligned with ``items``; NaN where unknown), or None
        self._costs = _readonly(costs)
        self._no_items = bool(no_items)
        self._cache: dict[Any, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ columns
    @property
    def order(self) -> np.ndarray:
        """Order index of each line (int32)."""
        return self._cols["order"]  # type: ignore[return-value]

    @property
    def item(self) -> np.ndarray:
        """Item index of each line (int32)."""
        return self._cols["item"]  # type: ignore[return-value]

    @property
    def customer(self) -> np.ndarray:
        """Customer index of each line (int32, -1 for anonymous orders).

        Raises
        ------
        UpsellDataError
            If the data have no customer column.
        """
        return self.require("customer", "per-customer data")

    @property
    def quantity(self) -> np.ndarray:
        """Quantity of each line (float64; 1 when the input had no quantity column)."""
        return self._cols["quantity"]  # type: ignore[return-value]

    @property
    def price(self) -> np.ndarray:
        """Unit price of each line (float64). Raises if the data have no price column."""
        return self.require("price", "prices")

    @property
    def time(self) -> np.ndarray:
        """Timestamp of each line (datetime64[s]). Raises if the data have no time column."""
        return self.require("time", "timestamps")

    @property
    def channel(self) -> np.ndarray:
        """Channel index of each line (int32). Raises if the data have no channel column."""
        return self.require("channel", "channels")

    def has(self, column: str) -> bool:
        """Whether the optional column (customer, price, time, channel, name, cost) is present.

        ``"name"`` means product names were read (the ``name`` role); ``"cost"``, unit
        costs (the ``cost`` or ``profit`` role: :meth:`item_costs`).

        Examples
        --------
        >>> Transactions.from_arrays(order=[1], item=[2]).has("price")
        False
        """
        if column == "name":
            return self._names is not None
        if column == "cost":
            return self._costs is not None
        if column == "item":  # False only for a purchase log read with columns={"item": None}
            return not self._no_items
        if column not in ROLES:
            raise UpsellDataError(
                f"`column` must be one of {', '.join(ROLES)}, name; got {column!r}")
        return self._cols[column] is not None

    def item_costs(self) -> np.ndarray:
        """Unit cost of each item, aligned with ``tx.items`` (float64): the median over the
        item's purchase lines of the ``cost`` column, or of unit price - profit / quantity
        from the ``profit`` column; NaN where no line tells it, or when neither was read.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "a", "b"],
        ...                               price=[10.0, 10.0, 4.0], quantity=[1, 2, 1],
        ...                               profit=[3.0, 8.0, 1.0])
        >>> tx.item_costs().tolist()
        [6.5, 3.0]
        """
        if self._costs is None:
            return np.full(len(self.items), np.nan)
        return self._costs.copy()

    def item_names(self) -> np.ndarray:
        """Product name of each item, aligned with ``tx.items`` (str array).

        The most frequent name among the item's lines (ties: the first in
        alphabetical order); the item id as text where no name is known (no
        ``name`` column, or no name on any of the item's lines).

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 2, 3, 3], item=["a", "a", "a", "b"],
        ...                               name=["Mug", "Mug", "mug", None])
        >>> tx.items.ids.tolist(), tx.item_names().tolist()
        (['a', 'b'], ['Mug', 'b'])
        """
        ids = self.items.ids.astype(str)
        if self._names is None:
            return ids
        names = self._names
        return np.where(np.char.str_len(names) > 0, names, ids) if names.size else ids

    def require(self, column: str, feature: str) -> np.ndarray:
        """Return an optional column, or raise a clear error naming the feature that needs it.

        Examples
        --------
        >>> Transactions.from_arrays(order=[1], item=[2]).require("time", "split_at")
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: split_at needs the `time` column, which these transactions do not have; map it with columns={'time': ...}
        """
        arr = None if column == "item" and self._no_items else self._cols.get(column)
        if arr is None:
            raise UpsellDataError(
                f"{feature} needs the `{column}` column, which these transactions do not have; "
                f"map it with columns={{'{column}': ...}}"
            )
        return arr

    def __len__(self) -> int:
        return int(self.order.size)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(lines, orders, items)."""
        return (len(self), len(self.orders), len(self.items))

    def __repr__(self) -> str:
        cols = [c for c in ROLES if self._cols[c] is not None and self.has(c)]
        return (
            f"Transactions(lines={len(self):,}, orders={len(self.orders):,}, "
            f"items={len(self.items):,}, customers={len(self.customers):,}, "
            f"columns={cols})"
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls, *, order: Any, item: Any, customer: Any = None, quantity: Any = None,
        price: Any = None, time: Any = None, channel: Any = None, name: Any = None,
        value: Any = None, cost: Any = None, profit: Any = None,
        returns: ReturnsPolicy = "net", anonymous: Policy3 = "keep",
        bad_prices: Policy3 = "drop", duplicates: Policy3 = "keep",
        invalid: InvalidPolicy = "raise", cancel_prefix: str | None = None,
        item_index: IdIndex | None = None, customer_index: IdIndex | None = None,
        source: str = "arrays", time_format: str | None = None,
    ) -> Transactions:
        """Build Transactions from one array-like per column.

        Parameters
        ----------
        order, item : array-like of str or int
            Order and item id of each line (required). ``item=None``: a purchase log without
            items (a customer, time and amount per line): each line is one purchase, enough
            for ATV, CLV and RFM; ``has("item")`` is False and item models refuse it.
        customer : array-like, optional
            Customer id; None, NaN or "" mark an anonymous line.
        quantity : array-like of numbers, optional
            Units per line; 1 when omitted.
        price : array-like of numbers, optional
            Unit price.
        time : array-like of datetime64, datetime or ISO 8601 strings, optional
        channel : array-like of str or int, optional
        name : array-like of str, optional
            Product name (description) of each line; :meth:`item_names` keeps the
            most frequent one per item.
        value : array-like of numbers, optional
            Line total (quantity x unit price), for data without unit prices: when
            ``price`` is not given, unit price = value / quantity. Ignored when
            ``price`` is given.
        cost : array-like of numbers, optional
            Unit cost of each line (what the shop paid for one unit): :meth:`item_costs`
            keeps the median per item, the cost a derived catalog takes
            (:meth:`Catalog.from_transactions`) for margins.
        profit : array-like of numbers, optional
            Line profit (the Superstore sample's ``Profit``), for data without unit costs:
            unit cost = unit price - profit / quantity. Ignored when ``cost`` is given.
        returns, anonymous, bad_prices, duplicates, invalid : str
            Cleaning rules; see the class docstring.
        cancel_prefix : str, optional
            Order ids starting with it are cancellations (Online Retail uses "C").
        item_index, customer_index : IdIndex, optional
            Fixed id universes (a Catalog's items, a model's customers). Lines with
            other ids follow ``invalid``.
        source : str
            Label for the report.
        time_format : str, optional
            How ``time`` texts are written when they are not ISO 8601, as a strptime
            format (``"%d/%m/%Y %H:%M"``; see :meth:`read_csv`). datetime values are
            taken as they are.

        Returns
        -------
        Transactions

        Raises
        ------
        UpsellDataError
            For columns of different lengths, no rows, and bad values under
            ``invalid="raise"``.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
        ...                               customer=["x", "x", None])
        >>> tx.baskets().toarray().tolist()
        [[1.0, 1.0], [1.0, 0.0]]
        >>> dict(tx.report.flagged)
        {'anonymous (no customer)': 1}
        """
        invalid = check_choice(invalid, "invalid", _INVALID)  # type: ignore[assignment]
        cols = {"order": order, "item": item, "customer": customer, "quantity": quantity,
                "price": price, "time": time, "channel": channel, "name": name, "value": value,
                "cost": cost, "profit": profit}
        # id columns given as Python lists are hashed as they are (C.factorize_column's
        # fast path): no object or string array of the whole column is built
        arrays = {k: v if k in _ID_ROLES and isinstance(v, (list, tuple)) and k != "name"
                  else C.as_array(v, k)
                  for k, v in cols.items() if v is not None}
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) > 1:
            desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
            raise UpsellDataError(f"columns must have the same length; got {desc}")
        prep = prepare(arrays, invalid=invalid, item_index=item_index,
                        customer_index=customer_index, source=source,
                        time_format=C.check_time_format(time_format))
        return cls._from_prepared(
            prep, returns=returns, anonymous=anonymous, bad_prices=bad_prices,
            duplicates=duplicates, invalid=invalid, cancel_prefix=cancel_prefix,
        )

    @classmethod
    def from_records(cls, records: Iterable[Any], *, columns: ColumnMap | None = None,
                     **options: Any) -> Transactions:
        """Build Transactions from an iterable of mappings (or tuples in ``ROLES`` order).

        Parameters
        ----------
        records : iterable of dict or tuple
            One order line each. Dicts are read through ``columns`` (role -> key,
            default: the role names themselves); tuples are taken in the order
            order, item, customer, quantity, price, time, channel.
        columns : mapping, optional
            Role -> key in each record.
        **options
            Cleaning rules and other keywords of :meth:`from_arrays`.

        Examples
        --------
        >>> tx = Transactions.from_records([
        ...     {"InvoiceNo": "1", "StockCode": "A"}, {"InvoiceNo": "1", "StockCode": "B"}],
        ...     columns={"order": "InvoiceNo", "item": "StockCode"})
        >>> tx.shape
        (2, 1, 2)
        """
        from upsell.data.io import check_options, records_to_columns

        check_options(options, _OPTIONS, "Transactions.from_records")
        return cls.from_arrays(**records_to_columns(records, columns), **{
            "source": "records", **options})

    @classmethod
    def from_pandas(cls, frame: Any, *, columns: ColumnMap | None = None,
                    **options: Any) -> Transactions:
        """Build Transactions from a pandas DataFrame.

        Parameters
        ----------
        frame : pandas.DataFrame
        columns : mapping, optional
            Role -> column name, e.g. ``{"order": "InvoiceNo", "item": "StockCode"}``;
            roles not given are looked up under their own names.
        **options
            Cleaning rules and other keywords of :meth:`from_arrays`.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"order": [1, 1, 2], "item": ["a", "b", "b"]})
        >>> Transactions.from_pandas(df).shape
        (3, 2, 2)
        """
        from upsell.data.io import check_options, frame_columns

        check_options(options, _OPTIONS, "Transactions.from_pandas")
        return cls.from_arrays(**frame_columns(frame, columns, kind="pandas"),
                               **{"source": "pandas", **options})

    @classmethod
    def from_arrow(cls, table: Any, *, columns: ColumnMap | None = None,
                   **options: Any) -> Transactions:
        """Build Transactions from a pyarrow Table or RecordBatch.

        Parameters
        ----------
        table : pyarrow.Table or pyarrow.RecordBatch
        columns : mapping, optional
            Role -> column name.
        **options
            Cleaning rules and other keywords of :meth:`from_arrays`.

        Examples
        --------
        >>> import pyarrow as pa
        >>> t = pa.table({"order": ["o1", "o2"], "item": ["a", "a"]})
        >>> Transactions.from_arrow(t).shape
        (2, 2, 1)
        """
        from upsell.data.io import check_options, frame_columns

        check_options(options, _OPTIONS, "Transactions.from_arrow")
        return cls.from_arrays(**frame_columns(table, columns, kind="arrow"),
                               **{"source": "arrow", **options})

    # ------------------------------------------------------------------ cached views
    def _cached(self, key: Any, build: Callable[[], Any]) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            pass
        value = build()
        with self._lock:
            return self._cache.setdefault(key, value)

    def baskets(self) -> sp.csr_matrix:
        """Orders x items binary CSR matrix (float32): 1 where the order holds the item.

        Lines with negative quantity (returns kept with ``returns="keep"``) do not
        count. Computed once and cached; treat it as read-only.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "b"])
        >>> tx.baskets().toarray().tolist()
        [[1.0, 1.0], [0.0, 1.0]]
        """
        return self._cached("baskets", self._build_baskets)

    def _build_baskets(self) -> sp.csr_matrix:
        indptr, indices = self._basket_structure()
        return M.baskets(indptr, indices, (len(self.orders), len(self.items)))

    def _basket_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """The CSR structure of :meth:`baskets` (indptr, sorted indices), built with numpy alone.

        Lines are sorted by (order, item), so one pass drops the returns and the
        repeated items of an order. Cached and read-only; the bundle miner reads
        it without importing scipy.
        """
        item = self.require("item", "order x item baskets")  # not of a purchase log
        return self._cached("basket_structure", lambda: M.basket_structure(
            self.order, item, self.quantity, len(self.orders)))

    def customer_items(self, weighting: Weighting = "count", *, bm25_k1: float = 100.0,
                       bm25_b: float = 0.8) -> sp.csr_matrix:
        """Customers x items CSR matrix (float32) of purchase strength.

        Parameters
        ----------
        weighting : {"count", "binary", "units", "value", "bm25", "tfidf"}
            "count": number of orders in which the customer bought the item;
            "binary": 1 if ever bought; "units": summed quantity; "value": summed
            quantity x price; "bm25" and "tfidf": the count matrix reweighted
            (BM25 with ``bm25_k1`` and ``bm25_b``; TF-IDF with sqrt term frequency),
            items as terms and customers as documents.
        bm25_k1, bm25_b : float
            BM25 parameters.

        Returns
        -------
        scipy.sparse.csr_matrix
            Shape (len(customers), len(items)); anonymous lines are left out and
            cells whose net total is not positive are not stored.

        Notes
        -----
        BM25 (Robertson & Zaragoza 2009): ``w = c (k1 + 1) / (k1 L + c) * idf`` with
        ``L = 1 - b + b n_u / mean(n)``, ``n_u`` the customer's total count and
        ``idf = log(N) - log(1 + df)``, ``N`` customers and ``df`` the item's buyers.
        TF-IDF: ``w = sqrt(c) * idf`` with the same idf.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
        ...                               customer=["x", "x", "x"], quantity=[2, 1, 1])
        >>> tx.customer_items().toarray().tolist(), tx.customer_items("units").toarray().tolist()
        ([[2.0, 1.0]], [[3.0, 1.0]])
        """
        check_choice(weighting, "weighting", _WEIGHTINGS)
        self.require("item", "customer x item matrices")
        bm25_k1 = check_float(bm25_k1, "bm25_k1", low=0, low_open=True)
        bm25_b = check_float(bm25_b, "bm25_b", low=0, high=1)
        if weighting in ("bm25", "tfidf"):
            key = (weighting, float(bm25_k1), float(bm25_b))
            return self._cached(key, lambda: self._reweight(weighting, bm25_k1, bm25_b))
        return self._cached(("ci", weighting), lambda: self._build_customer_items(weighting))

    def _build_customer_items(self, weighting: str) -> sp.csr_matrix:
        cust = self.require("customer", f"customer_items(weighting={weighting!r})")
        price = None if weighting != "value" else self.require(
            "price", "customer_items(weighting='value')")
        return M.customer_items(cust, self.order, self.item, self.quantity, price, weighting,
                                (len(self.customers), len(self.items)))

    def _reweight(self, weighting: str, k1: float, b: float) -> sp.csr_matrix:
        return M.reweight(self.customer_items("count"), weighting, k1, b)

    def order_table(self) -> OrderTable:
        """Per-order summary: customer, time, lines, units and value.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=["a", "b", "a"], item=[1, 1, 2],
        ...                               time=["2011-01-02", "2011-01-01", "2011-01-02"])
        >>> t = tx.order_table()
        >>> t.order_ids.tolist(), t.lines.tolist(), str(t.time[1])
        (['a', 'b'], [2, 1], '2011-01-01T00:00:00')
        """
        return self._cached("order_table", self._build_order_table)

    def _build_order_table(self) -> OrderTable:
        n_orders = len(self.orders)
        o = self.order
        # an empty subset (filter, split) has no line at all
        starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]]) if o.size else np.empty(0, np.int64)
        present = o[starts]
        lines = np.zeros(n_orders, dtype=np.int64)
        lines[present] = np.diff(np.r_[starts, o.size])
        units = np.bincount(o, weights=self.quantity, minlength=n_orders)
        if self.has("price"):
            value = np.bincount(o, weights=self.quantity * self.price, minlength=n_orders)
        else:
            value = np.full(n_orders, np.nan)
        customer = np.full(n_orders, -1, dtype=np.int32)
        if self.has("customer"):
            customer[present] = self.customer[starts]
        time = np.full(n_orders, np.datetime64("NaT"), dtype="datetime64[s]")
        if self.has("time"):
            time[present] = np.minimum.reduceat(self.time, starts)
        # orders of the index with no line here (subsets keep the index) get 0 lines and NaT
        order = np.arange(n_orders, dtype=np.int32)
        return OrderTable(
            order=_readonly(order), customer=_readonly(customer), time=_readonly(time),  # type: ignore[arg-type]
            lines=_readonly(lines), units=_readonly(units), value=_readonly(value),  # type: ignore[arg-type]
            orders=self.orders, customers=self.customers,
        )

    # ------------------------------------------------------------------ subsets
    def filter(self, mask: np.ndarray | None = None, *, customers: Any = None, items: Any = None,
               orders: Any = None, start: Any = None, end: Any = None,
               channels: Any = None) -> Transactions:
        """Keep the lines that pass every condition given; id indexes are kept unchanged.

        Keeping the indexes means matrices of a subset line up with those of the
        whole (same shape), which train/test splits need.

        Parameters
        ----------
        mask : bool array of length ``len(tx)``, optional
        customers, items, orders, channels : iterable of external ids, optional
            Keep lines whose id is among them (unknown ids are an error).
        start, end : datetime-like, optional
            Keep lines with ``start <= time < end``.

        Returns
        -------
        Transactions
            With a report counting the lines filtered out.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "b", "a"])
        >>> sub = tx.filter(items=["a"])
        >>> len(sub), sub.items == tx.items
        (2, True)
        """
        keep = np.ones(len(self), dtype=bool)
        if mask is not None:
            m = np.asarray(mask)
            if m.dtype != bool or m.shape != (len(self),):
                raise UpsellDataError(
                    f"`mask` must be a boolean array of length {len(self)}; "
                    f"got dtype {m.dtype} and shape {m.shape}"
                )
            keep &= m
        for name, idx_name, values in (("customers", "customer", customers),
                                       ("items", "item", items), ("orders", "order", orders),
                                       ("channels", "channel", channels)):
            if values is None:
                continue
            index = {"customer": self.customers, "item": self.items, "order": self.orders,
                     "channel": self.channels}[idx_name]
            column = self.require(idx_name, f"filter({name}=...)") if idx_name in (
                "customer", "channel") else self._cols[idx_name]
            assert index is not None and column is not None
            codes = index.encode(values)
            sel = np.zeros(len(index), dtype=bool)
            sel[codes] = True
            keep &= np.where(column >= 0, sel[np.maximum(column, 0)], False)
        if start is not None or end is not None:
            t = self.require("time", "filter(start=..., end=...)")
            if start is not None:
                keep &= t >= as_time(start, "start")
            if end is not None:
                keep &= t < as_time(end, "end")
        return self._subset(keep, "filtered out")

    def split_at(self, time: Any) -> tuple[Transactions, Transactions]:
        """Split into lines before ``time`` and lines at or after it.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"],
        ...                               time=["2011-01-01", "2011-02-01"])
        >>> before, after = tx.split_at("2011-01-15")
        >>> len(before), len(after)
        (1, 1)
        """
        t = self.require("time", "split_at")
        at = as_time(time, "time")
        early = t < at
        return self._subset(early, "at or after the split"), self._subset(~early, "before the split")

    def _subset(self, keep: np.ndarray, reason: str) -> Transactions:
        n_out = int((~keep).sum())
        report = DataReport(rows_read=len(self), rows_kept=len(self) - n_out,
                            dropped={reason: n_out}, source="subset")
        cols = {k: (v[keep] if v is not None else None) for k, v in self._cols.items()}
        return Transactions(
            order=cols["order"], item=cols["item"], customer=cols["customer"],  # type: ignore[arg-type]
            quantity=cols["quantity"], price=cols["price"], time=cols["time"],  # type: ignore[arg-type]
            channel=cols["channel"], orders=self.orders, items=self.items,
            customers=self.customers, channels=self.channels, report=report,
            names=self._names, no_items=self._no_items, costs=self._costs,
        )

    def to_pandas(self) -> Any:
        """One row per order line with external ids (needs pandas).

        Examples
        --------
        >>> Transactions.from_arrays(order=[1], item=["a"]).to_pandas().columns.tolist()
        ['order', 'item', 'quantity']
        """
        from upsell._extras import require

        pd = require("pandas", "Transactions.to_pandas")
        data: dict[str, Any] = {"order": self.orders.ids[self.order],
                                "item": self.items.ids[self.item]}
        if self.has("customer"):
            c = self.customer
            ids = np.empty(c.size, dtype=object)
            ids[:] = None
            ids[c >= 0] = self.customers.ids[c[c >= 0]]
            data["customer"] = ids
        if self._names is not None:
            data["name"] = self.item_names()[self.item]
        data["quantity"] = self.quantity
        for col in ("price", "time"):
            if self.has(col):
                data[col] = self._cols[col]
        if self.channels is not None and self.has("channel"):
            data["channel"] = self.channels.ids[self.channel]
        if self._costs is not None:
            data["cost"] = self._costs[self.item]
        return pd.DataFrame(data)

    def to_csv(self, path: Any, columns: ColumnMap | None = None) -> None:
        """Write the order lines, with external ids, as a CSV file that :meth:`read_csv` reads back.

        Parameters
        ----------
        path : str or path-like
            Target file; a name ending in ``.gz`` is gzip-compressed. Written to a
            temporary file first and renamed, so a failed write leaves no partial file.
        columns : mapping, optional
            Role -> header name (default: the role names); pass the same mapping
            to :meth:`read_csv`.

        Notes
        -----
        Columns: order, item, quantity, and customer, price, time, channel when
        present. Anonymous lines have an empty customer cell, numbers their
        shortest exact text, times ISO 8601. String ids that all look like plain
        integers come back as integer ids.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "lines.csv.gz"
        >>> tx = Transactions.from_arrays(order=[7, 7, 8], item=["a", "b", "a"],
        ...                               customer=[1, 1, None], price=[2.5, 1.0, 2.5])
        >>> tx.to_csv(p)
        >>> back = Transactions.read_csv(p)
        >>> back.items == tx.items, back.price.tolist() == tx.price.tolist()
        (True, True)
        """
        from upsell.data.io import write_csv

        write_csv(self, path, columns)

