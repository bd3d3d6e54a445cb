"""The main job on the real Online Retail file: what issue 17 asks for that is not a timing.

Each command runs once per module (the report and the model are shared by the tests);
timings and memory are measured by benchmarks/bench_main_job.py, never asserted here.
"""

from __future__ import annotations

import html as html_lib
import io
import os
import re
from pathlib import Path

import pytest

from upsell.cli import main

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

SHARED_DATA = Path(os.environ.get("UPSELL_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))
COLUMNS = ("order=InvoiceNo,item=StockCode,customer=CustomerID,quantity=Quantity,"
           "price=UnitPrice,time=InvoiceDate,name=Description")


def _read_args(path: Path) -> list[str]:
    return [str(path), "--cancel-prefix", "C", "--columns", COLUMNS, "--quiet"]


@pytest.fixture(scope="module")
def online_retail() -> Path:
    path = SHARED_DATA / "online-retail" / "online_retail_2010-12_to_2011-09.csv.gz"
    if not path.exists():
        pytest.skip(f"real data set not available: {path} is absent "
                    "(set UPSELL_SHARED_DATA to the folder that holds it)")
    return path


@pytest.fixture(scope="module")
def report_html(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    buf = io.StringIO()
    assert main(["report", *_read_args(online_retail), "-o", str(out)], out=buf) == 0
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def model_dir(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "model"
    # the weighted blend: these tests check the main job's outputs, not the learned blend
    # (its fit, minutes on this file, is measured by benchmarks/bench_main_job.py)
    assert main(["fit", *_read_args(online_retail), "--out", str(out), "--blend", "weighted"],
                out=io.StringIO()) == 0
    return out


def _visible_text(page: str) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<svg\b.*?</svg>", " ", page, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def test_report_is_small(report_html: str) -> None:
    assert len(report_html.encode("utf-8")) <= 5 * 2**20


def test_report_has_no_failed_section_and_no_nan(report_html: str) -> None:
    text = _visible_text(report_html)
    assert not re.search(r"\bfailed\b", text, flags=re.I), "a report section failed"
    assert not re.search(r"\b(nan|inf)\b%?", text, flags=re.I), "nan or inf in the report"


def test_report_shows_product_names(report_html: str) -> None:
    text = _visible_text(report_html).upper()
    # the shop's best-known products, by name, not only by stock code
    assert "WHITE HANGING HEART T-LIGHT HOLDER" in text
    assert "JUMBO BAG RED RETROSPOT" in text


def test_model_is_small_and_serves_string_ids(model_dir: Path) -> None:
    from upsell.recommend import Recommender

    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    assert size <= 50 * 2**20
    rec = Recommender.load(model_dir)
    offers = rec.recommend("17850", k=5)       # ids as a web request sends them
    assert len(offers) == 5
    assert rec.recommend("17850.0", k=5) == offers
    assert all(o.name and o.name != str(o.item) for o in offers), "offers without names"


def test_cli_recommend_for_a_known_and_an_unknown_customer(model_dir: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    buf = io.StringIO()
    assert main(["recommend", "--model", str(model_dir), "--customer", "17850", "--quiet"],
                out=buf) == 0
    assert len(buf.getvalue().strip().splitlines()) == 6     # header + 5 offers
    buf = io.StringIO()
    code = main(["recommend", "--model", str(model_dir), "--customer", "99999"], out=buf)
    err = capsys.readouterr().err
    assert code == 0 and "99999" in err, "an unknown customer must be said, not silent"


def test_clv_exits_zero_with_a_note(online_retail: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "clv.csv"
    assert main(["clv", str(online_retail), "--cancel-prefix", "C", "--columns", COLUMNS,
                 "-o", str(out)], out=io.StringIO()) == 0
    lines = out.read_text().splitlines()
    assert len(lines) > 1000
    assert "nan" not in out.read_text().lower()


def test_mine_reads_one_basket_per_line_files(groceries_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "rules.csv"
    assert main(["mine", str(groceries_path), "--format", "baskets", "--quiet",
                 "-o", str(out)], out=io.StringIO()) == 0
    assert len(out.read_text().splitlines()) > 1
