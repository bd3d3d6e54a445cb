"""Internal API shared by the local and Spark engines; not part of the user API.

The Spark KPIs (:mod:`upsell.spark`) aggregate in Spark and finish with the same arithmetic
as the local ones: these are the names they reuse. They may change between versions without
a deprecation period; users call :mod:`upsell.kpi`.
"""

from __future__ import annotations

from upsell.kpi._common import KPIResult, z_value
from upsell.kpi.conversion import _from_counts as conversion_from_counts
from upsell.kpi.nps import _from_counts as nps_from_counts
from upsell.kpi.rfm import _window as clv_window

__all__ = ["KPIResult", "clv_window", "conversion_from_counts", "nps_from_counts", "z_value"]
