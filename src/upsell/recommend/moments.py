"""The moment policy: which offers fit which point of the customer journey.

The handbook's "optimal moment": upgrades on the product page (the customer is
still choosing), accessories and bundles in the cart (the main item is decided),
warranties at checkout (the purchase is certain), refills, subscriptions and the
next purchase after it, timed by how long customers typically wait.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from upsell.data.catalog import KINDS
from upsell.exceptions import UpsellDataError

__all__ = ["MOMENTS", "Moment", "MomentPolicy"]

#: Moments of the default policy, in journey order.
MOMENTS = ("product_page", "cart", "checkout", "post_purchase")


@dataclass(frozen=True, slots=True)
class Moment:
    """What fits one moment: catalog kinds allowed per offer kind, sources, timing.

    Parameters
    ----------
    cross_sell : tuple of str
        Catalog kinds (:data:`~upsell.data.KINDS`) that may be offered as cross-sell.
    upsell : tuple of str
        Catalog kinds that may be offered as upsell.
    sources : tuple of str or None
        Only these sources are asked (None: all).
    timed : bool
        Ask sources to time offers by purchase lags (see
        :class:`~upsell.recommend.SequenceSource`).
    label : str
        Human wording for reasons.

    Examples
    --------
    >>> m = Moment(cross_sell=("warranty",), label="warranties at checkout")
    >>> m.allows("cross_sell", "warranty"), m.allows("upsell", "product")
    (True, False)
    """

    cross_sell: tuple[str, ...] = ()
    upsell: tuple[str, ...] = ()
    sources: tuple[str, ...] | None = None
    timed: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        for field_name in ("cross_sell", "upsell"):
            v = getattr(self, field_name)
            kinds = (v,) if isinstance(v, str) else tuple(v)
            for k in kinds:
                if k not in KINDS:
                    raise UpsellDataError(
                        f"`{field_name}` kinds must be among {', '.join(KINDS)}; got {k!r}")
            object.__setattr__(self, field_name, kinds)
        if self.sources is not None:
            src = (self.sources,) if isinstance(self.sources, str) else tuple(self.sources)
            object.__setattr__(self, "sources", src)
        if not isinstance(self.timed, bool):
            raise UpsellDataError(f"`timed` must be True or False; got {self.timed!r}")

    def allows(self, offer_kind: str, item_kind: str) -> bool:
        """Whether an offer of ``offer_kind`` for an item of catalog kind ``item_kind`` fits."""
        return item_kind in (self.cross_sell if offer_kind == "cross_sell" else self.upsell)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Examples
        --------
        >>> Moment(upsell=("product",)).to_dict()
        {'cross_sell': [], 'upsell': ['product'], 'sources': None, 'timed': False, 'label': ''}
        """
        return {"cross_sell": list(self.cross_sell), "upsell": list(self.upsell),
                "sources": None if self.sources is None else list(self.sources),
                "timed": self.timed, "label": self.label}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Moment:
        """Build from :meth:`to_dict` output.

        Examples
        --------
        >>> Moment.from_dict({"cross_sell": ["accessory"]}).cross_sell
        ('accessory',)
        """
        if isinstance(data, Moment):
            return data
        if not isinstance(data, Mapping):
            raise UpsellDataError(f"a moment must be a mapping; got {data!r}")
        extra = set(data) - {"cross_sell", "upsell", "sources", "timed", "label"}
        if extra:
            raise UpsellDataError(f"unknown moment key {sorted(extra)[0]!r}; allowed: "
                                  f"cross_sell, upsell, sources, timed, label")
        d = dict(data)
        for key in ("cross_sell", "upsell"):
            if key in d:
                d[key] = tuple(d[key])
        if d.get("sources") is not None:
            d["sources"] = tuple(d["sources"])
        return cls(**d)


_DEFAULT = {
    "product_page": Moment(
        upsell=("product", "value_pack", "bundle", "subscription"),
        label="upgrades and alternatives while the customer is choosing"),
    "cart": Moment(
        cross_sell=("accessory", "bundle"), upsell=("value_pack", "bundle"),
        label="accessories and bundles once the main item is in the cart"),
    "checkout": Moment(
        cross_sell=("warranty",), upsell=("subscription",),
        label="warranties and plans at checkout"),
    "post_purchase": Moment(
        cross_sell=("accessory", "subscription", "value_pack", "product"),
        upsell=("value_pack", "subscription"), timed=True,
        label="refills, subscriptions and the next purchase, when customers typically buy them"),
}


@dataclass(frozen=True)
class MomentPolicy:
    """Moment name -> :class:`Moment`; immutable, JSON-serialisable, editable by copy.

    Parameters
    ----------
    moments : mapping, optional
        Default: the handbook's four moments (see :data:`MOMENTS`).

    Examples
    --------
    >>> p = MomentPolicy()
    >>> p["checkout"].cross_sell
    ('warranty',)
    >>> p2 = p.with_moment("cart", cross_sell=("accessory",))
    >>> p2["cart"].cross_sell, p["cart"].cross_sell
    (('accessory',), ('accessory', 'bundle'))
    """

    moments: Mapping[str, Moment] = field(default_factory=dict)

    def __post_init__(self) -> None:
        src: Any = self.moments or _DEFAULT
        if not isinstance(src, Mapping):
            raise UpsellDataError(f"`moments` must be a mapping name -> Moment; got {src!r}")
        out = {}
        for name, m in src.items():
            if not isinstance(name, str) or not name:
                raise UpsellDataError(f"moment names must be non-empty strings; got {name!r}")
            out[name] = Moment.from_dict(m)
        object.__setattr__(self, "moments", MappingProxyType(out))

    def __getitem__(self, name: str) -> Moment:
        try:
            return self.moments[name]
        except KeyError:
            raise UpsellDataError(
                f"`moment` must be one of {', '.join(map(repr, self.moments))} or None; "
                f"got {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.moments

    def __iter__(self) -> Iterator[str]:
        return iter(self.moments)

    def __len__(self) -> int:
        return len(self.moments)

    def with_moment(self, name: str, **changes: Any) -> MomentPolicy:
        """A new policy with one moment added or changed (fields of :class:`Moment`).

        Examples
        --------
        >>> MomentPolicy().with_moment("returns_desk", cross_sell=("warranty",))["returns_desk"].label
        ''
        """
        base = self.moments.get(name, Moment())
        new = dict(self.moments)
        new[name] = Moment.from_dict({**base.to_dict(), **changes})
        return replace(self, moments=new)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Examples
        --------
        >>> MomentPolicy.from_dict(MomentPolicy().to_dict()) == MomentPolicy()
        True
        """
        return {name: m.to_dict() for name, m in self.moments.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MomentPolicy:
        """Build from :meth:`to_dict` output."""
        if isinstance(data, MomentPolicy):
            return data
        if not isinstance(data, Mapping) or not data:
            raise UpsellDataError(f"a moment policy must be a non-empty mapping; got {data!r}")
        return cls({k: Moment.from_dict(v) for k, v in data.items()})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MomentPolicy):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.moments))
