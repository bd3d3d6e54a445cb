"""The recipe of :meth:`Recommender.from_history`: every part fitted from one shop's history."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from upsell._validation import check_choice, format_bytes, memory_budget, resident_bytes
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError, UpsellTypeError
from upsell.recommend._blend_train import (
    STATE_BYTES_PER_LINE,
    NothingToLearn,
    ease_plan,
    eligible_customers,
    plan_cuts,
)

__all__ = ["BLEND_CHOICES", "BlendChoice", "choose_blend", "parts_from_history"]

log = logging.getLogger("upsell")

BLEND_CHOICES = ("auto", "learned", "weighted")
# A learned blend is judged on its held-out cut and trained on the cuts before it: below this
# many customers with an order on both sides of a cut, recall@10 differences are noise.
MIN_CUSTOMERS = 30
_REGIME_WORDS = {"owned": "buy-again allowed", "new": "never-bought items"}


@dataclass(frozen=True, slots=True)
class BlendChoice:
    """The blend a fit from history keeps, and why (:func:`choose_blend`).

    Attributes
    ----------
    kind : {"learned", "weighted"}
        What was kept: the fitted :class:`~upsell.recommend.LearnedBlend` or the
        fixed weighted sum of the sources' scores.
    blend : LearnedBlend or None
        The fitted learned blend when ``kind == "learned"`` (``Recommender(blend=...)``),
        else None (the weighted sum).
    asked : {"auto", "learned", "weighted"}
    reason : str
        One line for people: why this blend (the inner held-out recall@10 of the
        learned ranker and of its best single source when they were measured).
    inner_recall, inner_best_source_recall : dict of str to float
        Per ranker regime (``"owned"``: buy-again allowed, ``"new"``: never-bought
        items), recall@10 on the learned blend's inner held-out cut; empty when
        not measured.
    inner_best_source : dict of str to str
        Per regime, the single source with the best inner recall@10.

    Examples
    --------
    >>> c = BlendChoice(kind="weighted", blend=None, asked="weighted",
    ...                 reason="weighted blend: asked for")
    >>> c.kind, c.to_pandas().shape[0]
    ('weighted', 0)
    """

    kind: str
    blend: Any
    asked: str
    reason: str
    inner_recall: dict[str, float] = field(default_factory=dict)
    inner_best_source: dict[str, str] = field(default_factory=dict)
    inner_best_source_recall: dict[str, float] = field(default_factory=dict)

    def to_pandas(self) -> Any:
        """One row per measured regime: ranker recall, best source and its recall."""
        import pandas as pd

        regimes = list(self.inner_recall)
        return pd.DataFrame({
            "regime": regimes,
            "inner_recall": [self.inner_recall[r] for r in regimes],
            "inner_best_source": [self.inner_best_source.get(r, "") for r in regimes],
            "inner_best_source_recall": [self.inner_best_source_recall.get(r, math.nan)
                                         for r in regimes]})


def customers_per_cut(tx: Transactions, learned: Any) -> tuple[list[np.datetime64], list[int]]:
    """The learned blend's time cuts and, per cut, the customers it could learn from there.

    The cuts (planned as ``learned``'s ``n_cuts``, ``max_rows`` and ``n_candidates``
    plan them), the label horizon (two windows) and the customers (an order before the
    cut and one within the horizon after it) are :class:`LearnedBlend`'s own (the last
    cut is its inner held-out one).
    """
    keep = tx.quantity > 0
    if not (keep & (tx.customer >= 0)).any():
        return [], []
    t = tx.time.astype("datetime64[s]").astype(np.int64)
    lines = SimpleNamespace(customer=tx.customer[keep].astype(np.int64),
                            order=tx.order[keep].astype(np.int64), time=t[keep])
    cuts, window, _ = plan_cuts(lines,  # type: ignore[arg-type]
                                n_cuts=getattr(learned, "n_cuts", None),
                                max_rows=int(getattr(learned, "max_rows", 600_000)),
                                n_candidates=int(getattr(learned, "n_candidates", 150)))
    counts = [int(eligible_customers(lines, cut, int(2 * window)).size)  # type: ignore[arg-type]
              for cut in cuts]
    return [np.datetime64(int(x), "s") for x in cuts], counts


def _too_small(tx: Transactions, learned: Any) -> str | None:
    """Why ``tx`` is too small to learn and judge a blend (``blend="auto"``), or None."""
    _, counts = customers_per_cut(tx, learned)
    if not counts:
        return "no purchase has a customer"
    train, held_out = sum(counts[:-1]), counts[-1]
    if held_out < MIN_CUSTOMERS or train < MIN_CUSTOMERS:
        return (f"too few customers ordered again after the learned blend's time cuts "
                f"({train:,} over {len(counts) - 1} training cuts, {held_out:,} after the "
                f"held-out one; it needs {MIN_CUSTOMERS} in each)")
    return None


def _too_big(tx: Transactions) -> str | None:
    """Why the learned blend would not fit in this machine's memory (``blend="auto"``), or
    None: a history state per order line on top of what the process holds now, against
    nine tenths of the physical memory (twice :func:`memory_budget`)."""
    held = resident_bytes()
    if held is None:
        return None
    need, physical = STATE_BYTES_PER_LINE * len(tx), 2 * memory_budget()
    if held + need <= 0.9 * physical:
        return None
    return (f"the learned one would need about {format_bytes(need)} more for its "
            f"{len(tx):,} order lines, beside the {format_bytes(held)} in use, of this "
            f"machine's {format_bytes(physical)} (asked for, it is fitted anyway)")


def _inner(blend: Any) -> tuple[dict[str, float], dict[str, str], dict[str, float]]:
    """Per regime: the learned ranker's inner recall@10, its best source and that one's."""
    rec: dict[str, float] = {}
    src: dict[str, str] = {}
    best: dict[str, float] = {}
    params = getattr(blend, "params_", None)
    for regime, info in (params.items() if isinstance(params, dict) else ()):
        if not isinstance(info, dict) or "inner_recall" not in info:
            continue
        rec[regime] = float(info["inner_recall"])
        src[regime] = str(info.get("inner_best_source", ""))
        best[regime] = float(info.get("inner_best_source_recall", math.nan))
    return rec, src, best


def _measured(rec: dict[str, float], src: dict[str, str], best: dict[str, float]) -> str:
    return "; ".join(f"{rec[r]:.4f} vs {src[r] or 'best source'} {best[r]:.4f} "
                     f"({_REGIME_WORDS.get(r, r)})" for r in rec)


def _ease_note(fitted: Any) -> str:
    """What the blend's EASE spans when its work budget left items out ("" when none)."""
    state = getattr(fitted, "state_", None)
    if state is None or not hasattr(fitted, "cuts_"):
        return ""
    n = int(state.n_items)
    cap = ease_plan(getattr(fitted, "use_ease", "auto"), n, len(fitted.cuts_) + 1)["ease_items"]
    return "" if cap is None else (f"; its EASE spans the {cap:,} most-bought of {n:,} items "
                                   f"(the work budget of {len(fitted.cuts_) + 1} fits)")


def choose_blend(tx: Transactions, learned: Any, *, catalog: Any = None, segments: Any = None,
                 blend: str = "auto", random_state: int = 0) -> BlendChoice:
    """Fit the learned blend and keep it, or the weighted sum, as ``blend`` asks.

    ``"learned"`` fits ``learned`` (errors raised as they come); ``"weighted"``
    fits nothing; ``"auto"`` fits ``learned`` and keeps it when it measures better
    than its best single source on its own inner held-out cut
    (``learned.measures_better_``; kept when that is unknown), else the weighted
    sum. ``"auto"`` also falls back to the weighted sum, saying why in
    :attr:`BlendChoice.reason`, when the lines have no customers or times,
    when the blend's history states would not fit beside what the process holds
    (``STATE_BYTES_PER_LINE`` per order line, against nine tenths of the physical
    memory: a 30M-line shop on a 16 GB machine),
    when fewer than 30 customers ordered before and after the blend's time cuts
    (a learned blend could not be trained or judged), or when no customer bought
    what one of its rankers learns from after any cut (e.g. customers who only
    ever re-buy what they bought before: nothing new to learn from).

    Parameters
    ----------
    tx : Transactions
    learned : LearnedBlend
        Unfitted; fitted here with ``fit(tx, catalog=, segments=, random_state=)``.
    catalog : Catalog, optional
    segments : fitted segments, optional
        The customer types the ranker sees as a feature.
    blend : {"auto", "learned", "weighted"}, default "auto"
    random_state : int, default 0

    Returns
    -------
    BlendChoice

    Raises
    ------
    UpsellDataError
        ``blend="learned"`` on lines without customers or times, or a history where
        no customer ordered before and after one of the blend's time cuts.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> from upsell.recommend import LearnedBlend
    >>> tx = make_shop(n_customers=40, n_items=40, n_orders=120, random_state=0).transactions
    >>> c = choose_blend(tx, LearnedBlend(), blend="auto")
    >>> c.kind, c.blend is None
    ('weighted', True)
    >>> c.reason[:52]
    'weighted blend: too few customers ordered again afte'
    """
    check_choice(blend, "blend", BLEND_CHOICES)
    if blend == "weighted":
        return BlendChoice(kind="weighted", blend=None, asked=blend,
                           reason="weighted blend: asked for")
    if not (tx.has("customer") and tx.has("time")):
        if blend == "learned":
            raise UpsellDataError("the learned blend needs order lines with customers and times")
        return BlendChoice(kind="weighted", blend=None, asked=blend,
                           reason="weighted blend: the learned one needs order lines with "
                                  "customers and times")
    # "learned": LearnedBlend.fit itself says why a history is too short to learn from
    why = None if blend == "learned" else _too_small(tx, learned) or _too_big(tx)
    if why is not None:
        log.info("blend auto: weighted, %s", why)
        return BlendChoice(kind="weighted", blend=None, asked=blend,
                           reason=f"weighted blend: {why}")
    try:
        fitted = learned.fit(tx, catalog=catalog, segments=segments, random_state=random_state)
    except NothingToLearn as exc:
        if blend == "learned":
            raise
        log.info("blend auto: weighted, %s", exc)
        return BlendChoice(kind="weighted", blend=None, asked=blend,
                           reason=f"weighted blend: {exc}")
    rec, src, best = _inner(fitted)
    shown = _measured(rec, src, best)
    better = getattr(fitted, "measures_better_", None) if blend == "auto" else True
    if blend == "learned":
        reason = "learned blend: asked for" + (f" (inner recall@10 {shown})" if shown else "")
    elif better is None:
        reason = ("learned blend: kept (its inner comparison with single sources is not "
                  "available)")
    elif better:
        reason = f"learned blend: it beats its best single source, inner recall@10 {shown}"
    else:
        reason = (f"weighted blend: the learned one does not beat its best single source on "
                  f"its held-out cut, inner recall@10 {shown}")
    kept = better is not False
    if kept:
        reason += _ease_note(fitted)
    log.info("blend %s: %s", blend, reason)
    return BlendChoice(kind="learned" if kept else "weighted", blend=fitted if kept else None,
                       asked=blend, reason=reason, inner_recall=rec, inner_best_source=src,
                       inner_best_source_recall=best)


def parts_from_history(tx: Transactions, catalog: Any = None, *, blend: str = "learned",
                       learned: Any = None, random_state: int = 0) -> dict[str, Any]:
    """Keyword arguments of ``Recommender(**parts)`` with every part fitted from ``tx``.

    What :meth:`Recommender.from_history` assembles: bundle rules (support chosen
    under the itemset budget, pruned, significant at 5%), EASE (item-KNN above the
    items one EASE fit can afford, :meth:`~upsell.cf.EASE.affordable_items`) and
    :class:`~upsell.cf.RepeatBlend` as cross-sell sources, customer types
    (:class:`~upsell.segments.Personas`) when the lines have customers and times,
    the upsell ranker when a catalog is given, and the blend
    (see :func:`choose_blend`): ``"learned"`` a :class:`LearnedBlend` fitted on the
    same history (with the customer types as segments), ``"weighted"`` the fixed
    weighted sum (``None``), ``"auto"`` the learned one when it measures better
    than its best single source on its inner held-out cut, else the weighted sum.

    Parameters
    ----------
    tx : Transactions
    catalog : Catalog, optional
        Default: built from the transactions (names, median unit prices).
    blend : {"auto", "learned", "weighted"}, default "learned"
    learned : LearnedBlend
        Unfitted, for :func:`choose_blend` (``blend="learned"`` or ``"auto"``).
    random_state : int, default 0

    Returns
    -------
    dict of str to object
    """
    from upsell import bundles, segments
    from upsell.cf import EASE, ItemKNN, RepeatBlend
    from upsell.data.catalog import Catalog

    check_choice(blend, "blend", BLEND_CHOICES)
    if blend != "weighted" and learned is None:
        raise UpsellTypeError(f"blend={blend!r} needs learned= (an unfitted LearnedBlend)")
    cross: list[Any] = []
    fi = bundles.frequent_itemsets(tx, min_support="auto", max_len=3)
    rules = bundles.association_rules(fi, min_confidence=0.1, prune=True, max_p=0.05)
    if len(rules):
        cross.append(bundles.BundleRecommender(rules))
    personas = None
    if tx.has("customer"):
        # EASE is cubic in the items: item-KNN above what one fit can afford (10,000)
        cf = EASE() if len(tx.items) <= EASE.affordable_items() else ItemKNN()
        cross.append(cf.fit(tx))
        cross.append(RepeatBlend(num_threads=1).fit(tx))
        if tx.has("time"):
            personas = segments.Personas().fit(tx, catalog=catalog)
    cat = catalog.align(tx.items) if catalog is not None else Catalog.from_transactions(tx)
    ranker = None
    if catalog is not None:
        from upsell.tiers import UpsellRanker

        objective = "margin" if np.isfinite(catalog.cost).any() else "revenue"
        ranker = UpsellRanker(objective=objective).fit(tx, cat, segments=personas)
    chosen = choose_blend(tx, learned, catalog=catalog, segments=personas, blend=blend,
                          random_state=random_state).blend
    return {"catalog": cat, "cross_sell": cross, "upsell": ranker, "segments": personas,
            "history": tx if tx.has("customer") else None, "blend": chosen}
