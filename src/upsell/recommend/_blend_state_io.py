"""The learned blend's fitted history as ``.npz`` arrays, and back with every array checked."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell.exceptions import ModelFileError
from upsell.persist import check_array, check_csr
from upsell.recommend._blend_features import ENTRY, BlendState

__all__ = ["state_arrays", "state_from_arrays"]

_CSR = ("H", "last_basket", "conf", "ease", "knn")
_CUST = ("orders", "tenure_days", "days_since_order", "basket_size", "orders_per_window",
         "distinct_items", "usual_price", "order_value", "segment", "repeat_share",
         "next_order_overlap")
_ITEM = ("repeat_rate", "next_order_rate", "interval", "buyers", "recent", "prev", "price", "recent_price", "order_count", "cost", "kind",
         "tier")


def state_arrays(st: BlendState) -> dict[str, np.ndarray]:
    """Every array of ``st``, flat, keyed for the ``.npz``."""
    out: dict[str, np.ndarray] = {}
    for name in _CSR:
        m = getattr(st, name)
        out[f"{name}.indptr"] = np.asarray(m.indptr, dtype=np.int64)
        out[f"{name}.indices"] = np.asarray(m.indices, dtype=np.int32)
        out[f"{name}.data"] = np.asarray(m.data, dtype=np.float32)
    out["decayed"] = np.asarray(st.decayed, dtype=np.float64)
    out["first_t"] = np.asarray(st.first_t, dtype=np.int64)
    out["last_t"] = np.asarray(st.last_t, dtype=np.int64)
    for name in ENTRY:
        out[f"entry.{name}"] = np.asarray(st.entry[name], dtype=np.float64)
    for name in _CUST:
        out[f"cust.{name}"] = np.asarray(st.cust[name], dtype=np.float64)
    for name in _ITEM:
        out[f"item.{name}"] = np.asarray(st.item[name], dtype=np.float64)
    out["item.n_orders_total"] = np.asarray(st.item["n_orders_total"], dtype=np.float64)
    out["pop_order"] = np.asarray(st.pop_order, dtype=np.int32)
    return out


def state_from_arrays(arrays: dict[str, np.ndarray], meta: dict[str, Any], *,
                      file: str | os.PathLike[str], n_customers: int, n_items: int
                      ) -> BlendState:
    """Rebuild a :class:`BlendState`, checking shapes, ranges and consistency of every array."""
    def bad(problem: str) -> ModelFileError:
        return ModelFileError(f"model file {os.fspath(file)!r}: {problem}",
                              file=os.fspath(file), problem=problem)

    for key in ("cut", "window", "half_life", "n_customers", "n_items", "knn_users"):
        v = meta.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise bad(f"state field {key!r} is {v!r}")
    if meta["n_customers"] != n_customers or meta["n_items"] != n_items:
        raise bad("state size disagrees with the id maps")
    if not meta["window"] > 0 or not meta["half_life"] > 0 or not 1 <= meta["knn_users"] <= 1e6:
        raise bad("window and half_life must be positive")
    shapes = {"H": (n_customers, n_items), "last_basket": (n_customers, n_items),
              "conf": (n_items, n_items), "ease": (n_items, n_items),
              "knn": (n_items, n_items)}
    mats: dict[str, sp.csr_matrix] = {}
    for name in _CSR:
        sub = {k[len(name) + 1:]: v for k, v in arrays.items() if k.startswith(name + ".")}
        m = check_csr(sub, "", shapes[name], file=file, low=0.0)
        m = sp.csr_matrix(m, dtype=np.float32)
        if m.nnz and not m.has_sorted_indices:
            raise bad(f"{name}: column indices not sorted")
        mats[name] = m
    nnz = mats["H"].nnz
    dec = check_array(arrays.get("decayed"), file=file, member="decayed", shape=(nnz,), low=0)
    first_t = check_array(arrays.get("first_t"), file=file, member="first_t", kind="i",
                          shape=(nnz,))
    last_t = check_array(arrays.get("last_t"), file=file, member="last_t", kind="i",
                         shape=(nnz,))
    if np.any(first_t > last_t) or (last_t.size and last_t.max() >= meta["cut"]):
        raise bad("purchase times out of order or after the state's cut")
    entry = {n: np.asarray(check_array(arrays.get(f"entry.{n}"), file=file, member=f"entry.{n}",
                                       shape=(nnz,), low=0), np.float64) for n in ENTRY}
    cust = {n: check_array(arrays.get(f"cust.{n}"), file=file, member=f"cust.{n}",
                           shape=(n_customers,), finite=False) for n in _CUST}
    item = {n: check_array(arrays.get(f"item.{n}"), file=file, member=f"item.{n}",
                           shape=(n_items,), finite=False) for n in _ITEM}
    item["n_orders_total"] = check_array(arrays.get("item.n_orders_total"), file=file,
                                         member="item.n_orders_total", shape=(1,), low=0)
    pop = check_array(arrays.get("pop_order"), file=file, member="pop_order", kind="i",
                      shape=(n_items,), low=0, high=max(n_items - 1, 0))
    if np.unique(pop).size != n_items:
        raise bad("pop_order is not a permutation of the items")
    return BlendState(cut=int(meta["cut"]), window=float(meta["window"]),
                      half_life=float(meta["half_life"]), n_customers=n_customers,
                      n_items=n_items, H=mats["H"], decayed=np.asarray(dec, np.float64),
                      first_t=np.asarray(first_t, np.int64), last_t=np.asarray(last_t, np.int64),
                      last_basket=mats["last_basket"], cust=cust, item=item, conf=mats["conf"],
                      ease=mats["ease"], knn=mats["knn"], pop_order=np.asarray(pop, np.int32),
                      knn_users=int(meta["knn_users"]), entry=entry)
