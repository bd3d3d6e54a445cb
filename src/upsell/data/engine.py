"""Internal API of the data layer for packages that build Transactions from their own arrays.

A generator (:mod:`upsell.datasets`) or another engine (:mod:`upsell.spark`) that already
holds encoded columns skips the readers: it fills a :class:`Prepared` (codes into
:class:`~upsell.data.IdIndex` indexes, -1 for missing, float quantities and prices,
``datetime64[s]`` times) and passes it to :func:`from_prepared`, which applies the same
documented cleaning rules as :meth:`Transactions.from_arrays <upsell.data.Transactions.from_arrays>`
and counts what they did in the report. :func:`prepare` turns raw columns (ids as any
values) into a :class:`Prepared` the way the readers do.

These names may change between versions without a deprecation period; users call
:mod:`upsell.data`.

Examples
--------
>>> import numpy as np
>>> from upsell.data import IdIndex
>>> prep = Prepared(n=3, order=np.array([0, 0, 1]), order_index=IdIndex(["o1", "o2"]),
...                 item=np.array([0, 1, 0]), item_index=IdIndex(["a", "b"]),
...                 quantity=np.array([1.0, 0.0, 2.0]), source="my arrays")
>>> tx = from_prepared(prep)
>>> len(tx), dict(tx.report.dropped)
(2, {'zero quantity': 1})
"""

from __future__ import annotations

from typing import Any

from upsell.data._clean import Prepared, prepare
from upsell.data.transactions import Transactions

__all__ = ["Prepared", "from_prepared", "prepare"]


def from_prepared(prep: Prepared, **rules: Any) -> Transactions:
    """Clean prepared columns into :class:`~upsell.data.Transactions`.

    Parameters
    ----------
    prep : Prepared
        Encoded columns; read, not changed in place (the cleaned columns are copies).
    **rules
        The cleaning rules of :meth:`Transactions.from_arrays
        <upsell.data.Transactions.from_arrays>`: ``returns``, ``anonymous``,
        ``bad_prices``, ``duplicates``, ``invalid``, ``cancel_prefix``.

    Returns
    -------
    Transactions

    Examples
    --------
    >>> import numpy as np
    >>> from upsell.data import IdIndex
    >>> prep = prepare({"order": [1, 1], "item": ["a", "a"], "quantity": [2, 2]},
    ...                invalid="raise", item_index=None, customer_index=None,
    ...                source="two lines")
    >>> dict(from_prepared(prep, duplicates="drop").report.dropped)
    {'duplicate line': 1}
    """
    return Transactions._from_prepared(prep, **rules)
