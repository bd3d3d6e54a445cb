"""Reading order lines from Parquet and from an Excel workbook, against pandas, same run.

A shop's history often comes as a Parquet export or a spreadsheet rather than a CSV. This
writes the real Online Retail file (``../shared/data``) as both, with the types a user's
file has (pandas' Parquet: float customer ids with gaps, timestamps; UCI's ``.xlsx``:
numeric invoice and stock codes beside text ones, date cells), then times, each in its
own child process (peak memory = the child's ``VmHWM``), interleaved, ``--repeats`` runs:

* ``upsell read_parquet`` / ``read_excel`` / ``read_csv`` (the CSV, for reference): every
  id index, time and number conversion and the cleaning rules;
* ``pandas`` peers: ``read_parquet`` / ``read_excel`` (its default engine, openpyxl) plus
  ``factorize`` of the id columns (reading and id codes only, no cleaning).

Prints the median and best seconds, the peak MB, and how many times faster upsell is::

    python benchmarks/bench_formats.py ../shared/data/online-retail/online_retail_2010-12_to_2011-09.csv.gz

``--side-files`` times the layouts of session 17 instead: the lines in one Parquet file and
each invoice's customer and time in an orders Parquet file, with a customers CSV mapping
each customer id to a person (``read_parquet(orders_file=, customers_file=)`` against
pandas' ``read_parquet`` + two ``merge`` + ``factorize``), and the CSV below two title lines
(``read_csv(skip_rows=2)`` against ``pandas.read_csv(skiprows=2)`` + ``factorize``).

``--exports`` times a history that comes as many files (session 18): the same lines written
as one plain CSV, as monthly exports (10 CSV files, each with its header) and as daily ones
(one CSV file per day with sales), read with ``read_csv(folder)`` against pandas'
``concat`` of ``read_csv`` of each file + ``factorize``.

``--events N`` times an event log instead (session 20): a REES46-shaped file of N events
(93% views, 5% carts, 2% purchases; written by a seeded generator, as CSV, gzip CSV and
Parquet) read with ``where={"event_type": "purchase"}``, against pandas' ``read_csv`` /
``read_parquet`` and a boolean filter, and pandas' ``read_csv(chunksize=)`` filtering each
chunk (the peer that holds one chunk at a time). ``--events-only-upsell`` leaves pandas out
(a 42M-event month needs more memory in pandas than the machine may have).

Needs pandas, openpyxl (to write the workbook and as pandas' reader) and python-calamine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
           "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate",
           "name": "Description"}

_CHILD = r"""
import json, sys, time
from pathlib import Path
kind, reader, path = sys.argv[1:4]
cols = json.loads(sys.argv[4])
folder = Path(path).parent
side = {"orders_file": str(folder / "orders.parquet"), "customers_file": str(folder / "people.csv"),
        "orders_columns": {"order": "InvoiceNo", "customer": "CustomerID", "time": "InvoiceDate"},
        "customers_columns": {"customer": "CustomerID", "person": "Person"}}
line_cols = {r: h for r, h in cols.items() if r not in ("customer", "time")}
t = time.perf_counter()
events = {"order": "user_session", "item": "product_id", "customer": "user_id",
          "time": "event_time", "price": "price"}
if reader == "upsell":
    import upsell
    T = upsell.Transactions
    if kind.startswith("events"):
        read = T.read_parquet if path.endswith(".parquet") else T.read_csv
        tx = read(path, columns=events, where={"event_type": "purchase"})
    elif kind == "split":
        tx = T.read_parquet(path, columns=line_cols, cancel_prefix="C", **side)
    elif kind in ("monthly", "daily"):
        tx = T.read_csv(path, columns=cols, cancel_prefix="C")
        assert len(tx.report.files) > 1
    elif kind == "titled":
        tx = T.read_csv(path, columns=cols, cancel_prefix="C", skip_rows=2)
    else:
        read = {"parquet": T.read_parquet, "excel": T.read_excel, "csv": T.read_csv,
                "plain": T.read_csv}[kind]
        tx = read(path, columns=cols, cancel_prefix="C")
    n = tx.shape[0]
else:
    import pandas as pd
    if kind.startswith("events"):
        use = ["event_time", "event_type", "product_id", "price", "user_id", "user_session"]
        if path.endswith(".parquet"):
            frame = pd.read_parquet(path, columns=use)
            frame = frame[frame["event_type"] == "purchase"]
        elif reader == "pandas-chunks":
            frame = pd.concat([c[c["event_type"] == "purchase"]
                               for c in pd.read_csv(path, usecols=use, chunksize=1_000_000)])
        else:
            frame = pd.read_csv(path, usecols=use)
            frame = frame[frame["event_type"] == "purchase"]
        cols = {"order": "user_session", "item": "product_id", "customer": "user_id"}
    elif kind == "split":
        frame = pd.read_parquet(path).merge(pd.read_parquet(side["orders_file"]), how="left",
                                            on="InvoiceNo")
        frame = frame.merge(pd.read_csv(side["customers_file"], dtype=str), how="left",
                            on="CustomerID")
        frame["CustomerID"] = frame["Person"]
    elif kind == "titled":
        frame = pd.read_csv(path, skiprows=2, dtype={"InvoiceNo": str, "StockCode": str})
    elif kind in ("monthly", "daily"):
        frame = pd.concat([pd.read_csv(f, dtype={"InvoiceNo": str, "StockCode": str})
                           for f in sorted(Path(path).iterdir())], ignore_index=True)
    elif kind == "plain":
        frame = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str})
    else:
        frame = pd.read_parquet(path) if kind == "parquet" else pd.read_excel(path)
    for c in (cols["order"], cols["item"], cols["customer"]):
        pd.factorize(frame[c])
    n = len(frame)
s = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux keeps the forking parent's peak in ru_maxrss across exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM"))
print(json.dumps({"s": s, "lines": n, "peak_mb": hwm / 1024}))
"""


def write_files(csv: Path, folder: Path) -> tuple[Path, Path]:
    """The CSV as pandas writes it to Parquet, and as UCI publishes it in ``.xlsx``."""
    import openpyxl
    import pandas as pd

    frame = pd.read_csv(csv, dtype={"InvoiceNo": str, "StockCode": str},
                        parse_dates=["InvoiceDate"])
    parquet = folder / "online_retail.parquet"
    frame.to_parquet(parquet)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Online Retail")
    sheet.append(list(frame.columns))

    def cell(v):  # numeric codes are numbers in UCI's workbook; blanks are empty cells
        if isinstance(v, str) and v.isdigit():
            return int(v)
        return None if v is pd.NaT or (isinstance(v, float) and v != v) else v

    for row in frame.itertuples(index=False):
        sheet.append([cell(v) for v in row])
    xlsx = folder / "Online Retail.xlsx"
    book.save(xlsx)
    return parquet, xlsx


def write_side_files(csv: Path, folder: Path) -> tuple[Path, Path]:
    """The lines without customer and time, the orders (each invoice's first customer and
    time) and a customers CSV (id -> person, two ids a person) as Parquet and CSV; and the
    CSV below two title lines."""
    import gzip

    import pandas as pd

    frame = pd.read_csv(csv, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
    lines = folder / "lines.parquet"
    frame.drop(columns=["CustomerID", "InvoiceDate", "Country"]).to_parquet(lines)
    orders = frame.drop_duplicates("InvoiceNo")[["InvoiceNo", "CustomerID", "InvoiceDate"]]
    orders.to_parquet(folder / "orders.parquet")
    ids = orders["CustomerID"].dropna().unique()
    pd.DataFrame({"CustomerID": ids, "Person": [f"P{int(float(i)) // 2}" for i in ids]}).to_csv(
        folder / "people.csv", index=False)
    titled = folder / "titled.csv"
    raw = csv.read_bytes()
    with open(titled, "wb") as out:
        out.write(b"Online Retail export\nGenerated 2011-10-01\n")
        out.write(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return lines, titled


def write_exports(csv: Path, folder: Path) -> tuple[Path, Path, Path]:
    """The CSV as one plain file, as a folder of monthly exports and as a folder of daily
    ones (each file with the header, the lines in the file's order)."""
    import gzip
    from csv import reader as csv_rows

    raw = csv.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    head, *lines = text.splitlines(keepends=True)
    plain = folder / "plain.csv"
    plain.write_text(text, encoding="utf-8")
    at = head.rstrip("\r\n").split(",").index("InvoiceDate")
    for name, width in (("monthly", 7), ("daily", 10)):
        out = folder / name
        out.mkdir()
        groups: dict[str, list[str]] = {}
        for line in lines:  # (no field of Online Retail holds a line break)
            groups.setdefault(next(csv_rows([line]))[at][:width], []).append(line)
        for key, rows in groups.items():
            (out / f"online_retail_{key}.csv").write_text(head + "".join(rows), encoding="utf-8")
    return plain, folder / "monthly", folder / "daily"


def write_event_log(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """A REES46-shaped event log of ``n`` events over October 2019 (REES46's columns; 93%
    views, 5% carts, 2% purchases; Zipf-popular products, 300,000 users) as CSV, gzip CSV
    and Parquet."""
    import gzip
    import shutil

    import numpy as np
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    kinds = np.array(["view", "cart", "purchase"])
    csv = folder / "events.csv"
    with open(csv, "w", encoding="utf-8") as fh:
        fh.write("event_time,event_type,product_id,category_id,category_code,brand,price,"
                 "user_id,user_session\n")
        for start in range(0, n, 1_000_000):
            m = min(1_000_000, n - start)
            kind = kinds[rng.choice(3, m, p=[0.93, 0.05, 0.02])]
            sec = np.arange(start, start + m) * (31 * 86400) // n
            product = rng.zipf(1.3, m) % 50_000 + 1_000_000
            user = rng.integers(500_000_000, 500_300_000, m)
            times = (np.datetime64("2019-10-01T00:00:00") + sec.astype("timedelta64[s]")
                     ).astype(str)
            fh.write("".join(
                f"{t.replace('T', ' ')} UTC,{e},{p},2053013555631882655,electronics.smartphone,"
                f"brand{p % 300},{(p % 997) / 3 + 0.99:.2f},{u},{u:x}-{i // 7:08x}\n"
                for i, (t, e, p, u) in enumerate(zip(times, kind, product, user, strict=True),
                                                 start=start)))
    gz = folder / "events.csv.gz"
    with open(csv, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    parquet = folder / "events.parquet"
    pq.write_table(pacsv.read_csv(csv), parquet)
    return csv, gz, parquet


def child(kind: str, reader: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, reader, str(path),
                          json.dumps(COLUMNS)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", type=Path, nargs="?",
                    help="Online Retail's CSV (gzip fine); not needed with --events")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--side-files", action="store_true",
                    help="time an orders file and a customers file beside Parquet lines, and "
                         "a CSV below title lines, instead")
    ap.add_argument("--exports", action="store_true",
                    help="time the lines as monthly and as daily CSV exports in a folder, "
                         "instead")
    ap.add_argument("--events", type=float, metavar="N",
                    help="time an event log of N events (e.g. 5e6) read with where=, instead")
    ap.add_argument("--events-only-upsell", action="store_true",
                    help="with --events: time upsell alone")
    args = ap.parse_args(argv)
    if args.csv is None and not args.events:
        ap.error("the Online Retail CSV is needed (or --events N)")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        if args.events:
            csv, gz, parquet = write_event_log(Path(tmp), int(args.events))
            print(f"wrote {int(args.events):,} events ({csv.stat().st_size / 1e6:,.0f} MB CSV, "
                  f"{gz.stat().st_size / 1e6:,.0f} MB gzip, {parquet.stat().st_size / 1e6:,.0f}"
                  f" MB Parquet) in {time.perf_counter() - t:.0f} s")
            runs = [("events csv", "upsell", csv), ("events csv", "pandas", csv),
                    ("events csv", "pandas-chunks", csv), ("events csv.gz", "upsell", gz),
                    ("events csv.gz", "pandas", gz), ("events parquet", "upsell", parquet),
                    ("events parquet", "pandas", parquet)]
            if args.events_only_upsell:
                runs = [r for r in runs if r[1] == "upsell"]
        elif args.exports:
            plain, monthly, daily = write_exports(args.csv, Path(tmp))
            print(f"wrote {len(list(monthly.iterdir()))} monthly and {len(list(daily.iterdir()))}"
                  f" daily files in {time.perf_counter() - t:.0f} s")
            runs = [("plain", "upsell", plain), ("plain", "pandas", plain),
                    ("monthly", "upsell", monthly), ("monthly", "pandas", monthly),
                    ("daily", "upsell", daily), ("daily", "pandas", daily)]
        elif args.side_files:
            lines, titled = write_side_files(args.csv, Path(tmp))
            print(f"wrote the split and titled files in {time.perf_counter() - t:.0f} s")
            runs = [("csv", "upsell", args.csv), ("split", "upsell", lines),
                    ("split", "pandas", lines), ("titled", "upsell", titled),
                    ("titled", "pandas", titled)]
        else:
            parquet, xlsx = write_files(args.csv, Path(tmp))
            print(f"wrote {parquet.name} ({parquet.stat().st_size / 1e6:.1f} MB) and "
                  f"{xlsx.name} ({xlsx.stat().st_size / 1e6:.1f} MB) in "
                  f"{time.perf_counter() - t:.0f} s")
            runs = [("csv", "upsell", args.csv), ("parquet", "upsell", parquet),
                    ("parquet", "pandas", parquet), ("excel", "upsell", xlsx),
                    ("excel", "pandas", xlsx)]
        got: dict[tuple[str, str], list[dict[str, float]]] = {(k, r): [] for k, r, _ in runs}
        for _ in range(args.repeats):
            for kind, reader, path in runs:
                got[(kind, reader)].append(child(kind, reader, path))
    print("\n| file | reader | lines | median s | best s | peak MB | upsell is N x faster |")
    print("|---|---|---:|---:|---:|---:|---:|")
    table = []
    for kind, reader, _ in runs:
        rs = got[(kind, reader)]
        med = statistics.median(r["s"] for r in rs)
        mine = statistics.median(r["s"] for r in got[(kind, "upsell")])
        ratio = "–" if reader == "upsell" else f"{med / mine:.1f}"
        row = {"file": kind, "reader": reader, "lines": int(rs[0]["lines"]), "median_s": med,
               "best_s": min(r["s"] for r in rs), "peak_mb": max(r["peak_mb"] for r in rs)}
        table.append(row)
        print(f"| {kind} | {reader} | {row['lines']:,} | {med:.2f} | {row['best_s']:.2f} | "
              f"{row['peak_mb']:,.0f} | {ratio} |")
    print("\nupsell's lines are those kept by its cleaning rules; pandas' are the rows read.")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
