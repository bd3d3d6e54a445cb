"""Helpers shared by the KPI modules: result table, grouping, intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from upsell._display import TableResult
from upsell._validation import check_float
from upsell.exceptions import UpsellDataError

__all__ = ["KPIResult", "encode_labels", "labels_of", "wilson_interval", "z_value"]


@dataclass(frozen=True, slots=True)
class KPIResult(TableResult):
    """A ratio KPI, overall or per group: ``value = numerator / denominator``.

    The shape is the same overall and grouped: overall is one group labelled "all".

    Attributes
    ----------
    metric : str
        KPI name ("atv", "upt", "attach_rate", ...).
    by : str or None
        Grouping ("day", "week", "month", "segment", "channel") or None.
    groups : ndarray
        Group labels, sorted (periods as datetime64: a day, the Monday of a week,
        a month).
    value : ndarray of float64
        The KPI per group (NaN where the denominator is 0: not computable, never 0).
    numerator, denominator : ndarray of float64
        What was divided (e.g. revenue and orders for ATV).
    note : str
        Empty when every value is defined; else why some (or all) are NaN, e.g.
        "attach_rate is n/a: the catalog names no attachment ...". Show it instead
        of "nan".

    ``plot()`` draws :func:`upsell.kpi.plots.plot_kpi` (a line for periods, bars otherwise).

    Examples
    --------
    >>> r = KPIResult("atv", None, np.array(["all"]), np.array([12.5]), np.array([25.0]),
    ...               np.array([2.0]))
    >>> float(r), r.to_pandas()["value"].tolist()
    (12.5, [12.5])
    """

    metric: str
    by: str | None
    groups: np.ndarray
    value: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    note: str = ""

    _title = "KPIResult"
    _plot_function = "upsell.kpi.plots:plot_kpi"

    def __len__(self) -> int:
        return int(self.value.size)

    @property
    def defined(self) -> np.ndarray:
        """Boolean per group: the KPI could be computed (its denominator is not 0).

        Examples
        --------
        >>> KPIResult("atv", None, np.array(["all"]), np.array([np.nan]), np.array([0.0]),
        ...           np.array([0.0]), "atv is n/a: no orders").defined.tolist()
        [False]
        """
        return np.asarray(np.isfinite(self.value))

    def __float__(self) -> float:
        if self.value.size != 1:
            raise UpsellDataError(
                f"{self.metric} has {self.value.size} groups; take `.value` instead of float()")
        return float(self.value[0])

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        return {self.by or "group": self.groups, "value": self.value,
                "numerator": self.numerator, "denominator": self.denominator}

    def _summary(self) -> str:
        by = f" by {self.by}" if self.by else ""
        return f"{self.metric}{by}, {len(self):,} group(s)" + (f". {self.note}" if self.note else "")

    def to_pandas(self) -> Any:
        """One row per group: group, value, numerator, denominator (needs pandas).

        The note is kept in the frame's ``attrs["note"]``.
        """
        df = TableResult.to_pandas(self)
        df.attrs["note"] = self.note
        return df


def z_value(confidence: Any, name: str = "confidence") -> float:
    """Two-sided normal quantile for a confidence level in (0, 1).

    Examples
    --------
    >>> round(z_value(0.95), 4)
    1.96
    """
    c = check_float(confidence, name, low=0, high=1, low_open=True, high_open=True)
    return float(stats.norm.ppf(0.5 + c / 2))


def wilson_interval(successes: Any, trials: Any, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    Notes
    -----
    With ``p = k/n``: centre ``(p + z^2/(2n)) / (1 + z^2/n)``, half-width
    ``z / (1 + z^2/n) sqrt(p(1-p)/n + z^2/(4n^2))``. NaN where ``n = 0``. The
    interval always contains ``p``.

    Examples
    --------
    >>> lo, hi = wilson_interval(np.array([5]), np.array([10]), 1.959964)
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.2366, 0.7634)
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lo = np.clip(centre - half, 0.0, 1.0)
        hi = np.clip(centre + half, 0.0, 1.0)
        # rounding must not push the estimate outside its interval
        lo = np.minimum(lo, p)
        hi = np.maximum(hi, p)
    return lo, hi


def encode_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct labels and each element's position among them.

    Examples
    --------
    >>> g, c = encode_labels(np.array(["b", "a", "b"]))
    >>> g.tolist(), c.tolist()
    (['a', 'b'], [1, 0, 1])
    """
    if labels.size == 0:
        return labels, np.empty(0, dtype=np.int64)
    groups, codes = np.unique(labels, return_inverse=True)
    return groups, codes.reshape(-1).astype(np.int64)


def labels_of(values: Any, name: str, n: int) -> np.ndarray:
    """A label array of length ``n`` (None / NaN allowed as 'no label' -> object None).

    Examples
    --------
    >>> labels_of(["a", None], "by", 2).tolist()
    ['a', None]
    """
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size != n:
        raise UpsellDataError(f"`{name}` must have one label per row ({n}); got shape {arr.shape}")
    return arr


def as_label_array(values: np.ndarray) -> np.ndarray:
    """Object labels to a sortable array (str when mixed types)."""
    try:
        return np.asarray(values.tolist())
    except (TypeError, ValueError):
        return np.asarray([str(v) for v in values.tolist()])
