"""The self-contained HTML report: inline CSS, inline SVG charts, no scripts, no network."""

from __future__ import annotations

import datetime as _dt
import math
import os
from html import escape
from typing import TYPE_CHECKING

import numpy as np

from upsell import __version__
from upsell.persist import atomic_write_bytes
from upsell.report._tables import Chart, fmt, fmt_pct

if TYPE_CHECKING:
    from upsell.report.analysis import Analysis, Section

__all__ = ["render_html", "write_html"]

_CSS = """
:root { --ink:#1d2330; --muted:#5d6573; --line:#e3e6eb; --accent:#2f6db5; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); background: var(--bg); }
header { background: var(--ink); color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9ced6; font-size: 13px; }
nav { padding: 8px 28px; background:#fff; border-bottom:1px solid var(--line);
      font-size: 13px; position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap;
      gap: 4px 14px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
main { max-width: 1100px; margin: 0 auto; padding: 8px 20px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 14px 20px 16px; margin: 16px 0; }
section h2 { margin: 0 0 8px; font-size: 18px; }
section.skipped h2, section.failed h2 { color: var(--muted); }
.status { font-size: 12px; color: var(--muted); font-weight: normal; margin-left: 8px; }
.omitted { color: var(--muted); font-style: italic; margin: 4px 0; }
.failed .omitted { color: #a23b2f; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background:#fbfcfd; }
.card .label { font-size: 12px; color: var(--muted); }
.card .value { font-size: 24px; font-weight: 600; margin-top: 2px; }
.card .sub { font-size: 11px; color: var(--muted); }
.card .value.na { color: var(--muted); }
.scroll { overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; width: 100%; }
.caption { margin: 12px 0 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
         vertical-align: top; }
td { overflow-wrap: break-word; }
td.long { overflow-wrap: anywhere; min-width: 12ch; }
th { background: #f1f3f6; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.note, .more { color: var(--muted); font-size: 12px; margin: 2px 0 8px; }
.more { font-style: italic; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr));
          gap: 12px; }
figure.chart { margin: 0; min-width: 0; }
.chart .plot { overflow-x: auto; }
.chart svg { display: block; width: 100%; min-width: 340px; height: auto; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 2px; }
@media (max-width: 600px) {
  header, nav { padding-left: 12px; padding-right: 12px; }
  nav { position: static; }
  .scroll table { width: max-content; min-width: 100%; }
  td { max-width: 12em; }
  .chart svg { min-width: 520px; }
  main { padding: 4px 8px 24px; }
  section { padding: 10px 10px 12px; }
  table { font-size: 12px; }
  th, td { padding: 3px 5px; }
}
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 10px; }
"""

_CARD_KEYS = (
    ("atv", "ATV", "net revenue per order", False),
    ("upt", "UPT", "units per order", False),
    ("attach_rate", "Attach rate", "orders with product + attachment", True),
    ("conversion", "Offer conversion", "accepted / presented", True),
    ("nps", "NPS", "promoters - detractors", False),
)


def _cards(analysis: Analysis) -> str:
    cards = []
    kp = analysis["kpis"].values if "kpis" in analysis and analysis["kpis"].ok else {}
    for key, label, sub, pct in _CARD_KEYS:
        if key not in kp:
            continue
        v = kp[key]
        finite = v is not None and math.isfinite(float(v))
        if not finite:
            cards.append(_card(label, "n/a", str(kp.get(f"{key}_why") or "cannot be computed "
                                                 "on these data"), na=True))
            continue
        text = fmt_pct(v) if pct else fmt(float(v))
        if key == "conversion" and kp.get("conversion_is_backtest"):
            sub = "backtest: offers bought later"
        cards.append(_card(label, text, sub))
    if "clv" in analysis and analysis["clv"].ok:
        cv = analysis["clv"].values
        method = str(cv.get("method") or "")
        cards.append(_card("CLV (12 months)", fmt(cv["mean_clv"]),
                           f"mean; median {fmt(cv['median_clv'])}"
                           + (f"; {method}" if method else "")))
    lv = analysis["ladders"].values if "ladders" in analysis and analysis["ladders"].ok else {}
    if "take_up" in lv:
        cards.append(_card("Upgrade take-up", fmt_pct(lv["take_up"]),
                           "customers who moved up a tier"))
    br = lv.get("quantity_breaks")
    near = int(np.sum(br.near)) if br is not None else 0
    if br is not None and near:
        cards.append(_card("Quantity breaks", f"{len(br):,}",
                           f"{near:,} lines within reach; {int(np.sum(br.taken)) / near:.0%} "
                           "later bought at the break"))
    if not cards:
        return ""
    return f'<div class="cards">{"".join(cards)}</div>'


def _card(label: str, value: str, sub: str, *, na: bool = False) -> str:
    cls = "value na" if na else "value"
    return (f'<div class="card"><div class="label">{escape(label)}</div>'
            f'<div class="{cls}">{escape(value)}</div><div class="sub">{escape(sub)}</div></div>')


def _chart_svg(chart: Chart, salt: str, wide: bool) -> str:
    from upsell.report import plots

    func = getattr(plots, chart.kind)
    ax = func(title=chart.title, **chart.kwargs)
    fig = ax.figure
    try:
        if wide:  # alone in its section: as wide as the page, text at the same size
            w, h = fig.get_size_inches()
            fig.set_size_inches(max(w, 10.0), h)
        return plots.to_svg(fig, salt=salt)
    finally:
        fig.clear()


def _charts_html(section: Section, enabled: bool, why: str) -> str:
    if not section.charts:
        return ""
    if not enabled:
        return f'<p class="note">{escape(why)}</p>' if why else ""
    parts = []
    wide = len(section.charts) == 1
    for i, chart in enumerate(section.charts):
        try:
            svg = _chart_svg(chart, f"{section.name}{i}", wide)
        except Exception as exc:  # a chart must never take the report down
            svg = (f'<p class="omitted">Chart not drawn: {escape(type(exc).__name__)}: '
                   f'{escape(str(exc))}</p>')
        cap = f"<figcaption>{escape(chart.note)}</figcaption>" if chart.note else ""
        parts.append(f'<figure class="chart" role="img" aria-label="{escape(chart.title)}">'
                     f'<div class="plot">{svg}</div>{cap}</figure>')
    return f'<div class="charts">{"".join(parts)}</div>'


def _section_html(section: Section, charts: bool, why: str, extra: str = "") -> str:
    status = "" if section.ok else f'<span class="status">{escape(section.status)}</span>'
    body = []
    if section.status == "skipped":
        body.append(f'<p class="omitted">Left out: {escape(section.note)}.</p>')
    elif section.status == "failed":
        body.append(f'<p class="omitted">This section failed: {escape(section.note)}</p>')
    else:
        body.append(extra)
        if section.note:
            body.append(f'<p class="note">{escape(section.note)}</p>')
        body.append(_charts_html(section, charts, why))
        body.extend(t.to_html() for t in section.tables)
    return (f'<section id="{escape(section.name)}" class="{escape(section.status)}" '
            f'data-section="{escape(section.name)}"><h2>{escape(section.title)}{status}</h2>'
            f'{"".join(body)}</section>')


def render_html(analysis: Analysis, *, title: str = "upsell report", charts: bool = True) -> str:
    """Render an :class:`~upsell.report.Analysis` as one self-contained HTML page.

    No scripts, no external style sheets, fonts or images: charts are inline SVG
    (text drawn as paths) made with matplotlib when it is installed; without it
    the report says so and shows the tables. Every string that comes from the
    data is HTML-escaped.

    Parameters
    ----------
    analysis : Analysis
    title : str, default "upsell report"
    charts : bool, default True
        Draw charts (needs matplotlib, the ``plots`` extra).

    Returns
    -------
    str

    Examples
    --------
    >>> from upsell.report.analysis import Analysis, Section
    >>> a = Analysis(sections=(Section("data", "Data", "skipped", note="<no data>"),))
    >>> page = render_html(a, charts=False)
    >>> page.startswith("<!DOCTYPE html>"), "&lt;no data&gt;" in page, "<script" in page
    (True, True, False)
    """
    why = ""
    if charts:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            charts = False
            why = 'Charts need matplotlib: pip install "upsell[plots]".'
    lines, orders, items, customers = analysis.shape
    sub = (f"{escape(analysis.source or 'order history')}: {lines:,} order lines, "
           f"{orders:,} orders, " + (f"{items:,} items" if items else "no item column")
           + (f", {customers:,} customers" if customers else "")
           + ("" if analysis.has_catalog else "; no catalog"))
    stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    nav = "".join(f'<a href="#{escape(s.name)}">{escape(s.title)}</a>' for s in analysis)
    body = []
    for s in analysis:
        extra = _cards(analysis) if s.name == "kpis" and s.ok else ""
        body.append(_section_html(s, charts, why, extra))
    omitted = [s for s in analysis if not s.ok]
    summary = ""
    if omitted:
        items_ = "".join(f"<li>{escape(s.title)}: {escape(s.status)} ({escape(s.note)})</li>"
                         for s in omitted)
        summary = (f'<section id="omissions" data-section="omissions"><h2>What this report '
                   f'leaves out</h2><ul>{items_}</ul></section>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{sub}</p></header><nav>{nav}</nav><main>"
        + "".join(body) + summary +
        f"</main><footer>Made by upsell {escape(__version__)} on {escape(stamp)}. "
        "Self-contained: no scripts, no network.</footer></body></html>\n"
    )


def write_html(analysis: Analysis, path: str | os.PathLike[str], *, title: str = "upsell report",
               charts: bool = True) -> None:
    """Write :func:`render_html` to ``path`` atomically (temporary file, then rename).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from upsell.report.analysis import Analysis
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.html"
    >>> write_html(Analysis(sections=()), p, charts=False)
    >>> p.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    True
    """
    text = render_html(analysis, title=title, charts=charts)
    atomic_write_bytes(path, lambda fh: fh.write(text.encode("utf-8")), mode=0o644)
