"""Exploration: show an untried offer in a bounded share of slots, with exact propensities.

:class:`Explore` is a rule the pipeline runs *after* the greedy list is chosen
(``Pipeline.serve`` calls :meth:`Explore.explore` on it): with a small
probability one slot of the list is given to a candidate that passed every
rule but did not make the list, drawn from the exploration set. Each offer
then carries ``propensity`` (the exact probability that this recommender
shows that item at that position for this request) and ``explored``, which
the offer log records for off-policy evaluation
(``upsell.evaluate.off_policy_value``) and for the learner
(:class:`~upsell.recommend.LearnFromOutcomes`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float, check_int
from upsell.exceptions import UpsellDataError
from upsell.recommend._core import OfferPool, PoolItem, Request
from upsell.recommend.filters import register_rule

__all__ = ["EXPLORE_METHODS", "Explore", "ExplorePlan"]

#: How the exploratory item of a slot is drawn.
EXPLORE_METHODS = ("epsilon", "thompson")
#: Share of a thompson slot's probability spread evenly, so every admissible item keeps
#: a positive propensity (off-policy estimates need support).
_FLOOR = 0.1

_LOCAL = threading.local()  # per-thread generators (request_rng)

Limit = tuple[str, Callable[[PoolItem], Hashable | None], int]
Quota = tuple[str, Callable[[PoolItem], bool], int]


def _random_state(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 0:
        raise UpsellDataError(f"`random_state` must be None or a non-negative int; got "
                              f"{value!r}")
    return int(value)


def request_rng(random_state: int | None, request: Request, k: int, salt: str,
                candidates: Sequence[int] = ()) -> np.random.Generator:
    """The random stream of one request (use it before the thread asks for another).

    ``random_state=None``: a generator seeded from the OS's entropy once per
    thread and process (a forked worker reseeds), so requests draw
    independently without paying ~40 us for fresh entropy each. An int: a
    stream whose PCG64 state is a 256-bit hash of ``(random_state, salt, the
    request)`` (customer, time, channel, moment, k, segment and the catalog
    positions of ``candidates``), so the same request draws the same way in
    any thread, process and order (tests, replays), and different requests
    differ. The basket enters through the candidates it leads to (an unknown
    id in it changes nothing).
    """
    pid = os.getpid()
    if random_state is None:
        got = getattr(_LOCAL, "free", None)
        if got is None or got[0] != pid:
            got = (pid, np.random.default_rng())
            _LOCAL.free = got
        return got[1]
    key = repr((random_state, salt, request.customer, str(request.at), request.channel,
                request.moment, k, request.segment, tuple(candidates))).encode()
    d = hashlib.blake2b(key, digest_size=32).digest()
    seeded = getattr(_LOCAL, "seeded", None)
    if seeded is None:
        bg = np.random.PCG64(0)
        seeded = (bg, np.random.Generator(bg))
        _LOCAL.seeded = seeded
    seeded[0].state = {"bit_generator": "PCG64",
                       "state": {"state": int.from_bytes(d[:16], "little"),
                                 "inc": int.from_bytes(d[16:], "little") | 1},
                       "has_uint32": 0, "uinteger": 0}
    return seeded[1]


class ExplorePlan:
    """The exploration of one request, before the draw: what may happen and how likely.

    Attributes
    ----------
    greedy : list
        The greedy list (position = index).
    slots : list of int
        Positions that may be explored (their admissible set is not empty).
    choices : dict of int to (list, numpy.ndarray)
        Per explorable position: the admissible items and the probability of
        each given that the position is explored (sums to 1).
    slot_probability : float
        Probability that a given explorable position is explored; at most one
        position is explored per request.

    Examples
    --------
    >>> plan = ExplorePlan(["a", "b"], [0, 1], {0: (["x", "y"], np.array([0.5, 0.5])),
    ...                                           1: (["x"], np.array([1.0]))}, 0.1)
    >>> plan.propensity("a", 0), plan.propensity("y", 0), plan.propensity("x", 1)
    (0.9, 0.05, 0.1)
    >>> round(sum(plan.distribution().values()), 12)
    2.0
    """

    __slots__ = ("choices", "greedy", "slot_probability", "slots")

    def __init__(self, greedy: Sequence[Any], slots: Sequence[int],
                 choices: Mapping[int, tuple[list[Any], np.ndarray]],
                 slot_probability: float) -> None:
        self.greedy = list(greedy)
        self.slots = list(slots)
        self.choices = dict(choices)
        self.slot_probability = float(slot_probability)

    def propensity(self, item: Any, position: int) -> float:
        """Exact probability that ``item`` is shown at ``position`` (0-based)."""
        if not 0 <= position < len(self.greedy):
            return 0.0
        r = self.slot_probability if position in self.choices else 0.0
        if self.greedy[position] == item:
            return 1.0 - r
        got = self.choices.get(position)
        if got is None:
            return 0.0
        for x, w in zip(got[0], got[1].tolist(), strict=True):
            if x == item:
                return r * w
        return 0.0

    def distribution(self) -> dict[tuple[Any, int], float]:
        """Every (item, position) with a positive probability, and that probability."""
        out: dict[tuple[Any, int], float] = {}
        for j, g in enumerate(self.greedy):
            r = self.slot_probability if j in self.choices else 0.0
            if r < 1.0:
                out[(g, j)] = 1.0 - r
            got = self.choices.get(j)
            if got is not None and r > 0:
                for x, w in zip(got[0], got[1].tolist(), strict=True):
                    if w > 0:
                        out[(x, j)] = out.get((x, j), 0.0) + r * w
        return out

    def draw(self, rng: np.random.Generator) -> tuple[int, int] | None:
        """(position, index into its admissible items) of this request's exploration, or None.

        One uniform number decides whether a slot is explored (probability
        ``slot_probability * len(slots)``), which one (uniform) and, for the
        item, one more draw from the slot's probabilities.
        """
        j = _draw_slot(rng, self.slots, self.slot_probability)
        return None if j is None else (j, _draw_item(rng, self.choices[j][1]))


def _draw_slot(rng: np.random.Generator, slots: Sequence[int], r: float) -> int | None:
    """The explored position (each of ``slots`` with probability ``r``), or None."""
    n = len(slots)
    if n == 0 or r <= 0:
        return None
    u = float(rng.random())
    if u >= r * n:
        return None
    return slots[min(int(u / r), n - 1)]


def _draw_item(rng: np.random.Generator, w: np.ndarray) -> int:
    """An index drawn with probabilities ``w``."""
    pick = int(np.searchsorted(np.cumsum(w), float(rng.random()) * float(w.sum()),
                               side="right"))
    return min(pick, w.size - 1)


@register_rule
class Explore:
    """Show an untried offer in a bounded share of slots, never breaking a business rule.

    The greedy list is chosen as usual (every rule, limit and quota). Then, per
    request, each *explorable* slot is explored with probability ``rate`` (at
    most one slot per request, so a list never holds more than one unproven
    offer): its item is swapped for one drawn from the exploration set, the
    ``pool`` best candidates that passed every rule and are not in the list,
    keeping only those whose swap breaks no limit (diversity) or quota
    (promotion slots) of the list. A slot is explorable when at least one
    candidate fits it. Every offer gets ``propensity``, the exact probability
    of that item at that position under this procedure, and ``explored``.

    Parameters
    ----------
    rate : float, default 0.05
        Probability that a given slot is explored, in [0, 1]. With ``s``
        explorable slots a request explores one slot with probability
        ``min(1, rate * s)`` (``rate`` above ``1 / s`` is capped at ``1 / s``
        per slot).
    method : {"epsilon", "thompson"}, default "epsilon"
        How the item of an explored slot is drawn: uniformly from the slot's
        admissible set ("epsilon"), or with probability proportional to the
        posterior probability that it beats the greedy item's expected value
        (per :class:`~upsell.recommend.LearnFromOutcomes` in the same
        recommender; uniform without one), ``10%`` of it spread evenly so
        every admissible item keeps a positive propensity ("thompson").
    pool : int, optional
        Size of the exploration set; default ``3 * k``.
    random_state : int, optional
        None: a generator seeded from the OS's entropy once per thread and
        process. An int: each request's draws are seeded by it and the request
        (customer, time, channel, moment, k, segment, the greedy list), so the
        same request explores the same way in any thread.

    Notes
    -----
    With ``G = (g_0 .. g_{n-1})`` the greedy list, ``A_j`` the admissible
    items of slot ``j``, ``S`` the explorable slots and
    ``r = min(rate, 1 / |S|)``: ``P(g_j at j) = 1 - r`` and
    ``P(x at j) = r * w_j(x)`` for ``x`` in ``A_j`` (``w_j(x) = 1 / |A_j|``
    for "epsilon"), 1 and 0 for a slot outside ``S``. An explored offer is
    shown with the score of the slot it took (component ``rule:explore``), so
    scores stay non-increasing.

    Examples
    --------
    >>> ex = Explore(rate=0.1, random_state=0)
    >>> ex.propensity(["a", "b"], ["x", "y"], "a", 0)
    0.9
    >>> ex.propensity(["a", "b"], ["x", "y"], "y", 1)
    0.05
    >>> ex.to_config()
    {'rate': 0.1, 'method': 'epsilon', 'pool': None, 'random_state': 0}
    """

    name = "explore"

    def __init__(self, rate: float = 0.05, method: str = "epsilon", pool: int | None = None,
                 random_state: int | None = None) -> None:
        self.rate = check_float(rate, "rate", low=0, high=1)
        self.method = check_choice(method, "method", EXPLORE_METHODS)
        self.pool = None if pool is None else check_int(pool, "pool", minimum=1)
        self.random_state = _random_state(random_state)

    def __repr__(self) -> str:
        return (f"Explore(rate={self.rate:g}, method={self.method!r}, pool={self.pool}, "
                f"random_state={self.random_state})")

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Nothing before selection: exploration runs on the chosen list (:meth:`explore`)."""

    # ------------------------------------------------------------------ the plan
    def propensity(self, greedy: Sequence[Any], explore_set: Sequence[Any], item: Any,
                   position: int, *, k: int | None = None) -> float:
        """Probability that this rule shows ``item`` at ``position`` ("epsilon" draws).

        For off-policy evaluation: the target propensity of a logged
        (item, position) when the greedy list and the exploration set of the
        request are known and no limit restricts the swaps (every item of
        ``explore_set`` fits every slot).

        Parameters
        ----------
        greedy : sequence of item ids
            The greedy list, best first.
        explore_set : sequence of item ids
            The exploration set (candidates not in ``greedy``), best first; cut
            to ``pool`` (default ``3 * k``, as when serving).
        item : item id
        position : int
            0-based slot.
        k : int, optional
            The list length the request asked for (default ``len(greedy)``; a
            list shorter than ``k`` still explores ``3 * k`` candidates when serving).

        Returns
        -------
        float

        Examples
        --------
        >>> Explore(rate=0.2).propensity(["a"], ["x", "y"], "x", 0)
        0.1
        """
        m = self.pool if self.pool is not None else 3 * max(k or len(greedy), 1)
        shown = set(greedy)
        E = [x for x in explore_set if x not in shown][:m]
        plan = self._plan_ids(list(greedy), E)
        return plan.propensity(item, int(position))

    def _plan_ids(self, greedy: list[Any], E: list[Any]) -> ExplorePlan:
        slots = list(range(len(greedy))) if E else []
        r = min(self.rate, 1.0 / len(slots)) if slots else 0.0
        w = np.full(len(E), 1.0 / len(E)) if E else np.zeros(0)
        return ExplorePlan(greedy, slots, {j: (E, w) for j in slots}, r)

    def plan(self, chosen: Sequence[PoolItem], eligible: Sequence[PoolItem], k: int, *,
             limits: Sequence[Limit] = (), quotas: Sequence[Quota] = (),
             weigh: Callable[[PoolItem, list[PoolItem]], np.ndarray] | None = None
             ) -> tuple[ExplorePlan, dict[int, list[PoolItem]]]:
        """The exploration plan of a chosen list (ids in the plan, pool items per slot).

        ``eligible`` are the candidates that passed every rule, best first;
        those in ``chosen`` are skipped and the rest cut to ``pool``. ``limits``
        and ``quotas`` are the pool's (``OfferPool.limits`` / ``quotas``); an
        item is admissible for a slot when the list with that slot swapped
        still meets all of them. ``weigh(greedy_item, admissible)`` gives
        "thompson" weights (None: uniform).
        """
        sw = self._swaps(chosen, eligible, k, limits, quotas)
        slots = sw.explorable()
        r = min(self.rate, 1.0 / len(slots)) if slots else 0.0
        admissible = {j: sw.admissible(j) for j in slots}
        choices = {j: ([c.item for c in admissible[j]],
                       self._weights(chosen[j], admissible[j], weigh)) for j in slots}
        return ExplorePlan([c.item for c in chosen], slots, choices, r), admissible

    def _swaps(self, chosen: Sequence[PoolItem], eligible: Sequence[PoolItem], k: int,
               limits: Sequence[Limit], quotas: Sequence[Quota]) -> _Swaps:
        in_list = {c.index for c in chosen}
        m = self.pool if self.pool is not None else 3 * k
        E = [c for c in eligible if c.index not in in_list][:m]
        return _Swaps(list(chosen), E, limits, quotas)

    def _weights(self, g: PoolItem, A: list[PoolItem],
                 weigh: Callable[[PoolItem, list[PoolItem]], np.ndarray] | None) -> np.ndarray:
        """Probabilities of the admissible items of an explored slot."""
        w = np.full(len(A), 1.0 / len(A))
        if self.method == "thompson" and weigh is not None and len(A) > 1:
            got = np.asarray(weigh(g, A), dtype=np.float64)
            got = np.where(np.isfinite(got) & (got > 0), got, 0.0)
            if got.sum() > 0:
                w = _FLOOR / len(A) + (1.0 - _FLOOR) * got / got.sum()
        return w

    # ------------------------------------------------------------------ the pipeline hook
    def explore(self, chosen: list[PoolItem], eligible: Sequence[PoolItem], request: Request,
                k: int, *, limits: Sequence[Limit] = (), quotas: Sequence[Quota] = (),
                rules: Sequence[Any] = (), want_plan: bool = False
                ) -> tuple[list[float], list[bool], ExplorePlan | None]:
        """Swap at most one slot of ``chosen`` (in place); the propensities and flags per slot.

        Called by the pipeline after selection and fill. Returns, per position
        of the final list, the propensity and whether it was explored, and
        with ``want_plan`` the whole plan (for
        :meth:`Recommender.policy_distribution`). Without it only what the
        draw needs is computed: which slots can be explored (one fitting
        candidate each) and, when a slot is explored, its admissible set.
        """
        weigh = None
        if self.method == "thompson":
            for r in rules:
                f = getattr(r, "beat_probability", None)
                if callable(f):
                    def weigh(g: PoolItem, A: list[PoolItem], _f: Any = f) -> np.ndarray:
                        return np.asarray(_f(request, g, A))
                    break
        plan = None
        if want_plan:
            plan, _ = self.plan(chosen, eligible, k, limits=limits, quotas=quotas, weigh=weigh)
        sw = self._swaps(chosen, eligible, k, limits, quotas)
        slots = sw.explorable()
        r = min(self.rate, 1.0 / len(slots)) if slots else 0.0
        props = [1.0] * len(chosen)
        flags = [False] * len(chosen)
        for pos in slots:
            props[pos] = 1.0 - r
        if not slots or r <= 0:
            return props, flags, plan
        rng = request_rng(self.random_state, request, k, "explore", [c.index for c in chosen])
        j = _draw_slot(rng, slots, r)  # the same draws as ExplorePlan.draw
        if j is None:
            return props, flags, plan
        A = sw.admissible(j)
        w = self._weights(chosen[j], A, weigh)
        a = _draw_item(rng, w)
        g, x = chosen[j], A[a]
        delta = g.score - x.score
        x.score = g.score
        x.components["rule:explore"] = x.components.get("rule:explore", 0.0) + delta
        p = r * float(w[a])
        x.effects.append((self.name, f"explored: slot {j + 1} in place of {g.item} "
                                     f"(probability {p:.4g})"))
        chosen[j] = x
        props[j] = p
        flags[j] = True
        return props, flags, plan

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"rate": self.rate, "method": self.method, "pool": self.pool,
                "random_state": self.random_state}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Explore:
        """Inverse of :meth:`to_config`."""
        return cls(**config)


class _Swaps:
    """Which candidates may take which slot of a chosen list without breaking a limit or quota.

    The keys of the list are computed once; a candidate's keys on first use.
    """

    __slots__ = ("E", "chosen", "counts", "lim_keys", "limits", "members", "q_counts",
                 "quotas", "x_cache")

    def __init__(self, chosen: list[PoolItem], E: list[PoolItem], limits: Sequence[Limit],
                 quotas: Sequence[Quota]) -> None:
        self.chosen, self.E, self.limits, self.quotas = chosen, E, limits, quotas
        self.lim_keys = [[key(c) for c in chosen] for _n, key, _m in limits]
        self.counts: list[dict[Any, int]] = []
        for keys in self.lim_keys:
            d: dict[Any, int] = {}
            for kv in keys:
                if kv is not None:
                    d[kv] = d.get(kv, 0) + 1
            self.counts.append(d)
        self.members = [[bool(member(c)) for c in chosen] for _n, member, _s in quotas]
        self.q_counts = [sum(m) for m in self.members]
        self.x_cache: dict[int, tuple[list[Any], list[bool]]] = {}

    def fits(self, j: int, e: int) -> bool:
        if not self.limits and not self.quotas:
            return True
        got = self.x_cache.get(e)
        if got is None:
            x = self.E[e]
            got = ([key(x) for _n, key, _m in self.limits],
                   [bool(member(x)) for _n, member, _s in self.quotas])
            self.x_cache[e] = got
        keys, mem = got
        for li, (_n, _key, max_per) in enumerate(self.limits):
            kx = keys[li]
            if kx is not None and self.counts[li].get(kx, 0) - (
                    1 if self.lim_keys[li][j] == kx else 0) + 1 > max_per:
                return False
        for qi, (_n, _member, slots) in enumerate(self.quotas):
            if mem[qi] and self.q_counts[qi] - self.members[qi][j] + 1 > slots:
                return False
        return True

    def explorable(self) -> list[int]:
        """Positions with at least one fitting candidate (stops at the first)."""
        if not self.E:
            return []
        return [j for j in range(len(self.chosen))
                if any(self.fits(j, e) for e in range(len(self.E)))]

    def admissible(self, j: int) -> list[PoolItem]:
        """The candidates that fit position ``j``, best first."""
        return [x for e, x in enumerate(self.E) if self.fits(j, e)]
