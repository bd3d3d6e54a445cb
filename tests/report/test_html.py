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
