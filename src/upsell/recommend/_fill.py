"""The popularity fill of a request: the segment's popular items after the sources' offers.

Split from :mod:`upsell.recommend._pipeline` (its ``serve`` calls :func:`fill`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.recommend._core import Evidence, OfferPool, PoolItem, Request
from upsell.recommend.moments import Moment

__all__ = ["fill", "fill_ranking"]


def fill_ranking(pipe: Any, segment: str | None, mom: Moment | None
                 ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(eligible catalog positions best first, their buyers, best buyers, segment size).

    Eligible: a kind the moment allows as cross-sell and no known stock <= 0.
    Computed once per segment and moment, then cached (requests only read it).
    """
    key = (segment, None if mom is None else mom.cross_sell)
    got = pipe._fill_cache.get(key)
    if got is None:
        pop = pipe.popularity_
        assert pop is not None
        order, buyers, size = pop.ranked(segment)
        top = float(buyers[0]) if buyers.size else 0.0
        ok = ~(pipe.catalog.stock[order] <= 0)
        if mom is not None:
            ok &= np.isin(pipe.catalog.kind[order], mom.cross_sell)
        order, buyers = order[ok].astype(np.int64), buyers[ok]
        order.flags.writeable = False
        buyers.flags.writeable = False
        got = (order, buyers, top, size)
        pipe._fill_cache[key] = got  # a race only computes the same value twice
    return got


def fill(pipe: Any, req: Request, mom: Moment | None, k: int, chosen: list[PoolItem],
         seen: set[int], extra: list[Any], counts: dict[str, dict[Any, int]],
         removed: dict[str, int]) -> None:
    """Fill ``chosen`` up to ``k`` with the segment's popular items, through the rules, limits
    and quotas, scored no higher than the last chosen offer."""
    order, buyers, top, size = fill_ranking(pipe, req.segment, mom)
    if order.size == 0:
        return
    skip = set(seen)
    for ids in ((req.basket,) if req.include_owned else (req.basket, req.owned)):
        for x in ids:
            i = pipe.pos(x)
            if i >= 0:
                skip.add(i)
    skip_arr = np.fromiter(skip, dtype=np.int64, count=len(skip))
    last = chosen[-1].score if chosen else None
    start, step = 0, 4 * k
    cat_ids = pipe.catalog.items.ids
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
        pipe.prepare(fresh, req, mom, removed)
        # fill does not get the segment bonus: it is not a relevance signal
        for p in fresh.values():
            if "segment" in p.components:
                p.score -= p.components.pop("segment")
                p.effects = [e for e in p.effects if e[0] != "segment"]
        pool = OfferPool(list(fresh.values()), catalog=pipe.catalog, k=k,
                         offer_log=pipe.offer_log)
        pipe._run_rules(pool, req, extra)
        for name, m in pool.removed.items():
            removed[name] = removed.get(name, 0) + m
        ordered = sorted(pool, key=lambda c: (-c.score, c.index))
        for p in ordered:
            if last is not None and p.score > last:
                p.components["fill_cap"] = last - p.score
                p.score = last
            p.effects.append(("fill", "popular in segment (fill)"))
        before = len(chosen)
        pipe._select(ordered, k, chosen, pool.limits, pool.quotas, counts, removed)
        if len(chosen) > before:
            last = chosen[-1].score
