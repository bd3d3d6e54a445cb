"""The BG/NBD model of repeat purchasing: :class:`BetaGeo`.

References
----------
- Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers"
  the Easy Way: An Alternative to the Pareto/NBD Model. *Marketing Science* 24(2),
  275-284. (Equation numbers below refer to this paper.)
- Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2008). Computing P(alive) Using
  the BG/NBD Model.
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

__all__ = ["BetaGeo"]


class BetaGeo(_CountModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    While alive, a customer buys as a Poisson process with rate ``lambda ~
    Gamma(r, alpha)``; after each purchase they drop out with probability ``p ~
    Beta(a, b)``.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty on the parameters (added to the mean negative log-likelihood);
        a small value (0.001-0.1) keeps fits on thin data from diverging.
    max_iter : int, default 2000
        Optimiser iteration limit.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b`` (``alpha`` in the time unit of the data).
    log_likelihood_ : float
        Total log-likelihood at the optimum (Fader et al.'s LL).
    n_customers_, n_unique_ : int
        Customers fitted and distinct ``(x, t_x, T)`` rows evaluated.
    n_iter_ : int

    Notes
    -----
    Likelihood of one customer (eq. 6)::

        L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
          + 1{x>0} B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))

    evaluated in log form with ``logaddexp``; the gradient in ``(r, alpha, a, b)``
    and Hessian are analytic (digamma and trigamma functions), and the fit runs
    damped Newton steps over log-parameters on the distinct rows (about 7 steps;
    BFGS takes over when a step fails). Predictions: E[X(t)] (eq. 7), P(X(t) = n)
    (eq. 8), E[Y(t) | x, t_x, T] (eq. 10), and P(alive) from Fader, Hardie & Lee's
    note "Computing P(alive) Using the BG/NBD Model" (2008):
    ``1 / (1 + 1{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``.

    Examples
    --------
    >>> truth = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5)
    >>> m = BetaGeo().fit(truth.sample(2000, T=39.0, random_state=1))
    >>> sorted(m.params_)
    ['a', 'alpha', 'b', 'r']
    >>> bool(np.all(np.diff(m.expected_purchases([1, 10, 50])) > 0))
    True
    >>> p = m.probability_alive(frequency=[2], recency=[30], T=[39])
    >>> bool(0 <= p[0] <= 1)
    True
    """

    _model_params = ("r", "alpha", "a", "b")
    _time_params = ("alpha",)
    _analytic_hess = True
    _advice = _COUNT_ADVICE

    def _parts(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r, alpha, a, b = p
        c1 = -(r + x) * np.log(alpha + T)
        pos = x > 0
        c2 = np.full(x.shape, -np.inf)
        xp = x[pos]
        c2[pos] = np.log(a) - np.log(b + xp - 1) - (r + xp) * np.log(alpha + t_x[pos])
        return c1, c2, np.logaddexp(c1, c2)

    def _row_loglik(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = p
        _, _, tail = self._parts(p, x, t_x, T)
        return (special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
                + special.betaln(a, b + x) - special.betaln(a, b) + tail)

    def _loglik_and_grad(self, p: np.ndarray, rows: _Rows,
                         grad: bool) -> tuple[float, np.ndarray | None]:
        r, alpha, a, b = p
        x, w, xs, xi = rows.x, rows.w, rows.xs, rows.xi
        # logs of alpha + t are taken once per distinct time and gathered
        la_T = np.log(alpha + rows.Ts)[rows.Ti]
        la_t = np.log(alpha + rows.ts)[rows.ti]
        rx = r + x
        c1 = -rx * la_T
        with np.errstate(divide="ignore"):
            lb = np.where(xs > 0, np.log(a) - np.log(np.maximum(b + xs - 1, 1e-300)), -np.inf)[xi]
        c2 = lb - rx * la_t
        d = c2 - c1
        tail = c1 + np.logaddexp(0.0, d)
        lg = (special.gammaln(r + xs) + special.gammaln(b + xs) - special.gammaln(a + b + xs))[xi]
        ll_rows = lg + tail
        ll = float(_wdot(w, ll_rows)) + float(w.sum()) * (
            -special.gammaln(r) + r * np.log(alpha) + special.gammaln(a) - special.betaln(a, b))
        if not grad:
            return ll, None
        w2 = special.expit(d)
        w1 = 1.0 - w2
        wsum = float(w.sum())
        dr = (_wdot(w, special.digamma(r + xs)[xi] - w1 * la_T - w2 * la_t)
              + wsum * (np.log(alpha) - special.digamma(r)))
        dalpha = wsum * r / alpha - _wdot(w * rx, w1 / (alpha + rows.Ts)[rows.Ti]
                                           + w2 / (alpha + rows.ts)[rows.ti])
        dab = (special.digamma(a + b) - special.digamma(a + b + xs))[xi]
        da = _wdot(w, dab + w2 / a)
        with np.errstate(divide="ignore"):
            inv_b = np.where(xs > 0, 1.0 / np.maximum(b + xs - 1, 1e-300), 0.0)[xi]
        db = _wdot(w, special.digamma(b + xs)[xi] + dab - w2 * inv_b) - wsum * special.digamma(b)
        return ll, np.array([dr, dalpha, da, db])

    def _loglik_grad_hess(self, p: np.ndarray, rows: _Rows
                          ) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, gradient and Hessian in ``(r, alpha, a, b)``.

        With ``tail = logaddexp(c1, c2)`` and ``w2 = expit(c2 - c1)``, ``w1 = 1 - w2``:
        ``d2 tail = w1 d2c1 + w2 d2c2 + w1 w2 (dc2 - dc1)(dc2 - dc1)^T``; the terms in
        x alone (gamma functions) and the constants add their trigamma terms.
        """
        r, alpha, a, b = p
        x, w, xs, xi = rows.x, rows.w, rows.xs, rows.xi
        ll, g = self._loglik_and_grad(p, rows, True)
        assert g is not None
        rx = r + x
        la_T = np.log(alpha + rows.Ts)[rows.Ti]
        la_t = np.log(alpha + rows.ts)[rows.ti]
        i_T = (1.0 / (alpha + rows.Ts))[rows.Ti]
        i_t = (1.0 / (alpha + rows.ts))[rows.ti]
        with np.errstate(divide="ignore"):
            inv_bx = np.where(xs > 0, 1.0 / np.maximum(b + xs - 1, 1e-300), 0.0)
            lb = np.where(xs > 0, np.log(a) + np.log(inv_bx), -np.inf)[xi]
        d = lb - rx * (la_t - la_T)
        w2 = special.expit(d)
        w1 = 1.0 - w2
        ww = w * w1 * w2
        ib = inv_bx[xi]
        # dc2 - dc1 per parameter
        dr, dal = la_T - la_t, rx * (i_T - i_t)
        da, db = np.where(xs > 0, 1.0 / a, 0.0)[xi], -ib
        diffs = (dr, dal, da, db)
        h = np.empty((4, 4))
        for i in range(4):
            for j in range(i, 4):
                h[i, j] = h[j, i] = _wdot(ww, diffs[i] * diffs[j])
        wsum = float(w.sum())
        t_rx = special.polygamma(1, r + xs)[xi]
        t_abx = special.polygamma(1, a + b + xs)[xi]
        t_bx = special.polygamma(1, b + xs)[xi]
        t_ab = float(special.polygamma(1, a + b))
        h[0, 0] += _wdot(w, t_rx) - wsum * float(special.polygamma(1, r))
        h[0, 1] += -_wdot(w, w1 * i_T + w2 * i_t) + wsum / alpha
        h[1, 0] = h[0, 1]
        h[1, 1] += _wdot(w * rx, w1 * i_T * i_T + w2 * i_t * i_t) - wsum * r / alpha ** 2
        h[2, 2] += -_wdot(w, t_abx) - _wdot(w, w2) / a ** 2 + wsum * t_ab
        h[2, 3] += -_wdot(w, t_abx) + wsum * t_ab
        h[3, 2] = h[2, 3]
        h[3, 3] += (_wdot(w, t_bx - t_abx + w2 * ib * ib)
                    + wsum * (t_ab - float(special.polygamma(1, b))))
        return ll, g, h

    def sample(self, n_customers: int, *, T: Any,
               random_state: int | np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """Draw customers' ``(x, t_x, T)`` from the model (for simulation and tests).

        Parameters
        ----------
        n_customers : int
        T : float or array-like of shape (n_customers,)
            Observation length of each customer after their first purchase.
        random_state : int or numpy Generator, optional

        Returns
        -------
        dict
            ``frequency``, ``recency`` and ``T`` arrays, usable as ``data``.

        Notes
        -----
        ``lambda ~ Gamma(r, 1/alpha)``, ``p ~ Beta(a, b)``; the number of repeat
        purchases before drop-out is ``J ~ Geometric(p)`` and an immortal customer
        would make ``N ~ Poisson(lambda T)`` purchases, so ``x = min(N, J)``; the
        ``x``-th of ``N`` uniform event times gives ``t_x = T Beta(x, N - x + 1)``.

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> d = m.sample(3000, T=39.0, random_state=0)
        >>> bool(np.all(d["recency"] <= d["T"]))
        True
        >>> fit = BetaGeo().fit(d)
        >>> abs(fit.params_["r"] - 0.243) < 0.05
        True
        """
        from upsell._validation import check_int

        r, alpha, a, b = self._p()
        n = check_int(n_customers, "n_customers", minimum=1)
        tt = np.broadcast_to(_times(T, "T"), (n,)).astype(np.float64)
        _first_bad(tt, tt <= 0, "T", "must be > 0")
        rng = np.random.default_rng(random_state)
        lam = rng.gamma(r, 1.0 / alpha, n)
        p = rng.beta(a, b, n)
        j = rng.geometric(p)
        big_n = rng.poisson(lam * tt)
        x = np.minimum(big_n, j)
        t_x = np.zeros(n)
        pos = x > 0
        t_x[pos] = tt[pos] * rng.beta(x[pos], big_n[pos] - x[pos] + 1)
        return {"frequency": x.astype(np.int64), "recency": t_x, "T": tt.copy()}

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected purchases of a new customer in ``t`` time units (eq. 7).

        Parameters
        ----------
        t : float or array-like
            Horizon(s) in the time unit of the fitted data.

        Returns
        -------
        ndarray of float64, the shape of ``t``.

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> np.round(m.expected_purchases([1, 78]), 4).tolist()
        [0.0533, 1.8605]
        """
        r, alpha, a, b = self._p()
        t = _times(t)
        z = t / (alpha + t)
        am1 = a - 1 if abs(a - 1) > 1e-9 else 1e-9
        h = special.hyp2f1(r, b, a + b - 1, z)
        return np.asarray((a + b - 1) / am1 * (1 - (alpha / (alpha + t)) ** r * h))

    def probability_of_purchases(self, n: Any, t: float) -> np.ndarray:
        """P(X(t) = n): probability that a new customer buys ``n`` times in ``t`` (eq. 8).

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> p = m.probability_of_purchases(np.arange(200), 39.0)
        >>> round(float(p.sum()), 6)
        1.0
        """
        r, alpha, a, b = self._p()
        n_arr = np.asarray(n, dtype=np.float64)
        _first_bad(n_arr.reshape(-1), ((n_arr < 0) | (n_arr != np.round(n_arr))).reshape(-1),
                   "n", "must be a whole number >= 0")
        t = float(_times(t))
        lq = math.log(alpha / (alpha + t))
        lz = math.log(t / (alpha + t)) if t > 0 else -np.inf
        base = (special.betaln(a, b + n_arr) - special.betaln(a, b)
                + special.gammaln(r + n_arr) - special.gammaln(r) - special.gammaln(n_arr + 1)
                + r * lq + np.where(n_arr > 0, n_arr * lz, 0.0))
        first = np.exp(base)
        # 1 - (alpha/(alpha+t))^r sum_{j<n} G(r+j)/(G(r) j!) (t/(alpha+t))^j
        nmax = int(n_arr.max()) if n_arr.size else 0
        j = np.arange(max(nmax, 1), dtype=np.float64)
        terms = np.exp(special.gammaln(r + j) - special.gammaln(r) - special.gammaln(j + 1)
                       + r * lq + np.where(j > 0, j * lz, 0.0))
        cum = np.concatenate([[0.0], np.cumsum(terms)])
        idx = n_arr.astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            second = np.where(
                n_arr > 0,
                np.exp(special.betaln(a + 1, b + n_arr - 1) - special.betaln(a, b))
                * np.maximum(1.0 - cum[np.minimum(idx, cum.size - 1)], 0.0),
                0.0)
        return np.asarray(first + second)

    def conditional_expected_purchases(self, t: float, data: Any = None, *,
                                       frequency: Any = None, recency: Any = None,
                                       T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` units (eq. 10).

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> round(float(m.conditional_expected_purchases(39, frequency=[2], recency=[30.43],
        ...                                               T=[38.86])[0]), 3)
        1.226
        """
        r, alpha, a, b = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        t = float(_times(t))
        am1 = a - 1 if abs(a - 1) > 1e-9 else 1e-9
        # eq. 10 has ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z), z = t/(alpha+T+t),
        # which overflows to inf * 0 = NaN for heavy buyers (x in the hundreds). Euler's
        # transformation 2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the product
        # into (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose series converges fast
        # whatever x, but overflows in turn for a very large `a`; each row takes the form
        # that is finite.
        one_z = (alpha + tt) / (alpha + tt + t)
        z = t / (alpha + tt + t)
        with np.errstate(all="ignore"):
            prod = one_z ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
            bad = ~np.isfinite(prod)
            if bad.any():
                prod[bad] = (one_z[bad] ** (a - 1)
                             * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x[bad] - 1, z[bad]))
        num = (a + b + x - 1) / am1 * (1 - prod)
        return np.asarray(num * self.probability_alive(frequency=x, recency=t_x, T=tt))

    def probability_alive(self, data: Any = None, *, frequency: Any = None,
                          recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive | x, t_x, T) (Fader, Hardie & Lee 2008 note, eq. 2).

        Examples
        --------
        >>> m = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
        >>> m.probability_alive(frequency=[0, 2], recency=[0, 5], T=[30, 30]).round(3).tolist()
        [1.0, 0.191]
        """
        r, alpha, a, b = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        out = np.ones(x.shape)
        pos = x > 0
        xp = x[pos]
        log_odds = (np.log(a) - np.log(b + xp - 1)
                    + (r + xp) * (np.log(alpha + tt[pos]) - np.log(alpha + t_x[pos])))
        out[pos] = special.expit(-log_odds)
        return out

