"""``upsell evaluate-policy``: the off-policy table of a saved model on an SQLite offer log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from upsell.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """A saved model and a log whose requests got the model's own lists (propensity 1), with a
    few exploratory slots (propensity 0.25) and old rows without propensities."""
    import upsell as us
    from upsell.recommend import OfferLog, Recommender

    folder = tmp_path_factory.mktemp("ope")
    shop = us.datasets.make_shop(n_customers=150, n_items=50, n_orders=700, random_state=0)
    rec = Recommender.from_history(shop.transactions, shop.catalog, blend="weighted")
    rec.save(folder / "model")
    log = OfferLog.sqlite(folder / "log.db")
    rng = np.random.default_rng(0)
    customers = shop.transactions.customers.ids[:40].tolist()
    items = shop.catalog.items.ids.tolist()
    for r, cust in enumerate(customers):
        at = f"2025-01-{1 + r % 28:02d}T10:00:00"
        offers = rec.recommend(cust, k=3, at=at)
        for pos, offer in enumerate(offers):
            explore = r % 5 == 0 and pos == 2
            item = items[int(rng.integers(len(items)))] if explore else offer.item
            oid = log.record("presented", item=item, customer=cust, time=at, position=pos,
                             propensity=0.25 if explore else 1.0, explored=explore,
                             request_id=f"req{r}", policy="shop@1")
            if rng.random() < 0.3:
                log.accepted(oid, revenue=5.0, time=at)
    for j in range(7):  # written before propensities were logged
        log.record("presented", item=items[j], customer=customers[j], time="2024-12-01")
    empty = OfferLog.sqlite(folder / "old.db")
    empty.record("presented", item=items[0], customer=customers[0], time="2024-12-01")
    return {"model": folder / "model", "log": folder / "log.db", "old": folder / "old.db"}


def run(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(["--quiet", *argv], out=buf)
    return code, buf.getvalue()


def test_prints_the_table(saved):
    code, text = run("evaluate-policy", "--log", str(saved["log"]), "--model",
                     str(saved["model"]), "--bootstrap", "100")
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0].startswith("PolicyEvaluation: acceptance rate per offer shown, 40 requests")
    assert lines[1].split() == ["estimator", "policy", "value", "ci_low", "ci_high", "n", "ess",
                                "accepted", "top1%", "reliable"]
    assert [ln.split()[0] for ln in lines[2:6]] == ["logged", "ips", "snips", "dr"]
    assert "logged    shop@1" in text
    assert "note: 7 of 127 offers left out" in text


def test_json_and_options(saved):
    code, text = run("evaluate-policy", "--log", str(saved["log"]), "--model",
                     str(saved["model"]), "--estimator", "ips,snips", "--json",
                     "--bootstrap", "0", "--reward", "revenue")
    assert code == 0, text
    out = json.loads(text)
    assert out["reward"] == "revenue" and out["n_requests"] == 40 and out["n_excluded"] == 7
    rows = {r["estimator"]: r for r in out["estimates"]}
    assert list(rows) == ["logged", "ips", "snips"]
    assert rows["ips"]["ci_low"] is None  # no bootstrap: no interval, never NaN in JSON
    # the model's own lists were logged with propensity 1 outside the explored slots, so the
    # model's IPS counts the same rewards as the log except those slots
    assert 0 < rows["ips"]["value"] <= rows["logged"]["value"] * 1.5
    code, since = run("evaluate-policy", "--log", str(saved["log"]), "--model",
                      str(saved["model"]), "--json", "--bootstrap", "0",
                      "--since", "2025-01-15")
    assert code == 0 and json.loads(since)["n_requests"] < 40


@pytest.mark.parametrize(("which", "extra", "message"), [
    ("missing_log", (), "offer log not found"),
    ("missing_model", (), "model folder not found"),
    ("ok", ("--estimator", "ipw"), "--estimator must name some of ips, snips, dr"),
    ("old", (), "none of the 1 presented offers in the log carries a logged propensity"),
])
def test_errors_are_one_line_and_exit_2(saved, tmp_path, capsys, which, extra, message):
    log = {"missing_log": tmp_path / "nope.db", "old": saved["old"]}.get(which, saved["log"])
    model = tmp_path / "nomodel" if which == "missing_model" else saved["model"]
    code, _ = run("evaluate-policy", "--log", str(log), "--model", str(model), *extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "nope.db").exists()  # a mistyped path never creates a log


def test_logs_are_read_only_and_another_database_is_refused(tmp_path) -> None:
    import hashlib
    import sqlite3

    from upsell.exceptions import UpsellDataError
    from upsell.recommend import OfferLog

    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(UpsellDataError, match="holds no offer log"):
        OfferLog.sqlite(path, read_only=True)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    log_path = tmp_path / "offers.db"
    log = OfferLog.sqlite(log_path)
    log.record("presented", item="a", customer="c", time=1.0)
    ro = OfferLog.sqlite(log_path, read_only=True)
    assert len(ro) == 1 and ro.outcomes()["item"].tolist() == ["a"]
    with pytest.raises(UpsellDataError, match="never creates"):
        OfferLog.sqlite(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()
