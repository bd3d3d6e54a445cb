"""Candidate sources: adapters for the bundle rules, CF models, the upsell ranker, purchase
sequences and popularity, all behind the :class:`~upsell.recommend.CandidateSource` protocol.

Adapters never reach into the private state of the models they wrap: they call
the models' public ``recommend`` / ``rank`` / ``save`` / ``load``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from upsell._lookup import as_indexed, position
from upsell._validation import check_float, check_int
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.persist import (
    check_array,
    check_index,
    fail,
    index_arrays,
    index_from_arrays,
    read_model,
    write_model,
)
from upsell.recommend._core import Candidate, CandidateSource, Request
from upsell.recommend.blending import add_to_registry

__all__ = [
    "BundleSource",
    "CFSource",
    "PopularitySource",
    "SequenceSource",
    "UpsellSource",
    "as_source",
    "register_source",
]

_REGISTRY: dict[str, type] = {}
#: The longest lag a saved sequence rule may hold (35,000 years, in days): a due date past it
#: is no time (``datetime64[s]``), and no history spans it.
MAX_LAG_DAYS = 35_000 * 365.25


def register_source(cls: type) -> type:
    """Allow :meth:`Recommender.load` to rebuild sources of this class (use as a decorator).

    The class needs ``save(path)`` and a classmethod ``load(path, **config)``;
    when it has ``get_config()``, the returned JSON-ready dict is saved and passed
    back to ``load`` as keyword arguments. Only registered classes are ever
    rebuilt from a saved directory: a file cannot make ``load`` import code.

    Examples
    --------
    >>> @register_source
    ... class Mine:
    ...     name = "mine"
    ...     def candidates(self, request, k): return []
    ...     def save(self, path): open(path, "w").close()
    ...     @classmethod
    ...     def load(cls, path): return cls()
    >>> "Mine" in source_types()
    True
    """
    return add_to_registry(_REGISTRY, cls, "source", "path")


def source_types() -> dict[str, type]:
    """Registered source classes by name (built-in adapters and :func:`register_source`).

    Examples
    --------
    >>> sorted(source_types())[:2]
    ['BundleSource', 'CFSource']
    """
    return dict(_REGISTRY)


def _known(index: IdIndex, ids: Sequence[Any]) -> list[Any]:
    return [i for i in (as_indexed(index, v) for v in ids) if i in index]


def _customer(index: IdIndex, customer: Any) -> Any:
    """The customer id as the model holds it, or None when the model does not know it."""
    if customer is None:
        return None
    got = as_indexed(index, customer)
    return got if position(index, got) >= 0 else None


# ---------------------------------------------------------------------- bundles
class BundleSource:
    """Frequently bought together: a :class:`~upsell.bundles.BundleRecommender` as a source.

    Proposes complements of the basket (cross-sell); the score is the rule metric
    (lift by default), the detail holds the antecedent (``because``) and, when the
    metric is confidence, the probability.

    Parameters
    ----------
    recommender : BundleRecommender
    name : str, default "bundles"
    use_owned : int, default 0
        Also treat the customer's ``use_owned`` most recent purchases as antecedents
        (0: the basket only).

    Examples
    --------
    >>> from upsell import Transactions
    >>> from upsell.bundles import BundleRecommender, association_rules, frequent_itemsets
    >>> tx = Transactions.from_arrays(order=[1, 1, 2, 2], item=["tea", "mug", "tea", "mug"])
    >>> src = BundleSource(BundleRecommender(association_rules(frequent_itemsets(tx, min_support=1))))
    >>> req = Request(None, False, ("tea",), (), (), None, None, "web", np.datetime64(0, "s"))
    >>> [(c.item, c.detail["because"]) for c in src.candidates(req, 5)]
    [('mug', ('tea',))]
    """

    def __init__(self, recommender: Any, *, name: str = "bundles", use_owned: int = 0) -> None:
        from upsell.bundles import BundleRecommender

        if not isinstance(recommender, BundleRecommender):
            raise UpsellDataError(
                f"`recommender` must be a BundleRecommender; got {type(recommender).__name__}")
        self.recommender = recommender
        self.name = _check_name(name)
        self.use_owned = check_int(use_owned, "use_owned", minimum=0)

    def __repr__(self) -> str:
        return f"BundleSource({self.recommender!r}, name={self.name!r})"

    def candidates(self, request: Request, k: int) -> list[Candidate]:
        """Complements of the basket (and recent purchases when ``use_owned``)."""
        basket = list(request.basket) + list(request.owned[:self.use_owned])
        if not basket:
            return []
        rec = self.recommender.recommend(basket=basket, k=k)
        conf = self.recommender.metric == "confidence"
        out = []
        for item, score, ante in zip(rec.items.tolist(), rec.scores.tolist(), rec.antecedents,
                                     strict=True):
            detail: dict[str, Any] = {"because": tuple(ante), "metric": self.recommender.metric}
            if conf:
                detail["probability"] = float(score)
            out.append(Candidate(item, float(score), "cross_sell", detail))
        return out

    def get_config(self) -> dict[str, Any]:
        """Adapter parameters (saved next to the model file)."""
        return {"name": self.name, "use_owned": self.use_owned}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the wrapped recommender (its own ``.npz``)."""
        self.recommender.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False, **config: Any) -> BundleSource:
        """Load a source saved by :meth:`save` (``ids``, ``verify``, ``mmap``: see
        :meth:`~upsell.bundles.BundleRecommender.load`)."""
        from upsell.bundles import BundleRecommender

        return cls(BundleRecommender.load(path, ids=ids, verify=verify, mmap=mmap), **config)


# ---------------------------------------------------------------------- CF
class CFSource:
    """A collaborative-filtering model (ALS, BPR, ItemKNN, EASE, Popular) as a source.

    Known customers are scored as customers (their grown history folded in when
    the request has a basket); unknown or anonymous ones from the basket alone.
    Scores of 0 or less (the models' popularity fallback) are left out: they carry
    no evidence, and the recommender fills from popularity only when asked.

    Parameters
    ----------
    model : CFModel
        A fitted upsell.cf model.
    name : str, optional
        Default: the model class in lower case ("als", "itemknn", ...).
    exclude_owned : bool, default True
        Let the model leave out what the customer owns (the recommender's own
        ``NotOwned`` rule still decides about consumables); a request with
        ``include_owned`` asks the model for owned items too.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from upsell.cf import ItemKNN
    >>> X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]]))
    >>> knn = ItemKNN(similarity="cosine").fit(X)
    >>> req = Request(None, False, (0,), (), (), None, None, "web", np.datetime64(0, "s"))
    >>> [(c.item, round(c.score, 3)) for c in CFSource(knn).candidates(req, 3)]
    [(1, 0.816), (2, 0.408)]
    """

    def __init__(self, model: Any, *, name: str | None = None, exclude_owned: bool = True) -> None:
        from upsell.cf import CFModel

        if not isinstance(model, CFModel):
            raise UpsellDataError(f"`model` must be a fitted upsell.cf model; got "
                                  f"{type(model).__name__}")
        if not hasattr(model, "items_"):
            raise UpsellDataError(f"`model` {type(model).__name__} is not fitted; call fit first")
        self.model = model
        self.name = _check_name(name or type(model).__name__.lower())
        if not isinstance(exclude_owned, bool):
            raise UpsellDataError(f"`exclude_owned` must be True or False; got {exclude_owned!r}")
        self.exclude_owned = exclude_owned

    def __repr__(self) -> str:
        return f"CFSource({type(self.model).__name__}, name={self.name!r})"

    def candidates(self, request: Request, k: int) -> list[Candidate]:
        """The model's top ``k`` for the customer or basket."""
        m = self.model
        basket = _known(m.items_, request.basket)
        cust = _customer(m.customers_, request.customer)
        if cust is not None:
            recs = m.recommend(customers=[cust], k=k,
                               exclude_owned=self.exclude_owned and not request.include_owned,
                               exclude=basket or None,
                               history=[basket] if basket else None, num_threads=1)
        elif basket:
            recs = m.recommend(baskets=[basket], k=k, exclude_owned=True, num_threads=1)
        else:
            return []
        items = recs.item_ids(0).tolist()
        scores = recs.request_scores(0).tolist()
        return [Candidate(i, float(s), "cross_sell", {"model": type(m).__name__})
                for i, s in zip(items, scores, strict=True) if s > 0 and np.isfinite(s)]

    def get_config(self) -> dict[str, Any]:
        """Adapter parameters and the model class."""
        return {"name": self.name, "exclude_owned": self.exclude_owned,
                "model": type(self.model).__name__}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the wrapped model (its own ``.npz``)."""
        self.model.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, model: str = "",
             ids: Sequence[IdIndex] = (), verify: bool = True, mmap: bool = False,
             **config: Any) -> CFSource:
        """Load a source saved by :meth:`save` (``model`` names the upsell.cf class;
        ``ids``, ``verify``, ``mmap``: see :meth:`upsell.cf.CFModel.load`)."""
        import upsell.cf as cf

        if model not in cf.__all__ or model in ("CFModel", "WEIGHTINGS"):
            raise ModelFileError(f"unknown CF model class {model!r} in {os.fspath(path)!r}")
        return cls(getattr(cf, model).load(path, ids=ids, verify=verify, mmap=mmap), **config)


# ---------------------------------------------------------------------- upsell
class UpsellSource:
    """The tier upsell ranker (:class:`~upsell.tiers.UpsellRanker`) as a source of upsells.

    With a basket, every basket item is a base; without one, a known customer's
    owned items are. The score is the ranker's (expected incremental margin by
    default); the detail carries the base, probability, price difference, margin
    gain, share of similar customers and the ranker's own cue.

    Parameters
    ----------
    ranker : UpsellRanker
    name : str, default "upsell"

    Examples
    --------
    >>> from upsell import Catalog, Transactions
    >>> from upsell.tiers import UpsellRanker
    >>> cat = Catalog.from_records([
    ...     {"item": "s", "family": "f", "tier": 1, "price": 100.0, "cost": 80.0},
    ...     {"item": "l", "family": "f", "tier": 2, "price": 150.0, "cost": 90.0}])
    >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["s", "l", "s"],
    ...     customer=["a", "a", "b"], time=["2024-01-01", "2024-02-01", "2024-01-05"])
    >>> src = UpsellSource(UpsellRanker().fit(tx, cat))
    >>> req = Request(None, False, ("s",), (), (), None, "product_page", "web",
    ...               np.datetime64(0, "s"))
    >>> [(c.item, c.kind, c.detail["base"]) for c in src.candidates(req, 3)]
    [('l', 'upsell', 's')]
    """

    def __init__(self, ranker: Any, *, name: str = "upsell") -> None:
        from upsell.tiers import UpsellRanker

        if not isinstance(ranker, UpsellRanker):
            raise UpsellDataError(f"`ranker` must be an UpsellRanker; got {type(ranker).__name__}")
        if not hasattr(ranker, "items_"):
            raise UpsellDataError("`ranker` is not fitted; call fit(tx, catalog) first")
        self.ranker = ranker
        self.name = _check_name(name)

    def __repr__(self) -> str:
        return f"UpsellSource({self.ranker!r}, name={self.name!r})"

    def candidates(self, request: Request, k: int) -> list[Candidate]:
        """Upgrades, value packs, plans and alternatives for the basket or owned items."""
        r = self.ranker
        basket = _known(r.items_, request.basket)
        cust = _customer(r.customers_, request.customer)
        if basket:
            ups = r.rank(basket=basket, customer=cust, segment=request.segment, k=k)
        elif cust is not None:
            ups = r.rank(customer=cust, k=k)
        else:
            return []
        out = []
        for row in ups.records():
            detail: dict[str, Any] = {
                "base": row["base"], "because": (row["base"],), "upsell_kind": row["kind"],
                "probability": float(row["probability"]),
                "margin_gain": float(row["margin_gain"]),
                "share": float(row["similar_share"]), "cue": str(row["cue"])}
            if row["kind"] != "plan":  # a plan is added, not swapped: its price is the gain
                detail["price_diff"] = float(row["price_diff"])
            out.append(Candidate(row["item"], float(row["score"]), "upsell", detail))
        return out

    def get_config(self) -> dict[str, Any]:
        """Adapter parameters."""
        return {"name": self.name}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the wrapped ranker (its own ``.npz``)."""
        self.ranker.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False, **config: Any) -> UpsellSource:
        """Load a source saved by :meth:`save` (``ids``, ``verify``, ``mmap``: see
        :meth:`~upsell.tiers.UpsellRanker.load`)."""
        from upsell.tiers import UpsellRanker

        return cls(UpsellRanker.load(path, ids=ids, verify=verify, mmap=mmap), **config)


# ---------------------------------------------------------------------- sequences
class SequenceSource:
    """What customers buy next, and when: "bought A, later B" rules with their median lag.

    For each item A the customer bought (basket items count as bought now), the
    rules A => B propose B with score ``confidence(A => B)``, and, when the
    request's moment is timed (post-purchase by default), times the Gaussian
    timing factor ``exp(-((age - lag) / width)^2 / 2)`` where ``age`` is the time
    since the customer's latest purchase of A, ``lag`` the rule's median lag and
    ``width = max(lag / 2, 1 day)``: an offer is strongest when the customer
    typically buys B. Every candidate carries ``due`` = time of A + lag.

    Parameters
    ----------
    rules : SequenceRules
        From :func:`~upsell.bundles.sequence_rules`.
    name : str, default "next_purchase"
    min_confidence : float, default 0.0
        Rules below this are not used.

    Examples
    --------
    >>> from upsell import Transactions
    >>> from upsell.bundles import sequence_rules
    >>> tx = Transactions.from_arrays(order=[1, 2, 3, 4], item=["pen", "ink", "pen", "ink"],
    ...     customer=["a", "a", "b", "b"],
    ...     time=["2024-01-01", "2024-01-31", "2024-02-01", "2024-03-02"])
    >>> src = SequenceSource(sequence_rules(tx, within="60D", min_support=1))
    >>> req = Request("c", True, (), ("pen",), (np.datetime64("2024-05-01T00:00:00"),), None,
    ...               "post_purchase", "email", np.datetime64("2024-05-31T00:00:00"), timed=True)
    >>> c = src.candidates(req, 3)[0]
    >>> c.item, c.score, c.detail["lag_days"], str(c.detail["due"])
    ('ink', 1.0, 30.0, '2024-05-31T00:00:00')
    """

    def __init__(self, rules: Any, *, name: str = "next_purchase",
                 min_confidence: float = 0.0) -> None:
        from upsell.bundles import SequenceRules

        self.name = _check_name(name)
        self.min_confidence = check_float(min_confidence, "min_confidence", low=0, high=1)
        if isinstance(rules, SequenceRules):
            arrays = {"first": rules.first, "then": rules.then,
                      "confidence": rules.confidence, "lag": rules.median_lag_days}
            items = rules.items
        elif isinstance(rules, tuple) and len(rules) == 2:  # (items, arrays) from load
            items, arrays = rules
        else:
            raise UpsellDataError(f"`rules` must be SequenceRules; got {type(rules).__name__}")
        keep = np.asarray(arrays["confidence"]) >= self.min_confidence
        first = np.asarray(arrays["first"], np.int64)[keep]
        order = np.lexsort((-np.asarray(arrays["confidence"])[keep], first))
        self.items: IdIndex = items
        self._first = first[order].astype(np.int32)
        self._then = np.asarray(arrays["then"], np.int32)[keep][order]
        self._conf = np.asarray(arrays["confidence"], np.float64)[keep][order]
        self._lag = np.asarray(arrays["lag"], np.float64)[keep][order]
        self._ptr = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self._first, minlength=len(items)), out=self._ptr[1:])
        for a in (self._first, self._then, self._conf, self._lag, self._ptr):
            a.flags.writeable = False

    def __repr__(self) -> str:
        return f"SequenceSource(rules={self._first.size:,}, name={self.name!r})"

    def candidates(self, request: Request, k: int) -> list[Candidate]:
        """Next purchases after the basket and the customer's history, best first."""
        at = int(request.at.astype("datetime64[s]").astype(np.int64))
        seeds = list(request.basket) + list(request.owned)
        if not seeds:
            return []
        ids = self.items
        try:
            code = ids.encode(seeds, unknown="mask")
        except UpsellDataError:  # ids of another type (or mixed): none of them is known
            return []
        known = code >= 0
        if not known.any():
            return []
        a = code[known].astype(np.int64)
        t_all = np.full(len(seeds), at, dtype=np.int64)
        m = min(len(request.owned), len(request.owned_time))
        if m:  # owned items without a known time count as bought now
            owned_t = np.array(request.owned_time[:m], dtype="datetime64[s]")
            b = len(request.basket)
            t_all[b:b + m] = np.where(np.isnat(owned_t), at, owned_t.astype(np.int64))
        t_a = t_all[known]
        lo, hi = self._ptr[a], self._ptr[a + 1]
        lens = hi - lo
        total = int(lens.sum())
        if total == 0:
            return []
        pos = np.repeat(lo - (np.cumsum(lens) - lens), lens) + np.arange(total)
        conf, lag, then = self._conf[pos], self._lag[pos], self._then[pos]
        seed_t = np.repeat(t_a, lens)
        if request.timed:
            age = (at - seed_t) / 86400.0
            width = np.maximum(lag / 2.0, 1.0)
            score = conf * np.exp(-0.5 * ((age - lag) / width) ** 2)
        else:
            score = conf
        order = np.lexsort((then, -score))
        _, first = np.unique(then[order], return_index=True)
        best = order[first]
        best = best[np.lexsort((then[best], -score[best]))][:k]
        seed_a = np.repeat(a, lens)
        out = []
        for j in best.tolist():
            due = np.datetime64(int(seed_t[j] + round(float(lag[j]) * 86400.0)), "s")
            out.append(Candidate(ids.ids[then[j]].item(), float(score[j]), "cross_sell",
                                 {"because": (ids.ids[seed_a[j]].item(),),
                                  "lag_days": float(lag[j]), "due": due,
                                  "probability": float(conf[j])}))
        return out

    def get_config(self) -> dict[str, Any]:
        """Adapter parameters."""
        return {"name": self.name, "min_confidence": self.min_confidence}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the rules the source uses to one ``.npz``."""
        write_model(path, kind="SequenceSource", params=self.get_config(),
                    arrays={**index_arrays(self.items, "items"), "first": self._first,
                            "then": self._then, "confidence": self._conf, "lag": self._lag},
                    meta={})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False, **config: Any) -> SequenceSource:
        """Read a source written by :meth:`save` (``ids``: id maps already loaded, reused
        when equal; ``verify``, ``mmap``: as in :func:`upsell.persist.read_model`)."""
        doc, a = read_model(path, kind="SequenceSource", verify=verify, mmap=mmap)
        params = {**doc["params"], **config}
        f = os.fspath(path)
        try:
            items = index_from_arrays(a, "items", name="item", ids=ids)
            # untrusted file: rule arrays checked as sequence_rules would have made them
            n = check_array(a.get("first"), file=f, member="first", kind="i", ndim=1).shape[0]
            for key in ("first", "then"):
                check_index(a.get(key), len(items), file=f, member=key, shape=(n,))
            check_array(a.get("confidence"), file=f, member="confidence", shape=(n,), low=0,
                        high=1)
            # a lag is days within a history: beyond 35,000 years its due date is no time
            check_array(a.get("lag"), file=f, member="lag", shape=(n,), low=0, high=MAX_LAG_DAYS)
            return cls((items, a), **params)
        except (KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"sequence source {f!r} is corrupted ({exc})", file=f) \
                from None


# ---------------------------------------------------------------------- popularity
class PopularitySource:
    """Best sellers within a segment (distinct buyers), the fallback for unknown customers.

    Parameters
    ----------
    items : IdIndex
        Catalog items.
    labels : sequence of str
        Segment labels; row ``len(labels)`` of the arrays is everyone.
    order : ndarray of int32, shape (len(labels) + 1, m)
        Item positions by popularity, best first (-1 padding).
    buyers : ndarray of float32, same shape
        Distinct buyers of each.
    size : ndarray of float64, shape (len(labels) + 1,)
        Customers per segment.
    name : str, default "popular"

    Examples
    --------
    >>> from upsell import Catalog, Transactions
    >>> cat = Catalog.from_records([{"item": "a"}, {"item": "b"}])
    >>> tx = Transactions.from_arrays(order=[1, 2, 3], item=["a", "b", "b"], customer=["x", "y", "z"])
    >>> pop = PopularitySource.fit(tx, cat, segments={"x": "new", "y": "vip", "z": "vip"})
    >>> req = Request(None, False, (), (), (), "new", None, "web", np.datetime64(0, "s"))
    >>> [c.item for c in pop.candidates(req, 2)]
    ['a']
    """

    def __init__(self, items: IdIndex, labels: Sequence[str], order: np.ndarray,
                 buyers: np.ndarray, size: np.ndarray, *, name: str = "popular") -> None:
        self.items = items
        self.labels = tuple(str(x) for x in labels)
        self._pos = {s: j for j, s in enumerate(self.labels)}
        self._order = np.asarray(order, np.int32)
        self._buyers = np.asarray(buyers, np.float32)
        self._size = np.asarray(size, np.float64)
        if self._order.shape[0] != len(self.labels) + 1 or self._buyers.shape != self._order.shape:
            raise UpsellDataError("popularity arrays must have one row per segment plus one")
        for a in (self._order, self._buyers, self._size):
            a.flags.writeable = False
        self.name = _check_name(name)

    @classmethod
    def fit(cls, tx: Transactions, catalog: Catalog, *, segments: Any = None,
            name: str = "popular") -> PopularitySource:
        """Count distinct buyers per catalog item, overall and per segment.

        Parameters
        ----------
        tx : Transactions
        catalog : Catalog
        segments : SegmentMap, mapping, fitted segmenter or labels aligned to ``tx.customers``
        name : str

        Examples
        --------
        >>> from upsell import Catalog, Transactions
        >>> tx = Transactions.from_arrays(order=[1, 2], item=["a", "a"], customer=["x", "y"])
        >>> PopularitySource.fit(tx, Catalog.from_records([{"item": "a"}])).labels
        ()
        """
        from upsell.recommend.history import SegmentMap, as_segment_map

        cust = tx.require("customer", "PopularitySource.fit")
        X = tx.customer_items("binary")
        imap = catalog.items.encode(tx.items.ids, unknown="mask")
        n_items = len(catalog)
        if isinstance(segments, (np.ndarray, list, tuple)):
            smap: SegmentMap | None = SegmentMap.from_labels(tx.customers, segments)
        else:
            smap = as_segment_map(segments, None)
        lab = smap.labels_for(tx.customers) if smap is not None else \
            np.full(len(tx.customers), "", dtype=str)
        names = sorted(set(lab.tolist()) - {""})
        del cust
        rows = []
        sizes = []
        coo = X.tocoo()
        keep = imap[coo.col] >= 0
        r_all, c_all = coo.row[keep], imap[coo.col[keep]]
        seg_of = lab[r_all]
        for s in [*names, None]:
            sel = np.ones(r_all.size, bool) if s is None else seg_of == s
            counts = np.bincount(c_all[sel], minlength=n_items).astype(np.float32)
            rows.append(counts)
            sizes.append(float(len(tx.customers)) if s is None else float((lab == s).sum()))
        C = np.stack(rows)
        m = int((C > 0).sum(axis=1).max(initial=0))
        order = np.full((C.shape[0], max(m, 1)), -1, dtype=np.int32)
        buyers = np.zeros(order.shape, dtype=np.float32)
        for r in range(C.shape[0]):
            nz = np.flatnonzero(C[r] > 0)
            o = nz[np.lexsort((nz, -C[r, nz]))]
            order[r, :o.size] = o
            buyers[r, :o.size] = C[r, o]
        return cls(catalog.items, names, order, buyers, np.asarray(sizes), name=name)

    def __repr__(self) -> str:
        return f"PopularitySource(segments={list(self.labels)}, name={self.name!r})"

    def candidates(self, request: Request, k: int) -> list[Candidate]:
        """The ``k`` best sellers of the request's segment (everyone when it has none)."""
        r = self._pos.get(request.segment or "", len(self.labels))
        o = self._order[r, :k]
        b = self._buyers[r, :k]
        ok = o >= 0
        o, b = o[ok], b[ok]
        size = max(self._size[r], 1.0)
        seg = self.labels[r] if r < len(self.labels) else None
        ids = self.items.ids[o].tolist()
        return [Candidate(i, float(s), "cross_sell", {"share": float(s) / size, "segment": seg})
                for i, s in zip(ids, b.tolist(), strict=True)]

    def ranked(self, segment: str | None) -> tuple[np.ndarray, np.ndarray, float]:
        """(catalog positions best first, buyers, segment size) for a segment (None: everyone).

        Examples
        --------
        >>> from upsell import Catalog, Transactions
        >>> tx = Transactions.from_arrays(order=[1, 2], item=["a", "b"], customer=["x", "x"])
        >>> PopularitySource.fit(tx, Catalog.from_records([{"item": "a"}])).ranked(None)[0].tolist()
        [0]
        """
        r = self._pos.get(segment or "", len(self.labels))
        o = self._order[r]
        keep = o >= 0
        return o[keep], self._buyers[r][keep], float(max(self._size[r], 1.0))

    def get_config(self) -> dict[str, Any]:
        """Adapter parameters."""
        return {"name": self.name}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to one ``.npz``."""
        write_model(path, kind="PopularitySource", params={"name": self.name},
                    arrays={**index_arrays(self.items, "items"), "order": self._order,
                            "buyers": self._buyers, "size": self._size},
                    meta={"labels": list(self.labels)})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False, **config: Any) -> PopularitySource:
        """Read a source written by :meth:`save` (``ids``, ``verify``, ``mmap``: as in
        :meth:`SequenceSource.load`)."""
        doc, a = read_model(path, kind="PopularitySource", verify=verify, mmap=mmap)
        f = os.fspath(path)
        try:
            items = index_from_arrays(a, "items", name="item", ids=ids)
            labels = doc["meta"]["labels"]
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise fail(f, "labels", "must be a list of strings")
            # untrusted file: positions into the catalog (-1 pads), counts finite and >= 0
            order = check_index(a.get("order"), len(items), file=f, member="order",
                                shape=(len(labels) + 1, None), allow_missing=True)
            check_array(a.get("buyers"), file=f, member="buyers", shape=order.shape, low=0,
                        high=float(np.finfo(np.float32).max))  # served as float32
            check_array(a.get("size"), file=f, member="size", shape=(len(labels) + 1,), low=0)
            return cls(items, labels, order, a["buyers"], a["size"], **{**doc["params"], **config})
        except (KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"popularity source {f!r} is corrupted ({exc})", file=f) \
                from None


# ---------------------------------------------------------------------- helpers
def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or not name.replace("_", "").replace("-", "").isalnum():
        raise UpsellDataError(
            f"a source `name` must be a non-empty string of letters, digits, '_' or '-'; "
            f"got {name!r}")
    return name


def as_source(obj: Any, *, upsell: bool = False) -> CandidateSource:
    """Wrap a fitted model in its adapter; pass a source through unchanged.

    Accepts a :class:`~upsell.bundles.BundleRecommender`, a fitted upsell.cf model,
    :class:`~upsell.bundles.SequenceRules`, an :class:`~upsell.tiers.UpsellRanker`
    or anything with ``name`` and ``candidates(request, k)``.

    Examples
    --------
    >>> class Mine:
    ...     name = "mine"
    ...     def candidates(self, request, k): return []
    >>> as_source(Mine()).name
    'mine'
    """
    from upsell.bundles import BundleRecommender, SequenceRules
    from upsell.cf import CFModel
    from upsell.tiers import UpsellRanker

    if isinstance(obj, BundleRecommender):
        return BundleSource(obj)
    if isinstance(obj, CFModel):
        return CFSource(obj)
    if isinstance(obj, SequenceRules):
        return SequenceSource(obj)
    if isinstance(obj, UpsellRanker):
        return UpsellSource(obj)
    if isinstance(obj, CandidateSource):
        return obj
    what = "`upsell`" if upsell else "`cross_sell` entries"
    raise UpsellDataError(
        f"{what} must be candidate sources (a `name` and candidates(request, k)) or fitted "
        f"BundleRecommender, upsell.cf model, SequenceRules or UpsellRanker; "
        f"got {type(obj).__name__}")


for _cls in (BundleSource, CFSource, UpsellSource, SequenceSource, PopularitySource):
    register_source(_cls)

