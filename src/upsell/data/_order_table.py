"""One row per order (:meth:`upsell.data.Transactions.order_table`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell.data.ids import IdIndex

__all__ = ["OrderTable"]


@dataclass(frozen=True, slots=True)
class OrderTable:
    """One row per order: customer, time, number of lines, units and value.

    Attributes
    ----------
    order : ndarray of int32
        Order index (into ``Transactions.orders``).
    customer : ndarray of int32
        Customer index, -1 for anonymous orders.
    time : ndarray of datetime64[s]
        Time of the order's first line (NaT when the data have no time).
    lines, units, value : ndarray
        Line count, summed quantity, and summed quantity x unit price (NaN when the
        data have no price). Returns kept as negative lines reduce units and value.
    orders : IdIndex
        The order ids (``Transactions.orders``).
    customers : IdIndex, optional
        The customer ids (``Transactions.customers``), when the data have customers.
    order_ids : ndarray
        External order ids, aligned with ``order`` (read from ``orders`` when asked for:
        the table holds no text per order).
    customer_ids : ndarray of object
        External customer ids, aligned with ``order`` (None for anonymous orders), read
        from ``customers`` when asked for.

    Examples
    --------
    >>> from upsell.data import Transactions
    >>> tx = Transactions.from_arrays(order=["o1", "o1", "o2"], item=["a", "b", "a"],
    ...                               quantity=[1, 2, 1], price=[2.0, 1.0, 2.0])
    >>> t = tx.order_table()
    >>> t.units.tolist(), t.value.tolist()
    ([3.0, 1.0], [4.0, 2.0])
    """

    order: np.ndarray
    customer: np.ndarray
    time: np.ndarray
    lines: np.ndarray
    units: np.ndarray
    value: np.ndarray
    orders: IdIndex
    customers: IdIndex | None = None

    def __len__(self) -> int:
        return int(self.order.size)

    @property
    def order_ids(self) -> np.ndarray:
        """External order ids, aligned with ``order``."""
        return self.orders.decode(self.order)

    @property
    def customer_ids(self) -> np.ndarray | None:
        """External customer ids (object array, None where anonymous), aligned with
        ``order``; None when the data have no customers."""
        if self.customers is None:
            return None
        out = np.full(self.customer.size, None, dtype=object)
        named = self.customer >= 0
        out[named] = self.customers.decode(self.customer[named]).tolist()
        return out

    def to_pandas(self) -> Any:
        """Return a DataFrame with one row per order (needs pandas).

        Examples
        --------
        >>> from upsell.data import Transactions
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
        ...                               customer=["c7", "c7", None])
        >>> df = tx.order_table().to_pandas()
        >>> list(df.columns), df["customer"].iloc[0], bool(df["customer"].isna().iloc[1])
        (['order', 'customer', 'time', 'lines', 'units', 'value'], 'c7', True)
        """
        from upsell._extras import require

        pd = require("pandas", "OrderTable.to_pandas")
        return pd.DataFrame({
            "order": self.order_ids, "customer": self._customers(), "time": self.time,
            "lines": self.lines, "units": self.units, "value": self.value,
        })

    def _customers(self) -> np.ndarray:
        """External customer ids (None where anonymous), or the indices when unknown."""
        ids = self.customer_ids
        return ids if ids is not None else self.customer

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        return html_table("OrderTable", {
            "order": self.order_ids, "customer": self._customers(), "time": self.time,
            "lines": self.lines, "units": self.units, "value": self.value,
        }, summary=f"{len(self):,} orders")
