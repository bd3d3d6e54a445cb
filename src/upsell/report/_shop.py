"""Report sections on the shop as a whole: data, key figures, ATV over time, segments, opportunities."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from upsell.data.report import one_workbook_sheets
from upsell.exceptions import UpsellDataError
from upsell.report._context import _Context
from upsell.report._tables import MAX_MARKS, Chart, Table, fmt_pct


# ---------------------------------------------------------------------- sections
def _section_data(ctx: _Context) -> dict[str, Any]:
    tx = ctx.tx
    rep = tx.report
    rows: list[tuple[str, Any]] = [
        ("order lines kept", len(tx)), ("orders", len(tx.orders)),
        ("items", len(tx.items) if tx.has("item") else "none: a purchase log (no item column)"),
        ("customers", len(tx.customers) if tx.has("customer") else None),
    ]
    if tx.has("time"):
        t = tx.time
        rows.append(("period", f"{str(t.min())[:10]} to {str(t.max())[:10]}"))
    rows.append(("rows read", rep.rows_read))
    rows += _file_rows(dict(getattr(rep, "files", {}) or {}))
    rows += [(f"not read: {os.path.basename(f) or f}", why)  # a workbook's other sheets
             for f, why in (getattr(rep, "not_read", {}) or {}).items()]
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
        for reason, n in dict(getattr(cat, "repaired", {}) or {}).items():
            rows.append((f"catalog repaired: {reason}", int(n)))
    if not tx.has("item"):
        pass  # a purchase log: no products to name
    elif cat is not None:
        rows.append(("product names", "from the catalog"))
    elif tx.has("name"):
        rows.append(("product names", "from the name column (most frequent name per item)"))
    else:
        rows.append(("product names", "none in the data: items are shown by id"))
    if cat is None and tx.has("cost"):
        costs = tx.item_costs()
        rows.append(("unit costs", f"from the order lines (median per item): "
                                   f"{int(np.isfinite(costs).sum()):,} of {costs.size:,} items"))
    excluded = list(ctx.opt.get("exclude_items") or ())
    if excluded:
        names = ", ".join(ctx.name(excluded[:3])) + (", ..." if len(excluded) > 3 else "")
        rows.append(("never offered: fees, services and --exclude-items",
                     f"{len(excluded):,} item{'s' if len(excluded) != 1 else ''} ({names}); "
                     "kept in every figure"))
    missing = [c for c in ("item", "customer", "price", "time") if not tx.has(c)]
    note = ("Columns not in the data: " + ", ".join(missing) + "." if missing else "")
    if cat is None:
        derived = [w for w, ok in (("names", tx.has("name")), ("prices", tx.has("price")),
                                   ("costs", tx.has("cost"))) if ok]
        note += " No catalog: tier, ladder and attach-rate sections are left out"
        said = ", ".join(derived[:-1]) + " and " + derived[-1] if len(derived) > 1 else (
            derived[0] if derived else "")
        note += (f"; {said} come from the order lines." if derived else ".")
    return {"tables": [Table("", ("what", "value"), tuple(rows))], "note": note.strip(),
            "values": {"lines": len(tx), "orders": len(tx.orders)}}


#: Files read as one history that the Data section lists one by one; more are summed up.
_FILES_LISTED = 12


def _file_rows(files: dict[str, int]) -> list[tuple[str, Any]]:
    """The Data section's rows for several files read as one history: each file's rows
    read, or (for many files) their number, the range of their sizes and the empty ones."""
    if not files:
        return []
    names = {os.path.basename(f) or f: n for f, n in files.items()}
    if len(names) < len(files):  # same names in several folders: the paths tell them apart
        names = dict(files)
    if len(names) <= _FILES_LISTED:
        sheets = one_workbook_sheets(names)  # one workbook's sheets: the title names it
        if sheets is not None:
            return list(zip(sheets, names.values(), strict=True))
        return [(f"file: {f}", n) for f, n in names.items()]
    sizes = list(names.values())
    out: list[tuple[str, Any]] = [(
        "files read", f"{len(names):,} files, {min(sizes):,} to {max(sizes):,} rows each "
                      f"({next(iter(names))} ... {list(names)[-1]})")]
    empty = [f for f, n in names.items() if n == 0]
    if empty:
        out.append(("files without rows", ", ".join(empty[:_FILES_LISTED])
                    + (", ..." if len(empty) > _FILES_LISTED else "")))
    return out


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
    sizes = np.diff(tx.baskets().indptr) if tx.has("item") else np.zeros(0)
    if sizes.size:
        values["multi_item_share"] = float(np.mean(sizes >= 2))
        rows.append(("orders with 2+ items", fmt_pct(values["multi_item_share"]),
                     "cross-sell already happening"))
    if ctx.opt.get("offer_log") is not None:
        conv = kpi.conversion(ctx.offer_events())
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
    tables = [Table("", ("KPI", "value", "meaning"), tuple(rows))]
    if tx.has("item"):  # (a purchase log has no products)
        tables.append(_best_sellers(ctx))
    return {"tables": tables, "values": values}


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
    res = model.assignments_
    summ = res.summary()
    # a customer whose best type scores below 0.5 fits none well: counted under the nearest
    weak = np.asarray(res.scores).max(axis=1) < 0.5
    weak_by = {str(p): int(np.sum(weak & (res.persona == p))) for p in summ.segment.tolist()}
    priced = tx.has("price")  # without prices the revenue is unknown, not 0
    tables = [_summary_table("Handbook customer types (personas)", summ, weak_by, priced)]
    note = (f"Shares of {int(np.sum(summ.customers)):,} customers"
            + (" and of their revenue." if priced else " (no prices: no revenue)."))
    if weak.any():
        note += (f" {int(weak.sum()):,} customers ({weak.mean():.0%}) fit no type well (best "
                 "score below 0.5) and count under the nearest type (the weak fit column).")
    charts = [Chart("share_bars", "Customers and revenue by type" if priced else
                    "Customers by type",
                    {"labels": summ.segment.tolist(),
                     "customer_share": np.asarray(summ.customer_share),
                     "revenue_share": np.asarray(summ.revenue_share) if priced else None},
                    note=note)]
    values: dict[str, Any] = {"personas": summ}
    if priced:
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


def _summary_table(title: str, summ: Any, weak: dict[str, int] | None = None,
                   priced: bool = True) -> Table:
    """One row per segment; ``weak``: segment -> customers that fit it weakly (a column);
    ``priced=False``: no revenue columns (data without prices)."""
    rows: tuple[tuple[Any, ...], ...] = tuple(
        (str(s), int(c), float(cs), float(rv), float(rs)) for s, c, cs, rv, rs in zip(
        summ.segment.tolist(), summ.customers.tolist(), summ.customer_share.tolist(),
        summ.revenue.tolist(), summ.revenue_share.tolist(), strict=True))
    cols: tuple[str, ...] = ("segment", "customers", "share of customers", "revenue",
                             "share of revenue")
    if weak is not None:
        rows = tuple((*r[:2], weak.get(r[0], 0), *r[2:]) for r in rows)
        cols = (*cols[:2], "weak fit", *cols[2:])
    if not priced:
        rows = tuple(r[:-2] for r in rows)
        cols = cols[:-2]
    return Table(title, cols, rows, percent=("share of customers", "share of revenue"))


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
    cols: tuple[str, ...] = ("segment", "customers", "share of revenue", "cross-sell with",
                             "upsell with")
    shown: list[tuple[Any, ...]] = list(rows)
    if not ctx.tx.has("price"):  # no prices: no revenue to share
        shown = [r[:2] + r[3:] for r in rows]
        cols = cols[:2] + cols[3:]
    return {"tables": [Table("", cols, tuple(shown), percent=("share of revenue",))],
            "note": note, "values": {"matrix": matrix}}
