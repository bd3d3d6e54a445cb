"""What :meth:`Transactions.read_csv`, ``read_parquet`` and ``read_excel`` share: their
cleaning keywords checked and split from the reader's own, then the reader called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["read_orders"]


def read_orders(method: str, reader: Callable[..., Any], path: Any, options: dict[str, Any],
                allowed: tuple[str, ...], **reader_kw: Any) -> tuple[Any, dict[str, Any]]:
    """``reader(path, invalid=..., item_index=..., customer_index=..., **reader_kw)`` (the
    prepared columns) and the cleaning options left for ``Transactions._from_prepared``.

    ``method`` names the caller in the error for a keyword outside ``allowed``.
    """
    from upsell._validation import check_choice
    from upsell.data._clean import _INVALID
    from upsell.data.io import check_options

    check_options(options, allowed, f"Transactions.{method}")
    options = dict(options)
    invalid = options.get("invalid", "raise")
    check_choice(invalid, "invalid", _INVALID)
    prep = reader(path, invalid=invalid, item_index=options.pop("item_index", None),
                  customer_index=options.pop("customer_index", None), **reader_kw)
    options.pop("source", None)
    return prep, options
