"""The blend step of the serving pipeline: one score per candidate from every source's raw score.

A :class:`Blend` turns the raw scores the sources gave the candidates of one
request into one relevance score per candidate (and, optionally, one reason per
candidate). The default, :class:`WeightedBlend`, normalises each source's scores
within the request and adds them up with a weight per source; a learned blend
(:class:`~upsell.recommend.LearnedBlend`) plugs in through the same protocol.
Business rules run after the blend, on its scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from upsell._validation import check_choice, check_float
from upsell.exceptions import UpsellDataError

__all__ = [
    "NORMALIZATIONS",
    "Blend",
    "BlendRequest",
    "WeightedBlend",
    "blend_types",
    "register_blend",
]

#: How scores of one source are put on a common [0, 1] scale within a request.
NORMALIZATIONS = ("max", "minmax", "rank")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_NO_INDEX = np.zeros(0, dtype=np.int32)
_NO_INDEX.flags.writeable = False
_NO_TIME = np.zeros(0, dtype="datetime64[s]")
_NO_TIME.flags.writeable = False


@dataclass(frozen=True, slots=True)
class BlendRequest:
    """What a blend sees of one request (validated and resolved by the recommender).

    Attributes
    ----------
    customer : id or None
        External customer id as the recommender's history holds it; None: anonymous.
    customer_index : int
        Row of the customer in the recommender's history (``rec.history_.customers``);
        -1 for anonymous or unknown customers and recommenders without history.
    basket : numpy.ndarray of int32
        Catalog positions of the basket's known items, in request order.
    owned : numpy.ndarray of int32
        Catalog positions of the items the customer bought, most recent first
        (empty when unknown).
    owned_time : numpy.ndarray of datetime64[s]
        Latest purchase of each ``owned`` item (NaT when unknown).
    at : numpy.datetime64
        Time of the request (seconds).
    segment : str or None
    moment : str or None
    channel : str
    k : int
        Offers asked for.
    include_owned : bool, default False
        The request allows items the customer owns ("buy again").
    context : mapping
        The caller's free-form context, unchanged.
    snapshot : Snapshot or None, default None
        The recommender's learned states and policy version when the request
        started: a blend that learns through ``learn``/``publish`` reads its
        state from it (``request.snapshot.state_of(self, default)``).

    Examples
    --------
    >>> r = BlendRequest(customer=None, customer_index=-1, basket=np.array([3], dtype=np.int32),
    ...                  owned=np.zeros(0, np.int32), owned_time=np.zeros(0, "datetime64[s]"),
    ...                  at=np.datetime64("2024-01-01T00:00:00"), segment=None, moment=None,
    ...                  channel="web", k=5)
    >>> r.basket.tolist(), r.include_owned
    ([3], False)
    """

    customer: Any
    customer_index: int
    basket: np.ndarray
    owned: np.ndarray
    owned_time: np.ndarray
    at: np.datetime64
    segment: str | None
    moment: str | None
    channel: str
    k: int
    include_owned: bool = False
    context: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    snapshot: Any = None


@runtime_checkable
class Blend(Protocol):
    """Anything that turns the sources' raw scores of a request's candidates into one score each.

    ``blend(request, items, source_scores, source_names)`` is called once per
    request that has candidates (never with none), from many threads at once:
    a blend is read-only after it is fitted and keeps no per-request state.

    - ``items``: int32 ``(n,)`` distinct catalog positions, in first-proposal
      order; only candidates with a finite raw score, above the source's
      ``min_score``, known to the catalog and allowed by the moment. Business
      rules run after the blend.
    - ``source_scores``: float64 ``(n, S)``, read-only: each source's raw score,
      NaN where the source did not propose the item.
    - ``source_names``: every source of the recommender in order (the same
      columns on every request).

    It returns ``(scores, reasons)``: ``scores`` ``(n,)``, higher is better (a
    NaN or infinite score drops the candidate, counted in
    ``OfferList.removed["blend"]``); ``reasons`` None or one text per candidate
    ("" for none), which starts the offer's reason summary and fills the cue
    field ``{blend_reason}``.

    Optional hooks: ``bind(catalog, source_names)`` returning the blend to use
    (called once when the recommender assembles its pipeline); ``get_config()``,
    ``save(folder)`` and a classmethod ``load(folder, **config)`` with
    :func:`register_blend`, so that :meth:`Recommender.save` keeps it.

    Examples
    --------
    >>> class Agree:
    ...     def blend(self, request, items, source_scores, source_names):
    ...         return (~np.isnan(source_scores)).sum(axis=1).astype(float), None
    >>> isinstance(Agree(), Blend)
    True
    """

    def blend(self, request: BlendRequest, items: np.ndarray, source_scores: np.ndarray,
              source_names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...] | None]: ...


_REGISTRY: dict[str, type] = {}


def register_blend(cls: type) -> type:
    """Allow :meth:`Recommender.load` to rebuild blends of this class (use as a decorator).

    The class needs ``save(folder)`` and a classmethod ``load(folder, **config)``;
    ``get_config()``, when present, gives the JSON-ready keywords saved for ``load``.
    Only registered classes are ever rebuilt from a saved folder: a file cannot
    make ``load`` import code.

    Examples
    --------
    >>> "WeightedBlend" in blend_types()
    True
    """
    return add_to_registry(_REGISTRY, cls, "blend", "folder")


def add_to_registry(registry: dict[str, type], cls: type, what: str, arg: str) -> type:
    """Put ``cls`` in ``registry`` by name once it has ``save(arg)`` and a classmethod ``load``.

    The one check behind :func:`register_blend` and ``register_source``.
    """
    if not callable(getattr(cls, "save", None)) or not callable(getattr(cls, "load", None)):
        raise UpsellDataError(
            f"a registered {what} class needs save({arg}) and a classmethod load({arg}); "
            f"{cls.__name__} lacks one")
    registry[cls.__qualname__] = cls
    return cls


def blend_types() -> dict[str, type]:
    """Registered blend classes by name (:class:`WeightedBlend` and :func:`register_blend`).

    Examples
    --------
    >>> blend_types()["WeightedBlend"].__name__
    'WeightedBlend'
    """
    return dict(_REGISTRY)


def normalise(scores: list[float], how: str) -> list[float]:
    """One source's scores on [0, 1] within a request (see :class:`WeightedBlend`).

    Examples
    --------
    >>> normalise([4.0, 2.0, -1.0], "max"), normalise([4.0, 2.0], "minmax")
    ([1.0, 0.5, 0.0], [1.0, 0.0])
    >>> normalise([1.0, 3.0, 2.0], "rank")
    [0.33333333333333337, 1.0, 0.6666666666666667]
    """
    if how == "max":
        top = max(scores)
        return [max(s, 0.0) / top if top > 0 else 0.0 for s in scores]
    if how == "minmax":
        lo, hi = min(scores), max(scores)
        return [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in scores]
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    out = [0.0] * len(scores)
    for r, i in enumerate(order):
        out[i] = 1.0 - r / len(scores)
    return out


def normalise_columns(source_scores: np.ndarray, how: str) -> np.ndarray:
    """Each column normalised over its proposed (non-NaN) entries; NaN stays NaN.

    Examples
    --------
    >>> normalise_columns(np.array([[4.0, np.nan], [2.0, 3.0]]), "max").tolist()
    [[1.0, nan], [0.5, 1.0]]
    """
    x = np.asarray(source_scores, dtype=np.float64)
    if how == "rank" or x.size == 0:  # ties ranked in row order, as sorted() does
        out = np.full(x.shape, np.nan)
        for s in range(x.shape[1]):
            rows = np.flatnonzero(~np.isnan(x[:, s]))
            if rows.size:
                out[rows, s] = normalise(x[rows, s].tolist(), how)
        return out
    seen = ~np.isnan(x)
    hi = np.max(np.where(seen, x, -np.inf), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "max":  # the same arithmetic as normalise(): max(s, 0) / top, 0 if top <= 0
            z = np.where(hi > 0, np.maximum(x, 0.0) / np.where(hi > 0, hi, 1.0), 0.0)
        else:
            lo = np.min(np.where(seen, x, np.inf), axis=0)
            span = hi - lo
            z = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(seen, z, np.nan)


@register_blend
class WeightedBlend:
    """The default blend: per-source normalised scores, summed with a weight per source.

    Parameters
    ----------
    weights : mapping of source name to float, optional
        Weight per source (>= 0; default 1 each, also for sources not named).
    normalize : {"max", "minmax", "rank"}, default "max"
        Per-source normalisation within a request (see Notes).

    Notes
    -----
    Per source and request, over the candidates the source proposed: "max"
    divides by the largest score (scores <= 0 become 0), so the source's best
    candidate gets 1 and ratios are kept; "minmax" maps the range onto [0, 1] (a
    single candidate gets 1); "rank" gives ``1 - r / n`` to the ``r``-th best of
    ``n``. An item's score is the sum over the sources proposing it of
    ``weight * normalised``, so agreement between sources counts. On the
    recommender's default path each source's candidates are normalised in the
    source's own order; :meth:`blend` sees them as matrix rows, so under "rank"
    tied scores may be ranked the other way round.

    Examples
    --------
    >>> b = WeightedBlend(weights={"rules": 2.0})
    >>> scores, reasons = b.blend(None, np.array([0, 1], np.int32),
    ...                           np.array([[3.0, np.nan], [1.5, 10.0]]), ("rules", "cf"))
    >>> scores.tolist(), reasons
    ([2.0, 2.0], None)
    """

    def __init__(self, *, weights: Mapping[str, float] | None = None,
                 normalize: str = "max") -> None:
        if weights is not None and not isinstance(weights, Mapping):
            raise UpsellDataError(f"`weights` must be a mapping of source name to float; "
                                  f"got {weights!r}")
        self.weights = {str(n): check_float(v, f"weights[{n!r}]", low=0)
                        for n, v in (weights or {}).items()}
        self.normalize = check_choice(normalize, "normalize", NORMALIZATIONS)

    def __repr__(self) -> str:
        return f"WeightedBlend(weights={self.weights!r}, normalize={self.normalize!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeightedBlend):
            return NotImplemented
        return self.weights == other.weights and self.normalize == other.normalize

    __hash__ = None  # type: ignore[assignment]

    def weight(self, source: str) -> float:
        """The weight of a source (1.0 when not named)."""
        return self.weights.get(source, 1.0)

    def blend(self, request: Any, items: np.ndarray, source_scores: np.ndarray,
              source_names: tuple[str, ...]) -> tuple[np.ndarray, None]:
        """Sum over sources of ``weight * normalised`` (NaN, not proposed, adds 0)."""
        z = normalise_columns(source_scores, self.normalize)
        w = np.array([self.weight(n) for n in source_names], dtype=np.float64)
        parts = np.where(np.isnan(z), 0.0, z * w)
        total = np.zeros(parts.shape[0])
        for s in range(parts.shape[1]):  # source order, as the per-source path adds them
            total += parts[:, s]
        return total, None

    def get_config(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {"weights": dict(self.weights), "normalize": self.normalize}

    def save(self, path: Any) -> None:
        """Nothing to write: the parameters are the whole blend (see :meth:`get_config`)."""

    @classmethod
    def load(cls, path: Any = None, **config: Any) -> WeightedBlend:
        """Rebuild from :meth:`get_config`'s keywords."""
        return cls(**config)
