"""Fisher's exact test for positive association, vectorised over many rules.

The p-value :math:`P(H \\ge n_{XY})` of :func:`fisher_p_value` (public through
:mod:`upsell.bundles`) sums hypergeometric probabilities computed with Loader's (2000)
saddle-point expansion, as R's ``dhyper`` does.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from upsell.exceptions import UpsellDataError

__all__ = ["fisher_p_value"]

_LN_SQRT_2PI = 0.918938533204672741780329736406
# Loader's (2000) series for the Stirling-formula error, coefficients 1/12, 1/360, ...
_S0, _S1, _S2, _S3, _S4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
# terms of the tail sum evaluated per rule and pass: the first passes are short because
# most rules of interest sit far in the tail, where a few terms reach full precision
_TAIL_BLOCKS = (8, 16, 32, 64)
# rules per chunk of the p-value computation (bounds its temporaries to a few MB)
_P_CHUNK = 1 << 15


def _stirlerr_table() -> np.ndarray:
    from scipy.special import gammaln

    n = np.arange(16, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = gammaln(n + 1) - (n + 0.5) * np.log(n) + n - _LN_SQRT_2PI
    out[0] = 0.0
    return np.asarray(out, dtype=np.float64)


_STIRL: list[np.ndarray] = []


def _stirlerr(n: np.ndarray) -> np.ndarray:
    """``log(n!) - log(sqrt(2 pi n) (n / e)^n)`` for integer-valued ``n >= 1`` (Loader 2000)."""
    if not _STIRL:
        _STIRL.append(_stirlerr_table())
    nn = n * n
    # Loader's series to the 1/n^9 term for every n > 15 (R stops earlier for large n
    # to save time; the extra terms only add precision); a table below
    series = (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / n
    small = n <= 15
    if small.any():
        series = np.where(small, _STIRL[0][np.minimum(n, 15).astype(np.intp)], series)
    return series


def _bd0(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x log(x / m) + m - x`` without cancellation (Loader 2000); ``x > 0``, ``m > 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(x / m) + m - x
    near = np.flatnonzero(np.abs(x - m) < 0.1 * (x + m))
    if near.size:
        xn, mn = x[near], m[near]
        v = (xn - mn) / (xn + mn)
        s = (xn - mn) * v
        ej = 2 * xn * v
        v = v * v
        for j in range(1, 1000):
            ej = ej * v
            s1 = s + ej / (2 * j + 1)
            if np.array_equal(s1, s):
                break
            s = s1
        out[near] = s
    return out


def _log_binom_pmf(x: np.ndarray, n: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Log binomial pmf in Loader's saddle-point form (as R's ``dbinom``); ``0 <= x <= n``."""
    out = np.empty_like(x)
    mid = (x > 0) & (x < n)
    xm, nm = x[mid], n[mid]
    lc = (_stirlerr(nm) - _stirlerr(xm) - _stirlerr(nm - xm)
          - _bd0(xm, nm * p[mid]) - _bd0(nm - xm, nm * q[mid]))
    out[mid] = lc - 0.5 * (2 * _LN_SQRT_2PI + np.log(xm) + np.log1p(-xm / nm))
    zero = x == 0
    pz, qz = p[zero], q[zero]
    out[zero] = n[zero] * np.where(pz < 0.5, np.log1p(-pz), np.log(qz))
    full = (x == n) & ~zero
    pf, qf = p[full], q[full]
    out[full] = n[full] * np.where(qf < 0.5, np.log1p(-qf), np.log(pf))
    return out


def _log_hypergeom_pmf(h: np.ndarray, good: np.ndarray, draws: np.ndarray, n: float
                       ) -> np.ndarray:
    """Log pmf of the hypergeometric distribution as a ratio of binomial pmfs (R's ``dhyper``)."""
    p = draws / n
    q = (n - draws) / n
    # the denominator's binomial sits at its mean (x = n p): both deviance terms vanish
    inner = (draws > 0) & (draws < n)
    nn = np.full(1, n)  # the same population for every rule: its Stirling term once
    d = draws[inner]
    log_den = np.zeros_like(h)
    log_den[inner] = (_stirlerr(nn) - _stirlerr(d) - _stirlerr(nn - d)
                      - 0.5 * (2 * _LN_SQRT_2PI + np.log(d) + np.log1p(-d / n)))
    return (_log_binom_pmf(h, good, p, q) + _log_binom_pmf(draws - h, n - good, p, q)
            - log_den)


def _tail_sum(start: np.ndarray, good: np.ndarray, draws: np.ndarray, n: float, upper: bool
              ) -> np.ndarray:
    """``sum_j pmf(start +- j) / pmf(start)`` over the tail away from the mode (terms <= 1)."""
    total = np.ones(start.size)
    last = np.ones(start.size)
    h = start.copy()
    # ratio of consecutive terms, (u - h)(v - h) / ((h + 1)(w + h)) for the upper tail and
    # h (w + h) / ((u - h)(v - h)) with shifted constants for the lower one
    if upper:
        u, v, w = good, draws, n - good - draws + 1
    else:
        u, v, w = good + 1, draws + 1, n - good - draws
    act = np.arange(start.size)
    sign = 1.0 if upper else -1.0
    for width in itertools.chain(_TAIL_BLOCKS, itertools.repeat(_TAIL_BLOCKS[-1])):
        if act.size == 0:
            break
        # one row per term, one column per rule: every numpy call runs along the rules
        # (rows of a few terms would cost a loop call each)
        hh = (np.arange(width, dtype=np.float64) * sign)[:, None] + h[act]
        a = u[act] - hh
        b = v[act] - hh
        a *= b
        np.add(hh, w[act], out=b)
        # denominators stay positive inside the support; numerators reach 0 at its end
        # (and the clip keeps every later term at 0)
        if upper:
            hh += 1.0
            hh *= b
            np.divide(a, hh, out=a)
        else:
            hh *= b
            np.divide(hh, a, out=a)
        np.maximum(a, 0.0, out=a)
        for j in range(1, width):  # the running product down the terms
            np.multiply(a[j - 1], a[j], out=a[j])
        a *= last[act]
        total[act] += _sum_rows(a)
        last[act] = a[-1]
        h[act] += sign * width
        act = act[last[act] > 1e-17 * total[act]]
    return total


def _sum_rows(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` for 8 to 128 rows (a multiple of 8), added in the order numpy adds a row.

    numpy sums a contiguous run of 8 to 128 values in 8 interleaved lanes, then pairs
    the lanes; done down the columns here, so the tail sums keep their last bit.
    """
    lanes = a[:8].copy()
    for i in range(8, a.shape[0], 8):
        lanes += a[i:i + 8]
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5])
                                                              + (lanes[6] + lanes[7]))


def fisher_p_value(n_xy: Any, n_x: Any, n_y: Any, n: int) -> np.ndarray:
    """One-sided Fisher exact test for positive association of ``X`` and ``Y``, vectorised.

    Parameters
    ----------
    n_xy, n_x, n_y : array-like of int
        Baskets holding both, ``X`` and ``Y``.
    n : int
        Number of baskets.

    Returns
    -------
    ndarray of float64
        :math:`P(H \\ge n_{XY})` for :math:`H` hypergeometric with population
        :math:`N`, :math:`n_Y` successes and :math:`n_X` draws, in [0, 1].

    Notes
    -----
    The probability of the first term is computed in log space with Loader's
    (2000) saddle-point form of the binomial (the algorithm of R's ``dhyper``,
    relative error near 1e-14 where :func:`scipy.special.gammaln` differences
    lose digits for large ``N``). The tail is then summed from there with the
    ratio of consecutive terms, all rules at once, in short passes: past the
    mode the terms fall, and a rule stops once its next term adds less than
    1e-17 of its sum. When ``n_xy`` lies at or below the mode the lower tail is
    summed instead and ``p = 1 - P(H < n_xy)``. Each rule's result depends only
    on its own counts (not on the other rules passed along).

    Examples
    --------
    >>> [f"{p:.6g}" for p in fisher_p_value([8, 2], [10, 10], [20, 20], 100)]
    ['2.37827e-05', '0.636951']
    >>> from scipy.stats import hypergeom
    >>> bool(np.isclose(fisher_p_value([3], [10], [20], 100)[0], hypergeom.sf(2, 100, 20, 10), rtol=1e-12))
    True
    """
    a = np.asarray(n_xy, dtype=np.int64).reshape(-1)
    draws = np.asarray(n_x, dtype=np.int64).reshape(-1)
    good = np.asarray(n_y, dtype=np.int64).reshape(-1)
    if not a.size == draws.size == good.size:
        raise UpsellDataError(f"`n_xy`, `n_x` and `n_y` must have the same length; got "
                              f"{a.size}, {draws.size} and {good.size}")
    out = np.empty(a.size, dtype=np.float64)
    # in chunks: the tail sums hold (rules x terms) temporaries
    for lo in range(0, a.size, _P_CHUNK):
        hi = lo + _P_CHUNK
        out[lo:hi] = _fisher(a[lo:hi], draws[lo:hi], good[lo:hi], n)
    return out


def _fisher(a: np.ndarray, draws: np.ndarray, good: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(a.size, dtype=np.float64)
    lo = np.maximum(0, draws + good - n)
    hi = np.minimum(draws, good)
    out[a <= lo] = 1.0
    out[a > hi] = 0.0
    inner = np.flatnonzero((a > lo) & (a <= hi))
    if inner.size == 0:
        return out
    nf = float(n)
    af = a[inner].astype(np.float64)
    dr = draws[inner].astype(np.float64)
    gd = good[inner].astype(np.float64)
    up = af > np.floor((dr + 1) * (gd + 1) / (nf + 2))
    start = np.where(up, af, af - 1)
    log_first = _log_hypergeom_pmf(start, gd, dr, nf)
    total = np.ones(inner.size)
    for upper in (True, False):
        rows = np.flatnonzero(up == upper)
        if rows.size:
            total[rows] = _tail_sum(start[rows], gd[rows], dr[rows], nf, upper)
    log_tail = log_first + np.log(total)
    out[inner] = np.where(up, np.exp(log_tail), -np.expm1(np.minimum(log_tail, 0.0)))
    return np.clip(out, 0.0, 1.0)
