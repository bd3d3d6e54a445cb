"""Request parsing of the CF models: customer and basket requests become history rows to score.

Unknown item ids in a basket, ``exclude=`` or ``candidates=`` are ignored; an unknown
customer without ``history=`` is an :class:`~upsell.exceptions.UnknownIdError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell._lookup import position
from upsell.data.ids import IdIndex
from upsell.exceptions import UnknownIdError, UpsellDataError

__all__: list[str] = []


@dataclass(frozen=True)
class _Request:
    """One parsed request: fit-time customer (or -1) and the raw history row to score."""

    user: int
    items: np.ndarray      # int32, sorted, unique
    values: np.ndarray     # raw counts aligned with items
    folded: bool           # the model must fold in (basket, unseen customer, grown history)


def _is_scalar_id(x: Any) -> bool:
    return isinstance(x, (str, bytes, int, np.integer, np.str_))


def _id_list(value: Any, name: str) -> list[Any]:
    if _is_scalar_id(value):
        return [value]
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1).tolist())
    if isinstance(value, Iterable):
        return list(value)
    raise UpsellDataError(f"`{name}` must be an id or a list of ids; got {type(value).__name__}")


def _basket_lists(value: Any, name: str) -> list[list[Any]]:
    if _is_scalar_id(value) or not isinstance(value, Iterable):
        raise UpsellDataError(
            f"`{name}` must be a list of baskets, each a list of item ids; got {value!r}"
        )
    out: list[list[Any]] = []
    for pos, b in enumerate(value):
        if _is_scalar_id(b) or not isinstance(b, Iterable):
            raise UpsellDataError(
                f"`{name}` must be a list of baskets, each a list of item ids; "
                f"position {pos} is {b!r} (wrap a single basket in a list: [[...]])"
            )
        out.append(list(b.tolist() if isinstance(b, np.ndarray) else b))
    return out



def _lookup_one(index: IdIndex, value: Any) -> int:
    """Position of one id, or -1: the binary search first, then :meth:`IdIndex.encode`, which
    also matches the spellings a web request sends ("17850" or "17850.0" for int ids)."""
    pos = position(index, value)
    if pos >= 0 or value is None or isinstance(value, (bool, np.bool_)):
        return pos
    try:
        return int(index.encode([value], unknown="mask")[0])
    except (UpsellDataError, TypeError, ValueError, OverflowError):
        return -1


def _encode_known(index: IdIndex, ids: list[Any]) -> np.ndarray:
    """Positions of the known ids (unknown ones and ids no spelling of which the index holds
    are left out)."""
    try:
        return index.encode(ids, unknown="skip")
    except UpsellDataError:  # ids of another kind that IdIndex cannot read as its own
        return np.empty(0, np.int32)


def _same_kind(ids: Sequence[Any], index: IdIndex) -> bool:
    first = ids[0]
    if index.kind == "str":
        return isinstance(first, (str, np.str_))
    return isinstance(first, (int, np.integer)) and not isinstance(first, bool)



def count_items(items: IdIndex, item_ids: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Known item ids -> (sorted unique indices, occurrence counts); unknown ids are ignored."""
    if not item_ids:
        return np.empty(0, np.int32), np.empty(0, np.float32)
    idx = _encode_known(items, list(item_ids))
    uniq, counts = np.unique(idx, return_counts=True)
    return uniq.astype(np.int32), counts.astype(np.float32)


def item_set(items: IdIndex, value: Any, name: str) -> np.ndarray | None:
    """Sorted unique indices of the known ids in ``value`` (None stays None)."""
    if value is None:
        return None
    ids = _id_list(value, name)
    if not ids:
        return np.empty(0, np.int32)
    return np.unique(_encode_known(items, ids)).astype(np.int32)


def unknown_customer(cid: Any) -> UnknownIdError:
    """The error of a customer the model has not seen, saying how to serve it anyway."""
    return UnknownIdError(
        f"customer {cid!r} is not in the model's customer index; pass its "
        f"purchases with `history=` to fold it in, or use `baskets=`")


def encode_customers(customers: IdIndex, ids: list[Any]) -> np.ndarray:
    """Positions of fit-time customers; an unknown one raises :func:`unknown_customer`."""
    if not _same_kind(ids, customers):
        customers.index(ids[0])  # raises UnknownIdError naming the id and kind
    users = customers.encode(ids, unknown="mask")
    if (users < 0).any():
        raise unknown_customer(ids[int(np.flatnonzero(users < 0)[0])])
    return users


def parse_requests(customers_index: IdIndex, items: IdIndex, H: sp.csr_matrix, customers: Any,
                   baskets: Any, history: Any) -> tuple[np.ndarray, str, list[_Request]]:
    """``customers=``/``baskets=``/``history=`` of a request -> (request ids, kind, requests)."""
    if (customers is None) == (baskets is None):
        raise UpsellDataError("pass exactly one of `customers` and `baskets`")
    reqs: list[_Request] = []
    if baskets is not None:
        if history is not None:
            raise UpsellDataError("`history` goes with `customers`, not `baskets`: "
                                  "a basket is the whole history of its request")
        lists = _basket_lists(baskets, "baskets")
        for b in lists:
            idx, val = count_items(items, b)
            reqs.append(_Request(-1, idx, val, True))
        return np.arange(len(lists), dtype=np.int64), "basket", reqs
    ids = _id_list(customers, "customers")
    hist: list[list[Any]] | None = None
    if history is not None:
        hist = _basket_lists(history, "history")
        if len(hist) != len(ids):
            raise UpsellDataError(
                f"`history` must hold one item list per customer ({len(ids)}); "
                f"got {len(hist)}")
    for r, cid in enumerate(ids):
        u = _lookup_one(customers_index, cid)
        extra = hist[r] if hist is not None else []
        if u < 0 and hist is None:
            raise unknown_customer(cid)
        if u >= 0:
            lo, hi = H.indptr[u], H.indptr[u + 1]
            base_i, base_v = H.indices[lo:hi], H.data[lo:hi]
        else:
            base_i = np.empty(0, np.int32)
            base_v = np.empty(0, np.float32)
        if extra:
            ei, ev = count_items(items, extra)
            allv = np.concatenate([base_i, ei])
            uniq, inv = np.unique(allv, return_inverse=True)
            vals = np.bincount(inv, weights=np.concatenate([base_v, ev])).astype(np.float32)
            reqs.append(_Request(u, uniq.astype(np.int32), vals, True))
        else:
            reqs.append(_Request(u, base_i, base_v, u < 0))
    try:
        req_ids = np.asarray(ids) if ids else customers_index.decode(np.zeros(0, np.int64))
    except (TypeError, ValueError):  # pragma: no cover - odd id objects
        req_ids = np.array(ids, dtype=object)
    return req_ids, "customer", reqs
