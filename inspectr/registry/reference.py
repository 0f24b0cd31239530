"""`docker://` references, normalised as docker/distribution does (`alpine` is
`docker.io/library/alpine:latest`, served by registry-1.docker.io)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..digest import Digest
from ..errors import MalformedImage, UsageError

__all__ = ["RegistryRef", "parse_docker_reference", "DOCKER_PREFIX"]

DOCKER_PREFIX = "docker://"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_HOST_RE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?"
)


@dataclass(frozen=True, slots=True)
class RegistryRef:
    """A normalised registry reference. `digest` wins over `tag` when both are given."""

    domain: str  # as written (docker.io for Docker Hub)
    repository: str  # library/alpine
    tag: str | None
    digest: Digest | None

    @property
    def api_host(self) -> str:
        """Where the distribution API lives."""
        return DOCKER_HUB_API if self.domain in (DOCKER_HUB, "index.docker.io") else self.domain

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when known, else the tag."""
        return str(self.digest) if self.digest is not None else (self.tag or "latest")

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.repository}"

    def with_digest(self, digest: Digest) -> "RegistryRef":
        return RegistryRef(self.domain, self.repository, self.tag, digest)

    def with_tag(self, tag: str) -> "RegistryRef":
        return RegistryRef(self.domain, self.repository, tag, None)

    def __str__(self) -> str:
        out = self.name
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out


def _is_domain(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component != component.lower()


def parse_docker_reference(text: str) -> RegistryRef:
    """Parse `docker://[HOST[:PORT]/]REPO[:TAG][@DIGEST]`; raises UsageError naming the problem."""
    body = text[len(DOCKER_PREFIX):] if text.startswith(DOCKER_PREFIX) else text
    if body.startswith("//"):
        body = body[2:]  # docker:////host/repo is sometimes typed for docker://host/repo
    if not body:
        raise UsageError(f"{text}: empty registry reference")
    digest: Digest | None = None
    if "@" in body:
        body, raw_digest = body.split("@", 1)
        try:
            digest = Digest.parse(raw_digest, f"{text}")
        except MalformedImage as err:
            raise UsageError(err.message) from None
        if not digest.verifiable:
            raise UsageError(f"{text}: digest algorithm {digest.algorithm!r} cannot be verified")
    tag: str | None = None
    last_slash = body.rfind("/")
    colon = body.rfind(":")
    if colon > last_slash:
        body, tag = body[:colon], body[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise UsageError(f"{text}: invalid tag {tag!r}")
    first, _, rest = body.partition("/")
    if rest and _is_domain(first):
        domain, path = first, rest
        if not _HOST_RE.fullmatch(domain):
            raise UsageError(f"{text}: invalid registry host {domain!r}")
        port = domain.rsplit(":", 1)[1] if ":" in domain and not domain.endswith("]") else None
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise UsageError(f"{text}: registry port {port!r} is out of range (1-65535)")
    else:
        domain, path = DOCKER_HUB, body
    if domain in (DOCKER_HUB, "index.docker.io") and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.fullmatch(path):
        hint = " (repository names are lower case)" if path != path.lower() else ""
        raise UsageError(f"{text}: invalid repository name {path!r}{hint}")
    if len(domain) + 1 + len(path) > 255:
        raise UsageError(f"{text}: repository name longer than 255 characters")
    if tag is None and digest is None:
        tag = "latest"
    return RegistryRef(domain, path, tag, digest)
