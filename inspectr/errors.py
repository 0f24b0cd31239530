"""The InspectrError tree. Every failure has a stable class id (docs/errors.md)."""

from __future__ import annotations

import errno

__all__ = [
    "InspectrError",
    "UsageError",
    "ImageNotFound",
    "ReferenceError_",
    "MalformedImage",
    "InvalidPasswdEntry",
    "IntegrityError",
    "DigestMismatch",
    "SizeMismatch",
    "DiffIdMismatch",
    "BlobNotFound",
    "UnsupportedMediaType",
    "DecompressError",
    "CorruptTar",
    "UnsupportedEntry",
    "PathEscapeRejected",
    "InvalidName",
    "InvalidWhiteout",
    "InvalidHardlink",
    "InvalidRootEntry",
    "ParentNotDirectory",
    "SymlinkLoop",
    "DuplicateEntry",
    "SizeLimitExceeded",
    "EntryLimitExceeded",
    "PathNotFound",
    "NotAFile",
    "ExportError",
    "RegistryError",
    "RegistryUnreachable",
    "RegistryAuthError",
    "ERROR_CLASSES",
    "WriteError",
    "DiskFull",
]


class InspectrError(Exception):
    """Base class. `error_class` is the stable id printed as `error[CLASS]`."""

    error_class = "error"
    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(InspectrError):
    """Bad command-line arguments or options."""

    error_class = "usage"


class ImageNotFound(InspectrError):
    """The image path does not exist or is not a recognised image."""

    error_class = "image-not-found"


class ReferenceError_(InspectrError):
    """A reference or platform does not select exactly one image."""

    error_class = "reference-error"


class MalformedImage(InspectrError):
    """Index, manifest, config or archive metadata is not valid."""

    error_class = "malformed-image"


class InvalidPasswdEntry(MalformedImage):
    """A line of the image's /etc/passwd or /etc/group that a run needs is malformed."""

    error_class = "invalid-passwd-entry"


class IntegrityError(InspectrError):
    """Base of the checks that prove bytes are what a descriptor says."""

    error_class = "integrity-error"


class DigestMismatch(IntegrityError):
    """A blob's bytes do not hash to its digest."""

    error_class = "digest-mismatch"


class SizeMismatch(IntegrityError):
    """A blob's length differs from its descriptor's size."""

    error_class = "size-mismatch"


class DiffIdMismatch(IntegrityError):
    """An uncompressed layer does not hash to its diff_id, or the counts differ."""

    error_class = "diffid-mismatch"


class BlobNotFound(InspectrError):
    """A referenced blob is not in the archive or layout."""

    error_class = "blob-not-found"


class UnsupportedMediaType(InspectrError):
    """A media type that inspectr must not parse (image-spec: unknown types are not parsed)."""

    error_class = "unsupported-media-type"


class DecompressError(InspectrError):
    """A layer's compressed stream is corrupt, truncated or not what its media type says."""

    error_class = "decompress-error"


class CorruptTar(InspectrError):
    """A tar stream is malformed: bad checksum, truncation, bad framing, bad numbers."""

    error_class = "corrupt-tar"


class UnsupportedEntry(InspectrError):
    """A tar entry type that no runtime applies (R18)."""

    error_class = "unsupported-entry"


class PathEscapeRejected(InspectrError):
    """A name or hardlink target climbs out of the image root (R2)."""

    error_class = "path-escape-rejected"


class InvalidName(InspectrError):
    """A member name that is empty or contains NUL."""

    error_class = "invalid-name"


class InvalidWhiteout(InspectrError):
    """`.wh.`, `.wh..` and similar whiteouts that name no sibling (R9)."""

    error_class = "invalid-whiteout"


class InvalidHardlink(InspectrError):
    """A hardlink to nothing, to a directory, or to something not yet created (R11)."""

    error_class = "invalid-hardlink"


class InvalidRootEntry(InspectrError):
    """An entry for the root that is not a directory (R14, CVE-2021-29136)."""

    error_class = "invalid-root-entry"


class ParentNotDirectory(InspectrError):
    """An entry whose parent exists and is not a directory (R13)."""

    error_class = "parent-not-directory"


class SymlinkLoop(InspectrError):
    """Resolving a path took too many symlink hops (R12)."""

    error_class = "symlink-loop"


class DuplicateEntry(InspectrError):
    """A path appears twice in one layer (only raised in strict mode, R3)."""

    error_class = "duplicate-entry"


class SizeLimitExceeded(InspectrError):
    """A byte limit from Limits was exceeded (R24)."""

    error_class = "size-limit-exceeded"


class EntryLimitExceeded(InspectrError):
    """An entry-count or depth limit from Limits was exceeded (R24)."""

    error_class = "entry-limit-exceeded"


class PathNotFound(InspectrError):
    """A path asked for on the command line is not in the image."""

    error_class = "path-not-found"


class NotAFile(InspectrError):
    """`cat` of something that is not a regular file."""

    error_class = "not-a-file"


class ExportError(InspectrError):
    """Materialising a rootfs failed (target not empty, write refused)."""

    error_class = "export-error"


class RegistryError(InspectrError):
    """A registry answered in a way inspectr cannot use (an unexpected status, a bad token)."""

    error_class = "registry-error"


class RegistryUnreachable(RegistryError):
    """No connection: refused, DNS, TLS handshake or certificate failure, timeout."""

    error_class = "registry-unreachable"


class RegistryAuthError(RegistryError):
    """401/403: no credentials, wrong credentials, or no access to the repository."""

    error_class = "registry-auth"


class ReadError(InspectrError):
    """A file of the image (an archive, a layout's document or blob) exists but cannot be read:
    permission denied, an I/O error. The image may be fine; this user cannot read it here."""

    error_class = "read-error"


class WriteError(InspectrError):
    """An output could not be written (a report file, the step summary, standard output)."""

    error_class = "write-error"


class DiskFull(WriteError):
    """No space left on the device (or quota) where an output or the cache is written."""

    error_class = "disk-full"


def write_error_class(err: OSError) -> type[WriteError]:
    """DiskFull for no space (ENOSPC, or EDQUOT for a quota), else WriteError: the one rule
    every output and the blob cache use."""
    return DiskFull if err.errno in (errno.ENOSPC, errno.EDQUOT) else WriteError


def _all_classes() -> dict[str, type[InspectrError]]:
    out: dict[str, type[InspectrError]] = {}
    stack: list[type[InspectrError]] = [InspectrError]
    while stack:
        cls = stack.pop()
        out[cls.error_class] = cls
        stack.extend(cls.__subclasses__())
    return out


ERROR_CLASSES: dict[str, type[InspectrError]] = _all_classes()
