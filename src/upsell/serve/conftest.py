"""Doctest collection: the application module needs the ``serve`` extra (starlette, uvicorn)."""

import importlib.util

collect_ignore = [] if all(importlib.util.find_spec(m) for m in ("starlette", "uvicorn")) \
    else ["app.py"]
