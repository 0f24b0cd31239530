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

__all__ = ["Digest", "VerifyingReader", "HashBehind", "sha256_digest", "read_verified", "check_bytes"]

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


class HashBehind:
    """A hasher that runs on a thread of its own: `update` queues the bytes and returns, and
    OpenSSL hashes them without the GIL while this thread inflates and parses. A layer's pass
    hashes two whole streams (the blob for its digest, the tar for its diff_id), a quarter of
    its CPU, which a second core now takes when it is free. The queue is bounded (8 chunks of
    the callers' 1 MiB or smaller), so a slow hash slows the pass instead of growing memory.

    `hexdigest` waits for every queued chunk; after it, or after `close`, `update` is refused."""

    _DEPTH = 8

    def __init__(self, hasher: "hashlib._Hash") -> None:
        self.name = hasher.name
        self._hasher = hasher
        self._queue: queue.Queue[bytes | None] = queue.Queue(self._DEPTH)
        self._stop = False
        self._done = False
        self._error: BaseException | None = None
        # A daemon: a worker that is stopped mid-pass must not wait for it at exit.
        self._thread = threading.Thread(target=self._run, name="inspectr-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:  # drains to the end, so `update` never blocks for good
            if not self._stop and self._error is None:
                try:
                    self._hasher.update(data)
                except BaseException as err:  # MemoryError: raised by hexdigest, in the caller's thread
                    self._error = err

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise ValueError("HashBehind: update after the digest was taken or the hasher closed")
        # A caller's buffer may be reused once this returns; bytes are immutable and go as they are.
        self._queue.put(data if type(data) is bytes else bytes(data))

    def _join(self) -> None:
        if not self._done:
            self._done = True
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        self._join()
        if self._error is not None:
            raise self._error
        return self._hasher.hexdigest()

    def close(self) -> None:
        """Stop without hashing what is still queued (a failed or abandoned pass)."""
        self._stop = True
        self._join()


class VerifyingReader:
    """Reads a blob, hashing it and counting bytes; checks digest and exact size at EOF.

    Reading more than `size` bytes fails at once, so an overlong blob never feeds a parser
    past its declared end. `expected_size=None` means the size is unknown (legacy archives).
    """

    def __init__(self, fp: BinaryIO, digest: Digest | None, expected_size: int | None, what: str,
                 behind: bool = False) -> None:
        """With `behind`, the digest is computed on a thread of its own (HashBehind): for the
        big blobs of an indexing pass, whose reader is busy inflating and parsing."""
        self._fp = fp
        self._digest = digest
        hasher = digest.hasher() if digest is not None else None
        self._hasher: "hashlib._Hash | HashBehind | None" = HashBehind(hasher) if behind and hasher is not None else hasher
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
        if isinstance(self._hasher, HashBehind):
            self._hasher.close()
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
