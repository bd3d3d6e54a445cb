"""One local Spark session for every spark test (skipped without pyspark or Java), and shared data."""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import pytest

from upsell.datasets import make_shop


def _java() -> bool:
    home = os.environ.get("JAVA_HOME")
    return shutil.which("java") is not None or bool(home and os.path.exists(
        os.path.join(home, "bin", "java")))


@pytest.fixture(scope="session")
def spark() -> Any:
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install \"upsell[spark]\")")
    if not _java():
        pytest.skip("Java is not installed (Spark needs a JVM: set JAVA_HOME or put java on PATH)")
    from upsell.spark import local_session

    session = local_session(cores=2, driver_memory="1g", shuffle_partitions=2,
                            app_name="upsell-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


SCHEMA = ("order string, item string, customer string, quantity string, price double, "
          "time timestamp, channel string")


def dirty_lines(random_state: int = 0) -> tuple[Any, Any]:
    """(pandas DataFrame of raw lines, Shop): a make_shop sample with every kind of dirt.

    Cancellations of bought lines in full, in part and beyond what was bought; plain
    negative lines, one of an item never bought and one anonymous; a void in an anonymous
    order (netted within it); anonymous lines in
    orders with a customer; zero quantities, zero, negative and missing prices,
    missing ids and times, an infinite quantity, a quantity that is not a number,
    and duplicate lines. Quantities are strings, as a CSV would give them.
    """
    import pandas as pd

    shop = make_shop(n_customers=300, n_items=80, n_orders=1500, random_state=random_state)
    base = shop.transactions.to_pandas()
    rng = np.random.default_rng(random_state)
    named = base[base["customer"].notna()].reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    pick = rng.choice(len(named), size=60, replace=False)
    for j, p in enumerate(pick.tolist()):
        r = named.iloc[p].to_dict()
        q = float(r["quantity"])
        back = q if j % 3 == 0 else (1.0 if q > 1 else q) if j % 3 == 1 else q + 1
        rows.append({**r, "order": "C" + str(r["order"]), "quantity": back,
                     "time": r["time"] + pd.Timedelta(days=3)})
    r = named.iloc[int(pick[0])].to_dict()
    rows.append({**r, "order": "R1", "quantity": -1.0})
    rows.append({**r, "order": "R2", "item": "I_NEVER", "quantity": -2.0})
    rows.append({**r, "order": "R3", "customer": None, "quantity": -1.0})
    # an anonymous order with a void at the till: netted within the order
    rows.append({**r, "order": "V1", "customer": None, "quantity": 3.0})
    rows.append({**r, "order": "V1", "customer": None, "quantity": -1.0})
    raw = pd.concat([base, pd.DataFrame(rows)], ignore_index=True)
    raw["quantity"] = raw["quantity"].astype(float)
    multi = raw[raw["customer"].notna() & raw["order"].duplicated(keep=False)].index[:5]
    raw.loc[multi, "customer"] = None
    extra = raw.iloc[:12].copy()
    extra["order"] = [f"X{j}" for j in range(12)]
    extra.loc[extra.index[0], "quantity"] = 0.0
    extra.loc[extra.index[1], "price"] = 0.0
    extra.loc[extra.index[2], "price"] = -3.0
    extra.loc[extra.index[3], "price"] = np.nan
    extra.loc[extra.index[4], "item"] = None
    extra.loc[extra.index[5], "order"] = None
    extra.loc[extra.index[6], "time"] = pd.NaT
    extra.loc[extra.index[7], "quantity"] = np.inf
    raw = pd.concat([raw, extra, raw.iloc[100:104]], ignore_index=True)
    qty = raw["quantity"].map(lambda v: "" if pd.isna(v) else repr(float(v))).astype(object)
    qty.iloc[-20] = "abc"
    qty.iloc[-21] = ""
    raw["quantity"] = qty
    raw = raw.sample(frac=1.0, random_state=random_state).reset_index(drop=True)
    return raw, shop


def spark_rows(frame: Any) -> list[tuple[Any, ...]]:
    """Rows of a pandas frame as Python values for createDataFrame (NaT and None as None).

    Going through Python rows rather than pandas keeps pyspark's pandas-version
    warning (pandas >= 3) out of the tests.
    """
    numeric = [frame[c].dtype.kind == "f" for c in frame.columns]
    out = []
    for row in frame.itertuples(index=False):
        vals: list[Any] = []
        for v, is_num in zip(row, numeric, strict=True):
            if v is None or type(v).__name__ == "NaTType":
                vals.append(None)
            elif isinstance(v, float) and v != v and not is_num:
                vals.append(None)  # a missing id or text, not a NaN number
            elif hasattr(v, "to_pydatetime"):
                vals.append(v.to_pydatetime())
            elif isinstance(v, np.generic):
                vals.append(v.item())
            else:
                vals.append(v)
        out.append(tuple(vals))
    return out


@pytest.fixture(scope="session")
def dirty(spark: Any) -> tuple[Any, Any]:
    """(raw pandas lines, the same lines as a Spark DataFrame)."""
    raw, _ = dirty_lines()
    return raw, spark.createDataFrame(spark_rows(raw), SCHEMA)


@pytest.fixture(scope="session")
def shop_pair(spark: Any) -> tuple[Any, Any, Any]:
    """(Shop, its clean Transactions as SparkTransactions): one make_shop sample, cleaned once."""
    from upsell.spark import from_spark

    shop = make_shop(n_customers=300, n_items=80, n_orders=1500, random_state=0)
    pdf = shop.transactions.to_pandas()
    schema = ("order string, item string, customer string, quantity double, price double, "
              "time timestamp, channel string")
    stx = from_spark(spark.createDataFrame(spark_rows(pdf), schema))
    return shop, stx, shop.transactions
