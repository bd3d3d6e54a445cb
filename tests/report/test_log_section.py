"""The report section "What the log says": conversion by policy and exploration, off-policy table."""

from __future__ import annotations

import io

import numpy as np
import pytest

from upsell.cli import main
from upsell.recommend import OfferLog
from upsell.report import analyse


class ShowsFirstItems:
    """A candidate that shows the catalog's first items, in order."""

    policy_ = "candidate@9"

    def __init__(self, items):
        self.items = list(items)

    def policy_distribution(self, customer=None, *, basket=(), k=5, at=None, channel="web"):
        return {(it, j): 1.0 for j, it in enumerate(self.items[:k])}


@pytest.fixture(scope="module")
def offer_log(small_shop):
    log = OfferLog.in_memory()
    rng = np.random.default_rng(0)
    items = small_shop.catalog.items.ids.tolist()
    customers = small_shop.transactions.customers.ids.tolist()
    for r in range(120):
        policy = "old@1" if r < 60 else "new@2"
        for pos in range(3):
            explored = pos == 2 and r % 4 == 0
            item = items[int(rng.integers(0, 6))] if explored else items[pos]
            oid = log.record("presented", item=item, customer=customers[r % 50],
                             time=1.7e9 + 60 * r, position=pos, request_id=f"q{r}",
                             propensity=0.2 if explored else 0.9, explored=explored,
                             policy=policy)
            if rng.random() < 0.25:
                log.accepted(oid, revenue=3.0, time=1.7e9 + 60 * r + 5)
    log.record("presented", item=items[0], customer=customers[0], time=1.6e9)  # an old row
    return log


def test_no_log_no_section_by_default(small_shop, full_analysis):
    from upsell.report.analysis import INPUT_SECTIONS, SECTIONS

    assert "log" in INPUT_SECTIONS and "log" not in SECTIONS
    assert "log" not in full_analysis  # the default report is unchanged
    a = analyse(small_shop.transactions, sections=["log"])
    assert a["log"].status == "skipped" and "--log" in a["log"].note


def test_section_with_log_and_candidate(small_shop, offer_log):
    cand = ShowsFirstItems(small_shop.catalog.items.ids.tolist())
    a = analyse(small_shop.transactions, small_shop.catalog, sections=["kpis", "log"],
                offer_log=offer_log, candidate=cand)
    s = a["log"]
    assert s.status == "ok", s.note
    by_policy, explored, ope = s.tables
    assert {row[0] for row in by_policy.rows} == {"old@1", "new@2", "(not logged)"}
    assert sum(row[1] for row in by_policy.rows) == 361
    assert {row[0] for row in explored.rows} == {"explored",
                                                 "exploited (the policy's own choice)"}
    assert [row[0] for row in ope.rows] == ["what the log shows (observed)", "model: IPS",
                                            "model: self-normalised IPS",
                                            "model: doubly robust"]
    assert ope.rows[1][1] == "candidate@9" and ope.rows[0][4] == 360
    assert "1 of 361 offers left out" in ope.note
    values = s.values["off_policy"]
    assert set(values) == {"logged", "ips", "snips", "dr"} and 0 <= values["ips"] <= 1
    html = a.to_html(charts=False)
    assert "What the log says" in html and "Would the model convert better?" in html
    assert any(line.startswith("Offer log: accepted") for line in a.summary())


def test_section_without_candidate_and_with_an_event_table(small_shop, offer_log):
    a = analyse(small_shop.transactions, sections=["log"], offer_log=offer_log)
    assert a["log"].ok and len(a["log"].tables) == 2 and "--model" in a["log"].note
    events = offer_log.to_offer_table()
    a = analyse(small_shop.transactions, sections=["log"], offer_log=events,
                candidate=ShowsFirstItems(["x"]))
    ope = a["log"].tables[2]
    assert ope.rows == () and "needs an OfferLog" in ope.empty


def test_cli_report_model_needs_log(tmp_path, capsys):
    orders = tmp_path / "o.csv"
    orders.write_text("order,item\n1,a\n1,b\n2,a\n")
    code = main(["--quiet", "report", str(orders), "--model", str(tmp_path)], out=io.StringIO())
    assert code == 2 and "--model needs --log LOG" in capsys.readouterr().err
