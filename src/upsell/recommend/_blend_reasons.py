"""Offer reasons of the learned blend: the strongest feature contributions, in words."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

import numpy as np

from upsell.recommend._blend_features import FEATURE_GROUPS, feature_names

__all__ = [
    "Clock",
    "DeferredReasons",
    "Later",
    "cold_reasons",
    "priority_contrib",
    "reason_texts",
    "resolve_later",
]

_NAMES = feature_names()
_COL = {n: j for j, n in enumerate(_NAMES)}
# the groups that say something about the item for this customer (customer-only
# features shift every candidate alike and explain nothing about one offer)
_GENERIC = "customers who bought what you bought buy it"
_SPOKEN = ("repeat", "copurchase", "sources", "popularity", "price", "segment", "catalog")
_GROUP_COLS = [np.array([j for j, n in enumerate(_NAMES) if FEATURE_GROUPS[n] == g],
                        dtype=np.int64) for g in _SPOKEN]
_SPOKEN_COLS = np.concatenate(_GROUP_COLS)  # the groups' columns, group after group
_SPOKEN_SPANS = [(int(a), int(b)) for a, b in zip(
    np.cumsum([0] + [c.size for c in _GROUP_COLS[:-1]]),
    np.cumsum([c.size for c in _GROUP_COLS]), strict=True)]


class _Row:
    """Feature values of one row by name, read on demand."""

    __slots__ = ("row",)

    def __init__(self, row: np.ndarray | list[float]) -> None:
        self.row = row

    def __getitem__(self, name: str) -> float:
        return float(self.row[_COL[name]])


def _span(days: float) -> str:
    """A number of days as people say it: "33 days", "5 months", "16 years"."""
    if days < 60:
        n, unit = round(days), "day"
    elif days < 730:
        n, unit = round(days / 30.44), "month"
    else:
        n, unit = round(days / 365.25), "year"
    return f"{n:,} {unit}{'' if n == 1 else 's'}"


def _ago(days: float) -> str:
    if days < 1:
        return "today"
    if days < 2:
        return "yesterday"
    return _span(days) + " ago"


class Clock:
    """How a reason says when: "34 days ago", or a date when the request is far past the history.

    ``now`` is the request time and ``end`` the history's end (seconds). While the
    request is within ``2 * window`` seconds of the end (``window``: the blend's
    window, the median gap between a customer's consecutive orders), spans are
    relative to the request ("last 34 days ago"). A later request (typically an old
    history replayed without ``at=``, which defaults to the wall clock) would read
    "last 16 years ago": its reasons give the date instead ("last on 2011-09-12").

    Examples
    --------
    >>> day = 86_400
    >>> Clock(now=100 * day, end=95 * day, window=30 * day).ago(12.0)
    '12 days ago'
    >>> Clock(now=10_000 * day, end=95 * day, window=30 * day).ago(9_950.0)
    'on 1970-02-20'
    """

    __slots__ = ("absolute", "now")

    def __init__(self, now: float, end: float, window: float) -> None:
        self.now = float(now)
        self.absolute = self.now - float(end) > 2.0 * float(window)

    def ago(self, days: float) -> str:
        """``days`` before the request, in words (relative) or as a date (absolute)."""
        if not self.absolute:
            return _ago(days)
        when = np.datetime64(round(self.now - days * 86_400.0), "s")
        return f"on {when.astype('datetime64[D]')}"


_RELATIVE = Clock(0.0, 0.0, 1.0)


def _phrase(group: str, feat: str, row: np.ndarray | list[float], best_last: int,
            names: np.ndarray, clock: Clock = _RELATIVE) -> str:
    v = _Row(row)
    times = v["times_bought"]
    if group == "repeat" or feat == "repeat_rank":
        if times <= 0:
            return ""
        since = v["days_since_bought"]
        every = v["repurchase_interval"]
        # an interval under a day is several lines of one visit, not a rhythm to cite
        if math.isfinite(every) and every >= 1:
            return f"bought every ~{_span(every)}, last {clock.ago(since)}"
        return f"bought {times:,.0f} time{'s' if times != 1 else ''}, last {clock.ago(since)}"
    if group == "copurchase" or feat in ("cooc_score", "cooc_rank"):
        if best_last >= 0 and v["cooc_score"] > 0:
            return f"bought with {names[best_last]} in {v['cooc_score']:.0%} of orders"
        if v["conf_history_max"] > 0:
            return (f"bought with an item you bought in {v['conf_history_max']:.0%} of its "
                    "orders")
        return ""
    if feat in ("ease_score", "ease_rank", "knn_score", "knn_rank"):
        return _GENERIC
    if group == "popularity" or feat == "pop_rank":
        rising = v["popularity_trend"] > 0.1
        buyers = math.expm1(v["buyers_log"])
        return f"popular: {buyers:,.0f} buyers" + (", rising" if rising else "")
    if group == "price":
        if math.isfinite(v["discount"]) and v["discount"] >= 0.05:
            return f"{v['discount']:.0%} below its usual price"
        if math.isfinite(v["price_vs_usual"]):
            return f"priced {v['price_vs_usual']:.1f}x your usual item"
        return ""
    if group == "segment":
        return "popular with customers like you"
    if group == "catalog":
        return "fits what you buy"
    return ""


def reason_texts(X: np.ndarray, contrib: np.ndarray, best_last: np.ndarray,
                 names: np.ndarray, max_parts: int = 2, clock: Clock | None = None
                 ) -> list[str]:
    """One reason per row: the phrases of its strongest positive feature contributions.

    Contributions of one group are summed; groups are taken by decreasing sum,
    and at most ``max_parts`` phrases are joined with "; ". Rows with no positive
    contribution that can be put in words get "ranked by the learned blend".
    ``clock`` says when things happened (:class:`Clock`; default: relative spans).
    """
    clock = _RELATIVE if clock is None else clock
    groups = _SPOKEN
    # one gather of the spoken columns, grouped; each group's sum as ``sum(axis=1)`` of
    # its columns gives it (the same additions in the same order)
    sub = contrib[:, _SPOKEN_COLS]
    G = np.column_stack([sub[:, a:b].sum(axis=1) for a, b in _SPOKEN_SPANS])
    out = []
    order = np.argsort(-G, axis=1, kind="stable").tolist()
    Gl = G.tolist()
    best = np.asarray(best_last).tolist()
    rows = np.asarray(X).tolist()  # Python floats: read by name per phrase (_Row)
    subl = sub.tolist()
    for r in range(X.shape[0]):
        parts: list[str] = []
        concrete = 0
        for gi in order[r]:
            if Gl[r][gi] <= 0 or concrete >= max_parts:
                break  # later phrases could only follow these
            a, b = _SPOKEN_SPANS[gi]
            seg = subl[r][a:b]
            feat = _NAMES[int(_SPOKEN_COLS[a + seg.index(max(seg))])]  # np.argmax: the first
            text = _phrase(groups[gi], feat, rows[r], int(best[r]), names, clock)
            if text and text not in parts:
                parts.append(text)
                concrete += text != _GENERIC
        # concrete evidence (timing, co-purchase, price) before the generic neighbour phrase
        parts.sort(key=lambda t: t == _GENERIC)
        out.append("; ".join(parts[:max_parts]) if parts else "ranked by the learned blend")
    return out


# explain="features": the phrases by a fixed order of groups instead of the ranker's
# contributions (timing first: the most concrete evidence a shop has)
_PRIORITY = ("repeat", "copurchase", "sources", "popularity", "price", "segment", "catalog")


def priority_contrib(n_rows: int) -> np.ndarray:
    """Stand-in contributions that make :func:`reason_texts` speak by a fixed group order.

    Each group's first feature gets a weight decreasing along ``_PRIORITY`` (the
    ``sources`` group's first feature is ``ease_score``: the neighbour phrase), so a
    row's reason is the first applicable phrases of that order, from its values alone.
    """
    return np.tile(_PRIORITY_W, (n_rows, 1))


def _priority_weights() -> np.ndarray:
    w = np.zeros(len(_NAMES))
    for rank, g in enumerate(_PRIORITY):
        first = next(j for j, n in enumerate(_NAMES) if FEATURE_GROUPS[n] == g)
        w[first] = float(len(_PRIORITY) - rank)
    return w


_PRIORITY_W = _priority_weights()


class DeferredReasons(Sequence[str]):
    """One request's blend reasons, put in words only for the candidates that are shown.

    A request ranks ~50 candidates and shows ``k``; the reasons (exact contributions
    or feature phrases) cost per row, so :meth:`LearnedBlend.blend` returns this
    instead of a tuple of texts. It is a sequence of ``str`` like any blend's reasons
    (indexing puts one row in words); the recommender's pipeline instead keeps
    :meth:`later` placeholders on its candidates and, once the business rules have
    chosen the offers, asks :meth:`resolve` for those rows in one batch.

    Parameters
    ----------
    explain : callable
        ``explain(X_rows, best_last_rows) -> list of str`` (the blend's reasons).
    X : numpy.ndarray
        Feature rows of the candidates the ranker scored.
    best_last : numpy.ndarray
        Per row, the last-basket item of the best co-purchase (-1: none).
    row_of : numpy.ndarray of int
        Per candidate of the request, its row in ``X`` (-1: no reason, "").

    Examples
    --------
    >>> r = DeferredReasons(lambda X, b: [f"row {x[0]:.0f}" for x in X],
    ...                     np.array([[7.0], [8.0]]), np.array([-1, -1]), np.array([1, -1, 0]))
    >>> len(r), r.resolve([0, 2]), r[1]
    (3, ['row 8', 'row 7'], '')
    """

    __slots__ = ("_X", "_best", "_done", "_explain", "row_of")

    def __init__(self, explain: Callable[[np.ndarray, np.ndarray], list[str]], X: np.ndarray,
                 best_last: np.ndarray, row_of: np.ndarray) -> None:
        self._explain = explain
        self._X = X
        self._best = best_last
        self.row_of = row_of
        self._done: dict[int, str] = {}

    def __len__(self) -> int:
        return int(self.row_of.size)

    @overload
    def __getitem__(self, j: int) -> str: ...

    @overload
    def __getitem__(self, j: slice) -> list[str]: ...

    def __getitem__(self, j: int | slice) -> str | list[str]:
        if isinstance(j, slice):
            return self.resolve(range(len(self))[j])
        n = len(self)
        if not -n <= j < n:
            raise IndexError(j)
        return self.resolve([j % n])[0]

    def later(self, j: int) -> Later:
        """A placeholder for candidate ``j``'s reason (see :meth:`resolve`)."""
        return Later(self, j)

    def resolve(self, js: Iterable[int]) -> list[str]:
        """The reasons of candidates ``js``, the rows not yet put in words in one batch."""
        js = [int(j) for j in js]
        todo = sorted({j for j in js if j not in self._done})
        rows = [int(self.row_of[j]) for j in todo]
        for j, r in zip(todo, rows, strict=True):
            if r < 0:
                self._done[j] = ""
        want = [(j, r) for j, r in zip(todo, rows, strict=True) if r >= 0]
        if want:
            at = np.asarray([r for _, r in want], dtype=np.int64)
            texts = self._explain(self._X[at], self._best[at])
            for (j, _), t in zip(want, texts, strict=True):
                self._done[j] = t
        return [self._done[j] for j in js]


class Later:
    """A candidate's reason not yet put in words: ``str()`` resolves it alone."""

    __slots__ = ("j", "owner")

    def __init__(self, owner: DeferredReasons, j: int) -> None:
        self.owner = owner
        self.j = j

    def __str__(self) -> str:
        return self.owner.resolve([self.j])[0]


def resolve_later(items: Sequence[Any]) -> None:
    """Replace the :class:`Later` reasons of ``items`` (pool items) by their text, per request
    in one batch."""
    groups: dict[int, tuple[DeferredReasons, list[Any]]] = {}
    for c in items:
        r = c.blend_reason
        if isinstance(r, Later):
            groups.setdefault(id(r.owner), (r.owner, []))[1].append(c)
    for owner, cs in groups.values():
        texts = owner.resolve([c.blend_reason.j for c in cs])
        for c, t in zip(cs, texts, strict=True):
            c.blend_reason = t


def cold_reasons(st: Any, ci: np.ndarray, conf: np.ndarray) -> list[str]:
    """The reason of each item ``ci`` offered to a customer without history: co-purchase
    with the basket (``conf``, its best confidence) when there is one, else popularity."""
    it = st.item
    buyers = np.asarray(it["buyers"], dtype=np.float64)[ci]
    rising = np.log((np.asarray(it["recent"])[ci] + 1.0)
                    / (np.asarray(it["prev"])[ci] + 1.0)) > 0.1
    out = []
    for b, r, c in zip(buyers.tolist(), rising.tolist(), np.asarray(conf).tolist(),
                            strict=True):
        if c > 0:
            out.append(f"bought with an item in your basket in {c:.0%} of orders")
        else:
            out.append(f"popular: {b:,.0f} buyers" + (", rising" if r else ""))
    return out
