"""The learned blend trains its two rankers side by side when the cores allow: the same
models, byte for byte, as one after the other."""

from __future__ import annotations

import threading

import pytest

import upsell.recommend._blend_train as train_mod
from upsell.recommend._blend_train import train_together
from upsell.recommend.blend import LearnedBlend

from ._blend_data import FAST, small_shop


def test_rankers_side_by_side_equal_one_after_the_other(monkeypatch):
    tx = small_shop().transactions
    monkeypatch.setattr(train_mod, "_cores", lambda: 2)
    together = LearnedBlend(**FAST).fit(tx, random_state=3)
    monkeypatch.setattr(train_mod, "_cores", lambda: 1)
    alone = LearnedBlend(**FAST).fit(tx, random_state=3)
    assert set(together.boosters_) == set(alone.boosters_) == {"owned", "new"}
    for r, b in together.boosters_.items():
        assert b.model_to_string() == alone.boosters_[r].model_to_string(), r
        assert together.params_[r] == alone.params_[r], r


@pytest.mark.parametrize(("cores", "threads", "side_by_side"),
                         [(2, 1, True), (1, 1, False), (2, 2, False), (8, 2, True)])
def test_train_together_uses_threads_only_when_the_cores_allow(monkeypatch, cores, threads,
                                                                side_by_side):
    monkeypatch.setattr(train_mod, "_cores", lambda: cores)
    seen: dict[str, str] = {}

    def train(r: str) -> str:
        seen[r] = threading.current_thread().name
        return r.upper()

    got = train_together(train, ["owned", "new"], threads)
    assert got == {"owned": "OWNED", "new": "NEW"} and list(got) == ["owned", "new"]
    assert all(n.startswith("upsell-rank") for n in seen.values()) == side_by_side
    assert train_together(train, ["owned"], 1) == {"owned": "OWNED"}


def test_train_together_passes_an_error_on():
    def train(r: str) -> str:
        if r == "new":
            raise ValueError("no rows for new")
        return r

    with pytest.raises(ValueError, match="no rows for new"):
        train_together(train, ["owned", "new"], 1)
