"""Shared fixtures: BLAS pinned to one thread, the real data sets (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

_limits = threadpool_limits(limits=1, user_api="blas")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("UPSELL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data set not available: {path} is absent "
                    f"(set UPSELL_SHARED_DATA to the folder that holds it)")
    return path


@pytest.fixture
def groceries_path() -> Path:
    return shared_file("groceries", "groceries.csv")


@pytest.fixture
def retail_path() -> Path:
    return shared_file("fimi", "retail.dat")


@pytest.fixture
def online_retail_path() -> Path:
    return shared_file("online-retail", "online_retail_2010-12_to_2011-09.csv.gz")


@pytest.fixture
def cdnow_sample_path() -> Path:
    return shared_file("cdnow", "CDNOW_sample.txt")


@pytest.fixture
def cdnow_master_path() -> Path:
    return shared_file("cdnow", "CDNOW_master.txt")
