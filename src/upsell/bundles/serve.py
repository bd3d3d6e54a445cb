"""Frequently bought together, live: a rule index for one fast call per request, and bundle ideas."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from upsell._display import TableResult
from upsell._results import Recommendations
from upsell._validation import check_choice, check_float, check_int, check_k
from upsell.bundles._index_files import _INDEX_MEMBERS, _bad, _check_index, _checked
from upsell.bundles.itemsets import Itemsets
from upsell.bundles.rules import METRICS, Rules
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError, UpsellValueError

__all__ = ["BasketRecommendation", "BundleRecommender", "Bundles", "suggest_bundles"]

_SCORE_METRICS = tuple(m for m in METRICS if m not in ("p_value", "p_adjusted"))


@dataclass(frozen=True, slots=True)
class BasketRecommendation(TableResult):
    """Complementary items for one basket, best first, each with the rule that fired.

    Attributes
    ----------
    items : ndarray
        External ids of the recommended items.
    scores : ndarray of float64
        Metric value of the best rule recommending each item (non-increasing).
    antecedents : tuple of tuple
        For each item, the antecedent (external ids) of that rule: the reason.
    rules : ndarray of int64
        Position of that rule in the :class:`~upsell.bundles.Rules` the recommender was built from.

    Examples
    --------
    >>> rec = BasketRecommendation(items=np.array(["mug"]), scores=np.array([2.0]),
    ...                            antecedents=(("tea",),), rules=np.array([0]))
    >>> len(rec), rec.to_list()
    (1, [('mug', 2.0, ('tea',))])
    >>> rec.reasons, rec.lists(), rec.to_pandas().columns.tolist()
    (('bought with tea',), [['mug']], ['item', 'score', 'because'])
    """

    items: np.ndarray
    scores: np.ndarray
    antecedents: tuple[tuple[Any, ...], ...]
    rules: np.ndarray

    _title = "BasketRecommendation"

    def __len__(self) -> int:
        return int(self.items.size)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why each item is recommended, in words: "bought with " and the rule's antecedent."""
        return tuple(reason_text(a) for a in self.antecedents)

    def lists(self) -> list[list[Any]]:
        """The item ids as one list per request (one request): ``[[ids]]``, like
        :meth:`upsell.Recommendations.lists`."""
        return [self.items.tolist()]

    def to_list(self) -> list[tuple[Any, float, tuple[Any, ...]]]:
        """``(item, score, antecedent)`` triples, best first."""
        return [(i, float(s), a) for i, s, a in
                zip(self.items.tolist(), self.scores.tolist(), self.antecedents, strict=True)]

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        n = len(self) if rows is None else len(rows)
        return {"item": self.items[:n], "score": self.scores[:n],
                "because": list(self.antecedents[:n])}

    def _summary(self) -> str:
        return f"{len(self):,} complementary item(s)"


def reason_text(antecedent: Sequence[Any]) -> str:
    """A rule's antecedent in words, as the reason of a recommendation.

    Examples
    --------
    >>> reason_text(("tea",)), reason_text(("tea", "mug", "pot")), reason_text("abcd")
    ('bought with tea', 'bought with tea, mug and pot', 'bought with a, b and 2 more')
    """
    names = [str(a) for a in antecedent]
    if len(names) > 3:  # a long antecedent: the first two and a count, one readable line
        return f"bought with {names[0]}, {names[1]} and {len(names) - 2:,} more"
    if len(names) <= 2:
        return "bought with " + " and ".join(names)
    return f"bought with {names[0]}, {names[1]} and {names[2]}"


class BundleRecommender:
    """Recommend complements of a basket from association rules, in microseconds.

    Every rule whose antecedent lies inside the basket fires; each consequent item
    not in the basket is scored by the best ``metric`` among the rules recommending
    it. The rules are compiled into a compact index built with array operations: a
    prefix tree of the antecedents (one sorted key array per antecedent length) and,
    per antecedent, its consequent items, best first. A request looks up, one
    antecedent length at a time, only the basket subsets that extend a prefix found
    at the previous length, so a call never scans the rule list. The object is
    read-only after construction and safe to share between threads.

    Parameters
    ----------
    rules : Rules
        From :func:`~upsell.bundles.association_rules`.
    metric : str, default "lift"
        Score of a rule: any metric of :data:`~upsell.bundles.METRICS` except the p-values.
    max_consequents : int, optional
        Keep at most this many consequent items per antecedent (its best ones).
        Default: no per-antecedent limit beyond the one ``max_entries`` implies.
    max_entries : int, optional
        Budget of (antecedent, item) entries kept (about 16 bytes each in memory
        and in the saved file). Default: 64 per item of the catalogue the rules
        know (``64 * len(rules.items)``, at least 10,000), so the model grows with
        the shop's range, not with how low the support was set. When over budget,
        every antecedent keeps its best entry before any keeps its second, and so
        on (shorter antecedents first at equal rank, which fire more often).

    Attributes
    ----------
    n_rules_ : int
        Rules the recommender was built from.
    n_entries_ : int
        (antecedent, item) entries kept after removing redundant ones (an entry
        scoring no better than the same item from a sub-antecedent changes no
        result) and applying the budget.
    n_dropped_ : int
        Entries cut by ``max_consequents`` / ``max_entries`` (lossy); redundant
        ones are not counted.

    Examples
    --------
    >>> from upsell import Transactions
    >>> from upsell.bundles import association_rules, frequent_itemsets
    >>> tx = Transactions.from_arrays(order=[1, 1, 1, 2, 2, 3, 3],
    ...                               item=["tea", "mug", "cake", "tea", "mug", "tea", "cake"])
    >>> rules = association_rules(frequent_itemsets(tx, min_support=2), min_confidence=0.5)
    >>> rec = BundleRecommender(rules, metric="confidence").recommend(basket=["tea"], k=2)
    >>> rec.to_list()
    [('cake', 0.6666666666666666, ('tea',)), ('mug', 0.6666666666666666, ('tea',))]
    """

    def __init__(self, rules: Rules, *, metric: str = "lift", max_consequents: int | None = None,
                 max_entries: int | None = None) -> None:
        if not isinstance(rules, Rules):
            raise UpsellDataError(f"`rules` must be Rules; got {type(rules).__name__}")
        self.metric = check_choice(metric, "metric", _SCORE_METRICS)
        self.max_consequents = (None if max_consequents is None else
                                check_int(max_consequents, "max_consequents", minimum=1))
        self.max_entries = (None if max_entries is None else
                            check_int(max_entries, "max_entries", minimum=1))
        self.items = rules.items
        score = np.asarray(getattr(rules, self.metric), dtype=np.float64)
        self._compile(rules.antecedent_indptr, rules.antecedent_index, rules.consequent_indptr,
                      rules.consequent_index, score)

    # ------------------------------------------------------------------ building
    def _budget(self) -> int:
        if self.max_entries is not None:
            return self.max_entries
        return max(10_000, 64 * len(self.items))

    def _compile(self, a_ptr: np.ndarray, a_idx: np.ndarray, c_ptr: np.ndarray,
                 c_idx: np.ndarray, score: np.ndarray) -> None:
        """Build the index from rule arrays (CSR antecedents and consequents, one score each)."""
        m = max(len(self.items), 1)
        a_ptr = np.asarray(a_ptr, dtype=np.int64)
        c_ptr = np.asarray(c_ptr, dtype=np.int64)
        a_idx = np.asarray(a_idx, dtype=np.int64)
        n_rules = a_ptr.size - 1
        a_len = np.diff(a_ptr)
        # the prefix tree of the antecedents, level by level: node keys parent * m + item
        rule_node = np.full(n_rules, -1, dtype=np.int64)
        parents: list[np.ndarray] = []
        items: list[np.ndarray] = []
        offset = 0
        depth = int(a_len.max()) if n_rules else 0
        for j in range(1, depth + 1):
            rows = np.flatnonzero(a_len >= j)
            item = a_idx[a_ptr[rows] + j - 1]
            parent = rule_node[rows] if j > 1 else np.full(rows.size, -1, dtype=np.int64)
            key = (parent + 1) * m + item
            uniq, inv = np.unique(key, return_inverse=True)
            parents.append(uniq // m - 1)
            items.append(uniq % m)
            rule_node[rows] = offset + inv.reshape(-1)
            offset += uniq.size
        n_nodes = offset
        # entries: one per (rule, consequent item), on the rule's antecedent node
        c_len = np.diff(c_ptr)
        e_rule = np.repeat(np.arange(n_rules, dtype=np.int64), c_len)
        e_item = np.asarray(c_idx, dtype=np.int64)
        e_node = rule_node[e_rule]
        # an undefined metric (NaN) ranks below every defined one
        e_score = np.where(np.isnan(score), -np.inf, score)[e_rule].astype(np.float64)
        level_ptr = np.zeros(len(parents) + 1, dtype=np.int64)
        np.cumsum([p.size for p in parents], out=level_ptr[1:])
        node_parent = np.concatenate(parents) if parents else np.empty(0, dtype=np.int64)
        node_item = np.concatenate(items) if items else np.empty(0, dtype=np.int64)
        node_level = np.repeat(np.arange(1, len(parents) + 1), np.diff(level_ptr))
        # best first within each antecedent (ties: item, then the earliest rule)
        # (entries are in rule order and the sort is stable: ties stay in rule order)
        order = np.lexsort((e_item, -e_score, e_node))
        e_node, e_item, e_score, e_rule = (e_node[order], e_item[order], e_score[order],
                                           e_rule[order])
        del order
        if (c_len > 1).any():
            # one entry per (antecedent, item): its best rule (the first in this order)
            key = e_node * m + e_item
            _, first = np.unique(key, return_index=True)
            keep = np.zeros(key.size, dtype=bool)
            keep[first] = True
            e_node, e_item, e_score, e_rule = e_node[keep], e_item[keep], e_score[keep], e_rule[keep]
        budget = self._budget()
        n_entries = e_node.size
        # lossy cuts first to a generous 4x the budget, so the lossless pass below stays cheap
        kept = self._cut(e_node, e_score, node_level, 4 * budget)
        e_node, e_item, e_score, e_rule = e_node[kept], e_item[kept], e_score[kept], e_rule[kept]
        keep = ~_redundant_entries(node_parent, node_item, node_level, level_ptr, m,
                                   e_node, e_item, e_score)
        n_redundant = int((~keep).sum())
        e_node, e_item, e_score, e_rule = e_node[keep], e_item[keep], e_score[keep], e_rule[keep]
        kept = self._cut(e_node, e_score, node_level, budget)
        e_node, e_item, e_score, e_rule = e_node[kept], e_item[kept], e_score[kept], e_rule[kept]
        n_dropped = n_entries - n_redundant - int(e_node.size)
        # only nodes holding entries and their ancestors stay; renumber them
        need = np.zeros(n_nodes, dtype=bool)
        need[e_node] = True
        for j in range(len(parents), 1, -1):
            lo, hi = int(level_ptr[j - 1]), int(level_ptr[j])
            sub = np.flatnonzero(need[lo:hi]) + lo
            need[node_parent[sub]] = True
        new_id = np.cumsum(need) - 1
        node_parent = np.where(node_parent >= 0, new_id[np.maximum(node_parent, 0)], -1)[need]
        node_item = node_item[need]
        level_ptr = np.r_[0, np.cumsum([int(need[level_ptr[j]:level_ptr[j + 1]].sum())
                                         for j in range(len(parents))])].astype(np.int64)
        e_node = new_id[e_node]
        node_ptr = np.zeros(int(need.sum()) + 1, dtype=np.int64)
        np.cumsum(np.bincount(e_node, minlength=node_ptr.size - 1), out=node_ptr[1:])
        self._set_index(node_parent, node_item, level_ptr, node_ptr, e_item, e_score, e_rule,
                        n_rules, n_dropped)

    def _cut(self, e_node: np.ndarray, e_score: np.ndarray, node_level: np.ndarray,
             budget: int) -> np.ndarray:
        """Entries kept by ``max_consequents`` and a budget; entries in (node, best first) order.

        Over budget, every antecedent keeps its best entry before any keeps its second,
        shorter antecedents first at equal rank, then higher scores.
        """
        n = e_node.size
        kept = np.ones(n, dtype=bool)
        if n == 0:
            return kept
        start = np.flatnonzero(np.r_[True, e_node[1:] != e_node[:-1]])
        rank = np.arange(n) - np.repeat(start, np.diff(np.r_[start, n]))
        if self.max_consequents is not None:
            kept &= rank < self.max_consequents
        if int(kept.sum()) > budget:
            # the ranks kept whole, then the best of the rank that straddles the budget
            per_rank = np.bincount(rank[kept])
            whole = np.cumsum(per_rank)
            cut = int(np.searchsorted(whole, budget, side="right"))  # first rank not whole
            room = budget - (int(whole[cut - 1]) if cut else 0)
            edge = np.flatnonzero(kept & (rank == cut))
            kept &= rank < cut
            if room > 0 and edge.size:
                pick = np.lexsort((-e_score[edge], node_level[e_node[edge]]))[:room]
                kept[edge[pick]] = True
        return kept

    def _set_index(self, node_parent: np.ndarray, node_item: np.ndarray, level_ptr: np.ndarray,
                   node_ptr: np.ndarray, e_item: np.ndarray, e_score: np.ndarray,
                   e_rule: np.ndarray, n_rules: int, n_dropped: int) -> None:
        m = max(len(self.items), 1)
        self._node_parent = node_parent.astype(np.int32)
        self._node_item = node_item.astype(np.int32)
        self._level_ptr = level_ptr.astype(np.int64)
        self._node_ptr = node_ptr.astype(np.int64)
        self._e_item = e_item.astype(np.int32)
        self._e_score = e_score.astype(np.float64)
        self._e_rule = e_rule.astype(np.int32 if n_rules < 2**31 else np.int64)
        self.n_rules_ = int(n_rules)
        self.n_entries_ = int(self._e_item.size)
        self.n_dropped_ = int(n_dropped)
        # lookup keys per level, and which nodes have children (worth extending)
        self._keys = [(self._node_parent[lo:hi].astype(np.int64) + 1) * m + self._node_item[lo:hi]
                      for lo, hi in zip(self._level_ptr[:-1].tolist(), self._level_ptr[1:].tolist(),
                                        strict=True)]
        self._ante_cache: dict[int, tuple[Any, ...]] = {}
        has_child = np.zeros(self._node_item.size, dtype=bool)
        inner = self._node_parent[self._node_parent >= 0]
        has_child[inner] = True
        self._has_child = has_child

    def __repr__(self) -> str:
        return (f"BundleRecommender(metric={self.metric!r}, rules={self.n_rules_:,}, "
                f"entries={self.n_entries_:,}, antecedents={int((np.diff(self._node_ptr) > 0).sum()):,})")

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (``metric``, ``max_consequents``, ``max_entries``)."""
        return {"metric": self.metric, "max_consequents": self.max_consequents,
                "max_entries": self.max_entries}

    # ------------------------------------------------------------------ serving
    @overload
    def recommend(self, basket: Any, *, k: int = ..., exclude: Any = ...
                  ) -> BasketRecommendation: ...

    @overload
    def recommend(self, basket: None = ..., *, baskets: Any = ..., customers: Any = ...,
                  k: int = ..., exclude: Any = ...) -> Recommendations: ...

    def recommend(self, basket: Any = None, *, baskets: Any = None, customers: Any = None,
                  k: int = 5, exclude: Any = None) -> BasketRecommendation | Recommendations:
        """Complementary items for one basket (or for several), best first.

        Parameters
        ----------
        basket : sequence of item ids
            Items in the basket; ids unknown to the rules are ignored.
        baskets : sequence of sequences of item ids, optional
            Several baskets at once (instead of ``basket``): the result is then an
            :class:`upsell.Recommendations` with ``request_kind="basket"`` (requests
            numbered 0..n-1) and each item's reason, the rule's antecedent in words.
        customers : optional
            Not served: the rules know no customer history, so passing it raises
            (the argument exists so every recommender takes the same keywords).
        k : int, default 5
            At most this many items per basket.
        exclude : sequence of item ids, optional
            Items never to recommend (out of stock, already offered, ...); unknown
            ids are ignored.

        Returns
        -------
        BasketRecommendation or Recommendations
            ``BasketRecommendation`` for ``basket``, ``Recommendations`` for
            ``baskets``. Never holds basket or excluded items; scores are
            non-increasing (ties by item index); fewer than ``k`` items when fewer
            rules fire.

        Raises
        ------
        UpsellValueError
            For ``customers=``, or not exactly one of ``basket`` and ``baskets``.

        Examples
        --------
        >>> from upsell import Transactions
        >>> from upsell.bundles import association_rules, frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["a", "b", "a", "b"])
        >>> rec = BundleRecommender(association_rules(frequent_itemsets(tx, min_support=1)))
        >>> rec.recommend(basket=["a"]).items.tolist(), len(rec.recommend(["a"], exclude=["b"]))
        (['b'], 0)
        >>> many = rec.recommend(baskets=[["a"], ["b"], ["x"]])
        >>> many.lists(), many.reasons_for(0)
        ([['b'], ['a'], []], ('bought with a',))
        """
        if customers is not None:
            raise UpsellValueError("`customers`: BundleRecommender has no customer history; "
                                  "pass baskets= (the customers' current baskets)")
        if (basket is None) == (baskets is None):
            raise UpsellValueError("pass exactly one of `basket` and `baskets` "
                                  f"(got {'both' if basket is not None else 'neither'})")
        k = min(check_k(k), len(self.items))  # a longer list than the items cannot fill
        ban = (set() if exclude is None
               else set(self.items.encode(_as_list(exclude), unknown="skip").tolist()))
        if basket is not None:
            item, score, rule, owner = self._top(basket, ban, k)
            ants = tuple(self._antecedent(v) for v in owner.tolist())
            return BasketRecommendation(items=self.items.ids[item], scores=score,
                                        antecedents=ants, rules=rule)
        lists = _basket_lists(baskets)
        idx: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        reasons: list[list[str]] = []
        for b in lists:
            item, score, _, owner = self._top(b, ban, k)
            idx.append(item)
            scores.append(score)
            reasons.append([reason_text(self._antecedent(v)) for v in owner.tolist()])
        return Recommendations.from_lists(np.arange(len(lists), dtype=np.int64), idx, scores,
                                          items=self.items, request_kind="basket",
                                          reasons=reasons)

    def _top(self, basket: Any, exclude: set[int], k: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Top ``k`` of one basket: (item indices, scores, rule positions, antecedent nodes)."""
        known = set(self.items.encode(_as_list(basket), unknown="skip").tolist())
        held = np.array(sorted(known), dtype=np.int64)
        banned = np.array(sorted(known | exclude), dtype=np.int64)
        m = max(len(self.items), 1)
        fired: list[np.ndarray] = []
        front = np.empty(0, dtype=np.int64)
        front_pos = np.empty(0, dtype=np.int64)
        for j, keys in enumerate(self._keys):
            if j == 0:
                cand_parent = np.full(held.size, -1, dtype=np.int64)
                cand_pos = np.arange(held.size, dtype=np.int64)
            else:
                # every frontier prefix extended by each later basket item
                later = held.size - 1 - front_pos
                ok = later > 0
                front, front_pos, later = front[ok], front_pos[ok], later[ok]
                if front.size == 0:
                    break
                cand_parent = np.repeat(front, later)
                cand_pos = _ranges(front_pos + 1, later)
            want = (cand_parent + 1) * m + held[cand_pos]
            at = np.searchsorted(keys, want)
            at_c = np.minimum(at, keys.size - 1)
            hit = keys[at_c] == want
            node = at_c[hit] + int(self._level_ptr[j])
            fired.append(node)
            ext = self._has_child[node]
            front, front_pos = node[ext], cand_pos[hit][ext]
            if front.size == 0:
                break
        nodes = np.concatenate(fired) if fired else np.empty(0, dtype=np.int64)
        lo, hi = self._node_ptr[nodes], self._node_ptr[nodes + 1]
        # an antecedent's entries are best first: past its first k + |banned| they hold no
        # item of the top k (k better unbanned items of that antecedent come before them)
        hi = np.minimum(hi, lo + (k + banned.size))
        some = hi > lo
        nodes, lo, hi = nodes[some], lo[some], hi[some]
        pos = _ranges(lo, hi - lo)
        item = self._e_item[pos]
        if banned.size:
            at = np.searchsorted(banned, item)
            ok = banned[np.minimum(at, banned.size - 1)] != item
        else:
            ok = np.ones(item.size, dtype=bool)
        pos, item = pos[ok], item[ok]
        score = self._e_score[pos]
        rule = self._e_rule[pos].astype(np.int64)
        owner = np.repeat(nodes, hi - lo)[ok]
        # best per item (ties: earliest rule), then best first (ties: item index)
        order = np.lexsort((rule, -score, item))
        item, score, rule, owner = item[order], score[order], rule[order], owner[order]
        first = np.ones(item.size, dtype=bool)
        first[1:] = item[1:] != item[:-1]
        item, score, rule, owner = item[first], score[first], rule[first], owner[first]
        top = np.lexsort((item, -score))[:k]
        return item[top], score[top].astype(np.float64), rule[top], owner[top]

    def _antecedent(self, node: int) -> tuple[Any, ...]:
        """External ids of the antecedent a node stands for (cached: requests repeat them)."""
        got = self._ante_cache.get(node)
        if got is None:
            path = []
            at = node
            while at >= 0:
                path.append(int(self._node_item[at]))
                at = int(self._node_parent[at])
            got = tuple(self.items.ids[path[::-1]].tolist())
            # a plain dict: setting a key is atomic, so threads at worst compute one twice
            if len(self._ante_cache) < _ANTE_CACHE:
                self._ante_cache[node] = got
        return got

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the recommender to one ``.npz`` file (arrays + JSON, no pickle), atomically.

        Only the index is written (antecedent tree, consequent items, scores and rule
        positions in compact dtypes), not the rules.

        Examples
        --------
        >>> import os, tempfile
        >>> from upsell import Transactions
        >>> from upsell.bundles import association_rules, frequent_itemsets
        >>> tx = Transactions.from_arrays(order=[1, 1], item=["a", "b"])
        >>> rec = BundleRecommender(association_rules(frequent_itemsets(tx, min_support=1)))
        >>> p = os.path.join(tempfile.mkdtemp(), "fbt.npz")
        >>> rec.save(p)
        >>> BundleRecommender.load(p).recommend(["a"]).items.tolist()
        ['b']
        """
        from upsell.persist import index_arrays, write_model  # local: not loaded by mining

        write_model(path, kind="BundleRecommender", params=self.get_params(),
                    arrays={"node_parent": self._node_parent, "node_item": self._node_item,
                            "level_ptr": self._level_ptr, "node_ptr": self._node_ptr,
                            "entry_item": self._e_item, "entry_score": self._e_score,
                            "entry_rule": self._e_rule, **index_arrays(self.items, "items")},
                    meta={"index_version": _INDEX_VERSION, "n_rules": self.n_rules_,
                          "n_dropped": self.n_dropped_})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False) -> BundleRecommender:
        """Read a recommender written by :meth:`save`, checking the index it holds.

        Parameters
        ----------
        path : path-like
        ids : sequence of IdIndex, optional
            Id maps already loaded; one equal to the saved item map is reused.
        verify : bool, default True
            Check the arrays' SHA-256 (False when the caller checked the file).
        mmap : bool, default False
            Memory-map the large arrays read-only (see :func:`upsell.persist.read_model`).

        Raises
        ------
        ModelFileError
            Missing, corrupted or foreign file, or an index that is not consistent
            (a member of the wrong shape or type, an item or node out of range,
            unsorted keys, NaN scores); the message names the file and member.
        """
        from upsell.persist import CONTENT_ERRORS, corrupted, read_model

        doc, arrays = read_model(path, kind="BundleRecommender", verify=verify, mmap=mmap)
        try:
            return cls._from_file(doc, arrays, os.fspath(path), ids)
        except CONTENT_ERRORS as exc:
            raise corrupted(path, "BundleRecommender", exc) from None

    @classmethod
    def _from_file(cls, doc: dict[str, Any], arrays: dict[str, np.ndarray], where: str,
                   ids: Sequence[IdIndex]) -> BundleRecommender:
        from upsell.persist import index_from_arrays

        self = cls.__new__(cls)
        params: dict[str, Any] = doc["params"] if isinstance(doc.get("params"), dict) else {}
        meta: dict[str, Any] = doc["meta"] if isinstance(doc.get("meta"), dict) else {}
        try:
            self.metric = check_choice(params.get("metric"), "metric", _SCORE_METRICS)
            mc, me = params.get("max_consequents"), params.get("max_entries")
            self.max_consequents = None if mc is None else check_int(mc, "max_consequents", minimum=1)
            self.max_entries = None if me is None else check_int(me, "max_entries", minimum=1)
        except UpsellDataError as exc:
            _bad(where, "params", str(exc))
        try:
            self.items = index_from_arrays(arrays, "items", name="item", ids=ids,
                                           legacy=meta.get("items"))
        except UpsellDataError as exc:
            _bad(where, "items", str(exc))
        if "antecedent_indptr" in arrays:  # files of upsell <= 0.x: the rules themselves
            legacy = _checked(arrays, where, ("antecedent_indptr", "antecedent_index",
                                              "consequent_indptr", "consequent_index", "score"))
            self._check_rule_arrays(legacy, where)
            self._compile(legacy["antecedent_indptr"], legacy["antecedent_index"],
                          legacy["consequent_indptr"], legacy["consequent_index"],
                          legacy["score"])
            return self
        got = _checked(arrays, where, _INDEX_MEMBERS)
        n_rules = meta.get("n_rules")
        if isinstance(n_rules, bool) or not isinstance(n_rules, int) or n_rules < 0:
            _bad(where, "meta", f"'n_rules' must be a count; got {n_rules!r}")
        n_dropped = meta.get("n_dropped", 0)
        if isinstance(n_dropped, bool) or not isinstance(n_dropped, int) or n_dropped < 0:
            _bad(where, "meta", f"'n_dropped' must be a count; got {n_dropped!r}")
        _check_index(got, len(self.items), n_rules, where)
        self._set_index(got["node_parent"], got["node_item"], got["level_ptr"], got["node_ptr"],
                        got["entry_item"], got["entry_score"], got["entry_rule"], n_rules,
                        n_dropped)
        return self

    def _check_rule_arrays(self, a: dict[str, np.ndarray], where: str) -> None:
        m = len(self.items)
        for ptr_name, idx_name in (("antecedent_indptr", "antecedent_index"),
                                   ("consequent_indptr", "consequent_index")):
            ptr, idx = a[ptr_name], a[idx_name]
            if ptr.size < 1 or ptr[0] != 0 or (np.diff(ptr) < 1).any() or ptr[-1] != idx.size:
                _bad(where, ptr_name, "is not a valid pointer array (starts at 0, each row "
                     "non-empty, ends at the length of its index)")
            if idx.size and (idx.min() < 0 or idx.max() >= m):
                _bad(where, idx_name, f"holds item indices outside [0, {m})")
        if a["antecedent_indptr"].size != a["consequent_indptr"].size:
            _bad(where, "consequent_indptr", "has another number of rules than antecedent_indptr")
        if a["score"].shape != (a["antecedent_indptr"].size - 1,):
            _bad(where, "score", "must hold one score per rule")
        if np.isnan(a["score"]).any():
            _bad(where, "score", "holds NaN")


_INDEX_VERSION = 2
# antecedents kept as tuples of ids for the reasons of later requests
_ANTE_CACHE = 1 << 16


def _redundant_entries(node_parent: np.ndarray, node_item: np.ndarray, node_level: np.ndarray,
                       level_ptr: np.ndarray, m: int, e_node: np.ndarray, e_item: np.ndarray,
                       e_score: np.ndarray) -> np.ndarray:
    """Entries (X, y) for which some (X', y), X' a non-empty proper subset of X, scores >= them.

    Whenever X lies in a basket so does X', so such an entry never changes a result.
    Antecedents are read from the tree, subsets looked up one length at a time.
    """
    out = np.zeros(e_node.size, dtype=bool)
    depth = level_ptr.size - 1
    if depth < 2 or e_node.size == 0:
        return out
    keys = [(node_parent[lo:hi] + 1) * m + node_item[lo:hi]
            for lo, hi in zip(level_ptr[:-1].tolist(), level_ptr[1:].tolist(), strict=True)]
    by_key = np.argsort(e_node * m + e_item, kind="stable")
    e_key = (e_node * m + e_item)[by_key]
    lev = node_level[e_node]
    for L in range(2, depth + 1):
        rows = np.flatnonzero(lev == L)
        if rows.size == 0:
            continue
        # the antecedent items of these entries, column by column
        mat = np.empty((rows.size, L), dtype=np.int64)
        node = e_node[rows]
        for j in range(L - 1, -1, -1):
            mat[:, j] = node_item[node]
            node = node_parent[node]
        for size in range(1, L):
            for cols in itertools.combinations(range(L), size):
                sub = np.full(rows.size, -1, dtype=np.int64)
                for j, col in enumerate(cols):
                    want = (sub + 1) * m + mat[:, col]
                    ks = keys[j]
                    at = np.minimum(np.searchsorted(ks, want), max(ks.size - 1, 0))
                    hit = (ks[at] == want) if ks.size else np.zeros(rows.size, dtype=bool)
                    if j:
                        hit &= sub >= 0
                    sub = np.where(hit, at + level_ptr[j], -1)
                want = sub * m + e_item[rows]
                at = np.minimum(np.searchsorted(e_key, want), e_key.size - 1)
                hit = (sub >= 0) & (e_key[at] == want)
                out[rows[hit]] |= e_score[by_key[at[hit]]] >= e_score[rows[hit]]
    return out


def _ranges(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(start, length)])`` (lengths >= 0)."""
    length = np.asarray(length, dtype=np.int64)
    total = int(length.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    keep = length > 0
    start, length = np.asarray(start, dtype=np.int64)[keep], length[keep]
    out = np.ones(total, dtype=np.int64)
    out[0] = start[0]
    off = np.cumsum(length[:-1])
    out[off] = start[1:] - start[:-1] - length[:-1] + 1
    np.cumsum(out, out=out)
    return out


def _basket_lists(value: Any) -> list[list[Any]]:
    """``baskets=``: a sequence of baskets, each a sequence of item ids."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise UpsellDataError(f"`baskets` must be a list of baskets, each a list of item ids; "
                              f"got {value!r}")
    out: list[list[Any]] = []
    for pos, b in enumerate(value):
        if isinstance(b, (str, bytes)) or not hasattr(b, "__iter__"):
            raise UpsellDataError(
                f"`baskets` must be a list of baskets, each a list of item ids; position "
                f"{pos} is {b!r} (a single basket goes to basket=, or wrap it: [[...]])")
        out.append(_as_list(b))
    return out


def _as_list(values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [values]
    return list(values)


@dataclass(frozen=True, slots=True)
class Bundles(TableResult):
    """Candidate product bundles, best first.

    Attributes
    ----------
    items : tuple of tuple
        External ids of each bundle's items.
    count : ndarray of int64
        Baskets that already hold the whole bundle.
    support, lift : ndarray of float64
        ``count / N`` and the bundle's lift, ``s(S) / prod_i s(i)``.
    list_price : ndarray of float64
        Sum of the catalog prices of the items (NaN if a price is unknown).
    joint_revenue : ndarray of float64
        ``count * list_price``: revenue of the baskets that bought the whole bundle.

    Examples
    --------
    >>> b = Bundles(items=(("a", "b"),), count=np.array([3]), support=np.array([0.3]),
    ...             lift=np.array([2.0]), list_price=np.array([5.0]), joint_revenue=np.array([15.0]))
    >>> len(b), b.to_pandas().columns.tolist()[:3]
    (1, ['items', 'count', 'support'])
    """

    items: tuple[tuple[Any, ...], ...]
    count: np.ndarray
    support: np.ndarray
    lift: np.ndarray
    list_price: np.ndarray
    joint_revenue: np.ndarray

    _title = "Bundles"

    def __len__(self) -> int:
        return len(self.items)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        n = len(self) if rows is None else len(rows)
        return {"items": list(self.items[:n]), "count": self.count[:n],
                "support": self.support[:n], "lift": self.lift[:n],
                "list_price": self.list_price[:n], "joint_revenue": self.joint_revenue[:n]}

    def _summary(self) -> str:
        return f"{len(self):,} candidate bundle(s)"


def suggest_bundles(itemsets: Itemsets, catalog: Catalog, *, sizes: tuple[int, ...] = (2, 3),
                    min_lift: float = 1.0, k: int = 20, rank_by: str = "lift") -> Bundles:
    """Candidate bundles of 2-3 items that customers already buy together, with list prices.

    Parameters
    ----------
    itemsets : Itemsets
        From :func:`~upsell.bundles.frequent_itemsets`.
    catalog : Catalog
        Prices (items it lacks get an unknown price).
    sizes : tuple of int, default (2, 3)
        Bundle sizes considered.
    min_lift : float, default 1.0
        Keep bundles bought together more often than independence predicts.
    k : int, default 20
        Number of bundles returned.
    rank_by : {"lift", "revenue"}, default "lift"
        Order by lift (ties by joint revenue) or by joint revenue (ties by lift).
        Bundles with an unknown price come last when ranking by revenue.

    Returns
    -------
    Bundles

    Notes
    -----
    For a bundle :math:`S`, lift is :math:`s(S) / \\prod_{i \\in S} s(i)`, the
    ratio of the observed joint support to the one expected under independence
    (Brin et al. 1997's dependence ratio); list price is :math:`\\sum_{i \\in S} p_i`
    and joint revenue :math:`n_S \\sum_{i \\in S} p_i`.

    Examples
    --------
    >>> from upsell import Catalog, Transactions
    >>> from upsell.bundles import frequent_itemsets
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2, 3, 4], item=["a", "b", "a", "b", "a", "c"])
    >>> cat = Catalog.from_arrays(item=["a", "b", "c"], price=[2.0, 3.0, 1.0])
    >>> b = suggest_bundles(frequent_itemsets(tx, min_support=2), cat)
    >>> b.items, b.list_price.tolist(), b.joint_revenue.tolist()
    ((('a', 'b'),), [5.0], [10.0])
    """
    if not isinstance(itemsets, Itemsets):
        raise UpsellDataError(f"`itemsets` must be Itemsets; got {type(itemsets).__name__}")
    if not isinstance(catalog, Catalog):
        raise UpsellDataError(f"`catalog` must be a Catalog; got {type(catalog).__name__}")
    sizes = tuple(check_int(s, "sizes", minimum=2) for s in sizes)
    k = check_k(k)
    min_lift = check_float(min_lift, "min_lift", low=0)
    rank_by = check_choice(rank_by, "rank_by", ("lift", "revenue"))
    lat = itemsets.lattice
    price = catalog.align(itemsets.items).price
    n = lat.n_baskets
    mats: list[np.ndarray] = []
    cnts: list[np.ndarray] = []
    lifts: list[np.ndarray] = []
    prices: list[np.ndarray] = []
    for size in sorted(set(sizes)):
        if size > lat.depth:
            continue
        mat = lat.level_items(size)
        cnt = lat.counts[size - 1]
        lift = cnt / n / np.prod(lat.item_counts[mat] / n, axis=1)
        keep = lift >= min_lift
        mats.extend(list(mat[keep]))
        cnts.append(cnt[keep])
        lifts.append(lift[keep])
        prices.append(price[mat[keep]].sum(axis=1))
    count = np.concatenate(cnts) if cnts else np.empty(0, dtype=np.int64)
    lift = np.concatenate(lifts) if lifts else np.empty(0)
    list_price = np.concatenate(prices) if prices else np.empty(0)
    revenue = count * list_price
    rev_key = np.where(np.isnan(revenue), -np.inf, revenue)
    order = (np.lexsort((-rev_key, -lift)) if rank_by == "lift"
             else np.lexsort((-lift, -rev_key)))[:k]
    ids = itemsets.items.ids
    return Bundles(items=tuple(tuple(ids[mats[i]].tolist()) for i in order.tolist()),
                   count=count[order].astype(np.int64), support=count[order] / n,
                   lift=lift[order], list_price=list_price[order], joint_revenue=revenue[order])
