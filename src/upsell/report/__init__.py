"""The handbook as one call and one self-contained HTML report.

:func:`analyse` runs every part of upsell on a :class:`~upsell.data.Transactions`
(and, when given, a :class:`~upsell.data.Catalog`) and returns an
:class:`Analysis`; :meth:`Analysis.save_html` writes the report that
``upsell demo`` and ``upsell report`` make. Charts live in
:mod:`upsell.report.plots` (matplotlib, imported only when drawing).

Examples
--------
>>> import upsell as us
>>> shop = us.datasets.make_shop(n_customers=150, n_items=60, n_orders=600, random_state=0)
>>> a = us.report.analyse(shop.transactions, shop.catalog, sections=["data", "segments"])
>>> [(s.name, s.status) for s in a]
[('data', 'ok'), ('segments', 'ok')]
"""

from upsell.report._tables import MAX_MARKS, Chart, Table
from upsell.report.analysis import SECTIONS, Analysis, Section, analyse
from upsell.report.html import render_html, write_html

__all__ = ["MAX_MARKS", "SECTIONS", "Analysis", "Chart", "Section", "Table", "analyse",
           "render_html", "write_html"]
