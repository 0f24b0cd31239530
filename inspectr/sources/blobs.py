"""Where blob bytes live: a file, or a slice of an outer archive. Openers are picklable, so
layer indexing can run in worker processes."""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import BlobNotFound, CorruptTar, InspectrError, MalformedImage, ReadError, SizeLimitExceeded
from ..limits import Limits
from ..untrusted.members import archive_member_names
from ..untrusted.tar import HARDLINK, REGULAR, SYMLINK, FileBlocks, TarWalker

__all__ = ["FileSlice", "SliceReader", "MemoryBlob", "ArchiveIndex", "open_dir_file"]


class SliceReader(io.RawIOBase):
    """Reads exactly [offset, offset+length) of a file; the OS file is private to this reader.
    Seekable within the slice (positions count from its start), for indexed_gzip's file mode."""

    def __init__(self, path: str, offset: int, length: int) -> None:
        super().__init__()
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as err:
            self._fd = -1
            raise _read_error(path, err) from None
        self._start = offset
        self._pos = offset
        self._end = offset + length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos - self._start

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: self._start, 1: self._pos, 2: self._end}[whence]
        self._pos = max(self._start, min(self._end, base + pos))
        return self._pos - self._start

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._end - self._pos
        n = min(n, self._end - self._pos)
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


def _read_error(path: str, err: OSError) -> InspectrError:
    if isinstance(err, FileNotFoundError):  # removed after it was listed: the blob is gone
        return BlobNotFound(f"{path}: not found")
    return ReadError(f"{path}: cannot read: {err.strerror or err}")


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A blob: `length` bytes at `offset` in `path` (a whole file when offset is 0)."""

    path: str
    offset: int
    length: int

    @property
    def key(self) -> str:
        return f"{self.path}@{self.offset}"

    def open(self) -> BinaryIO:
        return SliceReader(self.path, self.offset, self.length)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class MemoryBlob:
    """A small verified blob held in memory: a registry manifest or config that a read-only or
    full cache could not keep."""

    data: bytes
    name: str

    @property
    def key(self) -> str:
        return f"memory:{self.name}"

    @property
    def length(self) -> int:
        return len(self.data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)


def open_dir_file(root: Path, rel: str, what: str) -> FileSlice:
    """A blob file inside a layout dir, refusing symlinks and anything but regular files."""
    path = root / rel
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise BlobNotFound(f"{root}: {what}: {rel} not found") from None
    except OSError as err:
        raise BlobNotFound(f"{root}: {what}: cannot read {rel}: {err.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise MalformedImage(f"{root}: {what}: {rel} is not a regular file")
    return FileSlice(str(path), 0, st.st_size)


class ArchiveIndex:
    """The members of an outer tar (docker-archive, oci-archive), found by walking headers and
    seeking over content. Outer archives are untrusted too: names are normalised, and symlinks
    and hardlinks between members (docker save writes them) are resolved inside the archive."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = path
        self._members: dict[str, tuple[str, int, int, str]] = {}  # name -> (type, offset, size, link)
        self.notes: list[str] = []
        notes = self.notes
        try:
            size = os.stat(path).st_size
            with open(path, "rb") as fp:
                walker = TarWalker(FileBlocks(fp, size), limits, f"{path}", lambda code, msg: notes.append(msg))
                for member in walker:
                    name, link = archive_member_names(member, limits, f"{path}")
                    self._members[name] = (member.typeflag, member.data_offset, member.stored_size, link)
                    if member.data_offset + member.stored_size > size:
                        raise CorruptTar(f"{path}: archive is truncated (member {name!r} runs past the end)")
        except OSError as err:
            raise _read_error(str(path), err) from None

    def names(self) -> list[str]:
        return list(self._members)

    def __contains__(self, name: str) -> bool:
        return self._lookup(name) is not None

    def _lookup(self, name: str, hops: int = 0) -> tuple[str, int, int, str] | None:
        name = name.strip("/")
        while name.startswith("./"):
            name = name[2:]
        member = self._members.get(name)
        if member is None or hops > 8:
            return None
        typeflag, _, _, link = member
        if typeflag == SYMLINK:
            base = name.rsplit("/", 1)[0] if "/" in name else ""
            target = link if link.startswith("/") else (f"{base}/{link}" if base else link)
            parts: list[str] = []
            for part in target.split("/"):
                if part in ("", "."):
                    continue
                if part == "..":
                    if parts:
                        parts.pop()
                    continue
                parts.append(part)
            return self._lookup("/".join(parts), hops + 1)
        if typeflag == HARDLINK:
            return self._lookup(link, hops + 1)
        return member if typeflag == REGULAR else None

    def blob(self, name: str, what: str) -> FileSlice:
        member = self._lookup(name)
        if member is None:
            raise BlobNotFound(f"{self.path}: {what}: {name} is not in the archive")
        _, offset, size, _ = member
        return FileSlice(str(self.path), offset, size)

    def read_small(self, name: str, what: str, limits: Limits) -> bytes:
        blob = self.blob(name, what)
        if blob.length > limits.max_json_bytes:
            raise SizeLimitExceeded(f"{self.path}: {what}: {name} is {blob.length} bytes, over max_json_bytes")
        with blob.open() as fp:
            return fp.read()
