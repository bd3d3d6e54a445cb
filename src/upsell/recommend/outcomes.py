"""Learning from outcomes: acceptance posteriors per (segment, item) and (segment, kind).

:class:`LearnFromOutcomes` is a re-ranking rule. :meth:`Recommender.update`
reads the offer log (``OfferLog.outcomes()``: one row per presented offer with
whether it was accepted) and hands the arrays to the rule, which rebuilds its
Beta-Binomial posteriors in one vectorised pass and swaps them in atomically;
every request then ranks its candidates by the learned expected value
``P(accept) x value``. No candidate source is refitted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from upsell._validation import check_choice, check_float
from upsell.data.catalog import Catalog
from upsell.exceptions import UpsellDataError
from upsell.recommend._core import OfferPool, PoolItem, Request
from upsell.recommend._outcome_arrays import outcome_column, outcome_items
from upsell.recommend.explore import _random_state, request_rng
from upsell.recommend.filters import register_rule

__all__ = ["OUTCOME_VALUES", "LearnFromOutcomes", "policy_name"]

#: What an accepted offer is worth to the ranking.
OUTCOME_VALUES = ("revenue", "margin", "probability")
_ALL = "\x00all"  # the row pooling every segment (no segment label can be this)
_EPS = 1e-6


class _State:
    """One immutable snapshot of the posteriors (swapped whole by ``update``)."""

    __slots__ = ("acc", "all_row", "catalog_items", "items", "kacc", "kind_col", "kinds",
                 "kshown", "n_rows", "pos2code", "seg_row", "segments", "shown", "version")

    def __init__(self, items: np.ndarray, segments: np.ndarray, kinds: np.ndarray,
                 acc: np.ndarray, shown: np.ndarray, kacc: np.ndarray, kshown: np.ndarray
                 ) -> None:
        self.items = items  # sorted text ids
        self.segments = segments  # row labels; the last row pools every segment
        self.kinds = kinds
        self.acc, self.shown, self.kacc, self.kshown = acc, shown, kacc, kshown
        self.seg_row = {str(s): r for r, s in enumerate(segments.tolist())}
        self.all_row = len(segments) - 1
        self.kind_col = {str(s): c for c, s in enumerate(kinds.tolist())}
        self.n_rows = round(float(shown[-1].sum())) if shown.size else 0
        h = hashlib.blake2b(digest_size=8)
        for a in (items, segments, kinds, acc, shown, kacc, kshown):
            h.update(np.ascontiguousarray(a).tobytes())
        self.version = h.hexdigest()[:8]
        self.catalog_items: Any = None
        self.pos2code: np.ndarray | None = None

    def bound(self, index: Any) -> _State:
        """This snapshot with the catalog position -> item row map (a new object).

        ``index`` is the catalog's item :class:`~upsell.data.IdIndex`.
        """
        new = object.__new__(_State)
        for f in _State.__slots__:
            setattr(new, f, getattr(self, f))
        text = np.asarray(index.ids).astype(str)
        if self.items.size:
            code = np.searchsorted(self.items, text)
            code = np.minimum(code, self.items.size - 1)
            code = np.where(self.items[code] == text, code, -1)
        else:
            code = np.full(text.size, -1)
        new.pos2code = code.astype(np.int64)
        new.pos2code.flags.writeable = False
        new.catalog_items = index
        return new


def _empty_state() -> _State:
    z = np.zeros((1, 0))
    return _State(np.zeros(0, dtype="U1"), np.array([_ALL]), np.zeros(0, dtype="U1"), z, z,
                  z, z)


def _column(outcomes: Mapping[str, Any], key: str, n: int, default: Any) -> np.ndarray:
    a = outcome_column(outcomes, key, n)
    return np.full(n, default) if a is None else a


def _factorize(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values as text, code of each row): ``np.unique(..., return_inverse)``
    by hashing (pyarrow's dictionary encoding) instead of sorting a million strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if a.dtype.kind in "OU":
        vals = a.tolist()  # a list converts ~5x faster than the numpy array itself
        try:
            arr = pa.array(vals, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids that are not text: as text
            arr = pa.array([None if v is None else str(v) for v in vals], type=pa.string())
    else:
        arr = pa.array(a.astype(str), type=pa.string())
    enc = pc.dictionary_encode(pc.fill_null(arr, ""))
    if isinstance(enc, pa.ChunkedArray):  # pragma: no cover - one chunk from pa.array
        enc = enc.combine_chunks()
    values = np.asarray(enc.dictionary.to_pylist(), dtype=str)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(values, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return values[order], rank[codes]


def _table(rows: np.ndarray, cols: np.ndarray, nr: int, nc: int, w: np.ndarray | None
           ) -> np.ndarray:
    """Counts (or sums of ``w``) per (row, col), plus a last row over every row."""
    out = np.zeros((nr + 1, nc))
    if nr:
        key = rows.astype(np.int64) * nc + cols
        out[:nr] = np.bincount(key, weights=w, minlength=nr * nc).reshape(nr, nc)
    out[nr] = np.bincount(cols, weights=w, minlength=nc)
    return out


@register_rule
class LearnFromOutcomes:
    """Rank by what customers accepted: Beta-Binomial acceptance posteriors, updated from the log.

    Keeps, per (segment, item) and per (segment, kind), how often an offer
    was presented and accepted (from ``OfferLog.outcomes()``, through
    :meth:`Recommender.update`). For each candidate of a request the posterior
    acceptance probability is ``E[p] = (s * prior + accepted) / (s + shown)``
    with ``s = prior_strength``; the prior mean mixes the offer's own
    ``probability`` (the recommender's estimate) with the acceptance rate of
    its kind in the segment, so an item never shown starts where its kind
    stands. Candidates are ranked by the expected value ``EV = E[p] * value``:
    the score becomes ``EV / max EV`` within the request (or, with ``weight``,
    gains ``weight * EV / max EV``); component ``rule:outcomes``.

    Parameters
    ----------
    value : {"revenue", "margin", "probability"}, default "revenue"
        What an acceptance is worth: the offer's revenue (price, or price
        difference for an upsell), its margin, or 1 (rank by P(accept) alone).
        An unknown amount (no price or cost in the catalog) counts as the
        request's median known amount (1 when none is known).
    prior_strength : float, default 20
        Weight of the prior in pseudo-observations.
    thompson : bool, default False
        Rank by a draw from each posterior instead of its mean (Thompson
        sampling). The greedy list is then random and the propensities an
        :class:`Explore` records are conditional on the draw: use
        ``thompson=False`` (and ``Explore``) for logs meant for off-policy
        evaluation.
    by_segment : bool, default True
        Separate posteriors per segment label (a request whose segment has no
        data uses the posteriors pooled over every segment).
    random_state : int, optional
        Seeds the Thompson draws per request (as :class:`Explore` does).
    weight : float or None, default None
        None ranks by the expected value alone (the score becomes
        ``EV / max EV``). A number adds ``weight * EV / max EV`` to the blended
        relevance instead, so the sources' ranking still counts (gentler at a
        cold start, when the expected value rests on the prior alone).

    Notes
    -----
    Prior mean of an item: ``pi = (s * p0 + w * r_k) / (s + w)`` with ``p0``
    the offer's probability, ``r_k = A_k / N_k`` the acceptance rate of its
    kind (cross-sell, upsell or replenish) in the segment and ``w = s * N_k / (s + N_k)``
    (no kind data: ``pi = p0``). Posterior: ``Beta(s * pi + A, s * (1 - pi) +
    N - A)`` from the item's ``A`` acceptances in ``N`` presentations.
    Positions are not modelled (an offer shown last counts like one shown first).

    Examples
    --------
    >>> import numpy as np
    >>> learn = LearnFromOutcomes(value="probability", prior_strength=10)
    >>> learn.update({"item": np.array(["mug", "mug", "pot"]),
    ...               "accepted": np.array([True, True, False]),
    ...               "segment": np.array(["a", "a", "a"]),
    ...               "kind": np.array(["cross_sell"] * 3)})
    >>> learn.n_outcomes_
    3
    >>> learn.to_config()["value"]
    'probability'
    """

    name = "outcomes"
    #: The columns of ``OfferLog.outcomes()`` that :meth:`update` reads: what
    #: :meth:`Recommender.update` asks the log for (a quarter of its columns, read
    #: several times faster from an SQL log).
    outcome_columns = ("item", "accepted", "segment", "kind")

    def __init__(self, value: str = "revenue", prior_strength: float = 20.0,
                 thompson: bool = False, by_segment: bool = True,
                 random_state: int | None = None, weight: float | None = None) -> None:
        self.value = check_choice(value, "value", OUTCOME_VALUES)
        self.prior_strength = check_float(prior_strength, "prior_strength", low=0)
        if self.prior_strength <= 0:
            raise UpsellDataError(f"`prior_strength` must be > 0; got {prior_strength!r}")
        if not isinstance(thompson, (bool, np.bool_)):
            raise UpsellDataError(f"`thompson` must be True or False; got {thompson!r}")
        if not isinstance(by_segment, (bool, np.bool_)):
            raise UpsellDataError(f"`by_segment` must be True or False; got {by_segment!r}")
        self.thompson = bool(thompson)
        self.by_segment = bool(by_segment)
        self.random_state = _random_state(random_state)
        self.weight = None if weight is None else check_float(weight, "weight", low=0)
        self._state = _empty_state()

    def __repr__(self) -> str:
        return (f"LearnFromOutcomes(value={self.value!r}, prior_strength="
                f"{self.prior_strength:g}, thompson={self.thompson}, by_segment="
                f"{self.by_segment}, outcomes={self.n_outcomes_:,})")

    @property
    def n_outcomes_(self) -> int:
        """Presented offers the current posteriors were built from."""
        return self._state.n_rows

    @property
    def state_version(self) -> str:
        """8 hex characters of a digest of the posteriors (part of ``Recommender.policy_``)."""
        return self._state.version

    def bind(self, catalog: Catalog) -> LearnFromOutcomes:
        """This rule, reading the catalog's items (the same object: updates reach it).

        A rule already bound to another catalog gives a copy with the same posteriors.
        """
        st = self._state
        if st.catalog_items is not None and st.catalog_items is not catalog.items \
                and st.catalog_items != catalog.items:
            other = LearnFromOutcomes(**self.to_config())
            other._state = st.bound(catalog.items)
            return other
        self._state = st.bound(catalog.items)
        return self

    # ------------------------------------------------------------------ learning
    @property
    def learned_state(self) -> Any:
        """The current posteriors (an opaque, immutable snapshot; see :meth:`learn`)."""
        return self._state

    def update(self, outcomes: Mapping[str, Any]) -> None:
        """Rebuild the posteriors from presented offers and swap them in (thread-safe).

        ``update(outcomes)`` is ``publish(learn(outcomes))``. Inside a
        recommender use :meth:`Recommender.update
        <upsell.recommend.Recommender.update>`: it publishes the new posteriors
        and the policy version that names them in one step; requests read the
        recommender's snapshot, so a rule updated directly is served from the
        next ``Recommender.update`` on.

        Parameters
        ----------
        outcomes : mapping of str to array
            One row per presented offer, as ``OfferLog.outcomes()`` returns:
            ``item`` and ``accepted`` (bool) are required; ``segment`` (text,
            "" when unknown) and ``kind`` ("cross_sell" / "upsell" / "replenish") are used
            when present. The posteriors are rebuilt from these rows alone
            (pass the whole log, or the window to learn from), so calling it
            again with the same log does not count rows twice.

        Raises
        ------
        UpsellDataError
            A missing column or columns of different lengths (named).
        """
        self.publish(self.learn(outcomes))

    def learn(self, outcomes: Mapping[str, Any]) -> Any:
        """The posteriors rebuilt from presented offers, not yet published.

        Same input and checks as :meth:`update`. :meth:`Recommender.update
        <upsell.recommend.Recommender.update>` learns the new state of every
        rule first, then publishes them all with the new policy version in one
        snapshot (:meth:`publish` keeps the rule's own copy for ``save`` and
        ``n_outcomes_``).

        Examples
        --------
        >>> learn = LearnFromOutcomes()
        >>> state = learn.learn({"item": ["mug"], "accepted": [True]})
        >>> learn.n_outcomes_, state.n_rows
        (0, 1)
        >>> learn.publish(state); learn.n_outcomes_
        1
        """
        item = outcome_items(outcomes, ("item", "accepted"))
        n = item.shape[0]
        acc = _column(outcomes, "accepted", n, False)
        if acc.dtype.kind not in "bui" and not (acc.dtype.kind == "f" and np.isin(
                acc, (0.0, 1.0)).all()):
            raise UpsellDataError(f"`outcomes['accepted']` must be booleans; got dtype "
                                  f"{acc.dtype}")
        acc = acc.astype(bool)
        items, icode = _factorize(item)
        if self.by_segment:
            segs, scode = _factorize(_column(outcomes, "segment", n, ""))
        else:
            segs, scode = np.zeros(0, dtype="U1"), np.zeros(n, dtype=np.int64)
        kinds, kcode = _factorize(_column(outcomes, "kind", n, "cross_sell"))
        ns, ni, nk = segs.size, items.size, kinds.size
        w = acc.astype(np.float64)
        # one pass per table over encoded keys; the last row pools every segment
        shown = _table(scode, icode, ns, ni, None)
        got = _table(scode, icode, ns, ni, w)
        kshown = _table(scode, kcode, ns, nk, None)
        kgot = _table(scode, kcode, ns, nk, w)
        labels = np.concatenate([segs.astype(str), np.array([_ALL])])
        return self._prepared(_State(items, labels, kinds, got, shown, kgot, kshown))

    def _prepared(self, st: _State) -> _State:
        """The state bound to this rule's catalog, arrays read-only."""
        old = self._state
        if old.catalog_items is not None:
            st = st.bound(old.catalog_items)
        for a in (st.acc, st.shown, st.kacc, st.kshown):
            a.flags.writeable = False
        return st

    def publish(self, state: Any) -> None:
        """Install a state from :meth:`learn` as this rule's own (one attribute store)."""
        if not isinstance(state, _State):
            raise UpsellDataError(f"`state` must come from LearnFromOutcomes.learn; got "
                                  f"{type(state).__name__}")
        self._state = state  # readers see the old or the new snapshot, never a mix

    def _install(self, st: _State) -> None:
        self.publish(self._prepared(st))

    # ------------------------------------------------------------------ serving
    def posterior(self, request: Request, items: list[PoolItem]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Beta parameters (alpha, beta) and value of each candidate, for this request.

        The posteriors are the ones of the request's snapshot (published with its
        policy version by ``Recommender.update``), else this rule's own.
        """
        snap = request.snapshot
        st = self._state if snap is None else snap.states.get(id(self), self._state)
        n = len(items)
        s = self.prior_strength
        p0 = np.fromiter((c.probability for c in items), dtype=np.float64, count=n)
        p0 = np.clip(np.where(np.isfinite(p0), p0, 0.0), _EPS, 1.0 - _EPS)
        row = st.seg_row.get(request.segment or "", st.all_row) if self.by_segment \
            else st.all_row
        A = np.zeros(n)
        N = np.zeros(n)
        if st.pos2code is not None and st.items.size:
            idx = np.fromiter((c.index for c in items), dtype=np.int64, count=n)
            code = st.pos2code[idx]
            have = code >= 0
            if have.any():
                A[have] = st.acc[row, code[have]]
                N[have] = st.shown[row, code[have]]
        if st.kinds.size:
            kc = np.fromiter((st.kind_col.get(c.kind, -1) for c in items), dtype=np.int64,
                             count=n)
            ok = kc >= 0
            Nk = np.where(ok, st.kshown[row, np.maximum(kc, 0)], 0.0)
            Ak = np.where(ok, st.kacc[row, np.maximum(kc, 0)], 0.0)
            rk = np.where(Nk > 0, Ak / np.maximum(Nk, 1.0), 0.0)
            wk = s * Nk / (s + Nk)
            pi = (s * p0 + wk * rk) / (s + wk)
        else:
            pi = p0
        pi = np.clip(pi, _EPS, 1.0 - _EPS)
        return s * pi + A, s * (1.0 - pi) + (N - A), self._values(items)

    def _values(self, items: list[PoolItem]) -> np.ndarray:
        n = len(items)
        if self.value == "probability":
            return np.ones(n)
        v = np.fromiter(((c.revenue if self.value == "revenue" else c.margin) for c in items),
                        dtype=np.float64, count=n)
        ok = np.isfinite(v)
        if not ok.all():
            v = np.where(ok, v, float(np.median(v[ok])) if ok.any() else 1.0)
        return np.maximum(v, 0.0)

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Set each candidate's score to ``EV / max EV`` (or add ``weight`` times it)."""
        items = list(pool)
        if not items:
            return
        a, b, v = self.posterior(request, items)
        if self.thompson:
            rng = request_rng(self.random_state, request, pool.k, "outcomes",
                              sorted(c.index for c in items))
            p = rng.beta(a, b)
        else:
            p = a / (a + b)
        ev = p * v
        top = float(ev.max())
        if not top > 0:
            return
        z = (ev / top).tolist()
        for c, zc in zip(items, z, strict=True):
            delta = zc - c.score if self.weight is None else self.weight * zc
            pool.adjust(c, delta, self.name)

    def beat_probability(self, request: Request, greedy: PoolItem, items: list[PoolItem]
                         ) -> np.ndarray:
        """P(an item's posterior value beats the greedy item's expected value), per item.

        :class:`Explore` with ``method="thompson"`` draws exploratory items in
        proportion to it: ``P(p_x * v_x > E[p_g] * v_g)`` under ``p_x ~ Beta``.
        """
        from scipy.special import betainc

        a, b, v = self.posterior(request, [greedy, *items])
        target = float(a[0] / (a[0] + b[0]) * v[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(v[1:] > 0, target / v[1:], np.inf)
        t = np.clip(t, 0.0, 1.0)
        return np.asarray(1.0 - betainc(a[1:], b[1:], t))

    # ------------------------------------------------------------------ files
    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters (the posteriors are saved as arrays: :meth:`get_state`)."""
        return {"value": self.value, "prior_strength": self.prior_strength,
                "thompson": self.thompson, "by_segment": self.by_segment,
                "random_state": self.random_state, "weight": self.weight}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearnFromOutcomes:
        """Inverse of :meth:`to_config`."""
        return cls(**config)

    def get_state(self) -> dict[str, np.ndarray]:
        """The posteriors' counts as arrays (saved with the recommender)."""
        st = self._state
        return {"items": st.items, "segments": st.segments, "kinds": st.kinds,
                "accepted": st.acc, "shown": st.shown, "kind_accepted": st.kacc,
                "kind_shown": st.kshown}

    def set_state(self, arrays: Mapping[str, np.ndarray], *, file: str = "<state>") -> None:
        """Install counts from :meth:`get_state`, checked as untrusted input."""
        from upsell.persist import check_array, fail

        for key in ("items", "segments", "kinds", "accepted", "shown", "kind_accepted",
                    "kind_shown"):
            if key not in arrays:
                raise fail(file, key, "is missing")
        items = check_array(arrays["items"], file=file, member="items", kind="U", ndim=1)
        segs = check_array(arrays["segments"], file=file, member="segments", kind="U", ndim=1)
        kinds = check_array(arrays["kinds"], file=file, member="kinds", kind="U", ndim=1)
        if segs.size < 1 or str(segs[-1]) != _ALL:
            raise fail(file, "segments", "must end with the pooled row")
        if items.size > 1 and not bool((items[1:] > items[:-1]).all()):
            raise fail(file, "items", "must be sorted and distinct")
        out = []
        for key, cols in (("accepted", items.size), ("shown", items.size),
                          ("kind_accepted", kinds.size), ("kind_shown", kinds.size)):
            out.append(np.array(check_array(arrays[key], file=file, member=key, kind="f",
                                            shape=(segs.size, cols), low=0),
                                dtype=np.float64))
        if (out[0] > out[1]).any() or (out[2] > out[3]).any():
            raise fail(file, "accepted", "exceeds the presentations")
        self._install(_State(np.array(items, dtype=str), np.array(segs, dtype=str),
                             np.array(kinds, dtype=str), *out))


def policy_name(name: str | None, pipe: Any, states: Mapping[int, Any] | None = None) -> str:
    """``"name@version"``: 8 hex characters of a digest of the recommender's configuration
    (sources, weights, floors, rules, blend kind) and of its learned state.

    ``states`` (by ``id`` of the learner) are the learned states to name, e.g. ones about
    to be published; a learner not in it is named by its own ``state_version``."""
    states = {} if states is None else states

    def version(owner: Any) -> Any:
        st = states.get(id(owner))
        # a state without a version (a blend stage that learned nothing) names nothing
        return (getattr(st, "version", None) or None) if st is not None else \
            getattr(owner, "state_version", None)

    from upsell.recommend.filters import rule_to_config

    def cfg(obj: Any, fn: str) -> Any:
        try:
            f = getattr(obj, fn, None)
            return f() if callable(f) else None
        except Exception:  # a user object whose config cannot be read: its type only
            return None

    rules = []
    for r in pipe.rules_:
        try:
            rules.append(rule_to_config(r))
        except UpsellDataError:
            rules.append({"type": type(r).__qualname__, "name": getattr(r, "name", "")})
        ver = version(r)
        if isinstance(ver, str):
            rules.append({"state": ver})
    doc = {"sources": [[type(s).__qualname__, s.name, cfg(s, "get_config")]
                       for s in pipe.sources_],
           "weights": pipe.weights_, "min_score": pipe.min_score_,
           "normalize": pipe.normalize_, "rules": rules,
           # the weighted blend is described by weights_ (its own config may omit defaults)
           "blend": [type(pipe.blend_).__qualname__, None if pipe.generic_blend is None
                     else cfg(pipe.blend_, "get_config")],
           "segment_boost": pipe.segment_boost_,
           "default_probability": pipe.default_probability_}
    ver = version(pipe.blend_)  # a blend that learns from outcomes (LearnedBlend.update)
    if isinstance(ver, str):
        doc["blend_state"] = ver
    text = json.dumps(doc, sort_keys=True, default=str)
    return f"{name or 'upsell'}@{hashlib.sha256(text.encode()).hexdigest()[:8]}"
