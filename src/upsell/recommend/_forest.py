"""A fitted LightGBM model compiled once into flat numpy arrays: scores and exact contributions.

The learned blend scores ~50 candidates per request and explains the few it
serves. LightGBM's ``Booster.predict`` of a small dense matrix costs ~25 us per
row on this kind of model (each row is copied to a sparse vector first), and its
TreeSHAP (``pred_contrib``) walks every path of every tree for each row
(O(leaves x depth^2) per tree). :class:`Forest`
reads the model once (``Booster.dump_model()``) and serves both from arrays:

- :meth:`Forest.predict`: every tree for every row at once, one depth level per
  numpy step (the nodes are laid out so a node's right child follows its left
  one; the trees deepest first, so level ``l`` walks only the trees deeper than
  ``l``). LightGBM's decision rule is kept exactly (``NumericalDecision`` and
  ``CategoricalDecision`` of its ``tree.h``): a NaN goes to the default child
  when the split's ``missing_type`` is ``NaN``; otherwise it is read as 0; with
  ``missing_type`` ``Zero`` a value within 1e-35 of 0 goes to the default child;
  else ``value <= threshold`` goes left. A categorical split sends a value left
  when its integer part (C cast) is one of the split's categories, NaN and
  negatives right. Trees are added in order, as LightGBM adds them, so the scores
  are LightGBM's to the last bit (tested to 1e-9 with NaN).
- :meth:`Forest.contributions`: LightGBM's path-dependent TreeSHAP, exactly. A
  leaf's part of the model is the product game ``v * prod_j (o_j if j known else
  z_j)`` over the distinct features ``j`` of its path, with ``z_j`` the product of
  the cover fractions (``internal_count``/``leaf_count``) of the path's splits on
  ``j`` and ``o_j`` 1 when the row follows every one of them (0 otherwise). Its
  Shapley values depend on the row only through which ``o_j`` are 1, so they are
  tabulated once per leaf and pattern (``2**d`` patterns for ``d`` distinct
  features; Fast TreeSHAP v2, Yang 2021); a request reads one table row per
  leaf. Which ``o_j`` are 1 is found for all leaves at once, top-down over the
  tree levels. The tables of the leaves with the fewest distinct features are
  built while they fit ``max_table`` entries (``sum over leaves of d * 2**d``);
  the deeper leaves (few, in leaf-wise trees) solve their product games per
  request: ``phi_i = (o_i - z_i) * sum_k w_k P(t_k) / f_i(t_k)`` with ``P`` the
  product of the factors ``f_j(t) = z_j + (o_j - z_j) t`` at the Gauss-Legendre
  nodes ``t_k`` (every factor is positive inside [0, 1] when every ``z > 0``).
  Tested against ``pred_contrib`` to 1e-6 (the sums differ only in
  rounding order). The table entries are Shapley values of a product game,
  ``phi_i = (o_i - z_i) * integral over [0, 1] of prod_{j != i} (z_j + (o_j - z_j) t)``
  (its multilinear extension; exact by Gauss-Legendre quadrature).
- :meth:`Forest.paths`: path attributions (Saabas' "tree interpreter"), the cheap
  stand-in for reasons (``LearnedBlend(explain="paths")``): along the row's path each
  split's feature gets the change of the node's expected value (count-weighted mean
  of its leaves) to the child the row follows. They depend on the reached leaf only,
  so a table holds one row per leaf (the features the trees split on, float64; padded
  (feature, change) pairs beyond ``max_table``), and a request adds the rows of the
  leaves LightGBM's ``pred_leaf`` finds: ~0.1-0.25 ms for 5 rows on the served
  rankers, against 1-4 ms for exact TreeSHAP. They sum to the raw score like
  contributions but are not Shapley values (a feature split near the root gets the
  credit TreeSHAP shares with the features it interacts with).
"""

from __future__ import annotations

import threading
from itertools import pairwise
from typing import Any

import numpy as np

from upsell.recommend._kernels import kernels

__all__ = ["Forest"]

_ZERO = 1e-35  # LightGBM's kZeroThreshold
_MAX_TABLE = 4_000_000  # contribution table entries (float64): 32 MB at most
_NO_ADJ = np.zeros(0)


class Forest:
    """The trees of one LightGBM booster as arrays (see the module doc).

    Parameters
    ----------
    booster : lightgbm.Booster
        Any fitted booster with one output per row (regression, binary raw score,
        lambdarank); read once, kept for models the tables cannot hold.
    max_table : int, default 4,000,000
        Entries of the contribution tables at most (float64, 32 MB): the leaves with
        the fewest distinct features are tabulated, as many as fit; the others are
        solved per request (exact either way).
    tables : bool, default True
        Build the tables now; False: at the first :meth:`contributions` (a forest
        that only scores never builds them).
    path_table : bool, default False
        Build the table of :meth:`paths` now (else at its first call).

    Attributes
    ----------
    tables_ok : bool
        Contributions computed here (False only for paths longer than 62 splits,
        which LightGBM's ``pred_contrib`` explains).

    Examples
    --------
    >>> import lightgbm as lgb
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = X[:, 0] + (X[:, 1] > 0)
    >>> b = lgb.train({"num_leaves": 4, "verbose": -1, "min_data_in_leaf": 5},
    ...               lgb.Dataset(X, y), 5)
    >>> f = Forest(b)
    >>> bool(np.allclose(f.predict(X[:4]), b.predict(X[:4]), rtol=0, atol=1e-12))
    True
    >>> bool(np.allclose(f.contributions(X[:2]), b.predict(X[:2], pred_contrib=True)))
    True
    >>> bool(np.allclose(f.paths(X[:2]).sum(axis=1), b.predict(X[:2])))  # not Shapley values
    True
    >>> r = f.raw(X[:4])  # compiled (None without numba): LightGBM's scores to the last bit
    >>> r is None or bool(np.array_equal(r, b.predict(X[:4], raw_score=True)))
    True
    """

    def __init__(self, booster: Any, *, max_table: int = _MAX_TABLE,
                 tables: bool = True, path_table: bool = False) -> None:
        self.booster = booster
        dump = booster.dump_model()
        if int(dump.get("num_tree_per_iteration", 1)) != 1:
            raise ValueError("Forest serves models with one output per row")
        self.n_features = int(dump["max_feature_idx"]) + 1
        feat: list[int] = []
        thr: list[float] = []
        left: list[int] = []
        nan_left: list[bool] = []
        zero_default: list[int] = []  # -1: no zero rule, else 1 left / 0 right
        cat_sets: list[frozenset[int] | None] = []
        count: list[float] = []
        value: list[float] = []
        leaf_of: list[int] = []  # node -> leaf number (-1 internal)
        roots: list[int] = []
        # per leaf: its path as (node, went_left) pairs, value, count, tree
        paths: list[list[tuple[int, bool]]] = []
        leaf_value: list[float] = []
        leaf_count: list[float] = []
        expected: list[float] = []
        tree_depth: list[int] = []
        lgb_leaf: list[int] = []  # per leaf, LightGBM's leaf_index within its tree
        first_leaf: list[int] = []  # per tree, its first leaf

        def new_node() -> int:
            feat.append(0)
            thr.append(np.inf)
            left.append(-1)
            nan_left.append(True)
            zero_default.append(-1)
            cat_sets.append(None)
            count.append(0.0)
            value.append(0.0)
            leaf_of.append(-1)
            return len(feat) - 1

        for info in dump["tree_info"]:
            root = info["tree_structure"]
            # breadth-first, both children of a split in adjacent slots
            r = new_node()
            roots.append(r)
            queue: list[tuple[dict[str, Any], int, list[tuple[int, bool]]]] = [(root, r, [])]
            exp, total, first = 0.0, None, len(leaf_value)
            first_leaf.append(first)
            while queue:
                nxt: list[tuple[dict[str, Any], int, list[tuple[int, bool]]]] = []
                for node, at, path in queue:
                    if "leaf_value" in node:
                        v = float(node["leaf_value"])
                        c = float(node.get("leaf_count", 0))
                        value[at] = v
                        count[at] = c
                        left[at] = at  # a leaf is its own child: the walk stays
                        leaf_of[at] = len(leaf_value)
                        paths.append(path)
                        leaf_value.append(v)
                        leaf_count.append(c)
                        lgb_leaf.append(int(node.get("leaf_index", 0)))
                        continue
                    count[at] = float(node["internal_count"])
                    if total is None:
                        total = count[at]
                    feat[at] = int(node["split_feature"])
                    dl = bool(node["default_left"])
                    mt = str(node["missing_type"])
                    if node["decision_type"] == "==":
                        cat_sets[at] = frozenset(int(x) for x in
                                                 str(node["threshold"]).split("||"))
                        nan_left[at] = False
                    else:
                        th = float(node["threshold"])
                        thr[at] = th
                        if mt == "NaN":
                            nan_left[at] = dl
                        elif mt == "Zero":
                            nan_left[at] = dl
                            zero_default[at] = int(dl)
                        else:
                            nan_left[at] = th >= 0.0
                    lc, rc = new_node(), new_node()
                    left[at] = lc
                    nxt.append((node["left_child"], lc, [*path, (at, True)]))
                    nxt.append((node["right_child"], rc, [*path, (at, False)]))
                queue = nxt
            if total is None:  # one leaf: LightGBM's ExpectedValue is that leaf
                exp = leaf_value[-1]
            else:
                for j in range(first, len(leaf_value)):
                    exp += (leaf_count[j] / total) * leaf_value[j]
            expected.append(exp)
            tree_depth.append(max(len(paths[j]) for j in range(first, len(leaf_value))))

        self.n_trees = len(roots)
        self._leaf_of = np.asarray(leaf_of, dtype=np.int64)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.left = np.asarray(left, dtype=np.int64)
        self.depth = max((len(p) for p in paths), default=0)
        td = np.asarray(tree_depth, dtype=np.int64)
        order = np.argsort(-td, kind="stable")
        self._roots_by_depth = self.roots[order]
        self._by_depth_inv = np.argsort(order)
        self._active = [int((td > lv).sum()) for lv in range(self.depth)]
        self.expected_value = float(sum(expected))  # LightGBM adds them in tree order
        feature = np.asarray(feat, dtype=np.int64)
        self.feature = feature
        self.value = np.asarray(value, dtype=np.float64)
        self._compile(thr, nan_left, zero_default, cat_sets, leaf_of)
        self.max_table = int(max_table)
        self.tables_ok = bool(paths) and self.depth <= 62
        self._pending: tuple[Any, ...] | None = (paths, np.asarray(leaf_value), count)
        self._build_lock = threading.Lock()
        self._count = np.asarray(count, dtype=np.float64)
        # LightGBM's ``pred_leaf`` numbers: leaf ``i`` of tree ``t`` is this forest's leaf
        # ``lgb_to_leaf[first_leaf[t] + i]`` (a tree's leaves are numbered in one block)
        self.first_leaf = np.asarray(first_leaf, dtype=np.int64)
        tree_of = np.repeat(np.arange(self.n_trees), np.diff(np.r_[first_leaf, len(leaf_value)]))
        self.lgb_to_leaf = np.empty(len(leaf_value), dtype=np.int64)
        self.lgb_to_leaf[self.first_leaf[tree_of] + np.asarray(lgb_leaf, dtype=np.int64)] = \
            np.arange(len(leaf_value))
        self._path_table: tuple[np.ndarray, np.ndarray | None] | None = None
        self._leaf_row: np.ndarray | None = None
        if tables:
            self.build_tables()
        if path_table:
            self._build_paths()

    def _compile(self, thr: list[float], nan_left: list[bool], zero_default: list[int],
                 cat_sets: list[frozenset[int] | None], leaf_of: list[int]) -> None:
        """Every node's decision as one comparison over a widened row (see below)."""
        F = self.n_features
        feature = self.feature
        # Every decision is one comparison ``Xext[:, key] <= thr`` over a widened row:
        # copies of X with NaN read as -inf (the split sends NaN left) and +inf (right);
        # a split without learned missing values reads NaN as 0, which goes where
        # ``0 <= threshold`` says (``nan_left`` holds that). For splits with missing_type
        # Zero two more copies where NaN and |x| <= 1e-35 are -inf / +inf. Then one
        # column per categorical split: -1 when the row's category goes left, else 0.
        zd = np.asarray(zero_default, dtype=np.int64)
        self.has_zero = bool((zd >= 0).any())
        n_copies = 4 if self.has_zero else 2
        thr_a = np.asarray(thr, dtype=np.float64)
        copy = np.where(np.asarray(nan_left, dtype=bool), 0, 1)
        if self.has_zero:
            copy = np.where(zd == 1, 2, np.where(zd == 0, 3, copy))
        cat_nodes = np.array([i for i, s in enumerate(cat_sets) if s is not None],
                             dtype=np.int64)
        key = copy * F + feature
        key[cat_nodes] = n_copies * F + np.arange(cat_nodes.size)
        thr_a[cat_nodes] = -0.5
        is_leaf = np.asarray(leaf_of, dtype=np.int64) >= 0
        key[is_leaf] = 0
        thr_a[is_leaf] = np.inf  # no value in Xext is NaN: a leaf always "goes left" to itself
        self.key, self.thr = key, thr_a
        self.n_copies = n_copies
        self.cat_nodes = cat_nodes
        self.cat_feature = feature[cat_nodes]
        width = max((max(cat_sets[i] or {0}) for i in cat_nodes.tolist()), default=0) + 1
        self.cat_table = np.zeros((max(cat_nodes.size, 1), width), dtype=bool)
        for r_, i in enumerate(cat_nodes.tolist()):
            self.cat_table[r_, sorted(cat_sets[i] or ())] = True

    @classmethod
    def for_explain(cls, booster: Any, explain: str) -> Forest:
        """The forest a ``LearnedBlend(explain=)`` serves reasons from: the path table for
        ``"paths"`` now; the TreeSHAP tables at the first reasons asked for (compiled then,
        with the serving kernels: ``Recommender.load`` imports no numba), or by ``warm``."""
        return cls(booster, tables=False, path_table=explain == "paths")

    def attributions(self, X: np.ndarray, explain: str) -> np.ndarray:
        """:meth:`paths` for ``explain="paths"``, else exact :meth:`contributions`."""
        return self.paths(X) if explain == "paths" else self.contributions(X)

    def build_tables(self) -> Forest:
        """Tabulate the contributions now (else at the first :meth:`contributions`)."""
        if self._pending is not None:
            with self._build_lock:  # threads racing for the first reasons build them once
                pending = self._pending
                if pending is not None:
                    self._build_tables(pending[0], pending[1], self.max_table, pending[2])
                    self._pending = None
        return self

    # ------------------------------------------------------------------ decisions
    def _widen(self, X: np.ndarray) -> np.ndarray:
        """``Xext`` of the module doc: (n, n_copies * F + categorical splits), no NaN."""
        X = np.asarray(X, dtype=np.float64)
        n, F = X.shape
        if self.n_features != F:
            raise ValueError(f"X has {F} columns; the model reads {self.n_features}")
        out = np.empty((n, self.n_copies * F + self.cat_nodes.size))
        nan = np.isnan(X)
        out[:, :F] = X
        out[:, F:2 * F] = X
        if nan.any():
            out[:, :F][nan] = -np.inf
            out[:, F:2 * F][nan] = np.inf
        if self.has_zero:
            z = nan | (np.abs(np.where(nan, 0.0, X)) <= _ZERO)
            out[:, 2 * F:3 * F] = np.where(z, -np.inf, X)
            out[:, 3 * F:4 * F] = np.where(z, np.inf, X)
        if self.cat_nodes.size:
            v = X[:, self.cat_feature]  # (n, splits)
            ok = ~np.isnan(v) & (v > -1) & (v < self.cat_table.shape[1])
            code = np.trunc(np.where(ok, v, 0.0)).astype(np.int64)  # C's int cast
            hit = ok & self.cat_table[np.arange(self.cat_nodes.size)[None, :], code]
            out[:, self.n_copies * F:] = -hit.astype(np.float64)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Raw scores of the rows ``X`` (float64 ``(n,)``), as ``Booster.predict``."""
        node = self._walk(X)
        if node.shape[1] == 0:
            return np.zeros(0)
        # tree by tree in LightGBM's order of addition (a reduction over axis 0 adds
        # the rows one after another)
        return np.add.reduce(self.value[node], axis=0)

    def raw(self, X: np.ndarray, first: int = 0, keep: int = 0,
            adj: np.ndarray | None = None) -> np.ndarray | None:
        """Raw scores, compiled (None without numba): ``cascade_raw``'s, bit for bit.

        ``first`` > 0 with more than ``keep`` rows: the first ``first`` trees (plus
        ``adj``) score every row, the ``keep`` best get the other trees, the rest rank
        below them in first-pass order; else every tree (plus ``adj``) for every row.
        """
        kn = kernels()
        if kn is None:  # pragma: no cover - numba is a dependency
            return None
        X = np.ascontiguousarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; the model reads {self.n_features} columns")
        return kn.forest_raw(X, self.key, self.thr, self.left, self.value, self.roots,
                             self.n_copies, self.has_zero, self.cat_feature, self.cat_table,
                             int(first), int(keep),
                             _NO_ADJ if adj is None else np.asarray(adj, dtype=np.float64))

    def _walk(self, X: np.ndarray) -> np.ndarray:
        """The leaf node each row reaches in each tree: int64 ``(n_trees, n)``, tree order."""
        W = self._widen(X)
        n = W.shape[0]
        if n == 0:
            return np.zeros((self.n_trees, 0), dtype=np.int64)
        flat = W.ravel()
        base = np.arange(n, dtype=np.int64) * W.shape[1]
        # trees deepest first: level l walks only the first ``active[l]`` trees
        node = np.repeat(self._roots_by_depth[:, None], n, axis=1)
        key, thr, left = self.key, self.thr, self.left
        for a in self._active:
            nd = node[:a]
            node[:a] = left[nd] + (flat[base + key[nd]] > thr[nd])
        return node[self._by_depth_inv]

    # ------------------------------------------------------------------ contributions
    def _build_tables(self, paths: list[list[tuple[int, bool]]], leaf_value: np.ndarray,
                      max_table: int, count: list[float]) -> None:
        """Shapley values of every leaf's product game for every pattern of its features."""
        n_leaves = len(paths)
        slots: list[list[int]] = []  # distinct features per leaf, in path order
        zs: list[list[float]] = []
        for path in paths:
            fs: list[int] = []
            z: list[float] = []
            for node, went in path:
                f = int(self.feature[node])
                child = int(self.left[node]) + (0 if went else 1)
                frac = count[child] / count[node] if count[node] > 0 else 0.0
                if f in fs:
                    z[fs.index(f)] *= frac
                else:
                    fs.append(f)
                    z.append(frac)
            slots.append(fs)
            zs.append(z)
        d = np.array([len(s) for s in slots], dtype=np.int64)
        # the shallow leaves are tabulated, as many as ``max_table`` holds (a leaf of d
        # features takes d * 2**d entries); the deep ones are computed per request
        size_of = d * (1 << np.minimum(d, 62))
        by_d = np.bincount(d, weights=size_of.astype(np.float64)) if n_leaves else np.zeros(1)
        fits = np.flatnonzero(np.cumsum(by_d) <= max_table)
        self.table_depth = int(fits[-1]) if fits.size else 0
        tab = d <= self.table_depth
        # a leaf's pattern is an int64 bitset: longer paths are explained by LightGBM
        self.tables_ok = n_leaves > 0 and self.depth <= 62
        self.n_tabulated = int(tab.sum())
        if not self.tables_ok:
            return
        # A path's distinct features get slots in path order, so every node has one
        # slot per ancestor split, shared by all the leaves below it: the "missed" bits
        # of a leaf (slots of the features whose splits the row does not follow) are
        # built top-down, one tree level per step, over the nodes only.
        n_nodes = self.left.size
        parent = np.full(n_nodes, -1, dtype=np.int64)
        level = np.zeros(n_nodes, dtype=np.int64)
        node_slots: dict[int, list[int]] = {}
        bit = np.zeros(n_nodes, dtype=np.int64)  # the bit of a split's feature below it
        for r in self.roots.tolist():
            node_slots[r] = []
            stack = [r]
            while stack:
                u = stack.pop()
                if self.left[u] == u:
                    continue
                fs = node_slots[u]
                f = int(self.feature[u])
                bit[u] = 1 << (fs.index(f) if f in fs else len(fs))
                below = fs if f in fs else [*fs, f]
                for ch in (int(self.left[u]), int(self.left[u]) + 1):
                    parent[ch] = u
                    level[ch] = level[u] + 1
                    node_slots[ch] = below
                    stack.append(ch)
        # every non-root node, by level: the row reaches it when its parent's decision
        # points at it (one comparison per node for all levels at once)
        kids = np.flatnonzero(parent >= 0)
        kids = kids[np.argsort(level[kids], kind="stable")]
        pa = parent[kids]
        self.edge_child, self.edge_parent = kids, pa
        self.edge_key, self.edge_thr = self.key[pa], self.thr[pa]
        # the bit a row misses at an edge when ``value <= threshold`` is true / false
        # (true goes left: a right child is missed)
        is_left = kids == self.left[pa]
        self.edge_bit_true = np.where(is_left, 0, bit[pa])
        self.edge_bit_false = np.where(is_left, bit[pa], 0)
        bounds = np.searchsorted(level[kids], np.arange(1, self.depth + 2))
        self.levels = [(int(a), int(b)) for a, b in pairwise(bounds.tolist())]
        # the node of each leaf, in the leaves' own numbering (the order of ``paths``)
        leaf_nodes = np.flatnonzero(self._leaf_of >= 0)
        self.leaf_node = np.empty(n_leaves, dtype=np.int64)
        self.leaf_node[self._leaf_of[leaf_nodes]] = leaf_nodes
        self.full = (1 << d) - 1
        self.d = d
        d_t = np.where(tab, d, 0)
        offset = np.zeros(n_leaves, dtype=np.int64)
        offset[1:] = np.cumsum(d_t * (1 << d_t))[:-1]
        self.offset = offset
        self.table = _fill_table(d, tab, d_t, zs, leaf_value, offset)
        # (leaf, slot) pairs, ordered by feature: the sums per feature are one reduceat
        pl = np.repeat(np.arange(n_leaves), d_t)
        ps = np.arange(pl.size) - np.repeat(np.cumsum(d_t) - d_t, d_t)
        pf = np.asarray([slots[i][j] for i, j in zip(pl.tolist(), ps.tolist(), strict=True)],
                        dtype=np.int64)
        by = np.argsort(pf, kind="stable")
        self.pair_leaf, self.pair_slot, pf = pl[by], ps[by], pf[by]
        starts = np.flatnonzero(np.r_[True, pf[1:] != pf[:-1]]) if pf.size else pf
        self.pair_starts, self.pair_features = starts, pf[starts]
        # the deep leaves, by number of features: (leaves, cover fractions, values)
        self.deep: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        deep_f: list[np.ndarray] = []
        for dd in np.unique(d[~tab]).tolist():
            who = np.flatnonzero(~tab & (d == dd))
            self.deep.append((who, np.array([zs[i] for i in who.tolist()], dtype=np.float64),
                              leaf_value[who]))
            deep_f.append(np.array([slots[i] for i in who.tolist()], dtype=np.int64).ravel())
        df = np.concatenate(deep_f) if deep_f else np.empty(0, np.int64)
        by = np.argsort(df, kind="stable")
        df = df[by]
        self.deep_order = by
        self.deep_starts = np.flatnonzero(np.r_[True, df[1:] != df[:-1]]) if df.size else df
        self.deep_features = df[self.deep_starts]
        # the same leaves flat, for the compiled solve: per leaf its number, features,
        # offset of its cover fractions (= of its values in the concatenated parts above),
        # value, and quadrature nodes (d // 2 + 1 of them, from their offset)
        leaves = [(w, zz, v) for w, zz, v in self.deep]
        self.deep_leaf = np.concatenate([w for w, _, _ in leaves]) if leaves else \
            np.empty(0, np.int64)
        self.deep_d = d[self.deep_leaf].astype(np.int64)
        self.deep_z = np.concatenate([zz.ravel() for _, zz, _ in leaves]) if leaves else \
            np.empty(0)
        self.deep_v = np.concatenate([v for _, _, v in leaves]) if leaves else np.empty(0)
        self.deep_zoff = np.r_[0, np.cumsum(self.deep_d)[:-1]].astype(np.int64) \
            if leaves else np.empty(0, np.int64)
        nodes = [_gauss(int(k) // 2 + 1) for k in self.deep_d.tolist()]
        self.deep_t = np.concatenate([t for t, _ in nodes]) if nodes else np.empty(0)
        self.deep_w = np.concatenate([w for _, w in nodes]) if nodes else np.empty(0)
        k_of = self.deep_d // 2 + 1
        self.deep_toff = np.r_[0, np.cumsum(k_of)[:-1]].astype(np.int64) if nodes else \
            np.empty(0, np.int64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact TreeSHAP contributions, as ``Booster.predict(X, pred_contrib=True)``.

        Returns float64 ``(n, n_features + 1)``; the last column is the expected value.
        """
        if self._pending is not None:
            self.build_tables()
        X = np.asarray(X)
        kn = kernels()
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}; the model reads {self.n_features} columns")
        W = self._widen(X) if kn is None else X  # the kernel widens each row itself
        n, F = X.shape[0], self.n_features
        if not self.tables_ok:
            return np.asarray(self.booster.predict(np.asarray(X, dtype=np.float64),
                                                   pred_contrib=True, num_threads=1),
                              dtype=np.float64).reshape(n, F + 1)
        out = np.zeros((n, F + 1))
        out[:, F] = self.expected_value
        if n == 0:
            return out
        if kn is not None:  # the same steps compiled, to the last bit (reduceat's sums)
            pattern = kn.forest_contrib(
                np.ascontiguousarray(X), self.n_copies, self.has_zero, self.cat_feature,
                self.cat_table, self.left.size, self.edge_key, self.edge_thr,
                self.edge_bit_true, self.edge_bit_false, self.edge_child, self.edge_parent,
                self.leaf_node, self.full, self.d, self.offset, self.pair_leaf, self.pair_slot,
                self.table, self.pair_features, self.pair_starts, out)
            if self.deep_leaf.size:  # the deep leaves' games too (rounding differs: ~1e-16)
                kn.forest_deep(pattern, self.deep_leaf, self.deep_d, self.deep_zoff,
                               self.deep_z, self.deep_v, self.deep_t, self.deep_w,
                               self.deep_toff, self.deep_order, self.deep_starts,
                               self.deep_features, out)
            return out
        # the bit of each edge's feature when the row does not follow it, then ORed
        # down the tree one level at a time
        # (np.take and in-place steps: half the time of fancy indexing at this size)
        miss = np.where(np.take(W, self.edge_key, axis=1) <= self.edge_thr,
                        self.edge_bit_true, self.edge_bit_false)
        missed = np.zeros((n, self.left.size), dtype=np.int64)
        ch, pa = self.edge_child, self.edge_parent
        for a, b in self.levels:
            missed[:, ch[a:b]] = np.take(missed, pa[a:b], axis=1) | miss[:, a:b]
        pattern = np.take(missed, self.leaf_node, axis=1)
        pattern ^= self.full  # features whose every split the row follows
        at = pattern * self.d
        at += self.offset  # (n, leaves): the leaf's table row
        idx = np.take(at, self.pair_leaf, axis=1)
        idx += self.pair_slot
        vals = np.take(self.table, idx)
        if vals.shape[1]:
            out[:, self.pair_features] += np.add.reduceat(vals, self.pair_starts, axis=1)
        return self._deep(pattern, out)

    def _deep(self, pattern: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out`` plus the contributions of the leaves beyond the tables."""
        n = out.shape[0]
        if self.deep:  # leaves beyond the tables: their product games solved here
            parts = [_shapley_rows(zz, (pattern[:, who, None] >> np.arange(zz.shape[1])) & 1)
                     * v[:, None] for who, zz, v in self.deep]
            vals = np.concatenate([p.reshape(n, -1) for p in parts], axis=1)[:, self.deep_order]
            out[:, self.deep_features] += np.add.reduceat(vals, self.deep_starts, axis=1)
        return out

    # ------------------------------------------------------------------ path attributions
    def _build_paths(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Per leaf, its path's features and their changes of the expected value."""
        got = self._path_table
        if got is not None:
            return got
        left = self.left.tolist()
        feature = self.feature.tolist()
        count = self._count.tolist()
        value = self.value.tolist()
        n_nodes = len(left)
        # expected value of every node: its leaves' values weighted by their counts
        # (children follow their parent, so one backward pass); a node no training row
        # reached (count 0) takes the mean of its children's
        mass = [0.0] * n_nodes
        cnt = [0.0] * n_nodes
        ev = [0.0] * n_nodes
        for u in range(n_nodes - 1, -1, -1):
            lc = left[u]
            if lc == u:
                cnt[u] = count[u]
                mass[u] = count[u] * value[u]
                ev[u] = value[u]
                continue
            cnt[u] = cnt[lc] + cnt[lc + 1]
            mass[u] = mass[lc] + mass[lc + 1]
            ev[u] = mass[u] / cnt[u] if cnt[u] > 0 else 0.5 * (ev[lc] + ev[lc + 1])
        # top-down: each node's path so far as {feature: summed change}
        n_leaves = int(self.lgb_to_leaf.size)
        per_leaf: list[dict[int, float]] = [{} for _ in range(n_leaves)]
        leaf_of = self._leaf_of.tolist()
        for r in self.roots.tolist():
            stack: list[tuple[int, dict[int, float]]] = [(r, {})]
            while stack:
                u, acc = stack.pop()
                lc = left[u]
                if lc == u:
                    per_leaf[leaf_of[u]] = acc
                    continue
                f = feature[u]
                for ch in (lc, lc + 1):
                    a = dict(acc)
                    a[f] = a.get(f, 0.0) + (ev[ch] - ev[u])
                    stack.append((ch, a))
        # rows in LightGBM's numbering (``first_leaf[tree] + leaf_index``): a request adds
        # the rows of its leaves. Dense (leaves x features) within ``max_table`` entries,
        # else padded (feature, change) pairs per leaf, added up by one bincount
        per_lgb = [per_leaf[j] for j in self.lgb_to_leaf.tolist()]
        F = self.n_features
        # dense columns: the features the trees split on (a smaller table stays in cache)
        used = np.unique(self.feature[self.left != np.arange(n_nodes)])
        if n_leaves * used.size <= self.max_table:
            col = np.zeros(F, dtype=np.int64)
            col[used] = np.arange(used.size)
            dense = np.zeros((n_leaves, used.size))
            for j, a in enumerate(per_lgb):
                if a:
                    dense[j, col[list(a.keys())]] = list(a.values())
            self._path_cols = used  # before the table: a racing thread reads both
            self._path_table = (dense, None)
            return dense, None
        width = max((len(a) for a in per_lgb), default=0)
        feats = np.full((n_leaves, max(width, 1)), F, dtype=np.int64)
        vals = np.zeros((n_leaves, max(width, 1)))
        for j, a in enumerate(per_lgb):
            if a:
                feats[j, :len(a)] = list(a.keys())
                vals[j, :len(a)] = list(a.values())
        self._path_table = (vals, feats)
        return vals, feats

    def _lgb_leaves(self, X: np.ndarray) -> np.ndarray:
        """LightGBM's ``pred_leaf`` as rows of the path table: ``(n, n_trees)`` (the
        compiled walk's leaves when numba is there: the same leaves)."""
        kn = kernels()
        if kn is not None:
            if self._leaf_row is None:  # forest node -> path-table row (LightGBM's numbering)
                row = np.full(self.left.size, -1, dtype=np.int64)
                leaf = self._leaf_of >= 0
                inv = np.empty(self.lgb_to_leaf.size, dtype=np.int64)
                inv[self.lgb_to_leaf] = np.arange(self.lgb_to_leaf.size)
                row[leaf] = inv[self._leaf_of[leaf]]
                self._leaf_row = row
            node = kn.forest_leaves(np.ascontiguousarray(X), self.key, self.thr, self.left,
                                    self.roots, self.n_copies, self.has_zero, self.cat_feature,
                                    self.cat_table)
            return self._leaf_row[node]
        pl = self.booster.predict(X, pred_leaf=True, num_threads=1)
        return np.asarray(pl).reshape(X.shape[0], -1)[:, :self.n_trees] + self.first_leaf

    def paths(self, X: np.ndarray) -> np.ndarray:
        """Path attributions ("tree interpreter", Saabas 2014) of the rows ``X``.

        Along a row's path in each tree, every split's feature gets the change of the
        expected value (the count-weighted mean of the leaves below) from the split's
        node to the child the row follows; summed over trees. A function of the leaves
        the row reaches only, so it is one table row per leaf and tree. Same shape and
        bias column as :meth:`contributions` (``(n, n_features + 1)``; the rows sum to
        the raw score), but not Shapley values: a feature split high in a tree gets
        the credit its interactions share under TreeSHAP.
        """
        table, feats = self._build_paths()
        X = np.asarray(X, dtype=np.float64)
        n, F = X.shape[0], self.n_features
        if n == 0:
            return np.zeros((0, F + 1))
        at = self._lgb_leaves(X)
        if feats is None:  # dense: a (leaves x features split on) row per leaf
            out = np.zeros((n, F + 1))
            out[:, self._path_cols] = np.add.reduce(table[at], axis=1)
        else:
            rows = np.arange(n, dtype=np.int64)[:, None, None] * (F + 1)
            out = np.bincount((feats[at] + rows).ravel(), weights=table[at].ravel(),
                              minlength=n * (F + 1)).astype(np.float64).reshape(n, F + 1)
        out[:, F] = self.expected_value
        return out



def _fill_table(d: np.ndarray, tab: np.ndarray, d_t: np.ndarray, zs: list[list[float]],
                leaf_value: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The Shapley values of the tabulated leaves' product games, every pattern: leaf ``i``
    (``d[i]`` features, cover fractions ``zs[i]``) at ``offset[i] + pattern * d[i] + slot``."""
    table = np.zeros(int((d_t * (1 << d_t)).sum()))
    kn = kernels()
    for dd in np.unique(d[tab]).tolist():
        if dd == 0:
            continue
        if kn is not None:  # compiled: a third of the time (the same values to 1e-12)
            who = np.flatnonzero(tab & (d == dd))
            zz = np.array([zs[i] for i in who.tolist()], dtype=np.float64).reshape(-1, dd)
            t, w = _gauss(dd // 2 + 1)
            kn.shapley_table(zz, np.ascontiguousarray(leaf_value[who], dtype=np.float64),
                             offset[who], t, w, table)
            continue
        pat = np.arange(1 << dd)
        o = ((pat[:, None] >> np.arange(dd)[None, :]) & 1).astype(np.float64)
        # leaves in chunks: the quadrature's scratch (patterns x leaves x nodes x
        # dd floats) stays near 4M entries
        step = max(1, 4_000_000 // ((1 << dd) * (dd // 2 + 1) * dd))
        all_who = np.flatnonzero(tab & (d == dd))
        for lo in range(0, all_who.size, step):
            who = all_who[lo:lo + step]
            zz = np.array([zs[i] for i in who.tolist()], dtype=np.float64)
            if (zz > 0).all():  # (m, patterns, dd); the quicker division form
                phi = _shapley_rows(zz, o[:, None, :]).transpose(1, 0, 2)
            else:
                phi = _shapley_product(zz[:, None, :], o[None, :, :])
            phi *= leaf_value[who][:, None, None]
            idx = offset[who][:, None] + np.arange(dd * (1 << dd))[None, :]
            table[idx] = phi.reshape(who.size, -1)
    return table

def _shapley_rows(z: np.ndarray, o: np.ndarray) -> np.ndarray:
    """:func:`_shapley_product` of ``m`` leaves (``z``: ``(m, d)``) for ``n`` rows' ``o`` ``(n, m, d)``.

    With every ``z > 0`` each factor ``z_j + (o_j - z_j) t`` is positive at the
    (interior) quadrature nodes, so the product of the others is the whole product
    over the own factor: fewer steps than prefix and suffix products.
    """
    d = z.shape[1]
    if not (z > 0).all():
        return _shapley_product(z[None, :, :], o.astype(np.float64))
    t, w = _gauss(d // 2 + 1)
    oz = o - z  # (n, m, d)
    f = oz[:, :, None, :] * t[:, None]
    f += z[:, None, :]  # (n, m, nodes, d)
    p = f.prod(axis=-1)
    p *= w  # (n, m, nodes)
    np.reciprocal(f, out=f)
    s = np.matmul(p[:, :, None, :], f)[:, :, 0, :]  # sum over the nodes
    s *= oz
    return s


_GAUSS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _gauss(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (``k`` nodes: exact to degree ``2k - 1``)."""
    got = _GAUSS.get(k)
    if got is None:
        t, w = np.polynomial.legendre.leggauss(k)
        got = _GAUSS[k] = ((t + 1.0) / 2.0, w / 2.0)
    return got


def _shapley_product(z: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Shapley values of the games ``f(S) = prod_j (o_j if j in S else z_j)`` over ``d`` players.

    ``phi_i = (o_i - z_i) * integral over t in [0, 1] of prod_{j != i} (z_j + (o_j - z_j) t)``
    (the multilinear extension of the game; Owen 1972): the integrand is a
    polynomial of degree ``d - 1``, so Gauss-Legendre quadrature with ``d // 2 + 1``
    nodes gives it exactly. It equals TreeSHAP's sum over coalitions
    ``sum_S |S|! (d-1-|S|)! / d! prod_S o prod_{F-i-S} z``. A player with ``z = o = 1``
    changes nothing (padding). ``z``, ``o`` broadcast to ``(..., d)``; returns ``(..., d)``.
    """
    z, o = np.broadcast_arrays(np.asarray(z, dtype=np.float64), np.asarray(o, dtype=np.float64))
    d = z.shape[-1]
    if d == 0:
        return np.zeros(z.shape)
    t, w = np.polynomial.legendre.leggauss(d // 2 + 1)
    t, w = (t + 1.0) / 2.0, w / 2.0  # on [0, 1]
    f = z[..., None, :] + (o - z)[..., None, :] * t[:, None]  # (..., nodes, d)
    # the product of the other factors: prefix times suffix products (no division by 0)
    ones = np.ones((*f.shape[:-1], 1))
    pre = np.cumprod(np.concatenate([ones, f[..., :-1]], axis=-1), axis=-1)
    suf = np.cumprod(np.concatenate([ones, f[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return (o - z) * np.einsum("...kd,k->...d", pre * suf, w)
