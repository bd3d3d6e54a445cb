"""The same steps on Apache Spark, with results that come back as ordinary upsell objects.

Needs the ``spark`` extra (``pip install "upsell[spark]"``) and Java. Start from a
Spark DataFrame of order lines (:func:`from_spark`: the local engine's column
mapping and cleaning rules, with the same :class:`~upsell.data.DataReport`), then:

* bundles: :func:`frequent_itemsets` (FPGrowth, exact counts) and
  :func:`association_rules` (every metric and the Fisher test in Spark) give the
  local :class:`~upsell.bundles.Itemsets` and :class:`~upsell.bundles.Rules`, so
  :class:`~upsell.bundles.BundleRecommender` serves them; :func:`sequence_rules`;
* CF: :class:`SparkALS` fits Spark's implicit ALS and exports a local
  :class:`upsell.cf.ALS` (``.model_``) that recommends, saves and loads as usual;
* segments: :func:`rfm`, :func:`customer_features`, :func:`predict_personas`;
* KPIs: :func:`atv`, :func:`upt`, :func:`attach_rate`, :func:`conversion`,
  :func:`nps`, and :func:`rfm_summary` whose compressed rows the local CLV models fit.

Importing this package does not import pyspark; the functions do, and raise an
ImportError naming the extra when it is missing.

Examples
--------
>>> import upsell.spark as uss
>>> spark = uss.local_session(cores=2)  # doctest: +SKIP
>>> stx = uss.from_spark(spark.read.parquet("lines.parquet"), cancel_prefix="C")  # doctest: +SKIP
>>> rules = uss.association_rules(uss.frequent_itemsets(stx, min_support=0.001))  # doctest: +SKIP
>>> sorted(uss.__all__)[:3]
['SparkALS', 'SparkItemsets', 'SparkTransactions']
"""

from upsell.spark._session import local_session
from upsell.spark.bundles import SparkItemsets, association_rules, frequent_itemsets, sequence_rules
from upsell.spark.cf import SparkALS, customer_item_frame
from upsell.spark.data import SparkTransactions, from_spark
from upsell.spark.kpi import attach_rate, atv, conversion, nps, rfm_summary, upt
from upsell.spark.segments import customer_features, predict_personas, rfm

__all__ = [
    "SparkALS",
    "SparkItemsets",
    "SparkTransactions",
    "association_rules",
    "attach_rate",
    "atv",
    "conversion",
    "customer_features",
    "customer_item_frame",
    "frequent_itemsets",
    "from_spark",
    "local_session",
    "nps",
    "predict_personas",
    "rfm",
    "rfm_summary",
    "sequence_rules",
    "upt",
]
