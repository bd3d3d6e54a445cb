"""What happened to every input row: read, kept, repaired, dropped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

#: The data report's flag for the lines of an order found in more than one of several
#: files read as one history (exports that overlap, or an order split at a file's end).
SPLIT_ORDER = ("order found in more than one file or sheet (exports that overlap, or split at "
               "a file's end)")
#: The data report's reason for lines whose quantity and price are both 0: a log that did not
#: record them (half of Yoochoose's buys); read without quantity and price, they are kept
ZERO_BOTH = "zero quantity and price (not recorded? map neither to keep such lines)"


def sheet_label(path: str, sheet: str) -> str:
    """How messages and the report name a workbook's sheet.

    Examples
    --------
    >>> sheet_label("shop.xlsx", "Year 2010")
    "shop.xlsx sheet 'Year 2010'"
    """
    return f"{path} sheet {sheet!r}"


def one_workbook_sheets(files: Mapping[str, Any]) -> list[str] | None:
    """The sheets (``"sheet 'Year 2010'"``) when the files of a report are the sheets of one
    workbook (:func:`sheet_label`), else None.

    Examples
    --------
    >>> one_workbook_sheets({"a.xlsx sheet 'A'": 3, "a.xlsx sheet 'B'": 1})
    ["sheet 'A'", "sheet 'B'"]
    >>> one_workbook_sheets({"jan.csv": 3, "feb.csv": 1}) is None
    True
    """
    split = [f.rpartition(" sheet '") for f in files]
    if not split or len({book for book, _, _ in split}) != 1 or not split[0][1]:
        return None
    return [f"sheet '{name}" for _, _, name in split]


#: The data report's flag for the lines of a history in which every customer has one order.
ONE_ORDER = ("every customer has exactly one order: is the customer id one per order (as "
             "Olist's customer_id)? then map the person's id (Olist's customer_unique_id, from "
             "a customers file)")
#: Customers that make one order each worth flagging: were 1% of a shop's customers to order
#: again, 300 customers would all have one order with a chance below 5% (0.99**300)
ONE_ORDER_MIN = 300


def one_order_flag(order: np.ndarray, customer: np.ndarray | None) -> dict[str, int]:
    """``{ONE_ORDER: lines}`` when at least :data:`ONE_ORDER_MIN` customers each have exactly
    one order (an order-level id read as the customer), else ``{}``. ``order`` and
    ``customer`` are a history's codes per line (customer -1: anonymous); every order has
    one customer.

    Examples
    --------
    >>> orders = np.arange(400)
    >>> one_order_flag(orders, orders) == {ONE_ORDER: 400}
    True
    >>> one_order_flag(orders, orders // 2)
    {}
    """
    if customer is None or not order.size:
        return {}
    known = customer >= 0
    of_order = np.full(int(order.max()) + 1, -1, dtype=np.int64)
    of_order[order[known]] = customer[known]
    per = np.bincount(of_order[of_order >= 0])
    n = int(np.count_nonzero(per))
    if n < ONE_ORDER_MIN or int(per.max()) > 1:
        return {}
    return {ONE_ORDER: int(np.count_nonzero(known))}


def duplicate_reason(has_quantity: bool) -> tuple[str, str]:
    """The data report's reason for lines identical in every column, and the hint its
    ``duplicates="raise"`` error adds (both readers, in memory and Spark, use them).

    Without a quantity column a line is one unit: a second identical line is a second unit
    of the item (H&M's export), which ``duplicates="keep"`` counts, not an error in the file.

    Parameters
    ----------
    has_quantity : bool
        Whether the file has a quantity column.

    Returns
    -------
    tuple of (str, str)
        The reason and the hint (empty with a quantity column).

    Examples
    --------
    >>> duplicate_reason(True)
    ('duplicate line', '')
    >>> duplicate_reason(False)[0]
    'identical lines, one unit each (no quantity column)'
    """
    if has_quantity:
        return "duplicate line", ""
    return ("identical lines, one unit each (no quantity column)",
            "; the file has no quantity column, so each line is one unit and 'keep' counts them")


def _frozen(d: Mapping[str, int] | None) -> Mapping[str, int]:
    return MappingProxyType({k: int(v) for k, v in (d or {}).items() if int(v) != 0})


@dataclass(frozen=True, slots=True)
class DataReport:
    """Counts of the rows an input held and what was done with them, by reason.

    ``rows_read == rows_kept + sum(dropped.values())`` always holds. ``repaired``
    counts kept rows that were changed (a row can be repaired for one reason at
    most once per reason); ``flagged`` counts kept rows worth knowing about that
    were left as they were (anonymous orders, duplicate lines kept, returns kept).

    Parameters
    ----------
    rows_read : int
        Data rows in the input (a header is not a row).
    rows_kept : int
        Rows that became order lines.
    repaired : mapping of str to int
        Kept rows changed, by reason.
    dropped : mapping of str to int
        Rows left out, by reason.
    flagged : mapping of str to int
        Kept rows worth knowing about, by reason.
    source : str
        Where the rows came from (a path, ``"pandas"``, ...).
    files : mapping of str to int
        Data rows read per file, in the order read, when several files were read as one
        history (monthly exports, a folder of them, a workbook's sheets); empty for one
        input.
    not_read : mapping of str to str
        Parts of the input left out, and why: a workbook's sheets that do not continue its
        table (a notes sheet, a product list), read with the default ``sheet=None``.

    Examples
    --------
    >>> r = DataReport(rows_read=10, rows_kept=8, dropped={"zero quantity": 2},
    ...                repaired={"customer filled from its order": 1})
    >>> r.rows_read == r.rows_kept + r.n_dropped
    True
    >>> print(r)  # doctest: +NORMALIZE_WHITESPACE
    DataReport: 10 rows read, 8 kept, 1 repaired, 2 dropped
      dropped   zero quantity: 2
      repaired  customer filled from its order: 1
    >>> DataReport(rows_read=3, rows_kept=3, files={"jan.csv": 2, "feb.csv": 1}).files["feb.csv"]
    1
    """

    rows_read: int
    rows_kept: int
    repaired: Mapping[str, int] = field(default_factory=dict)
    dropped: Mapping[str, int] = field(default_factory=dict)
    flagged: Mapping[str, int] = field(default_factory=dict)
    source: str = ""
    # (not in repr: a report's repr reads as before; str() lists the files)
    files: Mapping[str, int] = field(default_factory=dict, repr=False)
    not_read: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(
            {str(k): int(v) for k, v in (self.files or {}).items()}))
        object.__setattr__(self, "not_read", MappingProxyType(
            {str(k): str(v) for k, v in (self.not_read or {}).items()}))
        object.__setattr__(self, "repaired", _frozen(self.repaired))
        object.__setattr__(self, "dropped", _frozen(self.dropped))
        object.__setattr__(self, "flagged", _frozen(self.flagged))
        if self.rows_read != self.rows_kept + sum(self.dropped.values()):
            raise ValueError(
                f"DataReport does not add up: {self.rows_read} read != {self.rows_kept} kept "
                f"+ {sum(self.dropped.values())} dropped"
            )

    @property
    def n_dropped(self) -> int:
        """Rows dropped, all reasons together."""
        return sum(self.dropped.values())

    @property
    def n_repaired(self) -> int:
        """Row repairs, all reasons together."""
        return sum(self.repaired.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, for JSON.

        Examples
        --------
        >>> DataReport(rows_read=1, rows_kept=1).to_dict()["rows_kept"]
        1
        """
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "repaired": dict(self.repaired),
            "dropped": dict(self.dropped),
            "flagged": dict(self.flagged),
            "files": dict(self.files),
            "not_read": dict(self.not_read),
        }

    def __str__(self) -> str:
        src = f" ({self.source})" if self.source else ""
        lines = [
            f"DataReport{src}: {self.rows_read:,} rows read, {self.rows_kept:,} kept, "
            f"{self.n_repaired:,} repaired, {self.n_dropped:,} dropped"
        ]
        for title, d in (("dropped", self.dropped), ("repaired", self.repaired),
                         ("flagged", self.flagged)):
            for reason, n in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {title:<9} {reason}: {n:,}")
        if len(self.files) <= 12:
            for name, n in self.files.items():
                lines.append(f"  {'file':<9} {name}: {n:,} rows read")
        else:  # a year of daily exports: their number and sizes
            sizes = list(self.files.values())
            empty = sum(1 for n in sizes if n == 0)
            lines.append(f"  {'files':<9} {len(sizes):,} files, {min(sizes):,} to "
                         f"{max(sizes):,} rows each" + (f"; {empty:,} without rows" if empty
                                                         else ""))
        for name, why in self.not_read.items():
            lines.append(f"  {'not read':<9} {name}: {why}")
        return "\n".join(lines)

    def _rows(self) -> dict[str, list[Any]]:
        rows = [(t, r, n) for t, d in (("dropped", self.dropped), ("repaired", self.repaired),
                                       ("flagged", self.flagged))
                for r, n in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {"action": [r[0] for r in rows], "reason": [r[1] for r in rows],
                "rows": [r[2] for r in rows]}

    def to_pandas(self) -> Any:
        """One row per (action, reason): action ("dropped", "repaired", "flagged"), reason, rows.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> DataReport(rows_read=3, rows_kept=2, dropped={"zero quantity": 1}).to_pandas()
            action         reason  rows
        0  dropped  zero quantity     1
        """
        from upsell._display import data_frame

        return data_frame(self._rows(), "DataReport.to_pandas")

    def _repr_html_(self) -> str:
        from upsell._display import html_table

        src = f" from {self.source}" if self.source else ""
        return html_table("DataReport", self._rows(), max_rows=25, summary=(
            f"{self.rows_read:,} rows read{src}, {self.rows_kept:,} kept, "
            f"{self.n_repaired:,} repaired, {self.n_dropped:,} dropped"))
