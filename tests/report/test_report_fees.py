"""The report's person-facing tables leave out items that are never offered (fees, postage)."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell import Transactions
from upsell.report import analyse


def _shop() -> Transactions:
    """Mugs and saucers bought together, tea and pot together; postage on most orders."""
    rng = np.random.default_rng(0)
    order: list[int] = []
    item: list[Any] = []
    for o in range(300):
        pair = ["10001", "10002"] if o % 2 else ["20001", "20002"]
        extra = [str(30000 + int(rng.integers(0, 40)))]
        post = ["POST"] if o % 2 and o % 5 else []  # postage goes with the mugs
        for i in pair + extra + post:
            order.append(o)
            item.append(i)
    return Transactions.from_arrays(order=order, item=item)


def _cells(section: Any) -> str:
    return " ".join(str(c) for t in section.tables for row in t.rows for c in row)


def test_rules_and_bundles_with_excluded_items_are_not_shown() -> None:
    tx = _shop()
    shown = analyse(tx, sections=["bundles"], exclude_items=None)["bundles"]
    assert "POST" in _cells(shown)  # the fixture does make postage rules
    hidden = analyse(tx, sections=["bundles"], exclude_items=["POST"])["bundles"]
    assert "POST" not in _cells(hidden)
    rules = hidden.tables[0]
    assert rules.rows, "the product rules are still shown"
    assert "rules with fees or services, which are never offered (POST)" in rules.note
    # "+ N more" counts the rules the table could show, not the hidden ones
    assert rules.total == shown.values["n_rules"] - int(rules.note.split("not shown: ")[1].split()[0])


def test_data_section_names_the_items_never_offered() -> None:
    rows = dict(analyse(_shop(), sections=["data"], exclude_items=["POST"])["data"].tables[0].rows)
    assert rows["never offered: fees, services and --exclude-items"] == \
        "1 item (POST); kept in every figure"


def test_by_default_the_report_leaves_out_what_looks_like_fees() -> None:
    # "auto": upsell.data.non_product_items (POST's id is unlike the 44 numeric ones)
    a = analyse(_shop(), sections=["data", "bundles"])
    assert "POST" not in _cells(a["bundles"])
    assert "rules with fees or services" in a["bundles"].tables[0].note
    assert dict(a["data"].tables[0].rows)["never offered: fees, services and --exclude-items"] \
        .startswith("1 item (POST)")
