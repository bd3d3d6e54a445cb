"""Per-item attributes: names, families and tiers, prices and costs, stock, kinds, features."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from upsell._validation import as_transactions
from upsell.data import _columns as C
from upsell.data.ids import IdIndex
from upsell.exceptions import UpsellDataError

__all__ = ["KINDS", "Catalog"]

#: Item kinds the handbook distinguishes.
KINDS = ("product", "accessory", "warranty", "subscription", "value_pack", "bundle")

_TEXT = ("name", "category", "family", "kind", "attaches_to")
_NUMERIC = ("tier", "price", "cost", "stock", "pack_size")
_KNOWN = ("item", *_TEXT, *_NUMERIC, "exclusive")
_MAX_PRICE = 1e12  # as Transactions: far beyond real prices, sums stay finite


class Catalog:
    """Item attributes aligned to an :class:`~upsell.data.IdIndex` of items.

    Columns (all optional but ``item``):

    ======================  ===========================================================
    ``name``                display name (default: the id as text)
    ``category``            category label ("" when unknown)
    ``family``              product family: the items of one upgrade ladder
    ``tier``                ordinal tier inside the family (1 = entry); NaN when unknown
    ``price``, ``cost``     list price and unit cost; NaN when unknown
    ``stock``               units in stock; NaN when unknown (treated as available)
    ``kind``                one of :data:`KINDS` (default "product")
    ``pack_size``           units per pack (default 1); value packs have more
    ``exclusive``           bool: premium-only / limited items
    ``attaches_to``         for accessories, warranties and plans: the family they serve
    other numeric columns   features (e.g. ``storage_gb``) used to judge an upgrade's value
    other text columns      kept as ``attributes``
    ======================  ===========================================================

    Parameters
    ----------
    items : IdIndex
        Item ids, in the order of every column.
    **columns : array-like
        The columns above, each of length ``len(items)``; unknown numeric columns
        become ``features`` and unknown text columns ``attributes``.

    Raises
    ------
    UpsellDataError
        Duplicate items, negative price, cost, stock or pack size, an unknown kind,
        a tier that is not a whole number or has no family, columns of the wrong length.

    Examples
    --------
    >>> cat = Catalog.from_records([
    ...     {"item": "P1", "family": "phone", "tier": 1, "price": 300, "cost": 200},
    ...     {"item": "P2", "family": "phone", "tier": 2, "price": 450, "cost": 280},
    ...     {"item": "C1", "kind": "accessory", "attaches_to": "phone", "price": 20, "cost": 5},
    ... ])
    >>> len(cat), cat.items.ids.tolist()
    (3, ['C1', 'P1', 'P2'])
    >>> cat.margin.tolist()
    [15.0, 100.0, 170.0]
    >>> cat.row("P2")["tier"]
    2.0
    """

    __slots__ = ("_cols", "attributes", "features", "items", "repaired")

    items: IdIndex
    features: Mapping[str, np.ndarray]
    attributes: Mapping[str, np.ndarray]
    #: Values a file reader read by a repair, by reason (``"price read from a formatted
    #: number ('£1.50')": 2``); empty for catalogs built from arrays.
    repaired: Mapping[str, int]

    def __init__(self, items: IdIndex, **columns: Any) -> None:
        if not isinstance(items, IdIndex):  # a list of ids: columns could not be aligned to it
            raise UpsellDataError(
                f"`items` must be an IdIndex (the item ids the columns align with), not "
                f"{type(items).__name__}: build one with IdIndex(ids), or pass rows to "
                "Catalog.from_records")
        n = len(items)
        cols: dict[str, np.ndarray] = {}
        features: dict[str, np.ndarray] = {}
        attributes: dict[str, np.ndarray] = {}
        for key, values in columns.items():
            if values is None:
                continue
            arr = C.as_array(values, key)
            if arr.size != n:
                raise UpsellDataError(
                    f"catalog column `{key}` has {arr.size} values; there are {n} items"
                )
            if key in _TEXT:
                cols[key] = _text(arr)
            elif key in _NUMERIC:
                cols[key] = _catalog_numbers(arr, key, items)
            elif key == "exclusive":
                cols[key] = _bools(arr, key, items)
            else:
                num = _try_numbers(arr)
                if num is not None:
                    features[key] = num
                else:
                    attributes[key] = _text(arr)
        ids_text = items.ids.astype(str)
        cols.setdefault("name", ids_text)
        cols["name"] = np.where(np.char.str_len(cols["name"]) == 0, ids_text, cols["name"])
        for key in ("category", "family", "attaches_to"):
            cols.setdefault(key, np.full(n, "", dtype=str))
        cols.setdefault("kind", np.full(n, "product", dtype="<U11"))
        for key in ("tier", "price", "cost", "stock"):
            cols.setdefault(key, np.full(n, np.nan))
        cols.setdefault("pack_size", np.ones(n))
        cols.setdefault("exclusive", np.zeros(n, dtype=bool))
        cols["kind"] = np.where(np.char.str_len(cols["kind"]) == 0, "product", cols["kind"])
        cols["pack_size"] = np.where(np.isnan(cols["pack_size"]), 1.0, cols["pack_size"])
        _check(items, cols)
        for a in (*cols.values(), *features.values(), *attributes.values()):
            a.flags.writeable = False
        self.items = items
        self._cols = cols
        self.features = MappingProxyType(features)
        self.attributes = MappingProxyType(attributes)
        self.repaired: Mapping[str, int] = MappingProxyType({})

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(cls, *, item: Any, **columns: Any) -> Catalog:
        """Build a catalog from one array-like per column.

        Examples
        --------
        >>> Catalog.from_arrays(item=[1, 2], price=[9.5, 12.0]).price.tolist()
        [9.5, 12.0]
        """
        arr = C.as_array(item, "item")
        ids, miss = C.ids_with_missing(arr, "item")
        if miss.any():
            raise UpsellDataError(f"catalog row {int(np.flatnonzero(miss)[0]) + 1}: `item` is empty")
        IdIndex(ids, name="item")  # raises on duplicates, naming the id
        order = np.argsort(ids, kind="stable")
        index = IdIndex(ids[order], name="item")
        cols: dict[str, Any] = {}
        for k, v in columns.items():
            if v is None:
                continue
            arr = C.as_array(v, k)
            if arr.size != order.size:
                raise UpsellDataError(
                    f"catalog column `{k}` has {arr.size} values; there are {order.size} items"
                )
            cols[k] = arr[order]
        return cls(index, **cols)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Catalog:
        """Build a catalog from dicts, one per item (missing keys are unknown values).

        Examples
        --------
        >>> Catalog.from_records([{"item": "a", "kind": "warranty"}]).kind.tolist()
        ['warranty']
        """
        rows = list(records)
        if not rows:
            raise UpsellDataError("catalog has no items: `records` is empty")
        keys = list(dict.fromkeys(k for r in rows for k in r))
        if "item" not in keys:
            raise UpsellDataError("catalog records need an `item` key")
        cols: dict[str, list[Any]] = {k: [r.get(k) for r in rows] for k in keys}
        return cls.from_arrays(**cols)

    @classmethod
    def from_transactions(cls, transactions: Any) -> Catalog:
        """Derive a catalog from order lines, for shops that have none.

        Items are the transactions' items; ``name`` is :meth:`Transactions.item_names`
        (the most frequent product name of the item's lines, the id where none is
        known); ``price`` is the median unit price over the item's purchase lines
        (positive quantity and price), NaN for an item without one; ``cost`` is
        :meth:`Transactions.item_costs` when the lines had a cost or profit column. Every
        other column takes its default (no family, tier or stock).

        Parameters
        ----------
        transactions : Transactions

        Returns
        -------
        Catalog

        Examples
        --------
        >>> from upsell.data import Transactions
        >>> tx = Transactions.from_arrays(order=[1, 2, 3, 3], item=["a", "a", "a", "b"],
        ...                               price=[2.0, 3.0, 10.0, 1.5],
        ...                               name=["Mug", "Mug", "Mug", "Tea"])
        >>> cat = Catalog.from_transactions(tx)
        >>> cat.name.tolist(), cat.price.tolist()
        (['Mug', 'Tea'], [3.0, 1.5])
        """
        from upsell._stats import median_by

        tx = as_transactions(transactions, "transactions")
        n = len(tx.items)
        price = np.full(n, np.nan)
        if tx.has("price"):
            p, q, it = tx.price, tx.quantity, tx.item
            ok = (q > 0) & np.isfinite(p) & (p > 0)
            price = median_by(it[ok], p[ok], n)
        return cls(tx.items, name=tx.item_names(), price=price, cost=tx.item_costs())

    @classmethod
    def from_pandas(cls, frame: Any, *, columns: Mapping[str, str] | None = None) -> Catalog:
        """Build a catalog from a DataFrame; ``columns`` maps catalog names to frame columns.

        Examples
        --------
        >>> import pandas as pd
        >>> Catalog.from_pandas(pd.DataFrame({"sku": ["a"], "price": [1.0]}),
        ...                     columns={"item": "sku"}).items.ids.tolist()
        ['a']
        """
        rename = {v: k for k, v in (columns or {}).items()}
        names = [rename.get(str(c), str(c)) for c in frame.columns]
        _refuse_duplicates(names, "the DataFrame")
        data = {name: frame.iloc[:, j].to_numpy() for j, name in enumerate(names)}
        if "item" not in data:
            raise UpsellDataError(
                f"no `item` column in the DataFrame: map one with columns={{'item': ...}}; "
                f"it has {', '.join(repr(str(c)) for c in frame.columns)}"
            )
        return cls.from_arrays(**data)

    @classmethod
    def read_csv(cls, path: Any, *, columns: Mapping[str, str] | None = None,
                 delimiter: str = ",", encoding: str = "utf-8", decimal: str = ".",
                 skip_rows: int = 0) -> Catalog:
        """Read a catalog CSV with a header (gzip accepted); ``columns`` maps names to headers.

        ``decimal=","``: columns whose every value is a number written with a decimal
        comma (``4,50``) are read as those numbers; other text is left as it is.
        ``skip_rows``: lines above the table, not read (a price list's title); a file
        whose header sits below such lines stops with the ``skip_rows`` that reads it.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "cat.csv"
        >>> _ = p.write_text("item,price,storage_gb\\nA,10,64\\nB,15,128\\n")
        >>> cat = Catalog.read_csv(p)
        >>> cat.price.tolist(), cat.features["storage_gb"].tolist()
        ([10.0, 15.0], [64.0, 128.0])
        """
        label = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
        rename = {v: k for k, v in (columns or {}).items()}
        import csv  # local: csv and gzip load on use, not with `import upsell`
        import io

        from upsell.data.io import check_skip_rows, read_source, utf8_error

        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise UpsellDataError(f"`delimiter` must be a single character; got {delimiter!r}")
        # gzip by magic bytes (truncated: a clear error), `encoding` checked with the byte
        # offset of the first bad byte, a BOM dropped
        raw = read_source(path, encoding, f"catalog {label}")
        try:
            text = raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise utf8_error(raw, f"catalog {label}", encoding) from None
        del raw
        nul = text.find("\x00")
        if nul >= 0:
            raise UpsellDataError(
                f"catalog {label} line {text.count(chr(10), 0, nul) + 1:,} holds a NUL "
                f"character (byte 0): not a text file, or a damaged one")
        with io.StringIO(text, newline="") as fh:
            # strict: a quote that never closes is an error, not the rest of the file
            # swallowed into one field
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            try:
                for _ in range(check_skip_rows(skip_rows)):
                    next(reader, None)
                above = reader.line_num
                header = next(reader, None)
            except csv.Error as exc:
                raise UpsellDataError(f"catalog {label} header: {exc}") from None
            if header is None:
                raise UpsellDataError(f"catalog {label} is empty")
            try:
                names = _names(header, rename, label)
            except UpsellDataError as exc:  # a title above the table?
                raise UpsellDataError(f"{exc}{_title_lines(reader, header, above, rename)}"
                                      ) from None
            rows = []
            i, line = 0, reader.line_num + 1
            while True:
                i += 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    why = ("a quote opened here never closes" if "end of data" in str(exc)
                           else "a field is longer than the CSV reader's limit"
                           if "field larger" in str(exc) else str(exc))
                    raise UpsellDataError(
                        f"catalog {label} row {i:,} (line {line:,}): {why} ({exc})") from None
                line = reader.line_num + 1
                if not row:
                    continue
                if len(row) != len(names):
                    raise UpsellDataError(
                        f"catalog {label} row {i}: has {len(row)} fields; the header has {len(names)}"
                    )
                rows.append(row)
        return cls._from_texts(names, [[r[j] for r in rows] for j in range(len(names))],
                               label, decimal)

    @classmethod
    def _from_texts(cls, names: list[str], cols: list[list[str]], label: str,
                    decimal: str) -> Catalog:
        """A catalog from its columns' texts (as a CSV holds them), by role or feature name."""
        from upsell.data.io import maybe_int_ids

        if not cols or not cols[0]:
            raise UpsellDataError(f"catalog {label} has a header but no items")
        data: dict[str, Any] = {}
        repaired: dict[str, int] = {}
        comma = C.check_decimal(decimal) == ","
        for name, texts in zip(names, cols, strict=True):
            col = np.array(texts, dtype=str)
            mark = decimal
            if comma and name != "item":  # a column of numbers only: their decimal points
                stripped = np.char.strip(col)
                filled = np.unique(stripped[stripped != ""])
                if filled.size and not C.parse_numbers(filled, decimal=",")[1].any():
                    col, mark = np.char.replace(stripped, ",", "."), "."
            if name in _NUMERIC:
                data[name] = _formatted_numbers(col, name, mark, repaired)
            else:
                data[name] = maybe_int_ids(np.char.strip(col)) if name == "item" else col
        if "family" in data:
            _fill_from_family(data, repaired)
        cat = cls.from_arrays(**data)
        cat.repaired = MappingProxyType(repaired)
        return cat

    @classmethod
    def read_table(cls, path: Any, *, sheet: int | str = 0,
                   columns: Mapping[str, str] | None = None, decimal: str = ".",
                   skip_rows: int = 0) -> Catalog:
        """Read a catalog from a Parquet file (or folder), a workbook's sheet (``.xlsx``,
        ``.xls``, ``.ods``; needs ``upsell[excel]``) or JSON (JSON Lines, or an API's array
        of products: Shopify's ``products.json``, whose ``variants.sku`` make each variant an
        item, the product's fields repeated on it), as :meth:`read_csv` reads its export.

        Every cell is taken as the text a CSV export writes (``85123.0`` is ``85123``), so
        the ids, numbers and errors are :meth:`read_csv`'s. ``sheet``: a workbook's sheet,
        its name or 0-based position; ``skip_rows``: the sheet's first rows, not read (a
        price list's title), as :meth:`Transactions.read_excel` skips them.

        Examples
        --------
        >>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "catalog.parquet"
        >>> pq.write_table(pa.table({"sku": [85123, 71053], "price": [2.55, 3.39]}), p)
        >>> cat = Catalog.read_table(p, columns={"item": "sku"})
        >>> cat.items.ids.tolist(), cat.price.tolist()
        ([71053, 85123], [3.39, 2.55])
        """
        from upsell.data._excel import sheet_texts
        from upsell.data._parquet import parquet_texts
        from upsell.data.io import (
            TABLE_KINDS,
            check_skip_rows,
            existing_path,
            file_kind,
            is_json_lines,
        )

        label = existing_path(path)
        skip = check_skip_rows(skip_rows)
        kind = file_kind(label)  # the file's bytes, looked at once
        rename = {v: k for k, v in (columns or {}).items()}
        if kind in ("text", "gzip") and is_json_lines(label):  # products.json: variants
            from upsell.data._json import json_texts

            header, cols = json_texts(label, columns,
                                      lambda names: _names(names, rename, label))
            return cls._from_texts(_names(header, rename, label), cols, label, decimal)
        parquet = kind in TABLE_KINDS[:2]
        if skip and parquet:
            raise UpsellDataError(f"`skip_rows` goes with a CSV or a workbook; {label} is "
                                  "Parquet, which has no title rows")
        header, cols, at = (*parquet_texts(label), []) if parquet else sheet_texts(label, sheet,
                                                                                    skip)
        try:
            names = _names(header, rename, label)
        except UpsellDataError as exc:  # a title above the sheet's table?
            rows = [header] + [list(r) for r in zip(*(c[:30] for c in cols), strict=False)]
            i = C.header_row(rows, columns, synonyms=C.CATALOG_SYNONYMS, need=("item",))
            if i is None or parquet:
                raise
            raise UpsellDataError(
                f"{exc}{C.header_below(f'sheet row {at[i] + 1}', at[i], rows[i])}") from None
        return cls._from_texts(names, cols, label, decimal)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        fams = len(set(self.family.tolist()) - {""})
        return (f"Catalog(items={len(self):,}, families={fams:,}, "
                f"features={list(self.features)})")

    def column(self, name: str) -> np.ndarray:
        """Return one column (read-only array) by name: a standard column, feature or attribute.

        Examples
        --------
        >>> Catalog.from_arrays(item=["a"], color=["red"]).column("color").tolist()
        ['red']
        """
        if name in self._cols:
            return self._cols[name]
        if name in self.features:
            return self.features[name]
        if name in self.attributes:
            return self.attributes[name]
        known = [*self._cols, *self.features, *self.attributes]
        raise UpsellDataError(f"catalog has no column {name!r}; it has {', '.join(known)}")

    name = property(lambda self: self._cols["name"], doc="Display names.")
    category = property(lambda self: self._cols["category"], doc="Category labels.")
    family = property(lambda self: self._cols["family"], doc="Family labels.")
    kind = property(lambda self: self._cols["kind"], doc="Item kinds.")
    attaches_to = property(lambda self: self._cols["attaches_to"],
                           doc="Family an accessory, warranty or plan serves.")
    tier = property(lambda self: self._cols["tier"], doc="Tier inside the family (NaN unknown).")
    price = property(lambda self: self._cols["price"], doc="List price (NaN unknown).")
    cost = property(lambda self: self._cols["cost"], doc="Unit cost (NaN unknown).")
    stock = property(lambda self: self._cols["stock"], doc="Units in stock (NaN unknown).")
    pack_size = property(lambda self: self._cols["pack_size"], doc="Units per pack.")
    exclusive = property(lambda self: self._cols["exclusive"], doc="Exclusive items.")

    @property
    def margin(self) -> np.ndarray:
        """price - cost per item (NaN where either is unknown)."""
        return self.price - self.cost

    @property
    def in_stock(self) -> np.ndarray:
        """True where stock is unknown or positive."""
        s = self.stock
        return np.isnan(s) | (s > 0)

    def row(self, item: Any) -> dict[str, Any]:
        """All attributes of one item as a dict.

        Examples
        --------
        >>> Catalog.from_arrays(item=["a"], price=[2.5]).row("a")["price"]
        2.5
        """
        i = self.items.index(item)
        out: dict[str, Any] = {"item": self.items.ids[i].item()}
        for src in (self._cols, self.features, self.attributes):
            for k, v in src.items():
                out[k] = v[i].item()
        return out

    def align(self, items: IdIndex) -> Catalog:
        """This catalog re-indexed to ``items``; items it lacks get unknown values.

        Examples
        --------
        >>> cat = Catalog.from_arrays(item=["a", "b"], price=[1.0, 2.0])
        >>> cat.align(IdIndex(["b", "z"])).price.tolist()
        [2.0, nan]
        """
        pos = self.items.encode(items.ids, unknown="mask")
        have = pos >= 0
        src = np.maximum(pos, 0)
        cols: dict[str, Any] = {}
        for k, v in (*self._cols.items(), *self.features.items(), *self.attributes.items()):
            if v.dtype.kind == "f":
                out = np.where(have, v[src], np.nan)
            elif v.dtype.kind == "b":
                out = np.where(have, v[src], False)
            else:
                fill = "product" if k == "kind" else ""
                out = np.where(have, v[src], fill)
                if k == "name":
                    out = np.where(have, out, items.ids.astype(str))
            cols[k] = out
        if not have.all():
            cols["pack_size"] = np.where(have, cols["pack_size"], 1.0)
            cols["tier"] = np.where(have, cols["tier"], np.nan)
        aligned = Catalog(items, **cols)
        aligned.repaired = self.repaired  # what reading the file repaired, still so
        return aligned

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All columns as arrays (for saving); features prefixed ``f:``, attributes ``a:``.

        Examples
        --------
        >>> "f:w" in Catalog.from_arrays(item=["a"], w=[1.0]).to_arrays()
        True
        """
        out = dict(self._cols)
        out.update({f"f:{k}": v for k, v in self.features.items()})
        out.update({f"a:{k}": v for k, v in self.attributes.items()})
        return out

    @classmethod
    def from_saved(cls, items: IdIndex, arrays: Mapping[str, np.ndarray]) -> Catalog:
        """Rebuild a catalog from :meth:`to_arrays` output.

        Examples
        --------
        >>> cat = Catalog.from_arrays(item=["a"], price=[3.0], w=[1.0])
        >>> Catalog.from_saved(cat.items, cat.to_arrays()).features["w"].tolist()
        [1.0]
        """
        cols = {k.split(":", 1)[-1]: v for k, v in arrays.items()}
        return cls(items, **cols)

    def to_pandas(self) -> Any:
        """One row per item (needs pandas).

        Examples
        --------
        >>> Catalog.from_arrays(item=["a"]).to_pandas().shape[0]
        1
        """
        from upsell._extras import require

        pd = require("pandas", "Catalog.to_pandas")
        data = {"item": self.items.ids, **self._cols, **self.features, **self.attributes}
        return pd.DataFrame(data)


def _text(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "U":
        return arr
    out = np.empty(arr.size, dtype=object)
    out[:] = ["" if (v is None or (isinstance(v, float) and v != v)) else str(v) for v in arr]
    return out.astype(str) if out.size else np.array([], dtype=str)


def _try_numbers(arr: np.ndarray) -> np.ndarray | None:
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    if arr.dtype.kind == "b":
        return None
    try:
        vals = [np.nan if (v is None or (isinstance(v, str) and not v.strip())) else float(v)
                for v in arr]
    except (TypeError, ValueError):
        return None
    return np.array(vals, dtype=np.float64)


def _fill_from_family(data: dict[str, Any], repaired: dict[str, int]) -> None:
    """Blank names, categories and kinds of an item take its family's first one, counted:
    Shopify's product export writes a product's title, type and category on its first
    variant's row only (the family is its ``Handle``)."""
    fam = np.char.strip(np.asarray(data["family"], dtype=str))
    has = fam != ""
    if not has.any():
        return
    codes = np.unique(fam[has])
    at = np.searchsorted(codes, fam[has])
    rows = np.flatnonzero(has)
    for name in ("name", "category", "kind"):
        if name not in data:
            continue
        col = np.asarray(data[name], dtype=str)
        blank = np.char.strip(col[rows]) == ""
        if not blank.any() or blank.all():
            continue
        first = np.full(codes.size, -1, dtype=np.int64)  # each family's first filled row
        filled = rows[~blank][::-1]
        first[at[~blank][::-1]] = filled
        take = first[at[blank]]
        ok = take >= 0
        if ok.any():
            col = col.copy()
            col[rows[blank][ok]] = col[take[ok]]
            data[name] = col
            repaired[f"{name} filled from its family's first row"] = int(ok.sum())


def _formatted_numbers(col: np.ndarray, name: str, decimal: str,
                       repaired: dict[str, int]) -> np.ndarray:
    """A numeric role's texts: as they are when plain numbers, else read as a spreadsheet
    shows numbers (``£1,234.50``, ``(12.50)``) when every refused one is, the rows so read
    counted in ``repaired``; else as they are (the constructor names the first refused)."""
    from upsell.data._formatted import formatted_reason, read_formatted

    stripped = np.char.strip(col)
    plain, refused = C.parse_numbers(stripped, decimal=decimal)
    if not refused.any():
        return col
    got, ok = read_formatted(stripped[refused].tolist(), decimal)
    if not ok.all():
        return col
    plain[refused] = got
    example = str(stripped[refused][0])
    repaired[formatted_reason(name, example)] = int(refused.sum())
    return plain


def _names(header: list[str], rename: Mapping[str, str], label: str) -> list[str]:
    """The catalog's column names: headers stripped and renamed by ``columns``; an error
    for two of one name, or for no ``item`` (with the mapping its headers suggest)."""
    names = [rename.get(h.strip().lstrip("\ufeff"), h.strip().lstrip("\ufeff"))
             for h in header]
    _refuse_duplicates(names, f"catalog {label}")
    if "item" not in names:
        guess = C.suggest_columns(names, {r: names.index(r) for r in names
                                          if r in C.CATALOG_SYNONYMS},
                                  synonyms=C.CATALOG_SYNONYMS)
        hint = (f"; its headers look like columns={C.mapping_text(guess)}"
                if "item" in guess else "")
        raise UpsellDataError(
            f"catalog {label} has no `item` column: map one with columns={{'item': ...}}; "
            f"it has {', '.join(repr(h) for h in header)}{hint}"
        )
    return names


def _title_lines(reader: Any, header: list[str], above: int, rename: Mapping[str, str]) -> str:
    """Advice when a record below the catalog's first reads as its header: its line and the
    ``skip_rows`` that reads the file from it; else ``""``."""
    import csv

    rows, starts = [header], [above + 1]
    try:
        for _ in range(30):
            starts.append(reader.line_num + 1)
            rows.append(next(reader))
    except (StopIteration, csv.Error):
        pass
    i = C.header_row(rows, {v: k for k, v in rename.items()}, synonyms=C.CATALOG_SYNONYMS,
                     need=("item",))
    if i is None:
        return ""
    return C.header_below(f"line {starts[i]}", starts[i] - 1, rows[i])


def _refuse_duplicates(names: list[str], source: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UpsellDataError(
                f"{source} has two columns named {name!r}; rename one (which to read would "
                f"be a guess)"
            )
        seen.add(name)


def _catalog_numbers(arr: np.ndarray, key: str, items: IdIndex) -> np.ndarray:
    if arr.dtype.kind in "cm":
        raise UpsellDataError(
            f"catalog column `{key}` holds {'complex numbers' if arr.dtype.kind == 'c' else 'time spans'} "
            f"({arr.dtype}); pass real numbers")
    out = _try_numbers(arr)
    if out is None:
        for i, v in enumerate(arr):
            try:
                if not (v is None or (isinstance(v, str) and not v.strip())):
                    float(v)
            except (TypeError, ValueError):
                from upsell.data._formatted import read_formatted

                shown = isinstance(v, str) and bool(read_formatted([v])[1][0])
                raise UpsellDataError(
                    f"catalog item {items.ids[i].item()!r}: `{key}` {C.py(v)!r} is not a number"
                    + ("; it is written as a spreadsheet shows it (currency, thousands): save "
                       "the column as plain numbers" if shown else "")
                ) from None
        raise UpsellDataError(f"catalog column `{key}` is not numeric")
    return out


def _bools(arr: np.ndarray, key: str, items: IdIndex) -> np.ndarray:
    if arr.dtype.kind == "b":
        return arr.astype(bool)
    truthy = {"1", "true", "yes", "y", "t"}
    falsy = {"0", "false", "no", "n", "f", "", "none", "nan"}
    out = np.zeros(arr.size, dtype=bool)
    for i, v in enumerate(arr):
        s = str(v).strip().lower()
        if s in truthy:
            out[i] = True
        elif s not in falsy:
            raise UpsellDataError(
                f"catalog item {items.ids[i].item()!r}: `{key}` {C.py(v)!r} is not true/false"
            )
    return out


def _check(items: IdIndex, cols: dict[str, np.ndarray]) -> None:
    def fail(mask: np.ndarray, what: str, column: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        raise UpsellDataError(
            f"catalog item {items.ids[i].item()!r}: `{column}` {cols[column][i].item()!r} {what}"
        )

    for key in ("price", "cost", "stock"):
        v = cols[key]
        bad = v < 0
        if bad.any():
            fail(bad, "is negative", key)
        if np.isinf(v).any():
            fail(np.isinf(v), "is infinite", key)
    ps = cols["pack_size"]
    bad = ~(ps > 0) | np.isinf(ps)
    if bad.any():
        fail(bad, "must be a positive number", "pack_size")
    for key in ("price", "cost"):
        bad = np.abs(cols[key]) > _MAX_PRICE
        if bad.any():
            fail(bad, f"is beyond {_MAX_PRICE:.0e}", key)
    tier = cols["tier"]
    has_tier = ~np.isnan(tier)
    bad = has_tier & ((tier != np.round(tier)) | np.isinf(tier))
    if bad.any():
        fail(bad, "must be a whole number", "tier")
    bad = has_tier & (tier < 1)
    if bad.any():
        fail(bad, "must be 1 or more (1 = entry tier)", "tier")
    bad = has_tier & (np.char.str_len(cols["family"]) == 0)
    if bad.any():
        fail(bad, "is given but the item has no `family`", "tier")
    kind = cols["kind"]
    bad = ~np.isin(kind, KINDS)
    if bad.any():
        fail(bad, f"is not a known kind ({', '.join(KINDS)})", "kind")
