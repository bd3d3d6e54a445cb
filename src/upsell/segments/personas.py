"""The handbook's four customer types, scored from behaviour and explained."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from upsell._validation import as_transactions, is_one_id
from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.data.transactions import Transactions
from upsell.exceptions import UpsellDataError
from upsell.persist import (
    CONTENT_ERRORS,
    check_array,
    check_index,
    corrupted,
    fail,
    index_arrays,
    index_from_arrays,
    read_model,
    write_model,
)
from upsell.segments._base import Estimator
from upsell.segments._features import (
    _F,
    FEATURES,
    HistoryReader,
    ItemTable,
    as_time,
    check_customers,
    customer_sums,
    default_at,
    features_from_sums,
    item_table,
    table_for,
)
from upsell.segments._persona_types import (  # the public names are re-exported here
    _E_GRID,
    _P,
    _S_GRID,
    _X_GRID,
    EVIDENCE,
    PERSONAS,
    PersonaAssignment,
    PersonaAssignments,
    _num,  # noqa: F401 - re-exported for tests
    _on_grid,
    _on_grid_one,
    _reason,
)

__all__ = ["EVIDENCE", "PERSONAS", "PersonaAssignment", "PersonaAssignments", "Personas"]

# ---------------------------------------------------------------------- validation
def _check_quantiles(q: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in q)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (0.0 <= lo < hi <= 1.0):
        raise UpsellDataError(
            f"`quantiles` must be two numbers 0 <= low < high <= 1; got {q!r}")
    return lo, hi

def _check_evidence(evidence: Any) -> dict[str, dict[str, float]]:
    if evidence is None:
        return {p: dict(v) for p, v in EVIDENCE.items()}
    if not isinstance(evidence, Mapping) or set(evidence) != set(PERSONAS):
        raise UpsellDataError(
            f"`evidence` must map each of {', '.join(PERSONAS)} to feature weights; "
            f"got {evidence!r}")
    out: dict[str, dict[str, float]] = {}
    for p in PERSONAS:
        terms = evidence[p]
        if not isinstance(terms, Mapping) or not terms:
            raise UpsellDataError(
                f"`evidence[{p!r}]` must be a non-empty mapping of feature -> weight; "
                f"got {terms!r}")
        out[p] = {}
        for name, w in terms.items():
            if name not in _F:
                raise UpsellDataError(
                    f"`evidence[{p!r}]` names unknown feature {name!r}; features are "
                    f"{', '.join(FEATURES)}")
            if (isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w)
                    or w == 0):
                raise UpsellDataError(
                    f"`evidence[{p!r}][{name!r}]` must be a non-zero number; got {w!r}")
            out[p][str(name)] = float(w)
    return out

def _check_thresholds(thresholds: Any) -> dict[str, dict[str, tuple[float, float]]]:
    """Normalise user thresholds to persona -> feature -> (low, high)."""
    if thresholds is None:
        return {}
    if not isinstance(thresholds, Mapping):
        raise UpsellDataError(f"`thresholds` must be a mapping or None; got {thresholds!r}")

    def pair(key: str, v: Any) -> tuple[float, float]:
        try:
            lo, hi = (float(x) for x in v)
        except (TypeError, ValueError):
            lo = hi = math.nan
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise UpsellDataError(
                f"`thresholds[{key!r}]` must be two numbers low < high; got {v!r}")
        return lo, hi

    out: dict[str, dict[str, tuple[float, float]]] = {}
    for key, v in thresholds.items():
        if key in PERSONAS and isinstance(v, Mapping):
            for name, pv in v.items():
                if name not in _F:
                    raise UpsellDataError(f"`thresholds[{key!r}]` names unknown feature {name!r}")
                out.setdefault(key, {})[str(name)] = pair(f"{key}][{name}", pv)
        elif key in _F:
            for p in PERSONAS:
                out.setdefault(p, {})[str(key)] = pair(str(key), v)
        else:
            raise UpsellDataError(
                f"`thresholds` keys must be personas ({', '.join(PERSONAS)}) or features; "
                f"got {key!r}")
    return out

# ---------------------------------------------------------------------- scoring
def _learn(x: np.ndarray, weight: float, q: tuple[float, float]) -> tuple[float, float]:
    """Thresholds (low, high) of one evidence term from the values' quantiles."""
    v = x[np.isfinite(x)]
    if v.size == 0:
        return (0.0, 0.0)
    if weight > 0:
        lo, hi = np.quantile(v, [q[0], q[1]])
        if hi - lo <= 1e-12:
            # zero-inflated feature: judge the values above the mass point among themselves
            above = v[v > lo]
            hi = np.quantile(above, q[1]) if above.size else lo
    else:
        lo, hi = np.quantile(v, [1.0 - q[1], 1.0 - q[0]])
        if hi - lo <= 1e-12:
            below = v[v < hi]
            lo = np.quantile(below, 1.0 - q[1]) if below.size else hi
    return float(lo), float(hi)

def _evidence(x: np.ndarray, lo: float, hi: float, weight: float) -> np.ndarray:
    """Logistic evidence: 0.5 at the midpoint, 0.88 at the far threshold; NaN stays NaN.
    Without a range (every customer had the same value: no prices, no value packs in the
    catalog) the feature is no evidence (NaN), not a 0.5 that would tie the types."""
    if not hi > lo:
        return np.full(np.shape(x), np.nan)
    mid = _on_grid_one((lo + hi) / 2.0, _X_GRID)
    z = np.clip((_on_grid(x, _X_GRID) - mid) / ((hi - lo) / 4.0), -50.0, 50.0)
    e = _on_grid(1.0 / (1.0 + np.exp(-z)), _E_GRID)
    return e if weight > 0 else 1.0 - e

def _evidence_one(x: float, lo: float, hi: float, weight: float) -> float:
    if x != x or not hi > lo:
        return math.nan
    mid = _on_grid_one((lo + hi) / 2.0, _X_GRID)
    z = min(max((_on_grid_one(x, _X_GRID) - mid) / ((hi - lo) / 4.0), -50.0), 50.0)
    e = _on_grid_one(1.0 / (1.0 + math.exp(-z)), _E_GRID)
    return e if weight > 0 else 1.0 - e

def _weighted(X: np.ndarray, terms: Sequence[tuple[int, float, float, float]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean evidence of ``terms`` (feature, weight, low, high) over the rows of
    ``X``, ignoring missing features; and each term's contribution (-1 when missing)."""
    n = X.shape[0]
    num = np.zeros(n)
    den = np.zeros(n)
    c = np.full((n, len(terms)), -1.0)
    for j, (f, w, lo, hi) in enumerate(terms):
        e = _evidence(X[:, f], lo, hi, w)
        ok = np.isfinite(e)
        num += np.where(ok, abs(w) * e, 0.0)
        den += np.where(ok, abs(w), 0.0)
        c[:, j] = np.where(ok, abs(w) * e, -1.0)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), c

class _Scorer:
    """Scores features with fixed evidence weights and thresholds (both paths)."""

    def __init__(self, evidence: Mapping[str, Mapping[str, float]],
                 thresholds: Mapping[str, Mapping[str, tuple[float, float]]]) -> None:
        self.terms = [[(_F[name], w, *thresholds[p][name]) for name, w in evidence[p].items()]
                      for p in PERSONAS]

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = X.shape[0]
        S = np.zeros((n, len(PERSONAS)))
        contrib: list[np.ndarray] = []
        for k, terms in enumerate(self.terms):
            mean, c = _weighted(X, terms)
            S[:, k] = _on_grid(mean, _S_GRID)
            contrib.append(c)
        history = X[:, _F["orders"]] > 0
        S[~history] = 0.0
        S[~history, _P["new"]] = 1.0
        win = S.argmax(axis=1)
        decisive = np.full((n, 2), -1, dtype=np.int8)
        values = np.full((n, 2), np.nan)
        for k, terms in enumerate(self.terms):
            rows = np.flatnonzero((win == k) & history)
            if not rows.size:
                continue
            feats = np.array([t[0] for t in terms], dtype=np.int8)
            weights = np.array([abs(t[1]) for t in terms])
            # a feature is named only when it is evidence *for* the persona (past its
            # midpoint on the persona's side), the strongest first: naming the largest
            # contribution whatever its side gave "premium: aov 449 (below 468)"
            margin = contrib[k][rows] - 0.5 * weights
            top = np.argsort(-margin, axis=1, kind="stable")[:, :2]
            for j in range(min(2, len(terms))):
                mj = np.take_along_axis(margin, top[:, j:j + 1], 1)[:, 0]
                code = np.where(mj > 0, feats[top[:, j]], -1)
                decisive[rows, j] = code
                values[rows, j] = np.where(code >= 0, X[rows, np.maximum(code, 0)], np.nan)
        return S, win, decisive, values

    def score_one(self, x: Sequence[float]) -> tuple[list[float], int, list[tuple[int, float]]]:
        if not x[_F["orders"]] > 0:
            return [1.0, 0.0, 0.0, 0.0], 0, []
        scores = []
        contribs = []
        for terms in self.terms:
            num = den = 0.0
            c = []
            for f, w, lo, hi in terms:
                e = _evidence_one(x[f], lo, hi, w)
                if e == e:
                    num += abs(w) * e
                    den += abs(w)
                    c.append((abs(w) * e - 0.5 * abs(w), f))
            scores.append(_on_grid_one(num / den, _S_GRID) if den > 0 else 0.0)
            contribs.append(c)
        win = max(range(len(scores)), key=lambda k: (scores[k], -k))
        # as in score: only evidence for the persona, strongest (weight x (e - 0.5)) first,
        # the same margins in the same arithmetic, ties in the terms' order
        top = sorted(((m, f) for m, f in contribs[win] if m > 0), key=lambda t: -t[0])[:2]
        return scores, win, [(f, x[f]) for _, f in top]

# ---------------------------------------------------------------------- the model
class Personas(Estimator):
    """Score customers on the handbook's four types and assign the best one, with reasons.

    Every customer gets a score in [0, 1] for ``new``, ``frequent``,
    ``price_sensitive`` and ``premium``: the weighted mean of the evidence of the
    features in ``evidence``, where a feature's evidence is a logistic curve that
    is 0.5 midway between two thresholds and 0.88 at the far one. Thresholds are
    quantiles of the fitted customers' own values (``quantiles``), or given in
    ``thresholds``. The highest score wins; a customer with no history is "new".

    Parameters
    ----------
    quantiles : (float, float), default (0.5, 0.9)
        For a "high is evidence" feature the thresholds are these quantiles of its
        values; for a "low is evidence" feature, ``1 - high`` and ``1 - low``. The
        ``new`` thresholds are learned over every customer with history, the others
        over the customers who do not look new (new score < 0.5), so recent
        customers do not distort what "frequent" means. For a feature with a mass
        point (most customers never buy a value pack), the high threshold is taken
        among the values beyond it.
    thresholds : mapping, optional
        Fixed thresholds overriding learned ones: ``{feature: (low, high)}`` for every
        persona using it, or ``{persona: {feature: (low, high)}}``.
    evidence : mapping, optional
        ``{persona: {feature: weight}}`` for all four personas; the sign says whether
        high (+) or low (-) values are evidence. Default :data:`EVIDENCE`: new from
        short tenure and few orders; frequent from order count, orders per month and
        subscriptions; price-sensitive from discounted, lowest-tier and value-pack
        lines and low price position; premium from high-tier lines, tier position,
        spend per order and exclusive items.
    at : datetime or str, optional
        Reference time of ``fit`` (default: the day after the last line).

    Attributes
    ----------
    customers_ : IdIndex
        Fitted customers.
    items_ : IdIndex
        Items known at fit (the per-item lookups used by :meth:`assign`).
    thresholds_ : mapping
        persona -> feature -> (low, high) used.
    at_ : numpy.datetime64
    assignments_ : PersonaAssignments
        The fitted customers' personas.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=200, n_items=60, n_orders=800, random_state=0)
    >>> model = Personas().fit(shop.transactions, catalog=shop.catalog)
    >>> model
    Personas()
    >>> res = model.predict()
    >>> res.scores.shape, float(res.scores.min()) >= 0
    ((200, 4), True)
    >>> model.assign(history=None).persona
    'new'
    """

    _fitted_attr = "assignments_"

    def __init__(self, *, quantiles: tuple[float, float] = (0.5, 0.9),
                 thresholds: Mapping[str, Any] | None = None,
                 evidence: Mapping[str, Mapping[str, float]] | None = None,
                 at: Any = None) -> None:
        self.quantiles = quantiles
        self.thresholds = thresholds
        self.evidence = evidence
        self.at = at

    # ------------------------------------------------------------------ fit
    def fit(self, tx: Transactions, catalog: Catalog | None = None) -> Personas:
        """Learn thresholds from ``tx`` and assign every customer.

        Parameters
        ----------
        tx : Transactions
            Needs ``customer`` and ``time`` (``price`` for money and discounts).
        catalog : Catalog, optional
            Tiers, families, kinds, pack sizes and list prices; without it the
            tier, kind and exclusive features are missing and only the rest count.

        Returns
        -------
        Personas
            ``self``.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> m = Personas().fit(shop.transactions, catalog=shop.catalog)
        >>> sorted(m.thresholds_) == sorted(PERSONAS)
        True
        """
        q = _check_quantiles(self.quantiles)
        evidence = _check_evidence(self.evidence)
        fixed = _check_thresholds(self.thresholds)
        as_transactions(tx, "tx")
        if catalog is not None and not isinstance(catalog, Catalog):
            raise UpsellDataError(
                f"`catalog` must be a Catalog or None; got {type(catalog).__name__}")
        tx.require("customer", "Personas.fit")
        tx.require("time", "Personas.fit")
        when = default_at(tx) if self.at is None else as_time(self.at)
        table = item_table(tx, catalog)
        X = features_from_sums(customer_sums(tx, table, when), when)
        history = X[:, _F["orders"]] > 0
        thresholds: dict[str, dict[str, tuple[float, float]]] = {}
        # "new" first, over everyone with history; the rest over established customers
        thresholds["new"] = {
            name: fixed.get("new", {}).get(name) or _learn(X[history, _F[name]], w, q)
            for name, w in evidence["new"].items()}
        new_scores = _weighted(X, [(_F[name], w, *thresholds["new"][name])
                                   for name, w in evidence["new"].items()])[0]
        established = history & (new_scores < 0.5)
        base = established if established.sum() >= 2 else history
        for p in PERSONAS[1:]:
            thresholds[p] = {
                name: fixed.get(p, {}).get(name) or _learn(X[base, _F[name]], w, q)
                for name, w in evidence[p].items()}
        self._set_state(
            customers=tx.customers, items=tx.items, table=table, at=when,
            thresholds=thresholds, evidence=evidence)
        self.assignments_ = self._assign_matrix(X, tx.customers.ids)
        return self

    def _set_state(self, *, customers: IdIndex, items: IdIndex, table: ItemTable,
                   at: np.datetime64, thresholds: Mapping[str, Mapping[str, tuple[float, float]]],
                   evidence: Mapping[str, Mapping[str, float]]) -> None:
        for name in ItemTable.__slots__:
            getattr(table, name).flags.writeable = False
        self.customers_ = customers
        self.items_ = items
        self.item_table_ = table
        self.at_ = at
        self.thresholds_ = MappingProxyType({
            p: MappingProxyType({k: (float(v[0]), float(v[1])) for k, v in t.items()})
            for p, t in thresholds.items()})
        self.evidence_ = MappingProxyType({p: MappingProxyType(dict(t))
                                           for p, t in evidence.items()})
        self._scorer = _Scorer(self.evidence_, self.thresholds_)
        self._reader = HistoryReader(items, table)
        self._midpoints = MappingProxyType({
            p: MappingProxyType({k: (lo + hi) / 2.0 for k, (lo, hi) in t.items()})
            for p, t in self.thresholds_.items()})

    def _assign_matrix(self, X: np.ndarray, customers: np.ndarray) -> PersonaAssignments:
        S, win, decisive, values = self._scorer.score(X)
        out = PersonaAssignments(
            customers=customers, persona=np.asarray(PERSONAS)[win],
            scores=S.astype(np.float32), monetary=X[:, _F["monetary"]].copy(),
            decisive=decisive, decisive_values=values, midpoints=self._midpoints)
        for a in (out.persona, out.scores, out.monetary, out.decisive, out.decisive_values):
            a.flags.writeable = False
        return out

    # ------------------------------------------------------------------ use
    def predict(self, tx: Transactions | None = None, *, customers: Any = None,
                at: Any = None) -> PersonaAssignments:
        """Personas of many customers: the fitted ones, or those of new transactions.

        Parameters
        ----------
        tx : Transactions, optional
            Score the customers of these transactions (with the fitted thresholds;
            items unknown at fit count as plain lines). Default: the fitted ones.
        customers : id or sequence of ids, optional
            Only these customers (default: all), in the order given.
        at : datetime or str, optional
            Reference time for ``tx`` (default: the day after its last line).

        Returns
        -------
        PersonaAssignments

        Raises
        ------
        NotFittedError
            Before ``fit``.
        UnknownIdError
            For a customer id that is not there.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> m = Personas().fit(shop.transactions, catalog=shop.catalog)
        >>> m.predict(customers=["C0000001"]).persona.shape
        (1,)
        """
        self._check_fitted()
        if tx is None:
            res = self.assignments_
            index = self.customers_
        else:
            as_transactions(tx, "tx")
            tx.require("customer", "Personas.predict")
            when = default_at(tx) if at is None else as_time(at)
            table = table_for(self.items_, self.item_table_, tx.items)
            X = features_from_sums(customer_sums(tx, table, when), when)
            res = self._assign_matrix(X, tx.customers.ids)
            index = tx.customers
        if customers is None:
            return res
        one = is_one_id(customers)
        idx = check_customers(index, [customers] if one else customers)
        return PersonaAssignments(
            customers=res.customers[idx], persona=res.persona[idx], scores=res.scores[idx],
            monetary=res.monetary[idx], decisive=res.decisive[idx],
            decisive_values=res.decisive_values[idx], midpoints=res.midpoints)

    def assign(self, history: Any = None, *, at: Any = None) -> PersonaAssignment:
        """The persona of one live customer from their order lines, in microseconds.

        Parameters
        ----------
        history : mapping or sequence, optional
            The customer's lines: a mapping of columns (``item`` and ``time``
            required; ``order``, ``quantity`` (default 1) and ``price`` optional)
            or a sequence of per-line mappings with those keys. Times are datetimes,
            ISO strings or epoch seconds. None or empty: no history, so "new".
        at : datetime or str, optional
            Reference time (default: now).

        Returns
        -------
        PersonaAssignment

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> m = Personas().fit(shop.transactions, catalog=shop.catalog)
        >>> item = shop.catalog.items.ids[0]
        >>> a = m.assign(history={"item": [item, item], "order": [1, 2],
        ...                       "time": ["2023-02-01", "2024-06-01"]}, at="2025-01-01")
        >>> a.persona in PERSONAS, a.features["orders"]
        (True, 2.0)
        """
        self._check_fitted()
        x = self._reader.features(history, at)
        scores, win, top = self._scorer.score_one(x)
        persona = PERSONAS[win]
        codes = [f for f, _ in top]
        values = [v for _, v in top]
        return PersonaAssignment(
            persona=persona, scores=dict(zip(PERSONAS, scores, strict=True)),
            decisive=tuple((FEATURES[f], float(v), _evidence_one(
                v, *self.thresholds_[persona][FEATURES[f]],
                self.evidence_[persona][FEATURES[f]])) for f, v in top),
            reason=_reason(persona, codes, values, self._midpoints, scores[win],
                           bool(x[_F["orders"]] > 0)),
            features=dict(zip(FEATURES, x, strict=True)))

    def to_pandas(self) -> Any:
        """The fitted customers' personas, scores and reasons: ``predict().to_pandas()``.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=60, n_items=40, n_orders=240)
        >>> Personas().fit(shop.transactions).to_pandas().shape[0]
        60
        """
        return self.predict().to_pandas()

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Customers and revenue per persona: ``predict().plot()`` (needs matplotlib).

        Examples
        --------
        >>> ax = Personas().fit(tx).plot()  # doctest: +SKIP
        """
        return self.predict().plot(ax=ax, **kwargs)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to one ``.npz`` file (no pickle), atomically.

        Examples
        --------
        >>> import tempfile, os
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=60, n_items=40, n_orders=240)
        >>> m = Personas().fit(shop.transactions, catalog=shop.catalog)
        >>> p = os.path.join(tempfile.mkdtemp(), "personas.npz")
        >>> m.save(p)
        >>> bool((Personas.load(p).predict().persona == m.predict().persona).all())
        True
        """
        self._check_fitted()
        res = self.assignments_
        arrays = {
            **index_arrays(self.customers_, "customers"), **index_arrays(self.items_, "items"),
            "persona": np.argmax(res.persona[:, None] == np.asarray(PERSONAS)[None, :],
                                 axis=1).astype(np.int8),
            "scores": res.scores, "monetary": res.monetary, "decisive": res.decisive,
            "decisive_values": res.decisive_values, **self.item_table_.arrays()}
        write_model(path, kind="Personas", params=_json_params(self.get_params()),
                    arrays=arrays,
                    meta={"at": str(self.at_),
                          "thresholds": {p: {k: list(v) for k, v in t.items()}
                                         for p, t in self.thresholds_.items()},
                          "evidence": {p: dict(t) for p, t in self.evidence_.items()}})

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ids: Sequence[IdIndex] = (),
             verify: bool = True, mmap: bool = False) -> Personas:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : path-like
        ids : sequence of IdIndex, optional
            Id maps already loaded; one equal to the saved customer or item map
            is reused instead of a copy.
        verify : bool, default True
            Check the arrays' SHA-256 (False when the caller checked the file).
        mmap : bool, default False
            Memory-map the large arrays read-only (see :func:`upsell.persist.read_model`).

        Examples
        --------
        >>> Personas.load("/nonexistent.npz")
        Traceback (most recent call last):
        ...
        upsell.exceptions.ModelFileError: model file '/nonexistent.npz' does not exist
        """
        doc, arrays = read_model(path, kind="Personas", verify=verify, mmap=mmap)
        f = os.fspath(path)
        try:
            params = dict(doc["params"])
            if params.get("quantiles") is not None:
                params["quantiles"] = tuple(params["quantiles"])
            model = cls(**params)
            # untrusted file: parameters through fit's checks, state as a fit leaves it
            _check_quantiles(model.quantiles)
            _check_thresholds(model.thresholds)
            meta = doc["meta"]
            evidence = _check_evidence(meta["evidence"])
            thresholds = _saved_thresholds(meta["thresholds"], evidence, f)
            at = np.datetime64(meta["at"], "s") if isinstance(meta["at"], str) else None
            if at is None or np.isnat(at):
                raise fail(f, "at", f"must be an ISO time; got {meta['at']!r}")
            customers = index_from_arrays(arrays, "customers", name="customer", ids=ids)
            items = index_from_arrays(arrays, "items", name="item", ids=ids)
            n, m = len(customers), len(items)
            for key in ItemTable.__slots__:
                real = key in ("ref_price", "tier_pos", "price_pos")
                check_array(arrays.get(f"item_{key}"), file=f, member=f"item_{key}",
                            kind="f" if real else "b", shape=(m,), finite=False)
                if real and np.isinf(arrays[f"item_{key}"]).any():
                    raise fail(f, f"item_{key}", "holds inf")
            check_index(arrays.get("persona"), len(PERSONAS), file=f, member="persona",
                        shape=(n,))
            check_array(arrays.get("scores"), file=f, member="scores", shape=(n, len(PERSONAS)))
            check_array(arrays.get("monetary"), file=f, member="monetary", shape=(n,))
            check_index(arrays.get("decisive"), len(_F), file=f, member="decisive",
                        shape=(n, 2), allow_missing=True)
            dv = check_array(arrays.get("decisive_values"), file=f, member="decisive_values",
                             shape=(n, 2), finite=False)
            if np.isinf(dv).any():
                raise fail(f, "decisive_values", "holds inf")
            model._set_state(
                customers=customers, items=items, table=ItemTable.from_arrays(arrays), at=at,
                thresholds=thresholds, evidence=evidence)
            res = PersonaAssignments(
                customers=customers.ids, persona=np.asarray(PERSONAS)[arrays["persona"]],
                scores=arrays["scores"], monetary=arrays["monetary"],
                decisive=arrays["decisive"], decisive_values=arrays["decisive_values"],
                midpoints=model._midpoints)
            for a in (res.persona, res.scores, res.monetary, res.decisive, res.decisive_values):
                a.flags.writeable = False
        except CONTENT_ERRORS as exc:
            raise corrupted(f, "Personas", exc) from None
        model.assignments_ = res
        return model

def _saved_thresholds(saved: Any, evidence: Mapping[str, Mapping[str, float]],
                      f: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Thresholds read from a file: every evidence feature of every persona, finite low <= high."""
    if not isinstance(saved, Mapping):
        raise fail(f, "thresholds", "must be an object")
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for p in PERSONAS:
        t = saved.get(p)
        if not isinstance(t, Mapping):
            raise fail(f, "thresholds", f"has no thresholds for {p!r}")
        out[p] = {}
        for name in evidence[p]:
            v = t.get(name)
            if not (isinstance(v, list) and len(v) == 2 and all(
                    type(x) in (int, float) and math.isfinite(x) for x in v) and v[0] <= v[1]):
                raise fail(f, "thresholds", f"{p}.{name} must be two finite numbers "
                                            f"low <= high; got {v!r}")
            out[p][name] = (float(v[0]), float(v[1]))
    return out

def _json_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, Mapping):
            out[k] = {str(a): (dict(b) if isinstance(b, Mapping) else
                               list(b) if isinstance(b, (tuple, list)) else b)
                      for a, b in v.items()}
        elif isinstance(v, tuple):
            out[k] = list(v)
        elif v is not None and not isinstance(v, (str, int, float, bool)):
            out[k] = str(v)
        else:
            out[k] = v
    return out
