"""Cause classes for file changes: noise paths, and content checks that explain a new sha256."""

from __future__ import annotations

from ..untrusted.nested import archive_fingerprint, pyc_body, shadow_without_lastchange, strip_build_id
from .difference import Cause
from ..globs import compile_glob

__all__ = ["NOISE_GLOBS", "is_noise_path", "refine_content_cause", "HINTS"]

# Files that change on every build without changing what the image does.
NOISE_GLOBS = (
    "var/log/**",
    "var/cache/**",
    "var/lib/apt/lists/**",
    "var/lib/dpkg/*-old",
    "var/lib/dnf/**",
    "var/lib/rpm/__db.*",
    "etc/ld.so.cache",
    "**/__pycache__/**",
    "**/*.pyc",
    "root/.cache/**",
    "tmp/**",
    "var/tmp/**",
    "run/**",
    "etc/machine-id",
    "var/lib/systemd/random-seed",
    "lib/apk/db/scripts.tar",
)
_NOISE = [compile_glob(g) for g in NOISE_GLOBS]


def is_noise_path(path: str) -> bool:
    return any(r.match(path) for r in _NOISE)


def refine_content_cause(path: str, a: bytes | None, b: bytes | None) -> tuple[Cause, str | None]:
    """Given both contents (None when not read), the cause of a content change and a note."""
    if a is not None and b is not None:
        if path in ("etc/shadow", "etc/shadow-"):
            sa, sb = shadow_without_lastchange(a), shadow_without_lastchange(b)
            if sa is not None and sa == sb:
                return Cause.NOISE, "only the last-password-change field differs"
        if path.endswith(".pyc"):
            pa, pb = pyc_body(a), pyc_body(b)
            if pa is not None and pa == pb:
                return Cause.NOISE, "only the .pyc header (source mtime) differs"
        ea, eb = strip_build_id(a), strip_build_id(b)
        if ea is not None and ea == eb:
            return Cause.BUILD_ID, "ELF files equal except for the GNU build-id note"
        fa, fb = archive_fingerprint(a), archive_fingerprint(b)
        if fa is not None and fa == fb:
            return Cause.NESTED_ARCHIVE, "archive members are equal; only their metadata (timestamps) differ"
    if is_noise_path(path):
        return Cause.NOISE, "a log or cache file"
    return Cause.CONTENT, None


HINTS = {
    Cause.TIMESTAMP: "set SOURCE_DATE_EPOCH and build with `buildah build --timestamp 0`, BuildKit "
                     "`rewrite-timestamp=true`, or kaniko `--reproducible`",
    Cause.HISTORY: "history differs: pin the base image by digest and keep build arguments identical",
    Cause.TAR_FORMAT: "tar entry order or header format differs: use the same builder and version for both builds",
    Cause.COMPRESSION: "only compression differs: the uncompressed layers (diff_ids) are identical",
    Cause.IMAGE_FORMAT: "only how the image is stored differs (container format or Docker vs OCI media types), not its content",
    Cause.LAYER_BOUNDARIES: "the files are split into layers differently (e.g. squashed); note that content deleted "
                            "in a later layer still ships in the earlier one: review hidden entries before accepting this",
    Cause.NOISE: "remove logs and caches in the same build step (e.g. `rm -rf /var/lib/apt/lists/* /var/log/*`)",
    Cause.NESTED_ARCHIVE: "archives inside the image carry timestamps: normalise them (e.g. `strip-nondeterminism`)",
    Cause.BUILD_ID: "ELF build-ids differ: build with -ffile-prefix-map and a fixed SOURCE_DATE_EPOCH",
    Cause.IMAGE_NAME: "only image names/tags differ",
    Cause.OWNERSHIP_NAMES: "only user/group names differ, ids are equal",
    Cause.CONTENT: "real content changes: review them",
}
