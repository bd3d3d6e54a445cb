"""Order lines, customers, products and returns: the data every other module works on."""

from upsell.data._non_products import NonProductItems, non_product_items
from upsell.data.catalog import KINDS, Catalog
from upsell.data.ids import IdIndex
from upsell.data.report import DataReport
from upsell.data.transactions import OrderTable, Transactions

__all__ = ["KINDS", "Catalog", "DataReport", "IdIndex", "NonProductItems", "OrderTable",
           "Transactions", "non_product_items"]
