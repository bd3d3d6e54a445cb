"""Security: the HTML report escapes data, SQL binds parameters, the CLI never runs or expands paths."""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

import upsell as us
import upsell.cli
from upsell.exceptions import UpsellDataError
from upsell.recommend import OfferLog, SQLOfferLog

SRC = Path(__file__).resolve().parents[2] / "src" / "upsell"

SCRIPT = "<script>alert(1)</script>"
HOSTILE = [SCRIPT, '"><img src=x onerror=alert(2)>', "</style><b>bold</b>",
           "' onmouseover='alert(3)", "&amp; &lt;x&gt;", "\u202eevil\x1b[31m", "{{7*7}}"]


@pytest.fixture(scope="module")
def hostile_shop():
    """A shop whose item ids, names, categories and customer ids are all markup."""
    shop = us.datasets.make_shop(n_customers=200, n_items=60, n_orders=900, random_state=2)
    tx, cat = shop.transactions, shop.catalog
    evil_items = np.array([f"{HOSTILE[i % len(HOSTILE)]}#{i}" for i in range(len(tx.items))])
    evil_customers = np.array([f"{HOSTILE[-1 - i % len(HOSTILE)]}@{i}"
                               for i in range(len(tx.customers))])
    known = tx.customer >= 0
    tx2 = us.Transactions.from_arrays(
        order=tx.orders.ids[tx.order[known]], item=evil_items[tx.item[known]],
        customer=evil_customers[tx.customer[known]], quantity=tx.quantity[known],
        price=tx.price[known], time=tx.time[known])
    cat = cat.align(tx.items)
    names = np.array([f"{SCRIPT} {n}" for n in cat.name.tolist()])
    categories = np.array([f"<i>{c}</i>" for c in cat.category.tolist()])
    cat2 = us.Catalog.from_arrays(
        item=evil_items, name=names, family=cat.family, tier=cat.tier, price=cat.price,
        cost=cat.cost, kind=cat.kind, attaches_to=cat.attaches_to, exclusive=cat.exclusive,
        pack_size=cat.pack_size, category=categories)
    return tx2, cat2


@pytest.fixture(scope="module")
def hostile_html(hostile_shop, tmp_path_factory) -> Path:
    tx, cat = hostile_shop
    analysis = us.report.analyse(tx, cat, source=f"orders {SCRIPT}.csv",
                                 nps_scores=[10, 9, 3, 7], max_eval_customers=200,
                                 factors=8, iterations=2)
    path = tmp_path_factory.mktemp("html") / "report.html"
    analysis.save_html(path)
    return path


def test_report_escapes_every_data_string(hostile_html):
    html = hostile_html.read_text("utf-8")
    assert "<script" not in html.lower()  # the report has no scripts at all
    # "onerror=alert" itself may appear as escaped text (ids are shown next to names);
    # the markup that would run it may not
    for bad in ("<img", "</style><b>", "<i>"):
        assert bad not in html, bad
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # wherever an id with an <img> tag is shown, it is shown escaped
    assert html.count("onerror=alert(2)") == html.count("&lt;img src=x onerror=alert(2)&gt;")
    assert "' onmouseover='" not in html  # quotes in attributes are escaped too


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def test_report_markup_stays_text_in_chromium(hostile_html, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium: install Debian's `chromium` package")
    profile = tmp_path / "profile"
    profile.mkdir()
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--dump-dom",
           f"file://{hostile_html}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert dom.rstrip().endswith("</html>")
    # no element was made of the data: the DOM holds the markup only as text
    assert "<script" not in dom.lower() and "<img" not in dom and "<i>" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "alert" not in "".join(ln for ln in done.stderr.splitlines() if "CONSOLE" in ln)


# ---------------------------------------------------------------------------- SQL
#: the only names interpolated into SQL text; each is validated or a constant
SQL_INTERPOLATIONS = {"table", "self.table", "self.synchronous", "', '.join(_COLUMNS)",
                      "', '.join('?' * len(_COLUMNS))", "order", "marks",
                      # OfferLog.outcomes(columns=): _select_list admits only the table's own column names
                      "select_list"}


def _sql_strings(tree: ast.AST) -> list[ast.AST]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values
                           if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA)\b", text):
                out.append(node)
    return out


def test_sql_statements_bind_their_values():
    found = 0
    for path in SRC.rglob("*.py"):
        text = path.read_text("utf-8")
        tree = ast.parse(text)
        for node in _sql_strings(tree):
            found += 1
            for v in node.values:  # type: ignore[attr-defined]
                if isinstance(v, ast.FormattedValue):
                    expr = ast.unparse(v.value)
                    assert expr in SQL_INTERPOLATIONS, (
                        f"{path.name}:{node.lineno}: SQL interpolates {expr!r}; bind it with ?")
        # no %-formatting or concatenation into SQL text
        assert not re.search(r"""["'](?:SELECT|INSERT|UPDATE|DELETE)[^"']*["']\s*(%|\+)\s*\w""",
                             text), path
        for m in re.finditer(r"\.execute(?:many)?\((.*)", text):
            arg = m.group(1).lstrip()
            assert not arg.startswith(('"%', "'%")) and ".format(" not in arg.replace(
                ".format(table=self.table)", ""), (path, arg)
    assert found >= 3


HOSTILE_IDS = ["x'); DROP TABLE upsell_offer_events; --", "' OR '1'='1", "\x00nul",
               'quote"d', "ü😀", "a" * 10_000, "Robert'); DELETE FROM x; --"]


@pytest.mark.parametrize("factory", ["sqlite", "dbapi"])
def test_offer_log_binds_hostile_ids(tmp_path, factory):
    if factory == "sqlite":
        log = OfferLog.sqlite(tmp_path / "offers.db")
    else:
        log = SQLOfferLog(sqlite3.connect(":memory:", check_same_thread=False))
    written = 0
    for i, evil in enumerate(HOSTILE_IDS):
        try:
            oid = log.record("presented", item=evil, customer=evil, channel="web",
                             source=evil, time=1_700_000_000 + i)
        except UpsellDataError as exc:  # refusing an id (NUL) is fine; naming it is required
            assert "item" in str(exc) or "customer" in str(exc) or "source" in str(exc)
            continue
        written += 1
        log.accepted(oid, revenue=1.0, time=1_700_000_100 + i)
        hist = log.history(evil, since=0)
        assert {h[0] for h in hist} == {evil}
    assert len(log) == 2 * written and written >= len(HOSTILE_IDS) - 1
    items = {e.item for e in log.events()}
    assert items <= set(HOSTILE_IDS)


@pytest.mark.parametrize("table", ["t; DROP TABLE x", "t--", "t'", "1t", "", "t" * 100])
def test_offer_log_refuses_hostile_table_names(tmp_path, table):
    with pytest.raises(UpsellDataError, match="table"):
        SQLOfferLog(sqlite3.connect(":memory:"), table=table)


# ---------------------------------------------------------------------------- CLI and code
def test_no_shell_eval_exec_or_pickle_in_the_sources():
    banned = {"eval", "exec", "compile", "__import__"}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else ast.unparse(f)
                assert name not in banned, f"{path.name}:{node.lineno} calls {name}"
                assert name not in {"os.system", "os.popen", "os.execv", "os.execvp",
                                    "os.spawnv", "pickle.load", "pickle.loads",
                                    "marshal.loads"}, f"{path.name}:{node.lineno}: {name}"
                for kw in node.keywords:
                    if kw.arg == "shell":
                        assert isinstance(kw.value, ast.Constant) and kw.value.value is False, \
                            f"{path.name}:{node.lineno}: shell=True"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                    node.module or ""]
                assert not {"subprocess", "pickle", "marshal", "shelve"} & set(mods), \
                    f"{path.name}:{node.lineno} imports {mods}"


def test_cli_never_expands_paths():
    text = "\n".join(p.read_text("utf-8") for p in sorted((SRC / "cli").glob("*.py")))
    assert not re.search(r"\b(expanduser|expandvars|glob|iglob|shlex|fnmatch)\s*[.(]", text)
    assert not re.search(r"^\s*(import|from) (glob|shlex|fnmatch)\b", text, re.M)


@pytest.mark.parametrize("path", ["$(touch PWNED)", "`touch PWNED`", "~/no-such-orders.csv",
                                  "*.csv", "$HOME/orders.csv", "orders.csv; touch PWNED",
                                  "../" * 30 + "etc/shadow-not-here"])
def test_cli_takes_paths_literally(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real.csv").write_text("order,item\n1,a\n", "utf-8")  # a glob would match it
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    code = upsell.cli.main(["inspect", path], out=io.StringIO())
    assert code == 2, err.getvalue()
    msg = err.getvalue().strip()
    assert len(msg.splitlines()) == 1 and "Traceback" not in msg
    assert not (tmp_path / "PWNED").exists()
    assert "real.csv" not in msg  # nothing was globbed


def test_cli_reads_a_file_named_like_a_shell_expression(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "$(touch PWNED) `id` ~ *.csv"
    (tmp_path / name).write_text("order,item\n1,a\n1,b\n2,a\n", "utf-8")
    out = io.StringIO()
    code = upsell.cli.main(["inspect", name, "--quiet"], out=out)
    assert code == 0
    assert not (tmp_path / "PWNED").exists()
