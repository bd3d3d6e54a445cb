"""The scikit-learn habits every fitted upsell model shares: parameters, repr, fitted check."""

from __future__ import annotations

import inspect
from typing import Any

from upsell.exceptions import NotFittedError

__all__ = ["Estimator"]


class Estimator:
    """Base of fitted models: ``get_params``, a repr showing non-default parameters, ``_check_fitted``.

    Subclasses store their keyword-only ``__init__`` parameters unchanged under the
    same names and name one attribute that ``fit`` sets in ``_fitted_attr``.

    Examples
    --------
    >>> class Demo(Estimator):
    ...     _fitted_attr = "weights_"
    ...     def __init__(self, *, alpha=1.0, k=3):
    ...         self.alpha, self.k = alpha, k
    >>> Demo(k=5)
    Demo(k=5)
    >>> Demo().get_params()
    {'alpha': 1.0, 'k': 3}
    >>> Demo()._check_fitted()
    Traceback (most recent call last):
    ...
    upsell.exceptions.NotFittedError: Demo is not fitted yet; call fit first
    """

    _fitted_attr = "customers_"
    _fit_hint = "fit"

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [name for name in sig.parameters if name != "self"]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as given."""
        return {name: getattr(self, name) for name in self._param_names()}

    def _repr_params(self) -> str:
        sig = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = sig.parameters[name].default
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={value!r}")
        return ", ".join(shown)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_params()})"

    def _is_fitted(self) -> bool:
        return hasattr(self, self._fitted_attr)

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call {self._fit_hint} first")


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
