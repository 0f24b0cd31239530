"""Gzip seek points (issue 16): bytes read through them equal the bytes of a full inflate, for
layers written by buildah, skopeo and Python's gzip module (multi-member too); a corrupted point
is caught and the read falls back to a full verified pass."""

from __future__ import annotations

import gzip
import io
import random
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from builders import TarBuilder, write_oci_layout
from seek_helpers import blob_bytes, buildah_with, cat_three_times, layout_compressed_by, expected_files, files_of, random_files, read_files, small_spacing, tool  # noqa: F401
from inspectr import open_image
from inspectr.fs import seekpoints
from inspectr.fs.build import build_tree
from inspectr.fs.cache import LayerCache
from inspectr.session import LocalPool, Session

WORDS = ["layer", "seek", "point", "window", "inflate", "member", "offset", "digest", "verified", "zran"]


def _full_inflate_members(blob: bytes) -> dict[str, bytes]:
    """The reference: Python's gzip (all members) and tarfile, independent of inspectr's reader."""
    raw = gzip.decompress(blob)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name.lstrip("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _multi_member(data: bytes, kind: str = "gzip") -> bytes:
    """Three gzip members, cut at arbitrary points of the tar stream (as `cat a.gz b.gz` makes)."""
    assert kind == "gzip"
    cuts = [0, len(data) // 3 + 777, 2 * len(data) // 3 + 5, len(data)]
    return b"".join(gzip.compress(data[a:b], mtime=0) for a, b in zip(cuts, cuts[1:]))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """One small image per writer: buildah (its own gzip), skopeo (re-compressed by skopeo, as an
    OCI layout and as an oci-archive, so a blob inside an outer tar), Python's gzip module (one
    member and three members)."""
    base = tmp_path_factory.mktemp("seek")
    files = random_files(random.Random(16), WORDS)
    out: dict[str, Path | str] = {}
    buildah, container = buildah_with(base, files)
    skopeo = tool("skopeo")
    subprocess.run([*buildah, "commit", "--disable-compression=false", container, f"oci:{base / 'buildah'}:latest"],
                   check=True, capture_output=True)
    subprocess.run([*buildah, "commit", "--disable-compression=true", container, f"oci:{base / 'plain'}:latest"],
                   check=True, capture_output=True)
    out["buildah"] = base / "buildah"
    subprocess.run([skopeo, "copy", "-q", "--dest-compress", "--dest-compress-format", "gzip",
                    f"oci:{base / 'plain'}:latest", f"oci:{base / 'skopeo'}:latest"], check=True, capture_output=True)
    out["skopeo"] = base / "skopeo"
    subprocess.run([skopeo, "copy", "-q", f"oci:{base / 'skopeo'}:latest", f"oci-archive:{base / 'skopeo.tar'}:latest"],
                   check=True, capture_output=True)
    out["skopeo-oci-archive"] = f"oci-archive:{base / 'skopeo.tar'}:latest"
    tar = TarBuilder()
    for name, data in files.items():
        tar.add_file(name, data)
    layer = tar.finish()
    out["python-gzip"] = write_oci_layout(base / "pygzip", [layer]).path
    out["python-gzip-3-members"] = layout_compressed_by(_multi_member, base / "pymulti", [layer])
    return out


@pytest.mark.parametrize("writer", ["buildah", "skopeo", "skopeo-oci-archive", "python-gzip", "python-gzip-3-members"])
def test_bytes_read_through_seek_points_equal_a_full_inflate(images: dict[str, Path | str], writer: str,
                                                             tmp_path: Path, layer_passes: list[str]) -> None:
    image = open_image(str(images[writer]))
    reference = _full_inflate_members(blob_bytes(image))
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = files_of(image, session)
    assert len(nodes) == 25
    index = session.verified.get(f"{image.layers[0].digest}|{image.layers[0].media_type}")
    assert index is not None and index.gzip_members == (3 if writer.endswith("3-members") else 1)

    full = read_files(image, nodes, session)  # a first read is the full ISA-L pass, and is noted
    assert len(layer_passes) == 1 and cache.get_seek_points(image.layers[0]) is None
    second = read_files(image, nodes, session)  # the second records the points on the way
    assert cache.get_seek_points(image.layers[0]) is not None
    assert len(layer_passes) == 1
    last = max(nodes, key=lambda node: node.inode.offset)
    # A later run: its session holds no index, the stored points are used.
    again = read_files(image, [last], Session(cache=cache, executor=LocalPool(1)))
    assert len(layer_passes) == 1
    assert full == second == expected_files(reference, nodes)
    assert again == expected_files(reference, [last])


def _shift_points(points: bytes, by: int) -> bytes:
    """indexed_gzip's index format 1: 'GZIDX', version, flags, compressed size (8), uncompressed
    size (8), spacing (4), window size (4), point count (4), then per point: compressed offset (8),
    uncompressed offset (8), bits (1), has-window (1); windows follow. Moves every point's
    uncompressed offset, keeping the file well-formed."""
    assert points[:6] == b"GZIDX\x01", points[:6]
    (count,) = struct.unpack_from("<I", points, 31)
    out = bytearray(points)
    for i in range(1, count):  # the first point is the stream start
        pos = 35 + 18 * i + 8
        (uncompressed,) = struct.unpack_from("<Q", out, pos)
        struct.pack_into("<Q", out, pos, uncompressed + by)
    return bytes(out)


def test_corrupted_seek_points_fall_back_to_a_full_read_with_the_right_bytes(
        images: dict[str, Path | str], tmp_path: Path, layer_passes: list[str]) -> None:
    image = open_image(str(images["python-gzip"]))
    reference = _full_inflate_members(blob_bytes(image))
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = files_of(image, session)
    read_files(image, nodes, session)
    read_files(image, nodes, session)
    ref = image.layers[0]
    good = cache.get_seek_points(ref)
    assert good is not None and len(layer_passes) == 1
    wanted = sorted(nodes, key=lambda node: node.inode.offset)[-3:]

    # A point that passes the cache's checksum but is wrong (a bug, or a forged entry): the file's
    # sha256 catches it, the full pass delivers the right bytes, and the bad points are dropped.
    cache.put_seek_points(ref, _shift_points(good, 1000))
    assert read_files(image, wanted, session) == expected_files(reference, wanted)
    assert len(layer_passes) == 2
    assert cache.get_seek_points(ref) is None

    # The next read records them again.
    read_files(image, nodes, session)
    assert len(layer_passes) == 2
    # A damaged cache file fails its checksum: a full read, then the points are recorded again.
    (seek_file,) = [e.path for e in cache.entries() if e.key.endswith("|seek")]
    data = bytearray(seek_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seek_file.write_bytes(bytes(data))
    assert cache.get_seek_points(ref) is None
    later = Session(cache=cache, executor=LocalPool(1))  # a later run: no index in its session
    assert read_files(image, wanted, later) == expected_files(reference, wanted)
    assert len(layer_passes) == 3 and not seek_file.exists()
    assert read_files(image, wanted, later) == expected_files(reference, wanted)
    assert len(layer_passes) == 3 and cache.get_seek_points(ref) is not None


def test_a_changed_blob_is_never_read_through_old_points(images: dict[str, Path | str], tmp_path: Path) -> None:
    # Same layer bytes, other compression: the old points (stored under the first digest) are not
    # used for the new blob, and the new blob's read is right.
    image = open_image(str(images["python-gzip"]))
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = files_of(image, session)
    read_files(image, nodes, session)
    read_files(image, nodes, session)
    assert cache.get_seek_points(image.layers[0]) is not None
    other = open_image(str(images["python-gzip-3-members"]))
    assert cache.get_seek_points(other.layers[0]) is None
    s2 = Session(cache=cache, executor=LocalPool(1))
    nodes = files_of(other, s2)
    assert read_files(other, nodes, s2) == expected_files(_full_inflate_members(blob_bytes(other)), nodes)


def test_no_seek_points_for_zstd_many_members_or_without_a_cache(tmp_path: Path) -> None:
    layer = TarBuilder().add_file("a.txt", b"x" * 1000).finish()
    zst = open_image(write_oci_layout(tmp_path / "z", [layer], compression="zstd").path)
    session = Session(cache=LayerCache(tmp_path / "c"), executor=LocalPool(1))
    build_tree(zst, session=session)
    index = session.verified.get(f"{zst.layers[0].digest}|{zst.layers[0].media_type}")
    assert index is not None and index.gzip_members == 0
    assert seekpoints.plan_seek(zst.layers[0], index, session.cache) is None

    def many(data: bytes, kind: str = "gzip") -> bytes:
        n = seekpoints.MAX_MEMBERS + 1
        cuts = [i * len(data) // n for i in range(n + 1)]
        return b"".join(gzip.compress(data[a:b], mtime=0) for a, b in zip(cuts, cuts[1:]))

    gz = open_image(str(layout_compressed_by(many, tmp_path / "m", [layer])))
    build_tree(gz, session=session)
    index = session.verified.get(f"{gz.layers[0].digest}|{gz.layers[0].media_type}")
    assert index is not None and index.gzip_members == seekpoints.MAX_MEMBERS + 1
    assert seekpoints.plan_seek(gz.layers[0], index, session.cache) is None
    assert seekpoints.plan_seek(gz.layers[0], index, None) is None


def test_many_files_of_a_small_layer_are_read_in_one_pass_not_through_points(monkeypatch: pytest.MonkeyPatch) -> None:
    # Measured on a 110 MB layer (bench_seek.py): 220 seeks cost more CPU than one pass to the
    # last of them; 40 cost a third of it.
    monkeypatch.setattr(seekpoints, "MIN_SPACING", 1 << 20)
    monkeypatch.setattr(seekpoints, "_FIXED_COST_BYTES", 16 << 20)
    assert not seekpoints.worth_seeking(220, 110_000_000, 1 << 20)
    assert seekpoints.worth_seeking(40, 110_000_000, 1 << 20)
    assert seekpoints.worth_seeking(1, 500_000_000, None)
    assert not seekpoints.worth_seeking(1, 10_000_000, None)


def _gzip_member(data: bytes, *, name: bytes = b"", comment: bytes = b"", extra: bytes = b"") -> bytes:
    """One gzip member with optional FNAME/FCOMMENT/FEXTRA header fields (RFC 1952), which
    Python's gzip module does not write, around a raw deflate stream from zlib."""
    import zlib

    flags = (4 if extra else 0) | (8 if name else 0) | (16 if comment else 0)
    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00\x00\xff"
    if extra:
        head += struct.pack("<H", len(extra)) + extra
    if name:
        head += name + b"\x00"
    if comment:
        head += comment + b"\x00"
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = body.compress(data) + body.flush()
    return head + raw + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


@pytest.mark.parametrize("shape", ["header-fields", "empty-members", "trailing-garbage"])
def test_unusual_but_valid_gzip_reads_the_same_bytes(tmp_path: Path, shape: str, layer_passes: list[str]) -> None:
    files = random_files(random.Random(7), WORDS)
    tar = TarBuilder()
    for name, data in files.items():
        tar.add_file(name, data)
    layer = tar.finish()
    half = len(layer) // 2

    def odd(data: bytes, kind: str = "gzip") -> bytes:
        if shape == "header-fields":
            return (_gzip_member(data[:half], name=b"part1.tar", extra=b"XY\x02\x00ab")
                    + _gzip_member(data[half:], comment=b"second member"))
        if shape == "empty-members":
            return gzip.compress(b"", mtime=0) + gzip.compress(data[:half], mtime=0) + gzip.compress(b"", mtime=0) \
                + gzip.compress(data[half:], mtime=0)
        return gzip.compress(data, mtime=0) + b"not gzip, ignored with a warning"

    image = open_image(str(layout_compressed_by(odd, tmp_path / "img", [layer])))
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        reference = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}  # type: ignore[union-attr]
    session = Session(cache=LayerCache(tmp_path / "c"), executor=LocalPool(1))
    nodes = files_of(image, session)
    for _ in range(3):  # a full read, the read that records points, a read through them
        assert read_files(image, nodes, session) == expected_files(reference, nodes)
    assert len(layer_passes) == 1
    assert session.cache is not None and session.cache.get_seek_points(image.layers[0]) is not None


def test_cat_gives_the_same_bytes_on_every_read_and_keeps_points(images: dict[str, Path | str], tmp_path: Path) -> None:
    image = open_image(str(images["buildah"]))
    reference = _full_inflate_members(blob_bytes(image))
    path = max(reference, key=lambda name: name)  # data/text23.txt: near the end of the layer
    cache = tmp_path / "cache"
    assert cat_three_times(str(images["buildah"]), path, str(cache)) == [reference[path]] * 3
    assert [e for e in LayerCache(cache).entries() if e.key.endswith("|seek")]
