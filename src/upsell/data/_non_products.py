"""Items that look like fees, shipping or adjustments rather than products.

Shops book postage, carriage, bank charges, marketplace fees, manual adjustments and
discounts as order lines under item ids of their own. They belong in the KPIs (they are
real money), but an offer of "POSTAGE" is a defect. :func:`non_product_items` finds
them from the data: a catalog column that says so, or else the shop's own item-id
pattern. Nothing is dropped here; callers decide (the command line and
``Recommender.from_history`` exclude them from offers and say so).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._validation import as_transactions, check_float
from upsell.data.catalog import Catalog
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellTypeError

__all__ = ["KIND_COLUMNS", "NON_PRODUCT_KINDS", "NonProductItems", "non_product_items"]

#: Catalog values (case-insensitive; spaces and hyphens read as ``_``) that mark an item
#: as not a product. Gift vouchers are not among them: shops sell them as products.
NON_PRODUCT_KINDS = ("service", "fee", "charge", "shipping", "postage", "delivery",
                     "carriage", "adjustment", "discount", "non_product", "nonproduct")

#: Catalog columns read for those values: the standard ``kind`` and, since
#: :class:`~upsell.data.Catalog` accepts only :data:`~upsell.data.KINDS` there, text
#: columns of these names (kept as ``Catalog.attributes``).
KIND_COLUMNS = ("kind", "type", "item_type", "product_type", "line_type")

#: The id shapes that make up the shop's pattern: at most this many shapes ...
_MAX_SHAPES = 3
#: ... and no flagged shape holding both more than this share of the items and more than
#: ``_MAX_RARE_COUNT`` items (a second product line with its own code pattern is not a fee).
_MAX_RARE_SHARE = 0.01
_MAX_RARE_COUNT = 5

_DIGITS = re.compile(r"[0-9]+")
_LETTERS = re.compile(r"[^\W\d_]+")


def _shape(item_id: str) -> str:
    """``"85123A"`` -> ``"9A"``, ``"POST"`` -> ``"A"``, ``"BANK CHARGES"`` -> ``"A A"``."""
    return _LETTERS.sub("A", _DIGITS.sub("9", item_id))


@dataclass(frozen=True, slots=True)
class NonProductItems:
    """The items of a shop that look like fees, shipping or adjustments, with the evidence.

    One row per flagged item, the most frequent first. Make it with
    :func:`non_product_items`.

    Attributes
    ----------
    items : ndarray
        Flagged item ids (as ``Transactions.items.ids`` spells them).
    names : ndarray of str
        Their product names (the id where none is known).
    reason : ndarray of str
        Why each one is flagged.
    lines : ndarray of int64
        Order lines of each item (after cleaning).
    line_share, revenue_share : ndarray of float
        Share of all order lines, and of the revenue (quantity x price; NaN without
        prices), that each item holds.
    n_items : int
        Items in the shop.
    method : {"catalog", "id shapes", "none"}
        Which signal decided: a catalog column, the item-id pattern, or neither
        (the note says why).
    pattern : tuple of str
        The id shapes of the shop's products (``method="id shapes"``), else empty.
    note : str
        One sentence on what was found and how.

    Examples
    --------
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["A1", "SHIP", "A2", "A3"])
    >>> cat = Catalog.from_records([{"item": "SHIP", "type": "Shipping"}])
    >>> found = non_product_items(tx, cat)
    >>> found
    NonProductItems(1 of 4 items: [SHIP])
    >>> found.method, str(found.reason[0]), found.line_share.tolist()
    ('catalog', "catalog type 'Shipping'", [0.25])
    """

    items: np.ndarray
    names: np.ndarray
    reason: np.ndarray
    lines: np.ndarray
    line_share: np.ndarray
    revenue_share: np.ndarray
    n_items: int
    method: str
    pattern: tuple[str, ...]
    note: str

    def __len__(self) -> int:
        return int(self.items.size)

    def _columns(self) -> dict[str, np.ndarray]:
        return {"item": self.items, "name": self.names, "reason": self.reason,
                "lines": self.lines, "line_share": self.line_share,
                "revenue_share": self.revenue_share}

    def to_pandas(self) -> Any:
        """One row per flagged item: item, name, reason, lines, line_share, revenue_share.

        Examples
        --------
        >>> tx = Transactions.from_arrays(order=[1, 1, 2], item=["POST", "A1", "A1"])
        >>> list(non_product_items(tx).to_pandas().columns)
        ['item', 'name', 'reason', 'lines', 'line_share', 'revenue_share']
        """
        from upsell._extras import require

        pd = require("pandas", "NonProductItems.to_pandas")
        return pd.DataFrame(self._columns())

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        return html_table("NonProductItems", self._columns(), summary=self.note)

    def __repr__(self) -> str:
        shown = ", ".join(map(str, self.items[:5].tolist()))
        more = ", ..." if len(self) > 5 else ""
        return f"NonProductItems({len(self)} of {self.n_items:,} items: [{shown}{more}])"


def non_product_items(transactions: Transactions, catalog: Catalog | None = None, *,
                      share: float = 0.95) -> NonProductItems:
    """Items that look like fees, shipping, services or adjustments, not products.

    Two signals, derived from the shop's own data (no list of codes):

    1. **The catalog**, when it says so: an item whose ``kind``, or whose text column
       ``type``, ``item_type``, ``product_type`` or ``line_type`` (see
       :data:`KIND_COLUMNS`), is one of :data:`NON_PRODUCT_KINDS` (``service``,
       ``fee``, ``charge``, ``shipping``, ``postage``, ``delivery``, ``carriage``,
       ``adjustment``, ``discount``, ``non-product``; case-insensitive). When the
       catalog has such a column (or such a value), it alone decides.
    2. Otherwise **the shop's item-id pattern**. Each id is mapped to a shape: runs
       of digits become ``9``, runs of letters ``A``, other characters are kept
       (``"85123A"`` -> ``9A``, ``"POST"`` -> ``A``, ``"C2"`` -> ``A9``,
       ``"BANK CHARGES"`` -> ``A A``). When at most three shapes, the most common
       ones, hold at least ``share`` of the items, they are the shop's pattern and
       the items of the other shapes are flagged, provided no such shape holds more
       than 1% of the items and more than five items (a second product line with
       its own code pattern is not a fee). Ids that all share one shape (all-numeric
       ids) flag nothing, and neither do free-text ids with no few dominant shapes
       (product names as ids).

    Nothing is dropped or changed: the result lists the items with their evidence
    and weight, for a caller to exclude from offers while keeping them in the KPIs.

    Parameters
    ----------
    transactions : Transactions
    catalog : Catalog, optional
        Item attributes; aligned to the transactions' items (items it lacks are
        treated as products).
    share : float, default 0.95
        Share of the items the shop's pattern must hold, in (0.5, 1).

    Returns
    -------
    NonProductItems
        The flagged items, most order lines first.

    Raises
    ------
    UpsellTypeError
        ``transactions`` is not a Transactions or ``catalog`` not a Catalog.
    UpsellDataError
        ``share`` outside (0.5, 1).

    Notes
    -----
    Rare shapes are cheap evidence with a known failure: a product sold under a
    code of its own shape (Online Retail sells a few marketplace items as
    ``DCGS0003``, shape ``A9`` like the carriage code ``C2``) is flagged too. Such
    items are rare by construction (their shapes hold under 1 - ``share`` of the
    items together), stay in the data and the KPIs, and are listed here by name;
    a catalog column of kinds overrides the pattern.

    Examples
    --------
    >>> tx = Transactions.from_arrays(
    ...     order=[1, 1, 2, 2, 3, 3] + list(range(4, 40)),
    ...     item=["85123A", "POST", "22423", "POST", "84879", "BANK CHARGES"]
    ...          + [str(20000 + i) for i in range(36)],
    ...     quantity=[1] * 42, price=[2.5, 18.0, 12.0, 18.0, 1.5, 15.0] + [1.0] * 36)
    >>> np_items = non_product_items(tx)
    >>> np_items.items.tolist(), np_items.pattern
    (['POST', 'BANK CHARGES'], ('9', '9A'))
    >>> np_items.lines.tolist()
    [2, 1]
    >>> str(np_items.reason[0])
    "id shape 'A', unlike the shop's 9, 9A (39 of 41 items)"
    >>> len(non_product_items(Transactions.from_arrays(order=[1, 2], item=[7, 8])))
    0
    """
    tx = as_transactions(transactions, "transactions")
    if catalog is not None and not isinstance(catalog, Catalog):
        raise UpsellTypeError(f"`catalog` must be a Catalog or None; got "
                              f"{type(catalog).__name__}")
    share = check_float(share, "share", low=0.5, high=1.0, low_open=True, high_open=True)
    n_items = len(tx.items)
    flagged = np.zeros(n_items, dtype=bool)
    reasons = np.full(n_items, "", dtype=object)
    pattern: tuple[str, ...] = ()
    decided = False
    if catalog is not None:
        decided, note = _by_catalog(catalog.align(tx.items), flagged, reasons)
        method = "catalog" if decided else "none"
    if not decided:
        pattern, note = _by_shape(tx, flagged, reasons, share)
        method = "id shapes" if pattern else "none"
    return _result(tx, catalog, flagged, reasons, n_items, method, pattern, note)


def _norm(values: np.ndarray) -> np.ndarray:
    text = np.char.lower(np.char.strip(values.astype(str)))
    return np.char.replace(np.char.replace(text, "-", "_"), " ", "_")


def _by_catalog(cat: Catalog, flagged: np.ndarray, reasons: np.ndarray) -> tuple[bool, str]:
    """Flag items whose catalog kind column says non-product; True when the catalog decides."""
    present = [c for c in KIND_COLUMNS if c == "kind" or c in cat.attributes]
    used = []
    for col in present:
        raw = cat.column(col)
        hit = np.isin(_norm(raw), NON_PRODUCT_KINDS) & ~flagged
        if hit.any():
            reasons[hit] = [f"catalog {col} {v!r}" for v in raw[hit].tolist()]
            flagged |= hit
            used.append(col)
    # a column of kinds (other than the standard `kind`, which defaults to "product") means
    # the shop labels its items: the catalog decides even when it marks none
    named = used or [c for c in present if c != "kind"]
    if not named:
        return False, ""
    return True, (f"the catalog ({', '.join(f'`{c}`' for c in named)}) marks "
                  f"{int(flagged.sum()):,} of {flagged.size:,} items as fees, shipping or "
                  "services")


def _by_shape(tx: Transactions, flagged: np.ndarray, reasons: np.ndarray,
              share: float) -> tuple[tuple[str, ...], str]:
    """Flag items of rare id shapes; the pattern (empty when no few shapes dominate)."""
    n = flagged.size
    if n == 0:
        return (), "no items"
    if tx.items.kind == "int":  # whole numbers: one shape (two with negative ids)
        return (), "the item ids are whole numbers: one shape, nothing flagged"
    shapes = [_shape(i) for i in tx.items.ids.astype(str).tolist()]
    counts = sorted(Counter(shapes).items(), key=lambda sc: (-sc[1], sc[0]))
    held, common = 0, []
    for s, c in counts:
        common.append(s)
        held += c
        if held >= share * n:
            break
    if len(common) == len(counts):
        return (), (f"the item ids share {len(counts)} shape{'s' * (len(counts) > 1)}"
                    f"{' (' + ', '.join(common) + ')' if len(common) <= 3 else ''}: "
                    "nothing unlike them")
    if len(common) > _MAX_SHAPES:
        return (), (f"the item ids follow no few shapes ({len(common)} shapes hold "
                    f"{share:.0%} of the items): free-text ids, nothing flagged")
    big = [s for s, c in counts[len(common):] if c > max(_MAX_RARE_SHARE * n, _MAX_RARE_COUNT)]
    if big:
        return (), (f"shape {big[0]!r} holds over {_MAX_RARE_SHARE:.0%} of the items and "
                    f"over {_MAX_RARE_COUNT} items: a product line, not fees; nothing flagged")
    pattern = tuple(sorted(common))
    shape_arr = np.array(shapes, dtype=object)
    hit = ~np.isin(shape_arr, list(common))
    flagged |= hit
    where = f"unlike the shop's {', '.join(pattern)} ({held:,} of {n:,} items)"
    reasons[hit] = [f"id shape {s!r}, {where}" for s in shape_arr[hit].tolist()]
    return pattern, (f"{int(hit.sum()):,} item ids have shapes {where}")


def _result(tx: Transactions, catalog: Catalog | None, flagged: np.ndarray,
            reasons: np.ndarray, n_items: int, method: str, pattern: tuple[str, ...],
            note: str) -> NonProductItems:
    lines_all = np.bincount(tx.item, minlength=n_items).astype(np.int64)
    idx = np.flatnonzero(flagged)
    idx = idx[np.argsort(-lines_all[idx], kind="stable")]
    total = max(len(tx), 1)
    if tx.has("price"):
        value = np.asarray(tx.quantity, dtype=float) * np.asarray(tx.price, dtype=float)
        rev = np.bincount(tx.item, weights=np.nan_to_num(value), minlength=n_items)
        whole = float(rev.sum())
        rev_share = rev[idx] / whole if whole else np.full(idx.size, np.nan)
    else:
        rev_share = np.full(idx.size, np.nan)
    if tx.has("name"):
        names = tx.item_names()
    elif catalog is not None:
        names = catalog.align(tx.items).name
    else:
        names = tx.items.ids.astype(str)
    return NonProductItems(
        items=tx.items.ids[idx], names=np.asarray(names)[idx].astype(str),
        reason=reasons[idx].astype(str), lines=lines_all[idx],
        line_share=lines_all[idx] / total, revenue_share=np.asarray(rev_share, dtype=float),
        n_items=n_items, method=method, pattern=pattern, note=note)
