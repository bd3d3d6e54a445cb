"""The report on the real Online Retail file (10 months, 370k lines, no catalog): readable,
bounded, no failed section, no nan, product names shown (issue 17)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from upsell import Transactions
from upsell.report import Analysis, analyse

from .test_bounds import MB, no_nan_or_inf, visible_text

pytestmark = pytest.mark.realdata

_ROOT = Path(__file__).resolve().parents[2]
_FILE = Path(os.environ.get("UPSELL_SHARED_DATA", _ROOT.parent / "shared" / "data"),
             "online-retail", "online_retail_2010-12_to_2011-09.csv.gz")
COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
           "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate",
           "name": "Description"}


@pytest.fixture(scope="module")
def retail() -> Transactions:
    if not _FILE.exists():
        pytest.skip(f"real data set not available: {_FILE} is absent "
                    "(set UPSELL_SHARED_DATA to the folder that holds it)")
    return Transactions.read_csv(_FILE, columns=COLUMNS, cancel_prefix="C")


@pytest.fixture(scope="module")
def report(retail) -> tuple[Analysis, str]:
    a = analyse(retail, source=_FILE.name)
    return a, a.to_html(charts=True)


def test_no_section_fails(report):
    a, page = report
    assert {s.name: s.note for s in a if s.status == "failed"} == {}
    assert "This section failed" not in page and 'class="failed"' not in page
    assert a["clv"].ok and a["clv"].values["method"]


def test_page_is_small_and_has_no_nan(report):
    pytest.importorskip("matplotlib")
    _, page = report
    assert len(page.encode("utf-8")) <= 5 * MB
    assert no_nan_or_inf(visible_text(page)) == []


def test_support_is_chosen_within_the_budget(report):
    a, _ = report
    b = a["bundles"]
    assert b.values["n_itemsets"] <= 100_000
    assert "min support" in b.tables[0].note
    # the top rules are different ideas: no item set twice, no product in more than two
    sets = [frozenset([*r[0].split(" + "), *r[1].split(" + ")]) for r in b.tables[0].rows]
    assert len(sets) == 15 and len(set(sets)) == 15


def test_names_are_shown(report):
    a, _ = report
    rows = a["bundles"].tables[0].rows
    # "POCKET BAG BLUE PAISLEY RED SPOT (22279)": a product name with its stock code
    assert all(re.search(r"[A-Z]{3,}.* \(\w+\)$", r[0]) for r in rows)
    assert all(re.search(r"[A-Z]{3,}.* \(\w+\)$", r[0]) for r in a["bundles"].tables[1].rows)
    offers = a["offers"].tables[0].rows
    assert all(re.search(r"[A-Z]{3,}", r[3]) for r in offers)
    best = [r[0] for r in a["kpis"].tables[1].rows]
    assert "WHITE HANGING HEART T-LIGHT HOLDER (85123A)" in best
    assert any(b.startswith("JUMBO BAG RED RETROSPOT") for b in best)


def test_bundle_candidates_are_diverse(report):
    a, _ = report
    rows = a["bundles"].tables[1].rows
    assert len(rows) >= 5
    seen: set[str] = set()
    for r in rows:
        items = set(r[0].split(" + "))
        assert not items & seen
        seen |= items


def test_example_offers_vary_and_truncate(report):
    a, _ = report
    rows = a["offers"].tables[0].rows
    customers = [r[0] for r in rows if r[0]]
    assert len(customers) == len(set(customers)) >= 4
    assert all(len(r[2]) <= 400 for r in rows)
