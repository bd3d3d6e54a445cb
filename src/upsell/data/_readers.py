"""What :meth:`Transactions.read_csv`, ``read_parquet`` and ``read_excel`` share: their
cleaning keywords checked and split from the reader's own, then the reader called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from upsell.data._parts import MissingWhereColumn
from upsell.exceptions import UpsellDataError

__all__ = ["read_orders"]


def read_orders(method: str, reader: Callable[..., Any], path: Any, options: dict[str, Any],
                allowed: tuple[str, ...], **reader_kw: Any) -> tuple[Any, dict[str, Any]]:
    """``reader(path, invalid=..., item_index=..., customer_index=..., **reader_kw)`` (the
    prepared columns) and the cleaning options left for ``Transactions._from_prepared``.

    ``method`` names the caller in the error for a keyword outside ``allowed``. An
    ``orders_file`` or ``customers_file`` (and their ``*_columns``) among ``reader_kw`` is
    read here and handed to the reader as ``order_headers``.
    """
    from upsell._validation import check_choice
    from upsell.data._clean import _INVALID
    from upsell.data.io import check_options

    check_options(options, allowed, f"Transactions.{method}")
    options = dict(options)
    invalid = options.get("invalid", "raise")
    check_choice(invalid, "invalid", _INVALID)
    sides = {k: reader_kw.pop(k, None) for k in ("orders_file", "orders_columns",
                                                 "customers_file", "customers_columns")}
    if any(v is not None for v in sides.values()):  # an orders or customers file beside
        from upsell.data._order_files import side_files
        from upsell.data._parts import check_where

        where = check_where(reader_kw.get("where"))
        files = reader_kw["order_headers"] = side_files(
            *sides.values(), delimiter=reader_kw.get("delimiter", ","),
            encoding=reader_kw.get("encoding", "utf-8"), where=where,
            time_format=reader_kw.get("time_format"))
        if where:  # an orders file's where headers are read there; the lines', here
            taken = {h for f in files or [] for h in f.where}
            reader_kw["where"] = {h: v for h, v in where.items() if h not in taken} or None
    try:
        prep = reader(path, invalid=invalid, item_index=options.pop("item_index", None),
                      customer_index=options.pop("customer_index", None), **reader_kw)
    except MissingWhereColumn as exc:
        sides_read = reader_kw.get("order_headers") or []
        if not sides_read:
            raise
        raise UpsellDataError(f"{exc}; nor in the " + " or the ".join(  # every file looked in
            f"{f.what} {f.label}" for f in sides_read)) from None
    options.pop("source", None)
    return prep, options
