"""Run the handbook on a shop's order history: one call, one :class:`Analysis`.

Each section (data, KPIs, segments, bundles, ladders, CLV, evaluation, offers)
runs on its own: a section whose columns are missing is *skipped* with the reason,
and one that fails is *failed* with the error, while the others go on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from upsell.data import Catalog, Transactions
from upsell.exceptions import ConvergenceError, UpsellDataError, UpsellError, UpsellMemoryError
from upsell.report._tables import MAX_MARKS, Chart, Table, fmt, fmt_pct, shorten_list

__all__ = ["SECTIONS", "Analysis", "Section", "analyse", "fit_clv_models"]

_log = logging.getLogger("upsell")

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


class _Skip(Exception):
    """A section cannot run on these data (a missing column or catalog)."""


@dataclass(frozen=True, slots=True)
class Section:
    """One part of an :class:`Analysis`: its status, tables, charts, figures and cost.

    Attributes
    ----------
    name : str
        Key in :data:`SECTIONS`.
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
class Analysis:
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

    def to_pandas(self) -> Any:
        """One row per section: name, title, status, seconds, rss_mb, peak_mb, note (needs pandas)."""
        from upsell._extras import require

        pd = require("pandas", "Analysis.to_pandas")
        return pd.DataFrame([{"section": s.name, "title": s.title, "status": s.status,
                              "seconds": s.seconds, "rss_mb": s.rss_mb, "peak_mb": s.peak_mb,
                              "note": s.note} for s in self.sections])

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

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{escape(s.title)}</td><td>{escape(s.status)}</td>"
            f"<td>{s.seconds:.2f}</td><td>{escape(s.note)}</td></tr>" for s in self.sections)
        return (f"<b>Analysis</b> of {escape(self.source)}: {self.shape[0]:,} lines"
                "<table><tr><th>section</th><th>status</th><th>seconds</th><th>note</th></tr>"
                f"{rows}</table>")


def _num(value: Any) -> str:
    """:func:`fmt`, but "n/a" instead of a dash for a missing number (terminal summary)."""
    text = fmt(value)
    return "n/a" if text == "–" else text


# ---------------------------------------------------------------------- context
class _Context:
    """What the sections share: the data, the options, and models fitted by earlier sections."""

    def __init__(self, tx: Transactions, catalog: Catalog | None, options: dict[str, Any]) -> None:
        self.tx = tx
        self.catalog = catalog.align(tx.items) if catalog is not None else None
        self.opt = options
        self.shared: dict[str, Any] = {}
        self.rng = np.random.default_rng(options["random_state"])

    def need(self, *columns: str) -> None:
        missing = [c for c in columns if not self.tx.has(c)]
        if missing:
            listed = (missing[0] if len(missing) == 1
                      else ", ".join(missing[:-1]) + " or " + missing[-1])
            raise _Skip(f"the data have no {listed} column")

    def need_catalog(self, what: str) -> Catalog:
        if self.catalog is None:
            raise _Skip(f"{what} need a product catalog (--catalog)")
        return self.catalog

    @property
    def items_catalog(self) -> Catalog:
        """The given catalog, else one derived from the lines (names, median unit prices)."""
        if "items_catalog" not in self.shared:
            self.shared["items_catalog"] = (self.catalog if self.catalog is not None
                                            else _derived_catalog(self.tx))
        cat: Catalog = self.shared["items_catalog"]
        return cat

    def name(self, item_ids: Any) -> list[str]:
        """Display labels of items: "name (id)" when a name is known, else the id.

        Only the items asked for are labelled, so a catalog of millions costs nothing.
        """
        ids = np.asarray(item_ids)
        if ids.size == 0:
            return []
        names = self.names()
        text = [str(x) for x in ids.tolist()]
        if names is None:
            return text
        pos = self.tx.items.encode(ids, unknown="mask")
        out = []
        for t, p in zip(text, pos.tolist(), strict=True):
            n = str(names[p]) if p >= 0 else ""
            out.append(f"{n} ({t})" if n and n != t else t)
        return out

    def names(self) -> np.ndarray | None:
        """Product names aligned with ``tx.items`` (see :func:`_item_names`)."""
        if "_names" not in self.shared:
            self.shared["_names"] = _item_names(self.tx, self.catalog)
        out: np.ndarray | None = self.shared["_names"]
        return out


def _item_names(tx: Transactions, catalog: Catalog | None) -> np.ndarray | None:
    """Names aligned with ``tx.items``: the catalog's where it has one, else the order lines'
    name column, else None (items are shown by id)."""
    lines = np.asarray(tx.item_names()).astype(str) if tx.has("name") else None
    if catalog is None:
        return lines
    names = np.asarray(catalog.name).astype(str)
    if lines is not None:  # a catalog without a name for an item: the lines may have one
        unnamed = (names == tx.items.ids.astype(str)) | (np.char.str_len(names) == 0)
        names = np.where(unnamed, lines, names)
    return names


def _derived_catalog(tx: Transactions) -> Catalog:
    """A catalog for shops without one: the lines' product names and median unit prices."""
    return Catalog.from_transactions(tx).align(tx.items)


def _mem() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        rss = float("nan")
    return rss, peak


# ---------------------------------------------------------------------- sections
def _section_data(ctx: _Context) -> dict[str, Any]:
    tx = ctx.tx
    rep = tx.report
    rows: list[tuple[str, Any]] = [
        ("order lines kept", len(tx)), ("orders", len(tx.orders)), ("items", len(tx.items)),
        ("customers", len(tx.customers) if tx.has("customer") else None),
    ]
    if tx.has("time"):
        t = tx.time
        rows.append(("period", f"{str(t.min())[:10]} to {str(t.max())[:10]}"))
    rows.append(("rows read", rep.rows_read))
    for attr in ("rows_repaired", "rows_dropped"):
        if hasattr(rep, attr):
            rows.append((attr.replace("_", " "), getattr(rep, attr)))
    for group in ("dropped", "repaired", "flagged"):
        for reason, n in dict(getattr(rep, group, {}) or {}).items():
            rows.append((f"{group}: {reason}", int(n)))
    cat = ctx.catalog
    if cat is not None:
        kinds, counts = np.unique(cat.kind, return_counts=True)
        rows.append(("catalog", ", ".join(f"{n:,} {k}" for k, n in
                                          zip(kinds.tolist(), counts.tolist(), strict=True))))
    if cat is not None:
        rows.append(("product names", "from the catalog"))
    elif tx.has("name"):
        rows.append(("product names", "from the name column (most frequent name per item)"))
    else:
        rows.append(("product names", "none in the data: items are shown by id"))
    missing = [c for c in ("customer", "price", "time") if not tx.has(c)]
    note = ("Columns not in the data: " + ", ".join(missing) + "." if missing else "")
    if cat is None:
        derived = [w for w, ok in (("names", tx.has("name")),
                                   ("prices", tx.has("price"))) if ok]
        note += " No catalog: tier, ladder and attach-rate sections are left out"
        note += (f"; {' and '.join(derived)} come from the order lines." if derived else ".")
    return {"tables": [Table("", ("what", "value"), tuple(rows))], "note": note.strip(),
            "values": {"lines": len(tx), "orders": len(tx.orders)}}


def _section_kpis(ctx: _Context) -> dict[str, Any]:
    from upsell import kpi

    tx = ctx.tx
    values: dict[str, Any] = {}
    rows: list[tuple[str, Any, str]] = []
    if tx.has("price"):
        values["atv"] = float(kpi.atv(tx))
        rows.append(("ATV (average transaction value)", values["atv"], "net revenue per order"))
    values["upt"] = float(kpi.upt(tx))
    rows.append(("UPT (units per transaction)", values["upt"], "units per order"))
    if ctx.catalog is not None:
        why = ""
        try:
            rate = float(kpi.attach_rate(tx, ctx.catalog))
        except UpsellDataError as exc:
            rate, why = float("nan"), str(exc)
        if not np.isfinite(rate):
            why = why or "no order holds a product that has attachments in the catalog"
            values["attach_rate"], values["attach_rate_why"] = None, why
            rows.append(("attach rate", "n/a", why))
        else:
            values["attach_rate"] = rate
            rows.append(("attach rate", fmt_pct(rate),
                         "orders with a product that also hold one of its attachments"))
    sizes = np.diff(tx.baskets().indptr)
    if sizes.size:
        values["multi_item_share"] = float(np.mean(sizes >= 2))
        rows.append(("orders with 2+ items", fmt_pct(values["multi_item_share"]),
                     "cross-sell already happening"))
    if ctx.opt.get("offer_log") is not None:
        conv = kpi.conversion(ctx.opt["offer_log"])
        values["conversion"] = float(conv.rate[0])
        if not np.isfinite(values["conversion"]):
            values["conversion_why"] = "the offer log has no presented offer"
        rows.append(("offer conversion", fmt_pct(values["conversion"]), "accepted / presented, offer log"))
    if ctx.opt.get("nps_scores") is not None:
        res = kpi.nps(ctx.opt["nps_scores"], invalid="drop")
        values["nps"] = float(res.nps[0])
        if not np.isfinite(values["nps"]):
            values["nps_why"] = "no valid survey answer (0-10)"
        rows.append(("NPS", values["nps"], f"{int(res.n[0]):,} answers"))
    for key in ("atv", "upt"):
        if key in values and not np.isfinite(values[key]):
            values[key], values[f"{key}_why"] = None, "no order with a positive net value"
    rows = [(label, "n/a" if isinstance(v, float) and not np.isfinite(v) else v, meaning)
            for label, v, meaning in rows]
    return {"tables": [Table("", ("KPI", "value", "meaning"), tuple(rows)),
                       _best_sellers(ctx)], "values": values}


def _best_sellers(ctx: _Context) -> Table:
    """The products in the most orders, with units and revenue."""
    tx = ctx.tx
    n_items = len(tx.items)
    B = tx.baskets()
    in_orders = np.bincount(B.indices, minlength=n_items)
    units = np.bincount(tx.item, weights=tx.quantity, minlength=n_items)
    top = np.argsort(-in_orders, kind="stable")[:int(ctx.opt["top"])]
    top = top[in_orders[top] > 0]
    names = ctx.name(tx.items.ids[top])
    n_orders = max(len(tx.orders), 1)
    cols: tuple[str, ...] = ("product", "orders", "share of orders", "units")
    revenue = None
    if tx.has("price"):
        revenue = np.bincount(tx.item, weights=tx.quantity * tx.price, minlength=n_items)
        cols = (*cols, "revenue")
    rows = []
    for name, i in zip(names, top.tolist(), strict=True):
        row: tuple[Any, ...] = (name, int(in_orders[i]), float(in_orders[i] / n_orders),
                                float(units[i]))
        if revenue is not None:
            row = (*row, float(revenue[i]))
        rows.append(row)
    return Table("Best sellers: the products in the most orders", cols, tuple(rows),
                 percent=("share of orders",), total=int(np.sum(in_orders > 0)),
                 unit="products")


def _section_atv_over_time(ctx: _Context) -> dict[str, Any]:
    from upsell import kpi

    ctx.need("time", "price")
    tx = ctx.tx
    span = (tx.time.max() - tx.time.min()).astype("timedelta64[D]").astype(int)
    by = "month" if span > 120 else ("week" if span > 21 else "day")
    res = kpi.atv(tx, by=by)
    labels = [str(g)[:7 if by == "month" else 10] for g in res.groups.tolist()]
    rows = tuple((lab, float(v), int(n)) for lab, v, n in
                 zip(labels, res.value.tolist(), res.denominator.tolist(), strict=True))
    x, y = np.asarray(res.groups), np.asarray(res.value)
    note = f"One point per {by}: net revenue / orders of that {by}."
    if x.size > MAX_MARKS:  # decades of days or weeks: the latest periods only
        x, y = x[-MAX_MARKS:], y[-MAX_MARKS:]
        note += f" The last {MAX_MARKS:,} of {res.value.size:,} {by}s drawn."
    chart = Chart("line_chart", f"ATV by {by}",
                  {"x": x, "y": y, "ylabel": "ATV", "xlabel": by}, note=note)
    return {"tables": [Table(f"ATV by {by}", (by, "ATV", "orders"), rows)],
            "charts": [chart], "values": {"by": by, "result": res}}


def _section_segments(ctx: _Context) -> dict[str, Any]:
    from upsell import segments

    ctx.need("customer", "time")
    tx = ctx.tx
    model = segments.Personas().fit(tx, catalog=ctx.catalog)
    ctx.shared["personas"] = model
    summ = model.assignments_.summary()
    tables = [_summary_table("Handbook customer types (personas)", summ)]
    charts = [Chart("share_bars", "Customers and revenue by type",
                    {"labels": summ.segment.tolist(),
                     "customer_share": np.asarray(summ.customer_share),
                     "revenue_share": np.asarray(summ.revenue_share)},
                    note=f"Shares of {int(np.sum(summ.customers)):,} customers and of their "
                         "revenue.")]
    values: dict[str, Any] = {"personas": summ}
    if tx.has("price"):
        r = segments.rfm(tx)
        rs = r.summary()
        values["rfm"] = rs
        tables.append(_summary_table("RFM segments", rs))
        charts.append(Chart("share_bars", "Customers and revenue by RFM segment",
                            {"labels": rs.segment.tolist(),
                             "customer_share": np.asarray(rs.customer_share),
                             "revenue_share": np.asarray(rs.revenue_share)},
                            note=f"RFM: segments from {r.bins}-level quantile scores of "
                                 "recency, frequency and monetary value."))
    return {"tables": tables, "charts": charts, "values": values}


def _summary_table(title: str, summ: Any) -> Table:
    rows = tuple((str(s), int(c), float(cs), float(rv), float(rs)) for s, c, cs, rv, rs in zip(
        summ.segment.tolist(), summ.customers.tolist(), summ.customer_share.tolist(),
        summ.revenue.tolist(), summ.revenue_share.tolist(), strict=True))
    return Table(title, ("segment", "customers", "share of customers", "revenue",
                         "share of revenue"), rows,
                 percent=("share of customers", "share of revenue"))


def _section_opportunities(ctx: _Context) -> dict[str, Any]:
    from upsell.segments import OpportunityMatrix

    matrix = ctx.opt.get("opportunity_matrix") or OpportunityMatrix()
    sizes: dict[str, tuple[int, float]] = {}
    personas = ctx.shared.get("personas")
    if personas is not None:
        summ = personas.assignments_.summary()
        sizes = {str(s): (int(c), float(r)) for s, c, r in zip(
            summ.segment.tolist(), summ.customers.tolist(), summ.revenue_share.tolist(),
            strict=True)}
    rows = []
    for seg in matrix.segments:
        cs, up = matrix.strategy(seg, "cross_sell"), matrix.strategy(seg, "upsell")
        n, share = sizes.get(seg, (None, None))
        rows.append((seg, n, share, cs.label or ", ".join(cs.kinds),
                     up.label or ", ".join(up.kinds)))
    note = ("" if sizes else "Segment sizes need a customer column; the matrix is the handbook's.")
    return {"tables": [Table("", ("segment", "customers", "share of revenue", "cross-sell with",
                                  "upsell with"), tuple(rows), percent=("share of revenue",))],
            "note": note, "values": {"matrix": matrix}}


def _mine(ctx: _Context) -> tuple[Any, str]:
    """Frequent itemsets (up to 3 items) within the report's budget, and a phrase saying how
    the support was chosen.

    ``min_support="auto"`` takes the lowest support whose itemsets stay within
    ``max_itemsets``; at least 20 orders must hold an itemset either way, so
    rules rest on more than a handful of orders.
    """
    from upsell import bundles

    tx = ctx.tx
    n = max(len(tx.orders), 1)
    budget = int(ctx.opt["max_itemsets"])
    floor = min(20.0 / n, 1.0)
    given = ctx.opt["min_support"]
    if isinstance(given, str) and given == "auto":
        fi = bundles.frequent_itemsets(tx, min_support="auto", max_itemsets=budget, max_len=3)
        how = f"chosen automatically: the lowest within a budget of {budget:,} itemsets"
        if fi.min_support < floor:
            fi = bundles.frequent_itemsets(tx, min_support=floor, max_len=3)
            how = (f"20 orders, the floor (the budget of {budget:,} itemsets would allow "
                   "less)")
        return fi, how
    start = max(float(given), floor)
    try:
        fi = bundles.frequent_itemsets(tx, min_support=start, max_len=3, max_itemsets=budget)
    except UpsellMemoryError:  # over the budget: the lowest support within it, found by auto
        fi = bundles.frequent_itemsets(tx, min_support="auto", max_itemsets=budget, max_len=3)
        return fi, f"given {float(given):.3g}, raised to fit the budget of {budget:,} itemsets"
    return fi, "as given" if start == float(given) else "the floor of 20 orders"


def _rules(ctx: _Context, fi: Any) -> Any:
    """Rules with redundant ones pruned (when this upsell can), Holm-adjusted p < 0.05."""
    from upsell import bundles

    kw: dict[str, Any] = {"min_confidence": float(ctx.opt["min_confidence"]),
                          "p_adjust": "holm", "max_p": 0.05}
    return bundles.association_rules(fi, prune=True, max_rules=ctx.opt["max_rules"], **kw)


def _top_rules(rules: Any, k: int) -> tuple[Any, np.ndarray]:
    """The ``k`` best rules by lift, at most one per item set, and no item in more than
    two of them, so the table shows different ideas rather than variants of one.

    Returns the rules and the positions in order (all of them: the rules are the chosen ones).
    """
    if len(rules) == 0:
        return rules, np.empty(0, dtype=np.int64)
    rules = rules.top(k, by="lift", distinct=True, max_per_item=2)
    return rules, np.arange(len(rules), dtype=np.int64)


def _diverse_bundles(fi: Any, catalog: Catalog, k: int) -> Any:
    """Bundle candidates of different product lines: each one shares no item, no catalog
    family and no strong pair (lift above half its own) with a bundle ranked above it."""
    from upsell import bundles

    pool = bundles.suggest_bundles(fi, catalog, k=max(20 * k, 200))
    if len(pool) == 0:
        return pool, []
    cat = catalog
    family = np.asarray(cat.family).astype(str)
    fam = (dict(zip(cat.items.ids.tolist(), family.tolist(), strict=True))
           if (np.char.str_len(family) > 0).any() else {})
    pair_lift = _pair_lifts(fi)
    picked: list[int] = []
    used_items: set[Any] = set()
    used_fams: set[str] = set()
    for j, items in enumerate(pool.items):
        if used_items.intersection(items):
            continue
        fams = {fam.get(i, "") for i in items} - {""}
        if fams & used_fams:
            continue
        bar = float(pool.lift[j]) / 2.0
        if any(pair_lift.get((min(a, b), max(a, b)), 0.0) > bar
               for p in picked for a in pool.items[p] for b in items):
            continue
        picked.append(j)
        used_items.update(items)
        used_fams.update(fams)
        if len(picked) == k:
            break
    return pool, picked


def _pair_lifts(fi: Any) -> dict[tuple[Any, Any], float]:
    """Lift of every frequent pair, keyed by sorted external ids."""
    lat = fi.lattice
    if lat.depth < 2:
        return {}
    mat = lat.level_items(2)
    n = lat.n_baskets
    lift = lat.counts[1] / n / np.prod(lat.item_counts[mat] / n, axis=1)
    ids = fi.items.ids
    a, b = ids[mat[:, 0]].tolist(), ids[mat[:, 1]].tolist()
    return {(min(x, y), max(x, y)): float(v) for x, y, v in zip(a, b, lift.tolist(), strict=True)}


def _section_bundles(ctx: _Context) -> dict[str, Any]:
    from upsell import bundles

    tx = ctx.tx
    n_baskets = max(len(tx.orders), 1)
    fi, how = _mine(ctx)
    support = float(fi.min_support)
    rules = _rules(ctx, fi)
    ctx.shared["rules"] = rules
    if len(rules):
        ctx.shared["bundle_recommender"] = bundles.BundleRecommender(rules)
    top = int(ctx.opt["top"])
    best, order = _top_rules(rules, top)
    rows = []
    for r in order.tolist():
        ant, con = best.rule(r)
        rows.append((" + ".join(ctx.name(list(ant))), " + ".join(ctx.name(list(con))),
                     float(best.support[r]), float(best.confidence[r]), float(best.lift[r]),
                     int(best.count[r])))
    pruned = rules.n_pruned
    pruned_text = f", after pruning {pruned:,} redundant ones" if pruned else ""
    note = (f"{len(fi):,} frequent itemsets of up to 3 items at min support "
            f"{fmt_pct(support)} ({int(fi.min_count):,} of {n_baskets:,} orders; "
            f"{how}); {len(rules):,} rules with confidence >= "
            f"{float(ctx.opt['min_confidence']):.0%} and Holm-adjusted p < 0.05{pruned_text}. "
            "Shown: the best by lift, one rule per item set, no product in more than two.")
    why = _why_no_rules(ctx, fi) if len(rules) == 0 else ""
    tables = [Table("Top rules by lift: customers who buy the first also buy the second",
                    ("if bought", "also buy", "support", "confidence", "lift", "orders"),
                    tuple(rows), percent=("support", "confidence"), note=note,
                    total=len(rules), unit="rules", empty=why)]
    charts = []
    if len(rules):
        charts.append(_rules_chart(ctx, rules))
    if len(fi):
        pool, picked = _diverse_bundles(fi, ctx.items_catalog, min(10, top))
        brow: tuple[tuple[Any, ...], ...] = tuple(
            (" + ".join(ctx.name(list(pool.items[j]))), float(pool.lift[j]),
             int(pool.count[j]), float(pool.list_price[j])) for j in picked)
        bcols: tuple[str, ...] = ("bundle", "lift", "orders with all", "list price")
        priced = bool(np.isfinite([r[3] for r in brow]).any()) if brow else True
        if not priced:  # no prices in the data: no column of dashes
            brow, bcols = tuple(r[:3] for r in brow), bcols[:3]
        tables.append(Table("Bundle candidates", bcols, brow,
                            note=("" if priced else "No prices in the data: list prices "
                                  "left out. ") +
                                 "Sets of 2-3 products bought together more often than "
                                 "chance, one per product line: a candidate shares no "
                                 "product, catalog family or strongly linked pair with one "
                                 "above it. Lift: how many times more often the whole set "
                                 "is bought together than if its products sold "
                                 "independently (larger for 3 products than for 2).",
                            unit="bundle candidates",
                            empty=why if len(rules) == 0 else
                            "no set of 2-3 products is bought together more often than "
                            "chance at this support"))
    return {"tables": tables, "charts": charts,
            "values": {"n_rules": len(rules), "n_itemsets": len(fi), "min_support": support,
                       "support_chosen": how}}


def _why_no_rules(ctx: _Context, fi: Any) -> str:
    """Why the rules table would be empty (said instead of an empty table)."""
    tx = ctx.tx
    if not (np.diff(tx.baskets().indptr) >= 2).any():
        return "no order holds two or more products, so nothing is bought together"
    if not (np.asarray(fi.lengths) >= 2).any():
        return (f"no set of two or more products is in {int(fi.min_count):,} or more of the "
                f"{len(tx.orders):,} orders (the minimum support); with so few orders no "
                "rule rests on enough of them")
    return (f"no rule reaches confidence >= {float(ctx.opt['min_confidence']):.0%} with "
            "Holm-adjusted p < 0.05")


def _rules_chart(ctx: _Context, rules: Any) -> Chart:
    n = len(rules)
    conf, lift, sup = (np.asarray(rules.confidence), np.asarray(rules.lift),
                       np.asarray(rules.support))
    if n > MAX_MARKS:
        pick = np.sort(ctx.rng.choice(n, size=MAX_MARKS, replace=False))
        conf, lift, sup = conf[pick], lift[pick], sup[pick]
        note = (f"{MAX_MARKS:,} of {n:,} rules drawn, a random sample; "
                "point size = support (thirds).")
    else:
        note = f"All {n:,} rules; point size = support (thirds)."
    return Chart("rules_scatter", "Rules: confidence against lift",
                 {"confidence": conf, "lift": lift, "support": sup}, note=note)


def _section_ladders(ctx: _Context) -> dict[str, Any]:
    cat = ctx.need_catalog("upgrade ladders")
    ctx.need("customer", "time")
    tx = ctx.tx
    family = cat.family
    tier = cat.tier.astype(np.float64)
    try:
        from upsell.tiers import build_ladders

        lad = build_ladders(cat)
        family, tier = np.asarray(lad.family), np.asarray(lad.tier, dtype=np.float64)
    except UpsellError as exc:  # ladders refused this catalog: fall back to its own columns
        _log.info("build_ladders failed (%s); using catalog tiers", exc)
    on = (family != "") & np.isfinite(tier)
    if not on.any():
        raise _Skip("the catalog has no product families with tiers")
    fam_index, fam_code = np.unique(family, return_inverse=True)
    line = on[tx.item] & (tx.customer >= 0) & (tx.quantity > 0)
    c = tx.customer[line].astype(np.int64)
    f = fam_code[tx.item[line]].astype(np.int64)
    t = tier[tx.item[line]]
    when = tx.time[line]
    key = c * len(fam_index) + f
    order = np.lexsort((t, when, key))
    key, t, f = key[order], t[order], f[order]
    first = np.r_[True, key[1:] != key[:-1]]
    starts = np.flatnonzero(first)
    first_tier = t[starts]
    max_tier = np.maximum.reduceat(t, starts)
    fam_of = f[starts]
    # only customers who entered below their family's top tier could move up
    fam_top = np.full(len(fam_index), -np.inf)
    np.maximum.at(fam_top, fam_code[on], tier[on])
    can = first_tier < fam_top[fam_of]
    first_tier, max_tier, fam_of = first_tier[can], max_tier[can], fam_of[can]
    upgraded = max_tier > first_tier
    if not upgraded.size:
        raise _Skip("no customer bought below the top tier of a product family")
    # take-up per (family, entry tier): share of customers starting there who later went higher
    group = fam_of * 1000 + first_tier.astype(np.int64)
    g, gi = np.unique(group, return_inverse=True)
    n_start = np.bincount(gi)
    n_up = np.bincount(gi, weights=upgraded.astype(np.float64))
    overall = float(upgraded.mean())
    fam_customers = np.bincount(fam_of, minlength=len(fam_index))
    top_fams = np.argsort(-fam_customers, kind="stable")[:ctx.opt["top"]]
    names = cat.name
    price = cat.price
    rows = []
    for fi in top_fams.tolist():
        members = np.flatnonzero((fam_code == fi) & on)
        if fam_customers[fi] == 0 or np.unique(tier[members]).size < 2:
            continue
        members = members[np.lexsort((price[members], tier[members]))]
        ladder = " → ".join(f"{names[m]} ({fmt(float(price[m]))})" for m in members[:5])
        sel = (g // 1000) == fi
        rates = [f"tier {int(tt)}: {n_up[j] / n_start[j]:.0%} of {int(n_start[j]):,}"
                 for j, tt in zip(np.flatnonzero(sel).tolist(), (g[sel] % 1000).tolist(),
                                  strict=True)]
        fam_up = upgraded[fam_of == fi]
        rows.append((str(fam_index[fi]), ladder, int(fam_customers[fi]),
                     float(fam_up.mean()) if fam_up.size else None, "; ".join(rates)))
    values: dict[str, Any] = {"take_up": overall}
    note = ("Take-up: share of the customers whose first purchase in a family was at a tier "
            "who later bought a higher tier of that family.")
    tables = [Table("", ("family", "ladder (price)", "customers", "take-up",
                         "take-up by entry tier"), tuple(rows), note=note,
                    percent=("take-up",))]
    charts = [Chart("bar_chart", "Upgrade take-up by entry tier (all families)",
                    _take_up_by_tier(g % 1000, n_start, n_up),
                    note=f"{int(upgraded.size):,} customer-family pairs, pooled over all "
                         "families by entry tier.")]
    return {"tables": tables, "charts": charts, "values": values}


def _take_up_by_tier(tiers: np.ndarray, n_start: np.ndarray, n_up: np.ndarray) -> dict[str, Any]:
    u, inv = np.unique(tiers, return_inverse=True)
    starts = np.bincount(inv, weights=n_start.astype(np.float64))
    ups = np.bincount(inv, weights=n_up)
    return {"labels": [f"from tier {int(x)}" for x in u.tolist()],
            "values": np.where(starts > 0, ups / np.maximum(starts, 1), np.nan),
            "ylabel": "take-up rate", "percent": True}


def _margin_rate(ctx: _Context) -> float:
    """The catalog's margin rate (revenue-weighted), 1 without costs."""
    tx = ctx.tx
    if ctx.catalog is None or not np.isfinite(ctx.catalog.cost).any():
        return 1.0
    cost = ctx.catalog.cost[tx.item]
    p, q = tx.price, tx.quantity
    ok = np.isfinite(cost)
    rev = float(np.sum(q[ok] * p[ok]))
    if rev <= 0:
        return 1.0
    return float(np.clip(np.sum(q[ok] * (p[ok] - cost[ok])) / rev, 0.0, 1.0))


def _section_clv(ctx: _Context) -> dict[str, Any]:
    from upsell import kpi

    ctx.need("customer", "time", "price")
    margin = _margin_rate(ctx)
    res = kpi.clv_forecast(ctx.tx, horizon=52.0, step=52.0 / 12, discount_rate=0.01,
                           margin=margin, freq="W")
    if not (np.asarray(res.frequency) > 0).any():
        # every forecast would be 0 from a run rate of 0: not a CLV, a lack of history
        t = ctx.tx.time
        days = int((t.max() - t.min()) // np.timedelta64(1, "D")) + 1
        raise _Skip(f"no customer bought on two different days in the {days:,} day"
                    f"{'s' if days > 1 else ''} of history, so future purchases cannot be "
                    "estimated")
    clv = np.asarray(res.clv, dtype=np.float64)
    note = (f"Method: {res.method}. {res.note}".strip() if res.note
            else f"Method: {res.method}, over 52 weeks, discounted 1% a month, times the "
                 "margin rate.")
    alive = np.asarray(res.p_alive, dtype=np.float64) if res.p_alive is not None else None
    return _clv_result(clv, alive, margin, np.asarray(res.customers), note,
                       method=str(res.method))


def _clv_result(clv: np.ndarray, alive: np.ndarray | None, margin: float,
                customers: np.ndarray, note: str, method: str = "") -> dict[str, Any]:
    finite = np.isfinite(clv)
    if not finite.any():
        raise _Skip("no customer has a finite CLV forecast")
    c = clv[finite]
    q = np.percentile(c, [10, 25, 50, 75, 90, 99])
    top_share = (float(np.sort(c)[::-1][:max(1, c.size // 10)].sum() / c.sum())
                 if c.sum() > 0 else None)
    rows: tuple[tuple[str, Any], ...] = (
        ("method", method or "–"),
        ("customers modelled", int(c.size)), ("margin rate used", margin),
        ("mean 12-month CLV", float(c.mean())), ("median", float(q[2])),
        ("10th / 90th percentile", f"{fmt(float(q[0]))} / {fmt(float(q[4]))}"),
        ("99th percentile", float(q[5])),
        ("top 10% customers' share of CLV", fmt_pct(top_share)))
    if alive is not None and np.isfinite(alive).any():
        rows = (*rows, ("mean P(alive)", float(np.nanmean(alive))))
    # log-spaced bins from the smallest CLV would stretch the axis over decades of
    # practically-zero values (1e-12 for a lapsed customer): draw from a thousandth of the
    # median up, and count the rest
    pos = c[c > 0]
    floor = 1e-3 * float(np.median(pos)) if pos.size else 0.0
    drawn = pos[pos >= floor]
    tiny = pos.size - drawn.size
    chart_note = (f"{drawn.size:,} customers with a CLV above {'0' if not tiny else fmt(floor)}, "
                  "in 40 log-spaced bins"
                  + (f"; {tiny:,} above 0 but below a thousandth of the median"
                     if tiny else "")
                  + (f"; {c.size - pos.size:,} at 0 or below" if pos.size < c.size else "")
                  + (" not drawn." if tiny or pos.size < c.size else "."))
    return {"tables": [Table("", ("what", "value"), rows, note=note)],
            "charts": [Chart("histogram", "12-month CLV per customer",
                             {"values": drawn, "xlabel": "CLV", "log": True},
                             note=chart_note)],
            "values": {"mean_clv": float(c.mean()), "median_clv": float(q[2]),
                       "clv": clv, "customers": customers, "method": method}}


def fit_clv_models(frequency: Any, recency: Any, T: Any, monetary_value: Any) -> tuple[Any, Any]:
    """Fit BG/NBD (else Pareto/NBD) and Gamma-Gamma, raising the L2 penalty until both converge.

    Thin data (few repeat customers, almost no drop-out) make the unpenalised
    fits run to the boundary; penalties of 0.001, 0.01 and 0.1 are tried in
    turn, first with BG/NBD, then with Pareto/NBD.

    Returns
    -------
    (BetaGeo or ParetoNBD, GammaGamma)

    Raises
    ------
    ConvergenceError
        When no penalty makes a fit converge.

    Examples
    --------
    >>> import upsell as us
    >>> tx = us.datasets.make_shop(n_customers=300, n_items=60, n_orders=1500).transactions
    >>> s = us.kpi.rfm_summary(tx, calibration_end="2025-01-31")
    >>> bg, gg = fit_clv_models(s.frequency, s.recency, s.T, s.monetary_value)
    >>> sorted(bg.params_)
    ['a', 'alpha', 'b', 'r']
    """
    from upsell import kpi

    last: Exception | None = None
    for model in (kpi.BetaGeo, kpi.ParetoNBD):
        for pen in (0.001, 0.01, 0.1):
            try:
                bg = model(penalizer_coef=pen).fit(frequency=frequency, recency=recency, T=T)
                gg = kpi.GammaGamma(penalizer_coef=pen).fit(frequency=frequency,
                                                            monetary_value=monetary_value)
                return bg, gg
            except ConvergenceError as exc:
                last = exc
    assert last is not None
    raise last


def _why_no_test_requests(tx: Transactions, split: Any) -> str:
    """Why a temporal split leaves nothing to score (said instead of an error)."""
    at = str(split.at)[:16] if split.at is not None else "the split"
    ot = tx.order_table()  # orders, not lines: a long order's lines span many times
    named = ot.customer >= 0
    later = (ot.time >= split.at) & named if split.at is not None else np.zeros_like(named)
    buyers = np.unique(ot.customer[later])
    known = np.intersect1d(buyers, ot.customer[named & ~later]).size
    where = f"after {at} (the last 20% of orders)"
    repeat = named.any() and bool((np.bincount(ot.customer[named]) >= 2).any())
    if not repeat:
        return ("every customer has a single order, so no model can learn from a "
                "customer's past orders")
    if buyers.size == 0:
        return f"no named customer bought {where}, so there is nothing to predict"
    if known == 0:
        return (f"none of the {buyers.size:,} customers who bought {where} had bought "
                "before it, so no model has a history to predict from")
    return (f"none of the {known:,} returning customers who bought {where} bought a product "
            "new to them, and the evaluation scores new products only")


def _section_evaluation(ctx: _Context) -> dict[str, Any]:
    from upsell import cf, evaluate

    ctx.need("customer", "time")
    tx = ctx.tx
    k = int(ctx.opt["k"])
    split = evaluate.temporal_split(tx, at=0.8, exclude_train_items=True)
    n_req = len(split.requests)
    if n_req == 0:
        raise _Skip(_why_no_test_requests(tx, split))
    limit = int(ctx.opt["max_eval_customers"])
    if n_req > limit:
        pick = np.sort(ctx.rng.choice(n_req, size=limit, replace=False))
        split = dataclasses.replace(split, requests=split.requests[pick])
    models = {"popular": cf.Popular(),
              "itemknn": cf.ItemKNN(),
              "als": cf.ALS(factors=int(ctx.opt["factors"]),
                            iterations=int(ctx.opt["iterations"]),
                            random_state=ctx.opt["random_state"])}
    metrics = ["precision", "recall", "ndcg", "hit_rate", "coverage"]
    catalog = ctx.items_catalog
    if tx.has("price") and np.isfinite(catalog.price).any():
        metrics.append("revenue")
    comp = evaluate.compare(models, split, k=k, metrics=metrics, baseline="popular",
                            n_bootstrap=200, random_state=ctx.opt["random_state"],
                            catalog=catalog)
    rows = []
    for i, name in enumerate(comp.models):
        row: list[Any] = [name]
        for j, _ in enumerate(comp.metrics):
            row.append(float(comp.means[i, j]))
        j = comp.metrics.index("recall")
        row.append("baseline" if name == comp.baseline else
                   f"{comp.diff[i, j]:+.3f} [{comp.diff_low[i, j]:+.3f}, {comp.diff_high[i, j]:+.3f}]")
        rows.append(tuple(row))
    rj = comp.metrics.index("recall")
    best = comp.models[int(np.nanargmax(comp.means[:, rj]))]
    # backtest offer log: the best model's top-k shown to each test customer,
    # accepted when the customer bought the item in the test period
    model = models[best]
    ids = split.request_ids
    recs = model.recommend(customers=ids, k=k, exclude_owned=True)
    relevant = split.relevant_sets()
    if len(relevant) == len(split.requests):
        rel_by_id = dict(zip(ids.tolist(), relevant, strict=True))
    else:  # relevant_sets follows the requests, but be safe
        rel_by_id = dict(zip(ids.tolist(), relevant[:len(ids)], strict=False))
    lists = recs.lists()
    presented = sum(len(x) for x in lists)
    accepted = sum(sum(1 for it in x if it in rel_by_id.get(c, ())) for c, x in
                   zip(ids.tolist(), lists, strict=True))
    ctx.shared["backtest_conversion"] = (accepted, presented)
    note = (f"Temporal split at {str(split.at)[:10]}: models learn from the first 80% of orders "
            f"and predict each customer's next order (items new to them), "
            f"{len(split.requests):,} customers, k={k}. Last column: recall difference to "
            f"popularity with its {comp.confidence:.0%} paired bootstrap interval.")
    return {"tables": [Table("", ("model", *comp.metrics, "recall vs popular"), tuple(rows),
                             note=note)],
            "charts": [Chart("grouped_bars", f"Ranking quality @{k}",
                             {"groups": list(comp.models),
                              "series": {m: np.asarray(comp.means[:, comp.metrics.index(m)])
                                         for m in ("precision", "recall", "ndcg", "hit_rate")}},
                             note=f"Means over {len(split.requests):,} test customers.")],
            "values": {"comparison": comp, "best": best, "k": k,
                       "best_recall": float(comp.means[comp.models.index(best), rj]),
                       "popular_recall": float(comp.means[comp.models.index("popular"), rj]),
                       "backtest_conversion": accepted / presented if presented else None}}


def _section_offers(ctx: _Context) -> dict[str, Any]:
    ctx.need("customer")
    tx = ctx.tx
    n = int(ctx.opt["n_examples"])
    ot = tx.order_table()
    has = ot.customer >= 0
    if tx.has("time"):
        o = np.lexsort((ot.time, ot.customer))
    else:
        o = np.argsort(ot.customer, kind="stable")
    o = o[has[o]]
    # each customer's last order: the last position of its run in the sorted table
    cust_sorted = ot.customer[o]
    last_pos = np.flatnonzero(np.r_[cust_sorted[1:] != cust_sorted[:-1], True])
    last_order = dict(zip(cust_sorted[last_pos].tolist(), ot.order[o[last_pos]].tolist(),
                          strict=True))
    B = tx.baskets()
    orders_per_customer = np.bincount(ot.customer[has], minlength=len(tx.customers))
    cust = _example_customers(ctx, n, last_order, np.diff(B.indptr), orders_per_customer)
    rows = _offers_with_recommender(ctx, cust, last_order, B)
    if rows and all(r[3] == "no offer" for r in rows):
        # a table of 'no offer' rows says nothing: say why instead
        owned = np.diff(tx.customer_items("binary").indptr)[np.asarray(cust, dtype=np.int64)]
        n_items = len(tx.items)
        why = (("they already bought the shop's only product" if n_items == 1 else
                f"they already bought every one of the shop's {n_items:,} products")
               if (owned >= n_items).all() else
               "no source has a product for them that passes the business rules")
        raise _Skip(f"none of the {len(cust):,} example customers gets an offer: {why}")
    note = ("One customer of each type first, then others at random, among customers with 2+ "
            "orders whose last order has a typical size; each is offered up to 3 products "
            "given that order.")
    return {"tables": [Table("", ("customer", "type", "last order", "offer", "kind", "cue"),
                             tuple(rows), note=note)],
            "values": {"n": len(rows), "customers": [str(ctx.tx.customers.ids[c])
                                                      for c in cust]}}


def _example_customers(ctx: _Context, n: int, last_order: dict[int, int],
                       sizes: np.ndarray, counts: np.ndarray) -> list[int]:
    tx = ctx.tx
    # typical baskets: 2 items up to the 90th percentile of order sizes
    last = np.full(len(tx.customers), -1, dtype=np.int64)
    if last_order:
        last[np.fromiter(last_order, dtype=np.int64)] = np.fromiter(last_order.values(),
                                                                    dtype=np.int64)
    size_last = np.where(last >= 0, sizes[np.maximum(last, 0)], 0)
    cap = max(2.0, float(np.percentile(sizes, 90))) if sizes.size else 2.0
    good = (counts >= 2) & (size_last >= 2) & (size_last <= cap)
    if not good.any():
        good = counts >= 1
    personas = ctx.shared.get("personas")
    chosen: list[int] = []
    if personas is not None:
        res = personas.assignments_
        cidx = tx.customers.encode(res.customers)
        for p in np.unique(res.persona).tolist():
            cand = cidx[(res.persona == p) & good[cidx]]
            if cand.size:
                chosen.append(int(cand[ctx.rng.integers(cand.size)]))
    rest = np.setdiff1d(np.flatnonzero(good), np.asarray(chosen, dtype=np.int64))
    if rest.size and len(chosen) < n:
        extra = ctx.rng.choice(rest, size=min(n - len(chosen), rest.size), replace=False)
        chosen.extend(int(c) for c in extra.tolist())
    return chosen[:n]


def _persona_of(ctx: _Context, cid: Any) -> str:
    personas = ctx.shared.get("personas")
    if personas is None:
        return ""
    try:
        return str(personas.predict(customers=[cid]).persona[0])
    except UpsellError:  # a customer the personas never saw: no persona to show
        return ""


def _basket_ids(ctx: _Context, c: int, last_order: dict[int, int], B: Any) -> list[Any]:
    o = last_order.get(c)
    if o is None:
        return []
    return ctx.tx.items.ids[B.indices[B.indptr[o]:B.indptr[o + 1]]].tolist()


def _offers_with_recommender(ctx: _Context, cust: list[int], last_order: dict[int, int],
                             B: Any) -> list[tuple[Any, ...]]:
    from upsell.recommend import Recommender

    cross = [m for m in (ctx.shared.get("bundle_recommender"), _knn(ctx)) if m is not None]
    rec = Recommender(catalog=ctx.items_catalog, cross_sell=cross, upsell=_upsell_ranker(ctx),
                      segments=ctx.shared.get("personas"), history=ctx.tx)
    at = ctx.tx.time.max() if ctx.tx.has("time") else None
    rows = []
    for c in cust:
        cid = ctx.tx.customers.ids[c]
        basket = _basket_ids(ctx, c, last_order, B)
        offers = list(rec.recommend(cid, basket=basket, k=3, channel="web", at=at))[:3]
        who, persona, shown = str(cid), _persona_of(ctx, cid), shorten_list(ctx.name(basket), 4)
        if not offers:
            rows.append((who, persona, shown, "no offer", "", ""))
        for i, off in enumerate(offers):
            first = i == 0
            rows.append((who if first else "", persona if first else "", shown if first else "",
                         ctx.name([off.item])[0], str(off.kind), str(off.cue)))
    return rows


def _knn(ctx: _Context) -> Any:
    if "knn_full" not in ctx.shared:
        from upsell.cf import ItemKNN

        ctx.shared["knn_full"] = ItemKNN().fit(ctx.tx)
    return ctx.shared["knn_full"]


def _upsell_ranker(ctx: _Context) -> Any:
    if "upsell_ranker" not in ctx.shared:
        ranker = None
        if ctx.catalog is not None:
            from upsell.tiers import UpsellRanker

            objective = "margin" if np.isfinite(ctx.catalog.cost).any() else "revenue"
            ranker = UpsellRanker(objective=objective).fit(
                ctx.tx, ctx.catalog, segments=ctx.shared.get("personas"))
        ctx.shared["upsell_ranker"] = ranker
    return ctx.shared["upsell_ranker"]


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
    "offers": _section_offers,
}


def analyse(tx: Transactions, catalog: Catalog | None = None, *,
            sections: Any = None, nps_scores: Any = None, offer_log: Any = None,
            opportunity_matrix: Any = None, k: int = 10, min_support: float | str = "auto",
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
        Names from :data:`SECTIONS` to run (default all, in report order).
    nps_scores : array-like of int, optional
        Survey answers 0-10; adds the NPS card.
    offer_log : mapping or DataFrame, optional
        A real offer log (see :func:`upsell.kpi.conversion`); without it the
        conversion card shows the backtest conversion of the evaluation section.
    opportunity_matrix : OpportunityMatrix, optional
        Default the handbook's.
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
    if not isinstance(tx, Transactions):
        raise UpsellDataError(f"`tx` must be Transactions; got {type(tx).__name__}")
    if catalog is not None and not isinstance(catalog, Catalog):
        raise UpsellDataError(f"`catalog` must be a Catalog or None; got {type(catalog).__name__}")
    names = list(SECTIONS) if sections is None else [str(s) for s in sections]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        raise UpsellDataError(
            f"`sections` must be names from {', '.join(SECTIONS)}; got {unknown!r}")
    order = [s for s in SECTIONS if s in names]
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
               "opportunity_matrix": opportunity_matrix}
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
            bar.set_description(SECTIONS[name])
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
    return Analysis(sections=tuple(done[n] for n in order), source=source,
                    shape=(lines, orders, items, len(tx.customers) if tx.has("customer") else 0),
                    has_catalog=catalog is not None)


def _run(name: str, ctx: _Context) -> Section:
    start = time.perf_counter()
    title = SECTIONS[name]
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
