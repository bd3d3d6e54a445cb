"""upsell.report.html: one self-contained, escaped page."""

from __future__ import annotations

import re

import pytest

from upsell.report import SECTIONS, write_html
from upsell.report.analysis import Analysis, Section

from .conftest import EVIL


def test_page_is_self_contained_and_escaped(full_analysis):
    page = full_analysis.to_html(charts=False)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    for name in SECTIONS:
        assert f'data-section="{name}"' in page


def test_charts_are_inline_svg(full_analysis):
    pytest.importorskip("matplotlib")
    page = full_analysis.to_html()
    assert page.count("<svg") >= 6
    assert "<?xml" not in page and "<script" not in page.lower()
    assert not re.search(r"xlink:href=\"(https?:|//)", page)


def test_skipped_and_failed_sections_say_why(tmp_path):
    a = Analysis(sections=(Section("ladders", "Upgrade ladders", "skipped", note="no catalog"),
                           Section("clv", "CLV", "failed", note="ValueError: <bad>")))
    path = tmp_path / "r.html"
    write_html(a, path, charts=False)
    page = path.read_text(encoding="utf-8")
    assert "Left out: no catalog." in page
    assert "This section failed: ValueError: &lt;bad&gt;" in page
    assert 'id="omissions"' in page


def test_cards_show_the_headline_kpis(full_analysis):
    page = full_analysis.to_html(charts=False)
    for label in ("ATV", "UPT", "Attach rate", "Offer conversion", "NPS", "CLV (12 months)"):
        assert f'<div class="label">{label}</div>' in page


def test_evil_source_name_is_escaped(full_analysis):
    assert EVIL not in full_analysis.to_html(charts=False)


def test_ids_read_as_text_and_long_ids_wrap():
    from upsell.report.analysis import Table

    hashed = "d896af65d5b6b01300e22d3778efe9dc777fcde29ff9a6f2dd04242a7b0367ac"
    html = Table("", ("customer", "item", "orders", "share"),
                 ((hashed, "0108775015", "1,234", "12.5%"), ("14334", "85123A", 7, 0.5))).to_html()
    cells = re.findall(r"<td([^>]*)>([^<]*)</td>", html)
    align = {text: attrs for attrs, text in cells}
    # ids (a leading zero, or four digits and more without separators) are text, left-aligned
    assert align["0108775015"] == "" and align["14334"] == "" and align["85123A"] == ""
    # formatted numbers stay right-aligned
    assert align["1,234"] == ' class="num"' and align["12.5%"] == ' class="num"'
    assert align["7"] == ' class="num"'
    # a hashed id may wrap anywhere instead of widening its column
    assert align[hashed] == ' class="long"'


def test_short_ids_in_a_column_of_ids_read_as_text():
    """Instacart's product ids run from 1 to 49,688: "170" beside "3103" is an id too (it
    stood right of the others); a column of counts, blanks read "n/a", stays numbers."""
    from upsell.report.analysis import Table

    html = Table("", ("product", "orders", "lift"),
                 (("3103", 1549, "12"), ("170", 1023, "n/a"), ("42", 7, "1,234"))).to_html()
    cells = re.findall(r"<td([^>]*)>([^<]*)</td>", html)
    align = {text: attrs for attrs, text in cells}
    assert align["3103"] == align["170"] == align["42"] == ""
    assert align["1,549"] == align["7"] == ' class="num"'
    assert align["12"] == align["n/a"] == align["1,234"] == ' class="num"'
    # a products or offers column is ids however short, integer ids included (not "25,508")
    html = Table("", ("offer", "orders"), ((2, 5), (25508, 12345))).to_html()
    align = {text: attrs for attrs, text in re.findall(r"<td([^>]*)>([^<]*)</td>", html)}
    assert align["2"] == align["25508"] == "" and align["12,345"] == ' class="num"'
    assert "+ 3 more" in Table("", ("product",), (), total=3).to_html()  # none shown


def test_a_float_column_keeps_its_decimals():
    """A money column reads "45.8, 30.0, 105.0", not "45.8, 30, 105.0": a cell gets the
    decimals most of its column's cells have, more or fewer, but never fewer than three
    significant digits (0.004 is not 0.0); counts stay whole."""
    from upsell.report.analysis import Table

    rows = ((1, 45.8, 3.0, 0.1), (2, 30.0, 4.0, 0.2), (3, 104.96, 5.0, 0.3),
            (4, 0.004, 2.0, 0.5), (5, 55.5, 1.0, 0.25), (6, 12345.6, 6.0, 0.1),
            (7, 61.2, 2.0, 0.0075))
    html = Table("", ("product", "revenue", "units", "share"), rows,
                 percent=("share",)).to_html()
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert cells[1::4] == ["45.8", "30.0", "105.0", "0.004", "55.5", "12,346", "61.2"]
    assert cells[2::4] == ["3", "4", "5", "2", "1", "6", "2"]
    assert cells[3::4] == ["10.0%", "20.0%", "30.0%", "50.0%", "25.0%", "10.0%", "0.75%"]
    # a column of thousands: 441.3 reads 441 beside 2,901 (three digits left); 45.8 keeps its
    rows = tuple((str(i), v) for i, v in enumerate((10844.0, 9315.0, 2901.0, 441.3, 1011.0,
                                                    633.8, 45.8)))
    html = Table("", ("segment", "revenue"), rows).to_html()
    assert re.findall(r"<td[^>]*>([^<]*)</td>", html)[1::2] == [
        "10,844", "9,315", "2,901", "441", "1,011", "634", "45.8"]
    # supports below 1% keep two significant digits; 0.3% among them reads 0.30%
    html = Table("", ("rule", "support"), (("a", 0.0028), ("b", 0.003), ("c", 0.0028),
                                           ("d", 0.0032), ("e", 0.00001234)),
                 percent=("support",)).to_html()
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert cells[1::2] == ["0.28%", "0.30%", "0.28%", "0.32%", "0.0012%"]
    # a metric column: 0.065 among 0.0337 and 0.0805 reads 0.0650
    html = Table("", ("model", "precision"), (("a", 0.0337), ("b", 0.0805), ("c", 0.065)),
                 ).to_html()
    assert re.findall(r"<td[^>]*>([^<]*)</td>", html)[1::2] == ["0.0337", "0.0805", "0.0650"]
    # no majority: the median cell's decimals, three significant digits kept
    rows = tuple((str(i), v) for i, v in enumerate((20.93, 13.9, 12.0, 11.42, 10.0, 9.03,
                                                    8.28, 6.96)))
    html = Table("", ("bundle", "lift"), rows).to_html()
    assert re.findall(r"<td[^>]*>([^<]*)</td>", html)[1::2] == [
        "20.9", "13.9", "12.0", "11.4", "10.0", "9.03", "8.28", "6.96"]
    html = Table("", ("KPI", "value"), (("ATV", 0.129), ("UPT", 3.407))).to_html()
    assert re.findall(r"<td[^>]*>([^<]*)</td>", html)[1::2] == ["0.129", "3.41"]
    # unlike figures keep their own when the column is not floats alone
    html = Table("", ("what", "value"), (("method", "NBD"), ("customers", 45454),
                                         ("margin", 1.0), ("mean", 0.475), ("median", 0.223),
                                         ("99th", 3.05))).to_html()
    assert re.findall(r"<td[^>]*>([^<]*)</td>", html)[1::2] == ["NBD", "45,454", "1", "0.475",
                                                                 "0.223", "3.05"]
