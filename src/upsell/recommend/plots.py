"""Charts of the offer loop: the regret of a simulated loop (matplotlib, the ``plots`` extra).

A leaf module: it imports only numpy and the chart primitives of :mod:`upsell._charts`
(matplotlib when a chart is drawn), never the rest of upsell. The results' ``plot()``
methods call these functions. Every function takes the result, ``title`` (None: a default
naming the result) and ``ax``, returns the Axes, and passes further keyword arguments to the
matplotlib call drawing the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from upsell._charts import line_chart

__all__ = ["plot_regret"]


def plot_regret(simulation: Any, *, title: str | None = None, ax: Any = None,
                **kwargs: Any) -> Any:
    """A :class:`~upsell.recommend.Simulation`: cumulative regret against visits.

    Regret is the oracle's expected revenue minus the policy's, summed over the
    visits so far; a loop that learns bends the curve flat.

    Examples
    --------
    >>> ax = plot_regret(upsell.recommend.simulate(shop, rec))  # doctest: +SKIP
    """
    x = np.r_[0, np.asarray(simulation.window_end)]
    y = np.r_[0.0, np.asarray(simulation.regret, dtype=np.float64)]
    label = kwargs.pop("label", getattr(simulation, "policy", "") or None)
    ax = line_chart(x, y, ax=ax, xlabel="visits", ylabel="cumulative regret (revenue)",
                    title=("Regret against the oracle" if title is None else title),
                    label=label, **kwargs)
    if label:
        ax.legend(fontsize=8, frameon=False)
    return ax
