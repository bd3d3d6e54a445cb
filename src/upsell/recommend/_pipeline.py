"""The assembled serving pipeline of a :class:`~upsell.recommend.Recommender`.

:class:`Pipeline` is built once from the recommender's parameters (at ``fit()``,
``load`` or the first request) and holds everything validated and precomputed:
sources -> pre-blend gates -> blend -> moment, segment bonus, money -> rules
(filters, re-rankers) -> selection under limits and quotas -> popularity fill ->
explanation. It is read-only while serving (the two caches only ever gain
entries whose value does not depend on the thread), so one pipeline serves many
threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from upsell._lookup import as_indexed, position
from upsell._validation import check_choice, check_float, check_int, check_k
from upsell.data.catalog import Catalog
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
from upsell.recommend._core import (
    Candidate,
    CandidateSource,
    Evidence,
    Offer,
    OfferList,
    OfferPool,
    PoolItem,
    Request,
    Rule,
    Snapshot,
)
from upsell.recommend._fill import fill as popularity_fill
from upsell.recommend._offers import render_offers
from upsell.recommend.blending import NORMALIZATIONS, BlendRequest, WeightedBlend, normalise
from upsell.recommend.explain import CHANNELS, CueTemplates
from upsell.recommend.filters import (
    Exclude,
    FrequencyCap,
    InStock,
    NotOwned,
    Where,
    check_where,
    default_rules,
)
from upsell.recommend.history import CustomerHistory, SegmentMap, as_segment_map
from upsell.recommend.moments import Moment, MomentPolicy
from upsell.recommend.offerlog import OfferLog
from upsell.recommend.rerank import Diversity, InventoryPush, MarginWeight, Promote
from upsell.recommend.sources import (
    BundleSource,
    CFSource,
    PopularitySource,
    SequenceSource,
    UpsellSource,
    as_source,
)
from upsell.tiers import QuantityBreaks

__all__ = ["Pipeline", "id_tuple", "scalar_id", "staged_learner"]

_COLD_CACHE_SIZE = 256
#: Rules whose effect on a cold request (no customer history, empty basket) does not depend on
#: the customer; FrequencyCap is judged per request (events logged for the customer or not).
_COLD_SAFE_RULES = (NotOwned, InStock, Exclude, Where, MarginWeight, InventoryPush, Diversity,
                    Promote)
_STYLE = {BundleSource: "bundle", CFSource: "cf", UpsellSource: "upsell",
          SequenceSource: "sequence", PopularitySource: "popular"}
_NAT = np.datetime64("NaT", "s")


def scalar_id(value: Any) -> bool:
    """An id as callers send them: str, int, or a whole float ("17850.0" from a spreadsheet)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (str, int, np.integer, np.str_)):
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isfinite(value)) \
        and float(value) == int(value)


def id_tuple(values: Any, name: str, index: Any = None) -> tuple[Any, ...]:
    """Distinct item ids of a request argument, as ``index`` holds them."""
    if values is None:
        return ()
    if scalar_id(values):
        values = [values]
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, Iterable):
        raise UpsellDataError(f"`{name}` must be a list of item ids; got {values!r}")
    out = []
    for v in values:
        if not scalar_id(v):
            raise UpsellDataError(f"`{name}` must hold item ids (str or int); got {v!r}")
        out.append(as_indexed(index, v))
    return tuple(dict.fromkeys(out))


class Pipeline:
    """Everything a recommender validated and precomputed, and the per-request steps.

    Parameters
    ----------
    rec : Recommender
        Read for its parameters only; the pipeline keeps no reference to it.
    """

    def __init__(self, rec: Any) -> None:
        cat = rec.catalog
        if not isinstance(cat, Catalog):
            raise UpsellDataError(f"`catalog` must be a Catalog; got {type(cat).__name__}")
        self.catalog: Catalog = cat
        self.offer_log = rec.offer_log
        self._build_sources(rec)
        self._build_context(rec)
        self._build_rules(rec)
        self._build_scores(rec)
        self._build_lookups()
        self._build_learners()

    # ------------------------------------------------------------------ assembly
    def _build_sources(self, rec: Any) -> None:
        if isinstance(rec.cross_sell, (str, bytes)):
            raise UpsellDataError("`cross_sell` must be a list of sources; got a string")
        if not isinstance(rec.cross_sell, Iterable):
            raise UpsellDataError(f"`cross_sell` must be a list of sources; got "
                                  f"{type(rec.cross_sell).__name__}")
        sources: list[CandidateSource] = [as_source(s) for s in rec.cross_sell]
        up = None if rec.upsell is None else as_source(rec.upsell, upsell=True)
        if up is not None:
            sources.append(up)
        names = [s.name for s in sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise UpsellDataError(f"source names must be unique; {sorted(dup)[0]!r} repeats "
                                  f"(pass name=... to the adapters)")
        self.sources_: tuple[CandidateSource, ...] = tuple(sources)
        self.source_names_: tuple[str, ...] = tuple(names)
        self.upsell_name: str | None = None if up is None else up.name
        # the upsell ranker's price-jump limit per segment also bounds upgrades other sources
        # propose (a CF model offering a dearer tier of an owned family)
        self._jump_for = getattr(getattr(up, "ranker", None), "price_jump_for", None)
        self.styles = {s.name: _STYLE.get(type(s), str(getattr(s, "cue_style", "default")))
                       for s in sources}

    def _build_context(self, rec: Any) -> None:
        """History, segments, popularity, opportunity matrix."""
        from upsell.segments import OpportunityMatrix

        cat = self.catalog
        hist = rec.history
        tx: Transactions | None = None
        if isinstance(hist, Transactions):
            tx = hist
            hist = CustomerHistory.from_transactions(hist, cat)
        elif hist is not None and not isinstance(hist, CustomerHistory):
            raise UpsellDataError(f"`history` must be Transactions or a CustomerHistory; "
                                  f"got {type(hist).__name__}")
        if hist is not None and hist.items != cat.items:
            raise UpsellDataError("`history` was built for another catalog; rebuild it with "
                                  "CustomerHistory.from_transactions(tx, catalog)")
        self.history_: CustomerHistory | None = hist
        self.segments_: SegmentMap | None = as_segment_map(rec.segments, hist)
        pop = rec.popularity
        if pop is None and tx is not None:
            pop = PopularitySource.fit(tx, cat, segments=self.segments_, name="popular")
        if pop is not None and not isinstance(pop, PopularitySource):
            raise UpsellDataError(f"`popularity` must be a PopularitySource; got "
                                  f"{type(pop).__name__}")
        self.popularity_: PopularitySource | None = pop
        breaks = rec.quantity_breaks
        if breaks is not None and not isinstance(breaks, QuantityBreaks):
            raise UpsellDataError(f"`quantity_breaks` must be a QuantityBreaks or None; got "
                                  f"{type(breaks).__name__}")
        self.quantity_breaks_: QuantityBreaks | None = breaks
        opp = rec.opportunity
        if opp is None and self.segments_ is not None:
            opp = OpportunityMatrix()
        if opp is not None and not isinstance(opp, OpportunityMatrix):
            opp = OpportunityMatrix.from_json(opp) if isinstance(opp, Mapping) else None
            if opp is None:
                raise UpsellDataError(f"`opportunity` must be an OpportunityMatrix; got "
                                      f"{type(rec.opportunity).__name__}")
        self.opportunity_ = opp

    def _build_rules(self, rec: Any) -> None:
        if rec.rules is None:
            rules: list[Any] = default_rules(frequency_cap=rec.offer_log is not None)
        else:
            if isinstance(rec.rules, (str, bytes)) or not isinstance(rec.rules, Iterable):
                raise UpsellDataError(f"`rules` must be a list of rules; got {rec.rules!r}")
            rules = list(rec.rules)
        bound = []
        for r in rules:
            if not isinstance(r, Rule):
                raise UpsellDataError(
                    f"`rules` entries need a `name` and apply(pool, request); got {r!r}")
            b = getattr(r, "bind", None)
            bound.append(b(self.catalog) if callable(b) else r)
        self.rules_: tuple[Any, ...] = tuple(bound)
        # rules that act on the chosen list (Explore): run after selection and fill
        self.explorers: tuple[Any, ...] = tuple(
            r for r in bound if callable(getattr(r, "explore", None)))
        if len(self.explorers) > 1:  # a second one would re-explore the first one's list
            raise UpsellDataError(
                f"`rules` may hold one exploring rule (Explore); got {len(self.explorers)}: "
                + ", ".join(repr(r) for r in self.explorers))
        # rules that inject items (promotions), found once instead of on every request
        self.injectors: tuple[Any, ...] = tuple(
            inj for inj in (getattr(r, "injected", None) for r in bound) if callable(inj))
        if rec.offer_log is not None and not isinstance(rec.offer_log, OfferLog):
            raise UpsellDataError(f"`offer_log` must be an OfferLog; got "
                                  f"{type(rec.offer_log).__name__}")

    def _build_scores(self, rec: Any) -> None:
        """Blend, floors, cue templates, moments and the numeric parameters."""
        names = self.source_names_
        blend = rec.blend
        if blend is not None and (rec.weights is not None or rec.normalize != "max"):
            raise UpsellDataError(
                "pass `weights`/`normalize` either to the Recommender or to its blend "
                "(blend=WeightedBlend(weights=..., normalize=...)), not both")
        if blend is None or type(blend) is WeightedBlend:
            wb = blend if blend is not None else WeightedBlend(
                weights=_checked_weights(rec.weights, names),
                normalize=check_choice(rec.normalize, "normalize", NORMALIZATIONS))
            for n in wb.weights:
                if n not in names:
                    raise UpsellDataError(f"`weights` names source {n!r}, which is not one of "
                                          f"{', '.join(map(repr, names)) or 'no sources'}")
            self.weights_ = {n: wb.weight(n) for n in names}
            self.normalize_: str = wb.normalize
            self.blend_: Any = wb
            self.generic_blend: Any = None  # served by the per-source path (identical offers)
        else:
            if not callable(getattr(blend, "blend", None)):
                raise UpsellDataError(f"`blend` needs blend(request, items, source_scores, "
                                      f"source_names); got {type(blend).__name__}")
            bind = getattr(blend, "bind", None)
            self.blend_ = bind(self.catalog, names) if callable(bind) else blend
            self.generic_blend = self.blend_
            self.weights_ = {n: 1.0 for n in names}
            self.normalize_ = "max"
        self.min_score_ = _floors(rec.min_score, names)
        ct = rec.cue_templates
        self.cues_ = ct if isinstance(ct, CueTemplates) else CueTemplates(ct)
        mp = rec.moments
        self.moments_ = mp if isinstance(mp, MomentPolicy) else (
            MomentPolicy() if mp is None else MomentPolicy.from_dict(mp))
        self.segment_boost_ = check_float(rec.segment_boost, "segment_boost", low=0)
        self.default_probability_ = check_float(rec.default_probability, "default_probability",
                                                low=0, high=1)
        self.n_candidates_ = check_int(rec.candidates_per_source, "candidates_per_source",
                                       minimum=1)

    def _build_lookups(self) -> None:
        """Per-item arrays and maps every request reads."""
        cat = self.catalog
        fam = cat.family
        tier = cat.tier
        top = np.zeros(len(cat), dtype=bool)
        has = (fam != "") & ~np.isnan(tier)
        if has.any():
            fams, inv = np.unique(fam[has], return_inverse=True)
            mx = np.full(fams.size, -np.inf)
            np.maximum.at(mx, inv, tier[has])
            top[np.flatnonzero(has)] = tier[has] >= mx[inv]
        top.flags.writeable = False
        self._top_tier = top
        self._tiered = has
        # add-ons that name the family they serve (cases, refills, warranties): offered only to
        # customers who hold something of that family (an attaches_to that is no family, e.g. a
        # category a plan serves, is not checked)
        att = cat.attaches_to
        needs = (att != "") & np.isin(att, fam[fam != ""])
        needs.flags.writeable = False
        self._needs_family = needs
        self._margin = cat.margin
        self._kinds: list[str] = cat.kind.tolist()
        # catalog position of each item id: a plain dict (catalog-size, built once) serves the
        # per-candidate lookups of every request
        self._item_pos: dict[Any, int] = dict(zip(cat.items.ids.tolist(), range(len(cat)),
                                                  strict=True))
        self._item_type: type | tuple[type, ...] = str if cat.items.kind == "str" else int
        # popularity fill: per (segment, moment kinds) the ranking already restricted to the
        # kinds the moment allows and to items in stock, so a request does no catalog-size work
        self._fill_cache: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, float, float]] = {}
        # offers of cold requests per segment, moment, channel, k and request rules (cold_key)
        self._cold_cache: dict[tuple[Any, ...], tuple[tuple[Offer, ...], dict[str, int], int]] = {}
        # distinct values of the text columns `where=` conditions named (checked per request)
        self._where_values: dict[str, frozenset[Any]] = {}

    def _build_learners(self) -> None:
        """The rules (and blend) that learn, and the first snapshot of their states."""
        #: everything ``Recommender.update`` hands outcomes to
        self.learners: tuple[Any, ...] = tuple(
            p for p in (*self.rules_, self.blend_) if callable(getattr(p, "update", None)))
        #: the learners that build a new state without publishing it (learn/publish): their
        #: states are published with the policy version in one snapshot
        self.staged: tuple[Any, ...] = tuple(p for p in self.learners if staged_learner(p))
        self.update_lock = threading.Lock()  # one update at a time per pipeline
        self.snapshot_ = Snapshot("", {id(p): p.learned_state for p in self.staged})

    @property
    def policy_(self) -> str:
        """``"name@version"`` of the current snapshot (set by the Recommender)."""
        return self.snapshot_.policy

    @policy_.setter
    def policy_(self, value: str) -> None:
        self.snapshot_ = Snapshot(value, self.snapshot_.states)

    def publish(self, policy: str, states: Mapping[int, Any]) -> None:
        """Install new learner states and the policy version they make, in one step.

        ``states`` holds every staged learner's state (by ``id``). Requests that
        started before read the old snapshot throughout; later ones the new one.
        """
        self.snapshot_ = Snapshot(policy, dict(states))  # one attribute store

    # ------------------------------------------------------------------ requests
    def request(self, customer: Any, basket: tuple[Any, ...], channel: str,
                moment: str | None, context: Mapping[str, Any], at: np.datetime64,
                include_owned: bool = False) -> tuple[Request, Moment | None]:
        if customer is not None and not scalar_id(customer):
            raise UpsellDataError(f"`customer` must be an id (str or int) or None; got "
                                  f"{customer!r}")
        customer = self.customer_id(customer)
        mom = None if moment is None else self.moments_[moment]
        owned: tuple[Any, ...] = ()
        times: tuple[np.datetime64, ...] = ()
        known = False
        if self.history_ is not None and customer is not None:
            r = self.history_.row(customer)
            if r >= 0:
                known = True
                owned, times = self.history_.owned(customer)
        seg = self.segments_.segment_of(customer) if self.segments_ is not None else None
        req = Request(customer=customer, known=known, basket=basket, owned=owned,
                      owned_time=times, segment=seg, moment=moment, channel=channel, at=at,
                      timed=bool(mom.timed) if mom is not None else False,
                      context=context, include_owned=include_owned,
                      snapshot=self.snapshot_)  # read once: the request's learned state
        return req, mom

    def customer_id(self, customer: Any) -> Any:
        """The customer id as the history (else the segment map) holds it; unchanged if unknown."""
        if customer is None:
            return None
        for index in (None if self.history_ is None else self.history_.customers,
                      None if self.segments_ is None else self.segments_.customers):
            if index is not None:
                got = as_indexed(index, customer)
                if got is not customer or position(index, got) >= 0:
                    return got
        return customer.item() if isinstance(customer, np.generic) else customer

    def check_common(self, k: Any, channel: Any, moment: Any, context: Any, fill: Any,
                     exclude: Any, where: Any, include_owned: Any = False
                     ) -> tuple[int, str, Mapping[str, Any], list[Any]]:
        k = check_k(k)
        channel = check_choice(channel, "channel", CHANNELS)
        if moment is not None:
            self.moments_[moment]  # raises naming the moments there are
        if context is None:
            context = {}
        if not isinstance(context, Mapping):
            raise UpsellDataError(f"`context` must be a mapping or None; got {context!r}")
        if fill is not None and not isinstance(fill, bool):
            raise UpsellDataError(f"`fill` must be None, True or False; got {fill!r}")
        if not isinstance(include_owned, (bool, np.bool_)):
            raise UpsellDataError(f"`include_owned` must be True or False; got "
                                  f"{include_owned!r}")
        if fill and self.popularity_ is None:
            raise UpsellDataError("fill=True needs popularity: build the Recommender with "
                                  "history=<Transactions> or popularity=<PopularitySource>")
        extra: list[Any] = []
        ex = id_tuple(exclude, "exclude", self.catalog.items)
        if ex:
            extra.append(Exclude(ex))
        w = check_where(where, self.catalog, self._where_values)
        if w is not None:
            extra.append(w)
        return k, channel, context, extra

    # ------------------------------------------------------------------ sources and blend
    def pool_from_sources(self, req: Request, mom: Moment | None, k: int,
                          removed: dict[str, int]) -> dict[int, PoolItem]:
        """Ask every source, apply the pre-blend gates, blend: the request's candidates."""
        item_pos = self.pos
        kinds = self._kinds
        n = self.n_candidates_
        gathered: list[tuple[int, CandidateSource, list[tuple[int, Candidate]]]] = []
        for s_pos, src in enumerate(self.sources_):
            if mom is not None and mom.sources is not None and src.name not in mom.sources:
                continue
            got = src.candidates(req, n)  # positional: user classes may call it `n`
            floor = self.min_score_.get(src.name)
            is_up = src.name == self.upsell_name
            kept: list[tuple[int, Candidate]] = []
            for c in list(got)[:n]:
                if not isinstance(c, Candidate):
                    raise UpsellDataError(f"source {src.name!r} returned {c!r}; sources must "
                                          f"return Candidate objects")
                s = float(c.score)
                if s != s or s in (float("inf"), float("-inf")):
                    continue
                if floor is not None and s < floor:
                    removed["min_score"] = removed.get("min_score", 0) + 1
                    continue
                idx = item_pos(c.item)
                if idx < 0:
                    removed["not_in_catalog"] = removed.get("not_in_catalog", 0) + 1
                    continue
                if mom is not None:
                    kind = "upsell" if (is_up or c.kind == "upsell") else "cross_sell"
                    if not mom.allows(kind, kinds[idx]):
                        removed["moment"] = removed.get("moment", 0) + 1
                        continue
                kept.append((idx, c))
            if kept:
                gathered.append((s_pos, src, kept))
        if self.generic_blend is None:
            return self._weighted(gathered)
        return self._blended(gathered, req, k, removed)

    def _weighted(self, gathered: list[tuple[int, CandidateSource, list[tuple[int, Candidate]]]],
                  evidence_only: bool = False) -> dict[int, PoolItem]:
        """The default blend, source by source: weight x normalised score, summed per item.

        ``evidence_only``: the pool a user or learned blend scores (each source's evidence,
        max-normalised, weight 1; no score summed).
        """
        pool: dict[int, PoolItem] = {}
        how = "max" if evidence_only else self.normalize_
        for _s, src, kept in gathered:
            norm = normalise([c.score for _, c in kept], how)
            w = 1.0 if evidence_only else self.weights_[src.name]
            is_up = src.name == self.upsell_name
            key = f"source:{src.name}"
            # the hot path of every request: one loop, no call per candidate
            for (idx, c), z in zip(kept, norm, strict=True):
                ev = Evidence(src.name, float(c.score), z, w, c.detail)
                kind = "upsell" if (is_up or c.kind == "upsell") else "cross_sell"
                item = pool.get(idx)
                if item is None:
                    item = PoolItem(idx, c.item, kind, 0.0)
                    pool[idx] = item
                elif ev.contribution > max((e.contribution for e in item.evidence),
                                           default=-1.0):
                    item.kind = kind
                if any(e.source == src.name for e in item.evidence):
                    continue  # a source repeating an item: its best (first) proposal counts
                item.evidence.append(ev)
                if not evidence_only:
                    item.components[key] = ev.contribution
                    item.score += ev.contribution
        return pool

    def blend_request(self, req: Request, k: int, owned_items: bool = True) -> BlendRequest:
        """What the blend sees of a request (catalog positions, history row; the owned
        items and their times unless ``owned_items`` is False: left empty)."""
        r = -1
        owned = np.zeros(0, dtype=np.int32)
        owned_time = np.zeros(0, dtype="datetime64[s]")
        if self.history_ is not None and req.customer is not None:
            r = self.history_.row(req.customer)
            if r >= 0 and owned_items:
                idx, t = self.history_.owned_index(r)
                owned = np.asarray(idx, dtype=np.int32)
                secs = np.asarray(t, dtype=np.int64)
                owned_time = np.where(secs >= 0, secs, np.iinfo(np.int64).min).astype(
                    "datetime64[s]")
        basket = np.array([i for i in (self.pos(x) for x in req.basket) if i >= 0],
                          dtype=np.int32)
        for a in (basket, owned, owned_time):
            a.flags.writeable = False
        return BlendRequest(customer=req.customer, customer_index=int(r), basket=basket,
                            owned=owned, owned_time=owned_time, at=req.at, segment=req.segment,
                            moment=req.moment, channel=req.channel, k=k,
                            include_owned=req.include_owned, context=req.context,
                            snapshot=req.snapshot)

    def _blended(self, gathered: list[tuple[int, CandidateSource, list[tuple[int, Candidate]]]],
                 req: Request, k: int, removed: dict[str, int]) -> dict[int, PoolItem]:
        """A user or learned blend: one matrix of raw scores in, one score per candidate out."""
        pool = self._weighted(gathered, evidence_only=True)
        if not pool:
            return pool
        b = self.generic_blend
        # a blend that scores from its own fitted state (LearnedBlend) reads neither the
        # sources' scores (all NaN then) nor the request's owned items
        own = bool(getattr(b, "_own_inputs", False))
        col = {name: s for s, name in enumerate(self.source_names_)}
        scores = np.full((len(pool), len(col)), np.nan)
        if not own:
            for j, item in enumerate(pool.values()):
                for e in item.evidence:
                    scores[j, col[e.source]] = e.raw
        scores.flags.writeable = False
        items = np.fromiter(pool.keys(), dtype=np.int32, count=len(pool))
        items.flags.writeable = False
        got = b.blend(self.blend_request(req, k, owned_items=not own), items, scores,
                      self.source_names_)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise UpsellDataError(f"blend {type(b).__name__}.blend must return (scores, reasons); "
                                  f"got {type(got).__name__}")
        out = np.asarray(got[0], dtype=np.float64).reshape(-1)
        reasons = got[1]
        if out.size != items.size or (reasons is not None and len(reasons) != items.size):
            raise UpsellDataError(
                f"blend {type(b).__name__}.blend must return one score (and one reason) per "
                f"candidate ({items.size}); got {out.size} scores"
                + ("" if reasons is None else f" and {len(reasons)} reasons"))
        later = getattr(reasons, "later", None)
        for j, idx in enumerate(list(pool)):
            s = float(out[j])
            if s != s or s in (float("inf"), float("-inf")):
                del pool[idx]
                removed["blend"] = removed.get("blend", 0) + 1
                continue
            item = pool[idx]
            item.score = s
            item.components["blend"] = s
            if reasons is not None:
                # a learned blend's reasons are put in words for the shown offers only
                item.blend_reason = later(j) if later is not None else str(reasons[j])
        return pool

    # ------------------------------------------------------------------ after the blend
    def prepare(self, pool: dict[int, PoolItem], req: Request, mom: Moment | None,
                 removed: dict[str, int]) -> None:
        """Moment gate, segment bonus, money: the steps before the rules."""
        if not pool:
            return
        cat = self.catalog
        idx = np.fromiter(pool.keys(), dtype=np.int64, count=len(pool))
        if self._needs_family[idx].any():
            self._drop_orphan_add_ons(pool, idx, req, removed)
            if not pool:
                return
            idx = np.fromiter(pool.keys(), dtype=np.int64, count=len(pool))
        if (req.basket or req.owned) and self._tiered[idx].any():
            self._label_upgrades(pool, idx, req, removed)
            if not pool:
                return
            idx = np.fromiter(pool.keys(), dtype=np.int64, count=len(pool))
        if req.include_owned and req.owned:
            # a cross-sell of an item the customer bought before is a "buy again" offer: its
            # kind is decided here, once, so every rule, the learner, the log and the rendered
            # offer read the same kind (a moment and the segment bonus treat it as a cross-sell)
            owned = frozenset(req.owned)
            for c in pool.values():
                if c.kind == "cross_sell" and c.item in owned:
                    c.kind = "replenish"
        kinds = cat.kind[idx].tolist()
        price = cat.price[idx].tolist()
        margin = self._margin[idx].tolist()
        excl = cat.exclusive[idx].tolist()
        top = self._top_tier[idx].tolist()
        opp = self.opportunity_
        seg = req.segment
        strategies = opp[seg] if (opp is not None and seg is not None and seg in opp) else None
        for j, i in enumerate(idx.tolist()):
            c = pool[i]
            direction = "cross_sell" if c.kind == "replenish" else c.kind
            if mom is not None:
                if not mom.allows(direction, kinds[j]):
                    del pool[i]
                    removed["moment"] = removed.get("moment", 0) + 1
                    continue
                c.effects.append(("moment", f"{kinds[j]} fits {req.moment}"))
            if strategies is not None and self.segment_boost_ > 0:
                st = strategies[direction]
                if (kinds[j] in st.kinds and (not st.exclusive or excl[j])
                        and (not st.top_tier or top[j])):
                    c.score += self.segment_boost_
                    c.components["segment"] = self.segment_boost_
                    c.strategy = st.label or "/".join(st.kinds)
                    c.effects.append(("segment", f"+{self.segment_boost_:.3f} favoured for "
                                                 f"{seg}: {c.strategy}"))
            p = max((float(e.detail["probability"]) for e in c.evidence
                     if "probability" in e.detail), default=self.default_probability_)
            c.probability = p
            up = next((e.detail for e in c.evidence if "margin_gain" in e.detail), None)
            if up is not None and c.kind == "upsell":
                c.revenue = float(up.get("price_diff", price[j]))
                c.margin = float(up["margin_gain"])
            else:
                c.revenue = float(price[j])
                c.margin = float(margin[j])

    def _drop_orphan_add_ons(self, pool: dict[int, PoolItem], idx: np.ndarray, req: Request,
                             removed: dict[str, int]) -> None:
        """An add-on for a family the customer holds nothing of (no "Kitchen 03 Case" for a
        customer without a Kitchen 03) is dropped: counted in ``removed["needs_product"]``."""
        cat = self.catalog
        fam, att = cat.family, cat.attaches_to
        held: set[str] = set()
        for x in (*req.basket, *req.owned):
            i = self.pos(x)
            if i >= 0:
                held.add(str(fam[i]))
                held.add(str(att[i]))  # a bundle or an add-on of the family counts as holding it
        for i in idx[self._needs_family[idx]].tolist():
            if str(att[i]) not in held:
                del pool[i]
                removed["needs_product"] = removed.get("needs_product", 0) + 1

    def _label_upgrades(self, pool: dict[int, PoolItem], idx: np.ndarray, req: Request,
                        removed: dict[str, int]) -> None:
        """A dearer tier of a family the customer owns (or has in the basket) is an upsell,
        whichever source proposed it; above the segment's price-jump limit it is dropped, and
        so is a lower tier than one held (a downgrade is neither a complement nor an upsell)."""
        cat = self.catalog
        fam, tier, price = cat.family, cat.tier, cat.price
        held: dict[str, list[int]] = {}  # family -> catalog positions held
        for x in (*req.basket, *req.owned):
            i = self.pos(x)
            if i >= 0 and self._tiered[i]:
                held.setdefault(str(fam[i]), []).append(i)
        if not held:
            return
        limit = self._jump_for(req.segment) if self._jump_for is not None else None
        for i in idx[self._tiered[idx]].tolist():
            c = pool[i]
            bases = held.get(str(fam[i]))
            if not bases:
                continue
            below = [b for b in bases if tier[b] < tier[i]]
            if not below:
                if any(tier[b] > tier[i] for b in bases):
                    del pool[i]
                    removed["downgrade"] = removed.get("downgrade", 0) + 1
                continue
            base = max(below, key=lambda b: (tier[b], price[b]))  # the nearest rung below
            ratio = float(price[i] / price[base]) if price[base] > 0 else float("nan")
            if limit is not None and ratio == ratio and ratio > limit:
                del pool[i]
                removed["price_jump"] = removed.get("price_jump", 0) + 1
                continue
            if c.kind != "upsell":
                c.kind = "upsell"
                c.effects.append(("upgrade", f"a higher tier of {self._name_at(base)}"))

    def _name_at(self, i: int) -> str:
        return str(self.catalog.name[i])

    def _run_rules(self, pool: OfferPool, req: Request, extra: list[Any]) -> None:
        for rule in (*extra, *self.rules_):
            if len(pool) == 0:
                break
            rule.apply(pool, req)

    def _select(self, ordered: list[PoolItem], k: int, chosen: list[PoolItem],
                limits: list[Any], quotas: list[Any], counts: dict[str, dict[Any, int]],
                removed: dict[str, int]) -> None:
        for c in ordered:
            if len(chosen) >= k:
                break
            blocked = None
            keys = []
            for name, key, max_per in limits:
                kv = key(c)
                keys.append(kv)
                if kv is not None and counts.setdefault(name, {}).get(kv, 0) >= max_per:
                    blocked = name
                    break
            if blocked is None:
                for name, member, slots in quotas:
                    if member(c) and counts.setdefault(name, {}).get(True, 0) >= slots:
                        blocked = name
                        break
            if blocked is not None:
                removed[blocked] = removed.get(blocked, 0) + 1
                continue
            for (name, _key, max_per), kv in zip(limits, keys, strict=True):
                if kv is not None:
                    d = counts[name]
                    d[kv] = d.get(kv, 0) + 1
                    c.effects.append((name, f"{kv}: {d[kv]} of {max_per}"))
                else:
                    c.effects.append((name, "passed"))
            for name, member, _slots in quotas:
                if member(c):
                    d = counts.setdefault(name, {})
                    d[True] = d.get(True, 0) + 1
            chosen.append(c)

    def cold_key(self, req: Request, k: int, extra: list[Any]) -> tuple[Any, ...] | None:
        """Cache key of a cold request's offers, or None when they may depend on the customer.

        A cold request (unknown or anonymous customer, empty basket, no context) whose
        sources proposed nothing gets the segment's popular items through the rules: the
        same offers for every such customer of a segment, unless a rule reads the customer
        (a frequency cap with events logged for them) or is not one of the built-in,
        customer-independent rules. Campaigns over many unknown customers then cost one
        pipeline run per segment instead of one per customer.
        """
        if req.context:
            return None
        extra_key = []
        for r in (*extra, *self.rules_):
            if isinstance(r, FrequencyCap):
                if req.customer is not None and self.offer_log is not None and \
                        self.offer_log.history(req.customer):
                    return None
                continue
            if type(r) not in _COLD_SAFE_RULES:  # exact types: a subclass may read the customer
                return None
            if isinstance(r, Where):
                if any(callable(v) for v in r.conditions.values()):
                    return None
                extra_key.append(("where", repr(sorted(r.conditions.items(), key=str))))
            elif isinstance(r, Exclude):
                extra_key.append(("exclude", repr(r.to_config())))
        return (req.segment, req.moment, req.channel, k, req.include_owned, tuple(extra_key))

    def serve(self, req: Request, mom: Moment | None, k: int, fill: bool | None,
               extra: list[Any], trace: dict[str, Any] | None = None) -> OfferList:
        removed: dict[str, int] = {}
        items = self.pool_from_sources(req, mom, k, removed)
        # a basket of items the model has never seen (a product added since the fit) serves
        # like an empty one: the customer's own sources, or the segment's popular items
        unknown = [b for b in req.basket if self.pos(b) < 0]
        cold = not req.known and len(unknown) == len(req.basket)
        if fill is None:
            fill = cold and self.popularity_ is not None
        key = self.cold_key(req, k, extra) if (cold and fill and not items and not removed) \
            else None
        if key is not None:
            hit = self._cold_cache.get(key)
            if hit is not None:
                cached, was_removed, n_filled = hit
                return OfferList(cached, removed=dict(was_removed),
                                 note=self._note(req, cold, fill, n_filled, len(cached),
                                                 unknown),
                                 policy=_policy(req, self), segment=req.segment)
        for inj in self.injectors:
            for item in inj(req):
                i = self.pos(item)
                if i >= 0 and i not in items:
                    p = PoolItem(i, self.catalog.items.ids[i].item(), "cross_sell", 0.0)
                    p.evidence.append(Evidence("promotion", 0.0, 0.0, 0.0, {}))
                    items[i] = p
        self.prepare(items, req, mom, removed)
        pool = OfferPool(list(items.values()), catalog=self.catalog, k=k,
                         offer_log=self.offer_log)
        self._run_rules(pool, req, extra)
        for name, n in pool.removed.items():
            removed[name] = removed.get(name, 0) + n
        ordered = sorted(pool, key=lambda c: (-c.score, c.index))
        chosen: list[PoolItem] = []
        counts: dict[str, dict[Any, int]] = {}
        self._select(ordered, k, chosen, pool.limits, pool.quotas, counts, removed)
        n_chosen = len(chosen)
        if fill and len(chosen) < k:
            popularity_fill(self, req, mom, k, chosen, set(items), extra, counts, removed)
        n_filled = len(chosen) - n_chosen
        shown = None
        for ex in self.explorers:  # after selection: swaps keep every limit and quota
            shown = ex.explore(chosen, ordered, req, k, limits=pool.limits, quotas=pool.quotas,
                               rules=self.rules_, want_plan=trace is not None)
            if trace is not None:
                trace["plan"] = shown[2]
        offers = render_offers(self, chosen, req) if shown is None else \
            render_offers(self, chosen, req, shown[0], shown[1])
        if key is not None:
            if len(self._cold_cache) >= _COLD_CACHE_SIZE:
                self._cold_cache.clear()  # bounded: many distinct where/exclude keys
            self._cold_cache[key] = (tuple(offers), dict(removed), n_filled)
        return OfferList(offers, removed=removed,
                         note=self._note(req, cold, fill, n_filled, len(chosen), unknown,
                                         removed),
                         policy=_policy(req, self), segment=req.segment)

    def _note(self, req: Request, cold: bool, fill: bool, n_filled: int, n: int,
              unknown: list[Any], removed: dict[str, int] | None = None) -> str:
        """One sentence on what the caller should know about this request (``unknown``: the
        basket's items the model does not know; ``removed``: candidates left out, by rule)."""
        listed = f"{', '.join(map(str, unknown[:5]))}{' ...' if len(unknown) > 5 else ''}"
        ignored = f"basket item(s) not among the model's items, ignored: {listed}" \
            if unknown else ""
        if not cold:
            gone = ", ".join(f"{r} {c:,}" for r, c in sorted((removed or {}).items(),
                                                            key=lambda rc: -rc[1]))
            owns = (f"; the customer owns {len(req.owned):,} of the "
                    f"{len(self.catalog.items):,} items") if req.owned else ""
            said = "" if n else ("no source had an offer that passed the rules" +
                                 (f" (left out by rule: {gone})" if gone else
                                  f" (no source had a candidate{owns})"))
            return "; ".join(t for t in (ignored, said) if t)
        who = "an anonymous visitor" if req.customer is None else (
            f"customer {req.customer!r} is not in the history" if self.history_ is not None
            else f"customer {req.customer!r}: the recommender has no history")
        who += " and the basket is empty" if not req.basket else \
            f" and no basket item is known to the model ({listed})"
        seg = f" of segment {req.segment!r}" if req.segment else ""
        if n_filled:
            said = f"{who}: {n_filled} popular item(s){seg} (fill)"
        elif n:
            said = who
        elif self.popularity_ is None:
            said = f"{who}: no popularity to fill from"
        elif not fill:
            said = f"{who}: nothing shown (fill=False)"
        else:
            said = f"{who}: every popular item was filtered out"
        return said

    def pos(self, item: Any) -> int:
        """Catalog position of an item id; -1 when unknown or of the other id type."""
        if not isinstance(item, self._item_type) or isinstance(item, bool):
            if not isinstance(item, np.generic):
                return -1
            item = item.item()
            if not isinstance(item, self._item_type) or isinstance(item, bool):
                return -1
        return self._item_pos.get(item, -1)


def staged_learner(owner: Any) -> bool:
    """Whether a learner builds its new state without publishing it: ``learn(outcomes)``
    returns the state, ``publish(state)`` installs it, ``learned_state`` is the current one
    (and it reads its state from ``request.snapshot`` while serving)."""
    return callable(getattr(owner, "learn", None)) and callable(getattr(owner, "publish", None)) \
        and hasattr(owner, "learned_state")


def _policy(req: Request, pipe: Pipeline) -> str:
    """The policy version of the snapshot the request read (the pipeline's when it read none)."""
    return req.snapshot.policy if req.snapshot is not None else pipe.policy_


def _checked_weights(weights: Any, names: tuple[str, ...]) -> dict[str, float]:
    w = dict(weights or {})
    for n, v in w.items():
        if n not in names:
            raise UpsellDataError(f"`weights` names source {n!r}, which is not one of "
                                  f"{', '.join(map(repr, names)) or 'no sources'}")
        check_float(v, f"weights[{n!r}]", low=0)
    return {n: float(v) for n, v in w.items()}


def _floors(ms: Any, names: tuple[str, ...]) -> dict[str, float]:
    """The ``min_score`` argument as a floor per source name."""
    if ms is None:
        return {}
    if isinstance(ms, Mapping):
        floors = {}
        for n, v in ms.items():
            if n not in names and n != "popular":
                raise UpsellDataError(f"`min_score` names source {n!r}, which is not one of "
                                      f"{', '.join(map(repr, names))}")
            floors[n] = check_float(v, f"min_score[{n!r}]")
        return floors
    v = check_float(ms, "min_score")
    return {n: v for n in names}
