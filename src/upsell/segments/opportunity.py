"""The opportunity matrix: which cross-sell and which upsell to offer each customer segment."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from upsell._display import TableResult
from upsell.data.catalog import KINDS
from upsell.exceptions import ModelFileError, UnknownIdError, UpsellDataError
from upsell.persist import CONTENT_ERRORS, atomic_write_bytes, load_json, read_json

__all__ = ["OpportunityMatrix", "Strategy"]

_FORMAT = 1
_FLAGS = ("higher_tier", "top_tier", "exclusive", "discounted")
_DIRECTIONS = ("cross_sell", "upsell")


@dataclass(frozen=True, slots=True)
class Strategy(TableResult):
    """One way to sell more: catalog item kinds to offer and flags a recommender filters on.

    Parameters
    ----------
    kinds : tuple of str
        Catalog kinds to draw candidates from (:data:`~upsell.data.KINDS`).
    label : str
        What the handbook calls it ("extended warranties").
    higher_tier : bool
        Only items of a higher tier than the one owned, in the same family.
    top_tier : bool
        Prefer the top tier of the family (high-end alternatives).
    exclusive : bool
        Only exclusive items.
    discounted : bool
        Offer at a discount or prefer items priced below their parts (bundles).

    Examples
    --------
    >>> Strategy(kinds=("warranty",), label="extended warranties").to_dict()
    {'kinds': ['warranty'], 'label': 'extended warranties'}
    >>> Strategy(kinds=("bundle",), discounted=True).to_pandas().values.tolist()
    [['bundle', 'bundle', 'discounted']]
    """

    kinds: tuple[str, ...]
    label: str = ""
    higher_tier: bool = False
    top_tier: bool = False
    exclusive: bool = False
    discounted: bool = False

    _title = "Strategy"

    def __post_init__(self) -> None:
        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        if not kinds:
            raise UpsellDataError("`kinds` must name at least one catalog kind; got ()")
        for k in kinds:
            if k not in KINDS:
                raise UpsellDataError(f"`kinds` must be among {', '.join(KINDS)}; got {k!r}")
        object.__setattr__(self, "kinds", kinds)
        if not isinstance(self.label, str):
            raise UpsellDataError(f"`label` must be a string; got {self.label!r}")
        for flag in _FLAGS:
            if not isinstance(getattr(self, flag), bool):
                raise UpsellDataError(f"`{flag}` must be True or False; got {getattr(self, flag)!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; false flags and an empty label are left out.

        Examples
        --------
        >>> Strategy(kinds=("product",), higher_tier=True).to_dict()
        {'kinds': ['product'], 'higher_tier': True}
        """
        out: dict[str, Any] = {"kinds": list(self.kinds)}
        if self.label:
            out["label"] = self.label
        out.update({f: True for f in _FLAGS if getattr(self, f)})
        return out

    def _row(self) -> dict[str, Any]:
        return {"label": self.label or ", ".join(self.kinds), "kinds": ", ".join(self.kinds),
                "flags": ", ".join(f for f in _FLAGS if getattr(self, f))}

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        return {k: [v] for k, v in self._row().items()}

    def _n_rows(self) -> int:
        return 1

    def _repr_html_(self) -> str:
        from upsell._display import html_fields

        return html_fields("Strategy", self._row())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Strategy:
        """Build from :meth:`to_dict` output (unknown keys are an error).

        Examples
        --------
        >>> Strategy.from_dict({"kinds": ["value_pack"], "label": "value packs"}).kinds
        ('value_pack',)
        """
        if isinstance(data, Strategy):
            return data
        if not isinstance(data, Mapping) or "kinds" not in data:
            raise UpsellDataError(f"a strategy must be a mapping with 'kinds'; got {data!r}")
        extra = set(data) - {"kinds", "label", *_FLAGS}
        if extra:
            raise UpsellDataError(
                f"unknown strategy key {sorted(extra)[0]!r}; allowed: kinds, label, "
                f"{', '.join(_FLAGS)}")
        return cls(**dict(data))


_DEFAULT = {
    "new": (Strategy(("warranty",), "extended warranties"),
            Strategy(("product",), "premium versions", higher_tier=True)),
    "frequent": (Strategy(("accessory",), "accessories"),
                 Strategy(("subscription",), "loyalty or subscription plans")),
    "price_sensitive": (Strategy(("bundle",), "discounted bundles", discounted=True),
                        Strategy(("value_pack",), "value packs")),
    "premium": (Strategy(("product", "accessory"), "exclusive items", exclusive=True),
                Strategy(("product",), "high-end alternatives", higher_tier=True,
                         top_tier=True)),
}


@dataclass(frozen=True)
class OpportunityMatrix(TableResult):
    """Segment -> (cross-sell strategy, upsell strategy); immutable, JSON-serialisable.

    The default is the handbook's table: new customers -> extended warranties /
    premium versions; frequent -> accessories / loyalty or subscription plans;
    price-sensitive -> discounted bundles / value packs; premium -> exclusive items /
    high-end alternatives. Segments can be any labels (personas, RFM segments,
    cluster labels); edit with :meth:`with_strategy`, which returns a new matrix.

    Parameters
    ----------
    strategies : mapping, optional
        segment -> ``{"cross_sell": Strategy or dict, "upsell": Strategy or dict}``.
        Default: the handbook's table.

    Examples
    --------
    >>> m = OpportunityMatrix()
    >>> m.strategy("new", "cross_sell").kinds
    ('warranty',)
    >>> m["premium"]["upsell"].to_dict()
    {'kinds': ['product'], 'label': 'high-end alternatives', 'higher_tier': True, 'top_tier': True}
    >>> m2 = m.with_strategy("at risk", cross_sell={"kinds": ["bundle"], "discounted": True},
    ...                      upsell={"kinds": ["subscription"]})
    >>> "at risk" in m2, "at risk" in m
    (True, False)
    >>> m.to_pandas().shape
    (4, 7)
    """

    strategies: Mapping[str, Mapping[str, Strategy]] = field(default_factory=dict)

    _title = "OpportunityMatrix"

    def __post_init__(self) -> None:
        src: Any = self.strategies
        if not src:
            src = {s: {"cross_sell": c, "upsell": u} for s, (c, u) in _DEFAULT.items()}
        if not isinstance(src, Mapping):
            raise UpsellDataError(f"`strategies` must be a mapping of segment -> strategies; "
                                  f"got {type(src).__name__}")
        out: dict[str, Mapping[str, Strategy]] = {}
        for seg, pair in src.items():
            if not isinstance(seg, str) or not seg:
                raise UpsellDataError(f"segment names must be non-empty strings; got {seg!r}")
            if not isinstance(pair, Mapping) or set(pair) != set(_DIRECTIONS):
                raise UpsellDataError(
                    f"`strategies[{seg!r}]` must have exactly 'cross_sell' and 'upsell'; "
                    f"got {pair!r}")
            out[seg] = MappingProxyType({d: Strategy.from_dict(pair[d]) for d in _DIRECTIONS})
        object.__setattr__(self, "strategies", MappingProxyType(out))

    # ------------------------------------------------------------------ access
    def __contains__(self, segment: object) -> bool:
        return segment in self.strategies

    def __iter__(self) -> Iterator[str]:
        return iter(self.strategies)

    def __len__(self) -> int:
        return len(self.strategies)

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        segs = list(self.strategies)
        cols: dict[str, Any] = {"segment": segs}
        for d in _DIRECTIONS:
            rows_d = [self.strategies[s][d]._row() for s in segs]
            if rows is None:  # the frame: label, kinds and flags in columns of their own
                cols[d] = [r["label"] for r in rows_d]
                cols[f"{d}_kinds"] = [r["kinds"] for r in rows_d]
                cols[f"{d}_flags"] = [r["flags"] for r in rows_d]
            else:  # a notebook: one cell per strategy
                cols[d] = [f"{r['label']} ({r['kinds']}" + (f"; {r['flags']}" if r["flags"] else "")
                           + ")" for r in rows_d]
        return cols

    def _summary(self) -> str:
        return f"{len(self.strategies):,} segments"

    def __getitem__(self, segment: str) -> Mapping[str, Strategy]:
        try:
            return self.strategies[segment]
        except KeyError:
            raise UnknownIdError(
                f"segment {segment!r} is not in the opportunity matrix; it has "
                f"{', '.join(map(repr, self.strategies))}") from None

    @property
    def segments(self) -> tuple[str, ...]:
        """Segment names, in order."""
        return tuple(self.strategies)

    def strategy(self, segment: str, direction: str = "cross_sell") -> Strategy:
        """The cross-sell or upsell strategy of one segment.

        Examples
        --------
        >>> OpportunityMatrix().strategy("price_sensitive", "upsell").label
        'value packs'
        """
        if direction not in _DIRECTIONS:
            raise UpsellDataError(
                f"`direction` must be 'cross_sell' or 'upsell'; got {direction!r}")
        return self[segment][direction]

    def with_strategy(self, segment: str, *, cross_sell: Strategy | Mapping[str, Any] | None = None,
                      upsell: Strategy | Mapping[str, Any] | None = None) -> OpportunityMatrix:
        """A new matrix with one segment's strategies set (a new segment needs both).

        Examples
        --------
        >>> m = OpportunityMatrix().with_strategy("new", cross_sell={"kinds": ["accessory"]})
        >>> m.strategy("new").kinds, OpportunityMatrix().strategy("new").kinds
        (('accessory',), ('warranty',))
        """
        current = self.strategies.get(segment)
        if current is None and (cross_sell is None or upsell is None):
            raise UpsellDataError(
                f"segment {segment!r} is new: give both `cross_sell` and `upsell`")
        new = {s: dict(v) for s, v in self.strategies.items()}
        entry = dict(current) if current is not None else {}
        if cross_sell is not None:
            entry["cross_sell"] = Strategy.from_dict(cross_sell)  # type: ignore[arg-type]
        if upsell is not None:
            entry["upsell"] = Strategy.from_dict(upsell)  # type: ignore[arg-type]
        new[segment] = entry
        return replace(self, strategies=new)

    def without(self, segment: str) -> OpportunityMatrix:
        """A new matrix without one segment.

        Examples
        --------
        >>> len(OpportunityMatrix().without("new"))
        3
        """
        self[segment]
        return replace(self, strategies={s: v for s, v in self.strategies.items() if s != segment})

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a format version.

        Examples
        --------
        >>> OpportunityMatrix().to_dict()["segments"]["frequent"]["cross_sell"]
        {'kinds': ['accessory'], 'label': 'accessories'}
        """
        return {"format_version": _FORMAT, "kind": "OpportunityMatrix",
                "segments": {s: {d: v[d].to_dict() for d in _DIRECTIONS}
                             for s, v in self.strategies.items()}}

    def to_json(self, indent: int | None = 2) -> str:
        """The matrix as JSON text.

        Examples
        --------
        >>> m = OpportunityMatrix()
        >>> OpportunityMatrix.from_json(m.to_json()) == m
        True
        """
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes | Mapping[str, Any]) -> OpportunityMatrix:
        """Read :meth:`to_json` output (or the parsed dict).

        Examples
        --------
        >>> OpportunityMatrix.from_json('{"segments": {"vip": {"cross_sell": {"kinds": '
        ...     '["accessory"]}, "upsell": {"kinds": ["product"], "top_tier": true}}}}').segments
        ('vip',)
        """
        if isinstance(text, Mapping):
            doc: Any = text
        else:
            try:  # bounded: size, nesting depth (no RecursionError), no NaN, no repeated key
                doc = load_json(text, file="opportunity matrix JSON")
            except ModelFileError as exc:
                raise UpsellDataError(f"opportunity matrix JSON is malformed ({exc.problem})") \
                    from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("segments"), Mapping):
            raise UpsellDataError("opportunity matrix JSON needs a 'segments' object")
        version = doc.get("format_version", _FORMAT)
        if not isinstance(version, int) or version > _FORMAT:
            raise UpsellDataError(
                f"opportunity matrix format version {version!r} is newer than this upsell "
                f"reads ({_FORMAT}); upgrade upsell")
        if not doc["segments"]:
            raise UpsellDataError("opportunity matrix JSON has no segments")
        return cls(doc["segments"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the matrix as a JSON file, atomically.

        Examples
        --------
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "matrix.json")
        >>> OpportunityMatrix().save(p)
        >>> OpportunityMatrix.load(p) == OpportunityMatrix()
        True
        """
        data = self.to_json().encode("utf-8")
        atomic_write_bytes(path, lambda fh: fh.write(data))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> OpportunityMatrix:
        """Read a file written by :meth:`save`.

        Examples
        --------
        >>> OpportunityMatrix.load("/nonexistent.json")
        Traceback (most recent call last):
        ...
        upsell.exceptions.ModelFileError: opportunity matrix file '/nonexistent.json' does not exist
        """
        target = os.fspath(path)
        if not os.path.isfile(target):
            raise ModelFileError(f"opportunity matrix file {target!r} does not exist")
        # untrusted file: size and nesting bounded, NaN and repeated keys refused
        doc = read_json(target)
        try:
            if isinstance(doc, dict) and (type(doc.get("format_version", 1)) is not int):
                raise UpsellDataError(f"format version {doc['format_version']!r} is not an "
                                      f"integer")
            return cls.from_json(doc)
        except (UpsellDataError, *CONTENT_ERRORS) as exc:
            # a damaged file is a file problem, not an argument problem
            raise ModelFileError(f"opportunity matrix file {target!r} is truncated, corrupted "
                                 f"or too new: {exc}", file=target, problem=str(exc)) from None

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        body = "; ".join(
            f"{s}: {v['cross_sell'].label or '/'.join(v['cross_sell'].kinds)} | "
            f"{v['upsell'].label or '/'.join(v['upsell'].kinds)}"
            for s, v in self.strategies.items())
        return f"OpportunityMatrix({body})"
