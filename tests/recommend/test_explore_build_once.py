"""With Explore every offer is built once, its propensity and flag set as it is built."""

from __future__ import annotations

from typing import Any

import pytest

import upsell as us
from upsell.recommend import Candidate, Explore, Offer


class _Five:
    name = "five"

    def candidates(self, request: Any, n: int) -> list[Candidate]:
        return [Candidate(f"i{j}", 10.0 - j) for j in range(8)]


@pytest.mark.parametrize("rate", [0.0, 0.1, 1.0])
def test_each_offer_is_built_once(monkeypatch: pytest.MonkeyPatch, rate: float) -> None:
    cat = us.Catalog.from_records([{"item": f"i{j}"} for j in range(8)])
    rec = us.Recommender(catalog=cat, cross_sell=[_Five()],
                         rules=[Explore(rate=rate, random_state=0)])
    rec.fit()
    built = []
    init = Offer.__init__

    def counting(self: Offer, *args: Any, **kwargs: Any) -> None:
        built.append(kwargs.get("item", args[0] if args else None))
        init(self, *args, **kwargs)

    monkeypatch.setattr(Offer, "__init__", counting)
    for c in range(20):
        offers = rec.recommend(customer=f"c{c}", k=3, at="2025-01-10")
        assert len(built) == len(offers) == 3  # one Offer object per offer shown
        built.clear()
        explorable = 1.0 - min(rate, 1 / 3)
        assert all(o.propensity == (explorable if not o.explored else o.propensity)
                   for o in offers)
        assert sum(o.explored for o in offers) <= 1
