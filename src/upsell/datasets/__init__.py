"""Sample data: a synthetic shop with ground truth, and loaders for real data sets' native formats.

Examples
--------
>>> from upsell.datasets import make_shop
>>> make_shop(n_customers=50, n_items=40, n_orders=150).truth.persona.size
50
"""

from upsell.datasets._response import ResponseModel
from upsell.datasets.loaders import load_cdnow, load_online_retail, read_baskets
from upsell.datasets.synthetic import PERSONAS, Shop, ShopTruth, make_shop

__all__ = ["PERSONAS", "ResponseModel", "Shop", "ShopTruth", "load_cdnow", "load_online_retail",
           "make_shop", "read_baskets"]
