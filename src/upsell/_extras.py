"""Optional dependencies, imported only when a feature needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from upsell.exceptions import MissingExtraError

_EXTRA_OF = {
    "pandas": "pandas",
    "pyarrow": "arrow",
    "matplotlib": "plots",
    "pyspark": "spark",
    "starlette": "serve",
    "uvicorn": "serve",
    "python_calamine": "excel",
}


def require(module: str, feature: str = "") -> ModuleType:
    """Import an optional dependency or raise :class:`MissingExtraError` naming the extra.

    Parameters
    ----------
    module : str
        Top-level module name, e.g. ``"pandas"`` or ``"pyarrow.csv"``.
    feature : str, optional
        What the caller wanted to do, quoted in the message.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingExtraError
        If the module cannot be imported.

    Examples
    --------
    >>> require("json").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = _EXTRA_OF.get(top, "all")
        what = f" for {feature}" if feature else ""
        raise MissingExtraError(
            f"{top} is needed{what} but is not installed; "
            f'install it with: pip install "upsell[{extra}]"'
        ) from exc
