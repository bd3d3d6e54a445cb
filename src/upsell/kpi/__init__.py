"""KPIs that show whether offers work: basket KPIs, conversion, CLV, NPS and A/B tests.

Examples
--------
>>> import upsell as us
>>> tx = us.Transactions.from_arrays(order=[1, 1, 2], item=["a", "b", "a"],
...                                  price=[10.0, 5.0, 10.0])
>>> float(us.kpi.atv(tx)), float(us.kpi.upt(tx))
(12.5, 1.5)
"""

from upsell.kpi._common import KPIResult
from upsell.kpi.basket import attach_rate, atv, cross_sell_rate, revenue_per_order, upsell_rate, upt
from upsell.kpi.clv import (
    BetaGeo,
    CLVTable,
    GammaGamma,
    ParetoNBD,
    RFMSummary,
    customer_lifetime_value,
    historic_clv,
    rfm_summary,
    simple_clv,
)
from upsell.kpi.conversion import OFFER_LOG_COLUMNS, ConversionResult, conversion
from upsell.kpi.experiments import ABTestResult, ab_test, sample_size
from upsell.kpi.forecast import ClvForecast, clv_forecast
from upsell.kpi.nps import NPSResult, nps

__all__ = [
    "OFFER_LOG_COLUMNS",
    "ABTestResult",
    "BetaGeo",
    "CLVTable",
    "ClvForecast",
    "ConversionResult",
    "GammaGamma",
    "KPIResult",
    "NPSResult",
    "ParetoNBD",
    "RFMSummary",
    "ab_test",
    "attach_rate",
    "atv",
    "clv_forecast",
    "conversion",
    "cross_sell_rate",
    "customer_lifetime_value",
    "historic_clv",
    "nps",
    "revenue_per_order",
    "rfm_summary",
    "sample_size",
    "simple_clv",
    "upsell_rate",
    "upt",
]
