"""mkdocs hooks: the API reference pages, and stand-ins for module guides still being written.

- ``api/<module>.md`` is generated for every module in the nav; a module that does not
  import yet gets a short page saying so, so the site builds while it is being written.
- A module guide listed in the nav but absent from docs/ (as ``cf.md``, ``tiers.md`` and
  ``recommend.md`` were while their authors wrote them) gets a stand-in pointing at the API page.
- Links to ``../benchmarks/README.md`` (right on GitHub) point at the included page.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

API = ("upsell", "data", "datasets", "segments", "bundles", "cf", "tiers", "recommend", "kpi",
       "evaluate", "report", "spark", "persist", "serve")
GUIDES = {"cf.md": ("Collaborative filtering", "cf"), "tiers.md": ("Tiers and upsell", "tiers"),
          "recommend.md": ("Recommender", "recommend"), "data.md": ("Data", "data"),
          "segments.md": ("Segments", "segments"), "bundles.md": ("Bundles", "bundles"),
          "kpi.md": ("KPIs", "kpi"), "evaluate.md": ("Evaluation", "evaluate")}
_BENCH = re.compile(r"\]\(\.\./benchmarks/README\.md")


def _module(name: str) -> str:
    return "upsell" if name == "upsell" else f"upsell.{name}"


def _api_page(name: str) -> str:
    module = _module(name)
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        return (f"# `{module}`\n\n`{module}` is being written; its reference appears here "
                "as soon as it is importable.\n")
    if name == "upsell":
        return ("# `upsell`\n\nThe top-level package: data containers and exceptions; the "
                "subpackages load on first use.\n\n::: upsell\n    options:\n"
                "      show_submodules: false\n")
    if name == "report":
        return (f"# `{module}`\n\n::: {module}\n\n::: upsell.report.plots\n")
    return f"# `{module}`\n\n::: {module}\n"


def on_files(files: Files, config: Any) -> Files:
    for name in API:
        files.append(File.generated(config, f"api/{name}.md", content=_api_page(name)))
    docs = Path(config["docs_dir"])
    for page, (title, name) in GUIDES.items():
        if not (docs / page).exists():
            text = (f"# {title}\n\nThe guide to `{_module(name)}` is being written. Until it "
                    f"lands, see the [API reference](api/{name}.md) and the "
                    "[user guide](guide.md).\n")
            files.append(File.generated(config, page, content=text))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    depth = page.file.src_uri.count("/")
    return _BENCH.sub("](" + "../" * depth + "benchmarks.md", markdown)
