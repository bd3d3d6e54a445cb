"""The file readers of :class:`~upsell.data.Transactions` (CSV, Parquet, workbooks), kept
in a class of their own that ``Transactions`` inherits; the cleaning keywords they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, cast

from upsell.data._clean import clean

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from upsell.data._clean import Prepared
    from upsell.data.io import ColumnMap
    from upsell.data.transactions import Transactions

__all__ = ["OPTIONS", "FileReaders", "InvalidPolicy", "Policy3", "ReturnsPolicy"]

ReturnsPolicy = Literal["net", "drop", "keep", "raise"]
Policy3 = Literal["keep", "drop", "raise"]
InvalidPolicy = Literal["raise", "drop"]

#: Keywords the readers pass on to from_arrays (cleaning rules and id universes).
OPTIONS = ("returns", "anonymous", "bad_prices", "duplicates", "invalid", "cancel_prefix",
           "item_index", "customer_index", "source", "time_format")


class FileReaders:
    """``Transactions.read_csv``, ``read_parquet`` and ``read_excel``."""

    @classmethod
    def read_csv(cls, path: Any, *, columns: ColumnMap | None = None, delimiter: str = ",",
                 encoding: str = "utf-8", header: bool = True, time_format: str | None = None,
                 decimal: str = ".", orders_file: Any = None, orders_columns: Any = None,
                 customers_file: Any = None, customers_columns: Any = None,
                 skip_rows: int = 0, where: Mapping[str, Any] | None = None,
                 **options: Any) -> Transactions:
        """Read order lines from a CSV file (plain or gzip), parsed by ``pyarrow.csv``.

        Parameters
        ----------
        path : str, path-like, or a list of them
            The file (gzip content decompressed whatever the name); a list, a folder of CSV
            files or a glob pattern is read as one history (monthly exports; docs/data.md).
        columns : mapping, optional
            Role -> header name (or 0-based position when ``header=False``); roles
            are those of :meth:`from_arrays`, ``name`` and ``value`` included.
            Roles not given are looked up under their own names.
        delimiter : str, default ","
            One character, or ``"whitespace"``: columns aligned by runs of spaces or tabs.
        encoding : str, default "utf-8"
        header : bool, default True
            Whether the first line names the columns.
        time_format : str, optional
            How the time column is written, as a strptime format: ``"%d/%m/%Y %H:%M"``
            for 31/12/2011 23:59 (``%z``: a UTC offset, converted to UTC). Default: ISO
            8601, offsets converted to UTC. Day/month dates without it stop with an error
            that names the format which reads every one of them, when one does.
        decimal : {".", ","}, default "."
            The decimal mark of the number columns: ``","`` for exports that write
            ``15,3`` (often with ``delimiter=";"``). Numbers as spreadsheets show them
            (``£1,234.50``, ``(12.50)``, ``1.234,5 €``) are read and counted as repaired;
            a separator that may be the decimal mark (``1,200``) only with the column's support.
        orders_file : str or path-like, optional
            A file of orders (one row per order: a CSV read with the same ``delimiter``
            and ``encoding``, Parquet or a workbook) whose ``customer``, ``time`` or
            ``channel`` each line takes (Olist's orders file); a line whose order it does
            not list is an error, or dropped and counted with ``invalid="drop"``.
        orders_columns : mapping, optional
            The orders file's headers: ``order`` (the key the lines share) and some of
            ``customer``, ``time``, ``channel``.
        customers_file, customers_columns : path-like and mapping, optional
            A file of customers that maps the ids the lines (or their orders) hold,
            ``customer``, to the ``person`` each stands for (Olist's ``customer_id`` ->
            ``customer_unique_id``); an unlisted one is handled as an unlisted order.
        skip_rows : int, default 0
            Lines above the table that are not read (a report's title, its date); a file
            whose header sits below such lines stops with the ``skip_rows`` that reads it.
        where : mapping of str to str or list of str, optional
            The rows to read: header -> the value (or values) its column must hold, e.g.
            ``{"event_type": "purchase"}`` for an event log's purchases, or ``{"not":
            [...]}``, the values it must not hold (``{"status": {"not": ["canceled"]}}``);
            the other rows are dropped and counted, unread by any rule. An event log (views and carts in an
            ``event_type``-like column) read without it stops, naming the ``where`` to pass.
        **options
            Cleaning rules and other keywords of :meth:`from_arrays`.

        Returns
        -------
        Transactions

        Raises
        ------
        UpsellDataError
            Missing file or column, a column name used twice, empty file, a row with the
            wrong number of fields (row and line named), an unterminated quote, text not
            valid in ``encoding`` (byte offset named), a truncated gzip file, bad values
            under ``invalid="raise"``.
        TypeError
            A keyword that is not a cleaning rule (the close match is suggested).

        Notes
        -----
        Ids are stripped (the rows changed are counted as repaired) and become integers
        when every one is a plain integer; customer ids "NULL", "nan", "None", "NA",
        "N/A" (any case) are anonymous lines, counted as repaired.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from upsell.data import Transactions
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
        >>> _ = p.write_text("InvoiceNo,StockCode,Quantity\\n1,A,2\\n1,B,1\\n2,A,1\\n")
        >>> tx = Transactions.read_csv(p, columns={"order": "InvoiceNo", "item": "StockCode",
        ...                                        "quantity": "Quantity"})
        >>> tx.shape, tx.report.rows_read
        ((3, 2, 2), 3)

        Customers and times kept on the orders, in a file of their own:

        >>> o = p.with_name("invoices.csv")
        >>> _ = o.write_text("InvoiceNo,CustomerID,InvoiceDate\\n1,c7,2011-01-02\\n2,c9,2011-01-05\\n")
        >>> tx = Transactions.read_csv(p, columns={"order": "InvoiceNo", "item": "StockCode"},
        ...                            orders_file=o, orders_columns={
        ...                                "order": "InvoiceNo", "customer": "CustomerID",
        ...                                "time": "InvoiceDate"})
        >>> tx.customers.decode(tx.customer).tolist()
        ['c7', 'c7', 'c9']

        Monthly exports in a folder, read as one history:

        >>> (d := p.parent / "exports").mkdir()
        >>> for month, rows in (("01", "1,A\\n1,B\\n"), ("02", "2,A\\n")):
        ...     _ = (d / f"2011-{month}.csv").write_text("order,item\\n" + rows)
        >>> Transactions.read_csv(d).shape, list(Transactions.read_csv(d).report.files.values())
        ((3, 2, 2), [2, 1])
        """
        from upsell.data._readers import read_orders
        from upsell.data.io import read_csv_prepared

        prep, options = read_orders("read_csv", read_csv_prepared, path, options, OPTIONS,
                                    columns=columns, delimiter=delimiter, encoding=encoding,
                                    header=header, time_format=time_format, decimal=decimal,
                                    skip_rows=skip_rows, orders_file=orders_file,
                                    orders_columns=orders_columns, customers_file=customers_file,
                                    customers_columns=customers_columns, where=where)
        return cls._from_prepared(prep, **options)

    @classmethod
    def read_parquet(cls, path: Any, *, columns: ColumnMap | None = None,
                     time_format: str | None = None, decimal: str = ".",
                     orders_file: Any = None, orders_columns: Any = None,
                     customers_file: Any = None, customers_columns: Any = None,
                     where: Mapping[str, Any] | None = None,
                     **options: Any) -> Transactions:
        """Read order lines from a Parquet file, or a folder of them (Spark, pandas, exports).

        The columns keep their types: ids of any type (integral floats, as pandas writes
        ids with gaps, are integer ids; NaN is missing), numbers, decimals, timestamps of
        any unit or zone (to whole UTC seconds) and dates; text follows :meth:`read_csv`'s
        rules, as do its keywords (the side files: a comma-separated UTF-8 CSV, Parquet or
        a workbook) and errors. A folder's ``key=value`` sub-folders are columns too; a
        list of files or a glob pattern is read as one history. Only mapped columns are read.

        Examples
        --------
        >>> import tempfile, pathlib, pyarrow as pa, pyarrow.parquet as pq
        >>> from upsell.data import Transactions
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "orders.parquet"
        >>> pq.write_table(pa.table({"InvoiceNo": [1, 1, 2], "StockCode": ["A", "B", "A"]}), p)
        >>> Transactions.read_parquet(p, columns={"order": "InvoiceNo", "item": "StockCode"}).shape
        (3, 2, 2)
        """
        from upsell.data._parquet import read_prepared
        from upsell.data._readers import read_orders

        prep, options = read_orders("read_parquet", read_prepared, path, options, OPTIONS,
                                    columns=columns, time_format=time_format, decimal=decimal,
                                    orders_file=orders_file, orders_columns=orders_columns,
                                    customers_file=customers_file,
                                    customers_columns=customers_columns, where=where)
        return cls._from_prepared(prep, **options)

    @classmethod
    def read_json(cls, path: Any, *, columns: ColumnMap | None = None,
                  time_format: str | None = None, decimal: str = ".",
                  orders_file: Any = None, orders_columns: Any = None,
                  customers_file: Any = None, customers_columns: Any = None,
                  where: Mapping[str, Any] | None = None,
                  **options: Any) -> Transactions:
        """Read order lines from a JSON Lines file (one JSON record per line; plain or
        gzip), or a list, folder or glob pattern of them: an API's or a warehouse's export.

        The values keep their JSON types (numbers, text, booleans; times as text by
        ``time_format`` or ISO 8601, or numbers with a number ``time_format``), and from
        there every rule, keyword and error is :meth:`read_parquet`'s. Nested values are
        mapped by their dotted paths: an object's keys (``"customer.id"``), and the fields
        of one list of objects (an API order's ``"line_items.sku"``), each object of which
        is one order line, the record's own fields repeated on it; an error names the
        record, and a record whose list is empty is counted as left out. One JSON document
        is read too, record by record: an array of records, or an object holding one under
        a key such as ``orders`` or ``data`` (an API response).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from upsell.data import Transactions
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "lines.jsonl"
        >>> _ = p.write_text('{"order_id": 1, "sku": "A", "qty": 2}\\n'
        ...                  '{"order_id": 1, "sku": "B", "qty": 1}\\n')
        >>> Transactions.read_json(p, columns={"order": "order_id", "item": "sku",
        ...                                    "quantity": "qty"}).shape
        (2, 1, 2)
        >>> _ = p.write_text('{"id": 7, "customer": {"id": 3}, "line_items": '
        ...                  '[{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]}\\n')
        >>> tx = Transactions.read_json(p, columns={
        ...     "order": "id", "customer": "customer.id", "item": "line_items.sku",
        ...     "quantity": "line_items.quantity"})
        >>> tx.shape, tx.quantity.tolist()
        ((2, 1, 2), [2.0, 1.0])
        """
        from upsell.data._json import read_prepared
        from upsell.data._readers import read_orders

        prep, options = read_orders("read_json", read_prepared, path, options, OPTIONS,
                                    columns=columns, time_format=time_format, decimal=decimal,
                                    orders_file=orders_file, orders_columns=orders_columns,
                                    customers_file=customers_file,
                                    customers_columns=customers_columns, where=where)
        return cls._from_prepared(prep, **options)

    @classmethod
    def read_excel(cls, path: Any, *, sheet: int | str | Sequence[int | str] | None = None,
                   columns: ColumnMap | None = None,
                   time_format: str | None = None, decimal: str = ".",
                   orders_file: Any = None, orders_columns: Any = None,
                   customers_file: Any = None, customers_columns: Any = None, skip_rows: int = 0,
                   where: Mapping[str, Any] | None = None, **options: Any) -> Transactions:
        """Read order lines from a sheet of an Excel workbook (``.xlsx``, ``.xlsm``, ``.xls``)
        or an OpenDocument one (``.ods``); needs python-calamine (``upsell[excel]``).

        The sheet's first row names the columns; an empty row is dropped and counted. Number
        cells are numbers (integral ones are integer ids), date cells times (the workbook's
        clock; no zone), other cells text as a CSV export writes them; from there
        :meth:`read_csv`'s rules, report, errors and keywords apply (a list of workbooks, a
        folder or a glob pattern: one history, the same ``sheet`` of each).

        Parameters
        ----------
        sheet : int, str, list of them, or None, default None
            The sheet: its 0-based position or its name; a list of them reads those sheets,
            in its order, as one history. None reads the first sheet and every later sheet
            whose header row names the same columns (a table longer than a sheet's
            1,048,576 rows continued on the next; Online Retail II's two years): a sheet
            with other columns or none is left out, and ``report.not_read`` names it.
        skip_rows : int, default 0
            The sheet's first rows, not read (a report's title above its table).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from upsell.data import Transactions
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "orders.xlsx"
        >>> Transactions.read_excel(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        upsell.exceptions.UpsellDataError: `path` '.../orders.xlsx' does not exist
        """
        from upsell.data._excel import read_prepared
        from upsell.data._readers import read_orders

        prep, options = read_orders("read_excel", read_prepared, path, options, OPTIONS,
                                    sheet=sheet, columns=columns, time_format=time_format,
                                    decimal=decimal, skip_rows=skip_rows, orders_file=orders_file,
                                    orders_columns=orders_columns, customers_file=customers_file,
                                    customers_columns=customers_columns, where=where)
        return cls._from_prepared(prep, **options)

    @classmethod
    def _from_prepared(
        cls, prep: Prepared, *, returns: ReturnsPolicy = "net", anonymous: Policy3 = "keep",
        bad_prices: Policy3 = "drop", duplicates: Policy3 = "keep",
        invalid: InvalidPolicy = "raise", cancel_prefix: str | None = None,
    ) -> Transactions:
        made = cls(**clean(prep, returns=returns, anonymous=anonymous, bad_prices=bad_prices,
                           duplicates=duplicates, invalid=invalid, cancel_prefix=cancel_prefix))
        return cast("Transactions", made)

