"""docs/handbook.ipynb runs top to bottom on the real Online Retail file (nbclient)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "handbook.ipynb"

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _outputs_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def test_handbook_notebook_runs_top_to_bottom(online_retail_path: Path, tmp_path: Path):
    nbformat = pytest.importorskip(
        "nbformat", reason="nbformat is not installed (pip install nbclient ipykernel)")
    nbclient = pytest.importorskip(
        "nbclient", reason="nbclient is not installed (pip install nbclient ipykernel)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install ipykernel)")
    pytest.importorskip("matplotlib", reason="the notebook draws with matplotlib (upsell[plots])")
    pytest.importorskip("pandas", reason="the notebook shows tables with pandas (upsell[pandas])")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # point the notebook's PATH at the data wherever they are; run in a scratch folder so
    # the report it saves lands there
    setup = [c for c in nb.cells if c.cell_type == "code" and "PATH = " in c.source]
    assert len(setup) == 1, "the notebook sets PATH in one cell"
    setup[0].source = re.sub(r'PATH = ".*"', f"PATH = {json.dumps(str(online_retail_path))}",
                             setup[0].source)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()   # raises CellExecutionError naming the cell that failed

    cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in cells:
        assert not [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    clv = next(c for c in cells if "clv_forecast(tx, calibration_end" in c.source)
    text = _outputs_text(clv)
    assert re.search(r"^\S.* x \S.*$", text, re.M), text            # the method line
    assert "purchase days Jul-Sep: forecast" in text and "nan" not in text.lower()
    top = next(c for c in cells if "top 10% of customers" in c.source)
    assert re.search(r"hold \d+% of forecast value", _outputs_text(top))
    assert (tmp_path / "online-retail-report.html").is_file()
