"""What a worker holds: the configuration, the loaded model (one reference, swapped whole) and
the offer log; and the runtime folder the workers of one service share.

The runtime folder holds ``state.json`` (the model folder every worker should serve and its
generation, bumped by a reload) and each worker's metric snapshot. A worker that reloads
writes the new generation; the others see it within a second and load the same folder; a
worker started later (a replacement for a dead one) starts from it, not from the folder
the service was started with.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from upsell.exceptions import UpsellDataError
from upsell.recommend import OfferLog, Recommender

__all__ = ["Loaded", "ModelSlot", "ServeConfig", "open_offer_log", "read_state", "write_state"]

#: Environment variable the command passes the configuration to worker processes in.
CONFIG_ENV = "UPSELL_SERVE_CONFIG"
#: Environment variable holding the API key (when no ``--api-key-file`` is given).
KEY_ENV = "UPSELL_API_KEY"


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one service (every worker gets the same).

    Parameters
    ----------
    model_dir : str
        Folder written by ``Recommender.save`` / ``upsell fit``.
    offer_log : str or None
        ``sqlite:PATH`` (or ``sqlite:///PATH``) or a ``postgresql://`` URL; None: no
        ``/v1/events`` (it answers 503).
    api_key : str or None
        Clients send ``Authorization: Bearer <key>``; None: no key (loopback only).
    max_body : int, default 1 MiB
        Largest request body in bytes (413 above).
    max_k : int, default 100
        Largest ``k`` of ``/v1/recommend``.
    runtime_dir : str or None
        The folder the workers share (reload generation, metric snapshots); None: one
        process on its own (tests).
    verify : bool, default True
        Hash every model file on load.

    Examples
    --------
    >>> ServeConfig("/srv/model", api_key="s3cret")
    ServeConfig(model_dir='/srv/model', offer_log=None, api_key='***', max_body=1048576, max_k=100, runtime_dir=None, verify=True)
    """

    model_dir: str
    offer_log: str | None = None
    api_key: str | None = field(default=None, repr=False)
    max_body: int = 1 << 20
    max_k: int = 100
    runtime_dir: str | None = None
    verify: bool = True

    def __repr__(self) -> str:
        key = None if self.api_key is None else "***"
        return (f"ServeConfig(model_dir={self.model_dir!r}, offer_log={self.offer_log!r}, "
                f"api_key={key!r}, max_body={self.max_body}, max_k={self.max_k}, "
                f"runtime_dir={self.runtime_dir!r}, verify={self.verify})")


def open_offer_log(url: str | None) -> OfferLog | None:
    """Open the offer log an ``--offer-log`` value names.

    ``sqlite:PATH`` / ``sqlite:///abs/path`` open (or create) an SQLite file in WAL mode;
    ``postgresql://...`` connects through psycopg (one connection per thread).

    Examples
    --------
    >>> open_offer_log(None) is None
    True
    >>> open_offer_log("mysql://x")
    Traceback (most recent call last):
    ...
    upsell.exceptions.UpsellDataError: `--offer-log` must be sqlite:PATH or a postgresql:// URL; got 'mysql://x'
    """
    if url is None:
        return None
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("///"):
            path = path[2:]
        elif path.startswith("//"):
            raise UpsellDataError(f"`--offer-log` {url!r}: write sqlite:PATH or sqlite:///PATH")
        return OfferLog.sqlite(path)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError:
            raise UpsellDataError("`--offer-log` postgresql:// needs psycopg: "
                                  "pip install 'psycopg[binary]'") from None
        return OfferLog.from_connection(connect=lambda: psycopg.connect(url),
                                        paramstyle="format")
    raise UpsellDataError(f"`--offer-log` must be sqlite:PATH or a postgresql:// URL; "
                          f"got {url!r}")


@dataclass(frozen=True, slots=True)
class Loaded:
    """One loaded model: requests read ``slot.current`` once and use it to the end."""

    rec: Recommender
    model_dir: str
    version: str
    loaded_at: float
    generation: int


def model_version(model_dir: str) -> str:
    """A model's identity: the first 12 hex digits of the SHA-256 of its manifest.

    The manifest lists every file's SHA-256, so two folders with the same version hold
    the same model.
    """
    digest = hashlib.sha256()
    with open(os.path.join(model_dir, "recommender.json"), "rb") as fh:
        digest.update(fh.read())
    return digest.hexdigest()[:12]


class ModelSlot:
    """The model a worker serves; :meth:`swap` replaces it in one reference assignment.

    A request in flight keeps the :class:`Loaded` it read; the old model is freed when
    the last such request ends, so a reload drops no request.
    """

    def __init__(self, config: ServeConfig, offer_log: OfferLog | None) -> None:
        self.config = config
        self.offer_log = offer_log
        self.lock = threading.Lock()  # one load at a time per worker
        self.current: Loaded | None = None

    def load(self, model_dir: str, generation: int, *, verify: bool | None = None) -> Loaded:
        """Load a model folder completely (nothing swapped yet)."""
        model_dir = os.path.abspath(model_dir)
        rec = Recommender.load(model_dir, offer_log=self.offer_log,
                               verify=self.config.verify if verify is None else verify)
        loaded = Loaded(rec=rec, model_dir=model_dir, version=model_version(model_dir),
                        loaded_at=time.time(), generation=generation)
        # warm the pipeline and the learned blend's compiled kernels: the first request
        # pays for neither
        rec.warm()
        return loaded

    def swap(self, loaded: Loaded) -> None:
        """Serve ``loaded`` from the next request on."""
        self.current = loaded
        # the loaded model lives until the next reload: keep the collector off its objects
        # (unfreeze first, so cycles in a model swapped out earlier can still be collected)
        gc.unfreeze()
        gc.collect()
        gc.freeze()


# ---------------------------------------------------------------------- the shared runtime folder
@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    with open(os.path.join(folder, "state.lock"), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def read_state(folder: str) -> dict[str, Any]:
    """``{"model_dir": ..., "generation": n}`` from the runtime folder."""
    with open(os.path.join(folder, "state.json"), encoding="utf-8") as fh:
        state: dict[str, Any] = json.load(fh)
    return state


def write_state(folder: str, model_dir: str, *, bump: bool = True) -> int:
    """Record ``model_dir`` as the model to serve; returns the new generation."""
    from upsell.serve._metrics import replace_text

    with _locked(folder):
        try:
            gen = int(read_state(folder)["generation"]) + (1 if bump else 0)
        except (OSError, ValueError, KeyError):
            gen = 0
        replace_text(os.path.join(folder, "state.json"),
                     json.dumps({"model_dir": os.path.abspath(model_dir), "generation": gen}))
    return gen
