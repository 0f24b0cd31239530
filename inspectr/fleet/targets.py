"""What a fleet scan covers: its inputs expanded into image references.

- `docker://HOST/REPO[:TAG]`: one image;
- `docker://HOST/GLOB[:TAGGLOB]` (a `*`, `?` or `[` in the repository): every repository the
  registry's `_catalog` lists that matches GLOB (`**` crosses `/`), with each of its tags (that
  match TAGGLOB, default every tag);
- a file of references, one per line (`#` starts a comment), given with `--from-file`;
- a local layout or archive, as every command reads them: only with the embedded cluster, since
  a remote worker pulls from the registry and cannot see a path on this machine.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import UsageError
from ..globs import compile_glob
from ..registry.reference import parse_docker_reference
from ..session import Session
from ..userfiles import read_user_file

__all__ = ["Target", "expand_targets", "read_target_file", "MAX_TARGETS"]

MAX_TARGETS = 100_000  # images one scan may cover (a catalog is bounded by it too)
_MAX_FILE_BYTES = 16 << 20
_GLOB_CHARS = "*?["


@dataclass(frozen=True, slots=True)
class Target:
    reference: str
    platform: str | None = None


def read_target_file(path: Path) -> list[str]:
    """The references in a file, one a line; blank lines and `#` comments skipped."""
    data = read_user_file(path, "targets file", _MAX_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: targets file is not UTF-8 text") from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if any(c.isspace() for c in line):
            raise UsageError(f"{path}:{number}: one reference a line, got {line[:80]!r}")
        out.append(line)
    return out


def _catalog(pattern: str, session: Session) -> list[str]:
    """`docker://HOST/GLOB[:TAGGLOB]` expanded through the registry's catalog and tag lists."""
    body = pattern.removeprefix("docker://")
    host, _, rest = body.partition("/")
    if not rest:
        raise UsageError(f"{pattern}: give a repository glob after the host, e.g. docker://{host}/**")
    repo_glob, _, tag_glob = rest.partition(":")
    parse_docker_reference(f"docker://{host}/x")  # the host is checked like any reference's
    client = session.registry.clients.client(host, session.registry.options, session.limits)
    wanted = compile_glob(repo_glob)
    out = []
    for repo in sorted(client.catalog(MAX_TARGETS)):
        if not wanted.match(repo):
            continue
        for tag in sorted(client.tags(repo, MAX_TARGETS)):
            if not tag_glob or fnmatch.fnmatchcase(tag, tag_glob):
                out.append(f"docker://{host}/{repo}:{tag}")
    return out


def _is_pattern(reference: str) -> bool:
    if not reference.startswith("docker://"):
        return False
    _, _, rest = reference.removeprefix("docker://").partition("/")
    return any(c in rest.split("@")[0] for c in _GLOB_CHARS)


def expand_targets(references: Iterable[str], files: Sequence[Path] = (), *, session: Session, remote: bool,
                   platform: str | None = None) -> list[Target]:
    """Every image the inputs name, in order, once each. With `remote` (a --scheduler
    cluster) a local path is refused: the workers could not read it. Raises UsageError."""
    given = list(references)
    for path in files:
        given += read_target_file(path)
    out: dict[str, Target] = {}
    for ref in given:
        expanded = _catalog(ref, session) if _is_pattern(ref) else [ref]
        for one in expanded:
            if one.startswith("docker://"):
                parse_docker_reference(one)  # a malformed reference is bad input, exit 2
            elif remote:
                raise UsageError(f"{one}: a local image cannot be scanned on a --scheduler cluster (its workers pull "
                                 "from the registry themselves); push it to a registry, or scan without --scheduler")
            out.setdefault(one, Target(one, platform))
            if len(out) > MAX_TARGETS:
                raise UsageError(f"more than {MAX_TARGETS} images to scan; split the scan")
    if not out:
        raise UsageError("no images to scan: give references, a catalog glob or --from-file FILE")
    return list(out.values())
