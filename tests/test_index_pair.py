"""index_pair builds the trees of cached layers while the pool verifies the blobs (issue 16).
That early work must never change a result or let an unverified blob through."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from builders import TarBuilder, write_oci_layout
from inspectr import build_tree, open_image
from inspectr.diff.engine import compare_images, index_pair
from inspectr.diff.options import DiffOptions
from inspectr.errors import InspectrError
from inspectr.fs.cache import LayerCache
from inspectr.limits import Limits
from inspectr.present.diff_json import difference_to_json
from inspectr.session import LocalPool, Session


def _blob(image: str, layer: int) -> Path:
    """The blob of this layer (through the image's own manifest)."""
    return Path(image) / "blobs" / "sha256" / str(open_image(image).layers[layer].digest).split(":")[1]


def _tamper(blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))


def _images(tmp: Path) -> tuple[str, str]:
    """A and B share two bottom layers; B's top layer differs (a rebuild of the top only)."""
    base = TarBuilder().add_dir("etc").add_file("etc/os", "debian\n").add_file("bin/sh", b"\x7fELF" + b"x" * 300).finish()
    mid = TarBuilder().add_file("etc/conf", "a=1\n").add_symlink("etc/link", "conf").add_whiteout("bin/sh").finish()
    top_a = TarBuilder().add_file("app/main.py", "print(1)\n").add_file("app/data", "x" * 5000).finish()
    top_b = TarBuilder().add_file("app/main.py", "print(2)\n").add_file("app/extra", "new\n").finish()
    a = write_oci_layout(tmp / "a", [base, mid, top_a])
    b = write_oci_layout(tmp / "b", [base, mid, top_b])
    return str(a.path), str(b.path)


def _result(a: str, b: str, session: Session) -> tuple[list[object], list[object], object]:
    pair = index_pair(open_image(a), open_image(b), session=session)
    listing = [[n.to_json() for n in tree.walk()] for tree in (pair.tree_a, pair.tree_b)]
    diff = difference_to_json(compare_images(pair, DiffOptions(), session=session))
    return listing[0], listing[1], json.loads(json.dumps(diff))


@pytest.mark.parametrize("workers", [1, 2])
def test_trees_and_diff_are_the_same_cold_warm_half_cached_and_with_a_corrupt_entry(tmp_path: Path, workers: int) -> None:
    a, b = _images(tmp_path)
    expected = _result(a, b, Session(executor=LocalPool(workers)))
    # The trees as build_tree makes them (its own path: index_layers, then apply_layers).
    assert expected[:2] == tuple([n.to_json() for n in build_tree(open_image(image)).walk()] for image in (a, b))
    cache = LayerCache(tmp_path / "cache")
    assert _result(a, open_image(a).reference, Session(cache=cache, executor=LocalPool(workers)))[0] == expected[0]
    # Only A cached: B's shared layers are hits, its top layer is indexed by the pool.
    assert _result(a, b, Session(cache=cache, executor=LocalPool(workers))) == expected
    assert _result(a, b, Session(cache=cache, executor=LocalPool(workers))) == expected  # both cached
    for entry in cache.entries():  # present on disk but unreadable: indexed again after the pool
        entry.path.write_bytes(b"\x28\xb5\x2f\xfd garbage")
    assert _result(a, b, Session(cache=cache, executor=LocalPool(workers))) == expected


@pytest.mark.parametrize("workers", [1, 2])
def test_a_tampered_blob_fails_even_though_its_cached_tree_was_built(tmp_path: Path, workers: int) -> None:
    a, b = _images(tmp_path)
    cache = LayerCache(tmp_path / "cache")
    _result(a, b, Session(cache=cache, executor=LocalPool(workers)))
    _tamper(_blob(a, 0))  # shared with B, and cached: its tree is built before the check ends
    with pytest.raises(InspectrError) as info:
        _result(a, b, Session(cache=cache, executor=LocalPool(workers)))
    assert info.value.error_class == "digest-mismatch"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_limit_the_early_trees_hit_is_raised_but_a_failed_digest_comes_first(tmp_path: Path, workers: int) -> None:
    a, b = _images(tmp_path)
    cache = LayerCache(tmp_path / "cache")
    _result(a, b, Session(cache=cache, executor=LocalPool(workers)))
    tight = Limits(max_entries_total=4)
    with pytest.raises(InspectrError) as info:
        index_pair(open_image(a, limits=tight), open_image(b, limits=tight), session=Session(cache=cache, executor=LocalPool(workers)))
    assert info.value.error_class == "entry-limit-exceeded"
    _tamper(_blob(b, 2))
    with pytest.raises(InspectrError) as info:
        index_pair(open_image(a, limits=tight), open_image(b, limits=tight), session=Session(cache=cache, executor=LocalPool(workers)))
    assert info.value.error_class == "digest-mismatch"


def _slow(item: float) -> float:
    time.sleep(item)
    return item


def _failing(item: float) -> float:
    time.sleep(item)
    raise ValueError(f"item {item}")


def test_meanwhile_runs_while_the_workers_do_and_its_error_waits_for_theirs() -> None:
    pool = LocalPool(workers=2)
    seen: list[float] = []
    start = time.monotonic()
    assert pool.map(_slow, [0.6, 0.6], [1, 1], meanwhile=lambda: seen.append(time.monotonic() - start)) == [0.6, 0.6]
    assert len(seen) == 1 and seen[0] < 0.5  # not after the items
    finished: list[tuple[int, float, float]] = []
    assert pool.map(_slow, [0.8, 0.1], [1, 1], on_result=lambda i, r: finished.append((i, r, time.monotonic() - start)))
    assert [(i, r) for i, r, _ in finished] == [(1, 0.1), (0, 0.8)]  # as they finish, not in order
    assert finished[0][2] < finished[1][2] - 0.3

    def boom() -> None:
        raise KeyError("meanwhile")

    with pytest.raises(KeyError):
        pool.map(_slow, [0.1, 0.1], [1, 1], meanwhile=boom)
    with pytest.raises(ValueError, match="item"):  # the item's own error comes first
        pool.map(_failing, [0.1, 0.1], [1, 1], meanwhile=boom)
    with pytest.raises(KeyError):  # in-process too
        LocalPool(workers=1).map(_slow, [0.0], [1], meanwhile=boom)
    calls: list[int] = []

    def failing_hook(i: int, result: float) -> None:
        calls.append(i)
        raise KeyError("on_result")

    with pytest.raises(KeyError):  # raised once all items are done, and the hook not called again
        pool.map(_slow, [0.1, 0.3, 0.5], [3, 2, 1], on_result=failing_hook)
    assert calls == [0]


def test_one_big_item_runs_beside_meanwhile_and_its_error_comes_first() -> None:
    pool = LocalPool()  # automatic: one item of 32 MiB with work beside it goes to a thread
    start = time.monotonic()
    seen: list[float] = []
    assert pool.map(_slow, [0.6], [32 << 20], meanwhile=lambda: seen.append(time.monotonic() - start)) == [0.6]
    assert seen and seen[0] < 0.4

    def boom() -> None:
        raise KeyError("meanwhile")

    with pytest.raises(ValueError, match="item"):
        pool.map(_failing, [0.1], [32 << 20], meanwhile=boom)
    with pytest.raises(KeyError):
        pool.map(_slow, [0.1], [32 << 20], meanwhile=boom)


def test_cat_of_a_cached_layer_prints_nothing_when_its_blob_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """cat reads the file while the blob's digest is checked (issue 16): the bytes must not
    reach stdout unless the check passes."""
    from clirun import run_main

    big = TarBuilder().add_file("big", os.urandom(24 << 20)).add_file("etc/last", "the file\n").finish()
    written = write_oci_layout(tmp_path / "img", [big])
    cache = str(tmp_path / "cache")
    for _ in range(3):  # index, then the read that records points, then steady
        code, out, err = run_main(capsys, "--cache-dir", cache, "cat", str(written.path), "etc/last")
        assert (code, out) == (0, "the file\n"), err
    _tamper(_blob(str(written.path), 0))
    code, out, err = run_main(capsys, "--cache-dir", cache, "cat", str(written.path), "etc/last")
    assert (code, out) == (2, "") and "error[digest-mismatch]" in err, (code, out, err)
    code, out, err = run_main(capsys, "--cache-dir", cache, "cat", "--layer", "0", str(written.path), "etc/nope")
    assert code == 2 and out == "" and "error[digest-mismatch]" in err, err  # the blob first, then the path


def _rebuilt_top(tmp: Path) -> tuple[str, str]:
    """A rebuild whose top layer changes a text file, an executable, a 2 MiB file and a
    hardlinked one: every kind of file the second pass would have read."""
    base = TarBuilder().add_file("etc/os", "debian\n").finish()
    big = os.urandom(2 << 20)

    def top(n: int) -> bytes:
        return (TarBuilder().add_file("app/main.py", f"print({n})\n").add_file("app/run", f"#!/bin/sh\necho {n}\n", mode=0o755)
                .add_file("app/blob", big[:-8] + str(n).encode() * 8).add_file("app/lib.so", f"lib {n}\n")
                .add_hardlink("app/lib.so.1", "app/lib.so").finish())

    return str(write_oci_layout(tmp / "a", [base, top(1)]).path), str(write_oci_layout(tmp / "b", [base, top(2)]).path)


def test_files_kept_by_the_indexing_pass_spare_the_second_pass_and_change_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layer_passes: list[str]) -> None:
    passes = layer_passes
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    a, b = _rebuilt_top(tmp_path)

    def diff(keep: bool, spoil: bool = False) -> object:
        session = Session(executor=LocalPool(1))
        pair = index_pair(open_image(a), open_image(b), session=session, keep=keep)
        try:
            if spoil:
                assert pair.kept is not None
                for keep_file in pair.kept.keeps.values():
                    data = Path(keep_file.path).read_bytes()
                    Path(keep_file.path).write_bytes(bytes(x ^ 0xFF for x in data))
            return json.loads(json.dumps(difference_to_json(compare_images(pair, DiffOptions(), session=session))))
        finally:
            pair.close()

    without = diff(keep=False)
    assert len(passes) == 2  # both top layers read again
    assert any(c.get("content_diff") for c in without["changes"])  # type: ignore[index]
    passes.clear()
    assert diff(keep=True) == without
    assert passes == []  # every changed file came from the kept copies
    assert diff(keep=True, spoil=True) == without  # kept bytes that fail their sha256 are read again
    assert len(passes) == 2
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing left behind


def test_kept_files_are_removed_when_indexing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    a, b = _rebuilt_top(tmp_path)
    _tamper(_blob(b, 1))
    for workers in (1, 2):
        with pytest.raises(InspectrError):
            index_pair(open_image(a), open_image(b), session=Session(executor=LocalPool(workers)))
        assert list((tmp_path / "tmp").iterdir()) == []


def test_a_cached_one_sided_layer_is_indexed_again_only_beside_a_new_one(tmp_path: Path, layer_passes: list[str]) -> None:
    """The release cached, the rebuild's top layer new: the release's top layer is indexed again
    beside it (keeping its files), so no layer is read after the pool. Both cached: only their
    blobs are verified, and the changed files are read from the layers afterwards."""
    from inspectr.fs.build import index_layers

    passes = layer_passes
    a, b = _rebuilt_top(tmp_path)
    cache = LayerCache(tmp_path / "cache")
    index_layers(open_image(a), session=Session(cache=cache, executor=LocalPool(1)))  # `inspectr ls A`
    expected = _result(a, b, Session(executor=LocalPool(1)))
    passes.clear()
    assert _result(a, b, Session(cache=cache, executor=LocalPool(1))) == expected
    assert passes == []
    assert _result(a, b, Session(cache=cache, executor=LocalPool(1))) == expected
    assert len(passes) == 2


def test_a_keep_is_bounded_by_bytes_per_file_bytes_in_all_and_files(tmp_path: Path) -> None:
    from inspectr.fs.layer_index import Keep, index_layer

    tar = TarBuilder()
    for i in range(6):
        tar.add_file(f"f{i}", bytes([65 + i]) * (100 * (i + 1)))
    tar.add_file("big", b"x" * 5000)
    image = open_image(str(write_oci_layout(tmp_path / "img", [tar.finish()]).path))
    ref = image.layers[0]
    cases = {"all": Keep(str(tmp_path / "all")), "per-file": Keep(str(tmp_path / "small"), max_file=1000),
             "budget": Keep(str(tmp_path / "budget"), budget=1000), "files": Keep(str(tmp_path / "files"), max_files=2)}
    kept = {}
    for name, keep in cases.items():
        index = index_layer(ref, 0, image.limits, keep=keep)
        where = keep.read_map()
        data = Path(keep.path).read_bytes()
        by_offset = {e.offset: e for e in index.entries}
        for offset, (position, length) in where.items():  # every record is the file's own bytes
            assert hashlib.sha256(data[position:position + length]).digest() == by_offset[offset].sha256
        kept[name] = sorted(by_offset[o].path for o in where)
    assert kept["all"] == ["big", "f0", "f1", "f2", "f3", "f4", "f5"]
    assert kept["per-file"] == ["f0", "f1", "f2", "f3", "f4", "f5"]
    assert kept["budget"] == ["f0", "f1", "f2", "f3"]  # 100 + 200 + 300 + 400
    assert kept["files"] == ["f0", "f1"]


def test_a_full_disk_stops_the_copies_not_the_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   layer_passes: list[str]) -> None:
    """The copies go to a 64 KiB tmpfs that the 2 MiB file cannot fit: the pass goes on, the
    changed files are read from the layers instead, and the result is the same."""
    import subprocess

    a, b = _rebuilt_top(tmp_path)
    expected = _result(a, b, Session(executor=LocalPool(1)))
    assert layer_passes == []
    small = tmp_path / "small"
    small.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(small)], check=True)
    try:
        made: list[str] = []
        real = tempfile.mkdtemp

        def on_the_small_disk(suffix: str | None = None, prefix: str | None = None, dir: str | None = None) -> str:
            if prefix != "inspectr-keep-":  # the comparison's own spool stays where it was
                return real(suffix, prefix, dir)
            made.append(str(small / f"{prefix}{len(made)}"))
            os.mkdir(made[-1], 0o700)
            return made[-1]

        monkeypatch.setattr(tempfile, "mkdtemp", on_the_small_disk)
        for workers in (1, 2):
            layer_passes.clear()
            assert _result(a, b, Session(executor=LocalPool(workers))) == expected
            if workers == 1:  # the in-process passes are the ones this fixture sees
                assert len(layer_passes) == 2
        assert made and list(small.iterdir()) == []  # each run's directory removed
    finally:
        subprocess.run(["umount", str(small)], check=True)
