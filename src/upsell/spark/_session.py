"""Importing pyspark lazily, and a small local session for notebooks, tests and benchmarks."""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import Any

from upsell._extras import require
from upsell.exceptions import UpsellDataError

__all__ = ["local_session"]


def pyspark_modules(feature: str) -> tuple[ModuleType, ModuleType]:
    """``(pyspark.sql.functions, pyspark.sql.types)``, or the ImportError naming the extra."""
    require("pyspark", feature)
    F = require("pyspark.sql.functions", feature)
    T = require("pyspark.sql.types", feature)
    return F, T


def check_frame(df: Any, name: str = "df") -> Any:
    """Refuse anything that is not a Spark DataFrame, naming what came."""
    require("pyspark", "upsell.spark")
    from pyspark.sql import DataFrame

    if not isinstance(df, DataFrame):
        raise UpsellDataError(f"`{name}` must be a Spark DataFrame; got {type(df).__name__}")
    return df


def local_session(*, cores: int = 2, driver_memory: str = "1g", app_name: str = "upsell",
                  shuffle_partitions: int | None = None, **conf: str) -> Any:
    """A Spark session in local mode with settings fit for one machine.

    UI off, shuffle partitions a small multiple of ``cores``, the session time
    zone UTC (so timestamps mean what they mean to the local engine, which reads
    times without a zone), Python workers running this interpreter (``PYSPARK_PYTHON``
    is set to it unless already set), and the
    driver bound to the loopback interface (no network needed). Returns the active session when there is one.

    Parameters
    ----------
    cores : int, default 2
        ``local[cores]``.
    driver_memory : str, default "1g"
        JVM heap of the driver (which is also the executor in local mode).
    app_name : str, default "upsell"
    shuffle_partitions : int, optional
        Default ``2 * cores``; Spark's own default of 200 wastes time on small data.
    **conf : str
        Further Spark settings, e.g. ``**{"spark.local.dir": "/tmp/spark"}``.

    Returns
    -------
    pyspark.sql.SparkSession

    Examples
    --------
    >>> from upsell.spark import local_session
    >>> spark = local_session(cores=2)  # doctest: +SKIP
    >>> spark.conf.get("spark.sql.session.timeZone")  # doctest: +SKIP
    'UTC'
    >>> callable(local_session)
    True
    """
    require("pyspark", "local_session")
    from pyspark.sql import SparkSession

    settings = {
        "spark.ui.enabled": "false",
        "spark.driver.memory": driver_memory,
        "spark.sql.shuffle.partitions": str(shuffle_partitions or 2 * cores),
        "spark.default.parallelism": str(2 * cores),
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.sql.adaptive.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Python workers run this interpreter (with upsell, numpy, scipy), not the PATH's
        "spark.pyspark.python": sys.executable,
        **conf,
    }
    # pyspark reads the workers' interpreter from the environment when the context starts
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(f"local[{int(cores)}]").appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        # starting a session makes pyspark check the pandas version and warn
        # (FutureWarning) about pandas >= 3, whether or not pandas is ever used
        warnings.simplefilter("ignore", FutureWarning)
        return builder.getOrCreate()
