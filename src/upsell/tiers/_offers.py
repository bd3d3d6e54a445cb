"""The upsell result (:class:`Upsells`) and the sales cues that explain each offer.

Public as :class:`upsell.tiers.Upsells` (and :class:`upsell.tiers.ranker.Upsells`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from upsell._display import TableResult
from upsell.exceptions import UpsellDeprecationWarning
from upsell.tiers._kinds import EDGE_KINDS

__all__ = ["OfferReasons", "Upsells"]

_UNITS = frozenset({"gb", "mb", "tb", "kb", "mm", "cm", "m", "kg", "g", "w", "mah", "h",
                    "min", "l", "ml", "in", "hz", "mp", "px", "pct"})
#: Columns of ``Upsells.to_pandas()``, in order (the field ``scores`` is the column "score").
_FRAME = ("item", "base", "kind", "score", "probability", "price_diff", "price_ratio",
          "value_gained", "margin_gain", "similar_share", "cue")
#: Columns a notebook shows.
_SHOWN = ("item", "base", "kind", "score", "probability", "cue")


class OfferReasons(tuple[str, ...]):
    """The offers' reasons as text (their sales cues), best offer first: a tuple of str.

    Calling it, ``upsells.reasons()``, is the deprecated form of
    :meth:`Upsells.records` (one dict per offer with every field).

    Examples
    --------
    >>> r = OfferReasons(("Upgrade to B", "Add C"), records=lambda: [{"item": "b"}])
    >>> r[0], len(r)
    ('Upgrade to B', 2)
    """

    _records: Any

    def __new__(cls, cues: Any = (), *, records: Any = None) -> OfferReasons:
        obj = super().__new__(cls, (str(c) for c in cues))
        obj._records = records
        return obj

    def __call__(self) -> list[dict[str, Any]]:
        warnings.warn("Upsells.reasons() is deprecated: Upsells.reasons is now the tuple of "
                      "reason texts; use Upsells.records() for one dict per offer",
                      UpsellDeprecationWarning, stacklevel=2)
        return list(self._records()) if self._records is not None else []


@dataclass(frozen=True, slots=True)
class Upsells(TableResult):
    """Ranked upsell offers for one request, best first, each with its reason as data.

    The reading API of every single recommendation result: :attr:`items`,
    :attr:`scores` (non-increasing), :attr:`reasons` (one text per offer),
    :meth:`lists` and :meth:`to_pandas`.

    Attributes
    ----------
    item, base : ndarray
        Offered item ids and the base item each one upgrades (``items`` is ``item``).
    kind : ndarray of str
        "upgrade", "value_pack", "plan" or "alternative".
    scores : ndarray of float64
        Ranking score: expected incremental margin (P x margin gain), expected
        incremental revenue, or P, by the objective. ``score`` is its deprecated
        alias; the ``to_pandas`` column is named "score".
    probability : ndarray of float64
        P(customer accepts), from the propensity model.
    price_diff, price_ratio : ndarray of float64
        Target price minus base price, and their ratio (unit-price ratio for value
        packs; plan price over base price for plans).
    value_gained : ndarray of float64
        Value function output (NaN when features cannot judge it).
    margin_gain : ndarray of float64
        Target margin minus base margin (the plan's margin for plans).
    similar_share : ndarray of float64
        Smoothed share of similar customers (same segment; everyone when unknown)
        who, coming back after buying the base, chose this item.
    cue : ndarray of str
        A short sales cue rendered from the reason (``reasons`` as a tuple).

    Examples
    --------
    >>> u = Upsells.empty()
    >>> len(u), u.to_pandas().columns.tolist()[:3]
    (0, ['item', 'base', 'kind'])
    >>> u.items.tolist(), u.scores.tolist(), u.reasons, u.lists()
    ([], [], (), [[]])
    """

    item: np.ndarray
    base: np.ndarray
    kind: np.ndarray
    scores: np.ndarray
    probability: np.ndarray
    price_diff: np.ndarray
    price_ratio: np.ndarray
    value_gained: np.ndarray
    margin_gain: np.ndarray
    similar_share: np.ndarray
    cue: np.ndarray

    _title: ClassVar[str] = "Upsells"
    _plot_function: ClassVar[str] = "upsell.tiers.plots:plot_upsells"

    @classmethod
    def empty(cls) -> Upsells:
        """No offers."""
        f = np.empty(0)
        s = np.empty(0, dtype=str)
        return cls(s, s, s, f, f, f, f, f, f, f, s)

    def __len__(self) -> int:
        return int(self.item.size)

    @property
    def items(self) -> np.ndarray:
        """Offered item ids, best first (the ``item`` field)."""
        return self.item

    @property
    def score(self) -> np.ndarray:
        """Deprecated alias of :attr:`scores`."""
        warnings.warn("Upsells.score is deprecated; use Upsells.scores",
                      UpsellDeprecationWarning, stacklevel=2)
        return self.scores

    @property
    def reasons(self) -> OfferReasons:
        """One reason text per offer (its sales cue), best first.

        Examples
        --------
        >>> Upsells.empty().reasons
        ()
        """
        return OfferReasons(self.cue.tolist(), records=self.records)

    def lists(self) -> list[list[Any]]:
        """Offered item ids as ``[[ids]]`` (one request), like ``Recommendations.lists``.

        Examples
        --------
        >>> Upsells.empty().lists()
        [[]]
        """
        return [self.item.tolist()]

    def records(self) -> list[dict[str, Any]]:
        """One dict per offer with every field (Python scalars), keyed by the column names.

        Examples
        --------
        >>> Upsells.empty().records()
        []
        """
        cols = self._columns(None)
        vals = [np.asarray(v).tolist() for v in cols.values()]
        return [dict(zip(cols, row, strict=True)) for row in zip(*vals, strict=True)]

    def _columns(self, rows: range | None = None) -> Mapping[str, Any]:
        # the frame has every field, the notebook the six that explain an offer
        names = _FRAME if rows is None else _SHOWN
        cut = slice(None) if rows is None else slice(rows.start, rows.stop)
        return {n: getattr(self, "scores" if n == "score" else n)[cut] for n in names}

    def _summary(self) -> str:
        return f"{len(self):,} offer(s)"


# ---------------------------------------------------------------------- cues
def _feature_label(name: str) -> str:
    parts = name.lower().split("_")
    if len(parts) > 1 and parts[-1] in _UNITS:
        parts = parts[:-1]
    return " ".join(parts)


def _ratio_phrase(r: float, label: str) -> str:
    if r >= 1.95 and r <= 2.05:
        return f"twice the {label}"
    if r >= 2.9:
        return f"{r:.0f}x the {label}"
    if r >= 1.0:
        return f"{(r - 1) * 100:.0f}% more {label}"
    return f"{(1 - r) * 100:.0f}% less {label}"


def _money(x: float) -> str:
    return f"{x:,.2f}"


def build_upsells(a: Mapping[str, np.ndarray], item_ids: np.ndarray,
                  feature_names: tuple[str, ...], sel: np.ndarray, base_of: np.ndarray,
                  tgt: np.ndarray, score: np.ndarray, prob: np.ndarray, seg: int,
                  like_you: bool) -> Upsells:
    """The result of the chosen candidate edges ``sel``, with one sales cue per offer.

    ``a`` holds the ranker's fitted arrays; ``seg`` is the request's segment code
    (-1: everyone's shares); ``like_you`` says "customers like you" in the cue.
    """
    price = a["price"]
    kind = a["cand_kind"][sel]
    diff = price[tgt] - price[base_of]
    share = a["cand_share"][seg if seg >= 0 else -1, sel]
    who = "customers like you" if like_you else "customers"
    cues = []
    names = a["name"]
    for j in range(sel.size):
        kd = int(kind[j])
        nm = str(names[tgt[j]])
        pb = float(price[base_of[j]])
        # social proof only when there is some: "0% of customers like you chose it" repels
        pct = f"; {share[j] * 100:.0f}% of {who} chose it" if share[j] >= 0.005 else ""
        if kd == 1:
            saving = 1.0 - float(a["cand_ratio"][sel[j]])
            cue = f"Save {saving * 100:.0f}% per unit with {nm}{pct}"
        elif kd == 2:
            cue = f"Add {nm} for {_money(float(price[tgt[j]]))}{pct}"
        else:
            verb = "Upgrade to" if kd == 0 else "Step up to"
            rel = f" (+{diff[j] / pb * 100:.0f}%)" if pb > 0 else ""
            cue = f"{verb} {nm} for {_money(float(diff[j]))} more{rel}"
            bf = int(a["cand_best_feature"][sel[j]])
            if bf >= 0:
                label = _feature_label(feature_names[bf])
                cue += f": {_ratio_phrase(float(a['cand_best_ratio'][sel[j]]), label)}"
            cue += pct
        cues.append(cue)
    return Upsells(
        item=item_ids[tgt], base=item_ids[base_of], kind=np.asarray(EDGE_KINDS)[kind],
        scores=np.asarray(score, dtype=np.float64), probability=np.asarray(prob, np.float64),
        price_diff=diff, price_ratio=a["cand_ratio"][sel].copy(),
        value_gained=a["cand_value"][sel].copy(),
        margin_gain=a["cand_margin_gain"][sel].copy(), similar_share=share.copy(),
        cue=np.array(cues, dtype=str))
