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
