"""A big layer's pass hashes on a thread of its own (digest.HashLane, issue 16): its blob, its
tar and every file of 256 KiB or more. The digests must be those a plain hasher gives, a broken
blob must fail the same way, and no thread may be left behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import Corrupt, write_oci_layout
from inspectr import open_image
from inspectr.digest import HashBehind, HashLane
from inspectr.errors import InspectrError
from inspectr.fs import layer_index
from inspectr.fs.layer_index import Keep, index_layer, iter_layer_members
from test_properties import stacks, to_tar


_BEFORE: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def _threads_before() -> None:
    """Hash threads another test may have left to the garbage collector are not this test's."""
    _BEFORE.clear()
    _BEFORE.update(t for t in threading.enumerate() if t.name == "inspectr-hash")


def _hash_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "inspectr-hash" and t not in _BEFORE]


def test_the_digest_equals_hashlib_even_when_the_caller_reuses_its_buffer() -> None:
    rng = random.Random(5)
    chunks = [rng.randbytes(n) for n in (0, 1, 2047, 2048, 65536, 1 << 20, 12345)] * 12
    lane = HashLane()
    behind, other, plain = HashBehind(hashlib.sha256(), lane), HashBehind(hashlib.sha512(), lane), hashlib.sha256()
    buf = bytearray(1 << 20)
    for chunk in chunks:
        view = memoryview(buf)[:len(chunk)]
        view[:] = chunk
        behind.update(view)  # overwritten by the next chunk straight after
        other.update(memoryview(chunk)[1:])  # a view of bytes goes as it is
        plain.update(chunk)
    buf[:] = bytes(len(buf))
    assert behind.hexdigest() == plain.hexdigest()
    assert behind.digest() == plain.digest()
    assert other.hexdigest() == hashlib.sha512(b"".join(c[1:] for c in chunks)).hexdigest()
    lane.close()
    with pytest.raises(ValueError):
        behind.update(b"late")
    assert not _hash_threads()


def test_close_stops_the_thread_without_waiting_for_the_queue() -> None:
    lane = HashLane()
    behind = HashBehind(hashlib.sha512(), lane)
    for _ in range(20):
        behind.update(bytes(1 << 20))
    lane.close()
    lane.close()  # twice is fine
    assert not _hash_threads()


def _big_layer() -> bytes:
    """Incompressible files, so the gzip blob is over the threshold (8 MiB); sizes on both sides
    of the per-file threshold (256 KiB), and small ones in between."""
    rng = random.Random(11)
    out = io.BytesIO()
    sizes = [1 << 20] * 8 + [(256 << 10) - 1, 256 << 10, (256 << 10) + 1, 0, 1, 4096, 70000]
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i, size in enumerate(sizes):
            data = rng.randbytes(size)
            info = tarfile.TarInfo(f"data/f{i}")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
            if i == 3:
                link = tarfile.TarInfo("data/link")
                link.type, link.linkname = tarfile.LNKTYPE, "data/f3"
                tar.addfile(link)
    return out.getvalue()


@pytest.fixture(scope="module")
def big_layer() -> bytes:
    return _big_layer()


def _index(path: Path) -> object:
    image = open_image(str(path))
    ref = image.layers[0]
    assert ref.size is not None and ref.size >= layer_index._BEHIND_BYTES  # the threaded path, not the plain one
    return index_layer(ref, 0, image.limits)


@pytest.mark.parametrize("keep", [False, True])
def test_a_big_layer_indexes_as_it_does_with_plain_hashers(tmp_path: Path, big_layer: bytes, keep: bool,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_oci_layout(tmp_path / "img", [big_layer])
    image = open_image(str(written.path))
    keeps = [Keep(str(tmp_path / "kept-threaded")), Keep(str(tmp_path / "kept-plain"))] if keep else [None, None]
    threaded = index_layer(image.layers[0], 0, image.limits, keep=keeps[0])
    assert not _hash_threads()
    monkeypatch.setattr(layer_index, "_BEHIND_BYTES", 1 << 62)
    plain = index_layer(image.layers[0], 0, image.limits, keep=keeps[1])
    assert threaded == plain
    assert threaded.diff_id == written.diff_ids[0]
    with tarfile.open(fileobj=io.BytesIO(big_layer)) as tar:  # every file's digest, from Python's tarfile
        expected = {m.name: hashlib.sha256(tar.extractfile(m).read()).digest() for m in tar if m.isfile()}  # type: ignore[union-attr]
    assert {e.path: e.sha256 for e in threaded.entries if e.kind.value == "file"} == expected
    if keep:
        assert Path(keeps[0].path).read_bytes() == Path(keeps[1].path).read_bytes()  # type: ignore[union-attr]
        assert keeps[0].read_map() == keeps[1].read_map()  # type: ignore[union-attr]


@pytest.mark.parametrize("corrupt", [
    Corrupt(layer_digest=0), Corrupt(diff_id=0), Corrupt(layer_size=0, size_delta=1),
    Corrupt(layer_size=0, size_delta=-1), Corrupt(truncate_blob={0: (8 << 20) + (1 << 19)}),
], ids=["digest", "diff_id", "size-over", "size-under", "truncated"])
def test_a_broken_big_layer_fails_as_with_plain_hashers_and_leaves_no_thread(
        tmp_path: Path, big_layer: bytes, corrupt: Corrupt, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_oci_layout(tmp_path / "img", [big_layer], corrupt=corrupt)
    with pytest.raises(InspectrError) as threaded:
        _index(written.path)
    assert not _hash_threads()
    monkeypatch.setattr(layer_index, "_BEHIND_BYTES", 1 << 62)
    image = open_image(str(written.path))
    with pytest.raises(InspectrError) as plain:
        index_layer(image.layers[0], 0, image.limits)
    assert (type(threaded.value), str(threaded.value)) == (type(plain.value), str(plain.value))


def test_a_content_read_stopped_early_leaves_no_thread(tmp_path: Path, big_layer: bytes) -> None:
    written = write_oci_layout(tmp_path / "img", [big_layer])
    image = open_image(str(written.path))
    members = iter_layer_members(image.layers[0], image.limits)
    for _, member in members:
        if member.raw_name.endswith(b"f1"):
            break
    assert _hash_threads()  # the pass is still open
    members.close()
    assert not _hash_threads()


def test_a_layer_that_fails_before_its_pass_starts_leaves_no_thread(tmp_path: Path, big_layer: bytes) -> None:
    """The media type says zstd, the bytes are gzip: the error comes while the stream is opened,
    before the pass's own cleanup is in place."""
    written = write_oci_layout(tmp_path / "img", [big_layer],
                               media_types=["application/vnd.oci.image.layer.v1.tar+zstd"])
    with pytest.raises(InspectrError, match="zstd"):
        _index(written.path)
    assert not _hash_threads()


def test_a_missing_blob_leaves_no_thread(tmp_path: Path, big_layer: bytes) -> None:
    written = write_oci_layout(tmp_path / "img", [big_layer])
    image = open_image(str(written.path))
    (written.path / "blobs" / "sha256" / written.layer_digests[0].split(":")[1]).unlink()  # gone after the open
    with pytest.raises(InspectrError, match="not found"):
        index_layer(image.layers[0], 0, image.limits)
    assert not _hash_threads()


def test_an_error_in_the_hash_thread_reaches_the_caller_and_never_blocks_it() -> None:
    class Failing:
        name = "sha256"

        def update(self, data: bytes) -> None:
            raise MemoryError("no room")

        def hexdigest(self) -> str:
            raise AssertionError("not reached")

    lane = HashLane()
    behind = HashBehind(Failing(), lane)  # type: ignore[arg-type]
    for _ in range(4 * HashLane._DEPTH):  # more than the queue holds: each put still returns
        behind.update(b"x" * 4096)
    with pytest.raises(MemoryError, match="no room"):
        behind.hexdigest()
    lane.close()
    assert not _hash_threads()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(layers=stacks(hostile=True, max_layers=2), cut=st.sampled_from([None, 0.5, 0.9]))
def test_hostile_layers_index_alike_on_the_lane_and_in_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            layers, cut) -> None:  # type: ignore[no-untyped-def]
    """Differential: every blob and every file on the lane (thresholds 0) against none of them,
    over hostile tar streams (escaping names, links, duplicates, whiteouts), whole or cut short."""
    blobs = [to_tar(layer) for layer in layers]
    corrupt = Corrupt(truncate_blob={0: int(len(gzip.compress(blobs[0])) * cut)}) if cut else None
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    image = open_image(str(write_oci_layout(directory, blobs, corrupt=corrupt).path))

    def run(behind: int, per_file: int) -> list[object]:
        monkeypatch.setattr(layer_index, "_BEHIND_BYTES", behind)
        monkeypatch.setattr(layer_index, "_LANE_FILE_BYTES", per_file)
        out: list[object] = []
        for ref in image.layers:
            try:
                out.append(index_layer(ref, ref.index, image.limits))
            except InspectrError as err:
                out.append((type(err), str(err)))
        return out

    assert run(0, 0) == run(1 << 62, 1 << 62)
    assert not _hash_threads()
