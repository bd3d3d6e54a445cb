"""Naive twins of the miners: itertools counts over explicit baskets."""

from __future__ import annotations

import itertools
from collections import Counter


def brute_itemsets(baskets: list[set[int]], min_count: int, max_len: int | None = None
                   ) -> dict[tuple[int, ...], int]:
    counts: Counter[tuple[int, ...]] = Counter()
    for b in baskets:
        items = sorted(b)
        top = len(items) if max_len is None else min(len(items), max_len)
        for k in range(1, top + 1):
            counts.update(itertools.combinations(items, k))
    return {s: c for s, c in counts.items() if c >= min_count}


def brute_closed(freq: dict[tuple[int, ...], int]) -> set[tuple[int, ...]]:
    return {s for s, c in freq.items()
            if not any(set(s) < set(t) and c == d for t, d in freq.items())}


def brute_maximal(freq: dict[tuple[int, ...], int]) -> set[tuple[int, ...]]:
    return {s for s in freq if not any(set(s) < set(t) for t in freq)}
