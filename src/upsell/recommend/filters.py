"""Business-rule filters: owned or in the basket, out of stock, excluded, catalog predicates,
frequency caps. Each is a :class:`~upsell.recommend.Rule`; the ones shown record "passed".
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from upsell._validation import check_float, check_int
from upsell.exceptions import UpsellDataError
from upsell.recommend._core import OfferPool, Request

__all__ = ["Exclude", "FrequencyCap", "InStock", "NotOwned", "Where", "default_rules",
           "register_rule", "rule_from_config"]

_RULES: dict[str, type] = {}


def register_rule(cls: type) -> type:
    """Allow saved recommenders to rebuild rules of this class (``to_config`` / ``from_config``).

    Examples
    --------
    >>> @register_rule
    ... class Nothing:
    ...     name = "nothing"
    ...     def apply(self, pool, request): pass
    ...     def to_config(self): return {}
    ...     @classmethod
    ...     def from_config(cls, config): return cls()
    >>> rule_from_config({"type": "Nothing", "config": {}}).name
    'nothing'
    """
    if not callable(getattr(cls, "to_config", None)) or not callable(
            getattr(cls, "from_config", None)):
        raise UpsellDataError(f"a registered rule class needs to_config() and a classmethod "
                              f"from_config(config); {cls.__name__} lacks one")
    _RULES[cls.__qualname__] = cls
    return cls


def rule_to_config(rule: Any) -> dict[str, Any]:
    """``{"type": class name, "config": rule.to_config()}`` or a clear error."""
    cls = type(rule)
    if _RULES.get(cls.__qualname__) is not cls:
        raise UpsellDataError(
            f"rule {getattr(rule, 'name', cls.__name__)!r} ({cls.__name__}) cannot be saved: "
            f"give it to_config() / from_config() and register it with "
            f"upsell.recommend.register_rule")
    return {"type": cls.__qualname__, "config": rule.to_config()}


def rule_from_config(doc: Mapping[str, Any]) -> Any:
    """Rebuild a rule saved by :func:`rule_to_config` (registered classes only).

    Examples
    --------
    >>> rule_from_config({"type": "InStock", "config": {"min_stock": 2.0}}).min_stock
    2.0
    """
    cls = _RULES.get(str(doc.get("type")))
    if cls is None:
        raise UpsellDataError(
            f"rule type {doc.get('type')!r} is not registered; import the module that defines "
            f"it and call upsell.recommend.register_rule(its class) before loading")
    return cls.from_config(dict(doc.get("config", {})))  # type: ignore[attr-defined]


def _ids(values: Any, name: str) -> frozenset[Any]:
    if values is None:
        return frozenset()
    if isinstance(values, (str, bytes, numbers.Integral)):
        values = [values]
    if not isinstance(values, Iterable):
        raise UpsellDataError(f"`{name}` must be a list of item ids; got {values!r}")
    out = []
    for v in values:
        out.append(v.item() if isinstance(v, np.generic) else v)
    return frozenset(out)


def _id_list(values: frozenset[Any]) -> list[Any]:
    return sorted(values, key=lambda v: (isinstance(v, str), v))


@register_rule
class NotOwned:
    """Leave out items in the basket and items the customer owns, except consumables bought again.

    A request with ``include_owned=True`` (:meth:`Recommender.recommend`) keeps
    owned items ("buy again"); basket items are always left out.

    Parameters
    ----------
    rebuy : list of item ids, optional
        Items that may be offered again although owned (refills, consumables).
    rebuy_kinds : tuple of str, default ("value_pack",)
        Catalog kinds that may be offered again although owned.

    Examples
    --------
    >>> NotOwned(rebuy=["ink"]).to_config()
    {'rebuy': ['ink'], 'rebuy_kinds': ['value_pack']}
    """

    name = "not_owned"

    def __init__(self, *, rebuy: Any = None, rebuy_kinds: tuple[str, ...] = ("value_pack",)
                 ) -> None:
        self.rebuy = _ids(rebuy, "rebuy")
        self.rebuy_kinds = tuple(rebuy_kinds)

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Drop basket items always, owned items unless they are consumables (or the request
        has ``include_owned``)."""
        basket = set(request.basket)
        owned = set(request.owned)
        kind = pool.catalog.kind
        again = bool(getattr(request, "include_owned", False))
        for c in pool:
            if c.item in basket:
                pool.drop(c, self.name)
            elif c.item in owned:
                if again:
                    pool.note(c, self.name, "owned, buy again allowed")
                elif c.item in self.rebuy or str(kind[c.index]) in self.rebuy_kinds:
                    pool.note(c, self.name, "owned, but bought again")
                else:
                    pool.drop(c, self.name)
            else:
                pool.note(c, self.name)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"rebuy": _id_list(self.rebuy), "rebuy_kinds": list(self.rebuy_kinds)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NotOwned:
        """Inverse of :meth:`to_config`."""
        return cls(rebuy=config.get("rebuy"), rebuy_kinds=tuple(config.get("rebuy_kinds", ())))


@register_rule
class InStock:
    """Leave out items whose known stock is below ``min_stock`` (unknown stock counts as available).

    Examples
    --------
    >>> InStock(min_stock=2).min_stock
    2.0
    """

    name = "in_stock"

    def __init__(self, *, min_stock: float = 1.0) -> None:
        self.min_stock = check_float(min_stock, "min_stock", low=0)

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Drop items with too little stock."""
        stock = pool.catalog.stock
        for c in pool:
            s = float(stock[c.index])
            if s == s and s < self.min_stock:
                pool.drop(c, self.name)
            else:
                pool.note(c, self.name)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"min_stock": self.min_stock}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InStock:
        """Inverse of :meth:`to_config`."""
        return cls(**config)


@register_rule
class Exclude:
    """Never offer these items (discontinued, recalled, adult-only, ...).

    Examples
    --------
    >>> sorted(Exclude(["b", "a"]).items)
    ['a', 'b']
    """

    name = "exclude"

    def __init__(self, items: Any) -> None:
        self.items = _ids(items, "items")

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Drop the listed items."""
        for c in pool:
            if c.item in self.items:
                pool.drop(c, self.name)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"items": _id_list(self.items)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Exclude:
        """Inverse of :meth:`to_config`."""
        return cls(config.get("items", []))


@register_rule
class Where:
    """Keep only items whose catalog attributes satisfy every condition.

    Each keyword names a catalog column (standard, feature or attribute):

    * a ``(low, high)`` pair on a numeric column: inclusive range (None: open end);
      unknown values (NaN) fail;
    * a list, tuple or set of values on another column: membership;
    * a single value: equality;
    * a callable ``f(value) -> bool`` (such a rule cannot be saved).

    Recommender.recommend's ``where=`` mapping builds one of these per request.

    Examples
    --------
    >>> from upsell import Catalog
    >>> cat = Catalog.from_records([{"item": "a", "price": 5.0, "category": "x"},
    ...                             {"item": "b", "price": 50.0, "category": "y"}])
    >>> w = Where(price=(None, 20), category=["x", "z"])
    >>> w.keeps(cat, 0), w.keeps(cat, 1)
    (True, False)
    """

    name = "where"

    def __init__(self, **conditions: Any) -> None:
        if not conditions:
            raise UpsellDataError("`Where` needs at least one condition, e.g. price=(0, 50)")
        self.conditions = dict(conditions)

    def bind(self, catalog: Any) -> Where:
        """Check the conditions against the catalog (see :func:`check_where`); returns self."""
        check_where(self, catalog)
        return self

    def keeps(self, catalog: Any, index: int) -> bool:
        """Whether item ``index`` of ``catalog`` satisfies every condition."""
        for col, spec in self.conditions.items():
            v = catalog.column(col)[index]
            if not _matches(col, v, spec):
                return False
        return True

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Drop items that fail a condition."""
        cols = {c: pool.catalog.column(c) for c in self.conditions}
        for c in pool:
            if all(_matches(name, cols[name][c.index], spec)
                   for name, spec in self.conditions.items()):
                pool.note(c, self.name)
            else:
                pool.drop(c, self.name)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready conditions (callables cannot be saved)."""
        out = {}
        for k, v in self.conditions.items():
            if callable(v):
                raise UpsellDataError(
                    f"Where condition on {k!r} is a function; it cannot be saved. Use a range, "
                    f"a list of values or a value, or register your own rule class")
            out[k] = list(v) if isinstance(v, (tuple, set, frozenset, list)) else v
        return {"conditions": out}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Where:
        """Inverse of :meth:`to_config`."""
        return cls(**dict(config["conditions"]))


def _matches(col: str, value: Any, spec: Any) -> bool:
    if callable(spec):
        return bool(spec(value.item() if isinstance(value, np.generic) else value))
    numeric = isinstance(value, (float, np.floating))
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and numeric and all(
            s is None or (isinstance(s, numbers.Real) and not isinstance(s, bool)) for s in spec):
        v = float(value)
        if v != v:
            return False
        lo, hi = spec
        return (lo is None or v >= lo) and (hi is None or v <= hi)
    if isinstance(spec, (tuple, list, set, frozenset)):
        py = value.item() if isinstance(value, np.generic) else value
        return py in spec
    py = value.item() if isinstance(value, np.generic) else value
    return bool(py == spec)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _check_condition(col: str, spec: Any, values: np.ndarray,
                     known: Callable[[], frozenset[Any]] | None = None) -> None:
    """Refuse a condition that can never match the column's type (``price="x"``) or names
    only values the column does not have (a misspelled category), instead of an empty list."""
    if callable(spec):
        return
    arg = f"`where[{col!r}]`"
    kind = values.dtype.kind
    if isinstance(spec, (set, frozenset)):
        spec = list(spec)
    many = isinstance(spec, (tuple, list))
    items = list(spec) if many else [spec]
    if many and not items:
        raise UpsellDataError(f"{arg} is an empty list: it would match no item")
    if kind == "f":
        if many and len(items) == 2 and all(s is None or _is_real(s) for s in items):
            lo, hi = items
            if any(s is not None and s != s for s in items):
                raise UpsellDataError(f"{arg} range bounds must be numbers or None; got {spec!r}")
            if lo is not None and hi is not None and lo > hi:
                raise UpsellDataError(f"{arg} range ({lo!r}, {hi!r}) is empty: low > high")
            return
        bad = [s for s in items if not _is_real(s) or s != s]
        if bad:
            raise UpsellDataError(
                f"{arg}: column {col!r} is numeric; give a (low, high) range, a number or a "
                f"list of numbers; got {bad[0]!r}")
        return
    if kind == "b":
        bad = [s for s in items if not isinstance(s, (bool, np.bool_))]
        if bad:
            raise UpsellDataError(f"{arg}: column {col!r} holds True/False; got {bad[0]!r}")
        return
    bad = [s for s in items if not isinstance(s, (str, np.str_))] if kind == "U" else []
    if bad:
        raise UpsellDataError(f"{arg}: column {col!r} holds text; got {bad[0]!r}")
    if known is not None and kind == "U":
        have = known()
        if not any(s in have for s in items):
            shown = ", ".join(repr(v) for v in sorted(have)[:8])
            more = ", ..." if len(have) > 8 else ""
            raise UpsellDataError(
                f"{arg}: {', '.join(map(repr, items[:3]))} "
                f"{'is' if len(items) == 1 else 'are'} not a value of column {col!r} "
                f"(it has {shown}{more})")


def check_where(where: Any, catalog: Any,
                values: dict[str, frozenset[Any]] | None = None) -> Where | None:
    """Validate a request's ``where=`` mapping against the catalog's columns.

    A condition on an unknown column, of the wrong type for its column (text for a
    numeric column), an empty range or list, or naming only values a text column
    does not have raises :class:`UpsellDataError` naming the column and the value:
    such a request would otherwise silently get no offers. ``values`` caches each
    text column's distinct values between requests (the recommender passes one).

    Examples
    --------
    >>> from upsell import Catalog
    >>> cat = Catalog.from_records([{"item": "a", "price": 5.0, "category": "x"}])
    >>> check_where({"price": "x"}, cat)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `where['price']`: column 'price' is numeric; give a (low, high) range, a number or a list of numbers; got 'x'
    >>> check_where({"category": "y"}, cat)
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `where['category']`: 'y' is not a value of column 'category' (it has 'x')
    """
    if where is None:
        return None
    if isinstance(where, Where):
        rule = where
    elif isinstance(where, Mapping):
        if not where:
            return None
        rule = Where(**{str(k): v for k, v in where.items()})
    else:
        raise UpsellDataError(
            f"`where` must be a mapping of catalog column -> condition; got {where!r}")
    cache = {} if values is None else values
    for col, spec in rule.conditions.items():
        arr = catalog.column(col)  # raises naming the column and the ones there are

        def known(col: str = col, arr: np.ndarray = arr) -> frozenset[Any]:
            got = cache.get(col)
            if got is None:
                got = frozenset(np.unique(arr).tolist())
                cache[col] = got  # a race only computes the same set twice
            return got

        _check_condition(col, spec, arr, known)
    return rule


@register_rule
class FrequencyCap:
    """Do not nag: the same offer at most ``max_presented`` times in ``within_days``, and an
    offer the customer declined not again for ``declined_days``.

    Reads the recommender's offer log; anonymous requests are not capped.

    Parameters
    ----------
    max_presented : int, default 3
    within_days : float, default 7
    declined_days : float, default 30

    Examples
    --------
    >>> FrequencyCap(max_presented=2, within_days=1).to_config()
    {'max_presented': 2, 'within_days': 1.0, 'declined_days': 30.0}
    """

    name = "frequency_cap"

    def __init__(self, *, max_presented: int = 3, within_days: float = 7.0,
                 declined_days: float = 30.0) -> None:
        self.max_presented = check_int(max_presented, "max_presented", minimum=1)
        self.within_days = check_float(within_days, "within_days", low=0)
        self.declined_days = check_float(declined_days, "declined_days", low=0)

    def apply(self, pool: OfferPool, request: Request) -> None:
        """Drop capped items; note the count on the others."""
        log = pool.offer_log
        if request.customer is None or log is None:
            return
        at = float(request.at.astype("datetime64[s]").astype(np.int64))
        shown_since = at - self.within_days * 86400.0
        declined_since = at - self.declined_days * 86400.0
        shown: dict[Any, int] = {}
        declined: set[Any] = set()
        for item, event, t in log.history(request.customer,
                                          since=min(shown_since, declined_since)):
            if t > at:
                continue
            if event == "presented" and t >= shown_since:
                shown[item] = shown.get(item, 0) + 1
            elif event == "declined" and t >= declined_since:
                declined.add(item)
        for c in pool:
            key = str(c.item)  # the log stores ids as text
            if key in declined or shown.get(key, 0) >= self.max_presented:
                pool.drop(c, self.name)
            else:
                pool.note(c, self.name, f"shown {shown.get(key, 0)} of "
                                        f"{self.max_presented} times in {self.within_days:g} days")

    def to_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"max_presented": self.max_presented, "within_days": self.within_days,
                "declined_days": self.declined_days}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FrequencyCap:
        """Inverse of :meth:`to_config`."""
        return cls(**config)


def default_rules(*, frequency_cap: bool = False, exclude: Any = None) -> list[Any]:
    """The :class:`~upsell.recommend.Recommender`'s rules when none are given.

    ``[NotOwned(), InStock()]``, then :class:`FrequencyCap` (``frequency_cap``: the
    Recommender has an offer log) and an :class:`Exclude` of ``exclude`` when it names
    any item (e.g. :func:`upsell.data.non_product_items`: fees and postage).

    Parameters
    ----------
    frequency_cap : bool, default False
    exclude : sequence of item ids, optional

    Returns
    -------
    list of Rule

    Examples
    --------
    >>> [r.name for r in default_rules(exclude=["POST"])]
    ['not_owned', 'in_stock', 'exclude']
    """
    rules: list[Any] = [NotOwned(), InStock()]
    if frequency_cap:
        rules.append(FrequencyCap())
    if exclude is not None and len(exclude):
        rules.append(Exclude(exclude))
    return rules
