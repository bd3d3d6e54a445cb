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
import json, resource, sys, time
kind, reader, path = sys.argv[1:4]
cols = json.loads(sys.argv[4])
t = time.perf_counter()
if reader == "upsell":
    import upsell
    read = {"parquet": upsell.Transactions.read_parquet, "excel": upsell.Transactions.read_excel,
            "csv": upsell.Transactions.read_csv}[kind]
    tx = read(path, columns=cols, cancel_prefix="C")
    n = tx.shape[0]
else:
    import pandas as pd
    frame = pd.read_parquet(path) if kind == "parquet" else pd.read_excel(path)
    for c in (cols["order"], cols["item"], cols["customer"]):
        pd.factorize(frame[c])
    n = len(frame)
print(json.dumps({"s": time.perf_counter() - t, "lines": n,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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


def child(kind: str, reader: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, kind, reader, str(path),
                          json.dumps(COLUMNS)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", type=Path, help="Online Retail's CSV (gzip fine)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        parquet, xlsx = write_files(args.csv, Path(tmp))
        print(f"wrote {parquet.name} ({parquet.stat().st_size / 1e6:.1f} MB) and {xlsx.name} "
              f"({xlsx.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.0f} s")
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
