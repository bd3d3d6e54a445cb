"""Save/load round trips, damaged directories, and eight threads against sequential calls."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import upsell as us
from upsell.exceptions import ModelFileError, UpsellDataError
from upsell.recommend import Candidate, OfferLog, Recommender, Where

from .conftest import AT, build


def requests(parts: Any, n: int = 40) -> list[dict[str, Any]]:
    ids = parts.tx.customers.ids.tolist()
    items = parts.cat.items.ids.tolist()
    moments = (None, "product_page", "cart", "checkout", "post_purchase")
    out = []
    for j in range(n):
        out.append({"customer": ids[j] if j % 5 else None,
                    "basket": [items[(7 * j) % len(items)]] if j % 3 else [],
                    "k": 1 + j % 6, "moment": moments[j % 5],
                    "channel": ("web", "email", "store")[j % 3], "fill": j % 4 == 0, "at": AT})
    return out


def dump(rec: Recommender, reqs: list[dict[str, Any]]) -> list[Any]:
    return [[o.to_dict() for o in rec.recommend(**r)] for r in reqs]


def test_save_load_gives_identical_offers(parts: Any, tmp_path: Path) -> None:
    rec = build(parts, weights={"bundles": 2.0, "itemknn": 0.5}, min_score={"itemknn": 0.01},
                cue_templates={"web": {"bundle": "With {because}"}})
    path = tmp_path / "rec"
    rec.save(path)
    names = sorted(os.listdir(path))
    assert names == ["catalog.npz", "history.npz", "popularity.npz", "recommender.json",
                     "segments.npz", "sources"]
    back = Recommender.load(path, offer_log=OfferLog.in_memory())
    reqs = requests(parts)
    assert dump(back, reqs) == dump(rec, reqs)
    assert [r.name for r in back.rules_] == [r.name for r in rec.rules_]
    # saving again replaces the directory atomically; a second load still matches
    back.save(path)
    again = Recommender.load(path, verify=False, offer_log=OfferLog.in_memory())
    assert dump(again, reqs[:10]) == dump(rec, reqs[:10])
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".upsell-")]


def test_damaged_directories_raise_model_file_error(parts: Any, tmp_path: Path) -> None:
    rec = build(parts, cross_sell=[parts.bundles], upsell=None)
    good = tmp_path / "rec"
    rec.save(good)
    with pytest.raises(ModelFileError, match="does not exist"):
        Recommender.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="partial"):
        Recommender.load(tmp_path / "empty")
    # a truncated source file
    src = next((good / "sources").iterdir())
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="bytes"):
        Recommender.load(good)
    # same size, flipped byte: the checksum catches it
    src.write_bytes(data[:-20] + bytes([data[-20] ^ 0xFF]) + data[-19:])
    with pytest.raises(ModelFileError, match="checksum"):
        Recommender.load(good)
    with pytest.raises(ModelFileError):
        Recommender.load(good, verify=False)  # the npz's own digest or zip check
    src.write_bytes(data)
    Recommender.load(good)
    # a missing file
    (good / "history.npz").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        Recommender.load(good)
    # corrupted manifest, newer format
    rec.save(good)
    man = good / "recommender.json"
    text = man.read_text()
    man.write_text(text[:100])
    with pytest.raises(ModelFileError, match="corrupted"):
        Recommender.load(good)
    doc = json.loads(text)
    doc["format_version"] = 99
    man.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="version"):
        Recommender.load(good)


def test_save_refuses_foreign_directories_and_unsavable_parts(parts: Any, tmp_path: Path) -> None:
    rec = build(parts, cross_sell=[parts.bundles], upsell=None)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="refusing"):
        rec.save(other)
    assert (other / "cat.jpg").exists()

    class Mine:
        name = "mine"

        def candidates(self, request: Any, n: int) -> list[Candidate]:
            return []

    with pytest.raises(UpsellDataError, match=r"'mine'.*save"):
        build(parts, cross_sell=[Mine()]).save(tmp_path / "a")
    with pytest.raises(UpsellDataError, match="function"):
        build(parts, rules=[Where(price=lambda p: p < 10)]).save(tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_eight_threads_equal_sequential(parts: Any) -> None:
    rec = build(parts)
    reqs = requests(parts, 64) * 3
    want = dump(rec, reqs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda r: [o.to_dict() for o in rec.recommend(**r)], reqs))
    assert got == want


def test_sqlite_log_is_not_opened_on_load(parts: Any, tmp_path: Path) -> None:
    """Loading has no side effect: the saved log is named, not opened; the caller attaches it."""
    log = OfferLog.sqlite(tmp_path / "offers.db")
    rec = build(parts, log=log, cross_sell=[parts.bundles], upsell=None)
    rec.save(tmp_path / "rec")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.is_file()}
    with pytest.warns(us.UpsellWarning, match="frequency caps are off"):
        back = Recommender.load(tmp_path / "rec")
    assert back.offer_log is None
    assert back.saved_offer_log_ == {"sqlite": str(log.path), "table": log.table}
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.is_file()} == before
    again = Recommender.load(tmp_path / "rec", offer_log=OfferLog.sqlite(
        back.saved_offer_log_["sqlite"]))
    assert isinstance(again.offer_log, us.recommend.SQLiteOfferLog)
    assert again.offer_log.path == log.path


def test_load_never_creates_the_saved_database(parts: Any, tmp_path: Path) -> None:
    """A manifest pointing its offer log at another database leaves that database untouched."""
    import sqlite3

    rec = build(parts, cross_sell=[parts.bundles], upsell=None)
    rec.save(tmp_path / "rec")
    victim = tmp_path / "victim.db"
    con = sqlite3.connect(victim)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    data = victim.read_bytes()
    man = tmp_path / "rec" / "recommender.json"
    doc = json.loads(man.read_text("utf-8"))
    doc["offer_log"] = {"sqlite": str(victim), "table": "upsell_offer_events"}
    man.write_text(json.dumps(doc), "utf-8")
    with pytest.warns(us.UpsellWarning, match="frequency caps are off"):
        Recommender.load(tmp_path / "rec")
    assert victim.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec", "victim.db"]


def _downgrade(root: Path) -> None:
    """Rewrite a saved recommender in the version-1 layout (ids as JSON or bare arrays)."""
    import hashlib
    import zipfile

    import numpy as np

    from upsell import IdIndex
    from upsell.persist import _digest

    man = root / "recommender.json"
    doc = json.loads(man.read_text())
    for rel in doc["files"]:
        f = root / rel
        if not rel.endswith(".npz"):
            continue
        with zipfile.ZipFile(f) as z:
            arrays = {n[:-4]: np.lib.format.read_array(z.open(n)) for n in z.namelist()}
        meta = json.loads(arrays.pop("__meta__").tobytes())
        for key in [k for k in arrays if k.endswith(".sorter")]:
            del arrays[key]
        for key in [k for k in arrays if k.endswith(".ascii")]:  # version 3: ids as bytes
            arrays[key[:-len(".ascii")]] = arrays.pop(key).astype("U")
        if meta["kind"] in ("ItemKNN", "BundleRecommender"):  # version 1 kept these in JSON
            for key, name in (("customers", "customer"), ("items", "item")):
                if key in arrays:
                    meta["meta"][key] = IdIndex(arrays.pop(key), name=name).to_json()
        meta["format_version"] = 1
        meta["arrays_sha256"] = _digest(arrays)
        raw = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with open(f, "wb") as fh:
            np.savez(fh, **arrays, __meta__=raw)
        doc["files"][rel] = {"size": f.stat().st_size,
                             "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
    man.write_text(json.dumps(doc))


def test_version_1_directories_still_load(parts: Any, tmp_path: Path) -> None:
    rec = build(parts)
    path = tmp_path / "rec"
    rec.save(path)
    _downgrade(path)
    knn = path / "sources" / "01_itemknn.npz"
    assert "customers" in json.loads(
        __import__("numpy").load(knn)["__meta__"].tobytes())["meta"]
    back = Recommender.load(path, offer_log=OfferLog.in_memory())
    reqs = requests(parts)
    assert dump(back, reqs) == dump(rec, reqs)
    assert back.history_ is not None and back.segments_ is not None
    assert back.segments_.customers is back.history_.customers  # shared even from old files


def test_load_shares_one_customer_and_one_item_map(parts: Any, tmp_path: Path) -> None:
    rec = build(parts)
    rec.save(tmp_path / "rec")
    back = Recommender.load(tmp_path / "rec", offer_log=OfferLog.in_memory())
    hist, seg = back.history_, back.segments_
    assert hist is not None and seg is not None
    by_name = {s.name: s for s in back.sources_}
    knn, ranker = by_name["itemknn"].model, by_name["upsell"].ranker  # type: ignore[attr-defined]
    assert seg.customers is hist.customers
    assert knn.customers_ is hist.customers and ranker.customers_ is hist.customers
    assert hist.items is back.catalog.items
    assert back.popularity_ is not None and back.popularity_.items is back.catalog.items
    # the customer map stays dictionary-free: requests look customers up by binary search
    back.recommend(parts.tx.customers.ids[3].item(), basket=[parts.cat.items.ids[0].item()],
                   k=5, at=AT)
    back.recommend(parts.tx.customers.ids[4].item(), k=5, moment="post_purchase", fill=True,
                   at=AT)
    assert hist.customers._dict is None
    # large arrays are read-only maps of the files, not copies
    assert not hist.last_bought.indices.flags.writeable


def test_user_sources_without_load_options_still_load(parts: Any, tmp_path: Path) -> None:
    from upsell.recommend import register_source

    @register_source
    class Fixed:
        name = "fixed"

        def candidates(self, request: Any, n: int) -> list[Candidate]:
            return [Candidate(parts.cat.items.ids[1].item(), 1.0)]

        def save(self, path: Any) -> None:
            Path(path).write_text("{}")

        @classmethod
        def load(cls, path: Any) -> Fixed:
            return cls()

    rec = build(parts, cross_sell=[Fixed()], upsell=None)
    rec.save(tmp_path / "rec")
    back = Recommender.load(tmp_path / "rec", offer_log=OfferLog.in_memory())
    assert [s.name for s in back.sources_] == ["fixed"]


def test_quantity_breaks_are_saved_and_offered(parts: Any, tmp_path: Path) -> None:
    """A recommender with the shop's quantity breaks keeps them in breaks.npz (listed in the
    manifest, checked on load) and answers basket lines with the same quantity offers."""
    import numpy as np

    from upsell.tiers import QuantityBreaks

    item = parts.cat.items.ids[:2].tolist()
    br = QuantityBreaks(np.array(item), np.array(["ONE", "TWO"]), np.array([4.0, 10.0]),
                        np.array([12, 6]), np.array([3.5, 9.0]), np.array([0.125, 0.1]),
                        *[np.array([5, 5])] * 4)
    rec = build(parts, quantity_breaks=br)
    assert build(parts).quantity_offers({item[0]: 10}) == ()  # none without breaks
    lines = {item[0]: 10, item[1]: 1, "unknown": 3}
    want = rec.quantity_offers(lines)
    assert [(o.item, o.quantity, o.price) for o in want] == [(item[0], 12, 3.5)]
    path = tmp_path / "rec"
    rec.save(path)
    assert "breaks.npz" in json.loads((path / "recommender.json").read_text())["files"]
    back = Recommender.load(path, offer_log=OfferLog.in_memory())
    assert back.quantity_offers(lines) == want
    (path / "breaks.npz").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        Recommender.load(path)
    with pytest.raises(UpsellDataError, match="`quantity_breaks` must be a QuantityBreaks"):
        build(parts, quantity_breaks="breaks.npz").quantity_offers(lines)
    with pytest.raises(UpsellDataError, match="`quantity_breaks` must be a QuantityBreaks"):
        build(parts, quantity_breaks="breaks.npz").save(tmp_path / "other")
