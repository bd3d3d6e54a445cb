"""Offer reasons of the learned blend: the strongest feature contributions, in words."""

from __future__ import annotations

import math

import numpy as np

from upsell.recommend._blend_features import FEATURE_GROUPS, feature_names

__all__ = ["priority_contrib", "reason_texts"]

_NAMES = feature_names()
_COL = {n: j for j, n in enumerate(_NAMES)}
# the groups that say something about the item for this customer (customer-only
# features shift every candidate alike and explain nothing about one offer)
_GENERIC = "customers who bought what you bought buy it"
_SPOKEN = ("repeat", "copurchase", "sources", "popularity", "price", "segment", "catalog")


class _Row:
    """Feature values of one row by name, read on demand."""

    __slots__ = ("row",)

    def __init__(self, row: np.ndarray) -> None:
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


def _phrase(group: str, feat: str, row: np.ndarray, best_last: int, names: np.ndarray) -> str:
    v = _Row(row)
    times = v["times_bought"]
    if group == "repeat" or feat == "repeat_rank":
        if times <= 0:
            return ""
        since = v["days_since_bought"]
        every = v["repurchase_interval"]
        # an interval under a day is several lines of one visit, not a rhythm to cite
        if math.isfinite(every) and every >= 1:
            return f"bought every ~{_span(every)}, last {_ago(since)}"
        return f"bought {times:,.0f} time{'s' if times != 1 else ''}, last {_ago(since)}"
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
                 names: np.ndarray, max_parts: int = 2) -> list[str]:
    """One reason per row: the phrases of its strongest positive feature contributions.

    Contributions of one group are summed; groups are taken by decreasing sum,
    and at most ``max_parts`` phrases are joined with "; ". Rows with no positive
    contribution that can be put in words get "ranked by the learned blend".
    """
    groups = [g for g in _SPOKEN]
    G = np.zeros((X.shape[0], len(groups)))
    top_feat = []
    for gi, g in enumerate(groups):
        cols = [j for j, n in enumerate(_NAMES) if FEATURE_GROUPS[n] == g]
        G[:, gi] = contrib[:, cols].sum(axis=1)
        sub = contrib[:, cols]
        top_feat.append([_NAMES[cols[j]] for j in np.argmax(sub, axis=1)])
    out = []
    for r in range(X.shape[0]):
        parts: list[str] = []
        for gi in np.argsort(-G[r], kind="stable").tolist():
            if G[r, gi] <= 0:
                break
            text = _phrase(groups[gi], top_feat[gi][r], X[r], int(best_last[r]), names)
            if text and text not in parts:
                parts.append(text)
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
    w = np.zeros(len(_NAMES))
    for rank, g in enumerate(_PRIORITY):
        first = next(j for j, n in enumerate(_NAMES) if FEATURE_GROUPS[n] == g)
        w[first] = float(len(_PRIORITY) - rank)
    return np.tile(w, (n_rows, 1))
