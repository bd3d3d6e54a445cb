"""Run the handbook on a shop's order history: one call, one :class:`Analysis`.

Each section (data, KPIs, segments, bundles, ladders, CLV, evaluation, offers)
runs on its own: a section whose columns are missing is *skipped* with the reason,
and one that fails is *failed* with the error, while the others go on.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from upsell._display import TableResult
from upsell._validation import as_transactions
from upsell.data import Catalog, Transactions
from upsell.exceptions import UpsellDataError
from upsell.report._baskets import _section_bundles, _section_ladders
from upsell.report._context import _Context, _log, _mem, _num, _Skip
from upsell.report._log import _section_log
from upsell.report._models import (  # _clv_result: re-exported for tests
    _clv_result,  # noqa: F401
    _section_clv,
    _section_evaluation,
    _section_offers,
    fit_clv_models,
)
from upsell.report._shop import (
    _section_atv_over_time,
    _section_data,
    _section_kpis,
    _section_opportunities,
    _section_segments,
)
from upsell.report._tables import MAX_MARKS, Chart, Table, fmt, fmt_pct  # noqa: F401 - MAX_MARKS re-exported

__all__ = ["INPUT_SECTIONS", "SECTIONS", "Analysis", "Section", "analyse", "fit_clv_models"]


#: Section names, in report order, with their titles.
SECTIONS: dict[str, str] = {
    "data": "Data",
    "kpis": "Key figures",
    "atv_over_time": "ATV over time",
    "segments": "Customer segments",
    "opportunities": "Opportunity matrix",
    "bundles": "Products bought together",
    "ladders": "Upgrade ladders",
    "clv": "Customer lifetime value",
    "evaluation": "Offline evaluation",
    "offers": "Example offers",
}

#: Sections run only when their input is given (``log``: an offer log), not by default.
INPUT_SECTIONS: dict[str, str] = {"log": "What the log says"}

# every section in report order: the input sections go before the example offers
_TITLES: dict[str, str] = {**{k: v for k, v in SECTIONS.items() if k != "offers"},
                           **INPUT_SECTIONS, "offers": SECTIONS["offers"]}


@dataclass(frozen=True, slots=True)
class Section:
    """One part of an :class:`Analysis`: its status, tables, charts, figures and cost.

    Attributes
    ----------
    name : str
        Key in :data:`SECTIONS` or :data:`INPUT_SECTIONS`.
    title : str
    status : {"ok", "skipped", "failed"}
    note : str
        Why a section was skipped or failed; a remark otherwise.
    tables : tuple of Table
    charts : tuple of Chart
    values : dict
        Headline numbers and fitted objects of the section (e.g. ``values["atv"]``).
    seconds : float
        Wall time of the section.
    rss_mb, peak_mb : float
        Resident memory of the process after the section, and its peak so far.

    Examples
    --------
    >>> s = Section("data", "Data", "skipped", note="no rows")
    >>> s.ok, s.to_pandas() is None
    (False, True)
    """

    name: str
    title: str
    status: str
    note: str = ""
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rss_mb: float = 0.0
    peak_mb: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the section ran."""
        return self.status == "ok"

    def to_pandas(self) -> Any:
        """The section's first table as a DataFrame, or None when it has none."""
        return self.tables[0].to_pandas() if self.tables else None

    def plot(self, chart: int = 0, *, ax: Any = None) -> Any:
        """Draw one of the section's charts with matplotlib and return the Axes.

        Examples
        --------
        >>> Section("data", "Data", "ok").plot()
        Traceback (most recent call last):
        ...
        IndexError: section 'data' has no chart 0 (it has 0)
        """
        if not 0 <= chart < len(self.charts):
            raise IndexError(f"section {self.name!r} has no chart {chart} "
                             f"(it has {len(self.charts)})")
        from upsell.report import plots

        spec = self.charts[chart]
        return getattr(plots, spec.kind)(title=spec.title, ax=ax, **spec.kwargs)

    def _repr_html_(self) -> str:
        head = f"<b>{escape(self.title)}</b> ({escape(self.status)}, {self.seconds:.2f} s)"
        note = f"<br><i>{escape(self.note)}</i>" if self.note else ""
        return head + note + "".join(t.to_html(max_rows=10) for t in self.tables)


@dataclass(frozen=True, slots=True)
class Analysis(TableResult):
    """The result of :func:`analyse`: the sections in report order and what they ran on.

    Attributes
    ----------
    sections : tuple of Section
    source : str
        Where the data came from (a file name, "demo shop", ...).
    shape : tuple of int
        (lines, orders, items, customers).
    has_catalog : bool

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=150, n_items=60, n_orders=600, random_state=0)
    >>> a = analyse(shop.transactions, shop.catalog, sections=["data", "kpis"])
    >>> [s.status for s in a], a["kpis"].values["upt"] > 1
    (['ok', 'ok'], True)
    >>> a.to_pandas()["status"].tolist()
    ['ok', 'ok']
    """

    sections: tuple[Section, ...]
    source: str = ""
    shape: tuple[int, int, int, int] = (0, 0, 0, 0)
    has_catalog: bool = False

    _title = "Analysis"

    def __iter__(self) -> Iterator[Section]:
        return iter(self.sections)

    def __len__(self) -> int:
        return len(self.sections)

    def __contains__(self, name: object) -> bool:
        return any(s.name == name for s in self.sections)

    def __getitem__(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(f"no section {name!r}; sections: {[s.name for s in self.sections]}")

    def _columns(self, rows: range | None = None) -> dict[str, Any]:
        if rows is not None:  # a notebook: what ran, how long, and why not
            shown = self.sections[rows.start:rows.stop]
            return {"section": [s.title for s in shown], "status": [s.status for s in shown],
                    "seconds": [round(s.seconds, 2) for s in shown],
                    "note": [s.note for s in shown]}
        return {"section": [s.name for s in self.sections],
                "title": [s.title for s in self.sections],
                "status": [s.status for s in self.sections],
                "seconds": [s.seconds for s in self.sections],
                "rss_mb": [s.rss_mb for s in self.sections],
                "peak_mb": [s.peak_mb for s in self.sections],
                "note": [s.note for s in self.sections]}

    def _summary(self) -> str:
        return f"{self.source or 'order lines'}: {self.shape[0]:,} lines"

    def summary(self) -> list[str]:
        """A few lines for a terminal: the headline KPIs and each section's status.

        Examples
        --------
        >>> Analysis(sections=(Section("data", "Data", "failed", note="boom"),)).summary()[-1]
        '  Data: failed (boom)'
        """
        lines = []
        if "kpis" in self and self["kpis"].ok:
            v = self["kpis"].values
            pct = ("attach_rate", "conversion")
            parts = [f"{label} {fmt_pct(v[key])}" if key in pct else f"{label} {_num(v[key])}"
                     for key, label in
                     (("atv", "ATV"), ("upt", "UPT"), ("attach_rate", "attach rate"),
                      ("conversion", "offer conversion"), ("nps", "NPS"))
                     if key in v]
            lines.append("Key figures: " + ", ".join(parts))
        if "clv" in self and self["clv"].ok:
            lines.append(f"Mean 12-month CLV: {_num(self['clv'].values.get('mean_clv'))}")
        if "evaluation" in self and self["evaluation"].ok:
            ev = self["evaluation"].values
            lines.append(f"Best recommender: {ev.get('best')} "
                         f"(recall@{ev.get('k')} {fmt(ev.get('best_recall'))} vs popularity "
                         f"{fmt(ev.get('popular_recall'))})")
        if "log" in self and self["log"].ok and self["log"].values.get("off_policy"):
            ope = self["log"].values["off_policy"]
            parts = [f"{name} {fmt_pct(v, 2)}" for name, v in ope.items() if name != "logged"]
            lines.append(f"Offer log: accepted {fmt_pct(ope.get('logged'), 2)} of offers shown; "
                         f"the model, off-policy: {', '.join(parts)}")
        lines.append("Sections:")
        for s in self.sections:
            extra = f" ({s.note})" if s.status != "ok" and s.note else ""
            lines.append(f"  {s.title}: {s.status}{extra}")
        return lines

    def to_html(self, *, title: str = "upsell report", charts: bool = True) -> str:
        """The self-contained HTML report (see :func:`upsell.report.render_html`)."""
        from upsell.report.html import render_html

        return render_html(self, title=title, charts=charts)

    def save_html(self, path: str | os.PathLike[str], *, title: str = "upsell report",
                  charts: bool = True) -> None:
        """Write :meth:`to_html` to ``path`` atomically (temporary file + rename)."""
        from upsell.report.html import write_html

        write_html(self, path, title=title, charts=charts)


_RUNNERS: dict[str, Callable[[_Context], dict[str, Any]]] = {
    "data": _section_data,
    "kpis": _section_kpis,
    "atv_over_time": _section_atv_over_time,
    "segments": _section_segments,
    "opportunities": _section_opportunities,
    "bundles": _section_bundles,
    "ladders": _section_ladders,
    "clv": _section_clv,
    "evaluation": _section_evaluation,
    "log": _section_log,
    "offers": _section_offers,
}


def analyse(tx: Transactions, catalog: Catalog | None = None, *,
            sections: Any = None, nps_scores: Any = None, offer_log: Any = None,
            candidate: Any = None, opportunity_matrix: Any = None, exclude_items: Any = "auto",
            k: int = 10, min_support: float | str = "auto",
            min_confidence: float = 0.1, max_itemsets: int = 100_000,
            max_rules: int | None = None, factors: int = 32, iterations: int = 10,
            max_eval_customers: int = 20_000, n_examples: int = 5, top: int = 15,
            random_state: int = 0, source: str = "",
            progress: bool | Callable[[str], None] = False) -> Analysis:
    """Run the handbook on order history: KPIs, segments, bundles, ladders, CLV, evaluation, offers.

    Every section runs on its own. One that needs a column the data do not have
    (customer, time, price) or a catalog, or whose data a part refuses
    (:class:`~upsell.exceptions.UpsellDataError`, e.g. too little history to
    split), is *skipped* with the reason; one that raises anything else is
    *failed* with the error message; the others still run.

    Parameters
    ----------
    tx : Transactions
    catalog : Catalog, optional
        Without it the tier, ladder and attach-rate parts are left out.
    sections : iterable of str, optional
        Names from :data:`SECTIONS` or :data:`INPUT_SECTIONS` to run (default all
        of :data:`SECTIONS`, and "log" when ``offer_log`` is given), in report order.
    nps_scores : array-like of int, optional
        Survey answers 0-10; adds the NPS card.
    offer_log : mapping or DataFrame, optional
        A real offer log (see :func:`upsell.kpi.conversion`), or an
        :class:`~upsell.recommend.OfferLog`; without it the conversion card shows
        the backtest conversion of the evaluation section. With it, the section
        "What the log says" shows conversion by policy version and by
        exploration vs exploitation.
    candidate : Recommender, optional
        With an :class:`~upsell.recommend.OfferLog`: the model whose value on the
        logged requests "What the log says" estimates off-policy
        (:func:`upsell.recommend.evaluate_policy`).
    opportunity_matrix : OpportunityMatrix, optional
        Default the handbook's.
    exclude_items : "auto" or list of item ids, default "auto"
        Never offered, nor in the bundle tables; "auto": :func:`upsell.data.non_product_items`.
    k : int, default 10
        List length of the evaluation.
    min_support : "auto" or float, default "auto"
        Itemset support. "auto": the lowest support whose frequent itemsets (up to
        3 items) stay within ``max_itemsets``. At least 20 orders are always
        required. The report shows the support used.
    min_confidence : float, default 0.1
        Rule confidence.
    max_itemsets : int, default 100,000
        Budget of frequent itemsets (with ``"auto"``, it sets the support; with a
        number, the support is raised until the itemsets fit).
    max_rules : int, optional
        Budget of rules (see :func:`upsell.bundles.association_rules`).
    factors, iterations : int, default 32, 10
        ALS size in the evaluation.
    max_eval_customers : int, default 20,000
        Test customers scored in the evaluation (a random sample beyond that).
    n_examples : int, default 5
        Customers shown in the example offers (one per customer type first).
    top : int, default 15
        Rows in the top-N tables.
    random_state : int, default 0
    source : str, optional
        Shown in the report header.
    progress : bool or callable, default False
        True shows a tqdm bar on stderr; a callable is called with each section name.

    Returns
    -------
    Analysis

    Raises
    ------
    UpsellDataError
        Unknown section names.

    Examples
    --------
    >>> from upsell.datasets import make_shop
    >>> shop = make_shop(n_customers=200, n_items=60, n_orders=800, random_state=0)
    >>> a = analyse(shop.transactions, sections=["kpis", "ladders"])
    >>> a["ladders"].status, a["ladders"].note
    ('skipped', 'upgrade ladders need a product catalog (--catalog)')
    """
    as_transactions(tx, "tx")
    if catalog is not None and not isinstance(catalog, Catalog):
        raise UpsellDataError(f"`catalog` must be a Catalog or None; got {type(catalog).__name__}")
    names = ([*SECTIONS, *(["log"] if offer_log is not None else [])]
             if sections is None else [str(s) for s in sections])
    unknown = [s for s in names if s not in _TITLES]
    if unknown:
        raise UpsellDataError(
            f"`sections` must be names from {', '.join(_TITLES)}; got {unknown!r}")
    order = [s for s in _TITLES if s in names]
    if not (isinstance(min_support, str) and min_support == "auto"):
        try:
            ok = 0 < float(min_support) <= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise UpsellDataError(
                f'`min_support` must be "auto" or in (0, 1]; got {min_support!r}')
    options = {"k": k, "min_support": min_support, "min_confidence": min_confidence,
               "max_itemsets": max_itemsets, "max_rules": max_rules,
               "factors": factors, "iterations": iterations,
               "max_eval_customers": max_eval_customers, "n_examples": n_examples, "top": top,
               "random_state": random_state, "nps_scores": nps_scores, "offer_log": offer_log,
               "candidate": candidate,
               "opportunity_matrix": opportunity_matrix, "exclude_items": exclude_items}
    ctx = _Context(tx, catalog, options)
    # the KPI cards show the backtest conversion, which the evaluation computes
    run_order = list(order)
    if "kpis" in run_order and "evaluation" in run_order:
        run_order.remove("kpis")
        run_order.insert(run_order.index("evaluation") + 1, "kpis")
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(run_order), desc="analysis", unit="section", leave=False)
    done: dict[str, Section] = {}
    for name in run_order:
        if bar is not None:
            bar.set_description(_TITLES[name])
        elif callable(progress):
            progress(name)
        done[name] = _run(name, ctx)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if "kpis" in done and done["kpis"].ok and offer_log is None:
        bc = ctx.shared.get("backtest_conversion")
        if bc is not None and bc[1] > 0:
            vals = dict(done["kpis"].values)
            vals["conversion"] = bc[0] / bc[1]
            vals["conversion_is_backtest"] = True
            t = done["kpis"].tables[0]
            rows = (*t.rows, ("offer conversion (backtest)", fmt_pct(bc[0] / bc[1]),
                              f"{bc[0]:,} of {bc[1]:,} offers of the best model were bought "
                              "in the test period"))
            done["kpis"] = dataclasses.replace(
                done["kpis"], values=vals,
                tables=(dataclasses.replace(t, rows=rows), *done["kpis"].tables[1:]))
    lines, orders, items = tx.shape
    items = items if tx.has("item") else 0  # a purchase log: no item column
    return Analysis(sections=tuple(done[n] for n in order), source=source,
                    shape=(lines, orders, items, len(tx.customers) if tx.has("customer") else 0),
                    has_catalog=catalog is not None)


def _run(name: str, ctx: _Context) -> Section:
    start = time.perf_counter()
    title = _TITLES[name]
    try:
        out = _RUNNERS[name](ctx)
        status, note = "ok", str(out.get("note", ""))
    except _Skip as exc:
        out, status, note = {}, "skipped", str(exc)
    except UpsellDataError as exc:
        # the part refused these data (too few orders, one day of history, ...): a reader
        # learns why it is left out; a bug raises something else and shows as failed
        _log.info("report section %s left out: %s", name, exc)
        out, status, note = {}, "skipped", f"these data do not allow it ({exc})"
    except MemoryError:
        out, status, note = {}, "failed", "ran out of memory"
    except Exception as exc:
        _log.warning("report section %s failed", name, exc_info=True)
        out, status, note = {}, "failed", f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    rss, peak = _mem()
    _log.info("section %s: %s in %.2f s (rss %.0f MB, peak %.0f MB)", name, status, seconds,
              rss, peak)
    return Section(name=name, title=title, status=status, note=note,
                   tables=tuple(out.get("tables", ())), charts=tuple(out.get("charts", ())),
                   values=dict(out.get("values", {})), seconds=seconds, rss_mb=rss, peak_mb=peak)
