"""Net Promoter Score from 0-10 answers, with a confidence interval, overall or by segment."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from upsell._display import TableResult
from upsell._validation import check_choice
from upsell.exceptions import UpsellDataError
from upsell.kpi._common import as_label_array, encode_labels, labels_of, z_value

__all__ = ["NPSResult", "nps"]


@dataclass(frozen=True, slots=True)
class NPSResult(TableResult):
    """NPS per group (one group "all" when not grouped).

    Attributes
    ----------
    by : str or None
        "segment" when grouped.
    groups : ndarray
    n : ndarray of int64
        Valid answers per group.
    promoters, passives, detractors : ndarray of int64
        Answers 9-10, 7-8 and 0-6.
    promoter_share, passive_share, detractor_share : ndarray of float64
    nps : ndarray of float64
        100 x (promoter share - detractor share), in [-100, 100].
    low, high : ndarray of float64
        Confidence interval of the NPS.
    n_invalid : ndarray of int64
        Answers dropped as invalid (with ``invalid="drop"``).
    confidence : float

    Notes
    -----
    ``to_pandas()`` gives one row per group; ``plot()`` draws
    :func:`upsell.kpi.plots.plot_nps` (the NPS with its interval).

    Examples
    --------
    >>> r = nps([10, 9, 8, 3])
    >>> float(r.nps[0]), r.promoters.tolist(), r.to_pandas()["n"].tolist()
    (25.0, [2], [4])
    """

    by: str | None
    groups: np.ndarray
    n: np.ndarray
    promoters: np.ndarray
    passives: np.ndarray
    detractors: np.ndarray
    promoter_share: np.ndarray
    passive_share: np.ndarray
    detractor_share: np.ndarray
    nps: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_invalid: np.ndarray
    confidence: float

    _title = "NPSResult"
    _plot_function = "upsell.kpi.plots:plot_nps"

    def __len__(self) -> int:
        return int(self.nps.size)

    def __float__(self) -> float:
        if self.nps.size != 1:
            raise UpsellDataError(f"NPS has {self.nps.size} groups; take `.nps` instead of float()")
        return float(self.nps[0])

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        cols = {self.by or "group": self.groups, "n": self.n, "nps": self.nps, "low": self.low,
                "high": self.high, "promoters": self.promoters, "passives": self.passives,
                "detractors": self.detractors}
        if rows is None:  # the frame has the shares and the invalid counts too
            cols.update(promoter_share=self.promoter_share, passive_share=self.passive_share,
                        detractor_share=self.detractor_share, n_invalid=self.n_invalid)
        return cols

    def _summary(self) -> str:
        return f"{len(self):,} group(s), {self.confidence:.0%} intervals"


def _valid_mask(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores as float (NaN where invalid) and the validity mask."""
    out = np.full(values.size, np.nan)
    if values.dtype.kind in "iu" or values.dtype.kind == "f":
        out = values.astype(np.float64)
    elif values.dtype.kind == "b":
        pass  # booleans are not scores
    else:
        for i, v in enumerate(values.tolist()):
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, (int, float, np.integer, np.floating)):
                out[i] = float(v)
            elif isinstance(v, str) and v.strip():
                try:
                    out[i] = float(v)
                except ValueError:
                    pass
    ok = np.isfinite(out) & (out == np.round(out)) & (out >= 0) & (out <= 10)
    return out, ok


def nps(scores: Any, *, by: Any = None, invalid: str = "raise",
        confidence: float = 0.95) -> NPSResult:
    """Net Promoter Score of 0-10 "would you recommend us" answers.

    Parameters
    ----------
    scores : array-like
        Answers; whole numbers 0-10 (``9.0`` is accepted, ``9.5`` is not).
    by : array-like, optional
        One segment label per answer; None / NaN labels are left out.
    invalid : {"raise", "drop"}, default "raise"
        Answers outside 0-10, non-integer or missing: raise an error naming the
        first one's position and value, or drop them and count them in ``n_invalid``.
    confidence : float, default 0.95
        Level of the interval.

    Returns
    -------
    NPSResult

    Raises
    ------
    UpsellDataError
        An invalid answer under ``invalid="raise"``; labels of the wrong length.

    Notes
    -----
    With shares ``p+`` (9-10) and ``p-`` (0-6) of ``n`` answers,
    ``NPS = 100 (p+ - p-)``. Each answer is a trinomial draw scoring +1, 0 or -1,
    so ``Var(p+ - p-) = (p+ + p- - (p+ - p-)^2) / n`` and the interval is
    ``NPS +- 100 z sqrt(Var)``, clipped to [-100, 100] (a Wald interval on the
    trinomial; with every answer in one class its width is 0).

    Examples
    --------
    >>> r = nps([10, 9, 9, 7, 3, 0, 10, 8])
    >>> float(r.nps[0]), r.promoter_share.tolist()
    (25.0, [0.5])
    >>> [round(float(r.low[0]), 1), round(float(r.high[0]), 1)]
    [-32.5, 82.5]
    >>> nps([10, 11])
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `scores` position 1 holds 11, not a whole number in 0-10; pass invalid='drop' to drop and count such answers
    """
    check_choice(invalid, "invalid", ("raise", "drop"))
    z = z_value(confidence)
    raw = scores.to_numpy() if hasattr(scores, "to_numpy") else scores
    values = np.asarray(raw)
    if values.ndim != 1:
        values = values.reshape(-1)
    s, ok = _valid_mask(values)
    if invalid == "raise" and not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        n_bad = int((~ok).sum())
        more = f" ({n_bad} invalid answers)" if n_bad > 1 else ""
        bad = values[i].item() if isinstance(values[i], np.generic) else values[i]
        raise UpsellDataError(
            f"`scores` position {i} holds {bad!r}, not a whole number in 0-10{more}; "
            f"pass invalid='drop' to drop and count such answers")
    if by is None:
        codes = np.zeros(values.size, dtype=np.int64)
        groups = np.array(["all"])
        by_name = None
    else:
        lab = labels_of(by, "by", values.size)
        lab_obj = lab.astype(object)
        has = np.array([not (v is None or (isinstance(v, float) and math.isnan(v)))
                        for v in lab_obj.tolist()], dtype=bool)
        codes = np.full(values.size, -1, dtype=np.int64)
        groups, sub = encode_labels(as_label_array(lab_obj[has]))
        codes[has] = sub
        by_name = "segment"
    k = groups.size
    use = ok & (codes >= 0)
    c = codes[use]
    sv = s[use]
    n = np.bincount(c, minlength=k).astype(np.int64)
    pro = np.bincount(c[sv >= 9], minlength=k).astype(np.int64)
    det = np.bincount(c[sv <= 6], minlength=k).astype(np.int64)
    n_invalid = np.bincount(codes[~ok & (codes >= 0)], minlength=k).astype(np.int64)
    return _from_counts(by_name, groups, n, pro, det, n_invalid, z, confidence)


def _from_counts(by: str | None, groups: np.ndarray, n: np.ndarray, pro: np.ndarray,
                 det: np.ndarray, n_invalid: np.ndarray, z: float, confidence: float
                 ) -> NPSResult:
    """Shares, score and interval from per-group counts (shared with :func:`upsell.spark.nps`)."""
    pas = n - pro - det
    with np.errstate(invalid="ignore", divide="ignore"):
        nf = np.where(n > 0, n, 1).astype(np.float64)
        pp, pd_, pa = pro / nf, det / nf, pas / nf
        diff = pp - pd_
        var = np.maximum(pp + pd_ - diff ** 2, 0.0) / nf
        score = 100.0 * diff
        half = 100.0 * z * np.sqrt(var)
        low = np.clip(score - half, -100.0, 100.0)
        high = np.clip(score + half, -100.0, 100.0)
    empty = n == 0
    for a in (pp, pd_, pa, score, low, high):
        a[empty] = np.nan
    return NPSResult(by=by, groups=groups, n=n, promoters=pro, passives=pas, detractors=det,
                     promoter_share=pp, passive_share=pa, detractor_share=pd_, nps=score,
                     low=low, high=high, n_invalid=n_invalid, confidence=float(confidence))
