"""The upsell ranker's model file: what :meth:`UpsellRanker.save` writes and ``load`` checks.

One ``.npz`` (``allow_pickle=False``) with JSON parameters and metadata, through
:func:`upsell.persist.write_model` / :func:`~upsell.persist.read_model`; every array of
an untrusted file is checked for dtype, shape, index range and finiteness before use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from upsell.exceptions import ModelFileError
from upsell.persist import (
    CONTENT_ERRORS,
    check_array,
    check_index,
    corrupted,
    fail,
    index_arrays,
    index_from_arrays,
    read_model,
    write_model,
)
from upsell.tiers._fit import FEATURES
from upsell.tiers._kinds import EDGE_KINDS
from upsell.tiers.ladders import Ladders

#: Saved ranker arrays that may hold NaN after a fit (no price, no value function, no tier).
_MAY_BE_NAN = frozenset({"price", "cand_value", "cand_best_ratio", "cand_margin_gain",
                         "cand_revenue_gain", "cand_ratio", "lad_tier", "seg_jump"})


def save_ranker(ranker: Any, path: str | os.PathLike[str]) -> None:
    """Write a fitted ranker (arrays, ladders, id maps, parameters, learned scalars)."""
    lad = ranker.ladders_
    arrays = dict(ranker._a)
    arrays.update({
        "lad_family": lad.family, "lad_tier": lad.tier, "lad_inferred": lad.inferred,
        "lad_indptr": lad.indptr, "lad_target": lad.target, "lad_kind": lad.kind,
        **index_arrays(ranker.items_, "items"), **index_arrays(ranker.customers_, "customers"),
        "segments": ranker.segments_,
    })
    params = {k: v for k, v in ranker.get_params().items() if k not in ("value", "affinity")}
    params["price_jump"] = (dict(ranker.price_jump) if isinstance(ranker.price_jump, Mapping)
                            else ranker.price_jump)
    params["kinds"] = list(params["kinds"])
    meta = {"feature_names": list(ranker.feature_names_), "coef": ranker.coef_,
            "intercept": ranker.intercept_, "kind_offset": ranker.kind_offset_,
            "n_events": ranker.n_events_, "has_affinity": ranker.affinity is not None,
            "value": repr(ranker.value)}
    write_model(path, kind="UpsellRanker", params=params, arrays=arrays, meta=meta)


def load_ranker(cls: Any, path: str | os.PathLike[str], *, affinity: Any, ids: Any,
                verify: bool, mmap: bool) -> Any:
    """Read a file written by :func:`save_ranker` into a new ``cls`` (an UpsellRanker)."""
    doc, arrs = read_model(path, kind="UpsellRanker", verify=verify, mmap=mmap)
    f = os.fspath(path)
    try:
        params = dict(doc["params"])
        params["kinds"] = tuple(params["kinds"])
        meta = doc["meta"]
        if meta.get("has_affinity") and affinity is None:
            raise ModelFileError(
                f"model file {f!r} was fitted with an affinity scorer; "
                f"pass it again: UpsellRanker.load(path, affinity=...)", file=f,
                member="has_affinity", problem="needs the affinity scorer")
        obj = cls(**params, affinity=affinity)
        obj._checked_params()  # untrusted file: parameters through fit's checks
        items = index_from_arrays(arrs, "items", name="item", ids=ids)
        customers = index_from_arrays(arrs, "customers", name="customer", ids=ids)
        _check_ranker_arrays(arrs, len(items), len(customers), f)
        _check_meta(meta, f)
        obj.items_ = items
        obj.customers_ = customers
        obj.segments_ = arrs.pop("segments").astype(str)
        lad = Ladders(items=items, family=arrs.pop("lad_family").astype(str),
                      tier=arrs.pop("lad_tier"), inferred=arrs.pop("lad_inferred"),
                      indptr=arrs.pop("lad_indptr"), target=arrs.pop("lad_target"),
                      kind=arrs.pop("lad_kind"))
        obj.ladders_ = lad
        obj.feature_names_ = tuple(meta["feature_names"])
        obj.coef_ = dict(meta["coef"])
        obj.intercept_ = float(meta["intercept"])
        obj.kind_offset_ = dict(meta["kind_offset"])
        obj.n_events_ = meta["n_events"]
        arrs["name"] = arrs["name"].astype(str)
        obj._set_arrays(arrs)
    except CONTENT_ERRORS as exc:
        raise corrupted(f, "UpsellRanker", exc) from None
    for v in (lad.family, lad.tier, lad.inferred, lad.indptr, lad.target, lad.kind):
        v.flags.writeable = False
    return obj


def _check_meta(meta: Mapping[str, Any], f: str) -> None:
    """The learned scalars of a loaded ranker: feature names, weights, offsets, counts."""
    feature_names = meta["feature_names"]
    if not (isinstance(feature_names, list)
            and all(isinstance(n, str) for n in feature_names)):
        raise fail(f, "feature_names", "must be a list of catalog feature names")
    for key in ("coef", "kind_offset"):
        if not (isinstance(meta[key], dict) and all(
                type(v) in (int, float) and bool(np.isfinite(v))
                for v in meta[key].values())):
            raise fail(f, key, "must map names to finite numbers")
    if set(meta["kind_offset"]) - set(EDGE_KINDS):
        raise fail(f, "kind_offset", f"names kinds outside {EDGE_KINDS}")
    intercept, n_events = meta["intercept"], meta["n_events"]
    if type(intercept) not in (int, float) or not np.isfinite(intercept):
        raise fail(f, "intercept", f"must be a finite number; got {intercept!r}")
    if type(n_events) is not int or n_events < 0:
        raise fail(f, "n_events", f"must be an integer >= 0; got {n_events!r}")


def _check_ranker_arrays(a: dict[str, np.ndarray], n_i: int, n_c: int, f: str) -> None:
    """A loaded ranker's arrays, checked for dtype, shape, index ranges and finiteness."""
    segs = check_array(a.get("segments"), file=f, member="segments", kind="U", ndim=1)
    n_seg = segs.shape[0]
    check_array(a.get("name"), file=f, member="name", kind="U", shape=(n_i,))
    check_array(a.get("lad_family"), file=f, member="lad_family", kind="U", shape=(n_i,))
    check_array(a.get("lad_inferred"), file=f, member="lad_inferred", kind="b", shape=(n_i,))
    for ptr, n_rows, kids in (("cand", n_i, ("target", "kind")), ("lad", n_i, ("target", "kind")),
                              ("own", n_c, ("item",)), ("base", n_c, ("item",))):
        key = f"{ptr}_indptr" if ptr in ("cand", "lad") else f"{ptr}_ptr"
        indptr = check_array(a.get(key), file=f, member=key, kind="i", shape=(n_rows + 1,),
                             low=0)
        if int(indptr[0]) != 0 or bool((np.diff(indptr) < 0).any()):
            raise fail(f, key, "does not start at 0 and never decrease")
        nnz = int(indptr[-1])
        for kid in kids:
            n_max = len(EDGE_KINDS) if kid == "kind" else n_i
            check_index(a.get(f"{ptr}_{kid}"), n_max, file=f, member=f"{ptr}_{kid}",
                        shape=(nnz,))
    n_e = int(a["cand_indptr"][-1])
    n_b = int(a["base_ptr"][-1])
    check_index(a.get("cand_best_feature"), len(FEATURES), file=f,
                member="cand_best_feature", shape=(n_e,), allow_missing=True)
    check_index(a.get("cust_segment"), n_seg, file=f, member="cust_segment", shape=(n_c,),
                allow_missing=True)
    shapes: dict[str, tuple[int, ...]] = {
        "price": (n_i,), "lad_tier": (n_i,), "cand_ratio": (n_e,), "cand_value": (n_e,),
        "cand_margin_gain": (n_e,), "cand_revenue_gain": (n_e,), "cand_best_ratio": (n_e,),
        "cand_edge_term": (n_e,), "cand_share": (n_seg + 1, n_e), "cust_term": (n_c,),
        "cust_chances": (n_c,), "cust_upgrades": (n_c,), "seg_term": (n_seg,),
        "seg_jump": (n_seg + 1,), "glob_term": (1,), "w_cf": (1,), "mean_edge_term": (1,),
        "base_engagement": (n_b,)}
    for key, shape in shapes.items():
        v = check_array(a.get(key), file=f, member=key, shape=shape,
                        finite=key not in _MAY_BE_NAN)
        if key in _MAY_BE_NAN and v.size and (np.isinf(v) & (key != "seg_jump")).any():
            raise fail(f, key, "holds inf")
    n_ev = check_array(a.get("ev_y"), file=f, member="ev_y", ndim=1, low=0, high=1).shape[0]
    oof = check_array(a.get("ev_oof"), file=f, member="ev_oof", shape=(n_ev,), finite=False)
    if oof.size and (~np.isnan(oof) & ~((oof >= 0) & (oof <= 1))).any():
        raise fail(f, "ev_oof", "holds a probability outside [0, 1]")
    if np.isnan(a["seg_jump"]).any() or (a["seg_jump"] <= 0).any():
        raise fail(f, "seg_jump", "must hold price ratios > 0")
    known = {"segments", "name", "lad_family", "lad_inferred", "cand_indptr", "cand_target",
             "cand_kind", "lad_indptr", "lad_target", "lad_kind", "own_ptr", "own_item",
             "base_ptr", "base_item", "cand_best_feature", "cust_segment", "ev_y", "ev_oof",
             *shapes}
    for key, v in a.items():  # anything else a newer fit adds: finite real numbers
        if key not in known:
            check_array(v, file=f, member=key, kind="fb")
