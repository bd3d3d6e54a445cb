"""Hostile arguments at every public entry point: a result or an UpsellError naming the argument.

The table in ``_harness.KINDS`` x ``_entries.entries()`` is run in full (one
mutated argument per call, each call bounded by a timeout); hypothesis then
searches the serving path's id and ``k`` arguments beyond the named kinds.
Failures inside files other engineers own are marked ``xfail(strict=True)``
with the entry point, input and exception (see docs/hardening.md).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._entries import entries
from ._harness import KINDS, Entry, kinds_of, outcome

ENTRIES = entries()

# (entry, argument, kind) -> reason; each is a failure in a file this suite may not edit
XFAIL: dict[tuple[str, str, str], str] = {}


def _cases() -> list[object]:
    out = []
    for e in ENTRIES:
        for arg, cats in e.args.items():
            for cat in cats.split("|"):
                for kind in kinds_of(cat):
                    marks = []
                    reason = XFAIL.get((e.name, arg, kind.name))
                    if reason:
                        marks.append(pytest.mark.xfail(strict=True, reason=reason))
                    out.append(pytest.param(e, arg, kind, marks=marks,
                                            id=f"{e.name}-{arg}-{kind.name}"))
    return out


def test_every_entry_accepts_its_valid_arguments(world):
    for e in ENTRIES:
        assert outcome(lambda e=e: e.call(world, **e.valid(world)), ("",), e.name) == "ok", e.name


@pytest.mark.parametrize(("entry", "arg", "kind"), _cases())
def test_hostile_argument(world, entry: Entry, arg: str, kind):
    kwargs = entry.valid(world)
    kwargs[arg] = kind.make(world)
    outcome(lambda: entry.call(world, **kwargs), entry.names(arg),
            f"{entry.name}({arg}=<{kind.name}>)")


def test_kind_table_is_broad():
    assert len({k.name for k in KINDS}) >= 30
    assert len(ENTRIES) >= 60


# ---------------------------------------------------------------------------- hypothesis
_atom = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=6),
    st.integers(min_value=-(2**100), max_value=2**100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(), st.booleans(), st.binary(max_size=6),
    st.sampled_from(["I00001", "I00002", "C0000045"]),
)
_ids = st.one_of(_atom, st.lists(_atom, max_size=12),
                 st.lists(st.sampled_from(["I00001", "I00002", "I00003"]), max_size=300))
_k = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
               st.floats(allow_nan=True, allow_infinity=True), st.none(), st.booleans(),
               st.text(max_size=3), st.just(np.int32(4)), st.just(math.pi))

_SERVING = [e for e in ENTRIES if e.name in {
    "ALS.recommend(customers)", "ItemKNN.recommend(baskets)", "EASE.similar_items",
    "RepeatBlend.recommend(customers)", "BundleRecommender.recommend",
    "UpsellRanker.rank(item)", "Recommender.recommend", "IdIndex.encode",
    "Personas.predict", "precision_at_k"}]


@pytest.mark.parametrize("entry", _SERVING, ids=[e.name for e in _SERVING])
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_ids_and_k(world, entry: Entry, data):
    kwargs = entry.valid(world)
    for arg, cats in entry.args.items():
        if "id" in cats.split("|") or "ids" in cats.split("|"):
            kwargs[arg] = data.draw(_ids, label=arg)
        elif cats == "k":
            kwargs[arg] = data.draw(_k, label=arg)
    names = tuple(n for arg in entry.args for n in entry.names(arg))
    outcome(lambda: entry.call(world, **kwargs), names, f"{entry.name}({kwargs!r:.200})")
