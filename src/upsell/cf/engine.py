"""Internal API shared by the local and Spark engines; not part of the user API.

:class:`upsell.spark.SparkALS` weights the purchase counts in Spark with the rules of the
local models and hands the fitted state to :class:`upsell.cf.ALS`: ``Weighter`` is the name it
reuses. It may change between versions without a deprecation period; users pass
``weighting=`` to the models in :mod:`upsell.cf`.
"""

from __future__ import annotations

from upsell.cf._weighting import _Weighter as Weighter

__all__ = ["Weighter"]
