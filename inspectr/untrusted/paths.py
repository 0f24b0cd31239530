"""Member-name normalisation (R2). Rejects, never repairs, names that climb out of the root."""

from __future__ import annotations

from ..errors import EntryLimitExceeded, InvalidName, PathEscapeRejected, SizeLimitExceeded
from ..limits import Limits

__all__ = ["normalise_name", "decode_name", "split_path", "join_path"]


def decode_name(raw: bytes) -> str:
    """Bytes to str the way os.fsdecode does on Linux: UTF-8, other bytes as surrogate escapes."""
    return raw.decode("utf-8", "surrogateescape")


def normalise_name(raw: bytes, limits: Limits, what: str = "entry name") -> tuple[str, bool]:
    """Clean a tar name lexically: strip leading '/', drop '.' and empty parts, resolve '..'.

    Returns (path, was_absolute); the root is "". Raises PathEscapeRejected when the cleaned
    name would start with '..' and InvalidName on NUL bytes.
    """
    if b"\x00" in raw:
        shown = decode_name(raw.split(b"\x00", 1)[0])
        raise InvalidName(f"{what} {shown!r}...: contains a NUL byte")
    if not raw:
        raise InvalidName(f"{what} is empty")
    if len(raw) > limits.max_path_bytes:
        raise SizeLimitExceeded(
            f"{what} {decode_name(raw[:60])!r}...: {len(raw)} bytes exceeds max_path_bytes={limits.max_path_bytes}"
        )
    absolute = raw.startswith(b"/")
    if b"/." not in raw and not raw.startswith(b".") and b"//" not in raw:
        # Fast path: nothing to clean but leading/trailing slashes.
        cleaned = raw.strip(b"/")
        parts_count = cleaned.count(b"/") + 1 if cleaned else 0
        if parts_count > limits.max_path_depth:
            raise EntryLimitExceeded(f"{what} {decode_name(raw[:60])!r}...: deeper than max_path_depth={limits.max_path_depth}")
        return decode_name(cleaned), absolute
    stack: list[bytes] = []
    for part in raw.split(b"/"):
        if part == b"" or part == b".":
            continue
        if part == b"..":
            if not stack:
                raise PathEscapeRejected(f"{what} {decode_name(raw)!r}: climbs out of the image root")
            stack.pop()
            continue
        stack.append(part)
    if len(stack) > limits.max_path_depth:
        raise EntryLimitExceeded(f"{what} {decode_name(raw[:60])!r}...: deeper than max_path_depth={limits.max_path_depth}")
    return decode_name(b"/".join(stack)), absolute


def split_path(path: str) -> tuple[str, str]:
    """'a/b/c' -> ('a/b', 'c'); 'c' -> ('', 'c')."""
    i = path.rfind("/")
    if i < 0:
        return "", path
    return path[:i], path[i + 1 :]


def join_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
