"""Stable maps between external ids and contiguous int32 indices."""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from upsell.exceptions import UnknownIdError, UpsellDataError

IdKind = Literal["str", "int"]

# an integer id as text: optional minus, no leading zero ("007" is a text id), optional ".0"
# (spreadsheets write 17850 as "17850.0")
_INT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.0+)?")
_MAX_INT = 2**63


def _as_int_key(value: Any) -> int | None:
    """An id given as text or float, as the int id it names; None when it names none."""
    if isinstance(value, (str, np.str_)):
        text = value.strip()
        if not _INT_TEXT.fullmatch(text):
            return None
        return int(text.split(".", 1)[0])
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f) and f.is_integer() and abs(f) < _MAX_INT:
            return int(f)
    return None


def _as_str_key(value: Any) -> str | None:
    """An id given as an int (or integral float), as the text id it names; None otherwise."""
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f) and f.is_integer() and abs(f) < _MAX_INT:
            return str(int(f))
    return None


def _to_id_array(values: Any, name: str) -> np.ndarray:
    """Normalise a collection of ids to an int64 or str numpy array, refusing mixed types."""
    if isinstance(values, np.ndarray):
        arr = values
    else:
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            values = [values]
        seq = list(values)
        types = {type(v) for v in seq}
        if types and all(issubclass(t, str) for t in types):
            _refuse_nul(seq, name)
            return np.array(seq, dtype=str) if seq else np.array([], dtype=str)
        if types and all(issubclass(t, (int, np.integer)) and not issubclass(t, (bool, np.bool_))
                         for t in types):
            try:
                return np.array(seq, dtype=np.int64)
            except OverflowError:
                big = next(v for v in seq if not -(2**63) <= int(v) < 2**63)
                raise UpsellDataError(
                    f"`{name}` id {big} does not fit in 64 bits; pass ids as strings"
                ) from None
        if not seq:
            return np.array([], dtype=np.int64)
        arr = np.empty(len(seq), dtype=object)
        arr[:] = seq
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    kind = arr.dtype.kind
    if kind in "iu":
        if kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise UpsellDataError(f"`{name}` ids do not fit in 64 bits; pass them as strings")
        return arr.astype(np.int64, copy=False)
    if kind == "U":
        return arr
    if kind == "S":
        return np.char.decode(arr, "utf-8")
    if kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) >= 2.0**63)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise UpsellDataError(
                f"`{name}` ids must be integers or strings; position {pos} holds {arr[pos]!r}"
            )
        return arr.astype(np.int64)
    if kind == "b":
        raise UpsellDataError(f"`{name}` ids must be integers or strings; got booleans")
    if kind == "O":
        return _object_ids(arr, name)
    raise UpsellDataError(f"`{name}` ids must be integers or strings; got dtype {arr.dtype}")


def _object_ids(arr: np.ndarray, name: str) -> np.ndarray:
    is_str = np.fromiter((isinstance(v, str) for v in arr), dtype=bool, count=arr.size)
    if is_str.all():
        _refuse_nul(arr.tolist(), name)
        return arr.astype(str)
    is_int = np.fromiter(
        (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in arr),
        dtype=bool, count=arr.size,
    )
    if is_int.all():
        try:
            return arr.astype(np.int64)
        except OverflowError:
            lim = np.iinfo(np.int64)
            pos = next(i for i, v in enumerate(arr.tolist()) if not lim.min <= int(v) <= lim.max)
            raise UpsellDataError(
                f"`{name}` ids do not fit in 64 bits (position {pos} is {arr[pos]!r}); "
                f"pass them as strings"
            ) from None
    if (is_str | is_int).all():
        s, i = int(np.flatnonzero(is_str)[0]), int(np.flatnonzero(is_int)[0])
        raise UpsellDataError(
            f"`{name}` ids mix strings and integers (position {s} is {arr[s]!r}, "
            f"position {i} is {arr[i]!r}); convert them to one type"
        )
    pos = int(np.flatnonzero(~(is_str | is_int))[0])
    raise UpsellDataError(
        f"`{name}` ids must be integers or strings; position {pos} holds {arr[pos]!r} "
        f"({type(arr[pos]).__name__})"
    )


def _packed(arr: np.ndarray) -> np.ndarray:
    """ASCII text ids as bytes (``S``: 1 byte a character, numpy's ``U`` takes 4), else as is.

    Sorting and comparing bytes of ASCII text is sorting and comparing the text, so an
    index can search the bytes; the ids are widened back only where they are read out.
    """
    if arr.dtype.kind != "U" or arr.size == 0 or arr.dtype.itemsize == 0:
        return arr
    width = arr.dtype.itemsize // 4
    chars = np.ascontiguousarray(arr).view(np.uint32).reshape(arr.size, width)
    step = max(1, (1 << 22) // width)  # blocks keep the temporaries small
    if any(int(chars[i:i + step].max(initial=0)) >= 0x80 for i in range(0, arr.size, step)):
        return arr
    out = np.empty((arr.size, width), dtype=np.uint8)
    for i in range(0, arr.size, step):
        out[i:i + step] = chars[i:i + step]
    return out.view(f"S{width}").reshape(-1)


def _widened(packed: np.ndarray) -> np.ndarray:
    """Bytes of ASCII text (see :func:`_packed`) as a numpy str array; others as they are."""
    if packed.dtype.kind != "S":
        return packed
    width = max(packed.dtype.itemsize, 1)
    codes = np.ascontiguousarray(packed).view(np.uint8).reshape(packed.size, packed.dtype.itemsize)
    out = np.zeros((packed.size, width), dtype=np.uint32)
    out[:, :codes.shape[1]] = codes
    return out.view(f"U{width}").reshape(packed.shape)


def _query_bytes(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Text ids to look up in a packed index: their bytes, and which are ASCII (others are
    in no packed index)."""
    width = max(arr.dtype.itemsize // 4, 1)
    chars = np.ascontiguousarray(arr).view(np.uint32).reshape(arr.size, -1)
    ascii_ = chars.max(axis=1, initial=0) < 0x80 if chars.shape[1] else \
        np.ones(arr.size, dtype=bool)
    out = np.zeros((arr.size, width), dtype=np.uint8)
    out[:, :chars.shape[1]] = np.where(ascii_[:, None], chars, 0)
    return out.view(f"S{width}").reshape(-1), ascii_


def _refuse_nul(values: list[str], name: str) -> None:
    # numpy's fixed-width strings drop trailing NUL characters, which would merge distinct ids
    if any("\x00" in v for v in values):
        bad = next(v for v in values if "\x00" in v)
        raise UpsellDataError(f"`{name}` id {bad!r} contains a NUL character, which ids may not hold")


class IdIndex:
    """A stable, read-only map between external ids and contiguous int32 indices.

    Ids are all strings or all integers; a mix is an error. Index ``i`` stands for
    ``ids[i]``. Lookups go both ways and are vectorised; a single-id lookup
    (:meth:`index`) is a dictionary hit, fit for a per-request serving path.
    ASCII text ids are held as bytes, one per character (a million 64-character
    hashed ids: 64 MB, not numpy's 256 MB); :attr:`ids` widens them to a str array
    the first time it is read, and :meth:`decode` widens only the ids it returns.

    Parameters
    ----------
    ids : sequence of str or int
        Unique external ids, in index order.
    name : str, default "id"
        What the ids are ("customer", "item", ...), used in error messages.

    Raises
    ------
    UpsellDataError
        If ids repeat, mix strings and integers, or are of another type.

    Examples
    --------
    >>> idx = IdIndex(["b", "a", "c"], name="item")
    >>> len(idx), idx.kind, idx.index("a")
    (3, 'str', 1)
    >>> idx.encode(["c", "b"]).tolist()
    [2, 0]
    >>> idx.decode([0, 2]).tolist()
    ['b', 'c']
    >>> idx.encode(["zz", "a"], unknown="mask").tolist()
    [-1, 1]
    """

    __slots__ = ("_dict", "_ids", "_lock", "_name", "_sorted", "_sorter", "_text")

    def __init__(self, ids: Sequence[Any] | np.ndarray, *, name: str = "id") -> None:
        given = _to_id_array(ids, name)
        arr = _packed(given)
        if arr.size > np.iinfo(np.int32).max:
            raise UpsellDataError(f"`{name}` index holds {arr.size} ids; at most 2**31-1 fit")
        sorter = np.argsort(arr, kind="stable")
        srt = arr[sorter]
        if srt.size > 1:
            dup = np.flatnonzero(srt[1:] == srt[:-1])
            if dup.size:
                raise UpsellDataError(
                    f"`{name}` ids must be unique; {_widened(srt[dup[:1]])[0].item()!r} appears "
                    f"more than once"
                )
        if arr is given:  # packing made a new array already; the caller's is never held
            arr = arr.copy()
        arr.flags.writeable = False
        srt.flags.writeable = False
        self._ids = arr
        self._sorter = sorter.astype(np.int32)
        self._sorted = srt
        self._name = name
        self._dict: dict[Any, int] | None = None
        self._text: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def _from_sorted_unique(cls, ids: np.ndarray, *, name: str = "id") -> IdIndex:
        """Index over ids the caller has made strictly increasing (int64, str or the bytes
        of ASCII text, see :func:`_packed`).

        Skips the sort, the duplicate check and the copy of the public constructor;
        the array is taken over and made read-only.
        """
        if ids.size > np.iinfo(np.int32).max:
            raise UpsellDataError(f"`{name}` index holds {ids.size} ids; at most 2**31-1 fit")
        ids = _packed(ids)
        self = cls.__new__(cls)
        ids.flags.writeable = False
        self._ids = ids
        self._sorter = np.arange(ids.size, dtype=np.int32)
        self._sorted = ids
        self._name = name
        self._dict = None
        self._text = None
        self._lock = threading.Lock()
        return self

    def _subset(self, keep: np.ndarray) -> IdIndex:
        """Index of the ids where the boolean ``keep`` is True, in their order here.

        The ids are known distinct and sorted already, so nothing is sorted again.
        """
        kept_sorted = keep[self._sorter]
        new_pos = np.cumsum(keep, dtype=np.int32)
        new_pos -= 1
        out = IdIndex.__new__(IdIndex)
        ids = self._ids[keep]
        ids.flags.writeable = False
        srt = self._sorted[kept_sorted]
        srt.flags.writeable = False
        out._ids = ids
        out._sorter = new_pos[self._sorter[kept_sorted]]
        out._sorted = srt
        out._name = self._name
        out._dict = None
        out._text = None
        out._lock = threading.Lock()
        return out

    @classmethod
    def factorize(cls, values: Any, *, name: str = "id") -> tuple[IdIndex, np.ndarray]:
        """Build an index of the sorted distinct values and return it with each value's code.

        Sorting makes the index independent of row order.

        Parameters
        ----------
        values : array-like of str or int
            Ids, repeats allowed.
        name : str
            What the ids are, for messages.

        Returns
        -------
        index : IdIndex
        codes : ndarray of int32, same length as ``values``

        Examples
        --------
        >>> idx, codes = IdIndex.factorize(["x", "y", "x"], name="item")
        >>> idx.ids.tolist(), codes.tolist()
        (['x', 'y'], [0, 1, 0])
        """
        arr = _to_id_array(values, name)
        uniq, codes = np.unique(arr, return_inverse=True)
        return cls(uniq, name=name), codes.astype(np.int32).reshape(-1)

    @property
    def ids(self) -> np.ndarray:
        """External ids in index order (read-only array of int64 or str)."""
        if self._ids.dtype.kind != "S":
            return self._ids
        text = self._text
        if text is None:
            text = _widened(self._ids)
            text.flags.writeable = False
            self._text = text  # one assignment: a racing thread builds an equal array
        return text

    @property
    def kind(self) -> IdKind:
        """``"int"`` or ``"str"``."""
        return "int" if self._ids.dtype.kind == "i" else "str"

    @property
    def nbytes(self) -> int:
        """Bytes the index holds in arrays (ids, their sort order, any widened copy).

        Examples
        --------
        >>> IdIndex(["b", "a"]).nbytes  # 1-byte ids, sorted and not, and two int32 positions
        12
        """
        arrays = [self._ids, self._sorter]
        if self._sorted is not self._ids:
            arrays.append(self._sorted)
        if self._text is not None:
            arrays.append(self._text)
        return int(sum(a.nbytes for a in arrays))

    @property
    def name(self) -> str:
        """What the ids are, e.g. ``"item"``."""
        return self._name

    def __len__(self) -> int:
        return int(self._ids.size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._listed())

    def _listed(self) -> list[Any]:
        """The ids as a Python list (text ids widened without keeping a str array)."""
        if self._ids.dtype.kind == "S":
            return [b.decode("ascii") for b in self._ids.tolist()]
        return self._ids.tolist()

    def __contains__(self, value: object) -> bool:
        return self._find(value) is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdIndex):
            return NotImplemented
        if self.kind != other.kind or len(self) != len(other):
            return False
        if (self._ids.dtype.kind == "S") == (other._ids.dtype.kind == "S"):
            return bool(np.array_equal(self._ids, other._ids))
        return bool(np.array_equal(self.ids, other.ids))

    def __hash__(self) -> int:
        return hash((self.kind, len(self), tuple(self.decode(np.arange(min(8, len(self)))).tolist())))

    def __repr__(self) -> str:
        head = ", ".join(repr(v) for v in self.decode(np.arange(min(3, len(self)))).tolist())
        more = ", ..." if len(self) > 3 else ""
        return f"IdIndex(name={self._name!r}, n={len(self)}, ids=[{head}{more}])"

    def _kind_ok(self, value: object) -> bool:
        if self.kind == "str":
            return isinstance(value, (str, np.str_))
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))

    @staticmethod
    def _key(value: Any) -> Any:
        return value.item() if isinstance(value, np.generic) else value

    def _lookup(self) -> dict[Any, int]:
        d = self._dict
        if d is None:
            with self._lock:
                if self._dict is None:
                    self._dict = {v: i for i, v in enumerate(self._listed())}
                d = self._dict
        return d

    def _find(self, value: Any) -> int | None:
        """Position of one id as a caller may send it (see :meth:`index`), or None."""
        d = self._lookup()
        if self._kind_ok(value):  # the exact id: one dictionary hit
            pos = d.get(self._key(value))
            if pos is not None:
                return pos
        try:
            key: Any = (_as_int_key(value) if self._ids.dtype.kind == "i"
                        else _as_str_key(value))
        except (TypeError, ValueError):
            return None
        if key is None:
            return None
        pos = d.get(key)
        if pos is None and isinstance(key, str) and key != key.strip():
            pos = d.get(key.strip())
        return pos

    def index(self, value: Any) -> int:
        """Return the index of one external id.

        Ids are found as a web request or a spreadsheet sends them: for an index of
        int ids, the texts ``"17850"``, ``" 17850 "``, ``"17850.0"`` and the float
        ``17850.0`` find 17850 (a float with a fractional part, a text with a
        leading zero or other characters find nothing); for an index of text ids,
        the int ``22423`` finds ``"22423"`` and surrounding spaces are ignored when
        the exact text is not there.

        Raises
        ------
        UnknownIdError
            If the id is not in the index.

        Examples
        --------
        >>> IdIndex([10, 17850]).index(" 17850.0")
        1
        >>> IdIndex(["22423", "85123A"]).index(22423)
        0
        """
        pos = self._find(value)
        if pos is None:
            if not self._kind_ok(value) and (
                    _as_int_key(value) if self.kind == "int" else _as_str_key(value)) is None:
                raise UnknownIdError(
                    f"{self._name} {value!r} is a {type(value).__name__} that names no "
                    f"{self.kind} id; this index holds {self.kind} ids"
                )
            raise UnknownIdError(f"{self._name} {value!r} is not in the {self._name} index")
        return pos

    def encode(self, values: Any, *,
               unknown: Literal["raise", "mask", "skip"] = "raise") -> np.ndarray:
        """Map external ids to int32 indices, vectorised.

        Parameters
        ----------
        values : id or array-like of ids
        unknown : {"raise", "mask", "skip"}, default "raise"
            What to do with ids not in the index: raise :class:`UnknownIdError`
            naming the first one, return -1 in their place, or leave them out.

        Returns
        -------
        ndarray of int32

        Examples
        --------
        >>> IdIndex([3, 1, 2]).encode([2, 9, 3], unknown="skip").tolist()
        [2, 0]
        """
        if unknown not in ("raise", "mask", "skip"):
            raise UpsellDataError(f"`unknown` must be one of 'raise', 'mask', 'skip'; got {unknown!r}")
        try:
            arr = _to_id_array(values, self._name)
        except UpsellDataError:
            arr = None  # mixed kinds, fractional floats: looked up one by one below
        if arr is None or (arr.size and ((arr.dtype.kind == "i") != (self.kind == "int"))):
            return self._encode_loose(values, unknown)
        if arr.size == 0:
            return np.empty(0, dtype=np.int32)
        out = self._encode_exact(arr)
        found = out >= 0
        if not found.all() and arr.dtype.kind == "U":
            # " 85123A" finds "85123A": spaces are retried only where the exact text missed
            miss = np.flatnonzero(~found)
            retry = self._encode_exact(np.char.strip(arr[miss]))
            out[miss] = retry
            found[miss] = retry >= 0
        if not found.all():
            if unknown == "raise":
                first = arr[int(np.flatnonzero(~found)[0])]
                n_bad = int((~found).sum())
                more = f" ({n_bad} unknown in all)" if n_bad > 1 else ""
                raise UnknownIdError(
                    f"{self._name} {first.item()!r} is not in the {self._name} index{more}"
                )
            if unknown == "skip":
                out = out[found]
        return out

    def _encode_exact(self, arr: np.ndarray) -> np.ndarray:
        """Positions of ids of this index's kind; -1 where absent."""
        if len(self) == 0 or arr.size == 0:
            return np.full(arr.size, -1, dtype=np.int32)
        ascii_ = None
        if self._sorted.dtype.kind == "S":  # a packed index: search the texts' bytes
            arr, ascii_ = _query_bytes(arr)
        pos = np.minimum(np.searchsorted(self._sorted, arr), len(self) - 1)
        found = self._sorted[pos] == arr
        if ascii_ is not None:
            found &= ascii_
        return np.where(found, self._sorter[pos], -1).astype(np.int32)

    def _encode_loose(self, values: Any, unknown: str) -> np.ndarray:
        """:meth:`encode` for ids of the other kind or of mixed kinds, one distinct id at a time."""
        if isinstance(values, np.ndarray):
            seq = values.reshape(-1).tolist()
        elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            seq = [values]
        else:
            seq = list(values)
        cache: dict[Any, int] = {}
        out = np.empty(len(seq), dtype=np.int32)
        for i, v in enumerate(seq):
            try:
                key = (type(v), v)
                pos = cache.get(key)
                if pos is None:
                    found = self._find(v)
                    pos = cache[key] = -1 if found is None else found
            except TypeError:  # unhashable: an id of no kind
                pos = -1
            out[i] = pos
        missing = out < 0
        if missing.any():
            if unknown == "raise":
                first = seq[int(np.flatnonzero(missing)[0])]
                n_bad = int(missing.sum())
                more = f" ({n_bad} unknown in all)" if n_bad > 1 else ""
                raise UnknownIdError(
                    f"{self._name} {first!r} is not in the {self._name} index{more}")
            if unknown == "skip":
                out = out[~missing]
        return out

    def decode(self, indices: Any) -> np.ndarray:
        """Map int indices back to external ids.

        Raises
        ------
        UpsellDataError
            If an index is out of range.

        Examples
        --------
        >>> IdIndex(["a", "b"]).decode(np.array([1, 1, 0])).tolist()
        ['b', 'b', 'a']
        """
        idx = np.asarray(indices)
        if idx.size and idx.dtype.kind not in "iu":
            raise UpsellDataError(f"{self._name} indices must be integers; got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            bad = idx[(idx < 0) | (idx >= len(self))].reshape(-1)[0]
            raise UpsellDataError(
                f"{self._name} index {int(bad)} is out of range for {len(self)} ids"
            )
        if self._ids.dtype.kind != "S":
            return self._ids[idx]
        out = _widened(np.asarray(self._ids[idx]))
        return out[()] if idx.ndim == 0 else out

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable description (used by model files).

        Examples
        --------
        >>> IdIndex.from_json(IdIndex([5, 7], name="item").to_json()) == IdIndex([5, 7])
        True
        """
        return {"name": self._name, "kind": self.kind, "ids": self._listed()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdIndex:
        """Rebuild an index written by :meth:`to_json`.

        Examples
        --------
        >>> IdIndex.from_json({"name": "c", "kind": "str", "ids": ["x"]}).ids.tolist()
        ['x']
        """
        try:
            kind, ids, name = data["kind"], data["ids"], data.get("name", "id")
        except (KeyError, TypeError) as exc:
            raise UpsellDataError(f"id index description is malformed: {exc!r}") from None
        if kind == "int":
            arr = np.array(ids, dtype=np.int64) if ids else np.array([], dtype=np.int64)
        elif kind == "str":
            arr = np.array(ids, dtype=str) if ids else np.array([], dtype=str)
        else:
            raise UpsellDataError(f"id index kind must be 'int' or 'str'; got {kind!r}")
        return cls(arr, name=str(name))


class FirstSeen:
    """Codes for ids hashed once each, in C (``map`` over ``dict.setdefault``).

    :meth:`codes` gives every value the position of its first occurrence among all
    values seen so far (call it once or block by block); :attr:`distinct` lists the
    distinct values in that order; :meth:`recode` turns the positions into any
    code per distinct value (e.g. its index in a sorted :class:`IdIndex`). Only the
    distinct values are kept as Python objects, so no object or string array of
    a whole column is built.

    Examples
    --------
    >>> seen = FirstSeen()
    >>> first = seen.codes(["b", "a", "b"], 3)
    >>> first.tolist(), seen.distinct
    ([0, 1, 0], ['b', 'a'])
    >>> seen.recode(first, np.array([1, 0])).tolist()
    [1, 0, 1]
    """

    __slots__ = ("_n", "_position", "_vocab")

    def __init__(self) -> None:
        self._vocab: dict[Any, int] = {}
        self._position = itertools.count()
        self._n = 0

    def codes(self, values: Iterable[Any], n: int, dtype: Any = np.int64) -> np.ndarray:
        """First-occurrence positions of the ``n`` ``values``; TypeError if one is unhashable."""
        out = np.fromiter(map(self._vocab.setdefault, values, self._position), dtype=dtype,
                          count=n)
        self._n += n
        return out

    @property
    def distinct(self) -> list[Any]:
        """The distinct values, in order of first occurrence."""
        return list(self._vocab)

    def recode(self, first: np.ndarray, code_of: np.ndarray, *, in_place: bool = False
               ) -> np.ndarray:
        """``code_of[j]`` for each value whose first-occurrence code is that of distinct ``j``.

        ``in_place`` writes the result over ``first`` (same dtype as ``code_of``).
        """
        remap = np.empty(self._n, dtype=code_of.dtype)
        remap[np.fromiter(self._vocab.values(), dtype=np.int64, count=len(self._vocab))] = code_of
        if in_place:
            return np.take(remap, first, out=first, mode="clip")
        return np.take(remap, first)
