"""What the report's sections share: the data, the options, item names and models fitted by earlier sections."""

from __future__ import annotations

import logging
import resource
from typing import Any

import numpy as np

from upsell._validation import resident_bytes
from upsell.data import Catalog, Transactions
from upsell.report._tables import fmt

_log = logging.getLogger("upsell")


class _Skip(Exception):
    """A section cannot run on these data (a missing column or catalog)."""


def _num(value: Any) -> str:
    """:func:`fmt`, but "n/a" instead of a dash for a missing number (terminal summary)."""
    text = fmt(value)
    return "n/a" if text == "–" else text


# ---------------------------------------------------------------------- context
class _Context:
    """What the sections share: the data, the options, and models fitted by earlier sections."""

    def __init__(self, tx: Transactions, catalog: Catalog | None, options: dict[str, Any]) -> None:
        self.tx = tx
        self.catalog = catalog.align(tx.items) if catalog is not None else None
        self.opt = options
        if isinstance(options.get("exclude_items"), str) and options["exclude_items"] == "auto":
            from upsell.data import non_product_items  # fees and postage: never offered

            options["exclude_items"] = non_product_items(tx, self.catalog).items.tolist()
        self.shared: dict[str, Any] = {}
        self.rng = np.random.default_rng(options["random_state"])

    def offer_events(self) -> Any:
        """The offer log's events as a table, read once for every section that counts them."""
        table = self.shared.get("offer_events")
        if table is None:
            log = self.opt["offer_log"]
            read = getattr(log, "to_offer_table", None)
            table = read() if callable(read) else log
            self.shared["offer_events"] = table
        return table

    def need(self, *columns: str) -> None:
        missing = [c for c in columns if not self.tx.has(c)]
        if missing:
            listed = (missing[0] if len(missing) == 1
                      else ", ".join(missing[:-1]) + " or " + missing[-1])
            raise _Skip(f"the data have no {listed} column")

    def need_catalog(self, what: str) -> Catalog:
        if self.catalog is None:
            raise _Skip(f"{what} need a product catalog (--catalog)")
        return self.catalog

    @property
    def items_catalog(self) -> Catalog:
        """The given catalog, else one derived from the lines (names, median unit prices)."""
        if "items_catalog" not in self.shared:
            self.shared["items_catalog"] = (self.catalog if self.catalog is not None
                                            else _derived_catalog(self.tx))
        cat: Catalog = self.shared["items_catalog"]
        return cat

    def name(self, item_ids: Any) -> list[str]:
        """Display labels of items: "name (id)" when a name is known, else the id.

        Only the items asked for are labelled, so a catalog of millions costs nothing.
        """
        ids = np.asarray(item_ids)
        if ids.size == 0:
            return []
        names = self.names()
        text = [str(x) for x in ids.tolist()]
        if names is None:
            return text
        pos = self.tx.items.encode(ids, unknown="mask")
        out = []
        for t, p in zip(text, pos.tolist(), strict=True):
            n = str(names[p]) if p >= 0 else ""
            out.append(f"{n} ({t})" if n and n != t else t)
        return out

    def names(self) -> np.ndarray | None:
        """Product names aligned with ``tx.items`` (see :func:`_item_names`)."""
        if "_names" not in self.shared:
            self.shared["_names"] = _item_names(self.tx, self.catalog)
        out: np.ndarray | None = self.shared["_names"]
        return out


def _item_names(tx: Transactions, catalog: Catalog | None) -> np.ndarray | None:
    """Names aligned with ``tx.items``: the catalog's where it has one, else the order lines'
    name column, else None (items are shown by id)."""
    lines = np.asarray(tx.item_names()).astype(str) if tx.has("name") else None
    if catalog is None:
        return lines
    names = np.asarray(catalog.name).astype(str)
    if lines is not None:  # a catalog without a name for an item: the lines may have one
        unnamed = (names == tx.items.ids.astype(str)) | (np.char.str_len(names) == 0)
        names = np.where(unnamed, lines, names)
    return names


def _derived_catalog(tx: Transactions) -> Catalog:
    """A catalog for shops without one: the lines' product names and median unit prices."""
    return Catalog.from_transactions(tx).align(tx.items)


def _mem() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    now = resident_bytes()
    return (float("nan") if now is None else now / 2**20), peak
