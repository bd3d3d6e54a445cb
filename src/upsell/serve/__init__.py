"""HTTP/JSON service for shop back ends in any language: ``upsell serve MODEL_DIR``.

Needs the ``serve`` extra (starlette, uvicorn): ``pip install "upsell[serve]"``. Endpoints:
``POST /v1/recommend``, ``POST /v1/events``, ``POST /v1/reload``, ``GET /v1/health``,
``GET /metrics``, ``GET /openapi.json`` (see docs/serve.md and docs/openapi.json).

The application (:func:`create_app`) is imported only when asked for, so the command's
options and checks work without the extra installed.

Examples
--------
>>> from upsell.serve import ServeConfig
>>> ServeConfig("model").max_k
100
"""

from __future__ import annotations

from typing import Any

from upsell.serve._requests import RequestError
from upsell.serve._state import ServeConfig
from upsell.serve.cli import add_arguments, main

__all__ = ["RequestError", "ServeConfig", "add_arguments", "create_app", "main"]


def create_app(config: ServeConfig, *, offer_log: Any = None) -> Any:
    """The service's ASGI application; see :func:`upsell.serve.app.create_app`."""
    from upsell.serve.app import create_app as build

    return build(config, offer_log=offer_log)
