"""Turning raw columns into clean order lines: the stage below every reader.

Readers (the CSV reader in :mod:`upsell.data._arrow`, records, DataFrames, Arrow
tables and arrays in :mod:`upsell.data.io` and :class:`~upsell.data.Transactions`)
hand their columns to :func:`prepare`, which encodes ids and converts values into a
:class:`Prepared`; :func:`clean` applies the documented cleaning rules to it and
returns the columns of a :class:`~upsell.data.Transactions`. This module imports
nothing above :mod:`upsell.data._columns`, so every reader may use it. Other packages
use :mod:`upsell.data.engine`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from upsell._validation import check_choice
from upsell.data import _columns as C
from upsell.data._columns import null_markers
from upsell.data._keys import KeyTable
from upsell.data._per_item import item_names, not_set_rows, return_owners
from upsell.data.ids import IdIndex
from upsell.data.report import ZERO_BOTH, DataReport, duplicate_reason, one_order_flag
from upsell.exceptions import UpsellDataError

__all__ = ["EMPTY_ROW", "MAX_PRICE", "MAX_QUANTITY", "TIME_MAX", "TIME_MIN", "Cleaner",
           "Prepared", "clean", "prepare"]

#: The data report's reason for rows with no value in any column read.
EMPTY_ROW = "empty row (no value in any column read)"
#: Largest absolute quantity and unit price accepted (larger ones follow ``invalid``): far
#: beyond any real order line, and small enough that sums of quantity x price over
#: billions of lines stay finite in float64.
MAX_QUANTITY = 1e12
MAX_PRICE = 1e12
#: Plausible range of order times, [TIME_MIN, TIME_MAX); others follow ``invalid``.
TIME_MIN = np.datetime64("1900-01-01T00:00:00", "s")
TIME_MAX = np.datetime64("2200-01-01T00:00:00", "s")

_RETURNS = ("net", "drop", "keep", "raise")
_KEEP_DROP_RAISE = ("keep", "drop", "raise")
_INVALID = ("raise", "drop")


@dataclass
class Prepared:
    """Raw columns after id encoding and type conversion, before the cleaning rules.

    Internal hand-over format between readers (csv, pandas, arrow, arrays) and
    :func:`clean` (then ``Transactions(**columns)``). Codes are int32 or int64 with -1 for missing.
    """

    n: int
    order: np.ndarray
    order_index: IdIndex
    item: np.ndarray
    item_index: IdIndex
    customer: np.ndarray | None = None
    customer_index: IdIndex | None = None
    quantity: np.ndarray | None = None
    price: np.ndarray | None = None
    time: np.ndarray | None = None
    channel: np.ndarray | None = None
    channel_index: IdIndex | None = None
    # rows already found unusable by the reader (value set to NaN/NaT/-1), by reason
    bad: dict[str, np.ndarray] = field(default_factory=dict)
    # rows whose item is not in a fixed item index given by the caller
    unknown_item: np.ndarray | None = None
    unknown_customer: np.ndarray | None = None
    fixed_items: bool = False
    fixed_customers: bool = False
    source: str = ""
    # product name per line (codes into name_index, -1 missing) and line totals
    name: np.ndarray | None = None
    name_index: IdIndex | None = None
    value: np.ndarray | None = None
    # unit cost, or line profit (cost = price - profit / quantity), per line
    cost: np.ndarray | None = None
    profit: np.ndarray | None = None
    # rows changed while reading (ids stripped, null markers read as anonymous), by reason;
    # counted as repaired among the rows kept
    repairs: dict[str, np.ndarray] = field(default_factory=dict)
    # every id of the indexes built from the data (not the fixed ones) occurs in some row:
    # when every row is kept, they need no compaction
    exact_ids: bool = False
    # the arrays are the reader's own (no caller holds them): cleaning may change them in
    # place and hand them to Transactions without a copy
    owned: bool = False
    # (column, min, max) of columns whose range the reader took already (on its threads),
    # by role; min and max of a time column are of its int64 seconds
    spans: dict[str, tuple[np.ndarray, Any, Any]] = field(default_factory=dict)
    # several files read as one: each file's first row and label, in order (row labels
    # name the file), and its rows read (the report lists them); kept rows worth knowing
    # about, by reason (counted as flagged among the rows kept)
    files: Any = None
    file_rows: dict[str, int] = field(default_factory=dict)
    # rows the reader left out while parsing (``where``), by reason: read and dropped, never
    # among the rows here (``files`` is then a RowMap naming each row's place in its file)
    left: dict[str, int] = field(default_factory=dict)
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    # rows whose order or item id was a placeholder ("(not set)"), read as missing, by role
    placeholders: dict[str, np.ndarray] = field(default_factory=dict)
    # a purchase log read without items: every line holds the pseudo-item C.NO_ITEM
    no_items: bool = False
    # parts of the input left out, and why (a workbook's sheet with other columns)
    not_read: dict[str, str] = field(default_factory=dict)



def no_items(n: int, item_index: IdIndex | None) -> tuple[np.ndarray, IdIndex, None]:
    """(item codes, item index, unknown items) of ``n`` lines read without items: one
    pseudo-item, :data:`upsell.data._columns.NO_ITEM`."""
    if item_index is not None:
        raise UpsellDataError("`item_index` names the items a line may hold; a purchase log "
                              "read without items (columns={'item': None}) holds none")
    return np.zeros(n, dtype=np.int32), IdIndex([C.NO_ITEM], name="item"), None


def prepare(arrays: dict[str, Any], *, invalid: str, item_index: IdIndex | None,
             customer_index: IdIndex | None, source: str,
             time_format: str | None = None) -> Prepared:
    """Encode ids and convert values of raw columns (all of one length) into a :class:`Prepared`.

    Id columns may still be Python lists (see :func:`upsell.data._columns.factorize_column`).
    """
    n = len(arrays["order"])
    bad: dict[str, np.ndarray] = {}
    o_codes, o_index, _, _ = C.factorize_column(arrays["order"], "order")
    i_index: IdIndex | None
    if "item" not in arrays:  # a purchase log: each line one purchase of the one pseudo-item
        i_codes, i_index, i_unknown = no_items(n, item_index)
    else:
        i_codes, i_index, _, i_unknown = C.factorize_column(arrays["item"], "item", item_index)
    prep = Prepared(
        n=n, order=o_codes, order_index=o_index,  # type: ignore[arg-type]
        item=i_codes, item_index=item_index if item_index is not None else i_index,  # type: ignore[arg-type]
        unknown_item=i_unknown, fixed_items=item_index is not None, bad=bad, source=source,
        no_items="item" not in arrays,
    )
    for role, codes, index in (("order", o_codes, o_index), ("item", i_codes, i_index)):
        hit = not_set_rows(codes, index)  # Google Analytics' "(not set)": no id
        if hit is not None:
            codes[hit] = -1
            prep.placeholders[role] = hit
    if "customer" in arrays:
        c_codes, c_index, _, c_unknown = C.factorize_column(
            arrays["customer"], "customer", customer_index)
        if c_index is not None and c_index.kind == "str":
            marker = null_markers(np.char.strip(c_index.ids))
            if marker.any():
                hit = np.zeros(c_codes.size, dtype=bool)
                known = c_codes >= 0
                hit[known] = marker[c_codes[known]]
                c_codes = np.where(hit, -1, c_codes)
                prep.repairs["customer id 'NULL', 'nan', 'None' ... read as anonymous"] = hit
        unset = not_set_rows(c_codes, c_index)
        if unset is not None:
            c_codes = np.where(unset, -1, c_codes)
            prep.repairs[f"customer id {C.NOT_SET!r} read as anonymous"] = unset
        prep.customer = c_codes
        prep.customer_index = customer_index if customer_index is not None else c_index
        prep.unknown_customer = c_unknown
        prep.fixed_customers = customer_index is not None
    if "quantity" in arrays:
        prep.quantity = C.numbers(arrays["quantity"], "quantity", invalid=invalid, rows_bad=bad)
    if "price" in arrays:
        prep.price = C.numbers(arrays["price"], "price", invalid=invalid, rows_bad=bad)
    if "time" in arrays:
        prep.time = C.timestamps(arrays["time"], "time", invalid=invalid, rows_bad=bad,
                                 time_format=time_format)
    if "channel" in arrays:
        ch_codes, ch_index, _, _ = C.factorize_column(arrays["channel"], "channel")
        prep.channel, prep.channel_index = ch_codes, ch_index
    if "name" in arrays:
        nm_codes, nm_index, _, _ = C.factorize_column(arrays["name"], "name")
        assert nm_index is not None
        if nm_index.kind == "int":  # names that are all numbers are names all the same
            nm_index = IdIndex(nm_index.ids.astype(str), name="name")
        prep.name, prep.name_index = nm_codes, nm_index
    if "value" in arrays:
        prep.value = C.numbers(arrays["value"], "value", invalid=invalid, rows_bad=bad)
    for role in ("cost", "profit"):
        if role in arrays:
            setattr(prep, role, C.numbers(arrays[role], role, invalid=invalid, rows_bad=bad))
    return prep

def clean(prep: Prepared, *, returns: str = "net", anonymous: str = "keep",
          bad_prices: str = "drop", duplicates: str = "keep", invalid: str = "raise",
          cancel_prefix: str | None = None) -> dict[str, Any]:
    """Apply the cleaning rules of :meth:`Transactions.from_arrays` to prepared columns.

    Returns the keyword arguments of the ``Transactions`` constructor (columns,
    indexes, names and the :class:`~upsell.data.DataReport` of what was done).
    """
    check_choice(returns, "returns", _RETURNS)
    check_choice(anonymous, "anonymous", _KEEP_DROP_RAISE)
    check_choice(bad_prices, "bad_prices", _KEEP_DROP_RAISE)
    check_choice(duplicates, "duplicates", _KEEP_DROP_RAISE)
    check_choice(invalid, "invalid", _INVALID)
    if cancel_prefix is not None and (not isinstance(cancel_prefix, str) or not cancel_prefix):
        raise UpsellDataError(f"`cancel_prefix` must be a non-empty string; got {cancel_prefix!r}")
    if prep.n == 0 and not prep.left:
        raise UpsellDataError(f"no order lines in {prep.source or 'the input'}: it has no data rows")
    return Cleaner(prep).run(
        returns=returns, anonymous=anonymous, bad_prices=bad_prices,
        duplicates=duplicates, invalid=invalid, cancel_prefix=cancel_prefix)


class Cleaner:
    """Applies the cleaning rules to prepared columns and counts what it did."""

    def __init__(self, prep: Prepared) -> None:
        self.p = prep
        self.n = prep.n
        self._keep: np.ndarray | None = None  # built by the first rule that drops a row
        # False once a rule drops a row: while True, masks need no "& keep"
        self.all_kept = True
        # (min, max) of the columns the rules check, each taken once (see within())
        self._span: dict[int, list[Any]] = {}
        # the time column as int64 seconds, the one object the range rules look at
        self.time_s = (prep.time.astype("datetime64[s]", copy=False).view(np.int64)
                       if prep.time is not None else None)
        for role, (arr, lo, hi) in prep.spans.items():
            if getattr(prep, role, None) is arr:
                key = self.time_s if role == "time" else arr
                self._span[id(key)] = [key, lo, hi]
        self.dropped: dict[str, int] = dict(prep.left)  # left out while parsing: first
        self.repaired: dict[str, int] = {}
        self.flagged: dict[str, int] = {}

    @property
    def keep(self) -> np.ndarray:
        """Rows still kept (a mask of every row)."""
        if self._keep is None:
            self._keep = np.ones(self.n, dtype=bool)
        return self._keep

    @keep.setter
    def keep(self, value: np.ndarray) -> None:
        self._keep = value

    def label(self, pos: int) -> str:
        lab = C.row_name(pos, self.p.files)
        code = int(self.p.order[pos])
        if code >= 0:
            lab += f" (order {C.py(self.p.order_index.ids[code])!r})"
        return lab

    def apply(self, mask: np.ndarray, reason: str, policy: str, what: Callable[[int], str],
              flag: str | None = None) -> None:
        """Drop, flag or refuse the still-kept rows in ``mask``."""
        m = mask if self.all_kept else mask & self.keep
        count = int(np.count_nonzero(m))
        if not count:
            return
        if policy == "raise":
            pos = int(np.flatnonzero(m)[0])
            more = f" ({count:,} such rows)" if count > 1 else ""
            raise UpsellDataError(f"{self.label(pos)}: {what(pos)}{more}")
        if policy == "drop":
            self.dropped[reason] = self.dropped.get(reason, 0) + count
            self.keep &= ~m
            self.all_kept = False
        else:
            key = flag or reason
            self.flagged[key] = self.flagged.get(key, 0) + count

    def empty_as(self, role: str, row: int) -> str:
        """How a row's missing id was written: empty, or Google Analytics' placeholder."""
        hit = self.p.placeholders.get(role)
        return ("'(not set)' (Google Analytics' placeholder: no id)"
                if hit is not None and bool(hit[row]) else "empty")

    def empty_rows(self) -> np.ndarray:
        """Rows with no value in any column read: ids missing, numbers NaN, time NaT."""
        p = self.p
        out = p.order < 0
        for codes in (p.item, p.customer, p.channel, p.name):
            if codes is not None:
                out &= codes < 0
        if p.unknown_item is not None:
            out &= ~p.unknown_item
        if p.unknown_customer is not None:
            out &= ~p.unknown_customer
        for values in (p.quantity, p.price, p.value, p.cost, p.profit):
            if values is not None:
                out &= np.isnan(values)
        if p.time is not None:
            out &= np.isnat(p.time)
        return out

    def within(self, a: np.ndarray, lo: Any, hi: Any) -> bool:
        """:func:`_within`, each column's min and max taken at most once for all the rules.

        Only for the checks before any rule changes a column in place.
        """
        if a.size == 0:
            return True
        got = self._span.get(id(a))
        if got is None or got[0] is not a:  # the array is held, so its id stays its own
            got = self._span[id(a)] = [a, None, None]
        if lo is not None:
            if got[1] is None:
                got[1] = a.min()
            if not got[1] >= lo:  # "not >=": NaN fails
                return False
        if hi is None:
            return True
        if got[2] is None:
            got[2] = a.max()
        return bool(got[2] <= hi)

    def run(self, *, returns: str, anonymous: str, bad_prices: str, duplicates: str,
            invalid: str, cancel_prefix: str | None) -> dict[str, Any]:
        p = self.p
        for reason, mask in p.bad.items():
            self.apply(mask, reason, "drop", str)  # already NaN'd by the reader; never raises
        hint = "; pass invalid='drop' to drop such rows"
        if p.price is None and p.value is not None:
            # line totals only: unit price = value / quantity (zero quantities are dropped
            # below; their price is only kept finite so that the drop is what counts them)
            q0 = p.quantity if p.quantity is not None else np.ones(self.n)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                p.price = np.where(q0 != 0, p.value / np.where(q0 != 0, q0, 1.0),
                                   np.where(np.isfinite(p.value), 0.0, np.nan))
        if p.cost is None and p.profit is not None and p.price is not None:
            # line profit: unit cost = unit price - profit / quantity (a line's own cost,
            # never a reason to drop it: NaN where it cannot be told)
            q0 = p.quantity if p.quantity is not None else np.ones(self.n)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                p.cost = np.where(q0 != 0, p.price - p.profit / np.where(q0 != 0, q0, 1.0),
                                  np.nan)
        # each rule's mask is built only when a cheap whole-column reduction (min and max,
        # no temporaries; NaN and NaT fail it) says some row may break it
        if not self.within(p.order, 0, None):
            # a row with no value in any column read (a spreadsheet's ",,,,," lines below the
            # data) holds nothing to name or lose: dropped and counted, never an error
            self.apply(self.empty_rows(), EMPTY_ROW, "drop", str)
            self.apply(p.order < 0, "order id missing", invalid,
                       lambda i: f"`order` is {self.empty_as('order', i)}{hint}")
        if not self.within(p.item, 0, None):
            item_missing = (p.item < 0) & ~(p.unknown_item if p.unknown_item is not None
                                            else False)
            self.apply(item_missing, "item id missing", invalid,
                       lambda i: f"`item` is {self.empty_as('item', i)}{hint}")
        if p.unknown_item is not None and p.unknown_item.any():
            self.apply(p.unknown_item, "item not in the item index", invalid,
                       lambda i: f"`item` is not in the given item index{hint}")
        if p.unknown_customer is not None and p.unknown_customer.any():
            self.apply(p.unknown_customer, "customer not in the customer index", invalid,
                       lambda i: f"`customer` is not in the given customer index{hint}")
        qty = p.quantity if p.quantity is not None else np.ones(self.n)
        qty_ok = self.within(qty, -MAX_QUANTITY, MAX_QUANTITY)
        price_ok = p.price is None or self.within(p.price, -MAX_PRICE, MAX_PRICE)
        if not qty_ok:
            self.apply(~np.isfinite(qty), "quantity missing or not finite", invalid,
                       lambda i: f"`quantity` {C.py(qty[i])!r} is missing or not finite{hint}")
        if p.price is not None and not price_ok:
            price = p.price
            self.apply(~np.isfinite(price), "price missing or not finite", invalid,
                       lambda i: f"`price` {C.py(price[i])!r} is missing or not finite{hint}")
        if not qty_ok:
            self.apply(np.abs(qty) > MAX_QUANTITY, "quantity out of range", invalid,
                       lambda i: f"`quantity` {C.py(qty[i])!r} is beyond +-{MAX_QUANTITY:.0e}"
                       f"{hint}")
        if p.price is not None and not price_ok:
            price = p.price
            self.apply(np.abs(price) > MAX_PRICE, "price out of range", invalid,
                       lambda i: f"`price` {C.py(price[i])!r} is beyond +-{MAX_PRICE:.0e}{hint}")
        if (p.time is not None and self.time_s is not None
                and not self.within(self.time_s, _TIME_MIN_S, _TIME_MAX_S - 1)):
            tm = self.fill_times()
            self.apply(np.isnat(tm), "time missing", invalid,
                       lambda i: f"`time` is missing or not a timestamp{hint}")
            self.apply((tm < TIME_MIN) | (tm >= TIME_MAX), "time out of range", invalid,
                       lambda i: f"`time` {str(tm[i])!r} is outside the plausible range "
                       f"[{TIME_MIN}, {TIME_MAX}){hint}")
        if not self.within(qty, np.nextafter(0.0, 1.0), None):  # negatives: returns, zeros
            money = p.value if p.value is not None else p.price  # as read (not value / 0)
            if money is not None:  # both 0: not recorded (half of Yoochoose's buys)
                self.apply((qty == 0) & (money == 0), ZERO_BOTH, "drop", lambda i: ZERO_BOTH)
            self.apply(qty == 0, "zero quantity", "drop", lambda i: "zero quantity")
        if p.price is not None and not self.within(p.price, np.nextafter(0.0, 1.0), None):
            price = p.price
            self.apply(price <= 0, "price zero or negative", bad_prices,
                       lambda i: f"`price` {C.py(price[i])!r} is zero or negative; pass "
                       f"bad_prices='drop' or 'keep'")
        customer = p.customer
        if customer is not None:
            customer = self.fill_customers(customer)
            if not self.within(customer, 0, None):
                self.apply(customer < 0, "anonymous (no customer)", anonymous,
                           lambda i: "no customer (anonymous order); pass anonymous='keep' or "
                           "'drop'")
        # no negative quantity (NaN fails this too) and no prefix: no return to find
        no_returns = cancel_prefix is None and self.within(qty, 0.0, None)
        self._span.clear()  # the columns may change in place from here
        qty = qty.astype(np.float64, copy=p.quantity is not None and not p.owned)
        if no_returns:
            return self.finish(qty, customer, duplicates)
        is_return = qty < 0
        if cancel_prefix is not None:
            ids = p.order_index.ids
            if ids.dtype.kind == "U":
                cancel = np.char.startswith(ids, cancel_prefix)
                in_cancel = np.zeros(self.n, dtype=bool)
                ok = p.order >= 0
                in_cancel[ok] = cancel[p.order[ok]]
                is_return |= in_cancel
                qty[in_cancel] = -np.abs(qty[in_cancel])
        if returns == "net":
            self.net_returns(qty, is_return, customer)
        else:
            self.apply(is_return, "return or cancellation", returns if returns != "keep" else "keep",
                       lambda i: f"return or cancellation (quantity {qty[i]:g}); pass "
                       f"returns='net', 'drop' or 'keep'",
                       flag="return or cancellation kept")
        return self.finish(qty, customer, duplicates)

    def fill_times(self) -> np.ndarray:
        """The time column with the blank times of an order's lines taken from its other
        lines (the earliest): Shopify's export writes an order's time on its first line only.
        """
        p = self.p
        assert p.time is not None and self.time_s is not None
        blank = np.isnat(p.time) & (p.order >= 0)
        if not self.all_kept:
            blank &= self.keep
        if not blank.any():
            return p.time
        never = np.iinfo(np.int64).max
        first = np.full(len(p.order_index), never, dtype=np.int64)
        known = ~np.isnat(p.time) & (p.order >= 0)
        np.minimum.at(first, p.order[known], self.time_s[known])
        rows = np.flatnonzero(blank)
        rows = rows[first[p.order[rows]] != never]
        if rows.size:
            time = p.time.astype("datetime64[s]", copy=not p.owned)
            time[rows] = first[p.order[rows]].view("datetime64[s]")
            p.time, self.time_s = time, time.view(np.int64)
            self.repaired["time filled from its order"] = int(rows.size)
        return p.time

    def fill_customers(self, customer: np.ndarray) -> np.ndarray:
        p = self.p
        # rows of a missing order are no longer kept (or have raised) by now
        keep = None if self.all_kept else self.keep
        if keep is None:
            # the usual file: each order's lines all name its customer or all none
            order = p.order
            if order.size > 1 and bool((order[1:] >= order[:-1]).all()):
                # lines grouped by order (a file written order by order): a customer
                # that changes only where the order does, three passes, no scatter
                split = customer[1:] != customer[:-1]
                split &= order[1:] == order[:-1]
                if not split.any():
                    return customer
                del split
            else:
                # one scatter and one gather over whole columns, without masked copies
                owner = np.full(len(p.order_index), -1, dtype=customer.dtype)
                owner[order] = customer
                if bool((owner[order] == customer).all()):
                    return customer
                del owner
        named = customer >= 0
        if keep is not None:
            named &= keep
        if not named.any():
            return customer
        o = p.order[named]
        c = customer[named]
        # each order's customer: any of its named lines (a plain scatter, no ufunc.at);
        # an order of two customers shows as a line that disagrees with it
        owner = np.full(len(p.order_index), -1, dtype=customer.dtype)
        owner[o] = c
        disagree = owner[o] != c
        if disagree.any():
            bad = int(o[disagree].min())
            theirs = c[o == bad]
            lo, hi = theirs.min(), theirs.max()
            cids = p.customer_index.ids if p.customer_index is not None else None
            a, b = (cids[lo], cids[hi]) if cids is not None else (lo, hi)
            a, b = C.py(a), C.py(b)
            raise UpsellDataError(
                f"order {C.py(p.order_index.ids[bad])!r} has lines of two customers ({a!r} and {b!r}); "
                f"an order belongs to one customer, check the `order` and `customer` columns"
            )
        del o, c, named
        fill = customer < 0
        if keep is not None:
            fill &= keep
        fill[fill] = owner[p.order[fill]] >= 0
        if fill.any():
            customer = customer.copy()
            customer[fill] = owner[p.order[fill]]
            self.repaired["customer filled from its order"] = int(fill.sum())
        return customer

    def net_returns(self, qty: np.ndarray, is_return: np.ndarray,
                    customer: np.ndarray | None) -> None:
        p = self.p
        ret = is_return & self.keep
        n_ret = int(ret.sum())
        if not n_ret:
            return
        n_netted = 0
        if customer is None or not self.within(customer, 0, None):
            customer = return_owners(customer, p.order)  # an anonymous order owns its lines
        if customer is not None:
            n_items = max(len(p.item_index), 1)
            r_rows = np.flatnonzero(ret & (customer >= 0))
            r_key = customer[r_rows].astype(np.int64) * n_items + p.item[r_rows]
            ret_keys, ret_inv = np.unique(r_key, return_inverse=True)
            ret_inv = ret_inv.reshape(-1)
            returned = np.bincount(ret_inv, weights=-qty[r_rows], minlength=ret_keys.size)
            rows, code = self._purchases_of(ret_keys, customer, is_return, n_items)
            matched = np.zeros(ret_keys.size, dtype=bool)
            if rows.size:
                t = (p.time[rows].view(np.int64) if p.time is not None
                     else np.zeros(rows.size, dtype=np.int64))
                # latest first; ties broken by content, never by row position, so that the
                # result does not depend on the input's row order
                ties = [-p.order[rows], -qty[rows]]
                if p.price is not None:
                    ties.insert(0, -p.price[rows])
                if p.channel is not None:
                    ties.insert(0, -p.channel[rows])
                order = np.lexsort((*ties, -t, code))
                rows, code = rows[order], code[order]
                q = qty[rows]
                group_start = np.r_[True, code[1:] != code[:-1]]
                csum = np.cumsum(q)
                base = np.maximum.accumulate(np.where(group_start, csum - q, 0))
                cum_incl = csum - base
                total_ret = returned[code]
                consumed = np.minimum(cum_incl, total_ret) - np.minimum(cum_incl - q, total_ret)
                remaining = q - consumed
                full = remaining <= 1e-12
                part = ~full & (consumed > 0)
                if full.any():
                    self.dropped["fully returned"] = int(full.sum())
                    self.keep[rows[full]] = False
                    self.all_kept = False
                if part.any():
                    self.repaired["quantity reduced by a return"] = int(part.sum())
                    qty[rows[part]] = remaining[part]
                matched[code] = True
            n_netted = int(matched[ret_inv].sum())
        if n_netted:
            self.dropped["return netted against a purchase"] = n_netted
        if n_ret > n_netted:
            self.dropped["return without a matching purchase"] = n_ret - n_netted
        self.keep &= ~ret
        self.all_kept = False

    def _purchases_of(self, keys: np.ndarray, customer: np.ndarray, is_return: np.ndarray,
                      n_items: int) -> tuple[np.ndarray, np.ndarray]:
        """Kept purchase lines whose (customer, item) key is in ``keys``, with its position.

        One hash lookup per purchase line, in slices to bound the temporaries: no
        sort or ``np.isin`` over all lines when only a few keys saw returns.
        """
        find = _key_finder(keys)
        # only lines of a customer and of an item that saw a return can match: two
        # gathers of flags leave most lines out of the hash lookups (the customer's
        # flags shifted by one, so that anonymous lines (-1) read False)
        cust_flag = np.zeros(int(customer.max()) + 2 if customer.size else 1, dtype=bool)
        cust_flag[keys // n_items + 1] = True
        item_flag = np.zeros(n_items, dtype=bool)
        item_flag[keys % n_items] = True
        shifted = customer + 1
        cand = cust_flag[shifted]
        del shifted
        cand &= item_flag[self.p.item]
        cand &= self.keep
        cand &= ~is_return
        found_rows, found_code = [], []
        step = 1 << 20
        for lo in range(0, self.n, step):
            rows = np.flatnonzero(cand[lo:lo + step])
            rows += lo
            key = customer[rows].astype(np.int64)
            key *= n_items
            key += self.p.item[rows]
            code = find(key)
            hit = code >= 0
            found_rows.append(rows[hit])
            found_code.append(code[hit].astype(np.intp))
        return np.concatenate(found_rows), np.concatenate(found_code)

    def finish(self, qty: np.ndarray, customer: np.ndarray | None,
               duplicates: str) -> dict[str, Any]:
        p = self.p
        keep = None if self.all_kept else self.keep
        for counts, masks in ((self.repaired, p.repairs), (self.flagged, p.flags)):
            for reason, mask in masks.items():
                count = int(np.count_nonzero(mask if keep is None else mask & keep))
                if count:
                    counts[reason] = counts.get(reason, 0) + count
        read = p.n + sum(p.left.values())
        if (keep is not None and not keep.any()) or not p.n:
            reasons = ", ".join(f"{r}: {n:,}" for r, n in self.dropped.items())
            raise UpsellDataError(
                f"no order lines left in {p.source or 'the input'} after cleaning "
                f"({read:,} rows read; dropped {reasons})"
            )
        rows = None if keep is None or keep.all() else np.flatnonzero(keep)

        def sel(a: np.ndarray) -> np.ndarray:
            return a if rows is None else a[rows]

        def _compact(codes: np.ndarray, index: IdIndex) -> tuple[np.ndarray, IdIndex]:
            if rows is None and p.exact_ids:  # every id occurs in a kept row
                # a copy, as _compact_codes gives, unless the reader's own
                return codes.astype(np.int32, copy=not p.owned), index
            return _compact_codes(codes, index)

        o_codes, orders = _compact(sel(p.order), p.order_index)
        if p.fixed_items:
            i_codes, items = sel(p.item).astype(np.int32), p.item_index
        else:
            i_codes, items = _compact(sel(p.item), p.item_index)
        names = None
        if p.name is not None and p.name_index is not None:
            names = item_names(i_codes, sel(p.name), len(items), p.name_index)
        costs = None
        if p.cost is not None:  # one unit cost per item: the median of its purchase lines
            keep_q = sel(qty) > 0
            from upsell._stats import median_by

            costs = median_by(i_codes[keep_q], sel(p.cost)[keep_q], len(items))
        # canonical order: by (order, item), ties by the remaining columns, then by row
        key = np.multiply(o_codes, max(len(items), 1), dtype=np.int64)  # one pass, no cast copy
        key += i_codes
        m = key.size
        perm: np.ndarray | None = None
        if m > 1 and not bool((key[1:] >= key[:-1]).all()):
            # stable only for speed (timsort uses the runs files come in, e.g. grouped by
            # order); equal keys are put in row order below anyway, with the other ties
            perm, key = _stable_sort(key)
            o_codes, i_codes = o_codes[perm], i_codes[perm]
        # the other columns in one gather each: kept rows in canonical order
        idx = rows if perm is None else (perm if rows is None else rows[perm])

        def take(a: np.ndarray) -> np.ndarray:
            # a copy either way (columns end up read-only and may be the caller's
            # arrays), unless they are the reader's own
            if idx is None:
                return a if p.owned else a.copy()
            return a[idx]

        q = qty if idx is None else qty[idx]  # run()'s own copy, or the reader's own array
        price = take(p.price) if p.price is not None else None
        time = take(p.time) if p.time is not None else None
        cust = None
        customers = IdIndex(np.array([], dtype=np.int64), name="customer")
        if customer is not None and p.customer_index is not None:
            c_sel = customer if idx is None else customer[idx]
            if p.fixed_customers:
                cust, customers = c_sel.astype(np.int32), p.customer_index
            else:
                # compaction keeps the index's id order: the same whatever the row order
                cust, customers = _compact(c_sel, p.customer_index)
        chan = channels = None
        if p.channel is not None and p.channel_index is not None:
            chan, channels = _compact(p.channel if idx is None else p.channel[idx],
                                      p.channel_index)
        same_key = key[1:] == key[:-1]
        del key
        cols = [c for c in (q, price, time.view(np.int64) if time is not None else None,
                            cust, chan) if c is not None]
        dup_at = np.zeros(0, dtype=np.intp)
        tie_pos = tie_src = None
        if same_key.any():
            # only lines sharing their (order, item) with another need the tie-break
            tie = np.zeros(m, dtype=bool)
            tie[1:] = same_key
            tie[:-1] |= same_key
            tie_pos = np.flatnonzero(tie)
            del tie
            src = perm[tie_pos] if perm is not None else tie_pos
            # (lo, hi) are the neighbours within a group
            lo = np.flatnonzero(same_key)
            hi = lo + 1
            # a column constant within every group (the customer, often the time or the
            # price) cannot reorder a group: leave it out of the sort and the moves
            # (bit for bit, so that 0.0 and -0.0 still move with their lines)
            varying = [c for c in cols if not bool((_bits(c)[hi] == _bits(c)[lo]).all())]
            group = np.empty(tie_pos.size, dtype=np.intp)
            group[0] = 0
            np.cumsum(~same_key[tie_pos[:-1]], out=group[1:])
            # by group, then the varying columns, then row: lexsort is stable and tie_pos runs
            # in row order within a group (src increases there: perm is a stable sort), so
            # the row needs no key of its own
            sub = _group_order(group, [c[tie_pos] for c in varying])
            tie_src = src[sub]
            moved = tie_pos[sub]
            for c in varying:
                c[tie_pos] = c[moved]
            # a duplicate equals the line before it in every column
            equal = np.ones(lo.size, dtype=bool)
            for c in varying:
                equal &= c[hi] == c[lo]
            dup_at = hi[equal]
        n_dup = int(dup_at.size)
        key, hint = duplicate_reason(p.quantity is not None)
        if n_dup:
            if duplicates == "raise":
                assert tie_pos is not None and tie_src is not None
                first = int(tie_src[np.searchsorted(tie_pos, dup_at[0])])
                row = first if rows is None else int(rows[first])
                raise UpsellDataError(
                    f"{self.label(row)}: duplicate line (identical in every column "
                    f"to an earlier one; {n_dup:,} such lines); pass duplicates='keep' or "
                    f"'drop'{hint}"
                )
            if duplicates == "drop":
                self.dropped[key] = n_dup
                k2 = np.ones(m, dtype=bool)
                k2[dup_at] = False
                o_codes, i_codes, q = o_codes[k2], i_codes[k2], q[k2]
                price = price[k2] if price is not None else None
                time = time[k2] if time is not None else None
                cust = cust[k2] if cust is not None else None
                chan = chan[k2] if chan is not None else None
            else:
                self.flagged[key] = n_dup
        self.flagged.update(one_order_flag(o_codes, cust))
        report = DataReport(rows_read=read, rows_kept=int(o_codes.size), repaired=self.repaired,
                            dropped=self.dropped, flagged=self.flagged, source=p.source,
                            files=p.file_rows, not_read=p.not_read)
        return dict(
            order=o_codes.astype(np.int32, copy=False), item=i_codes.astype(np.int32, copy=False),
            customer=cust.astype(np.int32, copy=False) if cust is not None else None,
            quantity=np.ascontiguousarray(q, dtype=np.float64), price=price, time=time,
            channel=chan.astype(np.int32, copy=False) if chan is not None else None,
            orders=orders, items=items, customers=customers, channels=channels, report=report,
            names=names, costs=costs, no_items=p.no_items,
        )


_TIME_MIN_S = int(TIME_MIN.astype(np.int64))
_TIME_MAX_S = int(TIME_MAX.astype(np.int64))


def _within(a: np.ndarray, lo: Any, hi: Any) -> bool:
    """Whether every value of ``a`` lies in [lo, hi] (None: unbounded); NaN never does.

    Two reductions over the column and no mask: the rules of :meth:`Cleaner.run`
    build their row masks only when this is False.
    """
    if a.size == 0:
        return True
    if lo is not None and not a.min() >= lo:  # "not >=": NaN fails
        return False
    return hi is None or bool(a.max() <= hi)


def _key_finder(keys: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A lookup of int64 keys in the distinct ``keys``: position (int32), -1 if absent.

    pyarrow's ``index_in`` (one C++ hash pass) when pyarrow is loaded already, as it
    is for the CSV reader; otherwise :class:`KeyTable` (a few numpy passes per probe
    round), so that other readers need not import pyarrow.
    """
    if "pyarrow" in sys.modules:
        try:
            import pyarrow._compute as pc

            from upsell.data._sources import _arrow_ints, _with_nulls

            options = pc.SetLookupOptions(_arrow_ints(keys))

            def find_arrow(k: np.ndarray) -> np.ndarray:
                found = pc.call_function("index_in", [_arrow_ints(k)], options)
                return _with_nulls(found, np.int32, -1)  # absent keys are null

            return find_arrow
        except (ImportError, AttributeError):  # a pyarrow that moved them: numpy's table
            pass
    table = KeyTable.of_unique(keys.view(np.uint64))
    return lambda k: table.find(np.ascontiguousarray(k, dtype=np.int64).view(np.uint64))


def _stable_sort(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``perm = np.argsort(key, kind="stable")`` and ``key[perm]`` (``key`` >= 0, int64).

    When key and row number fit in 63 bits together, the row goes into the key's
    low bits and one unstable SIMD sort of the values does it (distinct values:
    stable by construction), about twice as fast as a stable argsort and a gather.
    """
    m = key.size
    row_bits = max(int(m - 1).bit_length(), 1)
    top = int(key.max()) if m else 0
    if key.dtype != np.int64 or int(key.min()) < 0 or top.bit_length() + row_bits > 62:
        perm = np.argsort(key, kind="stable")
        return perm, key[perm]
    packed = key << row_bits
    packed |= np.arange(m, dtype=np.int64)
    packed.sort()
    perm = packed & ((1 << row_bits) - 1)
    packed >>= row_bits
    return perm, packed


def _group_order(group: np.ndarray, keys: list[np.ndarray]) -> np.ndarray:
    """``np.lexsort([*reversed(keys), group])``: by group, then each key in turn, stably.

    Faster for the usual few keys: each key becomes its rank among its values
    (its offset from the minimum when the values are integers in a small range,
    else one sort), and group and ranks are packed into one int64 sorted once
    (the groups come in order, which the stable sort's runs use). Falls back to
    lexsort when they do not fit in 63 bits.
    """
    if not keys:
        return np.arange(group.size)
    ranks, widths = [], []
    bits = int(group.max()).bit_length() if group.size else 0
    same_group = group[1:] == group[:-1]
    for k in keys:
        # only groups where the key varies need its rank; elsewhere any constant will do
        varies = np.zeros(int(group.max()) + 1 if group.size else 0, dtype=bool)
        varies[group[1:][same_group & (k[1:] != k[:-1])]] = True
        rows = varies[group]
        part = k[rows] if not bool(rows.all()) else k
        r_part, width = _offset_rank(part)
        if r_part is None:
            uniq, r_part = np.unique(part, return_inverse=True)
            r_part, width = r_part.reshape(-1), int(uniq.size - 1).bit_length()
        if part is k:
            r = r_part
        else:
            r = np.zeros(k.size, dtype=np.int64)
            r[rows] = r_part
        ranks.append(r)
        widths.append(max(width, 1))
        bits += widths[-1]
    if bits > 62:
        return np.lexsort([*reversed(keys), group])
    packed = group.astype(np.int64)
    for r, width in zip(ranks, widths, strict=True):
        packed <<= width
        packed |= r
    return np.argsort(packed, kind="stable")


def _offset_rank(k: np.ndarray) -> tuple[np.ndarray | None, int]:
    """``k - k.min()`` as int64 with its bit width when ``k`` holds integers spanning < 2**32.

    Orders like the rank among the values (equal values, 0.0 and -0.0 included,
    get equal offsets) without a sort; ``(None, 0)`` for other values.
    """
    if not k.size or k.dtype.kind not in "fiu":
        return None, 0
    lo, hi = k.min(), k.max()
    if k.dtype.kind == "f":
        # integers below 2**52 in size: exact in float64, and so is their difference
        if not (lo > -2.0**52 and hi < 2.0**52 and hi - lo < 2**32):
            return None, 0
        if not bool((k == np.floor(k)).all()):
            return None, 0
        r = k - lo
        return r.astype(np.int64), int(hi - lo).bit_length()
    span = int(hi) - int(lo)
    if span >= 2**32:
        return None, 0
    r = k.astype(np.int64)
    r -= int(lo)
    return r, span.bit_length()


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int64) if a.dtype == np.float64 else a


def _compact_codes(codes: np.ndarray, index: IdIndex) -> tuple[np.ndarray, IdIndex]:
    """Re-index codes to the ids actually used, keeping the index's (sorted) id order.

    Codes of -1 (anonymous) stay -1. One scatter and one gather through tables with
    one more slot at the end, where -1 lands, so anonymous rows need no masks.
    """
    n = len(index)
    used = np.zeros(n + 1, dtype=bool)
    used[codes] = True  # -1 lands on the last slot, outside the ids
    if used[:n].all():
        return codes.astype(np.int32), index
    table = np.empty(n + 1, dtype=np.int32)
    np.cumsum(used[:n], dtype=np.int32, out=table[:n])
    table[:n] -= 1
    table[n] = -1
    return np.take(table, codes), index._subset(used[:n])
