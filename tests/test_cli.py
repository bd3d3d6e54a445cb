"""The ``upsell`` command: in process through ``main``, plus the installed console script."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from upsell.cli import build_parser, main
from upsell.datasets import make_shop


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    shop = make_shop(n_customers=250, n_items=70, n_orders=1200, random_state=2)
    orders = folder / "orders.csv"
    shop.transactions.to_csv(orders)
    catalog = folder / "catalog.csv"
    pd = pytest.importorskip("pandas")
    frame = shop.catalog.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    frame.to_csv(catalog, index=False)
    renamed = folder / "renamed.csv"
    text = orders.read_text().splitlines()
    text[0] = text[0].replace("order", "InvoiceNo").replace("item", "StockCode")
    renamed.write_text("\n".join(text) + "\n")
    bad = folder / "bad.csv"
    bad.write_text("order,item,price\n1,a,abc\n")
    first = text[1].split(",")
    return {"orders": orders, "catalog": catalog, "renamed": renamed, "bad": bad,
            "folder": folder, "customer": first[2], "item": first[1]}


def run(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(["--quiet", *argv], out=buf)
    return code, buf.getvalue()


def test_demo_writes_the_report(tmp_path):
    report = tmp_path / "demo.html"
    code, text = run("demo", "--customers", "300", "-o", str(report))
    assert code == 0
    assert "DataReport" in text and "Key figures" in text and str(report) in text
    page = report.read_text(encoding="utf-8")
    assert 'data-section="offers"' in page


def test_report_on_own_data_with_catalog(files, tmp_path):
    report = tmp_path / "r.html"
    nps = tmp_path / "nps.csv"
    nps.write_text("score\n10\n9\n3\n")
    code, text = run("report", str(files["orders"]), "--catalog", str(files["catalog"]),
                     "--nps", str(nps), "-o", str(report), "--no-charts")
    assert code == 0, text
    page = report.read_text(encoding="utf-8")
    assert "Upgrade ladders" in page and "NPS" in page
    assert "Left out" not in page


def test_report_without_catalog_says_what_is_left_out(files, tmp_path):
    report = tmp_path / "r.html"
    code, _ = run("report", str(files["renamed"]), "--columns",
                  "order=InvoiceNo,item=StockCode", "-o", str(report), "--no-charts")
    assert code == 0
    page = report.read_text(encoding="utf-8")
    assert "Left out: upgrade ladders need a product catalog" in page


def test_mine_rules_csv_and_json(files, tmp_path):
    code, text = run("mine", str(files["orders"]), "--min-support", "0.005", "--top", "5")
    assert code == 0
    lines = text.strip().splitlines()
    assert lines[0].startswith("antecedent,consequent,count,support,confidence,lift")
    assert 1 < len(lines) <= 6
    out = tmp_path / "rules.json"
    code, _ = run("mine", str(files["orders"]), "--min-support", "0.005", "--format", "json",
                  "-o", str(out))
    rules = json.loads(out.read_text())
    assert code == 0 and rules and {"antecedent", "lift"} <= set(rules[0])


@pytest.mark.parametrize("what", ["itemsets", "sequences"])
def test_mine_other_patterns(files, what):
    code, text = run("mine", str(files["orders"]), "--what", what, "--min-support", "0.01",
                     "--format", "json")
    assert code == 0 and isinstance(json.loads(text), list)


def test_mine_bundles_needs_list_prices(files, capsys, tmp_path):
    no_price = tmp_path / "no_price.csv"
    rows = files["orders"].read_text().splitlines()
    head = rows[0].split(",")
    keep = [i for i, h in enumerate(head) if h != "price"]
    no_price.write_text("\n".join(",".join(r.split(",")[i] for i in keep) for r in rows) + "\n")
    code, _ = run("mine", str(no_price), "--what", "bundles")
    assert code == 2 and "--catalog" in capsys.readouterr().err
    code, text = run("mine", str(files["orders"]), "--what", "bundles", "--catalog",
                     str(files["catalog"]), "--min-support", "0.005")
    assert code == 0 and text.startswith("bundle,")
    # without a catalog the lines' own prices make the list prices
    code, text = run("mine", str(files["orders"]), "--what", "bundles", "--min-support", "0.005")
    assert code == 0 and text.startswith("bundle,")


@pytest.mark.parametrize("method", ["personas", "rfm"])
def test_segment(files, method):
    code, text = run("segment", str(files["orders"]), "--catalog", str(files["catalog"]),
                     "--method", method, "--summary")
    assert code == 0 and text.startswith("segment,customers,customer_share")


def test_kpi_and_clv(files):
    code, text = run("kpi", str(files["orders"]), "--catalog", str(files["catalog"]))
    assert code == 0 and "atv,all" in text and "attach_rate,all" in text
    code, text = run("kpi", str(files["orders"]), "--by", "month", "--format", "json")
    assert code == 0 and len(json.loads(text)) > 12
    code, text = run("clv", str(files["orders"]), "--method", "historic")
    assert code == 0 and text.startswith("customer,orders,revenue,clv")
    code, text = run("clv", str(files["orders"]))
    assert code == 0 and text.startswith("customer,frequency")


def test_kpi_that_cannot_be_computed_is_na_with_its_reason(files, tmp_path):
    pd = pytest.importorskip("pandas")
    plain = tmp_path / "plain_catalog.csv"      # no kinds: nothing is an attachment
    pd.read_csv(files["catalog"])[["item", "price"]].to_csv(plain, index=False)
    code, text = run("kpi", str(files["orders"]), "--catalog", str(plain))
    row = next(r for r in csv.DictReader(io.StringIO(text)) if r["kpi"] == "attach_rate")
    assert code == 0 and row["value"] == "n/a" and row["numerator"] == ""
    assert "attach" in row["note"]


def test_evaluate(files):
    code, text = run("evaluate", str(files["orders"]), "--models", "popular,itemknn",
                     "--bootstrap", "0", "--format", "json")
    rows = json.loads(text)
    assert code == 0 and [r["model"] for r in rows] == ["popular", "itemknn"]


def test_fit_then_recommend_from_the_saved_model(files, tmp_path):
    model = tmp_path / "model"
    code, text = run("fit", str(files["orders"]), "--catalog", str(files["catalog"]),
                     "--out", str(model))
    assert code == 0 and model.is_dir()
    code, text = run("recommend", "--model", str(model), "--customer", files["customer"],
                     "--basket", files["item"], "--format", "json")
    offers = json.loads(text)
    assert code == 0 and offers
    assert {o["customer"] for o in offers} == {files["customer"]}
    assert files["item"] not in {o["item"] for o in offers}
    assert any(o["kind"] == "upsell" for o in offers) or all(o["cue"] for o in offers)
    # buy again: the customer's own items are offered only with --include-owned
    from upsell import Transactions

    tx = Transactions.read_csv(files["orders"])
    row = tx.customer_items("count")[0]
    owned = set(tx.items.ids[row.indices[row.data > 0]].tolist())
    who = str(tx.customers.ids[0])
    code, text = run("recommend", "--model", str(model), "--customer", who, "-k", "10",
                     "--format", "json")
    assert code == 0 and not owned & {o["item"] for o in json.loads(text)}
    code, text = run("recommend", "--model", str(model), "--customer", who, "-k", "10",
                     "--format", "json", "--include-owned", "--at", "2030-01-01",
                     "--moment", "post_purchase")
    again = json.loads(text)
    assert code == 0 and owned & {o["item"] for o in again}
    assert {o["kind"] for o in again if o["item"] in owned} == {"replenish"}


def test_a_glob_pattern_the_shell_left_alone_is_not_expanded_and_said_so(tmp_path, capsys):
    (tmp_path / "2011-01.csv").write_text("order,item\n1,a\n1,b\n")
    code, _ = run("inspect", str(tmp_path / "2011-*.csv"))
    err = capsys.readouterr().err
    assert code == 2 and "paths are taken literally: let the shell expand the pattern" in err
    assert "2011-01.csv" not in err.replace("2011-*.csv", "")  # nothing was globbed


def test_a_model_folder_and_order_lines_given_for_each_other(files, tmp_path, capsys):
    model = tmp_path / "model"
    assert run("fit", str(files["orders"]), "--out", str(model))[0] == 0
    code, _ = run("recommend", str(model), "--customer", files["customer"])
    err = capsys.readouterr().err
    assert code == 2 and f"{model} is a model folder written by `upsell fit`, not order " \
        f"lines: pass it as --model {model}" in err, err
    code, _ = run("report", str(model), "-o", str(tmp_path / "r.html"))
    err = capsys.readouterr().err
    assert code == 2 and f"`upsell recommend --model {model}` gives its offers" in err, err
    code, _ = run("recommend", "--model", str(files["orders"]), "--customer", files["customer"])
    err = capsys.readouterr().err
    assert code == 2 and "is a file, not the folder Recommender.save (upsell fit) writes" in err


def test_recommend_fits_on_the_fly_and_reads_stdin(files, monkeypatch):
    data = files["orders"].read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, text = run("recommend", "-", "--basket", files["item"], "-k", "3")
    assert code == 0 and text.startswith("customer,item,name,kind,source,score,cue")


@pytest.mark.parametrize("argv, message", [
    (["report", "missing.csv"], "file not found: missing.csv"),
    (["mine", "BAD"], "not a number"),
    (["report", "ORDERS", "--columns", "colour=x"], "unknown role 'colour'"),
    (["evaluate", "ORDERS", "--models", "magic"], "--models must name"),
    (["recommend", "--customer", "x"], "give either ORDERS"),
    (["recommend", "--model", "FOLDER", "--customer", "x"], "is not a saved recommender"),
    (["mine", "ORDERS", "--format", "xml"], "invalid choice: 'xml'"),
])
def test_errors_are_one_line_without_traceback(files, capsys, argv, message):
    argv = [str(files["bad"]) if a == "BAD" else str(files["orders"]) if a == "ORDERS" else
            str(files["folder"]) if a == "FOLDER" else a for a in argv]
    code, _ = run(*argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_debug_shows_the_traceback(files):
    from upsell.exceptions import UpsellDataError

    with pytest.raises(UpsellDataError):
        main(["--quiet", "--debug", "report", "missing.csv"], out=io.StringIO())


def test_global_options_before_or_after_the_command():
    assert build_parser().parse_args(["--quiet", "demo"]).quiet is True
    assert build_parser().parse_args(["demo", "--quiet"]).quiet is True
    assert build_parser().parse_args(["demo"]).quiet is False


def test_console_script_and_module(files, tmp_path):
    exe = Path(sys.executable).with_name("upsell")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "upsell"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([*cmd, "mine", str(files["orders"]), "--min-support", "0.005",
                           "--top", "2"], capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("antecedent,")
    done = subprocess.run([sys.executable, "-m", "upsell", "report", str(tmp_path / "no.csv")],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"upsell: error: file not found: {tmp_path / 'no.csv'}"


# ---------------------------------------------------------------------- output for people
def test_numbers_are_rounded_and_precision_is_an_option(files):
    from upsell.cli import _round

    assert _round(425431.61199999985, 4, money=True) == 425431.61
    assert _round(425431.61199999985, 4, money=False) == 425432.0
    assert _round(0.123456789, 4, money=False) == 0.1235
    assert _round(0.123456789, None, money=False) == 0.123456789
    code, text = run("kpi", str(files["orders"]), "--format", "json")
    rows = json.loads(text)
    for r in rows:
        for v in r.values():
            if isinstance(v, float):
                assert len(repr(v).replace("-", "").replace(".", "").lstrip("0")) <= 8, r
    code, full = run("kpi", str(files["orders"]), "--format", "json", "--precision", "full")
    assert code == 0 and len(json.loads(full)) == len(rows)
    code, _ = run("kpi", str(files["orders"]), "--precision", "0")
    assert code == 2


def test_truncated_output_says_how_much_and_top_0_writes_all(files, capsys):
    code, text = run("mine", str(files["orders"]), "--what", "itemsets", "--min-support",
                     "0.005", "--top", "3")
    err = capsys.readouterr().err
    assert code == 0 and len(text.strip().splitlines()) == 4
    assert "wrote 3 of " in err and "rows" in err and "--top 0" in err
    total = int(err.split(" of ")[1].split(" rows")[0].replace(",", ""))
    code, text = run("mine", str(files["orders"]), "--what", "itemsets", "--min-support",
                     "0.005", "--top", "0")
    assert code == 0 and len(text.strip().splitlines()) == total + 1
    assert "of" not in capsys.readouterr().err


@pytest.mark.parametrize("top", ["-5", "x"])
def test_bad_top_is_an_error(files, capsys, top):
    code, _ = run("mine", str(files["orders"]), "--top", top)
    assert code == 2 and "--top" in capsys.readouterr().err


def test_rules_are_distinct_and_pruned_by_default(files):
    code, text = run("mine", str(files["orders"]), "--min-support", "0.003", "--top", "20",
                     "--format", "json")
    rules = json.loads(text)
    assert code == 0 and rules
    sets = [frozenset(r["antecedent"]) | frozenset(r["consequent"]) for r in rules]
    assert len(set(sets)) == len(sets)  # no permutations of one item set


def test_baskets_files_are_read_with_format_baskets(tmp_path, capsys):
    path = tmp_path / "baskets.csv"
    lines = ["whole milk,rolls/buns,yogurt", "whole milk,yogurt", "soda,rolls/buns",
             "whole milk,rolls/buns", "cream cheese ,whole milk,yogurt"] * 20
    path.write_text("\n".join(lines) + "\n")
    code, text = run("mine", str(path), "--format", "baskets", "--min-support", "0.1")
    assert code == 0 and text.startswith("antecedent,consequent")
    assert "whole milk" in text
    code, text = run("mine", str(path), "--input-format", "baskets", "--what", "itemsets",
                     "--format", "json", "--min-support", "0.1")
    assert code == 0 and any(r["itemset"] == ["cream cheese "] for r in json.loads(text))
    code, text = run("inspect", str(path), "--format", "baskets")
    assert code == 0 and "100 orders" in text


def test_progress_only_on_a_terminal(files, capsys):
    code = main(["mine", str(files["orders"]), "--min-support", "0.005", "--top", "2"],
                out=io.StringIO())
    assert code == 0
    assert "\r" not in capsys.readouterr().err  # stderr is not a terminal under pytest


def test_names_are_shown_when_the_data_know_them(tmp_path, capsys):
    path = tmp_path / "named.csv"
    rows = ["InvoiceNo,StockCode,Description,Quantity,UnitPrice,CustomerID,InvoiceDate"]
    names = {"A1": "RED MUG", "B2": "TEA TOWEL", "C3": "TEAPOT", "D4": "TEA CADDY"}
    for o in range(60):
        items = ["A1", "B2"] if o % 2 else ["C3", "D4"]
        for it in items:
            rows.append(f"{1000 + o},{it},{names[it]},1,2.50,{17000 + o % 7},"
                        f"2011-0{1 + o % 9}-01 10:00")
    path.write_text("\n".join(rows) + "\n")
    cols = ("order=InvoiceNo,item=StockCode,name=Description,quantity=Quantity,price=UnitPrice,"
            "customer=CustomerID,time=InvoiceDate")
    code, text = run("mine", str(path), "--columns", cols, "--min-support", "0.2",
                     "--format", "json")
    rules = json.loads(text)
    assert code == 0 and rules
    assert {"antecedent_names", "consequent_names"} <= set(rules[0])
    assert set(rules[0]["antecedent_names"]) <= set(names.values())
    model = tmp_path / "model"
    code, text = run("fit", str(path), "--columns", cols, "-o", str(model))  # -o as in report
    assert code == 0
    code, text = run("recommend", "--model", str(model), "--basket", "A1", "--format", "json")
    offers = json.loads(text)
    assert code == 0 and offers
    assert all(o["name"] in names.values() for o in offers)
    assert all("B2" not in o["cue"] and "A1" not in o["cue"] for o in offers)
    code, text = run("recommend", "--model", str(model), "--basket", "A1,ZZ9")
    assert code == 0  # the unknown item is named and left out, in the model's words
    assert "basket item(s) not among the model's items, ignored: ZZ9" in capsys.readouterr().err


def test_recommend_unknown_customer_is_never_silent(files, tmp_path, capsys):
    model = tmp_path / "model"
    assert run("fit", str(files["orders"]), "--out", str(model))[0] == 0
    capsys.readouterr()
    code, text = run("recommend", "--model", str(model), "--customer", "99999", "-k", "3")
    err = capsys.readouterr().err
    assert code == 0
    assert "99999" in err and "not in the history" in err and "popular" in err
    assert len(text.strip().splitlines()) == 4  # header + 3 popular items
    code, text = run("recommend", "--model", str(model), "--customer", "99999", "--no-fill")
    err = capsys.readouterr().err
    assert code == 0 and "99999" in err and "fill=False" in err
    assert text.strip().splitlines() == [
        "customer,item,name,kind,source,score,cue,reason"]


def test_mine_takes_names_from_the_catalog_and_bundles_are_significant(files):
    code, text = run("mine", str(files["orders"]), "--catalog", str(files["catalog"]),
                     "--min-support", "0.003", "--top", "5", "--format", "json")
    rules = json.loads(text)
    assert code == 0 and rules and "antecedent_names" in rules[0]
    assert all(n != i for r in rules for n, i in zip(r["antecedent_names"], r["antecedent"],
                                                     strict=True))
    code, text = run("mine", str(files["orders"]), "--catalog", str(files["catalog"]),
                     "--what", "bundles", "--top", "5", "--format", "json")
    shown = json.loads(text)
    code2, text2 = run("mine", str(files["orders"]), "--catalog", str(files["catalog"]),
                       "--what", "bundles", "--top", "0", "--max-p", "0", "--format", "json")
    assert code == 0 and code2 == 0 and len(json.loads(text2)) >= len(shown)
    assert all("bundle_names" in b for b in shown)


def test_line_totals_with_the_value_role(tmp_path):
    path = tmp_path / "totals.csv"
    rows = ["receipt,sku,qty,sales_value"]
    for o in range(1, 41):
        rows += [f"{o},A,2,10.00", f"{o},B,1,4.50"] if o % 2 else [f"{o},A,1,5.00"]
    path.write_text("\n".join(rows) + "\n")
    code, text = run("kpi", str(path), "--columns",
                     "order=receipt,item=sku,quantity=qty,value=sales_value", "--format", "json")
    atv = next(r for r in json.loads(text) if r["kpi"] == "atv")
    assert code == 0 and atv["value"] == round((20 * 14.5 + 20 * 5.0) / 40, 2)


def test_top_rules_show_different_ideas(files):
    code, text = run("mine", str(files["orders"]), "--min-support", "0.002", "--top", "15",
                     "--format", "json")
    rules = json.loads(text)
    assert code == 0 and rules
    from collections import Counter

    seen = Counter(i for r in rules for i in {*r["antecedent"], *r["consequent"]})
    assert max(seen.values()) <= 2
    code, text = run("mine", str(files["orders"]), "--min-support", "0.002", "--top", "15",
                     "--max-per-item", "0", "--format", "json")
    assert code == 0 and len(json.loads(text)) >= len(rules)


def test_serve_is_a_subcommand_and_refuses_a_public_bind_without_a_key(tmp_path, capsys, monkeypatch):
    from upsell.cli import main

    monkeypatch.delenv("UPSELL_API_KEY", raising=False)
    assert main(["serve", "--help"]) == 0
    assert "MODEL_DIR" in capsys.readouterr().out
    pytest.importorskip("uvicorn")
    assert main(["serve", str(tmp_path / "missing"), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("upsell serve: error:")
    assert "Traceback" not in err


def test_fit_with_the_learned_blend(files, tmp_path, capsys):
    from upsell.cli import main

    model = tmp_path / "model"
    code, text = run("fit", str(files["orders"]), "--catalog", str(files["catalog"]),
                     "--out", str(model), "--blend", "learned")
    assert code == 0 and (model / "blend").is_dir(), text
    code, text = run("recommend", "--model", str(model), "--customer", files["customer"],
                     "--format", "json")
    offers = json.loads(text)
    assert code == 0 and 0 < len(offers) <= 5
    assert {o["customer"] for o in offers} == {files["customer"]}
    capsys.readouterr()
    assert main(["fit", "--help"]) == 0
    assert "--blend {auto,learned,weighted}" in capsys.readouterr().out


def test_steps_show_a_long_step_on_a_terminal_only():
    import io
    import time

    from upsell.cli._io import _Steps

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    steps = _Steps(False, delay=0.0, stream=tty)
    with steps.step("fitting itemknn"):
        for _ in range(500):  # the timer thread writes the name while the step runs
            if tty.getvalue():
                break
            time.sleep(0.01)
    out = tty.getvalue()
    assert out.startswith("fitting itemknn ...") and out.endswith(" s\n")
    assert "\rfitting itemknn: " in out
    for quiet, stream in ((True, Terminal()), (False, io.StringIO())):  # --quiet; a pipe
        with _Steps(quiet, delay=0.0, stream=stream).step("x"):
            time.sleep(0.05)
        assert stream.getvalue() == ""
    short = Terminal()
    with _Steps(False, delay=60.0, stream=short).step("quick"):
        pass
    assert short.getvalue() == ""  # ended before the delay: nothing


def test_a_catalogs_title_lines_in_the_command_lines_words(files, tmp_path, capsys):
    titled = tmp_path / "titled_catalog.csv"
    titled.write_text("Price list\n" + files["catalog"].read_text())
    out = tmp_path / "r.html"
    code, _ = run("report", str(files["orders"]), "--catalog", str(titled), "-o", str(out),
                  "--no-charts")
    err = capsys.readouterr().err
    assert code == 2 and "pass --catalog-skip-rows 1 to read from it" in err, err
    code, text = run("report", str(files["orders"]), "--catalog", str(titled),
                     "--catalog-skip-rows", "1", "-o", str(out), "--no-charts")
    assert code == 0, text
    assert "Upgrade ladders" in out.read_text(encoding="utf-8")


def test_recommend_offers_a_basket_lines_next_volume_price(tmp_path, capsys):
    """`fit` reads the shop's quantity breaks; `recommend --basket ITEM:QTY` adds the line's
    next volume price as a quantity_break row."""
    rng = np.random.default_rng(0)
    rows = ["order,item,customer,quantity,price,time"]
    for o in range(240):
        item = ("MUG", "TIN", "TEA")[o % 3]
        q = int(rng.choice([1, 2, 4, 6, 12, 24, 32, 48]))
        p = (2.55 if q >= 24 else 2.95) if item == "MUG" else (4.95 if item == "TIN" else 1.25)
        rows.append(f"O{o},{item},C{o % 29},{q},{p},2024-{1 + o % 12:02d}-{1 + o % 27:02d}")
    path = tmp_path / "lines.csv"
    path.write_text("\n".join(rows) + "\n")
    model = tmp_path / "model"
    assert run("fit", str(path), "--blend", "weighted", "-o", str(model))[0] == 0
    assert (model / "breaks.npz").exists()
    code, text = run("recommend", "--model", str(model), "--basket", "MUG:12,TIN:2",
                     "--format", "json")
    more = [r for r in json.loads(text) if r["kind"] == "quantity_break"]
    assert code == 0 and [(r["item"], r["cue"]) for r in more] == [
        ("MUG", "Buy 24 for 2.55 each instead of 2.95 (save 14%)")]
    assert more[0]["reason"] == "24+ at 2.55 instead of 2.95: 12 more for 25.80"
    code, _ = run("recommend", "--model", str(model), "--basket", "MUG:0")
    assert code == 2 and "--basket MUG:0: the quantity after ':' must be a positive number" in \
        capsys.readouterr().err
