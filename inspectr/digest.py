"""Digest values and the verifying stream every blob is read through (R22)."""

from __future__ import annotations

import hashlib
import io
import queue
import re
import threading
from dataclasses import dataclass
from typing import BinaryIO

from .errors import DigestMismatch, MalformedImage, SizeLimitExceeded, SizeMismatch

__all__ = ["Digest", "VerifyingReader", "HashBehind", "HashLane", "sha256_digest", "read_verified", "check_bytes"]

_HEX = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True, slots=True)
class Digest:
    """An OCI digest `algorithm:encoded`. Only sha256 and sha512 can be verified."""

    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, value: object, what: str = "digest") -> "Digest":
        """Parse and validate; raises MalformedImage on anything but the spec's grammar."""
        if not isinstance(value, str) or len(value) > 256 or not _DIGEST_RE.match(value):
            raise MalformedImage(f"{what}: malformed digest {value!r}")
        algorithm, encoded = value.split(":", 1)
        want = _HEX.get(algorithm)
        if want is not None and (len(encoded) != want or not re.fullmatch(r"[0-9a-f]+", encoded)):
            raise MalformedImage(f"{what}: malformed {algorithm} digest {value!r}")
        return cls(algorithm, encoded)

    @property
    def verifiable(self) -> bool:
        return self.algorithm in _HEX

    def hasher(self) -> "hashlib._Hash":
        if not self.verifiable:
            raise MalformedImage(f"unsupported digest algorithm {self.algorithm!r} in {self}")
        return hashlib.new(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


def sha256_digest(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


class HashLane:
    """One thread that hashes for a layer's pass: `feed` queues a (hasher, bytes) pair and
    returns, and OpenSSL hashes them without the GIL while the pass inflates and parses on its
    own thread. The pass hashes its blob (digest), its tar (diff_id) and every file's content:
    two thirds of its CPU besides the inflate, which a second core now takes when one is free.

    The queue is bounded (8 chunks of at most 1 MiB), so a hash that falls behind slows the pass
    instead of growing its memory. `drain` waits for every queued chunk and raises what the
    thread met; `close` stops without hashing the rest (a failed or abandoned pass)."""

    _DEPTH = 8

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple["hashlib._Hash", bytes | memoryview] | None] = queue.Queue(self._DEPTH)
        self._closed = False
        self._error: BaseException | None = None
        # A daemon: a worker that is stopped mid-pass must not wait for it at exit.
        self._thread = threading.Thread(target=self._run, name="inspectr-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        get, done = self._queue.get, self._queue.task_done
        while (item := get()) is not None:  # drains to the end, so `feed` never blocks for good
            if not self._closed and self._error is None:  # closed: drop the rest unhashed
                try:
                    item[0].update(item[1])
                except BaseException as err:  # MemoryError: raised by drain, in the pass's thread
                    self._error = err
            done()

    def feed(self, hasher: "hashlib._Hash", data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError("HashLane: fed after it was closed")
        # A caller's buffer may be reused once this returns; bytes (or a view of bytes) cannot be.
        if type(data) is not bytes and not (type(data) is memoryview and type(data.obj) is bytes):
            data = bytes(data)
        self._queue.put((hasher, data))

    def drain(self) -> None:
        """Return once every chunk fed so far is hashed (from the feeding thread only)."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()


class HashBehind:
    """A hasher whose updates run on a HashLane: `hexdigest`/`digest` wait for the lane first."""

    __slots__ = ("name", "_hasher", "_lane")

    def __init__(self, hasher: "hashlib._Hash", lane: HashLane) -> None:
        self.name = hasher.name
        self._hasher, self._lane = hasher, lane

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._lane.feed(self._hasher, data)

    def hexdigest(self) -> str:
        self._lane.drain()
        return self._hasher.hexdigest()

    def digest(self) -> bytes:
        self._lane.drain()
        return self._hasher.digest()


class VerifyingReader:
    """Reads a blob, hashing it and counting bytes; checks digest and exact size at EOF.

    Reading more than `size` bytes fails at once, so an overlong blob never feeds a parser
    past its declared end. `expected_size=None` means the size is unknown (legacy archives).
    """

    def __init__(self, fp: BinaryIO, digest: Digest | None, expected_size: int | None, what: str,
                 behind: bool = False) -> None:
        """With `behind`, the digest is computed on a thread of its own (`self.lane`, which the
        reader's user may feed too, and which `close` stops): for the big blobs of an indexing
        pass, whose reader is busy inflating and parsing."""
        self._fp = fp
        self._digest = digest
        hasher = digest.hasher() if digest is not None else None
        self.lane = HashLane() if behind else None
        self._hasher: "hashlib._Hash | HashBehind | None" = (
            HashBehind(hasher, self.lane) if self.lane is not None and hasher is not None else hasher)
        self._size = expected_size
        self._what = what
        self.count = 0
        self.verified = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 20
        if self._size is not None:
            # Ask for one byte past the end so an overlong blob is caught, not truncated.
            n = min(n, self._size - self.count + 1)
        data = self._fp.read(n) if n > 0 else b""
        if data:
            self.count += len(data)
            if self._hasher is not None:
                self._hasher.update(data)
            if self._size is not None and self.count > self._size:
                raise SizeMismatch(
                    f"{self._what}: size mismatch: descriptor says {self._size} bytes, blob is longer",
                    hint="the archive is corrupt or was modified after it was written",
                )
        elif not self.verified:
            self._finish()
        return data

    def drain(self) -> None:
        """Read to EOF so the digest and size are checked."""
        while self.read(1 << 20):
            pass

    def _finish(self) -> None:
        if self._size is not None and self.count != self._size:
            raise SizeMismatch(
                f"{self._what}: size mismatch: descriptor says {self._size} bytes, blob has {self.count}",
                hint="the archive is corrupt or truncated",
            )
        if self._hasher is not None and self._digest is not None:
            got = self._hasher.hexdigest()
            if got != self._digest.encoded:
                raise DigestMismatch(
                    f"{self._what}: digest mismatch: expected {self._digest}, got {self._digest.algorithm}:{got}",
                    hint="the archive is corrupt or was modified after it was written",
                )
        self.verified = True

    def close(self) -> None:
        if self.lane is not None:
            self.lane.close()
        self._fp.close()


def read_verified(fp: BinaryIO, digest: Digest, size: int, what: str, max_bytes: int) -> bytes:
    """All of a small blob (index, manifest, config, payload), through a VerifyingReader: the
    exact size and the digest are checked before the bytes are returned. `fp` is closed."""
    if size > max_bytes:
        fp.close()
        raise SizeLimitExceeded(f"{what}: {size} bytes exceeds the limit of {max_bytes}")
    reader = VerifyingReader(fp, digest, size, what)
    try:
        parts = []
        while chunk := reader.read(1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        reader.close()


def check_bytes(data: bytes, digest: Digest, size: int | None, what: str) -> None:
    """Bytes already in memory (a registry reply, a descriptor's embedded data) checked by the
    same reader as every blob. Raises SizeMismatch or DigestMismatch."""
    reader = VerifyingReader(io.BytesIO(data), digest, size, what)
    reader.drain()
