"""Learned customer clusters: k-means on standardised behavioural features, profiled and named."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.cluster.vq import ClusterError, kmeans2
from scipy.spatial.distance import cdist

from upsell._display import TableResult
from upsell._validation import as_transactions, check_int, check_memory, is_one_id
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
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
from upsell.segments._base import Estimator
from upsell.segments._features import (
    _F,
    FEATURES,
    HistoryReader,
    ItemTable,
    as_time,
    check_customers,
    customer_sums,
    default_at,
    features_from_sums,
    item_table,
    table_for,
)

__all__ = ["ClusterAssignments", "ClusterProfile", "Clusters"]

# heavy-tailed features are clustered on log1p of their value
_LOG = frozenset({"orders", "tenure_days", "recency_days", "orders_per_month", "monetary", "aov"})

# features that describe the same thing; a label names each concept once
_CONCEPT = {"low_tier_share": "tier", "high_tier_share": "tier", "tier_position": "tier",
            "orders_per_month": "orders", "monetary": "spend", "aov": "spend"}

# phrases for a cluster's distinctive features: (when high, when low)
_PHRASES = {
    "orders": ("many orders", "few orders"),
    "tenure_days": ("long-standing", "recently acquired"),
    "recency_days": ("lapsed", "recently active"),
    "orders_per_month": ("buys often", "buys rarely"),
    "monetary": ("high spend", "low spend"),
    "aov": ("big baskets", "small baskets"),
    "discount_share": ("buys on discount", "pays full price"),
    "low_tier_share": ("entry tier", "above entry tier"),
    "value_pack_share": ("value packs", "no value packs"),
    "price_position": ("dear items", "cheap items"),
    "high_tier_share": ("high tier", "lower tiers"),
    "tier_position": ("high tier", "low tier"),
    "exclusive_share": ("exclusive items", "no exclusives"),
    "warranty_share": ("warranties", "no warranties"),
    "accessory_share": ("accessories", "few accessories"),
    "subscription_share": ("subscriber", "no subscription"),
}


@dataclass(frozen=True, slots=True)
class ClusterProfile(TableResult):
    """One row per cluster: size, revenue share, mean features and a suggested label.

    Attributes
    ----------
    cluster : ndarray of int64
    label : ndarray of str
        Suggested from the features whose cluster mean is furthest from the overall
        mean (in standard deviations), e.g. "high spend, high tier".
    size : ndarray of int64
    share : ndarray of float64
        Share of the fitted customers.
    revenue_share : ndarray of float64
    means : ndarray of float64, shape (k, n_features)
        Mean raw feature values per cluster (NaN-aware).
    names : tuple of str
        Feature names of ``means`` columns.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
    >>> prof = Clusters(k=3, random_state=0).fit(shop.transactions, catalog=shop.catalog).profile_
    >>> int(prof.size.sum()), len(prof.label)
    (100, 3)
    >>> prof.to_pandas().columns.tolist()[:5]
    ['cluster', 'label', 'size', 'share', 'revenue_share']
    """

    cluster: np.ndarray
    label: np.ndarray
    size: np.ndarray
    share: np.ndarray
    revenue_share: np.ndarray
    means: np.ndarray
    names: tuple[str, ...]

    _title = "ClusterProfile"
    _plot_function = "upsell.segments.plots:plot_clusters"

    def __len__(self) -> int:
        return int(self.cluster.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cols: dict[str, Any] = {"cluster": self.cluster, "label": self.label, "size": self.size,
                                "share": self.share, "revenue_share": self.revenue_share}
        if rows is None:  # the frame has the mean features too
            cols.update({n: self.means[:, j] for j, n in enumerate(self.names)})
        return cols

    def _summary(self) -> str:
        return f"{len(self):,} clusters, {int(self.size.sum()):,} customers"


@dataclass(frozen=True, slots=True)
class ClusterAssignments(TableResult):
    """Nearest cluster per customer.

    Attributes
    ----------
    customers : ndarray
    cluster : ndarray of int32
    label : ndarray of str
        The cluster's suggested label.
    distance : ndarray of float64
        Euclidean distance to the centroid in standardised feature space.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
    >>> res = Clusters(k=2, random_state=0).fit(shop.transactions).predict()
    >>> len(res), sorted(set(res.cluster.tolist()))
    (100, [0, 1])
    >>> res.to_pandas().shape
    (100, 4)
    """

    customers: np.ndarray
    cluster: np.ndarray
    label: np.ndarray
    distance: np.ndarray

    _title = "ClusterAssignments"

    def __len__(self) -> int:
        return int(self.customers.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        return {"customer": self.customers, "cluster": self.cluster, "label": self.label,
                "distance": self.distance}

    def _summary(self) -> str:
        return f"{len(self):,} customers"


#: Largest silhouette distance matrix Clusters builds (bytes).
MAX_SILHOUETTE_BYTES = 2 * 2**30


def _check_silhouette_memory(m: int) -> None:
    """Refuse a silhouette sample whose m x m distances would not fit, before allocating them."""
    need = 2 * 8 * m * m  # the float64 distances and one temporary of the same size
    check_memory(need, f"choosing k on a sample of {m:,} customers (pairwise distances)",
                 budget=MAX_SILHOUETTE_BYTES,
                 hint=f"lower `sample_size` (largest that fits: "
                      f"{int((MAX_SILHOUETTE_BYTES / 16) ** 0.5):,}) or give `k` as an integer")


def _silhouette(X: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean silhouette width (Rousseeuw 1987) of a labelled sample; O(n^2) memory."""
    D = cdist(X, X)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((X.shape[0], k))
    for c in range(k):
        sums[:, c] = D[:, labels == c].sum(axis=1)
    own = labels
    n_own = counts[own] - 1.0
    a = np.where(n_own > 0, sums[np.arange(X.shape[0]), own] / np.maximum(n_own, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_other = sums / counts[None, :]
    mean_other[np.arange(X.shape[0]), own] = np.inf
    mean_other[:, counts == 0] = np.inf
    b = mean_other.min(axis=1)
    s = np.where(n_own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


class Clusters(Estimator):
    """k-means segments on standardised behavioural features, with profiles and labels.

    Features are those of :func:`~upsell.segments.customer_features` (or the
    subset in ``features``); counts and money are taken as ``log1p``, missing
    values are filled with the fitted median, and each column is standardised.
    k-means is :func:`scipy.cluster.vq.kmeans2` with k-means++ starts, run
    ``n_init`` times keeping the lowest inertia.

    Parameters
    ----------
    k : int or "auto", default "auto"
        Number of clusters; "auto" picks the ``k`` in ``k_range`` with the highest
        mean silhouette on a sample of ``sample_size`` customers.
    k_range : (int, int), default (2, 8)
        Smallest and largest k tried by "auto".
    random_state : int, default 0
    n_init : int, default 5
        Restarts per k.
    max_iter : int, default 30
        Iterations per restart.
    sample_size : int, default 2000
        Customers sampled for the silhouette (its cost grows with the square).
    features : sequence of str, optional
        Feature names to cluster on (default: all of
        :data:`~upsell.segments.FEATURES`).
    at : datetime or str, optional
        Reference time (default: the day after the last line).

    Attributes
    ----------
    k_ : int
    centroids_ : ndarray, shape (k, n_features)
        In standardised space.
    center_, scale_, fill_ : ndarray
        Standardisation (after log1p) and the medians filling missing values.
    silhouette_ : dict of int to float
        Silhouette per k tried (empty when k is given).
    inertia_ : float
    profile_ : ClusterProfile
    customers_ : IdIndex
    labels_ : ndarray of int32
        Cluster of each fitted customer (customers without history included: they get
        the cluster nearest to the median customer's imputed features).
    distances_ : ndarray of float64
        Their distance to that centroid, in standardised units.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=300, n_items=60, n_orders=1200)
    >>> c = Clusters(k="auto", k_range=(2, 4), random_state=0).fit(
    ...     shop.transactions, catalog=shop.catalog)
    >>> 2 <= c.k_ <= 4, len(c.profile_) == c.k_
    (True, True)
    """

    _fitted_attr = "centroids_"

    def __init__(self, *, k: int | str = "auto", k_range: tuple[int, int] = (2, 8),
                 random_state: int = 0, n_init: int = 5, max_iter: int = 30,
                 sample_size: int = 2000, features: Sequence[str] | None = None,
                 at: Any = None) -> None:
        self.k = k
        self.k_range = k_range
        self.random_state = random_state
        self.n_init = n_init
        self.max_iter = max_iter
        self.sample_size = sample_size
        self.features = features
        self.at = at

    def _columns(self) -> np.ndarray:
        if self.features is None:
            return np.arange(len(FEATURES))
        if isinstance(self.features, (str, bytes)) or not hasattr(self.features, "__iter__") \
                or len(list(self.features)) == 0:
            raise UpsellDataError(
                f"`features` must be a non-empty sequence of feature names; got {self.features!r}")
        bad = [f for f in self.features if f not in _F]
        if bad:
            raise UpsellDataError(
                f"`features` names unknown feature {bad[0]!r}; features are {', '.join(FEATURES)}")
        return np.array([_F[f] for f in self.features], dtype=np.int64)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        Z = X[:, self.columns_].astype(np.float64, copy=True)
        Z[:, self.log_] = np.log1p(np.maximum(Z[:, self.log_], 0.0))
        miss = ~np.isfinite(Z)
        if miss.any():
            Z[miss] = np.broadcast_to(self.fill_, Z.shape)[miss]
        return (Z - self.center_) / self.scale_

    def fit(self, tx: Transactions, catalog: Catalog | None = None) -> Clusters:
        """Cluster the customers of ``tx`` who have history.

        Parameters
        ----------
        tx : Transactions
        catalog : Catalog, optional

        Returns
        -------
        Clusters
            ``self``.

        Raises
        ------
        UpsellDataError
            Bad parameters, or fewer customers with history than clusters.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> Clusters(k=3).fit(shop.transactions).k_
        3
        """
        cols = self._columns()
        seed = check_int(self.random_state, "random_state", minimum=0)
        n_init = check_int(self.n_init, "n_init", minimum=1)
        max_iter = check_int(self.max_iter, "max_iter", minimum=1)
        sample = check_int(self.sample_size, "sample_size", minimum=10)
        if self.k == "auto":
            try:
                k_lo, k_hi = (int(v) for v in self.k_range)
            except (TypeError, ValueError):
                k_lo = k_hi = 0
            if not 2 <= k_lo <= k_hi:
                raise UpsellDataError(
                    f"`k_range` must be two integers 2 <= low <= high; got {self.k_range!r}")
            ks = list(range(k_lo, k_hi + 1))
        else:
            ks = [check_int(self.k, "k", minimum=1)]
        as_transactions(tx, "tx")
        if catalog is not None and not isinstance(catalog, Catalog):
            raise UpsellDataError(
                f"`catalog` must be a Catalog or None; got {type(catalog).__name__}")
        tx.require("customer", "Clusters.fit")
        when = default_at(tx) if self.at is None else as_time(self.at)
        table = item_table(tx, catalog)
        X = features_from_sums(customer_sums(tx, table, when), when)
        history = X[:, _F["orders"]] > 0
        Xh = X[history]
        if Xh.shape[0] < max(ks):
            raise UpsellDataError(
                f"`k` must not exceed the customers with history ({Xh.shape[0]}); got {max(ks)}")
        self.columns_ = cols
        self.log_ = np.array([FEATURES[c] in _LOG for c in cols], dtype=bool)
        raw = Xh[:, cols].copy()
        raw[:, self.log_] = np.log1p(np.maximum(raw[:, self.log_], 0.0))
        miss = ~np.isfinite(raw)
        # an all-NaN column (no tiers without a catalog) has no median: filled with 0
        fill = np.zeros(raw.shape[1])
        some = ~miss.all(axis=0)
        if some.any():
            med = np.nanmedian(raw[:, some], axis=0)
            fill[some] = np.where(np.isfinite(med), med, 0.0)
        self.fill_ = fill
        raw[miss] = np.broadcast_to(self.fill_, raw.shape)[miss]
        self.center_ = raw.mean(axis=0)
        sd = raw.std(axis=0)
        self.scale_ = np.where(sd > 1e-12, sd, 1.0)
        Z = (raw - self.center_) / self.scale_
        rng = np.random.default_rng(seed)
        self.silhouette_: dict[int, float] = {}
        if len(ks) > 1:
            m = min(sample, Z.shape[0])
            _check_silhouette_memory(m)
            pick = rng.choice(Z.shape[0], size=m, replace=False)
            Zs = Z[pick]
            for k in ks:
                if k >= m:
                    break
                cent, lab, _ = _kmeans(Zs, k, n_init, max_iter, rng)
                if np.unique(lab).size < 2:
                    continue
                self.silhouette_[k] = _silhouette(Zs, lab, k)
            if not self.silhouette_:
                raise UpsellDataError("k='auto' found no k with two non-empty clusters")
            best_k = max(self.silhouette_, key=lambda k: (self.silhouette_[k], -k))
        else:
            best_k = ks[0]
        cent, _, inertia = _kmeans(Z, best_k, n_init, max_iter, rng)
        # canonical order: clusters by decreasing size, so labels do not depend on the seed
        lab_all = _nearest(self._transform(X), cent)[0]
        sizes = np.bincount(lab_all[history], minlength=best_k)
        order = np.lexsort((np.arange(best_k), -sizes))
        self.centroids_ = cent[order]
        self.k_ = best_k
        self.inertia_ = inertia
        self.at_ = when
        self.customers_ = tx.customers
        self.items_ = tx.items
        self.item_table_ = table
        self._reader = HistoryReader(tx.items, table)
        labels, dist = _nearest(self._transform(X), self.centroids_)
        self.labels_ = labels.astype(np.int32)
        self.distances_ = dist
        self.profile_ = self._profile(X, labels, history)
        for a in (self.centroids_, self.center_, self.scale_, self.fill_, self.labels_,
                  self.distances_):
            a.flags.writeable = False
        return self

    def _profile(self, X: np.ndarray, labels: np.ndarray, history: np.ndarray) -> ClusterProfile:
        k = self.k_
        lab = labels[history]
        Xh = X[history]
        size = np.bincount(lab, minlength=k)
        rev = np.bincount(lab, weights=np.nan_to_num(Xh[:, _F["monetary"]]), minlength=k)
        total = rev.sum()
        means = np.full((k, len(FEATURES)), np.nan)
        for j in range(len(FEATURES)):
            v = Xh[:, j]
            ok = np.isfinite(v)
            cnt = np.bincount(lab[ok], minlength=k)
            s = np.bincount(lab[ok], weights=v[ok], minlength=k)
            means[:, j] = np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
        labels_txt = _labels(self.centroids_, [FEATURES[c] for c in self.columns_])
        return ClusterProfile(
            cluster=np.arange(k, dtype=np.int64), label=labels_txt, size=size.astype(np.int64),
            share=size / max(int(size.sum()), 1),
            revenue_share=rev / total if total > 0 else np.full(k, np.nan),
            means=means, names=FEATURES)

    # ------------------------------------------------------------------ use
    def predict(self, tx: Transactions | None = None, *, customers: Any = None,
                at: Any = None) -> ClusterAssignments:
        """Nearest cluster of the fitted customers, or of the customers of ``tx``.

        Parameters
        ----------
        tx : Transactions, optional
            Default: the fitted customers.
        customers : id or sequence of ids, optional
            Only these (default: all), in the order given.
        at : datetime or str, optional
            Reference time for ``tx`` (default: the day after its last line).

        Returns
        -------
        ClusterAssignments

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> c = Clusters(k=2).fit(shop.transactions)
        >>> c.predict(customers=["C0000003"]).cluster.shape
        (1,)
        """
        self._check_fitted()
        if tx is None:
            src = self.customers_
            labels, dist = self.labels_, self.distances_
        else:
            as_transactions(tx, "tx")
            src = tx.customers
            when = default_at(tx) if at is None else as_time(at)
            table = table_for(self.items_, self.item_table_, tx.items)
            X = features_from_sums(customer_sums(tx, table, when), when)
            labels, dist = _nearest(self._transform(X), self.centroids_)
        idx = (np.arange(len(src)) if customers is None else
               check_customers(src, [customers] if is_one_id(customers) else customers))
        return ClusterAssignments(customers=src.ids[idx], cluster=labels[idx].astype(np.int32),
                                  label=self.profile_.label[labels[idx]], distance=dist[idx])

    def assign(self, history: Any = None, *, at: Any = None) -> tuple[int, str]:
        """Nearest cluster of one live customer from their order lines: (cluster, label).

        ``history`` is as in :meth:`Personas.assign`.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> c = Clusters(k=2).fit(shop.transactions)
        >>> cl, label = c.assign({"item": ["I00001"], "time": ["2024-12-01"]}, at="2025-01-01")
        >>> cl in (0, 1)
        True
        """
        self._check_fitted()
        x = np.array([self._reader.features(history, at)])
        label, _ = _nearest(self._transform(x), self.centroids_)
        c = int(label[0])
        return c, str(self.profile_.label[c])

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to one ``.npz`` file (no pickle), atomically.

        Examples
        --------
        >>> import tempfile, os
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> c = Clusters(k=2).fit(shop.transactions)
        >>> p = os.path.join(tempfile.mkdtemp(), "clusters.npz")
        >>> c.save(p)
        >>> bool((Clusters.load(p).predict().cluster == c.predict().cluster).all())
        True
        """
        self._check_fitted()
        prof = self.profile_
        arrays = {
            "centroids": self.centroids_, "center": self.center_, "scale": self.scale_,
            "fill": self.fill_, "columns": self.columns_, "log": self.log_,
            "labels": self.labels_, "distances": self.distances_,
            **index_arrays(self.customers_, "customers"), **index_arrays(self.items_, "items"),
            "p_label": prof.label, "p_size": prof.size, "p_share": prof.share,
            "p_revenue_share": prof.revenue_share, "p_means": prof.means,
            **self.item_table_.arrays()}
        params = self.get_params()
        params["k_range"] = list(self.k_range)
        params["features"] = list(self.features) if self.features is not None else None
        params["at"] = None if self.at is None else str(self.at)
        write_model(path, kind="Clusters", params=params, arrays=arrays,
                    meta={"k": self.k_, "inertia": self.inertia_, "at": str(self.at_),
                          "silhouette": {str(k): v for k, v in self.silhouette_.items()}})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False) -> Clusters:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : path-like
        ids : sequence of IdIndex, optional
            Id maps already loaded; one equal to the saved customer or item map
            is reused instead of a copy.
        verify : bool, default True
            Check the arrays' SHA-256 (False when the caller checked the file).
        mmap : bool, default False
            Memory-map the large arrays read-only (see :func:`upsell.persist.read_model`).

        Examples
        --------
        >>> Clusters.load("/nonexistent.npz")
        Traceback (most recent call last):
        ...
        upsell.exceptions.ModelFileError: model file '/nonexistent.npz' does not exist
        """
        doc, a = read_model(path, kind="Clusters", verify=verify, mmap=mmap)
        f = os.fspath(path)
        try:
            params = dict(doc["params"])
            params["k_range"] = tuple(params["k_range"])
            model = cls(**params)
            # untrusted file: parameters through fit's checks, arrays as a fit leaves them
            cols = model._columns()
            for name in ("random_state", "n_init", "max_iter"):
                check_int(getattr(model, name), name, minimum=0 if name == "random_state" else 1)
            check_int(model.sample_size, "sample_size", minimum=10)
            meta = doc["meta"]
            k = meta["k"]
            if type(k) is not int or k < 1:
                raise fail(f, "k", f"must be a positive integer; got {k!r}")
            width = len(cols)
            columns = check_index(a.get("columns"), len(FEATURES), file=f, member="columns",
                                  shape=(width,))
            if not np.array_equal(columns, cols):
                raise fail(f, "columns", "do not match the saved `features` parameter")
            check_array(a.get("centroids"), file=f, member="centroids", shape=(k, width))
            check_array(a.get("center"), file=f, member="center", shape=(width,))
            check_array(a.get("scale"), file=f, member="scale", shape=(width,), low=1e-300)
            check_array(a.get("fill"), file=f, member="fill", shape=(width,))
            check_array(a.get("log"), file=f, member="log", kind="b", shape=(width,))
            for key in ("customers", "items"):
                if key + ".ascii" in a:  # text ids as ASCII bytes (persist.index_arrays)
                    check_array(a.get(key + ".ascii"), file=f, member=key + ".ascii",
                                kind="S", ndim=1)
                else:
                    check_array(a.get(key), file=f, member=key, kind="iU", ndim=1)
            customers = index_from_arrays(a, "customers", name="customer", ids=ids)
            items = index_from_arrays(a, "items", name="item", ids=ids)
            n, m = len(customers), len(items)
            check_index(a.get("labels"), k, file=f, member="labels", shape=(n,))
            check_array(a.get("distances"), file=f, member="distances", shape=(n,), low=0)
            for key in ItemTable.__slots__:
                real = key in ("ref_price", "tier_pos", "price_pos")
                col = check_array(a.get(f"item_{key}"), file=f, member=f"item_{key}",
                                  kind="f" if real else "b", shape=(m,), finite=False)
                if real and np.isinf(col).any():
                    raise fail(f, f"item_{key}", "holds inf")
            check_array(a.get("p_label"), file=f, member="p_label", kind="U", shape=(k,))
            check_array(a.get("p_size"), file=f, member="p_size", kind="i", shape=(k,), low=0,
                        high=n)
            for key in ("p_share", "p_revenue_share"):
                check_array(a.get(key), file=f, member=key, shape=(k,), finite=False)
            check_array(a.get("p_means"), file=f, member="p_means", shape=(k, len(FEATURES)),
                        finite=False)
            inertia = meta["inertia"]
            if type(inertia) not in (int, float) or not 0 <= inertia < float("inf"):
                raise fail(f, "inertia", f"must be a finite number >= 0; got {inertia!r}")
            at = np.datetime64(meta["at"], "s") if isinstance(meta["at"], str) else None
            if at is None or np.isnat(at):
                raise fail(f, "at", f"must be an ISO time; got {meta['at']!r}")
            sil = meta["silhouette"]
            if not isinstance(sil, dict) or not all(
                    type(v) in (int, float) and -1 <= v <= 1 for v in sil.values()):
                raise fail(f, "silhouette", "must map k to a number in [-1, 1]")
            model.centroids_ = a["centroids"]
            model.center_, model.scale_, model.fill_ = a["center"], a["scale"], a["fill"]
            model.columns_, model.log_ = a["columns"], a["log"]
            model.labels_, model.distances_ = a["labels"], a["distances"]
            model.customers_ = customers
            model.items_ = items
            model.item_table_ = ItemTable.from_arrays(a)
            model._reader = HistoryReader(model.items_, model.item_table_)
            model.k_ = k
            model.inertia_ = float(inertia)
            model.at_ = at
            model.silhouette_ = {int(key): float(v) for key, v in sil.items()}
            model.profile_ = ClusterProfile(
                cluster=np.arange(model.k_, dtype=np.int64), label=a["p_label"],
                size=a["p_size"], share=a["p_share"], revenue_share=a["p_revenue_share"],
                means=a["p_means"], names=FEATURES)
        except CONTENT_ERRORS as exc:
            raise corrupted(f, "Clusters", exc) from None
        return model


def _nearest(Z: np.ndarray, cent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest centroid, in blocks to bound memory."""
    n = Z.shape[0]
    lab = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    step = 262_144
    c2 = (cent ** 2).sum(axis=1)
    for s in range(0, n, step):
        z = Z[s:s + step]
        d2 = (z ** 2).sum(axis=1)[:, None] - 2.0 * z @ cent.T + c2[None, :]
        j = d2.argmin(axis=1)
        lab[s:s + step] = j
        dist[s:s + step] = np.sqrt(np.maximum(d2[np.arange(j.size), j], 0.0))
    return lab, dist


def _kmeans(Z: np.ndarray, k: int, n_init: int, max_iter: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Best of ``n_init`` k-means++ runs of :func:`scipy.cluster.vq.kmeans2` by inertia."""
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(n_init):
        try:
            cent, lab = kmeans2(Z, k, iter=max_iter, minit="++", missing="raise", seed=rng)
        except ClusterError:
            continue  # a restart that emptied a cluster is discarded
        inertia = float(((Z - cent[lab]) ** 2).sum())
        if best is None or inertia < best[2]:
            best = (cent, lab, inertia)
    if best is None:
        raise UpsellDataError(
            f"`k` = {k}: every k-means restart left a cluster empty; lower `k` "
            f"or raise `n_init`")
    return best


def _labels(centroids: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Readable labels from the two most distinctive standardised features per centroid."""
    out: list[str] = []
    for row in centroids:
        order = np.argsort(-np.abs(row), kind="stable")
        phrases: list[str] = []
        seen: set[str] = set()
        for j in order:
            if abs(row[j]) < 0.5 or len(phrases) == 2:
                break
            concept = _CONCEPT.get(names[j], names[j])
            if concept in seen:
                continue
            seen.add(concept)
            phrases.append(_PHRASES[names[j]][0 if row[j] > 0 else 1])
        label = ", ".join(phrases) if phrases else "typical"
        base, n = label, 2
        while label in out:
            label = f"{base} ({n})"
            n += 1
        out.append(label)
    return np.array(out, dtype=str)
