"""Order lines, customers, products and returns: the data every other module works on."""

from upsell.data.catalog import KINDS, Catalog
from upsell.data.ids import IdIndex
from upsell.data.report import DataReport
from upsell.data.transactions import OrderTable, Transactions

__all__ = ["KINDS", "Catalog", "DataReport", "IdIndex", "OrderTable", "Transactions"]
