"""Model files: round trips, atomic writes, and clear errors for damaged files."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upsell.exceptions import ModelFileError
from upsell.persist import (
    FORMAT_VERSION,
    check_array,
    check_csr,
    check_index,
    load_json,
    read_arrays,
    read_model,
    resolve_inside,
    write_model,
)


def save(path):
    write_model(path, kind="Demo", params={"factors": 8, "name": "ü"},
                arrays={"w": np.arange(12, dtype=np.float32).reshape(3, 4),
                        "ids": np.array(["a", "b"])}, meta={"note": [1, 2]})


def test_round_trip(tmp_path):
    p = tmp_path / "m.npz"
    save(p)
    doc, arrays = read_model(p, kind="Demo")
    assert doc["params"] == {"factors": 8, "name": "ü"}
    assert doc["meta"] == {"note": [1, 2]}
    assert doc["format_version"] == 2  # no packed ids: a version an older upsell reads
    assert arrays["w"].dtype == np.float32 and arrays["w"].shape == (3, 4)
    assert arrays["ids"].tolist() == ["a", "b"]
    assert [f.name for f in tmp_path.iterdir()] == ["m.npz"]  # no temp file left


def test_object_arrays_refused(tmp_path):
    with pytest.raises(ModelFileError, match="object dtype"):
        write_model(tmp_path / "m.npz", kind="Demo", params={},
                    arrays={"x": np.array([{"a": 1}], dtype=object)})


@pytest.mark.parametrize("cut", [0, 10, 100, 400, -30])
def test_truncated_files_give_clear_errors(tmp_path, cut):
    p = tmp_path / "m.npz"
    save(p)
    data = p.read_bytes()
    p.write_bytes(data[:cut] if cut >= 0 else data[:len(data) + cut])
    with pytest.raises(ModelFileError, match=r"truncated or corrupted|not an upsell model"):
        read_model(p, kind="Demo")


def test_flipped_bytes_never_load_wrong_data(tmp_path):
    p = tmp_path / "m.npz"
    save(p)
    _, original = read_model(p, kind="Demo")
    data = p.read_bytes()
    rng = np.random.default_rng(0)
    detected = 0
    for _ in range(40):
        damaged = bytearray(data)
        damaged[int(rng.integers(0, len(data)))] ^= 0xFF
        p.write_bytes(bytes(damaged))
        try:
            doc, arrays = read_model(p, kind="Demo")
        except ModelFileError:
            detected += 1
            continue
        # a flip in a zip field nobody reads (a timestamp, say) is harmless: same content
        assert doc["params"] == {"factors": 8, "name": "ü"}
        for name, arr in original.items():
            np.testing.assert_array_equal(arrays[name], arr)
    assert detected >= 30


def test_wrong_kind_and_newer_version(tmp_path):
    p = tmp_path / "m.npz"
    save(p)
    with pytest.raises(ModelFileError, match="holds a 'Demo' model, not ALS"):
        read_model(p, kind="ALS")
    with zipfile.ZipFile(p) as z:
        meta = json.loads(np.lib.format.read_array(z.open("__meta__.npy")).tobytes())
        w = np.lib.format.read_array(z.open("w.npy"))
        ids = np.lib.format.read_array(z.open("ids.npy"))
    meta["format_version"] = FORMAT_VERSION + 1
    raw = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(p, w=w, ids=ids, __meta__=raw)
    with pytest.raises(ModelFileError, match=f"format version {FORMAT_VERSION + 1}; this upsell "
                                             f"reads versions up to {FORMAT_VERSION}"):
        read_model(p, kind="Demo")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        read_model(tmp_path / "nope.npz", kind="Demo")
    with pytest.raises(ModelFileError, match=r"folder .* does not exist"):
        save(tmp_path / "no" / "m.npz")


# ---------------------------------------------------------------- id maps as arrays
from upsell import IdIndex  # noqa: E402
from upsell.persist import index_arrays, index_from_arrays  # noqa: E402


@pytest.mark.parametrize("ids", [["c9", "a", "ü-7", "b"], [30, -2, 7, 2**40], []])
def test_index_arrays_round_trip_through_a_file(tmp_path, ids):
    index = IdIndex(np.array(ids, dtype=np.int64 if ids and isinstance(ids[0], int) else str),
                    name="customer")
    p = tmp_path / "m.npz"
    write_model(p, kind="Demo", params={}, arrays={**index_arrays(index, "customers"),
                                                   "x": np.arange(3)})
    _, arrays = read_model(p, kind="Demo")
    back = index_from_arrays(arrays, "customers", name="customer")
    assert back == index and back.kind == index.kind and back.name == "customer"
    assert sorted(arrays) == ["x"]  # the id arrays are taken out
    for v in ids:
        assert back.index(v) == index.index(v)
    assert back.encode(ids, unknown="mask").tolist() == list(range(len(ids)))


def test_ids_saved_in_sorted_order_are_held_once():
    for ids in (["a", "b", "c"], [2, 5, 9]):
        back = index_from_arrays(index_arrays(IdIndex(ids), "c"), "c", name="customer")
        assert back._sorted is back._ids  # one array, not a sorted copy of it
        assert back.encode(ids).tolist() == [0, 1, 2]
    back = index_from_arrays(index_arrays(IdIndex(["b", "a"]), "c"), "c", name="customer")
    assert back._sorted is not back._ids and back.encode(["a", "b"]).tolist() == [1, 0]


def test_index_from_arrays_shares_an_equal_index_and_collects_new_ones():
    customers = IdIndex(["b", "a", "c"], name="customer")
    items = IdIndex([3, 1], name="item")
    got = index_from_arrays(index_arrays(customers, "c"), "c", name="customer",
                            ids=[items, customers])
    assert got is customers
    pool: list[IdIndex] = [items]
    other = IdIndex(["x", "y"], name="customer")
    first = index_from_arrays(index_arrays(other, "c"), "c", name="customer", ids=pool)
    assert first == other and first is not other and pool == [items, first]
    again = index_from_arrays(index_arrays(other, "c"), "c", name="customer", ids=pool)
    assert again is first  # the second component gets the first one's index
    # same length, different ids: not shared
    diff = index_from_arrays(index_arrays(IdIndex(["x", "z"]), "c"), "c", name="customer",
                             ids=pool)
    assert diff is not first and diff.ids.tolist() == ["x", "z"]
    # text ids stored as ASCII bytes are compared as codes, without a text copy; a
    # candidate with wider text (U10) is still found by value
    wide = IdIndex(np.array(["x", "y"], dtype="U10"), name="customer")
    assert index_from_arrays(index_arrays(other, "c"), "c", name="customer",
                             ids=[wide]) is wide
    # a byte above 127 is not ASCII: refused, even when a candidate holds that code
    accented = IdIndex(["\u00e9"], name="customer")
    arrs = {"c.ascii": np.array([b"\xe9"]), "c.sorter": np.array([0], dtype=np.int32)}
    with pytest.raises(ModelFileError, match="not ASCII"):
        index_from_arrays(arrs, "c", name="customer", ids=[accented])


def test_index_from_arrays_reads_version_1_layouts():
    legacy_json = IdIndex([5, 7], name="customer").to_json()
    assert index_from_arrays({}, "customers", name="customer",
                             legacy=legacy_json).ids.tolist() == [5, 7]
    # version 1 array files: ids without the permutation
    arrs = {"customers": np.array(["b", "a"])}
    assert index_from_arrays(arrs, "customers", name="customer").index("a") == 1
    shared = IdIndex([5, 7])
    assert index_from_arrays({}, "c", name="customer", legacy=legacy_json,
                             ids=[shared]) is shared
    with pytest.raises(ModelFileError, match="no customer ids"):
        index_from_arrays({}, "customers", name="customer")


@pytest.mark.parametrize("damage", ["repeat", "unsorted", "range", "shape"])
def test_damaged_id_arrays_are_refused(damage):
    arrs = index_arrays(IdIndex(["a", "b", "c"]), "ids")
    if damage == "repeat":
        arrs["ids"] = np.array(["a", "a", "c"])
    elif damage == "unsorted":
        arrs["ids.sorter"] = np.array([2, 1, 0], dtype=np.int32)
    elif damage == "range":
        arrs["ids.sorter"] = np.array([0, 1, 3], dtype=np.int32)
    else:
        arrs["ids.sorter"] = np.array([0, 1], dtype=np.int32)
    with pytest.raises(ModelFileError):
        index_from_arrays(arrs, "ids", name="item")


def test_verify_false_skips_only_the_array_digest(tmp_path):
    p = tmp_path / "m.npz"
    save(p)
    with zipfile.ZipFile(p) as z:
        meta = json.loads(np.lib.format.read_array(z.open("__meta__.npy")).tobytes())
        w = np.lib.format.read_array(z.open("w.npy"))
        ids = np.lib.format.read_array(z.open("ids.npy"))
    w[0, 0] = 99.0  # content changed, digest kept: only verify=True notices
    raw = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(p, w=w, ids=ids, __meta__=raw)
    with pytest.raises(ModelFileError, match="checksum"):
        read_model(p, kind="Demo")
    _, arrays = read_model(p, kind="Demo", verify=False)
    assert arrays["w"][0, 0] == 99.0


def test_mmap_gives_read_only_views_of_the_file(tmp_path, monkeypatch):
    import upsell._model_files as _model_files

    monkeypatch.setattr(_model_files, "_MMAP_MIN_BYTES", 0)
    p = tmp_path / "m.npz"
    big = np.arange(50_000, dtype=np.float64).reshape(100, 500)
    fortran = np.asfortranarray(big[:, :7])
    write_model(p, kind="Demo", params={}, arrays={"big": big, "f": fortran,
                                                   "s": np.array(["x", "yz"])})
    _, plain = read_model(p, kind="Demo")
    _, mapped = read_model(p, kind="Demo", mmap=True)
    for name, arr in plain.items():
        np.testing.assert_array_equal(mapped[name], arr)
        assert mapped[name].dtype == arr.dtype
        assert not mapped[name].flags.writeable
        assert type(mapped[name]) is np.ndarray  # not np.memmap: no per-operation overhead
    assert mapped["f"].flags.f_contiguous
    # a truncated file is refused, not mapped past its end
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        read_model(p, kind="Demo", mmap=True)


# ---------------------------------------------------------------------------- untrusted input


def test_model_file_error_names_file_member_and_problem(tmp_path):
    p = tmp_path / "m.npz"
    write_model(p, kind="Demo", params={}, arrays={"w": np.array([1.0, np.nan])})
    _, arrays = read_model(p, kind="Demo")
    with pytest.raises(ModelFileError) as info:
        check_array(arrays["w"], file=p, member="w")
    err = info.value
    assert err.file == str(p) and err.member == "w" and err.problem == "holds NaN or inf"
    assert str(p) in str(err) and "'w'" in str(err)
    assert isinstance(err, ValueError) and isinstance(err, OSError)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c,
                                                                        max_size=3),
                    max_leaves=30))
def test_json_depth_counts_only_brackets_outside_strings(value):
    text = json.dumps(value)

    def depth(v):
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    if depth(value) <= 64:
        assert load_json(text, file="x.json") == value
    else:
        with pytest.raises(ModelFileError, match="nested"):
            load_json(text, file="x.json")


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": 1, "a": 2}',
                                  '{"a": ', "\udcff", "[" * 65 + "]" * 65])
def test_hostile_json_is_a_model_file_error(text):
    with pytest.raises(ModelFileError):
        load_json(text.encode("utf-8", "surrogatepass"), file="x.json")


def test_json_size_is_bounded():
    with pytest.raises(ModelFileError, match="exceeds the limit"):
        load_json(b"[" + b"1," * 100 + b"1]", file="x.json", max_bytes=50)


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../x", "", ".", "a//b", "a\\b",
                                 "C:/x", "a\x00b", 7, None, "x" * 5000])
def test_resolve_inside_refuses(tmp_path, rel):
    with pytest.raises(ModelFileError):
        resolve_inside(tmp_path, rel)


def test_resolve_inside_follows_symlinks(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "in.npz").write_bytes(b"")
    (root / "ok").symlink_to(root / "in.npz")
    (root / "out").symlink_to(tmp_path)
    assert resolve_inside(root, "ok") == str((root / "in.npz").resolve())
    with pytest.raises(ModelFileError, match="leaves"):
        resolve_inside(root, "out/x.npz")


def test_check_csr_refuses_every_malformed_part():
    good = {"indptr": np.array([0, 1, 2]), "indices": np.array([0, 2]), "data": np.ones(2)}
    assert check_csr(good, "", (2, 3), file="m").nnz == 2
    bad = [("indptr", np.array([1, 1, 2])), ("indptr", np.array([0, 3, 2])),
           ("indptr", np.array([0, 1])), ("indices", np.array([0, 3])),
           ("indices", np.array([0, -1])), ("indices", np.array([0.0, 1.0])),
           ("data", np.array([1.0, np.inf])), ("data", np.array([1 + 1j, 1])),
           ("data", np.array(["a", "b"])), ("data", np.ones(3))]
    for key, value in bad:
        with pytest.raises(ModelFileError, match=key):
            check_csr({**good, key: value}, "", (2, 3), file="m")


def test_check_index_allows_minus_one_only_when_asked():
    check_index(np.array([-1, 0, 1]), 2, file="m", member="c", allow_missing=True)
    with pytest.raises(ModelFileError, match="below"):
        check_index(np.array([-1, 0]), 2, file="m", member="c")


def test_repeated_member_and_crc_mismatch_are_refused(tmp_path):
    p = tmp_path / "dup.npz"
    write_model(p, kind="Demo", params={}, arrays={"w": np.arange(3.0)})
    with zipfile.ZipFile(p, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("w.npy", zf.read("w.npy"))
    with pytest.raises(ModelFileError, match="twice"):
        read_arrays(p)
    q = tmp_path / "crc.npz"
    write_model(q, kind="Demo", params={}, arrays={"w": np.arange(1000.0)})
    data = bytearray(q.read_bytes())
    data[data.index(b"w.npy") + 400] ^= 0x01  # inside w's data, past its header
    q.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupted"):
        read_arrays(q)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(['[', ']', '{', '}', '"', '\\', 'a', ',']), max_size=300),
       st.integers(1, 17))
def test_json_depth_is_the_same_in_any_chunking(chars, chunk):
    from upsell.persist import _json_depth

    raw = ("[" * 70 + "".join(chars) + "]" * 70).encode()
    assert _json_depth(raw, chunk=chunk) == _json_depth(raw, chunk=len(raw) + 1)


def test_fifo_and_devices_are_refused_without_blocking(tmp_path):
    from upsell.persist import read_json

    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    for reader in (read_json, read_arrays):
        for target in (fifo, "/dev/zero", tmp_path):
            with pytest.raises(ModelFileError, match=r"regular file|directory"):
                reader(target)


def test_ascii_ids_are_stored_as_bytes_and_read_back(tmp_path):
    from upsell import IdIndex
    from upsell.persist import index_arrays, index_from_arrays

    hashed = [f"{i:064x}" for i in (7, 3, 11)]
    p = tmp_path / "m.npz"
    write_model(p, kind="Demo", params={}, arrays=index_arrays(IdIndex(hashed, name="customer"),
                                                               "customers"))
    doc, arrays = read_model(p, kind="Demo")
    assert doc["format_version"] == FORMAT_VERSION == 3
    assert arrays["customers.ascii"].dtype == np.dtype("S64")  # a quarter of "<U64"
    back = index_from_arrays(dict(arrays), "customers", name="customer")
    assert back.ids.tolist() == hashed and back.index(hashed[2]) == 2
    # held as the bytes read: no text copy of a million hashed ids to load them
    fresh = index_from_arrays(dict(arrays), "customers", name="customer")
    assert fresh.nbytes <= 2 * 3 * 64 + 3 * 4 and fresh.decode(1) == hashed[1]  # ids, sorted
    # a file written before version 3 (ids as numpy text) is held as bytes too, and shares
    old = {"customers": np.array(hashed), "customers.sorter": arrays["customers.sorter"]}
    assert index_from_arrays(old, "customers", name="customer", ids=[back]) is back
    # untrusted: bytes that are not ASCII, or both forms at once, are refused by name
    bad = {"customers.ascii": np.array([b"\xff"]), "customers.sorter": np.array([0])}
    with pytest.raises(ModelFileError, match="customer ids are malformed"):
        index_from_arrays(bad, "customers", name="customer")
    both = {**arrays, "customers": np.array(hashed)}
    with pytest.raises(ModelFileError, match="customer ids are malformed"):
        index_from_arrays(both, "customers", name="customer")
