"""Internal API shared by the local and Spark engines; not part of the user API.

The Spark miners (:mod:`upsell.spark`) count in Spark and build the same results as the local
ones: these are the names they reuse (the itemset lattice, the checked rule arguments, the
exact thresholds and the sequence window). They may change between versions without a
deprecation period; users call :mod:`upsell.bundles`.
"""

from __future__ import annotations

from upsell.bundles._mining import Lattice
from upsell.bundles._rulegen import _fraction as exact_fraction
from upsell.bundles.itemsets import _from_lattice as itemsets_from_lattice
from upsell.bundles.rules import _rule_args as rule_args
from upsell.bundles.sequences import _window as sequence_window

__all__ = ["Lattice", "exact_fraction", "itemsets_from_lattice", "rule_args", "sequence_window"]
