"""The report section "What the log says": conversion by policy and by exploration, and the
off-policy estimate of a candidate model on the logged requests."""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell.exceptions import UpsellDataError
from upsell.report._context import _Context, _Skip
from upsell.report._tables import Table, fmt_pct


def _interval(low: float, high: float, digits: int = 1) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "n/a"
    return f"{fmt_pct(low, digits)} – {fmt_pct(high, digits)}"


def _pct2(value: float) -> str:
    """A rate with two decimals: off-policy estimates differ in the second decimal."""
    return fmt_pct(value, 2)


def _conversion_table(log: Any, by: str, title: str, label: Any, note: str) -> Table:
    from upsell import kpi

    try:
        res = kpi.conversion(log, by=by)
    except UpsellDataError as exc:
        return Table(title, ("group",), (), unit="groups",
                     empty=f"the log cannot be split by {by} ({exc})")
    rows = []
    for i, g in enumerate(res.groups.tolist()):
        rows.append((label(g), int(res.presented[i]), int(res.accepted[i]),
                     float(res.rate[i]), _interval(float(res.low[i]), float(res.high[i])),
                     float(res.revenue_per_offer[i])))
    return Table(title, (by if by != "explored" else "offers", "shown", "accepted",
                         "conversion", "95% interval", "revenue per offer shown"),
                 tuple(rows), percent=("conversion",), unit="groups", note=note)


def _policy_label(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if text and text not in ("nan", "(none)") else "(not logged)"


def _explored_label(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("explore", "true", "1", "1.0", "yes"):
        return "explored"
    if text in ("exploit", "false", "0", "0.0", "no"):
        return "exploited (the policy's own choice)"
    return "(not logged)"


def _ope_table(log: Any, candidate: Any, seed: int) -> tuple[Table, dict[str, Any]]:
    from upsell.recommend import evaluate_policy
    from upsell.recommend.replay import REPLAY_MAX_REQUESTS

    if not hasattr(log, "outcomes"):
        return (Table("Would the model convert better?", ("estimator",), (), unit="estimates",
                      empty="off-policy evaluation needs an OfferLog (its outcomes()), not an "
                            "event table"), {})
    try:
        # the same replay as `upsell evaluate-policy` (same sample, replicates and seed)
        ev = evaluate_policy(log, candidate, max_requests=REPLAY_MAX_REQUESTS,
                             random_state=seed)
    except UpsellDataError as exc:
        return (Table("Would the model convert better?", ("estimator",), (), unit="estimates",
                      empty=str(exc)), {})
    names = {"logged": "what the log shows (observed)", "ips": "model: IPS",
             "snips": "model: self-normalised IPS", "dr": "model: doubly robust"}
    rows = tuple((names.get(e.estimator, e.estimator), ev._policy(e), _pct2(e.value),
                  _interval(e.ci_low, e.ci_high, digits=2), int(e.n),
                  float(round(e.effective_sample_size, 1)))
                 for e in ev.estimates)
    note = (f"Acceptance rate per offer shown, {ev.n_requests:,} logged requests replayed "
            "through the model (its probability of each logged offer at its position); "
            "95% bootstrap intervals over requests. Effective offers: how many on-policy "
            "offers the estimate is worth.")
    if ev.note:
        note += f" {ev.note[0].upper()}{ev.note[1:]}."
    table = Table("Would the model convert better? (off-policy estimates)",
                  ("estimate", "policy", "acceptance rate", "95% interval", "offers",
                   "effective offers"), rows, note=note,
                  unit="estimates")
    return table, {e.estimator: float(e.value) for e in ev.estimates}


def _section_log(ctx: _Context) -> dict[str, Any]:
    log = ctx.opt.get("offer_log")
    if log is None:
        raise _Skip("no offer log given (upsell report --log LOG)")
    tables = [
        _conversion_table(ctx.offer_events(), "policy", "Conversion by policy version", _policy_label,
                          "Offers each recommender version showed and how many were "
                          "accepted (Wilson 95% intervals)."),
        _conversion_table(ctx.offer_events(), "explored", "Exploration and exploitation", _explored_label,
                          "Explored offers are the bounded share of slots that tried an "
                          "untested offer; their conversion is the price of learning."),
    ]
    values: dict[str, Any] = {}
    candidate = ctx.opt.get("candidate")
    if candidate is not None:
        table, ope = _ope_table(log, candidate, int(ctx.opt.get("random_state", 0)))
        tables.append(table)
        values["off_policy"] = ope
    note = ("" if candidate is not None else
            "Give a model (upsell report --log LOG --model MODEL_DIR) to estimate from this "
            "log how it would convert.")
    return {"tables": tables, "values": values, "note": note}
