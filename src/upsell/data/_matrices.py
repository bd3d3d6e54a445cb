"""The sparse views of order lines (baskets, customer x item matrices), from plain arrays.

Lines come sorted by (order, item), as :class:`~upsell.data.Transactions` keeps them,
so one pass finds the repeated items of an order. Every matrix returned is CSR with
float32 data, int32 indices, sorted and read-only. scipy is imported on use, so
``import upsell`` does not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp


def freeze_csr(m: sp.csr_matrix) -> sp.csr_matrix:
    """``m`` with int32 indices (int64 indptr past 2**31 entries) and read-only arrays."""
    m.indices = m.indices.astype(np.int32, copy=False)
    m.indptr = m.indptr.astype(np.int32 if m.nnz < 2**31 else np.int64, copy=False)
    for a in (m.data, m.indices, m.indptr):
        a.flags.writeable = False
    return m


def basket_structure(order: np.ndarray, item: np.ndarray, quantity: np.ndarray,
                     n_orders: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR structure (indptr, sorted indices) of the orders x items baskets, numpy alone.

    Returns and the repeated items of an order are left out; both arrays read-only.

    Examples
    --------
    >>> indptr, indices = basket_structure(np.array([0, 0, 0, 1]), np.array([0, 0, 2, 1]),
    ...                                    np.array([1.0, 1.0, 1.0, -1.0]), 2)
    >>> indptr.tolist(), indices.tolist()
    ([0, 2, 2], [0, 2])
    """
    keep = quantity > 0
    rows, cols = order[keep], item[keep]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    if not first.all():
        rows, cols = rows[first], cols[first]
    indptr = np.zeros(n_orders + 1, dtype=np.int32 if rows.size < 2**31 else np.int64)
    np.cumsum(np.bincount(rows, minlength=n_orders), out=indptr[1:])
    indices = cols.astype(np.int32)
    indptr.flags.writeable = False
    indices.flags.writeable = False
    return indptr, indices


def baskets(indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """The 0/1 basket matrix of a :func:`basket_structure`."""
    import scipy.sparse as sp  # local: `import upsell` does not load scipy

    m = sp.csr_matrix((np.ones(indices.size, dtype=np.float32), indices, indptr), shape=shape)
    return freeze_csr(m)


def customer_items(cust: np.ndarray, order: np.ndarray, item: np.ndarray, quantity: np.ndarray,
                   price: np.ndarray | None, weighting: str,
                   shape: tuple[int, int]) -> sp.csr_matrix:
    """Customers x items purchase strength ("count", "binary", "units" or "value").

    Anonymous lines (customer -1) are left out and cells whose net total is not
    positive are not stored. ``price`` is needed for "value" only.

    Examples
    --------
    >>> m = customer_items(np.array([0, 0, 0]), np.array([0, 0, 1]), np.array([0, 1, 0]),
    ...                    np.array([2.0, 1.0, 1.0]), None, "count", (1, 2))
    >>> m.toarray().tolist()
    [[2.0, 1.0]]
    """
    import scipy.sparse as sp  # local: `import upsell` does not load scipy

    known = cust >= 0
    if weighting in ("count", "binary"):
        # one count per (order, item) with positive net quantity; lines are sorted by
        # (order, item) so repeated lines of one order are adjacent
        first = np.ones(order.size, dtype=bool)
        first[1:] = (order[1:] != order[:-1]) | (item[1:] != item[:-1])
        group = np.cumsum(first) - 1
        net = np.bincount(group, weights=quantity)
        pos = (net > 0)[group] & first & known
        data = np.ones(int(pos.sum()), dtype=np.float32)
        m = sp.csr_matrix((data, (cust[pos], item[pos])), shape=shape)
    else:
        w = quantity if weighting == "units" else quantity * price
        m = sp.csr_matrix((w[known], (cust[known], item[known])), shape=shape,
                          dtype=np.float64)
    m.sum_duplicates()
    m.data[m.data < 0] = 0
    m.eliminate_zeros()
    m = m.astype(np.float32)
    if weighting == "binary":
        m.data[:] = 1.0
    m.sort_indices()
    return freeze_csr(m)


def reweight(counts: sp.csr_matrix, weighting: str, k1: float, b: float) -> sp.csr_matrix:
    """BM25 ("bm25", with ``k1`` and ``b``) or TF-IDF ("tfidf") of a count matrix.

    Customers are the documents and items the terms; see
    :meth:`Transactions.customer_items <upsell.data.Transactions.customer_items>`.
    """
    import scipy.sparse as sp  # local: `import upsell` does not load scipy

    base = counts.tocoo()
    n_rows = max(base.shape[0], 1)
    df = np.bincount(base.col, minlength=base.shape[1])
    idf = np.log(n_rows) - np.log1p(df)
    data = base.data.astype(np.float64)
    if weighting == "tfidf":
        data = np.sqrt(data) * idf[base.col]
    else:
        row_sums = np.bincount(base.row, weights=data, minlength=base.shape[0])
        avg = row_sums.mean() if row_sums.size else 1.0
        length = (1.0 - b) + b * row_sums / (avg if avg > 0 else 1.0)
        data = data * (k1 + 1.0) / (k1 * length[base.row] + data) * idf[base.col]
    m = sp.csr_matrix((data.astype(np.float32), (base.row, base.col)), shape=base.shape)
    m.eliminate_zeros()
    m.sort_indices()
    return freeze_csr(m)
