"""Reading the files a user names (keys, keyrings, policies, rules, auth files, signatures):
a regular file only, read with a cap. A FIFO would block forever and /dev/zero never ends, so
neither is opened for reading more than its type check."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UsageError

__all__ = ["read_user_file", "KEY_MAX_BYTES", "POLICY_MAX_BYTES"]

KEY_MAX_BYTES = 1 << 20  # a PEM key or an OpenPGP keyring; real ones are a few KB
POLICY_MAX_BYTES = 4 << 20  # policies, rules files, auth files, signature files


def read_user_file(path: Path, what: str, max_bytes: int) -> bytes:
    """The whole file; UsageError (exit 2, one line naming the file) when it is missing,
    unreadable, not a regular file, or larger than `max_bytes`."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read {what}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as fp:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path}: {what} is not a regular file")
        if st.st_size > max_bytes:
            raise UsageError(f"{path}: {what} is {st.st_size} bytes, over the limit of {max_bytes}")
        try:
            data = fp.read(max_bytes + 1)
        except OSError as err:
            raise UsageError(f"{path}: cannot read {what}: {err.strerror}") from None
    if len(data) > max_bytes:
        raise UsageError(f"{path}: {what} grew past the limit of {max_bytes} bytes while it was read")
    return data
