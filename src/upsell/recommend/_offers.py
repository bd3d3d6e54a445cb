"""An offer as people read it: the reason summary, the sales cue and its fields."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from upsell.recommend._blend_reasons import resolve_later
from upsell.recommend._core import Offer, PoolItem, Reason, Request
from upsell.recommend.explain import money

__all__ = ["evidence_text", "render_offer", "render_offers"]


def _names(names: Sequence[str], limit: int = 3, total: int | None = None) -> str:
    """Up to ``limit`` names, then "…and N more" (long baskets stay one readable line)."""
    n = len(names) if total is None else total
    if n <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} \u2026and {n - limit:,} more"


#: How a collaborative-filtering model's evidence reads (its score has no unit people know).
_CF_WORDS = {"ItemKNN": "similar to what you bought",
             "RepeatBlend": "similar to what you buy often", "Popular": "popular"}
_CF_DEFAULT = "bought by customers who buy what you buy"


def evidence_text(e: Any, name: Callable[[Any], str]) -> str:
    """One source's evidence for an offer in words, its source named in brackets.

    Bundle rules (``detail`` with ``metric`` and ``because``) say what the offer is
    bought with and how strongly; a collaborative-filtering model (``detail["model"]``)
    says what kind of likeness it found (its raw score has no unit a person reads);
    any other source keeps its score, with the items it answers in brackets.

    Examples
    --------
    >>> from upsell.recommend import Evidence
    >>> evidence_text(Evidence("bundles", 5.48, 1.0, 1.0, {"because": ("t",), "metric": "lift"}),
    ...               str.upper)
    'bought with T, 5.5x as often as by chance (bundles)'
    >>> evidence_text(Evidence("itemknn", 26603.0, 1.0, 1.0, {"model": "ItemKNN"}), str)
    'similar to what you bought (itemknn)'
    >>> evidence_text(Evidence("rules", 2.0, 1.0, 1.0, {"because": ("tea",)}), str)
    'rules 2 (after tea)'
    """
    detail = e.detail
    because = detail.get("because")
    names = (_names([name(b) for b in because[:4]], total=len(because))
             if because else "")
    metric = detail.get("metric")
    raw = float(e.raw)
    if because and isinstance(metric, str) and raw == raw:
        if metric == "lift":
            return f"bought with {names}, {raw:.1f}x as often as by chance ({e.source})"
        if metric == "confidence":
            return f"bought with {names} in {raw:.0%} of their orders ({e.source})"
        return f"bought with {names}, {metric} {_score(raw)} ({e.source})"
    model = detail.get("model")
    if isinstance(model, str) and not because:
        return f"{_CF_WORDS.get(model, _CF_DEFAULT)} ({e.source})"
    txt = f"{e.source} {_score(raw)}"
    return f"{txt} (after {names})" if because else txt


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


def render_offers(pipe: Any, chosen: Sequence[PoolItem], req: Request,
                  propensities: Sequence[float] | None = None,
                  explored: Sequence[bool] | None = None) -> list[Offer]:
    """The offers shown for the chosen pool items, in order.

    A learned blend leaves its reasons unwritten until here (``Later``): they are
    put in words for the chosen items only, in one batch per request.
    ``propensities`` and ``explored`` (one per chosen item, from an exploring
    rule) go into each offer as it is built: every offer is built once.
    """
    resolve_later(chosen)
    if propensities is None:
        return [render_offer(pipe, c, req) for c in chosen]
    flags = explored if explored is not None else [False] * len(chosen)
    return [render_offer(pipe, c, req, propensity=p, explored=e)
            for c, p, e in zip(chosen, propensities, flags, strict=True)]


def render_offer(pipe: Any, c: PoolItem, req: Request, *, propensity: float = 1.0,
                 explored: bool = False) -> Offer:
    """The offer shown for a pool item: kind, score and parts, money, reason, cue.

    The kind is the pool item's, decided when the pool was prepared
    (``Pipeline.prepare``): a "buy again" offer (kind ``"replenish"``) gets the
    cue style ``replenish``.
    """
    if not isinstance(c.blend_reason, str):
        c.blend_reason = str(c.blend_reason)
    kind = c.kind
    cat = pipe.catalog
    i = c.index
    ev = tuple(sorted(c.evidence, key=lambda e: -e.contribution))
    primary = ev[0] if ev else None
    if c.fill:
        style = "popular"
    elif c.promoted and (primary is None or primary.source == "promotion"):
        style = "promoted"
    elif kind == "replenish":
        style = "replenish"
    elif primary is not None:
        style = pipe.styles.get(primary.source, "default")
    else:
        style = "default"
    detail: Mapping[str, Any] = primary.detail if primary is not None else {}
    due = next((e.detail["due"] for e in ev if "due" in e.detail), None) \
        if req.timed else None
    values = _cue_values(pipe, c, req, detail, due)
    cue = pipe.cues_.render(req.channel, style, values)
    parts = []
    for e in ev:
        if c.fill and e.source == "popular" and "share" in e.detail:
            who = f"{req.segment} customers" if req.segment else "customers"
            parts.append(f"popular: bought by {float(e.detail['share']):.1%} of {who} (fill)")
        else:
            parts.append(evidence_text(e, lambda b: _name(pipe, b)))
    summary = c.blend_reason or " + ".join(parts) or "no source"
    if kind == "replenish" and not c.blend_reason:
        summary = f"bought before; {summary}"
    if c.strategy:
        summary += f"; favoured for {req.segment}: {c.strategy}"
    if req.moment:
        summary += f"; moment {req.moment}"
    reason = Reason(summary=summary, evidence=ev, segment=req.segment, strategy=c.strategy,
                    moment=req.moment, rules=tuple(c.effects))
    return Offer(
        item=c.item, name=str(cat.name[i]), kind=kind, item_kind=str(cat.kind[i]),
        score=float(c.score), components=dict(c.components),
        sources=tuple(e.source for e in ev), probability=float(c.probability),
        expected_revenue=float(c.expected_revenue), expected_margin=float(c.expected_margin),
        reason=reason, cue=cue, channel=req.channel, moment=req.moment,
        due=due if isinstance(due, np.datetime64) else None,
        propensity=float(propensity), explored=bool(explored))

def _name(pipe: Any, item: Any) -> str:
    i = pipe.pos(item)
    return str(pipe.catalog.name[i]) if i >= 0 else str(item)

def _cue_values(pipe: Any, c: PoolItem, req: Request, detail: Mapping[str, Any],
                due: Any) -> dict[str, str]:
    cat = pipe.catalog
    i = c.index
    v: dict[str, str] = {
        "name": str(cat.name[i]), "item": str(c.item), "price": money(float(cat.price[i])),
        "category": str(cat.category[i]),
        "segment": (req.segment or "").replace("_", " "), "strategy": c.strategy or "",
    }
    because = detail.get("because")
    if because:
        names = [_name(pipe, b) for b in because[:4]]
        if len(because) > 3:  # a long basket: the first two and a count, one readable line
            v["because"] = f"{names[0]}, {names[1]} and {len(because) - 2:,} more"
        else:
            v["because"] = " and ".join(names) if len(names) <= 2 else \
                f"{names[0]}, {names[1]} and {names[2]}"
    if "base" in detail:
        v["base"] = _name(pipe, detail["base"])
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
    if c.blend_reason:
        v["blend_reason"] = c.blend_reason
    return v

