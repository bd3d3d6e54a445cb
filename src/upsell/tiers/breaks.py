"""Quantity breaks: the volume prices a shop already charges, read from the prices paid.

Many shops, wholesalers above all, charge less per unit above a quantity ("2.95 each, 2.55 from
32"). That is an upsell a shop without a catalog can make today: a customer about to buy 24 is
told that 32 cost 2.55 each. :func:`quantity_breaks` finds the breaks in the order lines alone;
:class:`QuantityBreaks` answers, for a basket line, the next break within reach and its cue.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._lookup import as_indexed, find_sorted, position
from upsell._stats import adjust_p_values
from upsell._validation import as_transactions, check_float
from upsell.data import Transactions
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError
from upsell.persist import check_array, fail, read_model, write_model

__all__ = ["QuantityBreaks", "QuantityOffer", "quantity_breaks"]

#: A break is a drop of at least this share of the unit price (smaller ones are rounding).
MIN_DROP = 0.02
#: Days of history the price list is read from (a year: one price list, not every one).
WINDOW_DAYS = 365


@dataclass(frozen=True, slots=True)
class QuantityOffer:
    """An offer to buy more of a basket line: its next quantity break within reach.

    Attributes
    ----------
    item : id
    name : str
    quantity_now : float
        The line's quantity.
    quantity : int
        Buy at least this many...
    price : float
        ...for this unit price...
    price_now : float
        ...instead of this one.
    saving : float
        ``1 - price / price_now``.
    cue : str
        The sales cue ("Buy 32 for 2.55 each instead of 2.95 (save 14%)").

    Examples
    --------
    >>> o = QuantityOffer("mug", "MUG", 24.0, 32, 2.55, 2.95, 1 - 2.55 / 2.95, "Buy 32 ...")
    >>> o.to_dict()["quantity"], round(o.extra_spend, 2)
    (32, 10.8)
    """

    item: Any
    name: str
    quantity_now: float
    quantity: int
    price: float
    price_now: float
    saving: float
    cue: str

    @property
    def extra_spend(self) -> float:
        """What the customer pays more at the break than for the line now."""
        return self.quantity * self.price - self.quantity_now * self.price_now

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (``extra_spend`` included)."""
        return {"item": self.item, "name": self.name, "quantity_now": self.quantity_now,
                "quantity": self.quantity, "price": self.price, "price_now": self.price_now,
                "saving": self.saving, "extra_spend": round(self.extra_spend, 6),
                "cue": self.cue}


@dataclass(frozen=True, slots=True)
class QuantityBreaks(TableResult):
    """The quantity breaks of a shop: one row per (item, break), sorted by item then quantity.

    Attributes
    ----------
    item : ndarray
        Item id of each break.
    name : ndarray of str
        Product name (the id when the data have no names).
    base_price : ndarray of float
        The item's usual unit price below its first break.
    quantity : ndarray of int
        The smallest quantity seen at the break's price (buy at least this many).
    price : ndarray of float
        Unit price from ``quantity`` on.
    saving : ndarray of float
        ``1 - price / base_price``.
    lines : ndarray of int
        Order lines that paid the break's price at ``quantity`` or more (its evidence).
    customers : ndarray of int
        Distinct customers among them (at least two: not one customer's own deal; an
        anonymous line read with ``include_anonymous`` counts as one); 2 when the data have
        no customers.
    near : ndarray of int
        Lines below the break, at a higher price, whose customer would have spent at most
        ``price_jump`` times the line to reach it: the upsell's chances.
    taken : ndarray of int
        Of ``near``, lines whose customer later bought the item at the break or more (later:
        in time, or in row order when the data have no time).
    price_jump : float
        The spend limit ``near`` was counted with.

    Examples
    --------
    >>> from upsell.data import Transactions
    >>> q = [6, 12, 6, 32, 32, 40, 24, 12, 6, 32, 12, 6]
    >>> p = [2.95, 2.95, 2.95, 2.55, 2.55, 2.55, 2.95, 2.95, 2.95, 2.55, 2.95, 2.95]
    >>> tx = Transactions.from_arrays(
    ...     order=range(12), item=["mug"] * 12, quantity=q, price=p,
    ...     customer=list("abcabcddabcd"), time=[f"2024-{m:02d}-01" for m in range(1, 13)])
    >>> br = quantity_breaks(tx)
    >>> br.quantity.tolist(), br.price.tolist(), round(float(br.saving[0]), 3)
    ([32], [2.55], 0.136)
    >>> br.offer("mug", 24)
    (32, 2.55, 2.95)
    >>> br.cue("mug", 24)
    'Buy 32 for 2.55 each instead of 2.95 (save 14%)'
    >>> print(br.offer("mug", 2))  # 16x the spend: out of reach
    None
    """

    item: np.ndarray
    name: np.ndarray
    base_price: np.ndarray
    quantity: np.ndarray
    price: np.ndarray
    saving: np.ndarray
    lines: np.ndarray
    customers: np.ndarray
    near: np.ndarray
    taken: np.ndarray
    price_jump: float = 2.0
    # the distinct items in row order and where each one's rows start: a basket line's id,
    # in any spelling a request sends (upsell._lookup.as_indexed), finds its rows
    _items: IdIndex = field(init=False, repr=False, compare=False)
    _starts: np.ndarray = field(init=False, repr=False, compare=False)

    _title = "QuantityBreaks"

    def __post_init__(self) -> None:
        first = np.flatnonzero(np.r_[True, self.item[1:] != self.item[:-1]]) if len(self) \
            else np.zeros(0, dtype=np.int64)
        # IdIndex refuses an id twice: the rows of one item must be one run
        items = IdIndex(self.item[first].tolist() if first.size else [], name="item")
        object.__setattr__(self, "_items", items)
        object.__setattr__(self, "_starts", np.r_[first, len(self)].astype(np.int64))

    def __len__(self) -> int:
        return int(self.item.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        sel = slice(None) if rows is None else np.asarray(rows, dtype=np.int64)
        return {"item": self.item[sel], "name": self.name[sel],
                "base_price": self.base_price[sel], "quantity": self.quantity[sel],
                "price": self.price[sel], "saving": self.saving[sel],
                "lines": self.lines[sel], "customers": self.customers[sel],
                "near": self.near[sel], "taken": self.taken[sel]}

    @property
    def n_items(self) -> int:
        """Products with at least one break."""
        return len(self._items)

    def _summary(self) -> str:
        return f"{len(self):,} breaks of {self.n_items:,} products"

    def __repr__(self) -> str:
        return f"QuantityBreaks({self._summary()}, price_jump={self.price_jump:g})"

    def _next(self, item: Any, quantity: Any) -> tuple[int, float] | None:
        """(row of the largest break within reach above ``quantity``, the unit price paid
        now), or None; one lookup of ``item``."""
        q = check_float(quantity, "quantity", low=0.0, low_open=True)
        if isinstance(item, np.generic):
            item = item.item()
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise UpsellDataError(f"`item` must be an id (str or int); got {item!r}")
        code = position(self._items, as_indexed(self._items, item))
        if code < 0:
            return None
        lo, hi = int(self._starts[code]), int(self._starts[code + 1])
        levels = self.quantity[lo:hi]
        below = int(np.searchsorted(levels, q, side="right"))  # rows at or under q
        now = float(self.base_price[lo] if below == 0 else self.price[lo + below - 1])
        best = None
        for r in range(lo + below, hi):  # dearer breaks last: keep the largest in reach
            if float(self.quantity[r]) * float(self.price[r]) <= self.price_jump * q * now:
                best = r
        return None if best is None else (best, now)

    def offer(self, item: Any, quantity: float) -> tuple[int, float, float] | None:
        """The next break above ``quantity`` of ``item`` within reach, or None.

        Parameters
        ----------
        item : id
            The basket line's item (an int id may come as text, as a web request sends it).
        quantity : float
            The line's quantity (> 0).

        Returns
        -------
        tuple of (int, float, float) or None
            ``(quantity, unit price, unit price now)`` of the largest break whose spend is at
            most ``price_jump`` times the line's; None when the item has no break above
            ``quantity`` within reach (or no break at all).

        Raises
        ------
        UpsellDataError
            If ``quantity`` is not a positive number or ``item`` not an id.

        Examples
        --------
        >>> br = QuantityBreaks(np.array(["mug", "mug"]), np.array(["MUG", "MUG"]),
        ...                     np.array([3.0, 3.0]), np.array([10, 50]),
        ...                     np.array([2.5, 2.0]), np.array([1 / 6, 1 / 3]),
        ...                     *[np.array([5, 5])] * 4)
        >>> br.offer("mug", 8), br.offer("mug", 30), br.offer("mug", 60)
        ((10, 2.5, 3.0), (50, 2.0, 2.5), None)
        """
        found = self._next(item, quantity)
        if found is None:
            return None
        r, now = found
        return int(self.quantity[r]), float(self.price[r]), now

    def cue(self, item: Any, quantity: float) -> str:
        """The sales cue of :meth:`offer` for a basket line ("" when there is no break in reach).

        Examples
        --------
        >>> br = QuantityBreaks(np.array([85123]), np.array(["HEART HOLDER"]),
        ...                     np.array([2.95]), np.array([32]), np.array([2.55]),
        ...                     np.array([0.136]), *[np.array([9])] * 4)
        >>> br.cue("85123", 24)
        'Buy 32 for 2.55 each instead of 2.95 (save 14%)'
        """
        found = self.offer(item, quantity)
        return "" if found is None else _cue_text(*found)

    def offers(self, lines: Any) -> tuple[QuantityOffer, ...]:
        """The quantity offers of a basket: one per line with a break within reach.

        Parameters
        ----------
        lines : mapping of item id to quantity, or sequence of (item, quantity) pairs
            The basket's lines (a line whose item has no break, or none in reach, gets no
            offer).

        Returns
        -------
        tuple of QuantityOffer
            In the order of ``lines``.

        Raises
        ------
        UpsellDataError
            A line that is not (item id, positive quantity), naming it.

        Examples
        --------
        >>> br = QuantityBreaks(np.array(["mug"]), np.array(["MUG"]), np.array([2.95]),
        ...                     np.array([32]), np.array([2.55]), np.array([0.136]),
        ...                     *[np.array([9])] * 4)
        >>> [o.cue for o in br.offers({"mug": 24, "tea": 3})]
        ['Buy 32 for 2.55 each instead of 2.95 (save 14%)']
        """
        out = []
        for pos, (item, qty) in enumerate(_lines_of(lines)):
            try:
                found = self._next(item, qty)
            except UpsellDataError as exc:
                raise UpsellDataError(f"`lines` line {pos} ({item!r}, {qty!r}): {exc}") from None
            if found is None:
                continue
            r, now = found
            n, price = int(self.quantity[r]), float(self.price[r])
            out.append(QuantityOffer(self.item[r:r + 1].tolist()[0], str(self.name[r]),
                                     float(qty), n, price, now, 1.0 - price / now,
                                     _cue_text(n, price, now)))
        return tuple(out)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the breaks to one ``.npz`` file (arrays and JSON, no pickle), atomically.

        Examples
        --------
        >>> import os, tempfile
        >>> br = QuantityBreaks(np.array(["mug"]), np.array(["MUG"]), np.array([2.95]),
        ...                     np.array([32]), np.array([2.55]), np.array([0.136]),
        ...                     *[np.array([9])] * 4)
        >>> path = os.path.join(tempfile.mkdtemp(), "breaks.npz")
        >>> br.save(path)
        >>> QuantityBreaks.load(path).cue("mug", 24)
        'Buy 32 for 2.55 each instead of 2.95 (save 14%)'
        """
        item = self.item
        if item.dtype.kind not in "iuU":  # ids as read: text or integers
            item = item.astype(str)
        write_model(path, kind="QuantityBreaks", params={"price_jump": self.price_jump},
                    arrays={"item": item, "name": self.name.astype(str),
                            **{k: getattr(self, k) for k in _NUMBERS if k != "saving"}})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> QuantityBreaks:
        """Read a file written by :meth:`save`; the file is untrusted input and checked.

        ``verify``: check the arrays' SHA-256 (a caller that checked the whole file's
        digest already, as :meth:`upsell.Recommender.load` does, passes False).

        Raises
        ------
        ModelFileError
            A missing, damaged or edited file, naming the member and the problem (unsorted
            rows, a break price not below its base, counts that do not add up, ...).
        """
        doc, a = read_model(path, kind="QuantityBreaks", verify=verify)
        f = os.fspath(path)
        jump = doc["params"].get("price_jump")
        if type(jump) not in (int, float) or not 1.0 <= jump < float("inf"):
            raise fail(f, "price_jump", f"must be a number >= 1; got {jump!r}")
        item = check_array(a.get("item"), file=f, member="item", kind="iU", ndim=1)
        n = item.size
        name = check_array(a.get("name"), file=f, member="name", kind="U", shape=(n,))
        cols = {}
        for key in _NUMBERS:
            if key == "saving":
                continue
            counts = key in ("quantity", "lines", "customers", "near", "taken")
            cols[key] = check_array(a.get(key), file=f, member=key, kind="i" if counts else "f",
                                    shape=(n,), low=0 if counts else None)
        if n and not (cols["quantity"] >= 1).all():
            raise fail(f, "quantity", "must be at least 1")
        if n and not ((cols["price"] > 0) & (cols["price"] < cols["base_price"])).all():
            raise fail(f, "price", "must be above 0 and below base_price")
        if n and not (cols["taken"] <= cols["near"]).all():
            raise fail(f, "taken", "must not exceed near")
        if n and np.any((item[1:] == item[:-1]) & (np.diff(cols["quantity"]) <= 0)):
            raise fail(f, "quantity", "must rise within an item's rows")
        cols["saving"] = 1.0 - cols["price"] / cols["base_price"]  # derived, not trusted
        for arr in (item, name, *cols.values()):
            arr.flags.writeable = False
        try:  # the construction checks that each item's rows are one run
            return cls(item, name, cols["base_price"], cols["quantity"], cols["price"],
                       cols["saving"], cols["lines"], cols["customers"], cols["near"],
                       cols["taken"], price_jump=float(jump))
        except UpsellDataError:
            raise fail(f, "item", "the rows of one item must be together") from None


def _lines_of(lines: Any) -> list[tuple[Any, Any]]:
    """Basket lines as (item, quantity) pairs: a mapping, or a sequence of pairs or of
    ``{"item": ..., "quantity": ...}`` mappings."""
    if isinstance(lines, Mapping):
        return list(lines.items())
    if isinstance(lines, (str, bytes)) or not isinstance(lines, Iterable):
        raise UpsellDataError("`lines` must map item ids to quantities or list (item, "
                              f"quantity) pairs; got {lines!r}")
    out = []
    for pos, line in enumerate(lines):
        if isinstance(line, Mapping) and "item" in line and "quantity" in line:
            out.append((line["item"], line["quantity"]))
        elif isinstance(line, (tuple, list)) and len(line) == 2:
            out.append((line[0], line[1]))
        else:
            raise UpsellDataError(f"`lines` line {pos} must be an (item, quantity) pair; got "
                                  f"{line!r}")
    return out


#: the numeric columns of a QuantityBreaks, in field order (after item and name)
_NUMBERS = ("base_price", "quantity", "price", "saving", "lines", "customers", "near", "taken")


def _cue_text(n: int, price: float, now: float) -> str:
    """The sales cue of a break: "Buy 32 for 2.55 each instead of 2.95 (save 14%)"."""
    return (f"Buy {n:,} for {_money(price)} each instead of {_money(now)} "
            f"(save {1 - price / now:.0%})")


def _money(x: float) -> str:
    return f"{x:,.2f}" if x < 1000 else f"{x:,.0f}"


def quantity_breaks(tx: Transactions, *, price_jump: float = 2.0, min_drop: float = MIN_DROP,
                    window_days: float = WINDOW_DAYS, include_anonymous: bool = False,
                    exclude: Any = None, max_p: float = 0.01, min_share: float = 2 / 3
                    ) -> QuantityBreaks:
    """Find the quantity breaks in a shop's order lines: where its unit price drops with volume.

    Parameters
    ----------
    tx : Transactions
        Needs ``item``, ``quantity`` and ``price`` (or ``value``); ``customer`` for the two
        customers a break needs and for ``taken``; ``time`` for the window.
    price_jump : float, default 2.0
        A line below a break counts as ``near`` it when reaching the break costs at most this
        many times the line's spend (24 at 2.95 -> 32 at 2.55 is 1.15x; 2 -> 32 is 14x).
    min_drop : float, default 0.02
        Smallest price drop that is a break (a share of the price).
    window_days : float, default 365
        Lines of the last this many days of the history are read (one price list, not every
        one the shop had); all lines when the data have no time.
    include_anonymous : bool, default False
        Read lines without a customer too. Off by default: they are often another channel's
        prices (Online Retail's anonymous lines pay about twice the account price).
    exclude : sequence of item ids, optional
        Items left out (fees and services: :func:`upsell.data.non_product_items`); ids not
        in ``tx`` are ignored.
    max_p : float, default 0.01
        A break is kept when its Holm-adjusted p-value (below) is under this. Holm's
        adjustment holds the family-wise rate: a shop whose prices have no break shows a
        false one with probability at most ``max_p``.
    min_share : float, default 2/3
        A price list, not a sale: the break's price is paid on at least this share of the
        lines at or above its quantity. Online Retail's breaks have 0.86 at their 5th
        percentile; discounts that merely come with larger quantities (make_shop's sales)
        reach about half.

    Returns
    -------
    QuantityBreaks

    Raises
    ------
    UpsellDataError
        If ``tx`` has no item, quantity or price, or an argument is out of range.

    Notes
    -----
    Per item and quantity, the unit price paid most often (the mode; a tie takes the higher
    price) is that quantity's price, read only from quantities bought on at least two lines
    whose mode is at least half of them. The price schedule is the running maximum of those
    prices from the largest quantity down, so a break is a drop that holds for every larger
    quantity seen. A break is kept when the new price is at least ``min_drop`` lower, paid
    on at least ``min_share`` of the lines at or above its quantity, by at least two
    customers (when the data have customers: not one customer's own deal), when both
    prices were paid in one span of time (with times: a markdown, the old price
    before a date and the new one after it, is not a break), and the latest line at the
    break's quantity paid its price (a break the shop has since dropped is not one). Last,
    the break's price must be paid more often at or above its quantity than below it:
    a one-sided Fisher exact test per break (the hypergeometric tail), Holm-adjusted over
    all of them, so discounts given at any quantity make no break.

    Examples
    --------
    >>> tx = Transactions.from_arrays(  # 1-6 at 4.00, 10 or more at 3.50
    ...     order=range(14), item=["tea"] * 14,
    ...     quantity=[1, 2, 1, 2, 6, 6, 2, 1, 2, 1, 10, 12, 10, 20],
    ...     price=[4.0] * 10 + [3.5] * 4, customer=list("abcdabcdababcd"))
    >>> br = quantity_breaks(tx)
    >>> (br.base_price.tolist(), br.quantity.tolist(), br.price.tolist(), br.near.tolist(),
    ...  br.taken.tolist())
    ([4.0], [10], [3.5], [2], [2])
    >>> quantity_breaks(tx, price_jump=1.2).near.tolist()  # 10 x 3.50 is 1.46x of 6 x 4.00
    [0]
    """
    as_transactions(tx, "tx")
    jump = check_float(price_jump, "price_jump", low=1.0)
    drop = check_float(min_drop, "min_drop", low=0.0, high=1.0, low_open=True, high_open=True)
    max_p = check_float(max_p, "max_p", low=0.0, high=1.0, low_open=True)
    share = check_float(min_share, "min_share", low=0.0, high=1.0)
    window = check_float(window_days, "window_days", low=0.0, low_open=True)
    tx.require("item", "quantity breaks")
    tx.require("price", "quantity breaks (a unit price or a line value)")
    has_cust = tx.has("customer")
    keep = (tx.quantity > 0) & np.isfinite(tx.price) & (tx.price > 0)
    if has_cust and not include_anonymous:
        keep &= tx.customer >= 0
    if exclude is not None:
        out_pos = tx.items.encode(list(exclude), unknown="mask")
        gone = np.zeros(len(tx.items), dtype=bool)
        gone[out_pos[out_pos >= 0]] = True
        keep &= ~gone[tx.item]
    has_time = tx.has("time")
    t = tx.time.astype("datetime64[s]").astype(np.int64) if has_time else None
    if t is not None and keep.any():
        keep &= t >= t[keep].max() - int(window * 86400)
    rows = np.flatnonzero(keep)
    item = tx.item[rows].astype(np.int64)
    qty = tx.quantity[rows].astype(np.float64)
    price = np.round(tx.price[rows].astype(np.float64), 6)  # value / quantity: float noise
    cust = tx.customer[rows].astype(np.int64) if has_cust else np.zeros(rows.size, np.int64)
    when = t[rows] if t is not None else np.arange(rows.size, dtype=np.int64)
    empty = _empty(jump)
    if not rows.size:
        return empty
    found = _candidates(item, qty, price, drop)
    if found is None:
        return empty
    b_item, b_qty, b_price, base = found
    ev = _evidence(item, qty, price, cust, when, (b_item, b_qty, b_price, base), jump,
                   has_cust=has_cust, has_time=has_time)
    ok = (ev["customers"] >= 2) & (ev["lines"] >= share * ev["big"]) & ev["in_force"]
    if not ok.any():
        return empty
    # the break's price is paid more often at or above it than below: one-sided Fisher exact
    # test, Holm-adjusted over the breaks left (discounts given at any quantity are no break)
    from scipy.stats import hypergeom

    cand = np.flatnonzero(ok)
    p_value = hypergeom.sf(ev["lines"][cand] - 1, ev["all"][cand], ev["low"][cand],
                           ev["big"][cand])
    cand = cand[adjust_p_values(np.asarray(p_value, dtype=np.float64), "holm") < max_p]
    if not cand.size:
        return empty
    ids = tx.items.ids[b_item[cand]]
    names = tx.item_names()[b_item[cand]].astype(str) if tx.has("name") else ids.astype(str)
    arrays = (ids, names, base[cand], b_qty[cand].astype(np.int64), b_price[cand],
              1.0 - b_price[cand] / base[cand], ev["lines"][cand], ev["customers"][cand],
              ev["near"][cand], ev["taken"][cand])
    for a in arrays:
        a.flags.writeable = False
    return QuantityBreaks(*arrays, price_jump=jump)


def _candidates(item: np.ndarray, qty: np.ndarray, price: np.ndarray, drop: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Candidate breaks (item, quantity, price, base price; sorted by item, then quantity)
    from the modal price of each (item, quantity); None when there is none."""
    # the modal price of each (item, quantity): count each (item, quantity, price) triple,
    # through one int64 key (one sort instead of three); prices descending within a pair
    whole = float(qty.max()) < 2**20 and bool(np.all(qty == np.rint(qty)))
    if whole:  # whole units (the usual case): the quantity is its own code, no sort
        q_val = np.arange(int(qty.max()) + 1, dtype=np.float64)
        q_code = qty.astype(np.int64)
    else:
        q_val, q_code = np.unique(qty, return_inverse=True)
    p_val, p_code = np.unique(-price, return_inverse=True)
    if (float(item.max()) + 1) * q_val.size * p_val.size >= 2.0**62:  # no room in one key
        q_val, q_code = np.unique(qty, return_inverse=True)
        if (float(item.max()) + 1) * q_val.size * p_val.size >= 2.0**62:
            raise UpsellDataError(
                f"quantity_breaks: {item.max() + 1:,} items x {q_val.size:,} quantities x "
                f"{p_val.size:,} prices are too many to count at once; pass window_days= "
                "to read fewer lines")
    key = (item * q_val.size + q_code.reshape(-1)) * p_val.size + p_code.reshape(-1)
    triple, run_n = np.unique(key, return_counts=True)
    pair, p_at = np.divmod(triple, p_val.size)
    run_i, q_at = np.divmod(pair, q_val.size)
    run_q, run_p = q_val[q_at], -p_val[p_at]
    new_group = np.r_[True, (run_i[1:] != run_i[:-1]) | (run_q[1:] != run_q[:-1])]
    g_start = np.flatnonzero(new_group)
    g_lines = np.add.reduceat(run_n, g_start)
    g_of_run = np.cumsum(new_group) - 1
    # the mode: the largest run of each group; a tie keeps the first (the higher price)
    best_n = np.maximum.reduceat(run_n, g_start)
    is_best = run_n == best_n[g_of_run]
    first_best = np.full(g_start.size, -1, dtype=np.int64)
    idx = np.flatnonzero(is_best)[::-1]
    first_best[g_of_run[idx]] = idx  # written last = the first best run
    g_item, g_qty, g_price = run_i[first_best], run_q[first_best], run_p[first_best]
    trusted = (g_lines >= 2) & (2 * best_n >= g_lines)
    g_item, g_qty, g_price = g_item[trusted], g_qty[trusted], g_price[trusted]
    if not g_item.size:
        return None
    # the schedule: the running maximum from each item's largest quantity down
    item_start = np.flatnonzero(np.r_[True, g_item[1:] != g_item[:-1]])
    seg = np.cumsum(np.r_[True, g_item[1:] != g_item[:-1]]) - 1
    span = float(g_price.max()) * 2.0 + 1.0
    rev = (g_price + (seg.max() - seg) * span)[::-1]  # later segments below earlier ones
    sched = (np.maximum.accumulate(rev)[::-1] - (seg.max() - seg) * span)
    sched = np.round(sched, 6)
    first_of_item = np.zeros(g_item.size, dtype=bool)
    first_of_item[item_start] = True
    prev = np.r_[np.nan, sched[:-1]]
    step = ~first_of_item & (sched <= prev * (1.0 - drop))
    cand = np.flatnonzero(step)
    if not cand.size:
        return None
    return g_item[cand], g_qty[cand], sched[cand], sched[item_start][seg[cand]]


def _evidence(item: np.ndarray, qty: np.ndarray, price: np.ndarray, cust: np.ndarray,
              when: np.ndarray, breaks: tuple[np.ndarray, ...], jump: float, *,
              has_cust: bool, has_time: bool) -> dict[str, np.ndarray]:
    """Per candidate break (``breaks``: item, quantity, price, base price; sorted by item),
    counts over its item's lines, all candidates at once: every line is paired with each
    candidate of its item (most items have one)."""
    b_item, b_qty, b_price, base = breaks
    k = b_item.size
    lo = np.searchsorted(b_item, item, side="left")
    n_of = np.searchsorted(b_item, item, side="right") - lo
    line = np.repeat(np.arange(item.size), n_of)
    kk = np.repeat(lo - np.cumsum(np.r_[0, n_of[:-1]]), n_of) + np.arange(line.size)
    q, p, c, w = qty[line], price[line], cust[line], when[line]
    bq, bp, bb = b_qty[kk], b_price[kk], base[kk]
    big = q >= bq
    low = p <= bp * (1 + 1e-9)
    at = big & low
    full = ~big & (p >= bb * (1 - 1e-9))
    near = ~big & ~low & (bq * bp <= jump * q * p)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(kk[mask], minlength=k).astype(np.int64)

    out = {"all": count(np.ones(kk.size, dtype=bool)), "big": count(big), "low": count(low),
           "lines": count(at), "near": count(near)}
    known = c >= 0
    span = int(c.max()) + 1 if c.size else 1  # (break, customer) keys: break * span + customer
    if has_cust:  # distinct customers paying the break; an anonymous line is a visitor each
        keys = np.unique(kk[at & known] * span + c[at & known])
        out["customers"] = (np.bincount(keys // span, minlength=k).astype(np.int64)
                            + count(at & ~known))
    else:
        out["customers"] = np.full(k, 2, dtype=np.int64)
    in_force = np.ones(k, dtype=bool)
    if has_time:
        lo_t, hi_t = np.iinfo(np.int64).min, np.iinfo(np.int64).max

        def first(mask: np.ndarray) -> np.ndarray:
            out = np.full(k, hi_t, dtype=np.int64)
            np.minimum.at(out, kk[mask], w[mask])
            return out

        def last(mask: np.ndarray) -> np.ndarray:
            out = np.full(k, lo_t, dtype=np.int64)
            np.maximum.at(out, kk[mask], w[mask])
            return out

        f_first, f_last, a_first, a_last = first(full), last(full), first(at), last(at)
        big_last = last(big)
        # both prices in force at once (a markdown, the old price before a date and the new
        # one bought in bulk after it, is not a break) and still: the latest line at the
        # break's quantity paid its price (a break the shop has since dropped is not one)
        in_force = ((np.maximum(f_first, a_first) < np.minimum(f_last, a_last))
                    & (a_last >= big_last))
    out["in_force"] = in_force
    taken = np.zeros(k, dtype=np.int64)
    was, now = near & known, big & known
    if has_cust and was.any() and now.any():
        # a near line is taken when its customer bought the break or more after it
        key_now = kk[now] * span + c[now]
        order = np.argsort(key_now, kind="stable")
        key_now, w_now = key_now[order], w[now][order]
        starts = np.flatnonzero(np.r_[True, key_now[1:] != key_now[:-1]])
        keys, latest = key_now[starts], np.maximum.reduceat(w_now, starts)
        pos, found = find_sorted(keys, kk[was] * span + c[was])
        hit = found & (latest[pos] > w[was])
        taken = np.bincount(kk[was][hit], minlength=k).astype(np.int64)
    out["taken"] = taken
    return out


def _empty(jump: float) -> QuantityBreaks:
    f = np.empty(0)
    n = np.empty(0, dtype=np.int64)
    return QuantityBreaks(np.empty(0, dtype=object), np.empty(0, dtype=str), f, n, f.copy(),
                          f.copy(), n.copy(), n.copy(), n.copy(), n.copy(), price_jump=jump)
