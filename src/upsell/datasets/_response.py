"""The synthetic shop's ground-truth response to offers: who accepts what, with what probability.

Internal to :mod:`upsell.datasets`; reached through :attr:`Shop.response
<upsell.datasets.Shop.response>`. The model reads the generator's own truth (persona,
taste cluster, upgrade propensity, home family, the clusters' family and gift-item
tastes) and the shop's history (what each customer owns, their usual order value).
Its few random parts (each item's appeal, a per-persona twist of it, each customer's
openness) come from a child of the shop's seed that ``make_shop`` never draws from,
so building it changes nothing ``make_shop`` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from upsell.data.ids import IdIndex
from upsell.datasets._catalog import Cat, make_catalog
from upsell.datasets._orders import (
    _P_ACCESSORY,
    _P_BUNDLE,
    _P_EXCLUSIVE,
    _P_PACK,
    _P_STARTER,
    _P_SUBSCRIBE,
    _P_WARRANTY,
)
from upsell.exceptions import UpsellDataError

__all__ = ["ResponseModel"]

#: Offer kinds the model understands (the recommender's labels).
KINDS = ("cross_sell", "upsell")
#: The stream the response model draws from: ``SeedSequence(random_state, spawn_key=(22,))``.
SPAWN_KEY = (22,)
#: The generator's persona codes (``upsell.datasets.PERSONAS``; synthetic imports this module).
PERSONA_ORDER = ("new", "frequent", "price_sensitive", "premium")
#: The largest acceptance probability of one offer.
P_MAX = 0.6

# item groups
_PRODUCT, _CASE, _REFILL, _PACK, _WARRANTY, _BUNDLE, _PLAN, _GIFT = range(8)
GROUPS = ("tiered product", "accessory", "refill", "value pack", "warranty", "bundle",
          "subscription", "gift item")

# base rates (expected acceptances per offer before the multipliers, see ResponseModel Notes)
_B_UPGRADE = 0.15       # times p_upgrade, for the next tier of an owned family
_B_NEW_FAMILY = 0.006   # times the cluster's affinity to the family
_B_ADDON = np.array([0.0, 0.025, 0.035, 0.025, 0.018, 0.003, 0.0, 0.0])  # add-on of an owned family
_B_PLAN = 0.008         # times the cluster's affinity to the category
_B_GIFT = 0.012         # times the cluster's relative taste for the item (capped at 3)
_B_OWNED = 0.0005       # an item (or a lower tier) the customer owns and would not buy twice
_ADDON_ELSEWHERE = 0.1  # an add-on of a family the customer does not own
_CAP = 3.0              # affinities and tastes are capped (their tails are long)
_HOME = 1.5             # add-ons and upgrades of the customer's home family
# persona multipliers (new, frequent, price_sensitive, premium)
_ACTIVITY = np.array([1.0, 1.4, 0.8, 1.1])          # frequent shoppers accept more
_TIER_TASTE = np.array([0.85, 0.9, 0.5, 1.3])       # per tier above the first
_ELASTICITY = np.array([0.6, 0.5, 1.2, 0.2])        # price-jump aversion


def _relative(table: np.ndarray) -> np.ndarray:
    """A persona table of the generator as multipliers around 1 (floored at 0.1)."""
    return np.maximum(table / table.mean(), 0.1)


_PERSONA_GROUP = np.ones((8, 4))
_PERSONA_GROUP[_CASE] = _relative(_P_ACCESSORY)
_PERSONA_GROUP[_REFILL] = _relative(_P_STARTER)
_PERSONA_GROUP[_PACK] = _relative(_P_PACK)
_PERSONA_GROUP[_WARRANTY] = _relative(_P_WARRANTY)
_PERSONA_GROUP[_BUNDLE] = _relative(_P_BUNDLE)
_PERSONA_GROUP[_PLAN] = _relative(_P_SUBSCRIBE)
_EXCLUSIVE = _relative(_P_EXCLUSIVE)


class ResponseModel:
    """The true probability that a customer of a synthetic shop accepts an offer.

    Built by :attr:`Shop.response <upsell.datasets.Shop.response>`; the ground
    truth a simulated offer loop draws outcomes from
    (:func:`upsell.recommend.simulate`) and scores policies against.

    Attributes
    ----------
    customers : IdIndex
        The shop's customers (``shop.transactions.customers``).
    items : IdIndex
        The catalog's items (``shop.catalog.items``).
    price : ndarray of float64
        List price per item (the revenue of an accepted offer).
    group : ndarray of int8
        Item group per item, an index into ``GROUPS``: tiered product, accessory,
        refill, value pack, warranty, bundle, subscription, gift item.
    usual_spend : ndarray of float64
        Each customer's mean order value in the history.
    random_state : int
        The shop's seed (the model's own stream is a child of it).

    Notes
    -----
    For customer *c* (persona :math:`\\pi`, taste cluster *k*) and item *i*, an
    offer is accepted with probability

    .. math:: p = \\min(1 - e^{-\\lambda}, 0.6), \\qquad
              \\lambda = b_{ci} \\, a_\\pi \\, f_{\\pi}(r_{ci}) \\, q_i \\, n_{\\pi i} \\, u_c \\, m

    where :math:`b_{ci}` is the base rate of the customer's relation to the item:

    - the next tier of a family the customer owns: :math:`0.3\\,p^{up}_c` (the
      generator's upgrade propensity), times ``dud_factor`` when the tier adds
      nothing and 1.5 in the home family; two or more tiers up :math:`0.15\\,(p^{up}_c)^2`;
      a tier owned or below: 0.0005;
    - a tiered product of a family not owned: :math:`0.015\\, A_{kf}\\, t_\\pi^{\\,tier-1}`
      with :math:`A_{kf}` the cluster's affinity to the family (the generator's
      family taste times the number of families, mean 1) and :math:`t_\\pi` the
      persona's taste for higher tiers (0.85, 0.9, 0.5, 1.3 for new, frequent,
      price-sensitive, premium);
    - an accessory, refill, value pack, warranty or bundle of an owned family:
      0.05, 0.07, 0.05, 0.035, 0.006 (1.5 times in the home family; 0.0005 for a
      case, warranty or bundle already owned), of another family a tenth of that
      times :math:`A_{kf}`; each times the persona's relative rate in the
      generator (e.g. new customers buy warranties, price-sensitive ones value packs);
    - a subscription: :math:`0.02` times the cluster's affinity to the category
      and the persona's relative subscription rate (0.0005 when subscribed);
    - a gift item: :math:`0.03 \\min(5, T_{ki})` with :math:`T_{ki}` the
      cluster's purchase share of the item times the number of gift items (0 for
      exclusive items, which premium customers take instead).

    :math:`a_\\pi` (1.0, 1.4, 0.8, 1.1) makes frequent shoppers accept more;
    :math:`f_\\pi(r) = \\min(1, r^{-e_\\pi})` penalises a price *r* times the
    customer's usual order value with elasticity :math:`e_\\pi` (0.6, 0.5, 1.2,
    0.2: price-sensitive customers dislike price jumps, premium ones hardly
    mind); :math:`q_i \\sim \\text{LogNormal}(0, 0.4)` is the item's appeal,
    :math:`n_{\\pi i} \\sim \\text{LogNormal}(0, 0.3)` how the persona sees it
    and :math:`u_c \\sim \\text{LogNormal}(0, 0.25)` the customer's openness; *m*
    is 1.2 for an offer labelled "upsell" that is a real upgrade, 0.8 for the
    label on anything else, 1 otherwise. The exponential keeps
    :math:`p \\approx \\lambda` for small rates. Typical magnitudes: a random
    item 0.2-1%, a customer's best items 5-20%.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400, random_state=1)
    >>> rm = shop.response
    >>> p = rm.probability(shop.transactions.customers.ids[:3], rm.items.ids[0])
    >>> p.shape, bool(((p >= 0) & (p <= 0.6)).all())
    ((3,), True)
    >>> rm.probability_matrix(shop.transactions.customers.ids[:2]).shape
    (2, 60)
    """

    def __init__(self, shop: Any) -> None:
        params: Mapping[str, Any] = shop.params
        try:
            seed = int(params["random_state"])
            n_items, n_clusters = int(params["n_items"]), int(params["n_clusters"])
        except (KeyError, TypeError, ValueError):
            raise UpsellDataError("the response model needs a shop from make_shop (its params "
                                  "random_state, n_items and n_clusters); got params "
                                  f"{dict(params)!r}") from None
        cat = make_catalog(np.random.default_rng(seed), n_items, n_clusters)
        if not (np.array_equal(cat.catalog.items.ids, shop.catalog.items.ids)
                and np.array_equal(cat.catalog.price, shop.catalog.price, equal_nan=True)):
            raise UpsellDataError("the shop's catalog is not the one make_shop(random_state="
                                  f"{seed}) draws: the response model needs an unchanged shop")
        tx, truth = shop.transactions, shop.truth
        self.random_state = seed
        self.customers: IdIndex = tx.customers
        self.items: IdIndex = shop.catalog.items
        self.price = np.asarray(shop.catalog.price, dtype=np.float64)
        self._items_struct(cat, shop)
        self._customers_truth(shop)
        self._history(tx)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=SPAWN_KEY))
        n, m = self.price.size, len(self.customers)
        self._appeal = rng.lognormal(0.0, 0.35, size=n)
        self._twist = rng.lognormal(0.0, 0.25, size=(4, n))
        self._openness = rng.lognormal(0.0, 0.2, size=m)
        self._dud_factor = float(truth.dud_factor)
        for a in (self.price, self.group, self.usual_spend):
            a.flags.writeable = False

    # ------------------------------------------------------------------ construction
    def _items_struct(self, cat: Cat, shop: Any) -> None:
        """Per item (catalog order): group, family, category, tier, affinity keys."""
        n = cat.final_pos.size
        grp = np.full(n, _GIFT, dtype=np.int8)
        fam = np.full(n, -1, dtype=np.int64)
        tier = np.zeros(n, dtype=np.int64)
        n_fam = cat.n_fam
        fams = np.arange(n_fam)
        for f, first, t in zip(fams.tolist(), cat.fam_first.tolist(), cat.fam_tiers.tolist(),
                               strict=True):
            grp[first:first + t] = _PRODUCT
            fam[first:first + t] = f
            tier[first:first + t] = np.arange(1, t + 1)
        for code, pos in ((_CASE, cat.fam_acc), (_REFILL, cat.fam_refill), (_PACK, cat.fam_pack),
                          (_WARRANTY, cat.fam_warranty), (_BUNDLE, cat.fam_bundle)):
            ok = pos >= 0
            grp[pos[ok]] = code
            fam[pos[ok]] = fams[ok]
        grp[cat.cat_sub] = _PLAN
        n_cat = cat.cat_sub.size
        # categories: a family's and a plan's from the structure, a gift's from its label
        label = np.asarray(cat.catalog.category)[cat.final_pos]       # by struct position
        code_of = {str(label[cat.cat_sub[c]]): c for c in range(n_cat)}
        cat_of = np.array([code_of.get(str(x), 0) for x in label.tolist()], dtype=np.int64)
        struct_of = np.argsort(cat.final_pos)                          # catalog pos -> struct
        self.group = grp[struct_of]
        self._fam = fam[struct_of]
        self._tier = tier[struct_of]
        self._cat = cat_of[struct_of]
        self._exclusive = np.asarray(shop.catalog.exclusive, dtype=bool)
        self._adds_value = np.asarray(shop.truth.adds_value, dtype=bool)
        # affinities per cluster: family (mean 1 over families), category (mean ~1)
        ft = np.asarray(cat.fam_taste, dtype=np.float64)
        self._fam_aff = np.minimum(ft * n_fam, _CAP)
        share = np.zeros((ft.shape[0], n_cat))
        np.add.at(share.T, cat.fam_cat, ft.T)
        self._cat_aff = np.minimum(share / np.maximum(share.mean(axis=0, keepdims=True), 1e-12),
                                   _CAP)
        taste = np.asarray(shop.truth.item_taste, dtype=np.float64)
        n_fill = max(int((taste.sum(axis=0) > 0).sum()), 1)
        self._gift_taste = np.minimum(taste * n_fill, _CAP)
        self._n_fam = n_fam

    def _customers_truth(self, shop: Any) -> None:
        truth = shop.truth
        code = {p: i for i, p in enumerate(PERSONA_ORDER)}
        self._persona = np.array([code[str(p)] for p in truth.persona.tolist()], dtype=np.int64)
        self._cluster = np.asarray(truth.cluster, dtype=np.int64)
        self._p_up = np.asarray(truth.p_upgrade, dtype=np.float64)
        fam_labels = np.asarray(shop.catalog.family)
        first: dict[str, int] = {}
        for i in np.flatnonzero(self.group == _PRODUCT).tolist():
            first.setdefault(str(fam_labels[i]), int(self._fam[i]))
        self._home = np.array([first.get(str(h), -1) for h in truth.home_family.tolist()],
                              dtype=np.int64)

    def _history(self, tx: Any) -> None:
        """Owned items, the highest tier owned per family, the usual order value."""
        m, n = len(self.customers), self.price.size
        cust, item = np.asarray(tx.customer), np.asarray(tx.item)
        bought = (cust >= 0) & (np.asarray(tx.quantity) > 0)
        c, i = cust[bought].astype(np.int64), item[bought].astype(np.int64)
        self._own_key = np.unique(c * n + i)
        # a bundle holds the family's first tier
        t = np.where(self.group[i] == _PRODUCT, self._tier[i],
                     np.where(self.group[i] == _BUNDLE, 1, 0))
        ok = t > 0
        key = c[ok] * self._n_fam + self._fam[i[ok]]
        srt = np.lexsort((t[ok], key))
        ks, ts = key[srt], t[ok][srt]
        last = np.r_[ks[1:] != ks[:-1], True] if ks.size else np.zeros(0, dtype=bool)
        self._tier_key, self._tier_max = ks[last], ts[last]
        value = np.asarray(tx.quantity, dtype=np.float64) * np.asarray(tx.price, dtype=np.float64)
        spend = np.bincount(c, weights=value[bought], minlength=m)
        pairs = np.unique(c * (int(np.asarray(tx.order).max(initial=0)) + 1)
                          + np.asarray(tx.order)[bought].astype(np.int64))
        n_orders = np.bincount(pairs // (int(np.asarray(tx.order).max(initial=0)) + 1),
                               minlength=m)
        fallback = float(np.nanmedian(self.price)) if np.isfinite(self.price).any() else 1.0
        self.usual_spend = np.where(n_orders > 0, spend / np.maximum(n_orders, 1), fallback)

    # ------------------------------------------------------------------ queries
    def __repr__(self) -> str:
        return (f"ResponseModel(customers={len(self.customers):,}, items={self.price.size:,}, "
                f"random_state={self.random_state})")

    def _codes(self, index: IdIndex, values: Any, name: str) -> np.ndarray:
        arr = np.asarray(values)
        if arr.dtype.kind in "iu" and index.kind == "str":
            raise UpsellDataError(f"`{name}` must be {index.name} ids (text); got integers "
                                  f"such as {arr.reshape(-1)[:1].tolist()}")
        try:
            codes = index.encode(arr.reshape(-1))
        except UpsellDataError as exc:
            raise UpsellDataError(f"`{name}`: {exc}") from None
        return codes.astype(np.int64).reshape(arr.shape)

    def probability(self, customers: Any, items: Any, kinds: Any = None) -> np.ndarray:
        """True P(accept) of offering ``items[j]`` to ``customers[j]`` (numpy broadcasting).

        Parameters
        ----------
        customers : customer id or array-like of ids
        items : item id or array-like of ids
            Broadcast against ``customers``: pass ``customers[:, None]`` and
            ``items[None, :]`` for every pair.
        kinds : str or array-like of {"cross_sell", "upsell"}, optional
            How each offer is labelled (broadcast too); see Notes of the class.

        Returns
        -------
        ndarray of float64
            The broadcast shape, values in [0, 0.6].

        Raises
        ------
        UpsellDataError
            An id the shop does not have (naming it), shapes that do not
            broadcast, an unknown kind.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> c = shop.transactions.customers.ids[:2]
        >>> shop.response.probability(c[:, None], shop.catalog.items.ids[None, :5]).shape
        (2, 5)
        >>> shop.response.probability("nobody", shop.catalog.items.ids[0])
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: `customers`: customer 'nobody' is not in the customer index
        """
        cc = self._codes(self.customers, customers, "customers")
        ii = self._codes(self.items, items, "items")
        shapes: list[tuple[int, ...]] = [cc.shape, ii.shape]
        up = None
        if kinds is not None:
            k = np.asarray(kinds).astype(str)
            bad = ~np.isin(k, KINDS)
            if bad.any():
                raise UpsellDataError(f"`kinds` must be 'cross_sell' or 'upsell'; got "
                                      f"{k[bad].reshape(-1)[0]!r}")
            up = k == "upsell"
            shapes.append(up.shape)
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise UpsellDataError(f"`customers`, `items` and `kinds` must broadcast together; "
                                  f"got shapes {', '.join(str(s) for s in shapes)}") from None
        cb = np.broadcast_to(cc, shape).reshape(-1)
        ib = np.broadcast_to(ii, shape).reshape(-1)
        ub = None if up is None else np.broadcast_to(up, shape).reshape(-1)
        return self._pairs(cb, ib, ub).reshape(shape)

    def probability_matrix(self, customers: Any) -> np.ndarray:
        """True P(accept) of every catalog item for each customer, each offer under its best label.

        An item that is the next tier of a family the customer owns counts as
        offered as an "upsell" (the label helps it), every other item as a
        "cross_sell" (the label that does not hurt it): the best an oracle can do.

        Parameters
        ----------
        customers : array-like of customer ids, length m

        Returns
        -------
        ndarray of float64, shape (m, n_items)
            Columns in ``items`` (catalog) order.

        Examples
        --------
        >>> from upsell.datasets import make_shop
        >>> shop = make_shop(n_customers=100, n_items=60, n_orders=400)
        >>> p = shop.response.probability_matrix(shop.transactions.customers.ids[:4])
        >>> p.shape, bool(p.max() <= 0.6)
        ((4, 60), True)
        """
        cc = self._codes(self.customers, customers, "customers").reshape(-1)
        n = self.price.size
        return self._pairs(np.repeat(cc, n), np.tile(np.arange(n), cc.size),
                           "best").reshape(cc.size, n)

    # ------------------------------------------------------------------ the formula
    def _pairs(self, c: np.ndarray, i: np.ndarray, upsell: np.ndarray | str | None
               ) -> np.ndarray:
        """The formula of the class Notes for aligned code arrays."""
        if c.size == 0:
            return np.zeros(0)
        pers, clu = self._persona[c], self._cluster[c]
        grp, fam, tier = self.group[i], self._fam[i], self._tier[i]
        has_fam = fam >= 0
        famc = np.maximum(fam, 0)
        cur = np.where(has_fam, _lookup(self._tier_key, self._tier_max, c * self._n_fam + famc), 0)
        owns_fam = cur > 0
        home = has_fam & (fam == self._home[c])
        owned = _lookup(self._own_key, None, c * self.price.size + i) > 0
        aff = np.where(has_fam, self._fam_aff[clu, famc], 1.0)
        home_x = np.where(home, _HOME, 1.0)
        pu = self._p_up[c]
        dud = np.where(self._adds_value[i], 1.0, self._dud_factor)

        base = np.zeros(c.size)
        # tiered products
        prod = grp == _PRODUCT
        nxt = prod & owns_fam & (tier == cur + 1)
        far = prod & owns_fam & (tier > cur + 1)
        low = prod & owns_fam & (tier <= cur)
        new = prod & ~owns_fam
        base[nxt] = (_B_UPGRADE * pu * dud * home_x)[nxt]
        base[far] = (0.5 * _B_UPGRADE * pu ** 2 * dud)[far]
        base[low] = _B_OWNED
        base[new] = (_B_NEW_FAMILY * aff * _TIER_TASTE[pers] ** np.maximum(tier - 1, 0))[new]
        # add-ons of a family
        addon = (grp >= _CASE) & (grp <= _BUNDLE)
        rate = _B_ADDON[grp] * _PERSONA_GROUP[grp, pers]
        base[addon & owns_fam] = (rate * home_x)[addon & owns_fam]
        base[addon & ~owns_fam] = (_ADDON_ELSEWHERE * rate * aff)[addon & ~owns_fam]
        once = addon & owned & ((grp == _CASE) | (grp == _WARRANTY) | (grp == _BUNDLE))
        base[once] = _B_OWNED
        # subscriptions, gift items
        plan = grp == _PLAN
        base[plan] = np.where(owned, _B_OWNED, _B_PLAN * _PERSONA_GROUP[_PLAN, pers]
                              * self._cat_aff[clu, self._cat[i]])[plan]
        gift = grp == _GIFT
        base[gift] = (_B_GIFT * self._gift_taste[clu, i])[gift]
        excl = self._exclusive[i]
        base[gift & excl] = (_B_GIFT * _EXCLUSIVE[pers])[gift & excl]
        base[prod & excl] *= _EXCLUSIVE[pers][prod & excl]

        ratio = self.price[i] / self.usual_spend[c]
        ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
        price_x = np.minimum(1.0, ratio ** -_ELASTICITY[pers])
        lam = (base * _ACTIVITY[pers] * price_x * self._appeal[i] * self._twist[pers, i]
               * self._openness[c])
        if isinstance(upsell, str):  # "best": the label that helps, where one does
            lam = lam * np.where(nxt, 1.2, 1.0)
        elif upsell is not None:
            lam = lam * np.where(upsell, np.where(nxt, 1.2, 0.8), 1.0)
        return np.minimum(-np.expm1(-lam), P_MAX)


def _lookup(keys: np.ndarray, values: np.ndarray | None, want: np.ndarray) -> np.ndarray:
    """``values`` at the sorted ``keys`` equal to ``want`` (1 for presence when None), else 0."""
    if keys.size == 0 or want.size == 0:
        return np.zeros(want.size, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    hit = keys[pos] == want
    return np.where(hit, 1 if values is None else values[pos], 0)
