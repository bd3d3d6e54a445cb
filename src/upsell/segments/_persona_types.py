"""The handbook's four customer types: their names, default evidence, the assignment results and
the reasons given to people. :mod:`upsell.segments.personas` re-exports the public names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell.segments._base import SegmentSummary, summarise
from upsell.segments._features import (
    FEATURES,
)

__all__ = ["EVIDENCE", "PERSONAS", "PersonaAssignment", "PersonaAssignments"]


#: The handbook's customer types, in the order of score columns.
PERSONAS = ("new", "frequent", "price_sensitive", "premium")

#: Default evidence: persona -> feature -> signed weight. A positive weight means a
#: high value is evidence for the persona, a negative one a low value.
EVIDENCE: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "new": MappingProxyType({"tenure_days": -3.0, "orders": -1.0}),
    "frequent": MappingProxyType({"orders": 1.0, "orders_per_month": 1.0,
                                  "subscription_share": 0.5}),
    "price_sensitive": MappingProxyType({"discount_share": 1.0, "low_tier_share": 1.0,
                                         "value_pack_share": 0.5, "price_position": -1.0}),
    "premium": MappingProxyType({"high_tier_share": 1.0, "tier_position": 1.0, "aov": 1.0,
                                 "exclusive_share": 0.5}),
})

_P = {p: k for k, p in enumerate(PERSONAS)}

# ---------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class PersonaAssignment(TableResult):
    """The persona of one customer, its four scores and why.

    Attributes
    ----------
    persona : str
    scores : dict of str to float
        Score in [0, 1] per persona.
    decisive : tuple of (feature, value, evidence)
        The (up to two) features that weighed most for the winning persona.
    reason : str
        The same as one short sentence.
    features : dict of str to float
        The customer's full feature vector.

    Examples
    --------
    >>> a = PersonaAssignment("new", {"new": 1.0}, (), "new: no purchase history", {})
    >>> a.persona, a.reason
    ('new', 'new: no purchase history')
    >>> a.to_pandas().columns.tolist()
    ['persona', 'reason', 'score_new']
    """

    persona: str
    scores: dict[str, float]
    decisive: tuple[tuple[str, float, float], ...]
    reason: str
    features: dict[str, float]

    _title = "PersonaAssignment"

    def _row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"persona": self.persona, "reason": self.reason}
        row.update({f"score_{p}": s for p, s in self.scores.items()})
        return row

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        return {k: [v] for k, v in self._row().items()}

    def _n_rows(self) -> int:
        return 1

    def _repr_html_(self) -> str:
        from upsell._display import html_fields

        return html_fields("PersonaAssignment", self._row(), summary=self.persona)

@dataclass(frozen=True, slots=True)
class PersonaAssignments(TableResult):
    """The persona of many customers, their scores and the features that decided.

    Attributes
    ----------
    customers : ndarray
        External customer ids.
    persona : ndarray of str
    scores : ndarray of float32, shape (n, 4)
        Scores in [0, 1], columns in :data:`PERSONAS` order.
    monetary : ndarray of float64
        Net value per customer (for revenue shares).
    decisive : ndarray of int8, shape (n, 2)
        Index into :data:`~upsell.segments.FEATURES` of the two features that
        weighed most for the winning persona (-1 when none, e.g. no history).
    decisive_values : ndarray of float64, shape (n, 2)
        Their values.
    midpoints : dict
        persona -> feature -> the value at which the feature's evidence is 0.5,
        used to phrase the reasons.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> from upsell.segments import Personas
    >>> shop = make_shop(n_customers=60, n_items=40, n_orders=240)
    >>> res = Personas().fit(shop.transactions, catalog=shop.catalog).predict()
    >>> len(res) == 60, sorted(set(res.persona.tolist())) <= sorted(PERSONAS)
    (True, True)
    >>> res.to_pandas().columns.tolist()[:3]
    ['customer', 'persona', 'score_new']
    """

    customers: np.ndarray
    persona: np.ndarray
    scores: np.ndarray
    monetary: np.ndarray
    decisive: np.ndarray
    decisive_values: np.ndarray
    midpoints: Mapping[str, Mapping[str, float]]

    _title = "PersonaAssignments"
    _plot_function = "upsell.segments.plots:plot_personas"

    def __len__(self) -> int:
        return int(self.customers.size)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        if rows is not None:  # a notebook: the reasons of the shown rows only
            pos = np.asarray(rows, dtype=np.int64)
            return {"customer": self.customers[pos], "persona": self.persona[pos],
                    "reason": self._reasons(pos)}
        cols: dict[str, Any] = {"customer": self.customers, "persona": self.persona}
        for k, p in enumerate(PERSONAS):
            cols[f"score_{p}"] = self.scores[:, k]
        cols["reason"] = self.reasons()
        return cols

    def _summary(self) -> str:
        return f"{len(self):,} customers"

    def reasons(self) -> np.ndarray:
        """One short sentence per customer saying what decided the persona.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> from upsell.segments import Personas
        >>> shop = make_shop(n_customers=60, n_items=40, n_orders=240)
        >>> res = Personas().fit(shop.transactions, catalog=shop.catalog).predict()
        >>> str(res.reasons()[0]).split(":")[0] == res.persona[0]
        True
        """
        return self._reasons(np.arange(len(self)))

    def _reasons(self, pos: np.ndarray) -> np.ndarray:
        """The reasons of the customers at positions ``pos``."""
        out = np.empty(pos.size, dtype=object)
        persona = self.persona[pos]
        pers = persona.tolist()
        codes = self.decisive[pos].tolist()
        vals = self.decisive_values[pos].tolist()
        scores = np.asarray(self.scores)[pos]
        win = np.argmax(persona[:, None] == np.asarray(PERSONAS)[None, :], axis=1)
        score = scores[np.arange(pos.size), win].tolist()
        # no history: scored (1, 0, 0, 0) with nothing decisive (see _Scorer.score); a
        # customer with history whose features are no evidence at all scores (0, 0, 0, 0)
        history = ((scores[:, 1:] != 0).any(axis=1) | (scores[:, 0] != 1)).tolist()
        for i in range(pos.size):
            out[i] = _reason(pers[i], codes[i], vals[i], self.midpoints, score[i], history[i])
        return out.astype(str) if out.size else np.array([], dtype=str)

    def summary(self) -> SegmentSummary:
        """Persona sizes and revenue shares.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> from upsell.segments import Personas
        >>> shop = make_shop(n_customers=60, n_items=40, n_orders=240)
        >>> s = Personas().fit(shop.transactions, catalog=shop.catalog).predict().summary()
        >>> int(s.customers.sum())
        60
        """
        return summarise(self.persona, self.monetary, order=PERSONAS)

# Both paths (``score`` over arrays, ``score_one`` in Python) must name the same persona
# and reasons. A customer's feature summed in another line order, or numpy's exp against
# math.exp, differ in the last bit, which flips a tie (a value at its threshold, two equal
# scores or margins). Features and evidence are put on a grid of binary fractions first:
# scaling by a power of two, adding 0.5 and flooring are exact IEEE steps in both paths.
_X_GRID = float(2**30)  # features: ~1e-9
_E_GRID = float(2**40)  # evidence in [0, 1]: ~1e-12
_S_GRID = float(2**20)  # scores in [0, 1], ~1e-6: exact in the results' float32


def _on_grid(x: np.ndarray, grid: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(x), np.floor(x * grid + 0.5) / grid, x)


def _on_grid_one(x: float, grid: float) -> float:
    return math.floor(x * grid + 0.5) / grid if math.isfinite(x) else x


def _reason(persona: str, codes: Sequence[int], values: Sequence[float],
            midpoints: Mapping[str, Mapping[str, float]], score: float = math.nan,
            history: bool = True) -> str:
    """The named features are evidence for ``persona`` (past the midpoint on its side);
    a customer with none is said to be the nearest type, a weak fit."""
    parts = []
    for code, value in zip(codes, values, strict=True):
        if code < 0:
            continue
        name = FEATURES[code]
        mid = midpoints.get(persona, {}).get(name, math.nan)
        # the value and midpoint the evidence judged
        on, at = _on_grid_one(value, _X_GRID), _on_grid_one(mid, _X_GRID)
        side = "above" if on > at else "below" if on < at else "at"
        parts.append(f"{name} {_num(value)} ({side} {_num(mid)})")
    if not parts:
        if not history:
            return f"{persona}: no purchase history"
        return (f"{persona}: nearest type, weak fit (score {score:.2f}); "
                "no feature past its midpoint")
    if score < 0.5:
        # the best of four, but the evidence on balance is against it
        return f"{persona}: weak fit (score {score:.2f}); " + ", ".join(parts)
    return f"{persona}: " + ", ".join(parts)

def _num(v: float) -> str:
    """Three significant digits without an exponent for values people read (1,080 not
    1.08e+03)."""
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 0.001 or a == 0:
        return f"{v:.3g}"
    return f"{v:.2e}"
