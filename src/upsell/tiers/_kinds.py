"""The kinds of upsell edge, shared by the ladders and their chart.

Public as ``upsell.tiers.EDGE_KINDS`` (and ``upsell.tiers.ladders.EDGE_KINDS``).
"""

from __future__ import annotations

__all__ = ["EDGE_KINDS"]

#: Kinds of upsell edge, in the order of their integer codes.
EDGE_KINDS = ("upgrade", "value_pack", "plan", "alternative")
