"""The public entry points the fuzz harness calls, with valid arguments and argument categories."""

from __future__ import annotations

from typing import Any

import numpy as np

import upsell as us
from upsell import bundles, evaluate, kpi, segments, tiers
from upsell.cf import ALS, EASE, ItemKNN, Popular, RepeatBlend
from upsell.recommend import OfferLog
from upsell.segments import Clusters, Personas
from upsell.tiers import UpsellRanker

from ._harness import Entry

CF = {"ALS": lambda: ALS(factors=4, iterations=2, num_threads=1, random_state=0),
      "ItemKNN": lambda: ItemKNN(similarity="cosine", n_neighbors=10, num_threads=1),
      "EASE": lambda: EASE(regularization=10.0, n_neighbors=10),
      "Popular": lambda: Popular(),
      "RepeatBlend": lambda: RepeatBlend(n_neighbors=10, num_threads=1)}

AT = "2025-01-10T12:00:00"

ARRAYS = dict(order=["o1", "o1", "o2"], item=["a", "b", "a"], customer=["c1", "c1", "c2"],
              quantity=[1.0, 2.0, 1.0], price=[1.0, 2.0, 3.0],
              time=["2024-01-01", "2024-01-02", "2024-01-03"])


def _cf_entries() -> list[Entry]:
    out = []
    for name, make in CF.items():
        def m(w: Any, name: str = name) -> Any:
            return w.models[name]
        out += [
            Entry(f"{name}.recommend(customers)",
                  lambda w, m=m, **a: m(w).recommend(a["customers"], k=a["k"],
                                                      exclude=a["exclude"]),
                  lambda w: {"customers": [w.customer], "k": 5, "exclude": None},
                  {"customers": "ids|id", "k": "k", "exclude": "ids"},
                  {"customers": ("customer",), "exclude": ("item",)}),
            Entry(f"{name}.recommend(baskets)",
                  lambda w, m=m, **a: m(w).recommend(baskets=[a["basket"]], k=a["k"],
                                                      candidates=a["candidates"]),
                  lambda w: {"basket": [w.item], "k": 5, "candidates": None},
                  {"basket": "ids", "k": "k", "candidates": "ids"},
                  {"basket": ("baskets", "item"), "candidates": ("item",)}),
            Entry(f"{name}.similar_items",
                  lambda w, m=m, **a: m(w).similar_items(a["items"], k=a["k"]),
                  lambda w: {"items": [w.item], "k": 5},
                  {"items": "ids|id", "k": "k"}),
            Entry(f"{name}.recommend_all",
                  lambda w, m=m, **a: m(w).recommend_all(k=a["k"], batch_size=a["batch_size"],
                                                         num_threads=1),
                  lambda w: {"k": 3, "batch_size": 64},
                  {"k": "k", "batch_size": "k"}),
            Entry(f"{name}.fit",
                  lambda w, make=make, **a: make().fit(a["data"]),
                  lambda w: {"data": w.tx},
                  {"data": "data"}),
        ]
    out += [
        Entry("ALS(factors).fit", lambda w, **a: ALS(factors=a["factors"], iterations=1,
                                                     num_threads=1).fit(w.tx),
              lambda w: {"factors": 4}, {"factors": "k"}),
        Entry("ALS(regularization).fit",
              lambda w, **a: ALS(factors=4, iterations=1, num_threads=1,
                                 regularization=a["regularization"]).fit(w.tx),
              lambda w: {"regularization": 0.1}, {"regularization": "positive"}),
        Entry("EASE(regularization).fit",
              lambda w, **a: EASE(regularization=a["regularization"]).fit(w.tx),
              lambda w: {"regularization": 10.0}, {"regularization": "positive"}),
        Entry("ItemKNN(similarity).fit",
              lambda w, **a: ItemKNN(similarity=a["similarity"], num_threads=1).fit(w.tx),
              lambda w: {"similarity": "cosine"}, {"similarity": "choice"}),
        Entry("Popular(mode, half_life_days).fit",
              lambda w, **a: Popular(mode=a["mode"],
                                     half_life_days=a["half_life_days"]).fit(w.tx),
              lambda w: {"mode": "decayed", "half_life_days": 10.0},
              {"mode": "choice", "half_life_days": "positive"}),
    ]
    return out


def _bundle_entries() -> list[Entry]:
    return [
        Entry("frequent_itemsets",
              lambda w, **a: bundles.frequent_itemsets(a["baskets"], min_support=a["min_support"],
                                                       max_len=a["max_len"], kind=a["kind"]),
              lambda w: {"baskets": w.tx, "min_support": 0.01, "max_len": 3, "kind": "all"},
              {"baskets": "data", "min_support": "fraction", "max_len": "k", "kind": "choice"}),
        Entry("association_rules",
              lambda w, **a: bundles.association_rules(
                  w.itemsets, min_confidence=a["min_confidence"], min_lift=a["min_lift"],
                  max_p=a["max_p"]),
              lambda w: {"min_confidence": 0.1, "min_lift": None, "max_p": None},
              {"min_confidence": "fraction", "min_lift": "positive", "max_p": "fraction"}),
        Entry("BundleRecommender.recommend",
              lambda w, **a: w.bundles.recommend(a["basket"], k=a["k"], exclude=a["exclude"]),
              lambda w: {"basket": [w.item], "k": 5, "exclude": None},
              {"basket": "ids|id", "k": "k", "exclude": "ids"},
              {"basket": ("item",), "exclude": ("item",)}),
        Entry("BundleRecommender(metric)",
              lambda w, **a: bundles.BundleRecommender(w.rules, metric=a["metric"]),
              lambda w: {"metric": "lift"}, {"metric": "choice"}),
        Entry("sequence_rules",
              lambda w, **a: bundles.sequence_rules(a["tx"], within=a["within"],
                                                    min_support=a["min_support"],
                                                    min_confidence=a["min_confidence"]),
              lambda w: {"tx": w.tx, "within": "90D", "min_support": 3, "min_confidence": 0.0},
              {"tx": "data", "within": "choice", "min_support": "fraction",
               "min_confidence": "fraction"}),
        Entry("suggest_bundles",
              lambda w, **a: bundles.suggest_bundles(w.itemsets, w.cat, k=a["k"],
                                                     min_lift=a["min_lift"], rank_by=a["rank_by"]),
              lambda w: {"k": 5, "min_lift": 1.0, "rank_by": "lift"},
              {"k": "k", "min_lift": "positive", "rank_by": "choice"}),
    ]


def _lines(items: Any) -> Any:
    """A history of purchase lines built from item ids (left alone when not a list)."""
    if not isinstance(items, list):
        return items
    return [{"item": it, "time": "2024-12-01", "price": 9.5} for it in items]


def _segment_entries() -> list[Entry]:
    return [
        Entry("Personas.fit", lambda w, **a: Personas().fit(a["tx"], catalog=w.cat),
              lambda w: {"tx": w.tx}, {"tx": "data"}),
        Entry("Personas(quantiles).fit",
              lambda w, **a: Personas(quantiles=(a["low"], 0.9)).fit(w.tx, catalog=w.cat),
              lambda w: {"low": 0.5}, {"low": "fraction"}, {"low": ("quantiles",)}),
        Entry("Personas.predict",
              lambda w, **a: w.personas.predict(customers=a["customers"], at=a["at"]),
              lambda w: {"customers": [w.customer], "at": None},
              {"customers": "ids|id", "at": "time"}, {"customers": ("customer",)}),
        Entry("Personas.assign",
              lambda w, **a: w.personas.assign(_lines(a["history"]), at=a["at"]),
              lambda w: {"history": [w.item], "at": AT},
              {"history": "ids", "at": "time"}, {"history": ("item",)}),
        Entry("Clusters(k).fit",
              lambda w, **a: Clusters(k=a["k"], n_init=1, max_iter=5).fit(w.tx),
              lambda w: {"k": 3}, {"k": "k"}),
        Entry("Clusters.fit", lambda w, **a: Clusters(k=2, n_init=1, max_iter=5).fit(a["tx"]),
              lambda w: {"tx": w.tx}, {"tx": "data"},
              # one customer cannot make two clusters: the message names `k`, the fix
              {"tx": ("`k`",)}),
        Entry("Clusters.predict",
              lambda w, **a: w.clusters.predict(customers=a["customers"], at=a["at"]),
              lambda w: {"customers": [w.customer], "at": None},
              {"customers": "ids|id", "at": "time"}, {"customers": ("customer",)}),
        Entry("Clusters.assign",
              lambda w, **a: w.clusters.assign(_lines(a["history"]), at=a["at"]),
              lambda w: {"history": [w.item], "at": AT},
              {"history": "ids", "at": "time"}, {"history": ("item",)}),
        Entry("rfm", lambda w, **a: segments.rfm(a["tx"], at=a["at"], bins=a["bins"]),
              lambda w: {"tx": w.tx, "at": None, "bins": 5},
              {"tx": "data", "at": "time", "bins": "k"}),
        Entry("customer_features",
              lambda w, **a: segments.customer_features(a["tx"], w.cat, at=a["at"]),
              lambda w: {"tx": w.tx, "at": None}, {"tx": "data", "at": "time"}),
        Entry("quantile_scores",
              lambda w, **a: segments.quantile_scores(a["values"], bins=a["bins"]),
              lambda w: {"values": [1.0, 2.0, 3.0], "bins": 3},
              {"values": "column", "bins": "k"}),
        Entry("OpportunityMatrix.strategy",
              lambda w, **a: w.opportunity.strategy(a["segment"], a["direction"]),
              lambda w: {"segment": "premium", "direction": "cross_sell"},
              {"segment": "choice", "direction": "choice"}),
    ]


def _tier_entries() -> list[Entry]:
    return [
        Entry("UpsellRanker.rank(item)",
              lambda w, **a: w.ranker.rank(a["item"], customer=a["customer"], k=a["k"],
                                           segment=a["segment"]),
              lambda w: {"item": w.item, "customer": w.customer, "k": 3, "segment": None},
              {"item": "id", "customer": "id", "k": "k", "segment": "choice"}),
        Entry("UpsellRanker.rank(basket)",
              lambda w, **a: w.ranker.rank(basket=a["basket"], k=3),
              lambda w: {"basket": [w.item, w.item2]}, {"basket": "ids"}, {"basket": ("item",)}),
        Entry("UpsellRanker.customer_propensity",
              lambda w, **a: w.ranker.customer_propensity(a["customers"]),
              lambda w: {"customers": [w.customer]}, {"customers": "ids|id"},
              {"customers": ("customer",)}),
        Entry("UpsellRanker.fit", lambda w, **a: UpsellRanker().fit(a["tx"], w.cat),
              lambda w: {"tx": w.tx}, {"tx": "data"}),
        Entry("UpsellRanker(price_jump).fit",
              lambda w, **a: UpsellRanker(price_jump=a["price_jump"]).fit(w.tx, w.cat),
              lambda w: {"price_jump": 2.0}, {"price_jump": "positive"}),
        Entry("build_ladders",
              lambda w, **a: tiers.build_ladders(w.cat, band_ratio=a["band_ratio"],
                                                 max_alternatives=a["max_alternatives"]),
              lambda w: {"band_ratio": 1.15, "max_alternatives": 3},
              {"band_ratio": "positive", "max_alternatives": "k"}),
    ]


def _recommend_entries() -> list[Entry]:
    return [
        Entry("Recommender.recommend",
              lambda w, **a: w.rec.recommend(a["customer"], basket=a["basket"], k=a["k"],
                                             channel=a["channel"], moment=a["moment"],
                                             exclude=a["exclude"], at=a["at"]),
              lambda w: {"customer": w.customer, "basket": [w.item], "k": 5, "channel": "web",
                         "moment": None, "exclude": None, "at": AT},
              {"customer": "id", "basket": "ids|id", "k": "k", "channel": "choice",
               "moment": "choice", "exclude": "ids", "at": "time"},
              {"basket": ("item",), "exclude": ("item",)}),
        Entry("Recommender.recommend_batch",
              lambda w, **a: list(w.rec.recommend_batch(a["customers"], k=a["k"], at=AT)),
              lambda w: {"customers": [w.customer], "k": 3},
              {"customers": "ids", "k": "k"}, {"customers": ("customer",)}),
        Entry("OfferLog.record",
              lambda w, **a: OfferLog.in_memory().record(
                  a["event"], item=a["item"], customer=a["customer"], time=a["time"],
                  revenue=a["revenue"]),
              lambda w: {"event": "presented", "item": w.item, "customer": w.customer,
                         "time": AT, "revenue": None},
              {"event": "choice", "item": "id", "customer": "id", "time": "time",
               "revenue": "positive"}),
    ]


def _kpi_entries() -> list[Entry]:
    def rfm_cols(w: Any) -> dict[str, Any]:
        s = w.rfm
        return {"frequency": s.frequency, "recency": s.recency, "T": s.T}

    return [
        Entry("atv", lambda w, **a: kpi.atv(a["tx"], by=a["by"]),
              lambda w: {"tx": w.tx, "by": None}, {"tx": "data", "by": "choice"}),
        Entry("upt", lambda w, **a: kpi.upt(a["tx"]), lambda w: {"tx": w.tx}, {"tx": "data"}),
        Entry("attach_rate", lambda w, **a: kpi.attach_rate(a["tx"], w.cat),
              lambda w: {"tx": w.tx}, {"tx": "data"}),
        Entry("nps", lambda w, **a: kpi.nps(a["scores"], invalid=a["invalid"],
                                            confidence=a["confidence"]),
              lambda w: {"scores": [10, 9, 3], "invalid": "raise", "confidence": 0.95},
              {"scores": "column", "invalid": "choice", "confidence": "fraction"},
              {"scores": ("score",)}),
        Entry("ab_test", lambda w, **a: kpi.ab_test(a["control"], [2.0, 3.0, 4.0],
                                                    alpha=a["alpha"], n_boot=50, random_state=0),
              lambda w: {"control": [1.0, 2.0, 3.0], "alpha": 0.05},
              {"control": "column", "alpha": "fraction"}),
        Entry("sample_size", lambda w, **a: kpi.sample_size(baseline=a["baseline"], mde=a["mde"],
                                                            power=a["power"]),
              lambda w: {"baseline": 0.1, "mde": 0.02, "power": 0.8},
              {"baseline": "fraction", "mde": "fraction", "power": "fraction"}),
        Entry("simple_clv", lambda w, **a: kpi.simple_clv(atv=a["atv"], frequency=2.0,
                                                          margin=0.3, lifetime=3.0,
                                                          discount_rate=a["discount_rate"]),
              lambda w: {"atv": [10.0, 20.0, 30.0], "discount_rate": 0.1},
              {"atv": "column", "discount_rate": "fraction"}),
        Entry("rfm_summary",
              lambda w, **a: kpi.rfm_summary(a["tx"], calibration_end=a["calibration_end"],
                                             freq=a["freq"]),
              lambda w: {"tx": w.tx, "calibration_end": "2024-06-01", "freq": "W"},
              {"tx": "data", "calibration_end": "time", "freq": "choice"}),
        Entry("BetaGeo.fit",
              lambda w, **a: kpi.BetaGeo().fit(frequency=a["frequency"],
                                               recency=rfm_cols(w)["recency"],
                                               T=rfm_cols(w)["T"]),
              lambda w: {"frequency": w.rfm.frequency}, {"frequency": "column"}),
        Entry("BetaGeo(penalizer_coef).fit",
              lambda w, **a: kpi.BetaGeo(penalizer_coef=a["penalizer_coef"]).fit(w.rfm),
              lambda w: {"penalizer_coef": 0.0}, {"penalizer_coef": "positive"}),
        Entry("BetaGeo.probability_alive",
              lambda w, **a: w.betageo.probability_alive(
                  frequency=a["frequency"], recency=[1.0, 2.0, 3.0], T=[5.0, 5.0, 5.0]),
              lambda w: {"frequency": [1.0, 2.0, 3.0]}, {"frequency": "column"}),
        Entry("BetaGeo.expected_purchases",
              lambda w, **a: w.betageo.expected_purchases(a["t"]),
              lambda w: {"t": 10.0}, {"t": "positive|column"}),
        Entry("ParetoNBD.probability_alive",
              lambda w, **a: w.pareto.probability_alive(
                  frequency=[1.0, 2.0, 3.0], recency=a["recency"], T=[5.0, 5.0, 5.0]),
              lambda w: {"recency": [1.0, 2.0, 3.0]}, {"recency": "column"}),
        Entry("GammaGamma.expected_spend",
              lambda w, **a: w.gamma.expected_spend(frequency=[1.0, 2.0, 3.0],
                                                    monetary_value=a["monetary_value"]),
              lambda w: {"monetary_value": [10.0, 20.0, 30.0]}, {"monetary_value": "column"}),
        Entry("GammaGamma.customer_lifetime_value",
              lambda w, **a: w.gamma.customer_lifetime_value(
                  w.betageo, w.rfm, horizon=a["horizon"], discount_rate=a["discount_rate"]),
              lambda w: {"horizon": 12.0, "discount_rate": 0.01},
              {"horizon": "positive", "discount_rate": "fraction"}),
    ]


def _evaluate_entries() -> list[Entry]:
    return [
        Entry("temporal_split", lambda w, **a: evaluate.temporal_split(a["tx"], at=a["at"]),
              lambda w: {"tx": w.tx, "at": "2024-06-01"}, {"tx": "data", "at": "time"}),
        Entry("leave_last_n_split", lambda w, **a: evaluate.leave_last_n_split(a["tx"], a["n"]),
              lambda w: {"tx": w.tx, "n": 1}, {"tx": "data", "n": "k"}),
        Entry("random_basket_split",
              lambda w, **a: evaluate.random_basket_split(w.tx, a["hide"],
                                                          test_size=a["test_size"],
                                                          random_state=0),
              lambda w: {"hide": 0.5, "test_size": 0.2},
              {"hide": "fraction", "test_size": "fraction"}),
        Entry("precision_at_k",
              lambda w, **a: evaluate.precision_at_k([a["recommended"]], [[w.item]], a["k"]),
              lambda w: {"recommended": [w.item, w.item2], "k": 2},
              {"recommended": "ids", "k": "k"}),
        Entry("ndcg_at_k",
              lambda w, **a: evaluate.ndcg_at_k([[w.item]], [a["relevant"]], a["k"]),
              lambda w: {"relevant": [w.item], "k": 2}, {"relevant": "ids", "k": "k"}),
    ]


def _data_entries() -> list[Entry]:
    def arrays(**over: Any) -> Any:
        args = dict(ARRAYS)
        args.update(over)
        return us.Transactions.from_arrays(**args)

    return [
        Entry("Transactions.from_arrays(quantity, price)",
              lambda w, **a: arrays(quantity=a["quantity"], price=a["price"]),
              lambda w: {"quantity": ARRAYS["quantity"], "price": ARRAYS["price"]},
              {"quantity": "column", "price": "column"}),
        Entry("Transactions.from_arrays(order, item, customer)",
              lambda w, **a: arrays(order=a["order"], item=a["item"], customer=a["customer"]),
              lambda w: {k: ARRAYS[k] for k in ("order", "item", "customer")},
              {"order": "column", "item": "column", "customer": "column"}),
        Entry("Transactions.from_arrays(time)", lambda w, **a: arrays(time=a["time"]),
              lambda w: {"time": ARRAYS["time"]}, {"time": "column|times"}),
        Entry("Transactions.from_arrays(returns, invalid)",
              lambda w, **a: arrays(returns=a["returns"], invalid=a["invalid"]),
              lambda w: {"returns": "net", "invalid": "raise"},
              {"returns": "choice", "invalid": "choice"}),
        Entry("Transactions.split_at", lambda w, **a: w.tx.split_at(a["time"]),
              lambda w: {"time": "2024-06-01"}, {"time": "time"}),
        Entry("Transactions.filter",
              lambda w, **a: w.tx.filter(customers=a["customers"], items=a["items"],
                                         start=a["start"]),
              lambda w: {"customers": None, "items": [w.item], "start": None},
              {"customers": "ids", "items": "ids", "start": "time"},
              {"customers": ("customer",), "items": ("item",)}),
        Entry("Transactions.customer_items",
              lambda w, **a: w.tx.customer_items(a["weighting"], bm25_k1=a["bm25_k1"]),
              lambda w: {"weighting": "bm25", "bm25_k1": 100.0},
              {"weighting": "choice", "bm25_k1": "positive"}),
        Entry("IdIndex", lambda w, **a: us.IdIndex(a["ids"]),
              lambda w: {"ids": ["a", "b"]}, {"ids": "ids|column"}, {"ids": ("id",)}),
        Entry("IdIndex.encode", lambda w, **a: w.tx.items.encode(a["values"]),
              lambda w: {"values": [w.item]}, {"values": "ids|id"},
              {"values": ("item", "id")}),
        Entry("Catalog.from_arrays",
              lambda w, **a: us.Catalog.from_arrays(item=a["item"], price=a["price"]),
              lambda w: {"item": ["a", "b", "c"], "price": [1.0, 2.0, 3.0]},
              {"item": "column", "price": "column"}),
        Entry("Catalog.row", lambda w, **a: w.cat.row(a["item"]),
              lambda w: {"item": w.item}, {"item": "id"}),
        Entry("make_shop",
              lambda w, **a: us.datasets.make_shop(a["n_customers"], 40, 60,
                                                   anonymous_share=a["anonymous_share"],
                                                   random_state=0),
              lambda w: {"n_customers": 30, "anonymous_share": 0.03},
              {"n_customers": "k", "anonymous_share": "fraction"}),
    ]


def _report_entries() -> list[Entry]:
    from upsell import report

    return [
        Entry("report.analyse",
              lambda w, **a: report.analyse(w.tx, w.cat, sections=["kpis", "bundles"], k=a["k"],
                                            min_support=a["min_support"]),
              lambda w: {"k": 5, "min_support": 0.01},
              {"k": "k", "min_support": "fraction"}),
    ]


def entries() -> list[Entry]:
    return (_cf_entries() + _bundle_entries() + _segment_entries() + _tier_entries()
            + _recommend_entries() + _kpi_entries() + _evaluate_entries() + _data_entries()
            + _report_entries())


__all__ = ["AT", "CF", "entries", "np"]
