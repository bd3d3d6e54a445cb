"""The Recommender: one offer list per request from every source, under business rules.

Per request: resolve the customer (owned items, segment) -> ask each source for
candidates -> drop raw scores under the source's ``min_score`` -> normalise
each source's scores within the request -> blend with ``weights`` -> keep what
fits the moment -> add the segment's opportunity bonus -> run the rules in
order (filters, re-rankers) -> pick the best ``k`` under diversity limits and
slot quotas -> optionally fill from popularity -> explain and render cues.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from upsell._estimator import Estimator
from upsell._lookup import position
from upsell._validation import check_choice, check_float, check_int, check_k, to_datetime64
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.persist import (
    check_array,
    fail,
    index_arrays,
    index_from_arrays,
    read_json,
    read_model,
    resolve_inside,
    write_model,
)
from upsell.recommend._core import (
    Candidate,
    CandidateSource,
    Evidence,
    Offer,
    OfferList,
    OfferPool,
    PoolItem,
    Reason,
    Request,
    Rule,
    _as_indexed,
)
from upsell.recommend._files import MANIFEST, file_digest, write_directory
from upsell.recommend.explain import CHANNELS, CueTemplates, money
from upsell.recommend.filters import (
    Exclude,
    FrequencyCap,
    InStock,
    NotOwned,
    Where,
    check_where,
    rule_from_config,
    rule_to_config,
)
from upsell.recommend.history import CustomerHistory, SegmentMap, as_segment_map
from upsell.recommend.moments import Moment, MomentPolicy
from upsell.recommend.offerlog import OfferLog, SQLiteOfferLog
from upsell.recommend.rerank import Diversity, InventoryPush, MarginWeight, Promote
from upsell.recommend.sources import (
    BundleSource,
    CFSource,
    PopularitySource,
    SequenceSource,
    UpsellSource,
    as_source,
    source_types,
)

__all__ = ["NORMALIZATIONS", "Recommender"]

#: How scores of one source are put on a common [0, 1] scale within a request.
NORMALIZATIONS = ("max", "minmax", "rank")
_FORMAT = 1
_COLD_CACHE_SIZE = 256
#: Rules whose effect on a cold request (no customer history, empty basket) does not depend on
#: the customer; FrequencyCap is judged per request (events logged for the customer or not).
_COLD_SAFE_RULES = (NotOwned, InStock, Exclude, Where, MarginWeight, InventoryPush, Diversity,
                    Promote)
_STYLE = {BundleSource: "bundle", CFSource: "cf", UpsellSource: "upsell",
          SequenceSource: "sequence", PopularitySource: "popular"}


def _now() -> np.datetime64:
    return np.datetime64(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "s")


def _as_time(value: Any, name: str) -> np.datetime64:
    if value is None:
        return _now()
    t = to_datetime64(value, "s")  # converts offsets to UTC; NaT when unparseable
    if np.isnat(t):
        raise UpsellDataError(f"`{name}` must be a datetime or ISO 8601 string; got {value!r}")
    return t


def _accepted(fn: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword options that a source class's ``load`` declares (user classes may not)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in options.items()
            if k in params and params[k].kind in (inspect.Parameter.KEYWORD_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD)}


#: The parts a saved recommender may hold besides its sources (catalog.npz always).
_PARTS = ("catalog.npz", "history.npz", "segments.npz", "popularity.npz")


def _raise(exc: Exception) -> Any:
    raise exc


def _checked_files(root: str, man: str, doc: dict[str, Any], verify: bool) -> dict[str, str]:
    """The manifest's ``files``, each confined to the folder, present, of its size and digest.

    Returns relative name -> resolved path. A part the folder holds but the
    manifest does not list is refused too: an emptied or trimmed ``files``
    would otherwise load a recommender without its history or segments.
    """
    files = doc.get("files")
    if not isinstance(files, dict):
        raise fail(man, "files", "must be an object of file name -> size and sha256")
    out: dict[str, str] = {}
    for rel, info in files.items():
        full = resolve_inside(root, rel, what="`files` entry")
        if not (isinstance(info, dict) and type(info.get("size")) is int
                and info["size"] >= 0 and isinstance(info.get("sha256"), str)):
            raise fail(man, f"files[{rel!r}]", "needs an integer size and a sha256 string")
        if not os.path.isfile(full):
            raise ModelFileError(f"{root!r} is partial: {rel} is missing", file=full,
                                 member=rel, problem="missing")
        size = os.path.getsize(full)
        if size != info["size"]:
            raise ModelFileError(f"{root!r} is corrupted: {rel} has {size} bytes, expected "
                                 f"{info['size']}", file=full, problem="size mismatch")
        if verify and file_digest(full) != info["sha256"]:
            raise ModelFileError(f"{root!r} is corrupted: {rel} checksum mismatch", file=full,
                                 problem="checksum mismatch")
        out[rel] = full
    if "catalog.npz" not in out:
        raise ModelFileError(f"{root!r} is partial: the manifest does not list catalog.npz",
                             file=man, member="files", problem="catalog.npz not listed")
    present = [p for p in _PARTS if os.path.lexists(os.path.join(root, p))]
    src_dir = os.path.join(root, "sources")
    if os.path.isdir(src_dir) and not os.path.islink(src_dir):
        present += [f"sources/{n}" for n in sorted(os.listdir(src_dir)) if n.endswith(".npz")]
    unlisted = [p for p in present if p not in out]
    if unlisted:
        raise ModelFileError(
            f"{root!r}: the folder holds {', '.join(unlisted)} but the manifest's `files` does "
            f"not list it: an edited or mixed-up manifest; refusing to load without it",
            file=man, member="files", problem=f"{unlisted[0]} not listed")
    return out


def _scalar_id(value: Any) -> bool:
    """An id as callers send them: str, int, or a whole float ("17850.0" from a spreadsheet)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (str, int, np.integer, np.str_)):
        return True
    return isinstance(value, (float, np.floating)) and bool(np.isfinite(value)) \
        and float(value) == int(value)


def _id_tuple(values: Any, name: str, index: IdIndex | None = None) -> tuple[Any, ...]:
    if values is None:
        return ()
    if _scalar_id(values):
        values = [values]
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, Iterable):
        raise UpsellDataError(f"`{name}` must be a list of item ids; got {values!r}")
    out = []
    for v in values:
        if not _scalar_id(v):
            raise UpsellDataError(f"`{name}` must hold item ids (str or int); got {v!r}")
        out.append(_as_indexed(index, v))
    return tuple(dict.fromkeys(out))


def _names(names: Sequence[str], limit: int = 3, total: int | None = None) -> str:
    """Up to ``limit`` names, then "…and N more" (long baskets stay one readable line)."""
    n = len(names) if total is None else total
    if n <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} \u2026and {n - limit:,} more"


def _score(v: float) -> str:
    """A source's raw score as people read it: three significant digits, never an exponent
    (26,600 not 2.66e+04; 0.000123 not 1.23e-04).

    Examples
    --------
    >>> _score(26571.2), _score(7.114), _score(0.000123), _score(1e-300), _score(float("nan"))
    ('26,571', '7.11', '0.000123', '~0', 'n/a')
    """
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if 0 < abs(v) < 1e-6:  # nothing people would read as different from 0
        return "~0"
    text = f"{v:.3g}"
    return f"{v:.{max(3 - 1 - int(np.floor(np.log10(abs(v)))), 0)}f}" if "e" in text else text


class Recommender(Estimator):
    """One offer list per request, from every source, under the shop's business rules.

    Parameters
    ----------
    catalog : Catalog
        Every item that may be offered (kinds, families, tiers, prices, costs, stock).
    cross_sell : sequence of sources, default ()
        Candidate sources (:class:`CandidateSource`) or fitted models wrapped
        automatically: :class:`~upsell.bundles.BundleRecommender` ->
        :class:`BundleSource`, an upsell.cf model -> :class:`CFSource`,
        :class:`~upsell.bundles.SequenceRules` -> :class:`SequenceSource`.
    upsell : UpsellRanker or source, optional
        Its candidates are upsells.
    segments : Personas, mapping, SegmentMap or labels, optional
        Customer -> segment (labels aligned to the history's customers are accepted).
    opportunity : OpportunityMatrix, optional
        Which kinds to favour per segment; default the handbook's matrix when
        ``segments`` is given.
    rules : sequence of Rule, optional
        Filters and re-rankers in the order they run. Default
        ``[NotOwned(), InStock()]`` (plus ``FrequencyCap()`` when ``offer_log`` is given).
    weights : mapping of source name to float, optional
        Blending weight per source (default 1 each).
    min_score : float or mapping of source name to float, optional
        Relevance floor on each source's *raw* score: candidates below it are
        never shown, even when fewer than ``k`` offers remain.
    normalize : {"max", "minmax", "rank"}, default "max"
        Per-source normalisation within a request before blending (see Notes).
    cue_templates : mapping or CueTemplates, optional
        Overrides of the cue templates (see :class:`~upsell.recommend.CueTemplates`).
    moments : MomentPolicy or mapping, optional
        Which kinds fit which moment; default :class:`~upsell.recommend.MomentPolicy`.
    history : Transactions or CustomerHistory, optional
        What customers own and when (owned-item filter, sequence timing) and, from
        Transactions, the per-segment popularity used for unknown customers and fill.
    popularity : PopularitySource, optional
        Popularity for ``fill=True`` (default: fitted from ``history``).
    offer_log : OfferLog, optional
        Read by frequency caps.
    segment_boost : float, default 0.25
        Score bonus for an offer matching its segment's strategy.
    default_probability : float, default 0.02
        P(accept) used for expected revenue and margin when no source gives one.
    candidates_per_source : int, default 30
        Candidates asked of each source per request.

    Notes
    -----
    Normalisation, per source and request, over the candidates left after the
    ``min_score`` floor: "max" divides by the largest score (scores <= 0 become
    0), so a source's best candidate gets 1 and ratios are kept; "minmax" maps
    the range onto [0, 1] (a single candidate gets 1); "rank" gives
    ``1 - r / n`` to the ``r``-th best of ``n``. The blended relevance of an item
    is the sum over the sources proposing it of ``weight * normalised``, so
    agreement between sources counts. The final score adds the segment bonus
    and every rule's adjustment; :attr:`Offer.components` lists each part.

    Examples
    --------
    >>> from upsell import Catalog
    >>> cat = Catalog.from_records([
    ...     {"item": "tea", "kind": "product", "price": 4.0, "cost": 2.0},
    ...     {"item": "mug", "kind": "accessory", "price": 8.0, "cost": 3.0, "stock": 5},
    ...     {"item": "pot", "kind": "accessory", "price": 20.0, "cost": 9.0, "stock": 0}])
    >>> class Pairs:
    ...     name = "pairs"
    ...     def candidates(self, request, n):
    ...         if "tea" not in request.basket:
    ...             return []
    ...         return [Candidate("pot", 3.0, detail={"because": ("tea",)}),
    ...                 Candidate("mug", 2.0, detail={"because": ("tea",)})]
    >>> rec = Recommender(catalog=cat, cross_sell=[Pairs()])
    >>> offers = rec.recommend(basket=["tea"], k=2, moment="cart", at="2024-01-01")
    >>> [(o.item, o.kind, round(o.score, 3)) for o in offers], offers.removed
    ([('mug', 'cross_sell', 0.667)], {'in_stock': 1})
    >>> offers[0].reason.rules
    (('moment', 'accessory fits cart'), ('not_owned', 'passed'), ('in_stock', 'passed'))
    """

    def __init__(self, *, catalog: Catalog, cross_sell: Sequence[Any] = (), upsell: Any = None,
                 segments: Any = None, opportunity: Any = None,
                 rules: Sequence[Rule] | None = None, weights: Mapping[str, float] | None = None,
                 min_score: float | Mapping[str, float] | None = None, normalize: str = "max",
                 cue_templates: Mapping[Any, Any] | CueTemplates | None = None,
                 moments: MomentPolicy | Mapping[str, Any] | None = None, history: Any = None,
                 popularity: PopularitySource | None = None, offer_log: OfferLog | None = None,
                 segment_boost: float = 0.25, default_probability: float = 0.02,
                 candidates_per_source: int = 30) -> None:
        self.catalog = catalog
        self.cross_sell = tuple(cross_sell)
        self.upsell = upsell
        self.segments = segments
        self.opportunity = opportunity
        self.rules = rules
        self.weights = weights
        self.min_score = min_score
        self.normalize = normalize
        self.cue_templates = cue_templates
        self.moments = moments
        self.history = history
        self.popularity = popularity
        self.offer_log = offer_log
        self.segment_boost = segment_boost
        self.default_probability = default_probability
        self.candidates_per_source = candidates_per_source
        self._setup()

    # ------------------------------------------------------------------ validation
    def _setup(self) -> None:
        from upsell.segments import OpportunityMatrix

        cat = self.catalog
        if not isinstance(cat, Catalog):
            raise UpsellDataError(f"`catalog` must be a Catalog; got {type(cat).__name__}")
        if isinstance(self.cross_sell, (str, bytes)):
            raise UpsellDataError("`cross_sell` must be a list of sources; got a string")
        sources: list[CandidateSource] = [as_source(s) for s in self.cross_sell]
        up = None if self.upsell is None else as_source(self.upsell, upsell=True)
        if up is not None:
            sources.append(up)
        names = [s.name for s in sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise UpsellDataError(f"source names must be unique; {sorted(dup)[0]!r} repeats "
                                  f"(pass name=... to the adapters)")
        self.sources_: tuple[CandidateSource, ...] = tuple(sources)
        self._upsell_name = None if up is None else up.name
        # the upsell ranker's price-jump limit per segment also bounds upgrades other sources
        # propose (a CF model offering a dearer tier of an owned family)
        self._jump_for = getattr(getattr(up, "ranker", None), "price_jump_for", None)
        self._styles = {s.name: _STYLE.get(type(s), str(getattr(s, "cue_style", "default")))
                        for s in sources}
        # history, segments, popularity
        hist = self.history
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
        self.segments_: SegmentMap | None = as_segment_map(self.segments, hist)
        pop = self.popularity
        if pop is None and tx is not None:
            pop = PopularitySource.fit(tx, cat, segments=self.segments_, name="popular")
        if pop is not None and not isinstance(pop, PopularitySource):
            raise UpsellDataError(f"`popularity` must be a PopularitySource; got "
                                  f"{type(pop).__name__}")
        self.popularity_: PopularitySource | None = pop
        opp = self.opportunity
        if opp is None and self.segments_ is not None:
            opp = OpportunityMatrix()
        if opp is not None and not isinstance(opp, OpportunityMatrix):
            opp = OpportunityMatrix.from_json(opp) if isinstance(opp, Mapping) else None
            if opp is None:
                raise UpsellDataError(f"`opportunity` must be an OpportunityMatrix; got "
                                      f"{type(self.opportunity).__name__}")
        self.opportunity_ = opp
        # rules
        if self.rules is None:
            rules: list[Any] = [NotOwned(), InStock()]
            if self.offer_log is not None:
                rules.append(FrequencyCap())
        else:
            if isinstance(self.rules, (str, bytes)) or not isinstance(self.rules, Iterable):
                raise UpsellDataError(f"`rules` must be a list of rules; got {self.rules!r}")
            rules = list(self.rules)
        bound = []
        for r in rules:
            if not isinstance(r, Rule):
                raise UpsellDataError(
                    f"`rules` entries need a `name` and apply(pool, request); got {r!r}")
            b = getattr(r, "bind", None)
            bound.append(b(cat) if callable(b) else r)
        self.rules_: tuple[Any, ...] = tuple(bound)
        # rules that inject items (promotions), found once instead of on every request
        self._injectors: tuple[Any, ...] = tuple(
            inj for inj in (getattr(r, "injected", None) for r in bound) if callable(inj))
        if self.offer_log is not None and not isinstance(self.offer_log, OfferLog):
            raise UpsellDataError(f"`offer_log` must be an OfferLog; got "
                                  f"{type(self.offer_log).__name__}")
        # scores
        w = dict(self.weights or {})
        for n, v in w.items():
            if n not in names:
                raise UpsellDataError(f"`weights` names source {n!r}, which is not one of "
                                      f"{', '.join(map(repr, names)) or 'no sources'}")
            check_float(v, f"weights[{n!r}]", low=0)
        self.weights_ = {n: float(w.get(n, 1.0)) for n in names}
        ms = self.min_score
        if ms is None:
            floors: dict[str, float] = {}
        elif isinstance(ms, Mapping):
            floors = {}
            for n, v in ms.items():
                if n not in names and n != "popular":
                    raise UpsellDataError(f"`min_score` names source {n!r}, which is not one of "
                                          f"{', '.join(map(repr, names))}")
                floors[n] = check_float(v, f"min_score[{n!r}]")
        else:
            v = check_float(ms, "min_score")
            floors = {n: v for n in names}
        self.min_score_ = floors
        self.normalize_ = check_choice(self.normalize, "normalize", NORMALIZATIONS)
        ct = self.cue_templates
        self.cues_ = ct if isinstance(ct, CueTemplates) else CueTemplates(ct)
        mp = self.moments
        self.moments_ = mp if isinstance(mp, MomentPolicy) else (
            MomentPolicy() if mp is None else MomentPolicy.from_dict(mp))
        self.segment_boost_ = check_float(self.segment_boost, "segment_boost", low=0)
        self.default_probability_ = check_float(self.default_probability, "default_probability",
                                                low=0, high=1)
        self.n_candidates_ = check_int(self.candidates_per_source, "candidates_per_source",
                                       minimum=1)
        # per-item lookups used on every request
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
        # offers of cold requests per segment, moment, channel, k and request rules (_cold_key)
        self._cold_cache: dict[tuple[Any, ...], tuple[tuple[Offer, ...], dict[str, int], int]] = {}
        # distinct values of the text columns `where=` conditions named (checked per request)
        self._where_values: dict[str, frozenset[Any]] = {}

    # get_params comes from Estimator; the repr summarises the built state instead
    def __repr__(self) -> str:
        srcs = ", ".join(f"{s.name}" for s in self.sources_)
        rules = ", ".join(r.name for r in self.rules_)
        return (f"Recommender(items={len(self.catalog):,}, sources=[{srcs}], rules=[{rules}], "
                f"segments={'yes' if self.segments_ is not None else 'no'})")

    # ------------------------------------------------------------------ requests
    def _request(self, customer: Any, basket: tuple[Any, ...], channel: str,
                 moment: str | None, context: Mapping[str, Any], at: np.datetime64
                 ) -> tuple[Request, Moment | None]:
        if customer is not None and not _scalar_id(customer):
            raise UpsellDataError(f"`customer` must be an id (str or int) or None; got "
                                  f"{customer!r}")
        customer = self._customer_id(customer)
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
                      context=context)
        return req, mom

    def _customer_id(self, customer: Any) -> Any:
        """The customer id as the history (else the segment map) holds it; unchanged if unknown."""
        if customer is None:
            return None
        for index in (None if self.history_ is None else self.history_.customers,
                      None if self.segments_ is None else self.segments_.customers):
            if index is not None:
                got = _as_indexed(index, customer)
                if got is not customer or position(index, got) >= 0:
                    return got
        return customer.item() if isinstance(customer, np.generic) else customer

    def _check_common(self, k: Any, channel: Any, moment: Any, context: Any, fill: Any,
                      exclude: Any, where: Any) -> tuple[int, str, Mapping[str, Any], list[Any]]:
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
        if fill and self.popularity_ is None:
            raise UpsellDataError("fill=True needs popularity: build the Recommender with "
                                  "history=<Transactions> or popularity=<PopularitySource>")
        extra: list[Any] = []
        ex = _id_tuple(exclude, "exclude", self.catalog.items)
        if ex:
            extra.append(Exclude(ex))
        w = check_where(where, self.catalog, self._where_values)
        if w is not None:
            extra.append(w)
        return k, channel, context, extra

    def recommend(self, customer: Any = None, *, basket: Any = (), k: int = 5,
                  channel: str = "web", moment: str | None = None,
                  context: Mapping[str, Any] | None = None, fill: bool | None = None,
                  exclude: Any = None, where: Mapping[str, Any] | None = None,
                  at: Any = None) -> OfferList:
        """The offers for one request, best first.

        Parameters
        ----------
        customer : id, optional
            As a web request sends it: for int customer ids, ``"17850"``,
            ``" 17850 "`` and ``"17850.0"`` find 17850 (every spelling
            :meth:`IdIndex.encode` accepts). None (anonymous) and customers
            unknown to the history work: they get the basket-based sources and,
            with an empty basket, their segment's popularity (see ``fill``);
            :attr:`OfferList.note` then says that the customer is unknown.
        basket : list of item ids, default ()
            Items in the basket, or the item on the product page (ids matched
            like ``customer``).
        k : int, default 5
            At most this many offers; fewer when fewer pass the rules and floors.
        channel : {"web", "email", "store"}, default "web"
            Selects the cue wording.
        moment : {"product_page", "cart", "checkout", "post_purchase"} or None
            Moment of the journey (see the moment policy); None: every kind fits.
        context : mapping, optional
            Passed to sources and rules unchanged.
        fill : bool or None, default None
            Top up from popularity within the segment when fewer than ``k``
            offers remain (fill offers still pass every rule; their reason says
            "popular ... (fill)"). None: only for a *cold* request, a customer
            unknown to the history (or anonymous) with an empty basket, which
            no other source can serve; True: always; False: never (a cold
            request then gets an empty list and a :attr:`OfferList.note`).
            Needs popularity (``history=`` Transactions or ``popularity=``);
            with None and no popularity, nothing is filled.
        exclude : list of item ids, optional
            Never offer these in this request.
        where : mapping, optional
            Catalog predicates for this request, e.g. ``{"category": ["Audio"],
            "price": (None, 50), "kind": ["accessory"]}`` (see :class:`Where`).
            A condition that cannot match (text for a numeric column, an empty
            range, only values a text column does not have) raises instead of
            returning no offers.
        at : datetime or ISO string, optional
            Time of the request (default now): frequency caps and timing.

        Returns
        -------
        OfferList
            A list of :class:`Offer` with ``removed`` counts per rule.

        Raises
        ------
        UpsellDataError
            For malformed arguments (the message names the argument), and a
            ``where`` condition that can never match (it names the column and value).

        Examples
        --------
        >>> from upsell import Catalog
        >>> cat = Catalog.from_records([{"item": "a"}, {"item": "b", "category": "x"}])
        >>> class Two:
        ...     name = "two"
        ...     def candidates(self, request, n):
        ...         return [Candidate("a", 2.0), Candidate("b", 1.0)]
        >>> rec = Recommender(catalog=cat, cross_sell=[Two()])
        >>> [o.item for o in rec.recommend(k=5, where={"category": ["x"]})]
        ['b']
        >>> print(rec.recommend(k=1, channel="store")[0].cue)
        Suggest a.
        """
        k, channel, context, extra = self._check_common(k, channel, moment, context, fill,
                                                        exclude, where)
        bk = _id_tuple(basket, "basket", self.catalog.items)
        req, mom = self._request(customer, bk, channel, moment, context, _as_time(at, "at"))
        return self._serve(req, mom, k, fill, extra)

    def recommend_batch(self, customers: Any = None, *, k: int = 5, channel: str = "email",
                        moment: str | None = "post_purchase",
                        context: Mapping[str, Any] | None = None, fill: bool | None = None,
                        exclude: Any = None, where: Mapping[str, Any] | None = None,
                        at: Any = None) -> Iterator[tuple[Any, OfferList]]:
        """Offers for many customers (e-mail campaigns), one at a time: memory stays bounded.

        With the default moment "post_purchase" the sequence source times offers
        by the lags customers typically wait (``Offer.due`` says when), so a
        follow-up e-mail offers what customers buy next, when they buy it.

        Parameters
        ----------
        customers : iterable of ids, optional
            Default: every customer of the history. Ids are matched as in
            :meth:`recommend` ("17850" finds 17850) and yielded as given.
        k, channel, moment, context, fill, exclude, where, at
            As in :meth:`recommend`; ``at`` is the send time, the same for all.

        Yields
        ------
        (customer, OfferList)
            Customers with no offers are yielded with an empty list.

        Examples
        --------
        >>> from upsell import Catalog
        >>> cat = Catalog.from_records([{"item": "a"}])
        >>> class One:
        ...     name = "one"
        ...     def candidates(self, request, n):
        ...         return [Candidate("a", 1.0)]
        >>> rec = Recommender(catalog=cat, cross_sell=[One()])
        >>> [(c, [o.item for o in offers]) for c, offers in
        ...  rec.recommend_batch(["x", "y"], moment=None)]
        [('x', ['a']), ('y', ['a'])]
        """
        k, channel, context, extra = self._check_common(k, channel, moment, context, fill,
                                                        exclude, where)
        when = _as_time(at, "at")
        if customers is None:
            if self.history_ is None:
                raise UpsellDataError("recommend_batch needs `customers` when the recommender "
                                      "has no history")
            ids: Iterable[Any] = self.history_.customers
        elif _scalar_id(customers):
            ids = [customers]
        else:
            ids = customers
        return self._batch(ids, k, channel, moment, context, fill, extra, when)

    def _batch(self, ids: Iterable[Any], k: int, channel: str, moment: str | None,
               context: Mapping[str, Any], fill: bool | None, extra: list[Any],
               when: np.datetime64
               ) -> Iterator[tuple[Any, OfferList]]:
        for cid in ids:
            req, mom = self._request(cid, (), channel, moment, context, when)
            yield cid, self._serve(req, mom, k, fill, extra)

    # ------------------------------------------------------------------ the pipeline
    def _pool_from_sources(self, req: Request, mom: Moment | None, removed: dict[str, int]
                           ) -> dict[int, PoolItem]:
        item_pos = self._pos
        kinds = self._kinds
        pool: dict[int, PoolItem] = {}
        n = self.n_candidates_
        for src in self.sources_:
            if mom is not None and mom.sources is not None and src.name not in mom.sources:
                continue
            got = src.candidates(req, n)
            floor = self.min_score_.get(src.name)
            is_up = src.name == self._upsell_name
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
            if not kept:
                continue
            norm = self._normalise([c.score for _, c in kept])
            w = self.weights_[src.name]
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
                item.components[f"source:{src.name}"] = ev.contribution
                item.score += ev.contribution
        return pool

    def _normalise(self, scores: list[float]) -> list[float]:
        how = self.normalize_
        if how == "max":
            top = max(scores)
            return [max(s, 0.0) / top if top > 0 else 0.0 for s in scores]
        if how == "minmax":
            lo, hi = min(scores), max(scores)
            return [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in scores]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        out = [0.0] * len(scores)
        for r, i in enumerate(order):
            out[i] = 1.0 - r / len(scores)
        return out

    def _prepare(self, pool: dict[int, PoolItem], req: Request, mom: Moment | None,
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
            if mom is not None:
                if not mom.allows(c.kind, kinds[j]):
                    del pool[i]
                    removed["moment"] = removed.get("moment", 0) + 1
                    continue
                c.effects.append(("moment", f"{kinds[j]} fits {req.moment}"))
            if strategies is not None and self.segment_boost_ > 0:
                st = strategies[c.kind]
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
            i = self._pos(x)
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
            i = self._pos(x)
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

    def _cold_key(self, req: Request, k: int, extra: list[Any]) -> tuple[Any, ...] | None:
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
        return (req.segment, req.moment, req.channel, k, tuple(extra_key))

    def _serve(self, req: Request, mom: Moment | None, k: int, fill: bool | None,
               extra: list[Any]) -> OfferList:
        removed: dict[str, int] = {}
        items = self._pool_from_sources(req, mom, removed)
        cold = not req.known and not req.basket
        if fill is None:
            fill = cold and self.popularity_ is not None
        key = self._cold_key(req, k, extra) if (cold and fill and not items and not removed) \
            else None
        if key is not None:
            hit = self._cold_cache.get(key)
            if hit is not None:
                cached, was_removed, n_filled = hit
                return OfferList(cached, removed=dict(was_removed),
                                 note=self._note(req, cold, fill, n_filled, len(cached)))
        for inj in self._injectors:
            for item in inj(req):
                i = self._pos(item)
                if i >= 0 and i not in items:
                    p = PoolItem(i, self.catalog.items.ids[i].item(), "cross_sell", 0.0)
                    p.evidence.append(Evidence("promotion", 0.0, 0.0, 0.0, {}))
                    items[i] = p
        self._prepare(items, req, mom, removed)
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
            self._fill(req, mom, k, chosen, set(items), extra, counts, removed)
        offers = [self._offer(c, req) for c in chosen]
        n_filled = len(chosen) - n_chosen
        if key is not None:
            if len(self._cold_cache) >= _COLD_CACHE_SIZE:
                self._cold_cache.clear()  # bounded: many distinct where/exclude keys
            self._cold_cache[key] = (tuple(offers), dict(removed), n_filled)
        return OfferList(offers, removed=removed,
                         note=self._note(req, cold, fill, n_filled, len(chosen)))

    def _note(self, req: Request, cold: bool, fill: bool, n_filled: int, n: int) -> str:
        """One sentence on what the caller should know about this request."""
        if not cold:
            return "" if n else "no source had an offer that passed the rules"
        who = "an anonymous visitor" if req.customer is None else (
            f"customer {req.customer!r} is not in the history" if self.history_ is not None
            else f"customer {req.customer!r}: the recommender has no history")
        seg = f" of segment {req.segment!r}" if req.segment else ""
        if n_filled:
            return f"{who} and the basket is empty: {n_filled} popular item(s){seg} (fill)"
        if n:
            return f"{who} and the basket is empty"
        if self.popularity_ is None:
            return f"{who} and the basket is empty: no popularity to fill from"
        if not fill:
            return f"{who} and the basket is empty: nothing shown (fill=False)"
        return f"{who} and the basket is empty: every popular item was filtered out"

    def _pos(self, item: Any) -> int:
        """Catalog position of an item id; -1 when unknown or of the other id type."""
        if not isinstance(item, self._item_type) or isinstance(item, bool):
            if not isinstance(item, np.generic):
                return -1
            item = item.item()
            if not isinstance(item, self._item_type) or isinstance(item, bool):
                return -1
        return self._item_pos.get(item, -1)

    def _fill_ranking(self, segment: str | None, mom: Moment | None
                      ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(eligible catalog positions best first, their buyers, best buyers, segment size).

        Eligible: a kind the moment allows as cross-sell and no known stock <= 0.
        Computed once per segment and moment, then cached (requests only read it).
        """
        key = (segment, None if mom is None else mom.cross_sell)
        got = self._fill_cache.get(key)
        if got is None:
            pop = self.popularity_
            assert pop is not None
            order, buyers, size = pop.ranked(segment)
            top = float(buyers[0]) if buyers.size else 0.0
            ok = ~(self.catalog.stock[order] <= 0)
            if mom is not None:
                ok &= np.isin(self.catalog.kind[order], mom.cross_sell)
            order, buyers = order[ok].astype(np.int64), buyers[ok]
            order.flags.writeable = False
            buyers.flags.writeable = False
            got = (order, buyers, top, size)
            self._fill_cache[key] = got  # a race only computes the same value twice
        return got

    def _fill(self, req: Request, mom: Moment | None, k: int, chosen: list[PoolItem],
              seen: set[int], extra: list[Any], counts: dict[str, dict[Any, int]],
              removed: dict[str, int]) -> None:
        order, buyers, top, size = self._fill_ranking(req.segment, mom)
        if order.size == 0:
            return
        skip = set(seen)
        for ids in (req.basket, req.owned):
            for x in ids:
                i = self._pos(x)
                if i >= 0:
                    skip.add(i)
        skip_arr = np.fromiter(skip, dtype=np.int64, count=len(skip))
        last = chosen[-1].score if chosen else None
        start, step = 0, 4 * k
        cat_ids = self.catalog.items.ids
        seg = req.segment
        pos = np.empty(0, dtype=np.int64)
        while len(chosen) < k:
            # positions start .. start+step of the eligible ranking minus ``skip``: a prefix
            # of start + step + len(skip) entries always holds them (no catalog-size work)
            head = order[:start + step + skip_arr.size]
            pos = np.flatnonzero(~np.isin(head, skip_arr)) if skip_arr.size else \
                np.arange(head.size)
            if start >= pos.size:
                break
            fresh: dict[int, PoolItem] = {}
            for j in pos[start:start + step].tolist():
                i = int(order[j])
                b = float(buyers[j])
                p = PoolItem(i, cat_ids[i].item(), "cross_sell", 0.0)
                z = b / top if top > 0 else 0.0
                p.evidence.append(Evidence("popular", b, z, 0.1,
                                           {"share": b / size, "segment": seg}))
                p.components["fill"] = 0.1 * z
                p.score = 0.1 * z
                p.fill = True
                fresh[i] = p
            start += step
            step *= 4
            self._prepare(fresh, req, mom, removed)
            # fill does not get the segment bonus: it is not a relevance signal
            for p in fresh.values():
                if "segment" in p.components:
                    p.score -= p.components.pop("segment")
                    p.effects = [e for e in p.effects if e[0] != "segment"]
            pool = OfferPool(list(fresh.values()), catalog=self.catalog, k=k,
                             offer_log=self.offer_log)
            self._run_rules(pool, req, extra)
            for name, m in pool.removed.items():
                removed[name] = removed.get(name, 0) + m
            ordered = sorted(pool, key=lambda c: (-c.score, c.index))
            for p in ordered:
                if last is not None and p.score > last:
                    p.components["fill_cap"] = last - p.score
                    p.score = last
                p.effects.append(("fill", "popular in segment (fill)"))
            before = len(chosen)
            self._select(ordered, k, chosen, pool.limits, pool.quotas, counts, removed)
            if len(chosen) > before:
                last = chosen[-1].score

    # ------------------------------------------------------------------ explain
    def _offer(self, c: PoolItem, req: Request) -> Offer:
        cat = self.catalog
        i = c.index
        ev = tuple(sorted(c.evidence, key=lambda e: -e.contribution))
        primary = ev[0] if ev else None
        if c.fill:
            style = "popular"
        elif c.promoted and (primary is None or primary.source == "promotion"):
            style = "promoted"
        elif primary is not None:
            style = self._styles.get(primary.source, "default")
        else:
            style = "default"
        detail: Mapping[str, Any] = primary.detail if primary is not None else {}
        due = next((e.detail["due"] for e in ev if "due" in e.detail), None) \
            if req.timed else None
        values = self._cue_values(c, req, detail, due)
        cue = self.cues_.render(req.channel, style, values)
        parts = []
        for e in ev:
            if c.fill and e.source == "popular" and "share" in e.detail:
                who = f"{req.segment} customers" if req.segment else "customers"
                txt = f"popular: bought by {float(e.detail['share']):.1%} of {who} (fill)"
            else:
                txt = f"{e.source} {_score(e.raw)}"
            because = e.detail.get("because")
            if because:
                txt += f" (after {_names([self._name(b) for b in because[:4]], total=len(because))})"
            parts.append(txt)
        summary = " + ".join(parts) or "no source"
        if c.strategy:
            summary += f"; favoured for {req.segment}: {c.strategy}"
        if req.moment:
            summary += f"; moment {req.moment}"
        reason = Reason(summary=summary, evidence=ev, segment=req.segment, strategy=c.strategy,
                        moment=req.moment, rules=tuple(c.effects))
        return Offer(
            item=c.item, name=str(cat.name[i]), kind=c.kind, item_kind=str(cat.kind[i]),
            score=float(c.score), components=dict(c.components),
            sources=tuple(e.source for e in ev), probability=float(c.probability),
            expected_revenue=float(c.expected_revenue), expected_margin=float(c.expected_margin),
            reason=reason, cue=cue, channel=req.channel, moment=req.moment,
            due=due if isinstance(due, np.datetime64) else None)

    def _name(self, item: Any) -> str:
        i = self._pos(item)
        return str(self.catalog.name[i]) if i >= 0 else str(item)

    def _cue_values(self, c: PoolItem, req: Request, detail: Mapping[str, Any],
                    due: Any) -> dict[str, str]:
        cat = self.catalog
        i = c.index
        v: dict[str, str] = {
            "name": str(cat.name[i]), "item": str(c.item), "price": money(float(cat.price[i])),
            "category": str(cat.category[i]),
            "segment": (req.segment or "").replace("_", " "), "strategy": c.strategy or "",
        }
        because = detail.get("because")
        if because:
            names = [self._name(b) for b in because[:4]]
            if len(because) > 3:  # a long basket: the first two and a count, one readable line
                v["because"] = f"{names[0]}, {names[1]} and {len(because) - 2:,} more"
            else:
                v["because"] = " and ".join(names) if len(names) <= 2 else \
                    f"{names[0]}, {names[1]} and {names[2]}"
        if "base" in detail:
            v["base"] = self._name(detail["base"])
        if "price_diff" in detail:
            v["price_diff"] = money(float(detail["price_diff"]))
        if "share" in detail:
            v["share_pct"] = f"{float(detail['share']) * 100:.0f}%"
        if "lag_days" in detail:
            lag = float(detail["lag_days"])
            v["lag_days"] = f"{lag:.0f}"
            if isinstance(due, np.datetime64):
                start = int(due.astype("datetime64[s]").astype(np.int64)) - round(lag * 86400)
                age = (int(req.at.astype("datetime64[s]").astype(np.int64)) - start) / 86400.0
                v["age_days"] = f"{max(age, 0.0):.0f}"
        if isinstance(due, np.datetime64) and not np.isnat(due):
            v["due"] = str(due.astype("datetime64[D]"))
        if detail.get("cue"):
            v["source_cue"] = str(detail["cue"])
        return v

    # ------------------------------------------------------------------ files
    #: Where the offer log of a loaded recommender was when it was saved
    #: (``{"sqlite": path, "table": name}``), or None; :meth:`load` never opens it.
    saved_offer_log_: dict[str, str] | None = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole recommender as one directory of ``.npz`` + JSON files, atomically.

        The directory holds ``recommender.json`` (format version, parameters,
        rules, moments, cue templates, opportunity matrix, file sizes and
        SHA-256), ``catalog.npz``, ``history.npz``, ``segments.npz``,
        ``popularity.npz`` and one file per source under ``sources/``. It is
        written next to ``path``, flushed to disk and swapped in, replacing an
        existing saved recommender atomically.

        Raises
        ------
        UpsellDataError
            A source without ``save``/``load`` (or not registered), or a rule that
            cannot be saved; the message names it.
        ModelFileError
            The folder does not exist, or ``path`` is something else than a saved
            recommender.

        Examples
        --------
        >>> import os, tempfile
        >>> from upsell import Catalog
        >>> rec = Recommender(catalog=Catalog.from_records([{"item": "a"}]))
        >>> p = os.path.join(tempfile.mkdtemp(), "rec")
        >>> rec.save(p)
        >>> sorted(os.listdir(p))
        ['catalog.npz', 'recommender.json']
        """
        types = source_types()
        plan = []
        for pos, s in enumerate(self.sources_):
            cls = type(s)
            if not (callable(getattr(s, "save", None)) and callable(getattr(cls, "load", None))):
                raise UpsellDataError(
                    f"source {s.name!r} ({cls.__name__}) cannot be saved: it has no save(path) "
                    f"and load(path); add them and register the class with "
                    f"upsell.recommend.register_source, or rebuild the recommender in code")
            if types.get(cls.__qualname__) is not cls:
                raise UpsellDataError(
                    f"source {s.name!r} ({cls.__name__}) cannot be saved: register its class "
                    f"with upsell.recommend.register_source so that load can rebuild it")
            get_config = getattr(s, "get_config", None)
            cfg = get_config() if callable(get_config) else {}
            plan.append((f"sources/{pos:02d}_{s.name}.npz", s, cfg))
        rules = [rule_to_config(r) for r in self.rules_]
        log = self.offer_log
        log_doc = {"sqlite": os.path.abspath(log.path), "table": log.table} \
            if isinstance(log, SQLiteOfferLog) else None
        cat = self.catalog

        def fill(tmp: str) -> None:
            write_model(os.path.join(tmp, "catalog.npz"), kind="Catalog", params={},
                        arrays={**index_arrays(cat.items, "items"),
                                **{f"c:{k}": v for k, v in cat.to_arrays().items()}},
                        meta={"item_kind": cat.items.kind})
            if self.history_ is not None:
                self.history_.save(os.path.join(tmp, "history.npz"))
            if self.segments_ is not None:
                self.segments_.save(os.path.join(tmp, "segments.npz"))
            if self.popularity_ is not None:
                self.popularity_.save(os.path.join(tmp, "popularity.npz"))
            if plan:
                os.mkdir(os.path.join(tmp, "sources"))
            for rel, s, _cfg in plan:
                s.save(os.path.join(tmp, rel))  # type: ignore[attr-defined]
            files = {}
            for root, _dirs, names in os.walk(tmp):
                for n in names:
                    full = os.path.join(root, n)
                    rel = os.path.relpath(full, tmp).replace(os.sep, "/")
                    files[rel] = {"size": os.path.getsize(full), "sha256": file_digest(full)}
            doc = {
                "format_version": _FORMAT, "kind": "Recommender",
                "params": {"weights": self.weights_, "min_score": self.min_score_,
                           "normalize": self.normalize_, "segment_boost": self.segment_boost_,
                           "default_probability": self.default_probability_,
                           "candidates_per_source": self.n_candidates_},
                "sources": [{"type": type(s).__qualname__, "name": s.name, "config": cfg,
                             "file": rel, "upsell": s.name == self._upsell_name}
                            for rel, s, cfg in plan],
                "rules": rules, "moments": self.moments_.to_dict(),
                "cue_templates": self.cues_.to_dict(),
                "opportunity": None if self.opportunity_ is None else self.opportunity_.to_dict(),
                "offer_log": log_doc, "files": files,
            }
            try:
                text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise UpsellDataError(f"recommender settings are not JSON-serialisable ({exc})") \
                    from None
            with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as fh:
                fh.write(text)

        write_directory(path, fill)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, offer_log: OfferLog | None = None,
             verify: bool = True) -> Recommender:
        """Read a recommender written by :meth:`save`; it gives identical offers.

        The folder is untrusted input (see ``docs/hardening.md``): every path the
        manifest names must stay inside it (``..``, absolute paths and symbolic
        links that lead out are refused), every file the recommender needs must
        be listed and present, every array and parameter is checked as strictly
        as after a fresh fit, decompression is bounded, and loading has no side
        effect: nothing is written, no database is opened, nothing goes over the
        network.

        Parameters
        ----------
        path : path-like
            The directory.
        offer_log : OfferLog, optional
            The log for frequency caps. Attach it here: the SQLite log the saved
            recommender used is not opened on load (opening a database named in
            a file can create or change it). Its location, as saved, is in
            ``saved_offer_log_`` (``{"sqlite": path, "table": name}`` or None), so
            a caller who trusts the folder can reopen it with
            ``OfferLog.sqlite(rec.saved_offer_log_["sqlite"])``. Loading such a
            recommender without ``offer_log`` warns (:class:`UpsellWarning`) when
            its rules include a frequency cap, which then caps nothing.
        verify : bool, default True
            Check every file's SHA-256 against the manifest; each byte is hashed
            once (the ``.npz`` files then skip their own array digests). False
            skips hashing: sizes, the zip structure and every array's contents
            are still checked, so truncation and hostile contents are caught but
            not every flipped byte. The checksums sit in the same folder, so they
            catch damage, not a deliberate edit: the content checks do that.

        Notes
        -----
        Large arrays are memory-mapped read-only rather than copied (the files
        are uncompressed ``.npz``), and the customer and item id maps are loaded
        once and shared by the history, the segments and every source. The
        files must stay in place while the recommender is used; saving a new
        recommender over the directory is safe (on POSIX the mapped files live
        on until the old recommender is gone). A server that loads once and then
        serves should call :func:`gc.freeze` after loading, so that garbage
        collections do not walk the loaded objects on every request.

        Raises
        ------
        ModelFileError
            Missing, partial, corrupted or hostile directory (a path leaving it, a
            file it holds but the manifest does not list, contents a fit could not
            have produced), a newer format, unregistered source or rule types.
            The message names the file, the entry and the problem.

        Examples
        --------
        >>> Recommender.load("/nonexistent/rec")
        Traceback (most recent call last):
        ...
        upsell.exceptions.ModelFileError: recommender directory '/nonexistent/rec' does not exist
        """
        root = os.fspath(path)
        if not os.path.isdir(root):
            raise ModelFileError(f"recommender directory {root!r} does not exist", file=root,
                                 problem="does not exist")
        man = os.path.join(root, MANIFEST)
        if not os.path.isfile(man):
            raise ModelFileError(f"{root!r} is not a saved recommender or is partial: "
                                 f"{MANIFEST} is missing", file=man, problem="missing")
        # the manifest too must lie inside the folder (a symlink out of it is refused)
        man = resolve_inside(root, MANIFEST, what="manifest")
        try:
            doc = read_json(man)
            if not isinstance(doc, dict) or doc.get("kind") != "Recommender":
                raise fail(man, "kind", "does not describe a Recommender")
            version = doc.get("format_version")
            if type(version) is not int or not 1 <= version <= _FORMAT:
                raise ModelFileError(
                    f"{root!r} has format version {version!r}; this upsell reads up to "
                    f"{_FORMAT}: upgrade upsell to load it", file=man, member="format_version",
                    problem=f"format version {version!r}")
            files = _checked_files(root, man, doc, verify)
            rec = cls._from_doc(root, doc, files, offer_log)
        except ModelFileError as exc:
            if exc.file is None:  # raised without knowing the folder (resolve_inside, rules)
                raise ModelFileError(f"{root!r}: {exc}", file=man, member=exc.member,
                                     problem=exc.problem) from None
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
                RecursionError, UpsellDataError) as exc:
            raise ModelFileError(f"{root!r} is corrupted: its content does not make a "
                                 f"Recommender ({type(exc).__name__}: {exc})", file=root,
                                 problem=f"{type(exc).__name__}: {exc}") from None
        if offer_log is None and rec.saved_offer_log_ is not None and any(
                isinstance(r, FrequencyCap) for r in rec.rules_):
            import warnings

            from upsell.exceptions import UpsellWarning

            warnings.warn(
                f"{root!r} was saved with the SQLite offer log "
                f"{rec.saved_offer_log_['sqlite']!r}; load does not open it, so its frequency "
                f"caps are off: pass offer_log=OfferLog.sqlite(rec.saved_offer_log_['sqlite']) "
                f"(or another log) to keep them", UpsellWarning, stacklevel=2)
        return rec

    @classmethod
    def _from_doc(cls, root: str, doc: dict[str, Any], files: dict[str, str],
                  offer_log: OfferLog | None) -> Recommender:
        from upsell.segments import OpportunityMatrix

        man = os.path.join(root, MANIFEST)
        # the manifest has checked each file's SHA-256 (when asked): no second digest
        opts: dict[str, Any] = {"verify": False, "mmap": True}
        cat_file = files["catalog.npz"]
        _, arrs = read_model(cat_file, kind="Catalog", **opts)
        items = index_from_arrays(arrs, "items", name="item")
        for key, col in arrs.items():  # the Catalog constructor checks values and meaning
            if not key.startswith("c:"):
                raise fail(cat_file, key, "is not a catalog column")
            check_array(col, file=cat_file, member=key, kind="fbU", shape=(len(items),),
                        finite=False)
        catalog = Catalog.from_saved(items, {k[2:]: v for k, v in arrs.items()})
        # one customer map and one item map, shared by every part that holds an equal one
        shared: list[IdIndex] = [items]
        opts["ids"] = shared
        history = CustomerHistory.load(files["history.npz"], **opts) \
            if "history.npz" in files else None
        if history is not None and history.items is not items:
            if history.items != items:
                raise fail(files["history.npz"], "items", "holds other items than the catalog")
            history = CustomerHistory(history.customers, items, history.last_bought)
        segments = SegmentMap.load(files["segments.npz"], **opts) \
            if "segments.npz" in files else None
        popularity = PopularitySource.load(files["popularity.npz"], **opts) \
            if "popularity.npz" in files else None
        types = source_types()
        cross: list[Any] = []
        upsell = None
        specs = doc.get("sources")
        if not isinstance(specs, list):
            raise fail(man, "sources", "must be a list")
        for pos, s in enumerate(specs):
            if not (isinstance(s, dict) and isinstance(s.get("type"), str)
                    and isinstance(s.get("name"), str) and isinstance(s.get("file"), str)
                    and isinstance(s.get("config", {}), dict)
                    and isinstance(s.get("upsell", False), bool)):
                raise fail(man, f"sources[{pos}]", "needs a type, a name and a file (strings), "
                                                   "a config object and an upsell flag")
            kls = types.get(s["type"])
            if kls is None:
                raise ModelFileError(
                    f"{root!r}: source {s['name']!r} has type {s['type']!r}, which is not "
                    f"registered; import its module and register_source(its class) first",
                    file=man, member=f"sources[{pos}]", problem="unregistered source type")
            if s["file"] not in files:
                raise fail(man, f"sources[{pos}]", f"names the file {s['file']!r}, which the "
                                                   f"manifest's `files` does not list")
            load = kls.load  # type: ignore[attr-defined]
            accepted = _accepted(load, opts)
            src = load(files[s["file"]], **dict(s.get("config", {})), **accepted)
            if s.get("upsell"):
                if upsell is not None:
                    raise fail(man, f"sources[{pos}]", "a second upsell source")
                upsell = src
            else:
                cross.append(src)
        if not isinstance(doc.get("rules"), list):
            raise fail(man, "rules", "must be a list")
        rules = [rule_from_config(r) if isinstance(r, dict)
                 else _raise(fail(man, "rules", f"entry {r!r} is not an object"))
                 for r in doc["rules"]]
        ld = doc.get("offer_log")
        saved_log = None
        if isinstance(ld, dict) and isinstance(ld.get("sqlite"), str):
            saved_log = {"sqlite": ld["sqlite"], "table": str(ld.get("table",
                                                                     "upsell_offer_events"))}
        for key in ("params", "moments", "cue_templates"):
            if not isinstance(doc.get(key), dict):
                raise fail(man, key, "must be an object")
        prm = doc["params"]
        opp = doc.get("opportunity")
        rec = cls(catalog=catalog, cross_sell=cross, upsell=upsell, segments=segments,
                  opportunity=None if opp is None else OpportunityMatrix.from_json(opp),
                  rules=rules, weights=prm["weights"], min_score=prm["min_score"] or None,
                  normalize=prm["normalize"], cue_templates=doc["cue_templates"],
                  moments=MomentPolicy.from_dict(doc["moments"]), history=history,
                  popularity=popularity, offer_log=offer_log,
                  segment_boost=prm["segment_boost"],
                  default_probability=prm["default_probability"],
                  candidates_per_source=prm["candidates_per_source"])
        rec.saved_offer_log_ = saved_log
        return rec
