"""Package and PackageFile: what a package database in an image says is installed (ground floor).

The parsers in untrusted/ build these from the image's bytes; the packages/ engine adds the
layer, compares them with the files, and the presenters turn them into reports and SBOMs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

__all__ = ["ECOSYSTEMS", "PackageFile", "Package"]

# deb: dpkg; apk: Alpine; rpm: rpmdb.sqlite; python: dist-info/egg-info; npm: node_modules and
# lockfiles; go: a binary's embedded build info; maven: pom.properties inside a jar
ECOSYSTEMS = ("deb", "apk", "rpm", "python", "npm", "go", "maven")

# How a database names a file's recorded digest, and the hashlib name for it.
DIGEST_ALGORITHMS = ("md5", "sha1", "sha256", "sha384", "sha512", "sha224")


@dataclass(frozen=True, slots=True)
class PackageFile:
    """One file a package database lists. `path` is normalised (relative, no leading '/').
    `digest` is "ALGO:HEX" as the database records it, or "" when it records none (a directory,
    a symlink, a database without hashes)."""

    path: str
    digest: str = ""
    conffile: bool = False

    @property
    def algorithm(self) -> str:
        return self.digest.partition(":")[0]

    @property
    def hexdigest(self) -> str:
        return self.digest.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package. `location` is the database file (or the binary, or the jar) the
    record came from; `layer` the 0-based layer that installed or last changed it, once known."""

    ecosystem: str
    name: str
    version: str
    arch: str = ""
    source: str = ""  # source package (deb Source, apk origin, rpm SOURCERPM), where known
    location: str = ""
    layer: int | None = None
    files: tuple[PackageFile, ...] = ()
    # An embedded dependency (a Go module in a binary, a jar inside a jar) names the package
    # that carries it, so the inventory can say where it came from.
    parent: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity for diffs: one name may be installed for several architectures or places."""
        where = self.location if self.ecosystem in ("python", "npm", "go", "maven") else ""
        return (self.ecosystem, self.name, self.arch, where)

    @property
    def purl(self) -> str:
        """The package URL (github.com/package-url/purl-spec) for SBOMs."""
        kind = {"deb": "deb", "apk": "apk", "rpm": "rpm", "python": "pypi", "npm": "npm", "go": "golang",
                "maven": "maven"}[self.ecosystem]
        name = self.name
        namespace = ""
        if self.ecosystem == "maven" and ":" in name:
            namespace, name = name.split(":", 1)
        elif self.ecosystem == "npm" and name.startswith("@") and "/" in name:
            namespace, name = name.split("/", 1)
        elif self.ecosystem == "go" and "/" in name:
            namespace, name = name.rsplit("/", 1)
        elif self.ecosystem == "python":
            name = name.lower().replace("_", "-").replace(".", "-")
        head = f"pkg:{kind}/"
        if namespace:
            head += "/".join(quote(part, safe="") for part in namespace.split("/")) + "/"
        version, qualifiers = self.version, []
        epoch, sep, rest = version.partition(":")
        if self.ecosystem == "rpm" and sep and epoch.isdigit():  # purl-spec: an rpm epoch is a qualifier
            version = rest
            qualifiers.append(f"epoch={epoch}")
        out = head + quote(name, safe="") + (f"@{quote(version, safe='+~')}" if version else "")
        if self.arch:
            qualifiers.append(f"arch={quote(self.arch, safe='')}")
        if self.ecosystem in ("deb", "rpm", "apk") and self.source and self.source != self.name:
            qualifiers.append(f"upstream={quote(self.source, safe='')}")
        return out + ("?" + "&".join(sorted(qualifiers)) if qualifiers else "")  # purl-spec: keys sorted

    def with_layer(self, layer: int | None) -> "Package":
        return replace(self, layer=layer)
