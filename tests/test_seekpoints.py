"""Gzip seek points (issue 16): bytes read through them equal the bytes of a full inflate, for
layers written by buildah, skopeo and Python's gzip module (multi-member too); a corrupted point
is caught and the read falls back to a full verified pass."""

from __future__ import annotations

import gzip
import io
import random
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

import builders
from builders import TarBuilder, write_oci_layout
from inspectr import open_image
from inspectr.fs import seekpoints
from inspectr.fs.build import build_tree
from inspectr.fs.cache import LayerCache
from inspectr.fs.content import content_sources, stream_contents
from inspectr.fs.entry import EntryKind
from inspectr.fs.tree import Inode, Node
from inspectr.image import Image
from inspectr.session import LocalPool, Session

WORDS = ["layer", "seek", "point", "window", "inflate", "member", "offset", "digest", "verified", "zran"]


def _files(rng: random.Random) -> dict[str, bytes]:
    """About 3 MB: text (deflate back-references reach into the 32 KiB windows) and random bytes."""
    out: dict[str, bytes] = {}
    for i in range(24):
        if i % 5 == 4:
            out[f"data/bin{i:02d}.bin"] = rng.randbytes(rng.randrange(20_000, 200_000))
        else:
            out[f"data/text{i:02d}.txt"] = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2_000, 30_000))).encode()
    out["data/empty"] = b""
    return out


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


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """One small image per writer: buildah (its own gzip), skopeo (re-compressed by skopeo, as an
    OCI layout and as an oci-archive, so a blob inside an outer tar), Python's gzip module (one
    member and three members)."""
    base = tmp_path_factory.mktemp("seek")
    files = _files(random.Random(16))
    ctx = base / "ctx"
    for name, data in files.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_bytes(data)
    out: dict[str, Path | str] = {}
    buildah = [_tool("buildah"), "--root", str(base / "root"), "--runroot", str(base / "run"), "--storage-driver", "vfs"]
    skopeo = _tool("skopeo")
    container = subprocess.run([*buildah, "from", "scratch"], check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([*buildah, "copy", container, str(ctx / "data"), "/data/"], check=True, capture_output=True)
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
    mp = pytest.MonkeyPatch()
    mp.setattr(builders, "compress", _multi_member)
    try:
        out["python-gzip-3-members"] = write_oci_layout(base / "pymulti", [layer]).path
    finally:
        mp.undo()
    return out


@pytest.fixture(autouse=True)
def small_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    # A point every 64 KiB, so these small layers get dozens of them, and seeking always pays.
    monkeypatch.setattr(seekpoints, "MIN_SPACING", 64 << 10)
    monkeypatch.setattr(seekpoints, "_FIXED_COST_BYTES", 0)


def _blob_bytes(image: Image) -> bytes:
    with image.layers[0].open() as fp:
        return fp.read()


def _files_of(image: Image, session: Session) -> list[Node]:
    tree = build_tree(image, session=session)
    return [node for node in tree.walk() if node.inode.kind is EntryKind.FILE]


def _read(image: Image, nodes: list[Node], session: Session | None) -> dict[str, bytes]:
    got: dict[int, bytearray] = {}
    inodes: list[Inode] = [node.inode for node in nodes]
    stream_contents(image, content_sources(inodes), lambda inode: got.setdefault(inode.id, bytearray()).extend,
                    lambda inode: None, session=session)
    return {node.path: bytes(got[node.inode.id]) for node in nodes}


def _expected(reference: dict[str, bytes], nodes: list[Node]) -> dict[str, bytes]:
    return {node.path: reference[node.path.lstrip("/")] for node in nodes}


@pytest.mark.parametrize("writer", ["buildah", "skopeo", "skopeo-oci-archive", "python-gzip", "python-gzip-3-members"])
def test_bytes_read_through_seek_points_equal_a_full_inflate(images: dict[str, Path | str], writer: str,
                                                             tmp_path: Path, layer_passes: list[str]) -> None:
    image = open_image(str(images[writer]))
    reference = _full_inflate_members(_blob_bytes(image))
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = _files_of(image, session)
    assert len(nodes) == 25
    index = session.verified.get(f"{image.layers[0].digest}|{image.layers[0].media_type}")
    assert index is not None and index.gzip_members == (3 if writer.endswith("3-members") else 1)

    full = _read(image, nodes, session)  # a first read is the full ISA-L pass, and is noted
    assert len(layer_passes) == 1 and cache.get_seek_points(image.layers[0]) is None
    second = _read(image, nodes, session)  # the second records the points on the way
    assert cache.get_seek_points(image.layers[0]) is not None
    assert len(layer_passes) == 1
    last = max(nodes, key=lambda node: node.inode.offset)
    # A later run: its session holds no index, the stored points are used.
    again = _read(image, [last], Session(cache=cache, executor=LocalPool(1)))
    assert len(layer_passes) == 1
    assert full == second == _expected(reference, nodes)
    assert again == _expected(reference, [last])


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
    reference = _full_inflate_members(_blob_bytes(image))
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = _files_of(image, session)
    _read(image, nodes, session)
    _read(image, nodes, session)
    ref = image.layers[0]
    good = cache.get_seek_points(ref)
    assert good is not None and len(layer_passes) == 1
    wanted = sorted(nodes, key=lambda node: node.inode.offset)[-3:]

    # A point that passes the cache's checksum but is wrong (a bug, or a forged entry): the file's
    # sha256 catches it, the full pass delivers the right bytes, and the bad points are dropped.
    cache.put_seek_points(ref, _shift_points(good, 1000))
    assert _read(image, wanted, session) == _expected(reference, wanted)
    assert len(layer_passes) == 2
    assert cache.get_seek_points(ref) is None

    # The next read records them again.
    _read(image, nodes, session)
    assert len(layer_passes) == 2
    # A damaged cache file fails its checksum: a full read, then the points are recorded again.
    (seek_file,) = [e.path for e in cache.entries() if e.key.endswith("|seek")]
    data = bytearray(seek_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seek_file.write_bytes(bytes(data))
    assert cache.get_seek_points(ref) is None
    later = Session(cache=cache, executor=LocalPool(1))  # a later run: no index in its session
    assert _read(image, wanted, later) == _expected(reference, wanted)
    assert len(layer_passes) == 3 and not seek_file.exists()
    assert _read(image, wanted, later) == _expected(reference, wanted)
    assert len(layer_passes) == 3 and cache.get_seek_points(ref) is not None


def test_a_changed_blob_is_never_read_through_old_points(images: dict[str, Path | str], tmp_path: Path) -> None:
    # Same layer bytes, other compression: the old points (stored under the first digest) are not
    # used for the new blob, and the new blob's read is right.
    image = open_image(str(images["python-gzip"]))
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = _files_of(image, session)
    _read(image, nodes, session)
    _read(image, nodes, session)
    assert cache.get_seek_points(image.layers[0]) is not None
    other = open_image(str(images["python-gzip-3-members"]))
    assert cache.get_seek_points(other.layers[0]) is None
    s2 = Session(cache=cache, executor=LocalPool(1))
    nodes = _files_of(other, s2)
    assert _read(other, nodes, s2) == _expected(_full_inflate_members(_blob_bytes(other)), nodes)


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

    mp = pytest.MonkeyPatch()
    mp.setattr(builders, "compress", many)
    try:
        gz = open_image(write_oci_layout(tmp_path / "m", [layer]).path)
    finally:
        mp.undo()
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
    files = _files(random.Random(7))
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

    mp = pytest.MonkeyPatch()
    mp.setattr(builders, "compress", odd)
    try:
        image = open_image(write_oci_layout(tmp_path / "img", [layer]).path)
    finally:
        mp.undo()
    with tarfile.open(fileobj=io.BytesIO(layer)) as t:
        reference = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}  # type: ignore[union-attr]
    session = Session(cache=LayerCache(tmp_path / "c"), executor=LocalPool(1))
    nodes = _files_of(image, session)
    for _ in range(3):  # a full read, the read that records points, a read through them
        assert _read(image, nodes, session) == _expected(reference, nodes)
    assert len(layer_passes) == 1
    assert session.cache is not None and session.cache.get_seek_points(image.layers[0]) is not None


def test_cat_gives_the_same_bytes_on_every_read_and_keeps_points(images: dict[str, Path | str], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from inspectr.cli import cli

    image = open_image(str(images["buildah"]))
    reference = _full_inflate_members(_blob_bytes(image))
    path = max(reference, key=lambda name: name)  # data/text23.txt: near the end of the layer
    cache = tmp_path / "cache"
    outputs = []
    for _ in range(3):
        result = CliRunner().invoke(cli, ["--cache-dir", str(cache), "cat", str(images["buildah"]), path])
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout_bytes)
    assert outputs == [reference[path]] * 3
    assert [e for e in LayerCache(cache).entries() if e.key.endswith("|seek")]
