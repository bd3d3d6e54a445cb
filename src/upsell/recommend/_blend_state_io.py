"""The learned blend's fitted history as ``.npz`` arrays, and back with every array checked."""

from __future__ import annotations

import inspect
import math
import os
from typing import Any

import numpy as np
import scipy.sparse as sp

from upsell.exceptions import ModelFileError
from upsell.persist import check_array, check_csr
from upsell.recommend._blend_features import ENTRY, BlendState, lossless
from upsell.recommend._blend_update import Stage

__all__ = ["MAX_MODEL_BYTES", "REGIMES", "names_and_columns", "read_booster", "read_meta",
           "read_stage", "state_arrays", "state_from_arrays", "with_defaults", "write_models"]

REGIMES = ("owned", "new")
MAX_MODEL_BYTES = 256 << 20

_CSR = ("H", "last_basket", "conf", "ease", "knn")
_CUST = ("orders", "tenure_days", "days_since_order", "basket_size", "orders_per_window",
         "distinct_items", "usual_price", "order_value", "segment", "repeat_share",
         "next_order_overlap", "spend")
_ITEM = ("repeat_rate", "next_order_rate", "interval", "buyers", "recent", "prev", "price", "recent_price", "order_count", "cost", "kind",
         "tier", "quantity")
# arrays of the [spend] features: files written before them load with NaN (unknown)
_SINCE_7 = ("entry.spend", "entry.quantity", "cust.spend", "item.quantity")
_MAY_NAN = ("spend", "quantity")  # entries without prices are NaN (any sign with refunds)


def state_arrays(st: BlendState) -> dict[str, np.ndarray]:
    """Every array of ``st``, flat, keyed for the ``.npz`` (the per-purchase ones in their
    :func:`lossless` dtype, which :func:`state_from_arrays` keeps)."""
    out: dict[str, np.ndarray] = {}
    for name in _CSR:
        m = getattr(st, name)
        out[f"{name}.indptr"] = np.asarray(m.indptr, dtype=np.int64)
        out[f"{name}.indices"] = np.asarray(m.indices, dtype=np.int32)
        out[f"{name}.data"] = np.asarray(m.data, dtype=np.float32)
    out["decayed"] = lossless(np.asarray(st.decayed, dtype=np.float64))
    out["first_t"] = lossless(np.asarray(st.first_t, dtype=np.int64))
    out["last_t"] = lossless(np.asarray(st.last_t, dtype=np.int64))
    for name in ENTRY:
        out[f"entry.{name}"] = lossless(np.asarray(st.entry[name], dtype=np.float64))
    # per customer and per item: float64 as ever. They are small, and earlier upsell
    # versions read them as stored while widening the per-purchase arrays above, so a
    # file of either kind loads bit for bit in either version
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
    size = {"entry": nnz, "cust": n_customers, "item": n_items}
    arrays = {**{k: np.full(size[k.split(".")[0]], np.nan) for k in _SINCE_7 if k not in arrays},
              **arrays}
    # the per-purchase arrays stay in their stored (lossless) dtype, as the fit keeps them:
    # widened to float64 they took 3-8x the memory (1.9 GB of a 10M-line model's 2.4)
    entry = {n: check_array(arrays.get(f"entry.{n}"), file=file, member=f"entry.{n}",
                            shape=(nnz,), low=None if n in _MAY_NAN else 0,
                            finite=n not in _MAY_NAN) for n in ENTRY}
    cust = {n: np.asarray(check_array(arrays.get(f"cust.{n}"), file=file, member=f"cust.{n}",
                                      shape=(n_customers,), finite=False), np.float64)
            for n in _CUST}
    item = {n: np.asarray(check_array(arrays.get(f"item.{n}"), file=file, member=f"item.{n}",
                                      shape=(n_items,), finite=False), np.float64)
            for n in _ITEM}
    item["n_orders_total"] = check_array(arrays.get("item.n_orders_total"), file=file,
                                         member="item.n_orders_total", shape=(1,), low=0)
    pop = check_array(arrays.get("pop_order"), file=file, member="pop_order", kind="i",
                      shape=(n_items,), low=0, high=max(n_items - 1, 0))
    if np.unique(pop).size != n_items:
        raise bad("pop_order is not a permutation of the items")
    return BlendState(cut=int(meta["cut"]), window=float(meta["window"]),
                      half_life=float(meta["half_life"]), n_customers=n_customers,
                      n_items=n_items, H=mats["H"], decayed=np.asarray(dec, np.float64),
                      first_t=first_t, last_t=last_t,
                      last_basket=mats["last_basket"], cust=cust, item=item, conf=mats["conf"],
                      ease=mats["ease"], knn=mats["knn"], pop_order=np.asarray(pop, np.int32),
                      knn_users=int(meta["knn_users"]), entry=entry)


def read_booster(folder: str, name: str, used: list[str]) -> Any:
    """A LightGBM text model of the folder, bounded in size and checked to read ``used``."""
    import lightgbm as lgb

    from upsell.persist import resolve_inside

    f = resolve_inside(folder, name, what="blend file")
    if not os.path.isfile(f) or os.path.getsize(f) > MAX_MODEL_BYTES:
        raise ModelFileError(f"{f!r}: missing or larger than {MAX_MODEL_BYTES:,} bytes",
                             file=f, problem="ranker file")
    with open(f, "rb") as fh:
        raw = fh.read(MAX_MODEL_BYTES + 1)
    try:
        booster = lgb.Booster(model_str=raw.decode("utf-8"))
    except (UnicodeDecodeError, lgb.basic.LightGBMError, ValueError) as exc:
        raise ModelFileError(f"{f!r}: not a LightGBM model ({exc})", file=f,
                             problem="ranker file") from None
    if booster.feature_name() != used:
        raise ModelFileError(f"{f!r}: the ranker's features {booster.feature_name()} "
                             f"are not {used}", file=f, problem="ranker features")
    return booster


def read_stage(folder: str, meta_file: str, doc: Any, used: list[str],
                base: dict[str, Any]) -> Stage:
    """The second stage of a format-2 folder: its scale per regime and its text models."""
    def bad(problem: str) -> ModelFileError:
        return ModelFileError(f"{meta_file!r}: stage {problem}", file=meta_file,
                              problem="stage")

    if not isinstance(doc, dict) or not isinstance(doc.get("scale"), dict) \
            or not isinstance(doc.get("info", {}), dict):
        raise bad("section missing or malformed")
    scale: dict[str, tuple[float, float]] = {}
    boosters: dict[str, Any] = {}
    for regime, ab in doc["scale"].items():
        if regime not in REGIMES:
            raise bad(f"regime {regime!r} is not one of {list(REGIMES)}")
        if not (isinstance(ab, list) and len(ab) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                        and math.isfinite(v) for v in ab) and ab[0] > 0):
            raise bad(f"scale of {regime!r} must be [a > 0, b] (finite); got {ab!r}")
        scale[regime] = (float(ab[0]), float(ab[1]))
        boosters[regime] = read_booster(folder, f"stage_{regime}.txt", used)
    if not boosters:
        raise bad("names no regime")
    try:
        return Stage.build(base, boosters, scale, doc.get("info", {}))
    except ValueError as exc:  # a model with several outputs per row
        raise bad(f"model unusable ({exc})") from None


def write_models(folder: str, boosters: dict[str, Any], stage: Stage | None
                 ) -> dict[str, Any] | None:
    """Write the rankers (and the second stage's models) as LightGBM text, atomically.

    Returns the ``stage`` section of ``blend.json`` (None without a stage).
    """
    from upsell._atomic import atomic_write_bytes

    for regime, booster in boosters.items():
        text = booster.model_to_string().encode("utf-8")
        atomic_write_bytes(os.path.join(folder, f"ranker_{regime}.txt"),
                           lambda fh, t=text: fh.write(t))
    if stage is None or not stage.boosters:
        return None
    doc: dict[str, Any] = {"scale": {}, "info": stage.info}
    for regime, booster in stage.boosters.items():
        text = booster.model_to_string().encode("utf-8")
        atomic_write_bytes(os.path.join(folder, f"stage_{regime}.txt"),
                           lambda fh, t=text: fh.write(t))
        doc["scale"][regime] = [float(v) for v in stage.scale[regime]]
    return doc


def read_meta(meta_file: str, formats: Any, features: list[str]) -> dict[str, Any]:
    """``blend.json``, checked: its format, a known format version, this upsell's features
    (or the first of them: a file written before the newest features)."""
    from upsell.persist import read_json

    meta = read_json(meta_file)
    if not isinstance(meta, dict) or meta.get("format") != "upsell.LearnedBlend":
        raise ModelFileError(f"{meta_file!r} is not a LearnedBlend file", file=meta_file,
                             problem="wrong format")
    version = meta.get("format_version")
    if isinstance(version, bool) or version not in formats:
        raise ModelFileError(f"{meta_file!r}: format_version {version!r} is not one of "
                             f"{list(formats)}", file=meta_file, problem="format version")
    saved = meta.get("features")
    # features are only ever appended, so a file written before the newest ones names a
    # prefix of this upsell's list: its rankers' column indices mean the same features
    if not isinstance(saved, list) or not saved or saved != features[:len(saved)]:
        raise ModelFileError(f"{meta_file!r}: feature list differs from this upsell's",
                             file=meta_file, problem="features")
    return meta


def names_and_columns(arrays: dict[str, Any], npz: str, n_items: int, n_features: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The item names (one text per item) and the ranker's feature columns (strictly
    increasing, inside the feature list) of ``state.npz``, checked."""
    names = arrays.get("item_names")
    if not isinstance(names, np.ndarray) or names.dtype.kind != "U" \
            or names.shape != (n_items,):
        raise ModelFileError(f"{npz!r}: item_names malformed", file=npz,
                             member="item_names", problem="shape")
    cols = arrays.get("columns")
    if not isinstance(cols, np.ndarray) or cols.dtype.kind not in "iu" or cols.ndim != 1 \
            or cols.size == 0 or cols.min() < 0 or cols.max() >= n_features \
            or np.any(np.diff(cols) <= 0):
        raise ModelFileError(f"{npz!r}: columns malformed", file=npz, member="columns",
                             problem="columns")
    return names, cols.astype(np.int64)


def with_defaults(cls: type, params: Any) -> Any:
    """Saved ``params`` with every constructor parameter they lack at its default.

    A file does not write ``cascade`` at its default, and files written before a
    parameter existed (``max_rows``) lack it: the blend loads with today's default
    (it only matters for a refit). Anything but a dict is returned unchanged (the
    caller refuses it); unknown names stay, so the caller refuses those too.

    >>> class B:
    ...     def __init__(self, a=1, b=2): ...
    >>> with_defaults(B, {"a": 5})
    {'a': 5, 'b': 2}
    """
    if not isinstance(params, dict):
        return params
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return {**{n: p.default for n, p in sig.parameters.items()
               if p.default is not inspect.Parameter.empty}, **params}

