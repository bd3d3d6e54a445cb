"""The Pareto/NBD model of repeat purchasing: :class:`ParetoNBD`.

References
----------
- Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting Your
  Customers: Who Are They and What Will They Do Next? *Management Science* 33(1), 1-24.
- Fader, P. S. & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model
  and Related Expressions. (Likelihood, eq. 22-24.)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from upsell.kpi._likelihood import (
    _COUNT_ADVICE,
    _CountModel,
    _first_bad,
    _rfm_arrays,
    _Rows,
    _times,
    _wdot,
)

__all__ = ["ParetoNBD"]


class ParetoNBD(_CountModel):
    """Pareto/NBD model of repeat purchasing (Schmittlein, Morrison & Colombo 1987).

    While alive, a customer buys as a Poisson process with rate ``lambda ~
    Gamma(r, alpha)``; their lifetime is exponential with rate ``mu ~ Gamma(s, beta)``.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty on the parameters.
    max_iter : int, default 2000

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta`` (``alpha`` and ``beta`` in time units).
    log_likelihood_, n_customers_, n_unique_, n_iter_
        As for :class:`BetaGeo`.

    Notes
    -----
    Likelihood (Fader & Hardie 2005 note, eq. 22)::

        L = G(r+x) alpha^r beta^s / G(r) * [ 1/((alpha+T)^(r+x) (beta+T)^s)
                                             + s/(r+s+x) A0 ]

    where, for ``alpha >= beta`` (eq. 23),
    ``A0 = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t_x)) / (alpha+t_x)^(r+s+x)
    - 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+T)) / (alpha+T)^(r+s+x)``
    and for ``alpha < beta`` (eq. 24) the same with ``s+1 -> r+x`` and ``alpha``,
    ``beta`` swapped. The two terms are combined in log space (``logaddexp``,
    and ``log(p1 - p2) = log p1 + log1p(-p2/p1)``) so neither underflow nor a
    negative difference from rounding reaches the log. The gradient is taken
    numerically (no closed form for the derivatives of 2F1 in its parameters).
    E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (Schmittlein et
    al. 1987, eq. 17); P(alive) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0)
    (Fader & Hardie 2005 note, eq. 18); E[Y(t) | x, t_x, T] = (r+x)(beta+T) /
    ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive) (eq. 25);
    P(X(t) = n) integrates the NBD count over the lifetime distribution.

    Examples
    --------
    >>> from upsell.kpi import BetaGeo
    >>> truth = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5)
    >>> m = ParetoNBD().fit(truth.sample(2000, T=39.0, random_state=1))
    >>> sorted(m.params_)
    ['alpha', 'beta', 'r', 's']
    >>> bool(0 <= m.probability_alive(frequency=[1], recency=[2], T=[39])[0] <= 1)
    True
    """

    _model_params = ("r", "alpha", "s", "beta")
    _time_params = ("alpha", "beta")
    _analytic_grad = False
    _advice = _COUNT_ADVICE

    @staticmethod
    def _log_a0(p: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = p
        rsx = r + s + x
        if alpha >= beta:
            big, b2 = alpha, s + 1.0
        else:
            big, b2 = beta, r + x
        z_t = abs(alpha - beta) / (big + t_x)
        z_T = abs(alpha - beta) / (big + T)
        lp1 = np.log(special.hyp2f1(rsx, b2, rsx + 1, z_t)) - rsx * np.log(big + t_x)
        lp2 = np.log(special.hyp2f1(rsx, b2, rsx + 1, z_T)) - rsx * np.log(big + T)
        # both terms -inf (hyp2f1 underflows for a large frequency): A0 = 0, set below
        with np.errstate(invalid="ignore"):
            diff = np.minimum(lp2 - lp1, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = lp1 + np.log(-np.expm1(diff))
        return np.where(lp2 >= lp1, -np.inf, out)

    def _row_loglik(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = p
        first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        second = np.log(s) - np.log(r + s + x) + self._log_a0(p, x, t_x, T)
        return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                + s * np.log(beta) + np.logaddexp(first, second))

    def _loglik_and_grad(self, p: np.ndarray, rows: _Rows,
                         grad: bool) -> tuple[float, np.ndarray | None]:
        r, alpha, s, beta = p
        x = rows.x
        rsx = r + s + x
        big, sec = (alpha, s + 1.0) if alpha >= beta else (beta, None)
        diff = abs(alpha - beta)

        def log_term(xv: np.ndarray, tv: np.ndarray) -> np.ndarray:
            # log 2F1(r+s+x, b2; r+s+x+1; |alpha-beta|/(big+t)) - (r+s+x) log(big+t),
            # once per distinct (x, t) pair
            a1 = r + s + xv
            b2 = sec if sec is not None else r + xv
            return np.log(special.hyp2f1(a1, b2, a1 + 1, diff / (big + tv))) - a1 * np.log(big + tv)

        lp1 = log_term(rows.xt_x, rows.xt_t)[rows.xt_i]
        lp2 = log_term(rows.xT_x, rows.xT_T)[rows.xT_i]
        dl = np.minimum(lp2 - lp1, 0.0)
        with np.errstate(divide="ignore"):
            log_a0 = np.where(lp2 >= lp1, -np.inf, lp1 + np.log(-np.expm1(dl)))
        first = -(r + x) * np.log(alpha + rows.Ts)[rows.Ti] - s * np.log(beta + rows.Ts)[rows.Ti]
        second = np.log(s) - np.log(rsx) + log_a0
        xs, xi = rows.xs, rows.xi
        ll_rows = special.gammaln(r + xs)[xi] + np.logaddexp(first, second)
        ll = float(_wdot(rows.w, ll_rows)) + float(rows.w.sum()) * (
            -special.gammaln(r) + r * np.log(alpha) + s * np.log(beta))
        return ll, None

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)] for a new customer (Schmittlein et al. 1987, eq. 17).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> bool(m.expected_purchases(39.0) > m.expected_purchases(1.0))
        True
        """
        r, alpha, s, beta = self._p()
        t = _times(t)
        return np.asarray(r * beta / alpha * _pow_term(s - 1, np.log1p(t / beta)))

    def probability_alive(self, data: Any = None, *, frequency: Any = None,
                          recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive | x, t_x, T) (Fader & Hardie 2005 note, eq. 18).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> p = m.probability_alive(frequency=[0, 5, 5], recency=[0, 38, 5], T=[39, 39, 39])
        >>> bool(p[1] > p[2])
        True
        """
        p = self._p()
        r, alpha, s, beta = p
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + tt)
                    + s * np.log(beta + tt) + self._log_a0(p, x, t_x, tt))
        return np.asarray(special.expit(-log_odds))

    def conditional_expected_purchases(self, t: float, data: Any = None, *,
                                       frequency: Any = None, recency: Any = None,
                                       T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T] (Fader & Hardie 2005 note, eq. 25).

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> e = m.conditional_expected_purchases(39, frequency=[0, 2], recency=[0, 30.43],
        ...                                      T=[38.86, 38.86])
        >>> bool(e[1] > e[0] > 0)
        True
        """
        r, alpha, s, beta = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        t = float(_times(t))
        factor = (r + x) * (beta + tt) / (alpha + tt) * _pow_term(s - 1, np.log1p(t / (beta + tt)))
        return np.asarray(factor * self.probability_alive(frequency=x, recency=t_x, T=tt))

    def probability_of_purchases(self, n: Any, t: float) -> np.ndarray:
        """P(X(t) = n) for a new customer.

        Notes
        -----
        With the purchase rate independent of the lifetime ``tau``,
        ``P(X(t) = n) = S(t) NBD(n; t) + int_0^t g(u) NBD(n; u) du`` where
        ``S(t) = (beta/(beta+t))^s``, ``g(u) = (s/beta) (beta/(beta+u))^(s+1)`` and
        ``NBD(n; u) = G(r+n)/(G(r) n!) (alpha/(alpha+u))^r (u/(alpha+u))^n``; the
        integral is computed by adaptive quadrature.

        Examples
        --------
        >>> m = ParetoNBD.from_params(r=0.553, alpha=10.578, s=0.606, beta=11.669)
        >>> round(float(m.probability_of_purchases(np.arange(200), 39.0).sum()), 6)
        1.0
        """
        from scipy import integrate

        r, alpha, s, beta = self._p()
        n_arr = np.asarray(n, dtype=np.float64)
        _first_bad(n_arr.reshape(-1), ((n_arr < 0) | (n_arr != np.round(n_arr))).reshape(-1),
                   "n", "must be a whole number >= 0")
        t = float(_times(t))
        lc = special.gammaln(r + n_arr) - special.gammaln(r) - special.gammaln(n_arr + 1)

        def nbd(u: float) -> np.ndarray:
            lz = math.log(u / (alpha + u)) if u > 0 else -np.inf
            with np.errstate(invalid="ignore"):
                ln = np.where(n_arr > 0, n_arr * lz, 0.0)
            return np.asarray(np.exp(lc + r * math.log(alpha / (alpha + u)) + ln))

        surv = (beta / (beta + t)) ** s
        if t == 0:
            return np.asarray(nbd(0.0))
        integral, _ = integrate.quad_vec(
            lambda u: s / beta * (beta / (beta + u)) ** (s + 1) * nbd(u), 0.0, t,
            epsabs=1e-12, epsrel=1e-10)
        return np.asarray(surv * nbd(t) + integral)


def _pow_term(e: float, log_base: Any) -> np.ndarray:
    """``(1 - exp(-e * log_base)) / e``, continuous at ``e = 0`` (where it is ``log_base``)."""
    lb = np.asarray(log_base, dtype=np.float64)
    if abs(e) < 1e-10:
        return lb
    return np.asarray(-np.expm1(-e * lb) / e)
