"""zstd frame boundaries (issue 16): a zstd layer of several frames is re-read from the frame that
holds a file, and the bytes equal a full decompress, for zstd:chunked layers written by skopeo
and for tars that Python's zstandard compressed in chunks cut mid-file, with skippable frames.
A single-frame layer keeps the full read; wrong or damaged boundaries fall back to it."""

from __future__ import annotations

import io
import random
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import zstandard
from builders import TarBuilder
from seek_helpers import blob_bytes, buildah_with, cat_three_times, layout_compressed_by, expected_files, files_of, random_files, read_files, small_spacing, tool  # noqa: F401

from inspectr import open_image
from inspectr.errors import DecompressError
from inspectr.fs import seekpoints
from inspectr.fs.cache import LayerCache
from inspectr.mediatypes import Compression
from inspectr.session import LocalPool, Session
from inspectr.untrusted.decompress import ZstdSeeker, zstd_has_several_frames

WORDS = ["frame", "boundary", "zstd", "chunked", "skippable", "window", "block", "digest", "offset", "layer"]
ZSTD = Compression.ZSTD


def _skippable(payload: bytes, nibble: int = 0) -> bytes:
    """A skippable frame (RFC 8878 3.1.2): magic 0x184D2A5?, size, payload."""
    return bytes([0x50 | nibble, 0x2A, 0x4D, 0x18]) + len(payload).to_bytes(4, "little") + payload


def _chunked(data: bytes, kind: str = "zstd") -> bytes:
    """Frames of 100 000 bytes each, cut anywhere in the tar (mid-header, mid-file), with
    skippable frames before the first, between two and after the last."""
    assert kind == "zstd"
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True)
    frames = [cctx.compress(data[i:i + 100_000]) for i in range(0, len(data), 100_000)]
    frames.insert(7, _skippable(b"between frames", 3))
    return _skippable(b"first") + b"".join(frames) + _skippable(b"x" * 1000, 0xF)


def _reference(blob: bytes) -> dict[str, bytes]:
    """A full decompress with zstandard (all frames) and tarfile, independent of inspectr."""
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob), read_across_frames=True).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name.lstrip("./"): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """skopeo's zstd:chunked (a frame per tar header run and per file, skippable frames holding
    its manifest at the end), skopeo's plain zstd (one frame), and Python's zstandard in chunks."""
    base = tmp_path_factory.mktemp("zseek")
    files = random_files(random.Random(16), WORDS)
    buildah, container = buildah_with(base, files)
    skopeo = tool("skopeo")
    subprocess.run([*buildah, "commit", "--disable-compression=true", container, f"oci:{base / 'plain'}:latest"],
                   check=True, capture_output=True)
    out: dict[str, Path] = {}
    for name, fmt in (("zstd-chunked", "zstd:chunked"), ("zstd-single", "zstd")):
        subprocess.run([skopeo, "copy", "-q", "--dest-compress", "--dest-compress-format", fmt,
                        f"oci:{base / 'plain'}:latest", f"oci:{base / name}:latest"], check=True, capture_output=True)
        out[name] = base / name
    tar = TarBuilder()
    for name, data in files.items():
        tar.add_file(name, data)
    out["python-chunks"] = layout_compressed_by(_chunked, base / "pychunks", [tar.finish()], compression="zstd")
    return out


def _frames(blob: bytes) -> int:
    """Data frames in a blob, counted with zstandard's own frame parser (not inspectr's)."""
    count, pos = 0, 0
    while pos < len(blob):
        if blob[pos + 1:pos + 4] == b"\x2a\x4d\x18":
            pos += 8 + int.from_bytes(blob[pos + 4:pos + 8], "little")
            continue
        pos += _frame_size(blob[pos:])
        count += 1
    return count


def _frame_size(data: bytes) -> int:
    dobj = zstandard.ZstdDecompressor().decompressobj()
    dobj.decompress(data)
    return len(data) - len(dobj.unused_data)


@pytest.mark.parametrize("writer", ["zstd-chunked", "python-chunks"])
def test_bytes_read_through_frame_boundaries_equal_a_full_decompress(images: dict[str, Path], writer: str,
                                                                     tmp_path: Path, layer_passes: list[str]) -> None:
    image = open_image(str(images[writer]))
    ref = image.layers[0]
    blob = blob_bytes(image)
    assert blob[:4] in (b"\x28\xb5\x2f\xfd", b"\x50\x2a\x4d\x18") and _frames(blob) > 5
    reference = _reference(blob)
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = files_of(image, session)
    assert len(nodes) == 25

    full = read_files(image, nodes, session)  # the first read is the full pass, and is noted
    assert len(layer_passes) == 1 and not cache.has_seek_points(ref)
    second = read_files(image, nodes, session)  # the second records frame boundaries on the way
    assert len(layer_passes) == 1
    stored = cache.get_seek_points(ref, ZSTD)
    assert stored is not None and cache.get_seek_points(ref, Compression.GZIP) is None
    assert len(stored) > 23 + 3 * 16  # several boundaries, not just the stream start
    last = max(nodes, key=lambda node: node.inode.offset)
    # A later run: its session holds no index, the stored boundaries are used.
    later = Session(cache=cache, executor=LocalPool(1))
    plan = seekpoints.plan_seek(ref, None, cache)
    assert plan is not None and plan.compression is ZSTD
    again = read_files(image, [last], later)
    assert len(layer_passes) == 1
    assert full == second == expected_files(reference, nodes)
    assert again == expected_files(reference, [last])


def test_a_single_frame_zstd_layer_keeps_the_full_read(images: dict[str, Path], tmp_path: Path,
                                                        layer_passes: list[str]) -> None:
    image = open_image(str(images["zstd-single"]))
    ref = image.layers[0]
    blob = blob_bytes(image)
    assert _frames(blob) == 1
    with ref.blob.open() as raw:
        assert not zstd_has_several_frames(raw, ref.label)
    reference = _reference(blob)
    session = Session(cache=LayerCache(tmp_path / "cache"), executor=LocalPool(1))
    nodes = files_of(image, session)
    for _ in range(3):
        assert read_files(image, nodes, session) == expected_files(reference, nodes)
    assert len(layer_passes) == 3
    assert session.cache is not None and not session.cache.has_seek_points(ref)


def _shift(points: bytes, by: int) -> bytes:
    """Moves every boundary's uncompressed offset but the first, keeping the file well-formed:
    the tag line, then (compressed, uncompressed) pairs of 8-byte little-endian integers."""
    tag, _, body = points.partition(b"\n")
    assert tag == b"inspectr-zstd-frames-1" and len(body) % 16 == 0 and len(body) > 32
    pairs = [(int.from_bytes(body[i:i + 8], "little"), int.from_bytes(body[i + 8:i + 16], "little"))
             for i in range(0, len(body), 16)]
    moved = pairs[:1] + [(c, u + by) for c, u in pairs[1:]]
    return tag + b"\n" + b"".join(c.to_bytes(8, "little") + u.to_bytes(8, "little") for c, u in moved)


def test_corrupted_frame_boundaries_fall_back_to_a_full_read_with_the_right_bytes(
        images: dict[str, Path], tmp_path: Path, layer_passes: list[str]) -> None:
    image = open_image(str(images["python-chunks"]))
    ref = image.layers[0]
    reference = _reference(blob_bytes(image))
    cache = LayerCache(tmp_path / "cache")
    session = Session(cache=cache, executor=LocalPool(1))
    nodes = files_of(image, session)
    read_files(image, nodes, session)
    read_files(image, nodes, session)
    good = cache.get_seek_points(ref, ZSTD)
    assert good is not None and len(layer_passes) == 1
    wanted = sorted(nodes, key=lambda node: node.inode.offset)[-3:]

    # Boundaries that pass the cache's checksum but are wrong (a bug, or a forged entry): the
    # file's sha256 catches it, the full pass delivers the right bytes, and they are dropped.
    cache.put_seek_points(ref, _shift(good, 1000), ZSTD)
    assert read_files(image, wanted, session) == expected_files(reference, wanted)
    assert len(layer_passes) == 2 and cache.get_seek_points(ref, ZSTD) is None

    # Boundaries that point into the middle of a frame: zstandard cannot decode from there.
    tag, _, body = good.partition(b"\n")
    mid = tag + b"\n" + body[:16] + b"".join(
        (int.from_bytes(body[i:i + 8], "little") + 5).to_bytes(8, "little") + body[i + 8:i + 16]
        for i in range(16, len(body), 16))
    cache.put_seek_points(ref, mid, ZSTD)
    assert read_files(image, wanted, session) == expected_files(reference, wanted)
    assert len(layer_passes) == 3 and cache.get_seek_points(ref, ZSTD) is None

    # The next read records them again; then a damaged cache file fails its checksum.
    read_files(image, nodes, session)
    assert len(layer_passes) == 3 and cache.get_seek_points(ref, ZSTD) is not None
    (seek_file,) = [e.path for e in cache.entries() if e.key.endswith("|seek-zstd")]
    data = bytearray(seek_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seek_file.write_bytes(bytes(data))
    later = Session(cache=cache, executor=LocalPool(1))  # a later run: no index in its session
    assert read_files(image, wanted, later) == expected_files(reference, wanted)
    assert len(layer_passes) == 4 and not seek_file.exists()

    # gzip points planted for this zstd blob are never read as frame boundaries, nor the reverse.
    cache.put_seek_points(ref, good, Compression.GZIP)
    assert cache.get_seek_points(ref, ZSTD) is None
    assert read_files(image, wanted, later) == expected_files(reference, wanted)
    assert len(layer_passes) == 5 and not cache.has_seek_points(ref)


def test_skippable_frames_anywhere_are_stepped_over(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(300_000)
    cctx = zstandard.ZstdCompressor(level=1)
    parts = [_skippable(b"a" * 10), cctx.compress(data[:100_000]), _skippable(b""), _skippable(b"b" * 70_000, 9),
             cctx.compress(data[100_000:200_000]), cctx.compress(b""), cctx.compress(data[200_000:]), _skippable(b"z")]
    path = tmp_path / "blob.zst"
    path.write_bytes(b"".join(parts))
    with open(path, "rb") as raw:
        assert zstd_has_several_frames(raw, "blob")
    seeker = ZstdSeeker(open(path, "rb"), 1000, None, "blob", 16)
    try:
        assert b"".join(iter(lambda: seeker.read(7_000), b"")) == data
        points = seeker.export()
    finally:
        seeker.close()
    seeker = ZstdSeeker(open(path, "rb"), 1000, points, "blob", 16)
    try:
        for offset in (250_000, 100_000, 99_999, 0, 299_990, 150_000):
            seeker.seek(offset)
            got = seeker.read(20)  # a read stops at a frame's end: at most n bytes, not exactly n
            got += seeker.read(20 - len(got))
            assert got == data[offset:offset + 20]
        with pytest.raises(DecompressError, match="past the end"):
            seeker.seek(300_001)
    finally:
        seeker.close()
    # Only skippable frames around one data frame: that is a single frame.
    path.write_bytes(_skippable(b"x") + cctx.compress(data) + _skippable(b"y"))
    with open(path, "rb") as raw:
        assert not zstd_has_several_frames(raw, "blob")


def test_boundaries_are_bounded_and_hostile_frames_are_refused(tmp_path: Path) -> None:
    data = random.Random(6).randbytes(200_000)
    cctx = zstandard.ZstdCompressor(level=1)
    path = tmp_path / "blob.zst"
    path.write_bytes(b"".join(cctx.compress(data[i:i + 2_000]) for i in range(0, len(data), 2_000)))
    seeker = ZstdSeeker(open(path, "rb"), 1, None, "blob", 4)
    try:
        assert b"".join(iter(lambda: seeker.read(1 << 16), b"")) == data
        points = seeker.export()
    finally:
        seeker.close()
    assert len(points.partition(b"\n")[2]) == 5 * 16  # 4 spaced, plus the furthest frame reached
    with pytest.raises(DecompressError, match="unusable zstd frame boundaries"):
        ZstdSeeker(open(path, "rb"), 1, points + points[-16:], "blob", 4)  # not increasing, and too many

    # A single-segment frame that claims 1 TiB of content (so a 1 TiB window): refused, not allocated.
    huge = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + (1 << 40).to_bytes(8, "little") + (5 << 3 | 1).to_bytes(3, "little")
    path.write_bytes(cctx.compress(b"first") + huge + b"hello")
    seeker = ZstdSeeker(open(path, "rb"), 1, None, "blob", 4)
    try:
        started = time.monotonic()
        assert seeker.read(100) == b"first"
        with pytest.raises(DecompressError, match="corrupt zstd stream"):
            seeker.read(100)
        assert time.monotonic() - started < 1
    finally:
        seeker.close()

    # A stream of empty blocks costs Python per header: the walk stops at MAX_ZSTD_ELEMENTS.
    empty_block = (0 << 3 | 0).to_bytes(3, "little")
    path.write_bytes(cctx.compress(b"a") + b"\x28\xb5\x2f\xfd\x00\x00" + empty_block * 300_000
                     + (0 << 3 | 1).to_bytes(3, "little"))
    seeker = ZstdSeeker(open(path, "rb"), 1, None, "blob", 4)
    try:
        with pytest.raises(DecompressError, match="too many zstd frames or blocks"):
            seeker.seek(2)
    finally:
        seeker.close()
    with open(path, "rb") as raw:
        assert zstd_has_several_frames(raw, "blob")  # its second frame starts right after the first
    path.write_bytes(b"\x28\xb5\x2f\xfd\x00\x00" + empty_block * 300_000 + (0 << 3 | 1).to_bytes(3, "little")
                     + cctx.compress(b"b"))
    with open(path, "rb") as raw:
        assert not zstd_has_several_frames(raw, "blob")  # too long a walk to find out: read in full


def test_cat_gives_the_same_bytes_on_every_read_and_keeps_boundaries(images: dict[str, Path], tmp_path: Path) -> None:
    image = open_image(str(images["zstd-chunked"]))
    reference = _reference(blob_bytes(image))
    path = max(reference)  # data/text23.txt: near the end of the layer
    cache = tmp_path / "cache"
    assert cat_three_times(str(images["zstd-chunked"]), path, str(cache)) == [reference[path]] * 3
    assert LayerCache(cache).get_seek_points(image.layers[0], ZSTD) is not None
