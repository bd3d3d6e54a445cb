"""Empirical likelihood interval of a ratio of per-unit sums (off_policy_value's ``interval="el"``).

Owen's (1988, 1990) empirical likelihood for the estimating equation
``E[N - theta D] = 0`` of the units' numerators ``N`` and denominators ``D``
(Qin & Lawless 1994): for a candidate ``theta`` the profile likelihood ratio
``R(theta) = max prod(n p_i)`` over probabilities ``p`` on the units with
``sum p_i (N_i - theta D_i) = 0`` has the dual form
``-2 log R(theta) = 2 sum log(1 + lam g_i)``, ``g_i = N_i - theta D_i``, with the
scalar ``lam`` solving ``sum g_i / (1 + lam g_i) = 0``. The interval is
``{theta : -2 log R(theta) <= F_(1, n-1)(confidence)}`` (F calibration, Owen
2001, sec. 3.5; chi-square(1) in the limit).
"""

from __future__ import annotations

import math

import numpy as np


def _compress(num: np.ndarray, den: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (num, den) pairs and their counts (most offer logs repeat a few pairs)."""
    u_num, i_num = np.unique(num, return_inverse=True)
    u_den, i_den = np.unique(den, return_inverse=True)
    m = u_den.size
    keys, counts = np.unique(i_num.reshape(-1).astype(np.int64) * m + i_den.reshape(-1),
                             return_counts=True)
    return u_num[keys // m], u_den[keys % m], counts.astype(np.float64)


def _statistic(theta: float, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    """``-2 log R(theta)`` for units ``(a, b)`` repeated ``c`` times (inf outside the hull)."""
    g = a - theta * b
    scale = float(np.max(np.abs(g)))
    if scale == 0.0:
        return 0.0
    g = g / scale                          # the statistic does not depend on g's scale
    g[np.abs(g) <= 1e-13] = 0.0
    hi_g, lo_g = float(g.max()), float(g.min())
    if hi_g <= 0.0 or lo_g >= 0.0:
        return math.inf

    def score(lam: float) -> float:        # decreasing in lam on the open interval
        return float(np.dot(c, g / (1.0 + lam * g)))

    left, right = -1.0 / hi_g, -1.0 / lo_g
    pad = 1e-12 * (right - left)
    left, right = left + pad, right - pad
    if score(left) <= 0.0:
        lam = left
    elif score(right) >= 0.0:
        lam = right
    else:
        from scipy import optimize  # here, not at import: scipy.optimize costs ~0.3 s

        lam = optimize.brentq(score, left, right, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                              maxiter=500)
    return 2.0 * float(np.dot(c, np.log1p(lam * g)))


def el_interval(num: np.ndarray, den: np.ndarray, value: float,
                confidence: float) -> tuple[float, float]:
    """The empirical likelihood interval of ``value = sum(num) / sum(den)`` over the units.

    The bounds lie inside the range of the units' own ratios ``num_i / den_i``
    (the convex hull of the data); one distinct ratio gives ``(value, value)``.
    """
    a, b, c = _compress(num, den)
    n = float(c.sum())
    pos = b != 0
    if n < 2 or not pos.any():
        return value, value
    ratios = a[pos] / b[pos]
    r_lo, r_hi = float(ratios.min()), float(ratios.max())
    if r_hi - r_lo <= 1e-12 * max(abs(r_lo), abs(r_hi)):  # one ratio (to rounding)
        return value, value
    # solved on ratios of order 1: the statistic does not depend on the numerators' scale,
    # and a tolerance relative to subnormal ratios (a target probability of 2e-313) is 0
    unit = max(abs(r_lo), abs(r_hi))
    lo, hi = _el_bounds(a / unit, b, c, n, value / unit, r_lo / unit, r_hi / unit, confidence)
    return lo * unit, hi * unit


def _el_bounds(a: np.ndarray, b: np.ndarray, c: np.ndarray, n: float, value: float,
               r_lo: float, r_hi: float, confidence: float) -> tuple[float, float]:
    """:func:`el_interval`'s bounds for units whose ratios span ``[r_lo, r_hi]``."""
    from scipy import optimize, stats  # here, not at import: ~0.5 s, unused by serving

    level = float(stats.f.ppf(confidence, 1, n - 1))

    def excess(theta: float) -> float:
        return _statistic(theta, a, b, c) - level

    tol = 1e-12 * max(abs(value), r_hi - r_lo)

    inside = excess(value) < 0.0           # False only when the estimate is at an edge

    def bound(edge: float) -> float:
        # -2 log R grows from 0 at the estimate to infinity at the hull's edge
        inner = edge + (value - edge) * 1e-9
        if not inside:
            return value
        if not excess(inner) > 0.0:
            return inner
        return float(optimize.brentq(excess, *sorted((value, inner)), xtol=tol, maxiter=500))

    return bound(r_lo), bound(r_hi)
