"""Shared fixtures: BLAS pinned to one thread, the real data sets (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

_limits = threadpool_limits(limits=1, user_api="blas")

# Hypothesis: no per-example deadline anywhere (a shared 2-core machine makes wall-clock deadlines
# flaky), and in CI (CI=true) a derandomised run, so a submission's result does not depend on luck.
settings.register_profile("dev", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True,
                          print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

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
