"""Saving and loading a Recommender: one folder of ``.npz`` + JSON files, checked on load.

The folder is untrusted input on load (see ``docs/hardening.md``): every path the
manifest names stays inside it, every file is listed with its size and SHA-256,
and only registered source, rule and blend classes are rebuilt.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from typing import Any

from upsell.data.catalog import Catalog
from upsell.data.ids import IdIndex
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.persist import (
    check_array,
    fail,
    index_arrays,
    index_from_arrays,
    read_json,
    read_model,
    resolve_inside,
    write_model,
)
from upsell.recommend._files import MANIFEST, file_digest, write_directory
from upsell.recommend.blending import blend_types
from upsell.recommend.filters import FrequencyCap, rule_from_config, rule_to_config
from upsell.recommend.history import CustomerHistory, SegmentMap
from upsell.recommend.moments import MomentPolicy
from upsell.recommend.offerlog import OfferLog, SQLiteOfferLog
from upsell.recommend.sources import PopularitySource, source_types
from upsell.tiers import QuantityBreaks

__all__ = ["load", "save"]

#: Format 2: the folder holds a blend (older upsell refuses it instead of dropping the blend).
#: Format 3: it holds a rule's learned state under ``rules/`` (LearnFromOutcomes posteriors).
_FORMAT = 3
_FORMAT_BLEND = 2
_FORMAT_NO_BLEND = 1
_RULES_DIR = "rules"


def _accepted(fn: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword options that a source class's ``load`` declares (user classes may not)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in options.items()
            if k in params and params[k].kind in (inspect.Parameter.KEYWORD_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD)}


#: The parts a saved recommender may hold besides its sources (catalog.npz always).
_PARTS = ("catalog.npz", "history.npz", "segments.npz", "popularity.npz", "breaks.npz")


def _raise(exc: Exception) -> Any:
    raise exc


def _checked_files(root: str, man: str, doc: dict[str, Any], verify: bool) -> dict[str, str]:
    """The manifest's ``files``, each confined to the folder, present, of its size and digest.

    Returns relative name -> resolved path. A part the folder holds but the
    manifest does not list is refused too: an emptied or trimmed ``files``
    would otherwise load a recommender without its history or segments.
    """
    files = doc.get("files")
    if not isinstance(files, dict):
        raise fail(man, "files", "must be an object of file name -> size and sha256")
    out: dict[str, str] = {}
    for rel, info in files.items():
        full = resolve_inside(root, rel, what="`files` entry")
        if not (isinstance(info, dict) and type(info.get("size")) is int
                and info["size"] >= 0 and isinstance(info.get("sha256"), str)):
            raise fail(man, f"files[{rel!r}]", "needs an integer size and a sha256 string")
        if not os.path.isfile(full):
            raise ModelFileError(f"{root!r} is partial: {rel} is missing", file=full,
                                 member=rel, problem="missing")
        size = os.path.getsize(full)
        if size != info["size"]:
            raise ModelFileError(f"{root!r} is corrupted: {rel} has {size} bytes, expected "
                                 f"{info['size']}", file=full, problem="size mismatch")
        if verify and file_digest(full) != info["sha256"]:
            raise ModelFileError(f"{root!r} is corrupted: {rel} checksum mismatch", file=full,
                                 problem="checksum mismatch")
        out[rel] = full
    if "catalog.npz" not in out:
        raise ModelFileError(f"{root!r} is partial: the manifest does not list catalog.npz",
                             file=man, member="files", problem="catalog.npz not listed")
    present = [p for p in _PARTS if os.path.lexists(os.path.join(root, p))]
    for sub in ("sources", _RULES_DIR):
        sub_dir = os.path.join(root, sub)
        if os.path.isdir(sub_dir) and not os.path.islink(sub_dir):
            present += [f"{sub}/{n}" for n in sorted(os.listdir(sub_dir)) if n.endswith(".npz")]
    blend_dir = os.path.join(root, _BLEND_DIR)
    if os.path.lexists(blend_dir):
        if os.path.islink(blend_dir) or not os.path.isdir(blend_dir):
            raise ModelFileError(f"{root!r}: {_BLEND_DIR!r} must be a folder inside it",
                                 file=blend_dir, problem="not a folder")
        for base, dirs, names in os.walk(blend_dir):  # symbolic links are not followed
            rel_base = os.path.relpath(base, root).replace(os.sep, "/")
            present += [f"{rel_base}/{n}" for n in sorted(names)]
            present += [f"{rel_base}/{d}" for d in sorted(dirs)
                        if os.path.islink(os.path.join(base, d))]
    unlisted = [p for p in present if p not in out]
    if unlisted:
        raise ModelFileError(
            f"{root!r}: the folder holds {', '.join(unlisted)} but the manifest's `files` does "
            f"not list it: an edited or mixed-up manifest; refusing to load without it",
            file=man, member="files", problem=f"{unlisted[0]} not listed")
    return out


def save(rec: Any, path: str | os.PathLike[str]) -> None:
    """Write ``rec`` (see :meth:`Recommender.save`)."""
    pipe = rec._pipeline()
    types = source_types()
    plan = []
    for pos, s in enumerate(pipe.sources_):
        cls = type(s)
        if not (callable(getattr(s, "save", None)) and callable(getattr(cls, "load", None))):
            raise UpsellDataError(
                f"source {s.name!r} ({cls.__name__}) cannot be saved: it has no save(path) "
                f"and load(path); add them and register the class with "
                f"upsell.recommend.register_source, or rebuild the recommender in code")
        if types.get(cls.__qualname__) is not cls:
            raise UpsellDataError(
                f"source {s.name!r} ({cls.__name__}) cannot be saved: register its class "
                f"with upsell.recommend.register_source so that load can rebuild it")
        get_config = getattr(s, "get_config", None)
        cfg = get_config() if callable(get_config) else {}
        plan.append((f"sources/{pos:02d}_{s.name}.npz", s, cfg))
    rules = [rule_to_config(r) for r in pipe.rules_]
    # rules that learned something (LearnFromOutcomes) keep it as arrays beside the manifest
    states = {pos: r.get_state() for pos, r in enumerate(pipe.rules_)
              if callable(getattr(r, "get_state", None))}
    for pos in states:
        rules[pos]["state"] = f"{_RULES_DIR}/{pos:02d}_{pipe.rules_[pos].name}.npz"
    log = pipe.offer_log
    log_doc = {"sqlite": os.path.abspath(log.path), "table": log.table} \
        if isinstance(log, SQLiteOfferLog) else None
    cat = pipe.catalog
    blend_doc = _blend_plan(rec.blend)
    breaks = pipe.quantity_breaks_

    def fill(tmp: str) -> None:
        write_model(os.path.join(tmp, "catalog.npz"), kind="Catalog", params={},
                    arrays={**index_arrays(cat.items, "items"),
                            **{f"c:{k}": v for k, v in cat.to_arrays().items()}},
                    meta={"item_kind": cat.items.kind})
        if pipe.history_ is not None:
            pipe.history_.save(os.path.join(tmp, "history.npz"))
        if pipe.segments_ is not None:
            pipe.segments_.save(os.path.join(tmp, "segments.npz"))
        if pipe.popularity_ is not None:
            pipe.popularity_.save(os.path.join(tmp, "popularity.npz"))
        if breaks is not None and len(breaks):  # a shop without volume prices: no file
            breaks.save(os.path.join(tmp, "breaks.npz"))
        if plan:
            os.mkdir(os.path.join(tmp, "sources"))
        for rel, s, _cfg in plan:
            s.save(os.path.join(tmp, rel))
        if blend_doc is not None:
            _save_blend(rec.blend, tmp, blend_doc)
        if states:
            os.mkdir(os.path.join(tmp, _RULES_DIR))
        for pos, arrays in states.items():
            write_model(os.path.join(tmp, rules[pos]["state"]), kind="RuleState",
                        params={"type": rules[pos]["type"]}, arrays=arrays)
        files = {}
        for root, _dirs, names in os.walk(tmp):
            for n in names:
                full = os.path.join(root, n)
                rel = os.path.relpath(full, tmp).replace(os.sep, "/")
                files[rel] = {"size": os.path.getsize(full), "sha256": file_digest(full)}
        doc = {
            "format_version": _FORMAT if states else (
                _FORMAT_BLEND if blend_doc is not None else _FORMAT_NO_BLEND),
            "kind": "Recommender",
            "params": {"weights": None if rec.blend is not None else pipe.weights_,
                       "min_score": pipe.min_score_,
                       "normalize": "max" if rec.blend is not None else pipe.normalize_,
                       "segment_boost": pipe.segment_boost_,
                       "default_probability": pipe.default_probability_,
                       "candidates_per_source": pipe.n_candidates_,
                       "policy": rec.policy},
            "sources": [{"type": type(s).__qualname__, "name": s.name, "config": cfg,
                         "file": rel, "upsell": s.name == pipe.upsell_name}
                        for rel, s, cfg in plan],
            "rules": rules, "moments": pipe.moments_.to_dict(),
            "cue_templates": pipe.cues_.to_dict(),
            "opportunity": None if pipe.opportunity_ is None else pipe.opportunity_.to_dict(),
            "offer_log": log_doc, "files": files,
        }
        if blend_doc is not None:
            doc["blend"] = blend_doc
        try:
            text = json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UpsellDataError(f"recommender settings are not JSON-serialisable ({exc})") \
                from None
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as fh:
            fh.write(text)

    write_directory(path, fill)


def is_saved(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding a recommender's manifest (see
    :meth:`Recommender.is_saved`)."""
    return os.path.isfile(os.path.join(os.fspath(path), MANIFEST))


def load(cls: Any, path: str | os.PathLike[str], *, offer_log: OfferLog | None = None,
         verify: bool = True) -> Any:
    """Read a recommender (see :meth:`Recommender.load`)."""
    root = os.fspath(path)
    if not os.path.isdir(root):
        if os.path.exists(root):  # order lines given for the model, say
            raise ModelFileError(f"recommender directory {root!r} is a file, not the folder "
                                 "Recommender.save (upsell fit) writes", file=root,
                                 problem="not a directory")
        raise ModelFileError(f"recommender directory {root!r} does not exist", file=root,
                             problem="does not exist")
    man = os.path.join(root, MANIFEST)
    if not os.path.isfile(man):
        raise ModelFileError(f"{root!r} is not a saved recommender or is partial: "
                             f"{MANIFEST} is missing", file=man, problem="missing")
    # the manifest too must lie inside the folder (a symlink out of it is refused)
    man = resolve_inside(root, MANIFEST, what="manifest")
    try:
        doc = read_json(man)
        if not isinstance(doc, dict) or doc.get("kind") != "Recommender":
            raise fail(man, "kind", "does not describe a Recommender")
        version = doc.get("format_version")
        if type(version) is not int or not 1 <= version <= _FORMAT:
            raise ModelFileError(
                f"{root!r} has format version {version!r}; this upsell reads up to "
                f"{_FORMAT}: upgrade upsell to load it", file=man, member="format_version",
                problem=f"format version {version!r}")
        files = _checked_files(root, man, doc, verify)
        rec = _from_doc(cls, root, doc, files, offer_log)
        rec._pipeline()  # assembled and checked now, like a fresh recommender's first use
    except ModelFileError as exc:
        if exc.file is None:  # raised without knowing the folder (resolve_inside, rules)
            raise ModelFileError(f"{root!r}: {exc}", file=man, member=exc.member,
                                 problem=exc.problem) from None
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
            RecursionError, UpsellDataError) as exc:
        raise ModelFileError(f"{root!r} is corrupted: its content does not make a "
                             f"Recommender ({type(exc).__name__}: {exc})", file=root,
                             problem=f"{type(exc).__name__}: {exc}") from None
    if offer_log is None and rec.saved_offer_log_ is not None and any(
            isinstance(r, FrequencyCap) for r in rec.rules_):
        import warnings

        from upsell.exceptions import UpsellWarning

        warnings.warn(
            f"{root!r} was saved with the SQLite offer log "
            f"{rec.saved_offer_log_['sqlite']!r}; load does not open it, so its frequency "
            f"caps are off: pass offer_log=OfferLog.sqlite(rec.saved_offer_log_['sqlite']) "
            f"(or another log) to keep them", UpsellWarning, stacklevel=2)
    return rec



def _from_doc(cls: Any, root: str, doc: dict[str, Any], files: dict[str, str],
              offer_log: OfferLog | None) -> Any:
    from upsell.segments import OpportunityMatrix

    man = os.path.join(root, MANIFEST)
    # the manifest has checked each file's SHA-256 (when asked): no second digest
    opts: dict[str, Any] = {"verify": False, "mmap": True}
    cat_file = files["catalog.npz"]
    _, arrs = read_model(cat_file, kind="Catalog", **opts)
    items = index_from_arrays(arrs, "items", name="item")
    for key, col in arrs.items():  # the Catalog constructor checks values and meaning
        if not key.startswith("c:"):
            raise fail(cat_file, key, "is not a catalog column")
        check_array(col, file=cat_file, member=key, kind="fbU", shape=(len(items),),
                    finite=False)
    catalog = Catalog.from_saved(items, {k[2:]: v for k, v in arrs.items()})
    # one customer map and one item map, shared by every part that holds an equal one
    shared: list[IdIndex] = [items]
    opts["ids"] = shared
    history = CustomerHistory.load(files["history.npz"], **opts) \
        if "history.npz" in files else None
    if history is not None and history.items is not items:
        if history.items != items:
            raise fail(files["history.npz"], "items", "holds other items than the catalog")
        history = CustomerHistory(history.customers, items, history.last_bought)
    segments = SegmentMap.load(files["segments.npz"], **opts) \
        if "segments.npz" in files else None
    popularity = PopularitySource.load(files["popularity.npz"], **opts) \
        if "popularity.npz" in files else None
    breaks = QuantityBreaks.load(files["breaks.npz"], verify=False) \
        if "breaks.npz" in files else None
    cross, upsell = _load_sources(root, man, doc, files, opts)
    if not isinstance(doc.get("rules"), list):
        raise fail(man, "rules", "must be a list")
    rules = [rule_from_config(r) if isinstance(r, dict)
             else _raise(fail(man, "rules", f"entry {r!r} is not an object"))
             for r in doc["rules"]]
    for pos, r in enumerate(doc["rules"]):
        if "state" in r:
            _load_rule_state(rules[pos], r["state"], files, man, pos)
    ld = doc.get("offer_log")
    saved_log = None
    if isinstance(ld, dict) and isinstance(ld.get("sqlite"), str):
        saved_log = {"sqlite": ld["sqlite"], "table": str(ld.get("table",
                                                                 "upsell_offer_events"))}
    for key in ("params", "moments", "cue_templates"):
        if not isinstance(doc.get(key), dict):
            raise fail(man, key, "must be an object")
    prm = doc["params"]
    if not isinstance(prm.get("policy"), (str, type(None))):
        raise fail(man, "params.policy", "must be a string or null")
    opp = doc.get("opportunity")
    blend = _load_blend(root, man, doc, files, shared)
    rec = cls(catalog=catalog, cross_sell=cross, upsell=upsell, segments=segments,
              opportunity=None if opp is None else OpportunityMatrix.from_json(opp),
              rules=rules, weights=prm["weights"], min_score=prm["min_score"] or None,
              normalize=prm["normalize"], cue_templates=doc["cue_templates"],
              moments=MomentPolicy.from_dict(doc["moments"]), history=history,
              popularity=popularity, offer_log=offer_log,
              segment_boost=prm["segment_boost"],
              default_probability=prm["default_probability"],
              candidates_per_source=prm["candidates_per_source"], blend=blend,
              policy=prm.get("policy"), quantity_breaks=breaks)
    rec.saved_offer_log_ = saved_log
    return rec


def _load_rule_state(rule: Any, rel: Any, files: dict[str, str], man: str, pos: int) -> None:
    """A rule's learned arrays (``rules/NN_name.npz``), checked by the rule's ``set_state``."""
    if not isinstance(rel, str) or rel not in files or not rel.startswith(_RULES_DIR + "/"):
        raise fail(man, f"rules[{pos}].state", f"names {rel!r}, which the manifest's `files` "
                                               f"does not list under {_RULES_DIR}/")
    if not callable(getattr(rule, "set_state", None)):
        raise fail(man, f"rules[{pos}].state", f"rule {rule.name!r} keeps no state")
    _, arrays = read_model(files[rel], kind="RuleState", verify=False)
    rule.set_state(arrays, file=files[rel])


def _load_sources(root: str, man: str, doc: dict[str, Any], files: dict[str, str],
                  opts: dict[str, Any]) -> tuple[list[Any], Any]:
    """The cross-sell sources and the upsell source of the manifest, registered types only."""
    types = source_types()
    cross: list[Any] = []
    upsell = None
    specs = doc.get("sources")
    if not isinstance(specs, list):
        raise fail(man, "sources", "must be a list")
    for pos, s in enumerate(specs):
        if not (isinstance(s, dict) and isinstance(s.get("type"), str)
                and isinstance(s.get("name"), str) and isinstance(s.get("file"), str)
                and isinstance(s.get("config", {}), dict)
                and isinstance(s.get("upsell", False), bool)):
            raise fail(man, f"sources[{pos}]", "needs a type, a name and a file (strings), "
                                               "a config object and an upsell flag")
        kls = types.get(s["type"])
        if kls is None:
            raise ModelFileError(
                f"{root!r}: source {s['name']!r} has type {s['type']!r}, which is not "
                f"registered; import its module and register_source(its class) first",
                file=man, member=f"sources[{pos}]", problem="unregistered source type")
        if s["file"] not in files:
            raise fail(man, f"sources[{pos}]", f"names the file {s['file']!r}, which the "
                                               f"manifest's `files` does not list")
        load = kls.load  # type: ignore[attr-defined]
        accepted = _accepted(load, opts)
        src = load(files[s["file"]], **dict(s.get("config", {})), **accepted)
        if s.get("upsell"):
            if upsell is not None:
                raise fail(man, f"sources[{pos}]", "a second upsell source")
            upsell = src
        else:
            cross.append(src)
    return cross, upsell


_BLEND_DIR = "blend"


def _blend_plan(blend: Any) -> dict[str, Any] | None:
    """The manifest entry of a blend to save (None: the default blend, nothing to write)."""
    if blend is None:
        return None
    cls = type(blend)
    if not (callable(getattr(blend, "save", None)) and callable(getattr(cls, "load", None))):
        raise UpsellDataError(
            f"the blend {cls.__name__} cannot be saved: it has no save(folder) and "
            f"load(folder); add them and register the class with "
            f"upsell.recommend.register_blend, or rebuild the recommender in code")
    if blend_types().get(cls.__qualname__) is not cls:
        raise UpsellDataError(f"the blend {cls.__name__} cannot be saved: register its class "
                              f"with upsell.recommend.register_blend so that load can rebuild it")
    get_config = getattr(blend, "get_config", None)
    cfg = get_config() if callable(get_config) else {}
    if not isinstance(cfg, Mapping):
        raise UpsellDataError(f"{cls.__name__}.get_config() must return a dict; got {cfg!r}")
    return {"type": cls.__qualname__, "config": dict(cfg), "dir": _BLEND_DIR}


def _save_blend(blend: Any, tmp: str, doc: dict[str, Any]) -> None:
    """The blend's own files in ``blend/`` (the folder is dropped when it writes none)."""
    folder = os.path.join(tmp, _BLEND_DIR)
    os.mkdir(folder)
    blend.save(folder)
    if not os.listdir(folder):
        os.rmdir(folder)
        doc["dir"] = None


def _load_blend(root: str, man: str, doc: dict[str, Any], files: dict[str, str],
                ids: list[IdIndex]) -> Any:
    """The saved blend (None for the default), rebuilt only from a registered class.

    ``ids``: the id maps the other parts loaded, offered to a blend whose ``load``
    takes them (one customer map in memory, not two).
    """
    spec = doc.get("blend")
    if spec is None:
        return None
    if not (isinstance(spec, dict) and isinstance(spec.get("type"), str)
            and isinstance(spec.get("config", {}), dict)
            and spec.get("dir") in (None, _BLEND_DIR)):
        raise fail(man, "blend", f"needs a type (string), a config object and a dir "
                                 f"({_BLEND_DIR!r} or null)")
    kls = blend_types().get(spec["type"])
    if kls is None:
        raise ModelFileError(
            f"{root!r}: the blend has type {spec['type']!r}, which is not registered; import "
            f"its module and register_blend(its class) first", file=man, member="blend",
            problem="unregistered blend type")
    folder = None
    if spec.get("dir") is not None:
        folder = resolve_inside(root, _BLEND_DIR, what="blend folder")
        if not any(rel.startswith(_BLEND_DIR + "/") for rel in files):
            raise fail(man, "blend", "names a folder, but the manifest's `files` lists none "
                                     "of its files")
    load = kls.load  # type: ignore[attr-defined]
    accepted = _accepted(load, {"verify": False, "mmap": True, "ids": ids})
    return load(folder, **dict(spec.get("config", {})), **accepted)
