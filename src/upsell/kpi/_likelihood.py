"""Fitting machinery shared by the CLV models (BG/NBD, Pareto/NBD, Gamma-Gamma).

Checks of the ``(x, t_x, T)`` and spend inputs, the exact grouping of customers
into distinct weighted rows (the likelihood is evaluated once per distinct row),
the optimisers (damped Newton steps on an analytic Hessian, BFGS, a Nelder-Mead
polish) and the base classes that give the models ``fit``, ``from_params``,
``save``/``load`` and their repr. Private to :mod:`upsell.kpi`.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from scipy import optimize

from upsell._estimator import Estimator
from upsell._validation import as_floats, check_float
from upsell.exceptions import ConvergenceError, UpsellDataError
from upsell.kpi.rfm import RFMSummary
from upsell.persist import (
    CONTENT_ERRORS,
    check_array,
    corrupted,
    fail,
    read_model,
    write_model,
)

_M = TypeVar("_M", bound="_Model")

#: What to try when a transaction model does not converge (BG/NBD, Pareto/NBD).
_COUNT_ADVICE = ("check that `freq` gives sensible time units and that enough customers "
                 "repeat; a small `penalizer_coef` (e.g. 0.01) stabilises thin data")


# ---------------------------------------------------------------------------- input checks
def _column(data: Any, name: str) -> Any:
    if isinstance(data, RFMSummary):
        return getattr(data, name)
    if isinstance(data, Mapping):
        return data.get(name)
    if hasattr(data, "columns") and name in data.columns:
        return data[name].to_numpy()
    return None


#: Largest frequency or customer age (T) the CLV models take.
_MAX_RFM = 1e12


def _rfm_arrays(data: Any, frequency: Any, recency: Any, T: Any
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return validated float64 (x, t_x, T) from a summary/table or keyword arrays."""
    if data is not None:
        cols = [_column(data, n) for n in ("frequency", "recency", "T")]
        if any(c is None for c in cols):
            raise UpsellDataError(
                "`data` must be an RFMSummary, a DataFrame or a mapping with columns "
                f"'frequency', 'recency' and 'T'; got {type(data).__name__}")
        frequency, recency, T = cols
    elif frequency is None or recency is None or T is None:
        raise UpsellDataError("pass an RFMSummary as `data`, or `frequency`, `recency` and `T`")
    x = _floats(frequency, "frequency")
    t_x = _floats(recency, "recency")
    tt = _floats(T, "T")
    if not (x.size == t_x.size == tt.size):
        raise UpsellDataError(
            f"`frequency`, `recency` and `T` must have the same length; "
            f"got {x.size}, {t_x.size}, {tt.size}")
    _first_bad(x, (x < 0) | (x != np.round(x)), "frequency", "must be a whole number >= 0")
    # counts and times beyond 1e12 are not customer data (and overflow the closed forms)
    _first_bad(x, x > _MAX_RFM, "frequency", f"must be at most {_MAX_RFM:g}")
    _first_bad(tt, tt > _MAX_RFM, "T", f"must be at most {_MAX_RFM:g}")
    # T = 0 is a customer whose first purchase is on the calibration end day (rfm_summary
    # keeps them): x = t_x = 0 and the likelihood factor is 1, so they add nothing to a
    # fit, and their predictions are those of a new customer
    _first_bad(tt, tt < 0, "T", "must be >= 0")
    _first_bad(tt, (tt == 0) & (x > 0), "T", "must be > 0 when frequency > 0")
    _first_bad(t_x, (t_x < 0) | (t_x > tt * (1 + 1e-12)), "recency", "must be in [0, T]")
    _first_bad(t_x, (x == 0) & (t_x != 0), "recency", "must be 0 when frequency is 0")
    return x, t_x, tt


def _floats(v: Any, name: str) -> np.ndarray:
    a = as_floats(v, name, ndim=1)
    _first_bad(a, ~np.isfinite(a), name, "must be finite")
    return a


def _first_bad(a: np.ndarray, bad: np.ndarray, name: str, what: str) -> None:
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise UpsellDataError(f"`{name}` {what}; position {i} holds {a[i]!r}")


def _times(t: Any, name: str = "t") -> np.ndarray:
    a = as_floats(t, name)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise UpsellDataError(f"`{name}` must be finite and >= 0; got {t!r}")
    return a


def _distinct(col: np.ndarray, whole: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``col`` and each entry's index among them (exact).

    Whole numbers >= 0 below 2**20 (frequencies, packed codes) are ranked by
    counting. Other values are sorted once (:func:`numpy.unique` without an
    inverse, which needs no argsort); when ``v -> rint((v - min) / step)``, with
    ``step`` the smallest gap between distinct values, is one-to-one on them (times
    on a daily or hourly grid), every entry is ranked through a lookup table.
    The map is monotone, so it is one-to-one exactly when the mapped distinct
    values are strictly increasing: equal codes then mean equal floats. Otherwise
    :func:`numpy.unique` ranks them with an argsort.
    """
    if whole and col.size and float(col.max()) < (1 << 20):
        ci = col.astype(np.int64)
        present = np.bincount(ci) > 0
        rank = np.cumsum(present) - 1
        return np.flatnonzero(present).astype(col.dtype), rank[ci]
    u = np.unique(col)
    if u.size == 1:
        return u, np.zeros(col.size, dtype=np.int64)
    lo = u[0]
    step = float(np.min(np.diff(u)))
    if step > 0 and float(u[-1] - lo) < step * (1 << 20):
        ku = np.rint((u - lo) / step).astype(np.int64)
        if np.all(np.diff(ku) > 0):
            lut = np.zeros(int(ku[-1]) + 1, dtype=np.int64)
            lut[ku] = np.arange(u.size)
            return u, lut[np.rint((col - lo) / step).astype(np.int64)]
    u, inv = np.unique(col, return_inverse=True)
    return u, inv.reshape(-1)


#: Packed rank keys must stay below this (int64, with a bit to spare).
_MAX_KEY = 1 << 62


@dataclass(frozen=True, slots=True)
class _Groups:
    """Distinct rows of aligned columns: per column its sorted distinct values and,
    per distinct row, the index of its value among them; and each row's weight."""

    values: list[np.ndarray]
    codes: list[np.ndarray]
    w: np.ndarray

    def column(self, j: int) -> np.ndarray:
        return self.values[j][self.codes[j]]

    def subset(self, keep: np.ndarray) -> _Groups:
        return _Groups(self.values, [c[keep] for c in self.codes], self.w[keep])


def _group_rows(cols: list[np.ndarray], whole: list[bool],
                weights: np.ndarray | None = None) -> _Groups:
    """Group customers into distinct rows of ``cols``, exactly (no rounding of values).

    Each column is replaced by the dense rank of its value; the ranks are packed
    into one int64 key, so a single sort of integers (:func:`numpy.unique`) finds
    the distinct rows, and the ranks are unpacked from the distinct keys. Two rows
    share a key exactly when every column holds equal floats. When the ranks do not
    fit in 63 bits, a :func:`numpy.lexsort` of the ranks does the same job.
    """
    values, codes = zip(*(_distinct(c, wh) for c, wh in zip(cols, whole, strict=True)),
                        strict=True)
    sizes = [max(v.size, 1) for v in values]
    n = cols[0].size
    if math.prod(sizes) < _MAX_KEY:
        key = codes[0].astype(np.int64)
        w: np.ndarray
        for c, k in zip(codes[1:], sizes[1:], strict=True):
            key = key * k + c
        if weights is None:
            ukey, counts = np.unique(key, return_counts=True)
            w = counts.astype(np.float64)
        else:
            ukey, inv = np.unique(key, return_inverse=True)
            w = np.bincount(inv.reshape(-1), weights=weights, minlength=ukey.size)
        out: list[np.ndarray] = []
        for k in sizes[:0:-1]:
            ukey, rem = np.divmod(ukey, k)
            out.append(rem)
        out.append(ukey)
        return _Groups(list(values), out[::-1], w)
    order = np.lexsort(codes[::-1])
    sorted_codes = [c[order] for c in codes]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any([np.diff(c) != 0 for c in sorted_codes], axis=0)
    starts = np.flatnonzero(new)
    wts = np.ones(n) if weights is None else weights[order]
    w = np.add.reduceat(wts, starts)
    return _Groups(list(values), [c[starts] for c in sorted_codes], w)


def _wdot(a: np.ndarray, b: np.ndarray) -> float:
    """Weighted sum without BLAS: waking BLAS threads for one dot product costs
    milliseconds on a busy machine, far more than the sum itself."""
    return float(np.add.reduce(a * b))


@dataclass(frozen=True, slots=True)
class _Rows:
    """Distinct (x, t_x, T) rows with weights, and gather indices into their distinct parts.

    Functions of x alone, of t_x alone, of T alone, or of the pairs (x, t_x) and
    (x, T) are evaluated once per distinct value and gathered; on a daily grid
    these have far fewer values than the rows.
    """

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    w: np.ndarray
    xs: np.ndarray
    xi: np.ndarray
    ts: np.ndarray
    ti: np.ndarray
    Ts: np.ndarray
    Ti: np.ndarray
    xt_x: np.ndarray
    xt_t: np.ndarray
    xt_i: np.ndarray
    xT_x: np.ndarray
    xT_T: np.ndarray
    xT_i: np.ndarray

    @classmethod
    def build(cls, g: _Groups, scale: float) -> _Rows:
        """Rows from grouped ``(x, t_x, T)`` with times multiplied by ``scale``."""
        (xs, ts, Ts), (xi, ti, Ti) = g.values, g.codes
        ts, Ts = ts * scale, Ts * scale
        x, t_x, T = xs[xi], ts[ti], Ts[Ti]
        # the pairs (x, t_x) and (x, T) as packed rank keys, unpacked after np.unique
        k1, i1 = _distinct(xi * ts.size + ti, whole=True)
        k2, i2 = _distinct(xi * Ts.size + Ti, whole=True)
        return cls(x=x, t_x=t_x, T=T, w=g.w, xs=xs, xi=xi, ts=ts, ti=ti, Ts=Ts, Ti=Ti,
                   xt_x=xs[k1 // ts.size], xt_t=ts[k1 % ts.size], xt_i=i1,
                   xT_x=xs[k2 // Ts.size], xT_T=Ts[k2 % Ts.size], xT_i=i2)


# ---------------------------------------------------------------------------- model base
class _Model(Estimator):
    """Shared fitting, parameter access, persistence and repr of the CLV models."""

    _fitted_attr = "params_"

    _model_params: ClassVar[tuple[str, ...]] = ()
    _time_params: ClassVar[tuple[str, ...]] = ()  # parameters measured in time units
    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: int
    n_unique_: int
    n_iter_: int

    def __init__(self, *, penalizer_coef: float = 0.0, max_iter: int = 2000) -> None:
        self.penalizer_coef = penalizer_coef
        self.max_iter = max_iter

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, as scikit-learn's ``get_params`` (``deep`` changes nothing)."""
        return super().get_params()

    def __repr__(self) -> str:
        # every parameter, then the fitted ones: unlike the Estimator repr
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        fitted = ""
        if hasattr(self, "params_"):
            fitted = " fitted: " + ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({args}){fitted}"

    def _check_fitted(self) -> dict[str, float]:  # type: ignore[override]
        super()._check_fitted()
        return self.params_

    def _check_init(self) -> tuple[float, int]:
        pen = check_float(self.penalizer_coef, "penalizer_coef", low=0)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral) \
                or self.max_iter < 1:
            raise UpsellDataError(f"`max_iter` must be an integer >= 1; got {self.max_iter!r}")
        return pen, int(self.max_iter)

    def _optimize(self, fun: Callable[[np.ndarray], tuple[float, np.ndarray] | float],
                  x0: np.ndarray, *, jac: bool, advice: str) -> np.ndarray:
        """Minimise over log-parameters; raise ConvergenceError instead of returning garbage."""
        _, max_iter = self._check_init()
        name = type(self).__name__
        with np.errstate(all="ignore"):
            # BFGS, not L-BFGS-B: with 3-4 parameters its dense update is cheaper than
            # L-BFGS-B's per-iteration overhead
            res = optimize.minimize(fun, x0, jac=True if jac else "3-point", method="BFGS",
                                    options={"maxiter": max_iter, "gtol": 1e-9 if jac else 1e-8})
            nit = int(res.nit)
            grad = getattr(res, "jac", None)
            if not res.success and grad is not None and np.all(np.isfinite(grad)) \
                    and float(np.max(np.abs(grad))) < 1e-6 and res.nit > 0:
                # BFGS stops with "precision loss" when the line search can no longer
                # improve an objective that is flat to rounding: converged
                res.success = True
            if not res.success:
                # polish: a simplex search copes with flat valleys where BFGS loses precision
                def value(z: np.ndarray) -> float:
                    out = fun(z)
                    return float(out[0]) if isinstance(out, tuple) else float(out)

                res2 = optimize.minimize(
                    value, res.x, method="Nelder-Mead",
                    options={"maxiter": max_iter, "xatol": 1e-9, "fatol": 1e-13,
                             "adaptive": True})
                nit += int(res2.nit)
                if np.isfinite(res2.fun) and res2.fun <= res.fun:
                    res = res2
                    res.success = res2.success
        self.n_iter_ = nit
        z = np.asarray(res.x, dtype=np.float64)
        f = float(res.fun)
        if not np.isfinite(f) or not np.all(np.isfinite(z)):
            raise ConvergenceError(
                f"{name} fit failed: the log-likelihood is not finite at the optimum "
                f"(log-parameters {z.tolist()}); {advice}")
        # data are rescaled to O(10) before the fit, so sensible parameters lie well
        # inside exp(+-12); beyond it the likelihood has no interior maximum
        if np.any(np.abs(z) > 12):
            params = dict(zip(self._model_params, np.exp(z).tolist(), strict=True))
            raise ConvergenceError(
                f"{name} fit diverged: parameters {params} run to 0 or infinity; {advice}")
        if not res.success:
            raise ConvergenceError(
                f"{name} fit did not converge after {nit} iterations ({res.message}); "
                f"raise `max_iter`, or {advice}")
        return z

    def _newton(self, fun: Callable[..., Any], z0: np.ndarray, *, advice: str) -> np.ndarray:
        """Minimise by damped Newton steps over log-parameters, else fall back to BFGS.

        ``fun(z, 2)`` returns the objective, its gradient and Hessian. Each step
        solves with the Hessian's eigenvalues replaced by their absolute values
        (so a step never climbs where the Hessian is indefinite), is capped at 2
        in log space and halved until the objective decreases enough (Armijo). A
        few steps reach the optimum to rounding; when they do not (a step cannot
        decrease the objective, parameters leave exp(+-12), 50 steps pass) the
        fit restarts from the last point with :meth:`_optimize`, which raises
        ``ConvergenceError`` with ``advice`` if that fails too.
        """
        _, max_iter = self._check_init()
        z = np.asarray(z0, dtype=np.float64).copy()
        with np.errstate(all="ignore"):
            f, g, h = fun(z, 2)
            for it in range(1, min(max_iter, 50) + 1):
                if h is None or not (np.isfinite(f) and np.all(np.isfinite(h))):
                    break
                ev, vec = np.linalg.eigh(h)
                scale = float(np.max(np.abs(ev)))
                step = -vec @ ((vec.T @ g) / np.maximum(np.abs(ev), 1e-10 * max(scale, 1e-300)))
                big = float(np.max(np.abs(step)))
                if big > 2.0:
                    step *= 2.0 / big
                slope = float(g @ step)
                t, accepted = 1.0, False
                while t > 1e-8:
                    f_new, g_new, h_new = fun(z + t * step, 2)
                    if f_new <= f + 1e-4 * t * slope:
                        accepted = True
                        break
                    t *= 0.5
                if not accepted:
                    break
                z = z + t * step
                f, g, h = f_new, g_new, h_new
                if np.any(np.abs(z) > 12):
                    break
                # converged: the gradient is at rounding level and the Hessian shows a
                # strict minimum (mean objective of O(1), so 1e-9 is near machine precision
                # after summing thousands of rows)
                if float(np.max(np.abs(g))) < 1e-9 and h is not None \
                        and float(np.linalg.eigvalsh(h)[0]) > 0:
                    self.n_iter_ = it
                    return z
        return self._optimize(lambda v: fun(v, 1), z, jac=True, advice=advice)

    @classmethod
    def from_params(cls: type[_M], **params: float) -> _M:
        """A model with the given parameters, as if fitted (e.g. published estimates).

        Examples
        --------
        >>> from upsell.kpi import BetaGeo
        >>> BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426).params_["a"]
        0.793
        """
        names = cls._model_params
        if set(params) != set(names):
            raise UpsellDataError(
                f"{cls.__name__}.from_params needs exactly {', '.join(names)}; "
                f"got {', '.join(params) or 'nothing'}")
        model = cls()
        model.params_ = {n: check_float(params[n], n, low=0, low_open=True) for n in names}
        model.log_likelihood_ = math.nan
        model.n_customers_ = model.n_unique_ = model.n_iter_ = 0
        return model

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the fitted model as ``.npz`` + JSON (no pickle), atomically.

        Examples
        --------
        >>> from upsell.kpi import BetaGeo
        >>> import tempfile, os
        >>> d = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5).sample(
        ...     2000, T=39.0, random_state=1)
        >>> m = BetaGeo().fit(d)
        >>> p = os.path.join(tempfile.mkdtemp(), "bg.npz")
        >>> m.save(p)
        >>> BetaGeo.load(p).params_ == m.params_
        True
        """
        params = self._check_fitted()
        write_model(path, kind=type(self).__name__, params=self.get_params(),
                    arrays={"params": np.array([params[n] for n in self._model_params])},
                    meta={"param_names": list(self._model_params),
                          # JSON has no NaN: a model made by from_params has no likelihood
                          "log_likelihood": (self.log_likelihood_
                                             if math.isfinite(self.log_likelihood_) else None),
                          "n_customers": self.n_customers_, "n_unique": self.n_unique_,
                          "n_iter": self.n_iter_})

    @classmethod
    def load(cls: type[_M], path: str | os.PathLike[str], *, verify: bool = True) -> _M:
        """Load a model saved by :meth:`save`.

        Parameters
        ----------
        path : path-like
        verify : bool, default True
            Check the arrays' SHA-256, as every model load does (False when the caller
            checked the file). A CLV model holds a few parameters and no id maps, so the
            ``ids=`` and ``mmap=`` of the larger models' loads have nothing to act on.

        Raises
        ------
        ModelFileError
            Missing or corrupted file, or a file holding another model kind.
        """
        doc, arrays = read_model(path, kind=cls.__name__, verify=verify)
        f = os.fspath(path)
        try:
            model = cls(**doc["params"])
            model._check_init()  # untrusted file: parameters through fit's checks
            meta = doc["meta"]
            names = meta["param_names"]
            if not isinstance(names, list) or sorted(names) != sorted(cls._model_params):
                raise fail(f, "param_names", f"must name {', '.join(cls._model_params)}; got "
                                             f"{names!r}")
            # a fit's parameters are positive and finite; bounded so predictions cannot overflow
            values = check_array(arrays.get("params"), file=f, member="params",
                                 shape=(len(names),), low=1e-300, high=_MAX_PARAM)
            model.params_ = dict(zip(names, values.astype(float).tolist(), strict=True))
            ll = meta["log_likelihood"]
            if ll is not None and (type(ll) not in (int, float) or not math.isfinite(ll)):
                raise fail(f, "log_likelihood", f"must be a finite number or null; got {ll!r}")
            model.log_likelihood_ = math.nan if ll is None else float(ll)
            for key in ("n_customers", "n_unique", "n_iter"):
                if type(meta[key]) is not int or meta[key] < 0:
                    raise fail(f, key, f"must be an integer >= 0; got {meta[key]!r}")
            model.n_customers_ = meta["n_customers"]
            model.n_unique_ = meta["n_unique"]
            model.n_iter_ = meta["n_iter"]
        except CONTENT_ERRORS as exc:
            raise corrupted(f, cls.__name__, exc) from None
        return model


#: Largest model parameter accepted on load (shape and scale parameters of fitted
#: BG/NBD, Pareto/NBD and Gamma-Gamma models are many orders of magnitude smaller).
_MAX_PARAM = 1e12


class _CountModel(_Model):
    """Transaction models over (x, t_x, T): fit and the per-customer predictions."""

    def _loglik_and_grad(self, p: np.ndarray, rows: _Rows,
                         grad: bool) -> tuple[float, np.ndarray | None]:
        raise NotImplementedError

    def _row_loglik(self, p: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _loglik_grad_hess(self, p: np.ndarray, rows: _Rows
                          ) -> tuple[float, np.ndarray, np.ndarray]:
        raise NotImplementedError

    _analytic_grad: ClassVar[bool] = True
    _analytic_hess: ClassVar[bool] = False
    _advice: ClassVar[str] = ""

    def fit(self: _M, data: Any = None, *, frequency: Any = None, recency: Any = None,
            T: Any = None, weights: Any = None) -> _M:
        """Fit by maximum likelihood.

        Parameters
        ----------
        data : RFMSummary, DataFrame or mapping, optional
            With ``frequency``, ``recency`` and ``T`` (as from :func:`rfm_summary`).
        frequency, recency, T : array-like, optional
            The same columns given directly (when ``data`` is None).
        weights : array-like of float, optional
            Number of customers each row stands for (default 1 each).

        Returns
        -------
        self

        Raises
        ------
        UpsellDataError
            Invalid summaries (negative or fractional frequency, recency > T, ...).
        ConvergenceError
            The likelihood has no interior maximum or the optimiser did not converge;
            the message says what to try.
        """
        assert isinstance(self, _CountModel)
        pen, _ = self._check_init()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        if weights is None:
            w0 = np.ones(x.size)
        else:
            w0 = _floats(weights, "weights")
            if w0.size != x.size:
                raise UpsellDataError(f"`weights` must have {x.size} values; got {w0.size}")
            _first_bad(w0, w0 < 0, "weights", "must be >= 0")
        if x.size == 0 or w0.sum() <= 0:
            raise UpsellDataError("no customers to fit: the summary is empty")
        if not np.any(x > 0):
            raise ConvergenceError(
                f"{type(self).__name__} cannot be fitted: no customer made a repeat purchase "
                "(all frequency == 0); lengthen the calibration period")
        # distinct rows, weighted by how many customers (or how much weight) they stand for
        groups = _group_rows([x, t_x, tt], [True, False, False],
                             None if weights is None else w0)
        if weights is not None:
            groups = groups.subset(groups.w > 0)
        uw = groups.w
        n_total = float(uw.sum())
        # rescale time so that the largest T is 10: keeps alpha and beta near 1
        scale = 10.0 / float(groups.values[2][groups.codes[2]].max())
        tp = [i for i, n in enumerate(self._model_params) if n in self._time_params]
        rows = _Rows.build(groups, scale)
        ux, ut, uT = groups.column(0), groups.column(1), groups.column(2)

        def fun(z: np.ndarray, order: int = 1) -> Any:
            p = np.exp(z)
            g: np.ndarray | None
            h: np.ndarray | None = None
            if order == 2:
                ll, g, h = self._loglik_grad_hess(p, rows)
            else:
                ll, g = self._loglik_and_grad(p, rows, self._analytic_grad)
            f = -ll / n_total + pen * float(np.sum(p ** 2))
            if not self._analytic_grad:
                return f if np.isfinite(f) else 1e300
            assert g is not None
            gz = -g * p / n_total + pen * 2 * p ** 2
            if not np.isfinite(f):
                return (1e300, np.zeros_like(z)) if order == 1 else (1e300, np.zeros_like(z), None)
            if order == 1:
                return f, gz
            # chain rule to log-parameters: d2/dz_i dz_j = p_i p_j H_ij + [i = j] p_i g_i
            assert h is not None
            hz = -(h * np.outer(p, p) + np.diag(g * p)) / n_total + np.diag(pen * 4 * p ** 2)
            return f, gz, hz

        z0 = np.zeros(len(self._model_params))
        if self._analytic_hess:
            z = self._newton(fun, z0, advice=self._advice)
        else:
            z = self._optimize(fun, z0, jac=self._analytic_grad, advice=self._advice)
        p = np.exp(z)
        p[tp] /= scale
        self.params_ = dict(zip(self._model_params, p.tolist(), strict=True))
        self.log_likelihood_ = float(np.sum(uw * self._row_loglik(p, ux, ut, uT)))
        self.n_customers_ = round(n_total)
        self.n_unique_ = int(ux.size)
        return self

    def _p(self) -> np.ndarray:
        params = self._check_fitted()
        return np.array([params[n] for n in self._model_params])

    def log_likelihood(self, data: Any = None, *, frequency: Any = None, recency: Any = None,
                       T: Any = None) -> np.ndarray:
        """Log-likelihood of each customer's ``(x, t_x, T)`` at the fitted parameters.

        Examples
        --------
        >>> from upsell.kpi import BetaGeo
        >>> d = BetaGeo.from_params(r=0.3, alpha=4.0, a=0.8, b=2.5).sample(
        ...     2000, T=39.0, random_state=1)
        >>> m = BetaGeo().fit(d)
        >>> bool(np.isclose(m.log_likelihood(d).sum(), m.log_likelihood_))
        True
        """
        p = self._p()
        x, t_x, tt = _rfm_arrays(data, frequency, recency, T)
        return self._row_loglik(p, x, t_x, tt)

    def predict(self, t: float, data: Any = None, *, frequency: Any = None,
                recency: Any = None, T: Any = None) -> np.ndarray:
        """Expected purchases in the next ``t`` time units, per customer (alias of
        :meth:`conditional_expected_purchases`, clipped at 0 against rounding)."""
        return np.maximum(self.conditional_expected_purchases(t, data, frequency=frequency,
                                                              recency=recency, T=T), 0.0)

    def conditional_expected_purchases(self, t: float, data: Any = None, *,
                                       frequency: Any = None, recency: Any = None,
                                       T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in ``(T, T + t]`` for each customer."""
        raise NotImplementedError

    def probability_alive(self, data: Any = None, *, frequency: Any = None,
                          recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T) for each customer."""
        raise NotImplementedError
