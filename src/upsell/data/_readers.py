"""The typed-file readers behind :meth:`Transactions.read_parquet` and ``read_excel``:
their keywords checked, then :mod:`upsell.data._parquet` or :mod:`upsell.data._excel`."""

from __future__ import annotations

from functools import partial
from typing import Any

from upsell.data import _excel, _parquet

__all__ = ["read_orders"]


def read_orders(path: Any, columns: Any, time_format: str | None, decimal: str,
                options: dict[str, Any], allowed: tuple[str, ...], sheet: Any = None
                ) -> tuple[Any, dict[str, Any]]:
    """:meth:`Transactions.read_parquet` (or ``read_excel`` with a ``sheet``): the prepared
    columns and the cleaning options (``allowed``: the keywords it takes)."""
    from upsell._validation import check_choice
    from upsell.data._clean import _INVALID
    from upsell.data._columns import check_decimal, check_time_format
    from upsell.data.io import check_options

    check_options(options, allowed,
                  "Transactions.read_parquet" if sheet is None else "Transactions.read_excel")
    options = dict(options)
    invalid = options.get("invalid", "raise")
    check_choice(invalid, "invalid", _INVALID)
    reader: Any = (_parquet.read_prepared if sheet is None
                   else partial(_excel.read_prepared, sheet=sheet))
    prep = reader(
        path, columns=columns, invalid=invalid, item_index=options.pop("item_index", None),
        customer_index=options.pop("customer_index", None),
        time_format=check_time_format(time_format), decimal=check_decimal(decimal))
    options.pop("source", None)
    return prep, options
