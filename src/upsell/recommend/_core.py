"""The data that flows through one request: candidates, the request, the pool, offers, reasons.

Everything here is either frozen (what callers see) or lives only inside one
``recommend`` call (the pool), so a :class:`~upsell.recommend.Recommender`
keeps no per-request state on itself and serves many threads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from upsell._display import TableResult
from upsell.data.catalog import Catalog
from upsell.exceptions import UpsellDataError

__all__ = [
    "OFFER_KINDS",
    "Candidate",
    "CandidateSource",
    "Evidence",
    "Offer",
    "OfferList",
    "OfferPool",
    "PoolItem",
    "Reason",
    "Request",
    "Rule",
    "Snapshot",
]

#: Offer kinds: an extra item (cross-sell), a better or bigger one (upsell), or an item the
#: customer bought before, offered again (replenish: requests with ``include_owned=True``).
OFFER_KINDS = ("cross_sell", "upsell", "replenish")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Candidate:
    """One item a source proposes, with its score on the source's own scale and why.

    Parameters
    ----------
    item : item id
        External id (as in the catalog).
    score : float
        Higher is better; only its order within the source and the source's
        ``min_score`` floor matter (scores are normalised per source before blending).
    kind : {"cross_sell", "upsell"}, default "cross_sell"
    detail : mapping, optional
        Evidence as data, shown in the offer's reason and usable by cue templates.
        Keys the library understands: ``because`` (tuple of item ids that triggered
        it), ``probability`` (estimated P(accept)), ``base`` (the item an upsell
        replaces), ``price_diff``, ``margin_gain``, ``lag_days``, ``due``
        (numpy datetime64), ``share`` and ``cue`` (a ready sentence from the source).

    Examples
    --------
    >>> Candidate("mug", 2.5, detail={"because": ("tea",)}).detail["because"]
    ('tea',)
    """

    item: Any
    score: float
    kind: str = "cross_sell"
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A recommender's learned state as one request reads it: the policy version and the
    state of every learner, published together by ``Recommender.update``.

    A request reads the recommender's current snapshot once, when it starts; every
    learner reads its own state from it (``request.snapshot.state_of(rule, default)``),
    so the offers and the version they carry (``OfferList.policy``) come from the
    same update whatever another thread publishes meanwhile.

    Attributes
    ----------
    policy : str
        ``"name@version"`` of the recommender with these states.
    states : mapping of int to object
        Each learner's state, keyed by ``id(learner)``.

    Examples
    --------
    >>> rule = object()
    >>> snap = Snapshot("shop@1a2b3c4d", {id(rule): "state 2"})
    >>> snap.state_of(rule, "state 1"), snap.state_of(object(), "own state")
    ('state 2', 'own state')
    """

    policy: str = ""
    states: Mapping[int, Any] = field(default_factory=lambda: _EMPTY_STATES)

    def state_of(self, owner: Any, default: Any = None) -> Any:
        """The state published for ``owner`` in this snapshot, else ``default``."""
        return self.states.get(id(owner), default)


_EMPTY_STATES: Mapping[int, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Request:
    """What a source sees of one request (validated and resolved by the recommender).

    Attributes
    ----------
    customer : id or None
        External customer id; None for anonymous visitors.
    known : bool
        Whether the customer is in the recommender's history.
    basket : tuple
        Item ids in the basket (or on the page), known catalog items only.
    owned : tuple
        Item ids the customer bought before (from history).
    owned_time : tuple of numpy.datetime64
        Time of the latest purchase of each owned item (NaT when unknown).
    segment : str or None
    moment : str or None
        "product_page", "cart", "checkout", "post_purchase" or a user-defined moment.
    channel : str
        "web", "email" or "store".
    at : numpy.datetime64
        Time of the request (seconds).
    timed : bool
        Whether the moment asks sources to time offers by purchase lags.
    context : mapping
        Free-form data from the caller, passed to sources and rules unchanged.
    include_owned : bool, default False
        The caller allows items the customer owns ("buy again" offers):
        ``NotOwned`` lets them through and sources should not leave them out.
    snapshot : Snapshot or None, default None
        The recommender's learned states and policy version when the request
        started (set by the recommender; learners read their state from it).

    Examples
    --------
    >>> r = Request(customer=None, known=False, basket=("tea",), owned=(), owned_time=(),
    ...             segment=None, moment="cart", channel="web",
    ...             at=np.datetime64("2024-01-01T00:00:00"))
    >>> r.basket, r.timed
    (('tea',), False)
    """

    customer: Any
    known: bool
    basket: tuple[Any, ...]
    owned: tuple[Any, ...]
    owned_time: tuple[np.datetime64, ...]
    segment: str | None
    moment: str | None
    channel: str
    at: np.datetime64
    timed: bool = False
    context: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    include_owned: bool = False
    snapshot: Snapshot | None = None


@runtime_checkable
class CandidateSource(Protocol):
    """Anything that proposes items for a request: rules, CF, the upsell ranker, your own class.

    A source has a ``name`` (unique within a recommender; it keys ``weights``
    and ``min_score``) and ``candidates(request, k)`` returning at most ``k``
    :class:`Candidate` objects. The recommender passes ``k`` positionally, so
    classes written with the earlier parameter name ``n`` keep working. Sources must not keep per-request state: one
    instance serves many threads. To be saved with :meth:`Recommender.save`, a
    source also needs ``save(path)`` and a classmethod ``load(path)`` and must be
    registered with :func:`~upsell.recommend.register_source`. An optional
    ``cue_style`` attribute picks the cue templates used when the source is an
    offer's strongest (:data:`~upsell.recommend.CUE_STYLES`; default "default").

    Examples
    --------
    >>> class Staff:
    ...     name = "staff_picks"
    ...     def candidates(self, request, k):
    ...         return [Candidate("mug", 1.0, detail={"cue": "Staff favourite"})][:k]
    >>> isinstance(Staff(), CandidateSource)
    True
    """

    name: str

    def candidates(self, request: Request, k: int, /) -> Sequence[Candidate]: ...


@runtime_checkable
class Rule(Protocol):
    """A business rule: drops candidates, adjusts their scores or limits the final list.

    ``apply(pool, request)`` works on the request's :class:`OfferPool` through
    its methods (:meth:`OfferPool.drop`, :meth:`OfferPool.adjust`,
    :meth:`OfferPool.limit`, :meth:`OfferPool.note`), so every effect is recorded
    in the reasons of the offers shown. Rules run in the order given and must
    not keep per-request state.

    Examples
    --------
    >>> class NoGifts:
    ...     name = "no_gifts"
    ...     def apply(self, pool, request):
    ...         for c in list(pool):
    ...             if str(pool.catalog.name[c.index]).startswith("Gift"):
    ...                 pool.drop(c, self.name)
    >>> isinstance(NoGifts(), Rule)
    True
    """

    name: str

    def apply(self, pool: OfferPool, request: Request) -> None: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one source said about an offered item.

    Attributes
    ----------
    source : str
    raw : float
        The source's own score.
    normalised : float
        After per-source normalisation within the request, in [0, 1].
    weight : float
        The source's blending weight.
    detail : mapping
        The candidate's detail (antecedent, probability, lag, ...).

    Examples
    --------
    >>> Evidence("bundles", 3.2, 1.0, 1.0, {}).contribution
    1.0
    """

    source: str
    raw: float
    normalised: float
    weight: float
    detail: Mapping[str, Any]

    @property
    def contribution(self) -> float:
        """``weight * normalised``: this source's part of the offer's score."""
        return self.weight * self.normalised


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an item is offered, as data: sources, segment strategy, moment and every rule's effect.

    Attributes
    ----------
    summary : str
        One line for logs and dashboards.
    evidence : tuple of Evidence
        One entry per source that proposed the item, strongest first.
    segment : str or None
    strategy : str or None
        Label of the opportunity-matrix strategy that favoured the item, if any.
    moment : str or None
    rules : tuple of (str, str)
        ``(rule name, effect)`` for every rule the offer passed or was changed by,
        in the order they ran: "passed", "+0.120", "slot 1 of 1", ...

    Examples
    --------
    >>> r = Reason("bundles: bought with tea", (), None, None, "cart", (("in_stock", "passed"),))
    >>> r.to_dict()["rules"]
    [['in_stock', 'passed']]
    """

    summary: str
    evidence: tuple[Evidence, ...]
    segment: str | None
    strategy: str | None
    moment: str | None
    rules: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (numpy values become Python scalars and strings)."""
        return {
            "summary": self.summary,
            "evidence": [{"source": e.source, "raw": e.raw, "normalised": e.normalised,
                          "weight": e.weight, "detail": _jsonable(dict(e.detail))}
                         for e in self.evidence],
            "segment": self.segment, "strategy": self.strategy, "moment": self.moment,
            "rules": [[a, b] for a, b in self.rules],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


@dataclass(frozen=True, slots=True, eq=False)
class Offer:
    """One offer to show: the item, its kind, score and parts, money, reason and sales cue.

    Two offers are equal when every field is; an unknown amount (NaN, e.g. the
    margin without costs) equals an unknown amount, so the same request gives
    equal offers.

    Attributes
    ----------
    item : item id
    name : str
        Display name from the catalog.
    kind : {"cross_sell", "upsell", "replenish"}
        ``"replenish"``: an item the customer bought before ("buy again"; only when
        the request allows owned items, ``include_owned=True``).
    item_kind : str
        The catalog kind (product, accessory, warranty, ...).
    score : float
        Final score; offers come best first, scores non-increasing.
    components : mapping of str to float
        The parts that add up to ``score``: ``source:<name>`` (weight x normalised
        score), ``segment`` (opportunity-matrix bonus), ``rule:<name>`` (re-ranking
        adjustments), ``fill`` (popularity fill).
    sources : tuple of str
        Sources that proposed the item, strongest first.
    probability : float
        Estimated P(accept): the largest one a source gave (rule confidence,
        upsell propensity), else the recommender's ``default_probability``.
    expected_revenue, expected_margin : float
        ``probability`` times the revenue (price, or price difference for an
        upsell) and margin (price - cost, or the margin gain) of accepting;
        NaN when the catalog lacks the price or cost.
    reason : Reason
    cue : str
        Sales cue rendered for ``channel``.
    channel : str
    moment : str or None
    due : numpy.datetime64 or None
        When the customer typically buys the item (timed offers), else None.
    propensity : float, default 1.0
        Probability that the policy which made the list shows this item at this
        position for this request (1.0 for a deterministic policy; below 1 when an
        exploration rule may swap the slot). The offer log records it for
        off-policy evaluation.
    explored : bool, default False
        The slot was filled by exploration rather than by the greedy ranking.

    Examples
    --------
    >>> o = Offer(item="mug", name="Mug", kind="cross_sell", item_kind="accessory", score=1.0,
    ...           components={"source:bundles": 1.0}, sources=("bundles",), probability=0.4,
    ...           expected_revenue=3.2, expected_margin=2.0,
    ...           reason=Reason("bundles", (), None, None, None, ()), cue="Goes with tea",
    ...           channel="web", moment=None, due=None)
    >>> o.to_dict()["item"], o.to_dict()["components"]
    ('mug', {'source:bundles': 1.0})
    >>> o.propensity, o.explored, o.to_dict()["propensity"]
    (1.0, False, 1.0)
    """

    item: Any
    name: str
    kind: str
    item_kind: str
    score: float
    components: Mapping[str, float]
    sources: tuple[str, ...]
    probability: float
    expected_revenue: float
    expected_margin: float
    reason: Reason
    cue: str
    channel: str
    moment: str | None
    due: np.datetime64 | None
    propensity: float = 1.0
    explored: bool = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Offer):
            return NotImplemented
        for f in self.__slots__:
            a, b = getattr(self, f), getattr(other, f)
            if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
                continue
            if isinstance(a, np.datetime64) or isinstance(b, np.datetime64):
                if not (isinstance(a, np.datetime64) and isinstance(b, np.datetime64)
                        and (a == b or (np.isnat(a) and np.isnat(b)))):
                    return False
                continue
            if a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (for an HTTP response or a log line)."""
        return {
            "item": _jsonable(self.item), "name": self.name, "kind": self.kind,
            "item_kind": self.item_kind, "score": self.score,
            "components": dict(self.components), "sources": list(self.sources),
            "probability": self.probability,
            "expected_revenue": _jsonable(self.expected_revenue),
            "expected_margin": _jsonable(self.expected_margin),
            "reason": self.reason.to_dict(), "cue": self.cue, "channel": self.channel,
            "moment": self.moment, "due": _jsonable(self.due) if self.due is not None else None,
            "propensity": _jsonable(self.propensity), "explored": bool(self.explored),
        }

    def _row(self) -> dict[str, Any]:
        """The flat fields of one table row (the reason as its summary line)."""
        return {"item": self.item, "name": self.name, "kind": self.kind,
                "item_kind": self.item_kind, "score": self.score,
                "probability": self.probability, "expected_revenue": self.expected_revenue,
                "expected_margin": self.expected_margin, "sources": self.sources,
                "reason": self.reason.summary, "cue": self.cue, "channel": self.channel,
                "moment": self.moment, "due": self.due, "propensity": self.propensity,
                "explored": self.explored}

    def to_pandas(self) -> Any:
        """A one-row DataFrame of the offer (the reason as its summary; see :meth:`to_dict`).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> o = Offer(item="mug", name="Mug", kind="cross_sell", item_kind="accessory",
        ...           score=1.0, components={}, sources=("bundles",), probability=0.4,
        ...           expected_revenue=3.2, expected_margin=2.0,
        ...           reason=Reason("bundles", (), None, None, None, ()), cue="Goes with tea",
        ...           channel="web", moment=None, due=None)
        >>> o.to_pandas()[["item", "score", "cue"]].values.tolist()
        [['mug', 1.0, 'Goes with tea']]
        """
        from upsell._display import data_frame

        return data_frame({k: [v] for k, v in self._row().items()}, "Offer.to_pandas")

    def _repr_html_(self) -> str:
        from upsell._display import html_fields

        return html_fields("Offer", self._row(), summary=f"{self.item} ({self.kind})")


_OFFER_COLUMNS = ("item", "name", "kind", "item_kind", "score", "probability",
                  "expected_revenue", "expected_margin", "sources", "reason", "cue", "channel",
                  "moment", "due", "propensity", "explored")
_SHOWN_COLUMNS = ("item", "name", "kind", "score", "probability", "cue")


def _immutable(name: str) -> Callable[..., Any]:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"OfferList is immutable: {name}() is not allowed; build a new list "
                        f"(e.g. list(offers)) to change it")
    refuse.__name__ = name
    return refuse


def _offer_list(offers: tuple[Offer, ...], removed: dict[str, int], note: str,
                policy: str = "", segment: str | None = None) -> OfferList:
    return OfferList(offers, removed=removed, note=note, policy=policy, segment=segment)


class OfferList(TableResult, list):
    """The offers of one request, best first (read-only, compares equal to a list of the same
    :class:`Offer` objects), plus what rules removed.

    Attributes
    ----------
    removed : dict of str to int
        Candidates each rule (or the ``min_score`` floor, the moment policy)
        took out, for monitoring how invasive or restrictive the rules are.
    note : str
        What a caller should know about the request, in one sentence ("" when
        nothing): e.g. that the customer is unknown to the history and the
        offers are popular items (fill), or why the list is empty.
    policy : str
        ``"name@version"`` of the recommender (policy) that made the list, ""
        when unknown; :meth:`OfferLog.presented` logs it with every offer.
    segment : str or None
        The request's segment label, when known (logged for the learner).
    items : tuple
        The offered item ids, best first.
    scores : numpy.ndarray of float64
        The offers' scores, non-increasing.
    reasons : tuple of str
        Each offer's reason summary.

    Notes
    -----
    The list is immutable: indexing, slicing, ``len``, iteration and ``==`` work
    as on a list, while ``append``, ``sort``, item assignment and the other
    mutators raise :class:`TypeError` (one result may be shared, e.g. by the
    cache of cold requests). Copies (``copy``, ``deepcopy``, ``pickle``) keep
    ``removed``, ``note``, ``policy`` and ``segment``; a slice is a plain list.

    Examples
    --------
    >>> offers = OfferList([], removed={"in_stock": 2})
    >>> offers == [], offers.removed, offers.note
    (True, {'in_stock': 2}, '')
    >>> offers.items, offers.scores.tolist(), offers.lists()
    ((), [], [[]])
    >>> tagged = OfferList([], policy="upsell@1a2b3c4d", segment="loyal")
    >>> import copy
    >>> c = copy.copy(tagged)
    >>> c.policy, c.segment
    ('upsell@1a2b3c4d', 'loyal')
    >>> offers.append(None)
    Traceback (most recent call last):
    ...
    TypeError: OfferList is immutable: append() is not allowed; build a new list (e.g. list(offers)) to change it
    """

    _title = "OfferList"

    def __init__(self, offers: Sequence[Offer] = (), *, removed: Mapping[str, int] | None = None,
                 note: str = "", policy: str = "", segment: str | None = None) -> None:
        list.__init__(self, offers)
        if not isinstance(policy, str):
            raise UpsellDataError(f"`policy` must be a string ('name@version'); got {policy!r}")
        if segment is not None and not isinstance(segment, str):
            if isinstance(segment, np.generic):
                segment = segment.item()
            if isinstance(segment, bool) or not isinstance(segment, (str, int)):
                raise UpsellDataError(f"`segment` must be a string label or None; got "
                                      f"{segment!r}")
            segment = str(segment)
        self.__dict__["removed"] = dict(removed or {})
        self.__dict__["note"] = str(note)
        self.__dict__["policy"] = policy
        self.__dict__["segment"] = segment

    removed: dict[str, int]
    note: str
    policy: str
    segment: str | None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"OfferList is immutable: cannot set {name!r}")

    def __reduce__(self) -> Any:
        return (_offer_list, (tuple(self), dict(self.removed), self.note, self.policy,
                              self.segment))

    append = _immutable("append")
    extend = _immutable("extend")
    insert = _immutable("insert")
    remove = _immutable("remove")
    pop = _immutable("pop")
    clear = _immutable("clear")
    sort = _immutable("sort")
    reverse = _immutable("reverse")
    __setitem__ = _immutable("__setitem__")
    __delitem__ = _immutable("__delitem__")
    __iadd__ = _immutable("__iadd__")
    __imul__ = _immutable("__imul__")

    @property
    def items(self) -> tuple[Any, ...]:
        """The offered item ids, best first."""
        return tuple(o.item for o in self)

    @property
    def scores(self) -> np.ndarray:
        """The offers' scores (float64), non-increasing."""
        return np.array([o.score for o in self], dtype=np.float64)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Each offer's reason summary, best first."""
        return tuple(o.reason.summary for o in self)

    def lists(self) -> list[list[Any]]:
        """The item ids as one list per request (``[[ids]]``, as :meth:`Recommendations.lists`)."""
        return [list(self.items)]

    def _columns(self, rows: range | None = None) -> dict[str, list[Any]]:
        offers = list(self) if rows is None else [self[i] for i in rows]
        data = [o._row() for o in offers]
        names = _OFFER_COLUMNS if rows is None else _SHOWN_COLUMNS
        return {n: [r[n] for r in data] for n in names}

    def _summary(self) -> str:
        removed = ", ".join(f"{k} {v:,}" for k, v in self.removed.items())
        return (f"{len(self):,} offer(s)" + (f"; removed: {removed}" if removed else "")
                + (f"; {self.note}" if self.note else ""))

    def to_pandas(self) -> Any:
        """One row per offer, best first: item, name, kinds, score, money, reason summary, cue.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> OfferList([], removed={"in_stock": 2}).to_pandas().shape
        (0, 16)
        """
        return TableResult.to_pandas(self)


class PoolItem:
    """One candidate item inside a request's :class:`OfferPool` (mutable, request-local).

    Attributes
    ----------
    index : int
        Position in the recommender's catalog.
    item : item id
    kind : {"cross_sell", "upsell", "replenish"}
        Decided when the pool is prepared: ``"replenish"`` for a cross-sell of an
        item the customer bought before (requests with ``include_owned=True``),
        so rules, learners, the log and the rendered offer read the same kind.
    score : float
        Current score (blended relevance + bonuses + adjustments so far).
    evidence : list of Evidence
    probability : float
    revenue, margin : float
        Revenue and margin of accepting (not yet multiplied by ``probability``).
    promoted : bool
    fill : bool
        Came from the popularity fill.

    Examples
    --------
    >>> p = PoolItem(3, "mug", "cross_sell", 0.5)
    >>> p.score, p.effects
    (0.5, [])
    """

    __slots__ = ("blend_reason", "components", "effects", "evidence", "fill", "index", "item",
                 "kind", "margin", "probability", "promoted", "revenue", "score", "strategy")

    def __init__(self, index: int, item: Any, kind: str, score: float) -> None:
        self.index = index
        self.item = item
        self.kind = kind
        self.score = score
        self.evidence: list[Evidence] = []
        self.components: dict[str, float] = {}
        self.effects: list[tuple[str, str]] = []
        self.probability = float("nan")
        self.revenue = float("nan")
        self.margin = float("nan")
        self.promoted = False
        self.fill = False
        self.strategy: str | None = None
        self.blend_reason = ""

    @property
    def expected_margin(self) -> float:
        """``probability * margin``."""
        return self.probability * self.margin

    @property
    def expected_revenue(self) -> float:
        """``probability * revenue``."""
        return self.probability * self.revenue

    def __repr__(self) -> str:
        return f"PoolItem({self.item!r}, {self.kind}, score={self.score:.4f})"


class OfferPool:
    """The candidates of one request while rules run; rules change it only through its methods.

    Parameters
    ----------
    items : list of PoolItem
    catalog : Catalog
        The recommender's catalog (attributes by ``PoolItem.index``).
    k : int
        Requested list length.
    offer_log : OfferLog or None
        The recommender's offer log (frequency caps read it).

    Examples
    --------
    >>> from upsell import Catalog
    >>> cat = Catalog.from_records([{"item": "a"}, {"item": "b"}])
    >>> pool = OfferPool([PoolItem(0, "a", "cross_sell", 1.0), PoolItem(1, "b", "cross_sell", 0.5)],
    ...                  catalog=cat, k=2)
    >>> pool.drop(pool.get("b"), "demo"); len(pool), pool.removed
    (1, {'demo': 1})
    """

    def __init__(self, items: list[PoolItem], *, catalog: Catalog, k: int,
                 offer_log: Any = None) -> None:
        self._items: dict[int, PoolItem] = {c.index: c for c in items}
        self.catalog = catalog
        self.k = k
        self.offer_log = offer_log
        self.removed: dict[str, int] = {}
        self.limits: list[tuple[str, Callable[[PoolItem], Hashable | None], int]] = []
        self.quotas: list[tuple[str, Callable[[PoolItem], bool], int]] = []

    def __iter__(self) -> Iterator[PoolItem]:
        return iter(list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, index: object) -> bool:
        return index in self._items

    def get(self, item: Any) -> PoolItem:
        """The pool item of an external item id (KeyError when absent)."""
        for c in self._items.values():
            if c.item == item:
                return c
        raise KeyError(item)

    @property
    def indices(self) -> np.ndarray:
        """Catalog positions of the current candidates (int64 array)."""
        return np.fromiter(self._items.keys(), dtype=np.int64, count=len(self._items))

    def add(self, item: PoolItem) -> None:
        """Add a candidate (e.g. a promoted item); an item already present is left as it is."""
        self._items.setdefault(item.index, item)

    def drop(self, item: PoolItem, rule: str) -> None:
        """Remove a candidate, counting it under ``rule``."""
        if self._items.pop(item.index, None) is not None:
            self.removed[rule] = self.removed.get(rule, 0) + 1

    def adjust(self, item: PoolItem, delta: float, rule: str) -> None:
        """Add ``delta`` to a candidate's score, recorded as component ``rule:<rule>``."""
        if delta == 0.0:
            return
        item.score += delta
        key = f"rule:{rule}"
        item.components[key] = item.components.get(key, 0.0) + delta
        item.effects.append((rule, f"{delta:+.3f}"))

    def note(self, item: PoolItem, rule: str, effect: str = "passed") -> None:
        """Record a rule's effect on a candidate without changing it."""
        item.effects.append((rule, effect))

    def limit(self, rule: str, key: Callable[[PoolItem], Hashable | None], max_per: int) -> None:
        """At most ``max_per`` offers per ``key(item)`` in the final list (None keys are free)."""
        if max_per < 1:
            raise UpsellDataError(f"`max_per` of rule {rule!r} must be >= 1; got {max_per}")
        self.limits.append((rule, key, max_per))

    def quota(self, rule: str, member: Callable[[PoolItem], bool], slots: int) -> None:
        """At most ``slots`` offers for which ``member(item)`` is true in the final list."""
        self.quotas.append((rule, member, slots))
