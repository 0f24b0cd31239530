"""The two whole-stream digests of a big layer's pass (blob, diff_id) are computed on threads of
their own (digest.HashBehind, issue 16). They must give the digests a plain hasher gives, fail
the same way on every broken blob, and never leave a thread behind."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import threading
from pathlib import Path

import pytest

from builders import Corrupt, write_oci_layout
from inspectr import open_image
from inspectr.digest import HashBehind
from inspectr.errors import InspectrError
from inspectr.fs import layer_index
from inspectr.fs.layer_index import index_layer, iter_layer_members


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
    behind, plain = HashBehind(hashlib.sha256()), hashlib.sha256()
    buf = bytearray(1 << 20)
    for chunk in chunks:
        view = memoryview(buf)[:len(chunk)]
        view[:] = chunk
        behind.update(view)  # overwritten by the next chunk straight after
        plain.update(chunk)
    buf[:] = bytes(len(buf))
    assert behind.hexdigest() == plain.hexdigest()
    assert behind.hexdigest() == plain.hexdigest()  # idempotent, as hashlib's
    with pytest.raises(ValueError):
        behind.update(b"late")
    assert not _hash_threads()


def test_close_stops_the_thread_without_waiting_for_the_queue() -> None:
    behind = HashBehind(hashlib.sha512())
    for _ in range(20):
        behind.update(bytes(1 << 20))
    behind.close()
    assert not _hash_threads()


def _big_layer() -> bytes:
    """Incompressible files, so the gzip blob is over the threshold (8 MiB)."""
    rng = random.Random(11)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(10):
            data = rng.randbytes(1 << 20)
            info = tarfile.TarInfo(f"data/f{i}")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="module")
def big_layer() -> bytes:
    return _big_layer()


def _index(path: Path) -> object:
    image = open_image(str(path))
    ref = image.layers[0]
    assert ref.size is not None and ref.size >= layer_index._BEHIND_BYTES  # the threaded path, not the plain one
    return index_layer(ref, 0, image.limits)


def test_a_big_layer_indexes_as_it_does_with_plain_hashers(tmp_path: Path, big_layer: bytes,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_oci_layout(tmp_path / "img", [big_layer])
    threaded = _index(written.path)
    monkeypatch.setattr(layer_index, "_BEHIND_BYTES", 1 << 62)
    image = open_image(str(written.path))
    plain = index_layer(image.layers[0], 0, image.limits)
    assert threaded == plain
    assert threaded.diff_id == written.diff_ids[0]  # type: ignore[attr-defined]
    assert not _hash_threads()


@pytest.mark.parametrize("corrupt", [
    Corrupt(layer_digest=0), Corrupt(diff_id=0), Corrupt(layer_size=0, size_delta=1),
    Corrupt(layer_size=0, size_delta=-1), Corrupt(truncate_blob={0: 9 << 20}),
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

    behind = HashBehind(Failing())  # type: ignore[arg-type]
    for _ in range(4 * HashBehind._DEPTH):  # more than the queue holds: each put still returns
        behind.update(b"x" * 4096)
    with pytest.raises(MemoryError, match="no room"):
        behind.hexdigest()
    assert not _hash_threads()
