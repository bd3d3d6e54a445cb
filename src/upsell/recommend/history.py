"""What the recommender knows about customers: what they own and when, and their segment."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._lookup import position
from upsell._validation import as_segments, as_transactions
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.persist import (
    check_array,
    check_csr,
    check_index,
    fail,
    index_arrays,
    index_from_arrays,
    read_model,
    write_model,
)

__all__ = ["CustomerHistory", "SegmentMap"]

_NAT = np.datetime64("NaT", "s")


#: Purchase times a saved history may hold: seconds of years 1 to 9999 (-1 = unknown).
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799

class CustomerHistory:
    """Per customer: the catalog items bought and the time of the latest purchase of each.

    A customers x catalog-items CSR matrix whose values are the latest purchase
    time (int64 seconds since the epoch; ``-1`` when the data have no time).
    One request reads one row: no catalog-size work.

    Parameters
    ----------
    customers : IdIndex
    items : IdIndex
        The catalog's items (column order).
    last_bought : scipy.sparse.csr_matrix
        Shape (len(customers), len(items)), int64 data.

    Examples
    --------
    >>> from upsell import Catalog, Transactions
    >>> cat = Catalog.from_records([{"item": "tea"}, {"item": "mug"}])
    >>> tx = Transactions.from_arrays(order=[1, 2], item=["tea", "mug"], customer=["ann", "ann"],
    ...                               time=["2024-01-01", "2024-02-01"])
    >>> h = CustomerHistory.from_transactions(tx, cat)
    >>> items, times = h.owned("ann")
    >>> items, [str(t) for t in times]
    (('mug', 'tea'), ['2024-02-01T00:00:00', '2024-01-01T00:00:00'])
    >>> h.owned("bob")
    ((), ())
    """

    def __init__(self, customers: IdIndex, items: IdIndex, last_bought: sp.csr_matrix) -> None:
        if last_bought.shape != (len(customers), len(items)):
            raise UpsellDataError(
                f"`last_bought` has shape {last_bought.shape}; expected "
                f"({len(customers)}, {len(items)})")
        m = sp.csr_matrix(last_bought)
        m.sort_indices()
        for a in (m.data, m.indices, m.indptr):
            a.flags.writeable = False
        self.customers = customers
        self.items = items
        self.last_bought = m
        self._ptr = m.indptr
        self._idx = m.indices
        self._t = m.data

    @classmethod
    def from_transactions(cls, tx: Transactions, catalog: Catalog) -> CustomerHistory:
        """Build from order lines (items missing from the catalog are left out).

        Examples
        --------
        >>> from upsell import Catalog, Transactions
        >>> tx = Transactions.from_arrays(order=[1], item=["a"], customer=["c"])
        >>> CustomerHistory.from_transactions(tx, Catalog.from_records([{"item": "a"}])).owned("c")[0]
        ('a',)
        """
        tx = as_transactions(tx, "history")
        if not isinstance(catalog, Catalog):
            raise UpsellDataError(f"`catalog` must be a Catalog; got {type(catalog).__name__}")
        cust = tx.require("customer", "the recommender's customer history")
        imap = catalog.items.encode(tx.items.ids, unknown="mask").astype(np.int64)
        item = imap[tx.item]
        ok = (cust >= 0) & (item >= 0) & (tx.quantity > 0)
        if tx.has("time"):
            t = tx.time.astype("datetime64[s]").astype(np.int64)[ok]
        else:
            t = np.full(int(ok.sum()), -1, dtype=np.int64)
        c, i = cust[ok].astype(np.int64), item[ok]
        n_i = len(catalog)
        key = c * n_i + i
        order = np.lexsort((t, key))
        key, t = key[order], t[order]
        last = np.ones(key.size, dtype=bool)
        last[:-1] = key[1:] != key[:-1]
        key, t = key[last], t[last]
        rows, cols = key // n_i, key % n_i
        indptr = np.zeros(len(tx.customers) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(tx.customers)), out=indptr[1:])
        m = sp.csr_matrix((t, cols.astype(np.int32), indptr), shape=(len(tx.customers), n_i))
        return cls(tx.customers, catalog.items, m)

    def __len__(self) -> int:
        return len(self.customers)

    def __repr__(self) -> str:
        return f"CustomerHistory(customers={len(self):,}, lines={self.last_bought.nnz:,})"

    def row(self, customer: Any) -> int:
        """Position of a customer, or -1 when unknown (or None)."""
        return position(self.customers, customer)

    def owned_index(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(catalog positions, latest purchase seconds) of customer row ``r``, latest first."""
        lo, hi = self._ptr[r], self._ptr[r + 1]
        idx, t = self._idx[lo:hi], self._t[lo:hi]
        order = np.argsort(-t, kind="stable")
        return idx[order], t[order]

    def owned(self, customer: Any) -> tuple[tuple[Any, ...], tuple[np.datetime64, ...]]:
        """(item ids, latest purchase times) of a customer, most recent first; empty when unknown."""
        r = self.row(customer)
        if r < 0:
            return (), ()
        idx, t = self.owned_index(r)
        times = tuple(np.datetime64(int(x), "s") if x >= 0 else _NAT for x in t.tolist())
        return tuple(self.items.ids[idx].tolist()), times

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to one ``.npz`` (arrays + JSON, atomic).

        Examples
        --------
        >>> import os, tempfile
        >>> from upsell import Catalog, Transactions
        >>> tx = Transactions.from_arrays(order=[1], item=["a"], customer=["c"])
        >>> h = CustomerHistory.from_transactions(tx, Catalog.from_records([{"item": "a"}]))
        >>> p = os.path.join(tempfile.mkdtemp(), "h.npz"); h.save(p)
        >>> CustomerHistory.load(p).owned("c")[0]
        ('a',)
        """
        m = self.last_bought
        write_model(path, kind="CustomerHistory", params={},
                    arrays={**index_arrays(self.customers, "customers"),
                            **index_arrays(self.items, "items"),
                            "indptr": np.asarray(m.indptr, np.int64), "indices": m.indices,
                            "data": np.asarray(m.data, np.int64)},
                    meta={})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False) -> CustomerHistory:
        """Read a file written by :meth:`save` (ModelFileError when damaged).

        ``ids``: id maps already loaded, reused when equal to the saved ones;
        ``verify``, ``mmap``: as in :func:`upsell.persist.read_model`.
        """
        _, a = read_model(path, kind="CustomerHistory", verify=verify, mmap=mmap)
        f = os.fspath(path)
        try:
            customers = index_from_arrays(a, "customers", name="customer", ids=ids)
            items = index_from_arrays(a, "items", name="item", ids=ids)
            # untrusted file: purchase times are whole seconds of years 1..9999 (-1: unknown)
            check_array(a.get("data"), file=f, member="data", kind="i", ndim=1,
                        low=_MIN_SECONDS, high=_MAX_SECONDS)
            m = check_csr(a, "", (len(customers), len(items)), file=f)
            return cls(customers, items, m)
        except (KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"history file {f!r} is corrupted ({exc})", file=f) from None


class SegmentMap:
    """Customer -> segment label, with a label for unknown and anonymous customers.

    Build it from a fitted :class:`~upsell.segments.Personas` (or any segmenter
    with ``predict(customers=...)``), a mapping, or labels aligned to a customer index.

    Parameters
    ----------
    customers : IdIndex
    codes : ndarray of int
        Label code per customer (-1: no label).
    labels : sequence of str
        Label names.
    unknown : str or None
        Segment of customers not in ``customers`` (and of anonymous visitors).

    Examples
    --------
    >>> s = SegmentMap.from_mapping({"ann": "premium", "bob": "new"}, unknown="new")
    >>> s.segment_of("ann"), s.segment_of("zoe"), s.segment_of(None)
    ('premium', 'new', 'new')
    """

    def __init__(self, customers: IdIndex, codes: np.ndarray, labels: Any,
                 unknown: str | None = None) -> None:
        codes = np.asarray(codes, dtype=np.int32)
        labs = tuple(str(x) for x in labels)
        if codes.shape != (len(customers),):
            raise UpsellDataError(
                f"segment `codes` must have one entry per customer ({len(customers)}); "
                f"got shape {codes.shape}")
        if codes.size and (codes.max(initial=-1) >= len(labs) or codes.min() < -1):
            raise UpsellDataError("segment `codes` must index `labels` (or be -1)")
        if unknown is not None and not isinstance(unknown, str):
            raise UpsellDataError(f"`unknown` must be a segment label or None; got {unknown!r}")
        codes.flags.writeable = False
        self.customers = customers
        self.codes = codes
        self.labels = labs
        self.unknown = unknown

    @classmethod
    def from_mapping(cls, mapping: Mapping[Any, Any], *, unknown: str | None = None) -> SegmentMap:
        """From ``{customer id: label}``.

        Examples
        --------
        >>> SegmentMap.from_mapping({1: "a"}).segment_of(1)
        'a'
        """
        ids = list(mapping)
        if not ids:
            return cls(IdIndex(np.array([], dtype=str), name="customer"),
                       np.zeros(0, np.int32), (), unknown)
        labs = np.array([str(mapping[c]) for c in ids])
        names, codes = np.unique(labs, return_inverse=True)
        idx = IdIndex(ids, name="customer")
        return cls(idx, codes.astype(np.int32), names.tolist(), unknown)

    @classmethod
    def from_labels(cls, customers: IdIndex, labels: Any, *,
                    unknown: str | None = None) -> SegmentMap:
        """From one label per customer of ``customers`` (None or "" for none).

        Examples
        --------
        >>> from upsell import IdIndex
        >>> SegmentMap.from_labels(IdIndex(["a", "b"]), ["x", None]).segment_of("b") is None
        True
        """
        vals = ["" if v is None else str(v) for v in np.asarray(labels, dtype=object).tolist()]
        if len(vals) != len(customers):
            raise UpsellDataError(
                f"`segments` must give one label per customer ({len(customers):,}); "
                f"got {len(vals):,}")
        arr = np.array(vals, dtype=str) if vals else np.zeros(0, dtype=str)
        names, inv = np.unique(arr, return_inverse=True)
        codes = inv.astype(np.int32).reshape(-1)
        if names.size and names[0] == "":
            codes = codes - 1
            names = names[1:]
        return cls(customers, codes, names.tolist(), unknown)

    @classmethod
    def from_model(cls, model: Any) -> SegmentMap:
        """From a fitted segmenter: ``customers_`` plus ``predict()`` or ``assignments_``.

        Unknown customers get ``model.assign(history=None).persona`` when the model
        has ``assign`` (Personas: "new"), else no segment.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> from upsell.segments import Personas
        >>> shop = make_shop(n_customers=60, n_items=40, n_orders=240)
        >>> s = SegmentMap.from_model(Personas().fit(shop.transactions, catalog=shop.catalog))
        >>> s.unknown
        'new'
        """
        customers = getattr(model, "customers_", None)
        if not isinstance(customers, IdIndex):
            raise UpsellDataError(
                f"`segments` model {type(model).__name__} has no fitted `customers_`; fit it "
                f"first or pass a mapping customer -> label")
        res = getattr(model, "assignments_", None)
        if res is None:
            res = model.predict()
        for attr in ("persona", "labels", "segment", "label"):
            if hasattr(res, attr):
                res = getattr(res, attr)
                break
        unknown: str | None = None
        if callable(getattr(model, "assign", None)):
            unknown = str(getattr(model.assign(history=None), "persona", "")) or None
        return cls.from_labels(customers, res, unknown=unknown)

    def segment_of(self, customer: Any) -> str | None:
        """The segment of one customer (``unknown`` for unknown and None)."""
        r = position(self.customers, customer)
        if r < 0:
            return self.unknown
        code = int(self.codes[r])
        return self.labels[code] if code >= 0 else self.unknown

    def labels_for(self, customers: IdIndex) -> np.ndarray:
        """Label per customer of another index ("" for none), vectorised."""
        pos = self.customers.encode(customers.ids, unknown="mask") if len(customers) else \
            np.zeros(0, np.int32)
        names = np.array([*self.labels, self.unknown or ""], dtype=str)
        code = np.where(pos >= 0, self.codes[np.maximum(pos, 0)], -1) if pos.size else pos
        return names[np.where(code >= 0, code, len(self.labels))] if pos.size else \
            np.zeros(0, dtype=str)

    def __repr__(self) -> str:
        return (f"SegmentMap(customers={len(self.customers):,}, labels={list(self.labels)}, "
                f"unknown={self.unknown!r})")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to one ``.npz`` (atomic).

        Examples
        --------
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "s.npz")
        >>> SegmentMap.from_mapping({"a": "x"}, unknown="new").save(p)
        >>> SegmentMap.load(p).segment_of("a")
        'x'
        """
        write_model(path, kind="SegmentMap", params={},
                    arrays={**index_arrays(self.customers, "customers"), "codes": self.codes},
                    meta={"labels": list(self.labels), "unknown": self.unknown})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False) -> SegmentMap:
        """Read a file written by :meth:`save` (``ids``, ``verify``, ``mmap`` as in
        :meth:`CustomerHistory.load`)."""
        doc, a = read_model(path, kind="SegmentMap", verify=verify, mmap=mmap)
        f = os.fspath(path)
        try:
            labels = doc["meta"]["labels"]
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise fail(f, "labels", "must be a list of strings")
            customers = index_from_arrays(a, "customers", name="customer", ids=ids)
            codes = check_index(a.get("codes"), len(labels), file=f, member="codes",
                                shape=(len(customers),), allow_missing=True)
            return cls(customers, codes, labels, doc["meta"]["unknown"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"segment file {f!r} is corrupted ({exc})", file=f) from None


def as_segment_map(segments: Any, history: CustomerHistory | None) -> SegmentMap | None:
    """Normalise the ``segments`` argument of the Recommender."""
    if segments is None or isinstance(segments, SegmentMap):
        return segments
    if isinstance(segments, Mapping):
        return SegmentMap.from_mapping(segments)
    if hasattr(segments, "customers_"):
        return SegmentMap.from_model(segments)
    if history is not None:
        # every other form (labels aligned to the history, a pandas Series, a (customers,
        # labels) pair, a segmenter's result) read the one way upsell reads `segments=`
        labels, _ = as_segments(segments, history.customers)
        return SegmentMap.from_labels(history.customers, labels)
    raise UpsellDataError(
        "`segments` must be a fitted segmenter (Personas, Clusters), a mapping customer -> "
        f"label, a SegmentMap, or labels aligned to the history's customers; "
        f"got {type(segments).__name__}")
