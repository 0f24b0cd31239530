"""Pulled blobs, content-addressed under the cache dir (`blobs/<alg>/<hex>`).

A file lands here only after its size and digest were checked while it streamed (atomic
rename), and every reader verifies it again as it reads, so a file tampered with on disk is
caught, never trusted.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..digest import Digest
from ..fs.cache import prune_unused

__all__ = ["BlobCache", "BlobFile"]


@dataclass(frozen=True)
class BlobFile:
    path: Path
    digest: str
    size: int
    mtime: float


class BlobCache:
    def __init__(self, root: Path | None) -> None:
        """`root` None: a private temporary dir, removed at exit (--no-cache)."""
        if root is None:
            tmp = tempfile.mkdtemp(prefix="inspectr-blobs-")
            atexit.register(shutil.rmtree, tmp, True)
            root = Path(tmp)
        self.root = root

    def writable(self) -> OSError | None:
        """None when blobs can be stored here, else why not (a read-only or full cache)."""
        try:
            (self.root / "blobs").mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=self.root / "blobs")
            os.close(fd)
            os.unlink(tmp)
        except OSError as err:
            return err
        return None

    def path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.encoded

    def lookup(self, digest: Digest) -> int | None:
        """The cached file's size, or None when absent (or not a plain file)."""
        try:
            st = os.lstat(self.path(digest))
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return st.st_size

    def put(self, digest: Digest, data: bytes) -> Path:
        """Store already-verified bytes (a manifest read whole); a cached copy that differs is
        replaced, so a file altered in the cache heals on the next fetch."""
        path = self.path(digest)
        if self.lookup(digest) == len(data):
            try:
                if path.read_bytes() == data:
                    return path
            except OSError:
                pass
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=path.parent)
            with os.fdopen(fd, "wb") as fp:
                fp.write(data)
            os.replace(tmp, path)
        except OSError:
            # A read-only or full cache costs requests, not correctness; a half-written
            # .part-* file must not stay behind (a disk that fills mid-write).
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return path

    def touch(self, digest: Digest) -> None:
        try:
            os.utime(self.path(digest))
        except OSError:
            pass

    def entries(self) -> list[BlobFile]:
        out: list[BlobFile] = []
        base = self.root / "blobs"
        if not base.is_dir():
            return out
        for alg in sorted(base.iterdir()):
            for path in sorted(alg.iterdir()) if alg.is_dir() else []:
                if path.name.startswith("."):
                    continue
                st = path.lstat()
                out.append(BlobFile(path, f"{alg.name}:{path.name}", st.st_size, st.st_mtime))
        return out

    def prune(self, older_than_days: float | None = None) -> tuple[int, int]:
        return prune_unused(((b.path, b.size, b.mtime) for b in self.entries()), older_than_days, os.unlink)
