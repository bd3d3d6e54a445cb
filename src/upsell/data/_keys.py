"""A vectorised hash table from uint64 keys to dense codes (private to upsell.data).

Factorizing or matching millions of keys by sorting costs O(n log n) and a pass of
random writes; a hash table small enough to stay in cache answers each key with a
couple of gathers. Every operation here is a handful of numpy calls per probe
round, whatever the number of keys.
"""

from __future__ import annotations

import numpy as np

_HASH_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads clustered keys


class KeyTable:
    """Open addressing with linear probing; codes are dense and never change.

    A key's code is its position in :meth:`keys_in_code_order`: keys of earlier
    calls come first, the new keys of one call after them in no set order.

    Each probe round looks every pending key up with one gather; keys that land
    on an empty slot are inserted (one winner per slot), keys that land on
    another key's slot move one slot on. The table doubles when half full.

    Examples
    --------
    >>> t = KeyTable()
    >>> codes = t.encode(np.array([7, 3, 7, 9], dtype=np.uint64))
    >>> t.keys_in_code_order()[codes].tolist()
    [7, 3, 7, 9]
    >>> t.find(np.array([9, 4], dtype=np.uint64)).tolist() == [codes[3], -1]
    True
    """

    def __init__(self, bits: int = 10) -> None:
        self.n = 0
        self._distinct = np.empty(1 << 10, dtype=np.uint64)
        self._alloc(bits)

    @classmethod
    def of_unique(cls, keys: np.ndarray) -> KeyTable:
        """Table holding distinct ``keys``, key ``keys[i]`` with code ``i``."""
        bits = 10
        while (1 << bits) < 4 * keys.size:
            bits += 1
        table = cls(bits)
        table._place(np.ascontiguousarray(keys, dtype=np.uint64),
                     np.arange(keys.size, dtype=np.int32))
        table._distinct = np.array(keys, dtype=np.uint64)
        table.n = int(keys.size)
        return table

    def _alloc(self, bits: int) -> None:
        self._bits = bits
        self._mask = (1 << bits) - 1
        self._keys = np.zeros(1 << bits, dtype=np.uint64)
        self._codes = np.full(1 << bits, -1, dtype=np.int32)

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _HASH_MULT) >> np.uint64(64 - self._bits)).astype(np.intp)

    def keys_in_code_order(self) -> np.ndarray:
        """The distinct keys seen so far; key ``i`` has code ``i``."""
        return self._distinct[:self.n]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """int32 code of each key, -1 for keys not in the table."""
        out = np.full(keys.size, -1, dtype=np.int32)
        pending = np.arange(keys.size)
        kk = keys
        h = self._slots(keys)
        while kk.size:
            c = self._codes[h]
            hit = c >= 0
            hit &= self._keys[h] == kk
            out[pending[hit]] = c[hit]
            go_on = ~hit & (c >= 0)  # another key's slot: the key may sit further on
            pending, kk, h = pending[go_on], kk[go_on], (h[go_on] + 1) & self._mask
        return out

    def encode(self, keys: np.ndarray) -> np.ndarray:
        """int32 code of each key, adding unseen keys to the table."""
        out = np.empty(keys.size, dtype=np.int32)
        pending = np.arange(keys.size)
        kk = keys
        h = self._slots(keys)
        while kk.size:
            c = self._codes[h]
            hit = c >= 0
            hit &= self._keys[h] == kk
            if pending.size == keys.size and hit.all():
                return c
            out[pending[hit]] = c[hit]
            miss = ~hit
            if not miss.any():
                break
            pending, kk, h, c = pending[miss], kk[miss], h[miss], c[miss]
            empty = c < 0
            if empty.any():
                slots, first = np.unique(h[empty], return_index=True)
                self._add(slots, kk[empty][first])
                if 2 * self.n > self._mask:
                    self._grow()
                    h = self._slots(kk)
                    continue
            # keys that lost an empty slot to another key retry it (it may be their own);
            # keys on another key's slot move on
            occupied = ~empty
            h[occupied] = (h[occupied] + 1) & self._mask
        return out

    def _add(self, slots: np.ndarray, new: np.ndarray) -> None:
        n = self.n + new.size
        if n > self._distinct.size:
            grown = np.empty(max(n, 2 * self._distinct.size), dtype=np.uint64)
            grown[:self.n] = self._distinct[:self.n]
            self._distinct = grown
        self._distinct[self.n:n] = new
        self._keys[slots] = new
        self._codes[slots] = np.arange(self.n, n, dtype=np.int32)
        self.n = n

    def _grow(self) -> None:
        bits = self._bits + 1
        while (1 << bits) < 4 * self.n:
            bits += 1
        self._alloc(bits)
        self._place(self._distinct[:self.n], np.arange(self.n, dtype=np.int32))

    def _place(self, keys: np.ndarray, codes: np.ndarray) -> None:
        """Insert distinct keys not yet in the table: only their slots need settling."""
        h = self._slots(keys)
        while keys.size:
            empty = self._codes[h] < 0
            slots, first = np.unique(h[empty], return_index=True)
            idx = np.flatnonzero(empty)[first]
            self._keys[slots] = keys[idx]
            self._codes[slots] = codes[idx]
            rest = np.ones(keys.size, dtype=bool)
            rest[idx] = False
            keys, codes, h = keys[rest], codes[rest], (h[rest] + 1) & self._mask
