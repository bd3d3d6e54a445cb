"""Loaders for the native formats of public retail data sets.

Nothing here downloads anything: every loader reads a file the caller already has.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from upsell.data.io import check_options, read_basket_lines, read_source
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError

__all__ = ["ONLINE_RETAIL_COLUMNS", "load_cdnow", "load_online_retail", "read_baskets"]

#: Role -> column of the UCI Online Retail files (Country serves as the channel).
ONLINE_RETAIL_COLUMNS = {
    "order": "InvoiceNo", "item": "StockCode", "quantity": "Quantity", "time": "InvoiceDate",
    "price": "UnitPrice", "customer": "CustomerID", "channel": "Country",
}


_BASKET_OPTIONS = ("returns", "anonymous", "bad_prices", "duplicates", "invalid",
                   "item_index", "source")
_READ_OPTIONS = ("columns", "delimiter", "encoding", "header", "returns", "anonymous",
                 "bad_prices", "duplicates", "invalid", "cancel_prefix", "item_index",
                 "customer_index", "source")


def _label(path: Any) -> str:
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)


def read_baskets(path: Any, delimiter: str | None = None, *, encoding: str = "utf-8",
                 **options: Any) -> Transactions:
    """Read a file with one basket per line into Transactions.

    Parameters
    ----------
    path : str or path-like
        The file (gzip content accepted), e.g. arules' ``groceries.csv`` (comma-
        separated labels) or a FIMI ``.dat`` file (space-separated integers).
    delimiter : str, optional
        Separator of the items on a line. Default: a comma when the first
        non-empty line has one, else any run of whitespace (``"whitespace"`` asks
        for that whatever the first line holds). Labels in comma files
        keep their inner and trailing spaces (Groceries has "cream cheese ").
    encoding : str, default "utf-8"
    **options
        Cleaning rules of :meth:`Transactions.from_arrays` (``duplicates``, ...).

    Returns
    -------
    Transactions
        Order id = 1-based line number (int); item ids are ints when every label
        is a plain integer, else strings. Quantity is 1; no customer, price or
        time. Empty lines are empty baskets and leave no order.

    Raises
    ------
    UpsellDataError
        Missing or empty file, undecodable text.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "baskets.csv"
    >>> _ = p.write_text("milk,bread\\ncream cheese ,milk\\n")
    >>> tx = read_baskets(p)
    >>> tx.shape, tx.items.ids.tolist()
    ((4, 2, 3), ['bread', 'cream cheese ', 'milk'])
    """
    check_options(options, _BASKET_OPTIONS, "read_baskets")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise UpsellDataError(f"`delimiter` must be a single character or None; got {delimiter!r}")
    basket, items, n_lines = read_basket_lines(path, delimiter=delimiter, encoding=encoding)
    if basket.size == 0:
        raise UpsellDataError(f"{_label(path)} has {n_lines:,} lines but no items")
    options.setdefault("source", _label(path))
    return Transactions.from_arrays(order=basket + 1, item=items, **options)


def load_online_retail(path: Any, **options: Any) -> Transactions:
    """Read the UCI "Online Retail" CSV (plain or gzip) with its column mapping.

    Columns: InvoiceNo -> order, StockCode -> item, Quantity, InvoiceDate -> time,
    UnitPrice -> price, CustomerID -> customer (empty = anonymous), Country ->
    channel. Invoices starting with "C" are cancellations (``cancel_prefix="C"``).

    Parameters
    ----------
    path : str or path-like
    **options
        Cleaning rules and keywords of :meth:`Transactions.read_csv`; the defaults
        are the library's: returns netted against earlier purchases, zero and
        negative prices dropped, anonymous lines kept; everything is counted in
        ``tx.report``. Pass ``returns="keep", bad_prices="keep"`` to keep every line.

    Returns
    -------
    Transactions

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "retail.csv"
    >>> _ = p.write_text(
    ...     "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\\n"
    ...     "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\\n"
    ...     "536366,22633,WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom\\n"
    ...     "C536379,85123A,HEART,-1,2010-12-01 09:41:00,2.55,17850,United Kingdom\\n")
    >>> tx = load_online_retail(p)
    >>> tx.shape, tx.quantity.tolist()
    ((2, 2, 2), [5.0, 6.0])
    >>> print(tx.report)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    DataReport (...retail.csv): 3 rows read, 2 kept, 1 repaired, 1 dropped
      dropped   return netted against a purchase: 1
      repaired  quantity reduced by a return: 1
      flagged   anonymous (no customer): 1
    """
    check_options(options, _READ_OPTIONS, "load_online_retail")
    columns = dict(ONLINE_RETAIL_COLUMNS)
    columns.update(options.pop("columns", None) or {})
    options.setdefault("cancel_prefix", "C")
    return Transactions.read_csv(path, columns=columns, **options)


def load_cdnow(path: Any, **options: Any) -> Transactions:
    """Read either CDNOW file (the 1/10 sample or the master file) into Transactions.

    The format is detected from the first line: the master file
    (``CDNOW_master.txt``) has a header line and four columns (customer_id,
    date, number_of_cds, dollar_value); the sample (``CDNOW_sample.txt``) has no
    header and five columns (master_id, sample_id, date, number of CDs, dollar
    value), its customer being the master id. Both are whitespace-separated with
    CRLF line ends; dates are YYYYMMDD.

    Parameters
    ----------
    path : str or path-like
    **options
        Cleaning rules of :meth:`Transactions.from_arrays`. The default here is
        ``bad_prices="keep"``: zero-dollar lines are purchases (Fader, Hardie &
        Lee count them) and are kept, flagged in the report.

    Returns
    -------
    Transactions
        One line per file line; customer = the (int) master id; order = the
        customer-day (``"<customer>-<YYYYMMDD>"``), so same-day purchases form one
        order as in Fader, Hardie & Lee (2005); a single pseudo-item ``"CD"``;
        quantity = number of CDs; price = dollar value / CDs (the dollar value
        itself when there are no CDs); time = the date at midnight. Lines with
        zero CDs are dropped and counted ("zero quantity"); zero-dollar lines are
        flagged ("price zero or negative").

    Raises
    ------
    UpsellDataError
        Missing or empty file, a wrong number of fields, a value that is not a
        number or a date (the message names the line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "CDNOW_sample.txt"
    >>> _ = p.write_text(" 00004 0001 19970101  2   29.33\\r\\n 00004 0001 19970118  2   29.73\\r\\n"
    ...                  " 00018 0002 19970101  1    0.00\\r\\n")
    >>> tx = load_cdnow(p)
    >>> tx.customers.ids.tolist(), tx.price.round(3).tolist()
    ([4, 18], [14.665, 14.865, 0.0])
    >>> dict(tx.report.flagged)
    {'price zero or negative': 1}
    """
    check_options(options, _BASKET_OPTIONS, "load_cdnow")
    label = _label(path)
    raw = read_source(path, "utf-8", label)  # gzip by magic bytes; truncated: a clear error
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise UpsellDataError(
            f"{label} is not a CDNOW text file (byte {exc.start} is not ASCII)") from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise UpsellDataError(f"{label} is empty: no CDNOW lines")
    head = lines[first].split()
    has_header = not head[0].isdigit()
    if has_header:
        if [h.lower() for h in head] != ["customer_id", "date", "number_of_cds", "dollar_value"]:
            raise UpsellDataError(
                f"{label} line {first + 1}: header {head!r} is not the CDNOW master header "
                f"(customer_id date number_of_cds dollar_value)"
            )
        width, body_start = 4, first + 1
    else:
        width, body_start = len(head), first
        if width not in (4, 5):
            raise UpsellDataError(
                f"{label} line {first + 1}: has {width} fields; CDNOW files have 4 (master) "
                f"or 5 (sample: master_id, sample_id, date, CDs, dollars)"
            )
    body = lines[body_start:]
    counts = np.fromiter((len(ln.split()) for ln in body), dtype=np.int64, count=len(body))
    bad = (counts != width) & (counts != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UpsellDataError(
            f"{label} line {body_start + i + 1}: has {counts[i]} fields; expected {width}"
        )
    line_no = body_start + 1 + np.flatnonzero(counts)
    fields = np.array(" ".join(body).split(), dtype=str).reshape(-1, width)
    if fields.shape[0] == 0:
        raise UpsellDataError(f"{label} has a header but no data lines")
    cust = _ints(fields[:, 0], "customer id", label, line_no)
    date = _ints(fields[:, -3], "date", label, line_no)
    cds = _floats(fields[:, -2], "number of CDs", label, line_no)
    dollars = _floats(fields[:, -1], "dollar value", label, line_no)
    time = _yyyymmdd(date, label, line_no)
    order = np.char.add(np.char.add(fields[:, 0], "-"), fields[:, -3])
    safe = np.where(cds != 0, cds, 1.0)
    price = dollars / safe
    options.setdefault("bad_prices", "keep")
    options.setdefault("source", label)
    return Transactions.from_arrays(
        order=order, item=np.full(cust.size, "CD"), customer=cust, quantity=cds, price=price,
        time=time, **options)


def _ints(col: np.ndarray, what: str, label: str, line_no: np.ndarray) -> np.ndarray:
    ok = np.char.isdigit(col)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise UpsellDataError(f"{label} line {line_no[i]:,}: {what} {str(col[i])!r} is not a number")
    return col.astype(np.int64)


def _floats(col: np.ndarray, what: str, label: str, line_no: np.ndarray) -> np.ndarray:
    try:
        out = col.astype(np.float64)
    except ValueError:
        out = np.array([_float_or_nan(v) for v in col.tolist()])
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UpsellDataError(f"{label} line {line_no[i]:,}: {what} {str(col[i])!r} is not a number")
    return out


def _float_or_nan(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return float("nan")


def _yyyymmdd(date: np.ndarray, label: str, line_no: np.ndarray) -> np.ndarray:
    y, md = np.divmod(date, 10_000)
    m, d = np.divmod(md, 100)
    months = ((y - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + (d - 1).astype("timedelta64[D]")
    month_len = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]"))
    bad = (m < 1) | (m > 12) | (d < 1) | (d > month_len.astype(np.int64)) | (y < 1900)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise UpsellDataError(
            f"{label} line {line_no[i]:,}: date {date[i]} is not a valid YYYYMMDD date")
    return days.astype("datetime64[s]")
