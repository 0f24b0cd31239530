"""An SBOM someone hands us (`verify --sbom`): CycloneDX JSON 1.4-1.6 or SPDX JSON 2.2/2.3, read
with bounds into the packages it claims.

The document is untrusted: it is parsed by the strict bounded loader (size cap, duplicate keys and
NaN refused, nesting too deep for the parser refused), then walked without recursion, with a cap on
the depth of nested CycloneDX components and on the number of packages claimed. Every field read
is checked for its type. Anything else is a MalformedSbom with a one-line message naming where in
the document it went wrong; nothing here raises a bare exception on bad input.

What counts as a claimed package:
- CycloneDX: every component of type library, application or framework, at any depth of
  `components` (metadata.component, the thing the BOM describes, is not a claim; file, container,
  operating-system and other components are walked through but not claimed);
- SPDX: every package except a container the document DESCRIBES (the image itself).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InspectrError, MalformedImage
from ..limits import Limits, MiB
from .jsonload import load_json

__all__ = ["MalformedSbom", "ClaimedPackage", "SbomClaims", "parse_sbom", "ecosystem_of_purl",
           "DEFAULT_MAX_SBOM_BYTES", "DEFAULT_MAX_SBOM_PACKAGES", "DEFAULT_MAX_SBOM_DEPTH"]

# An SBOM that lists every file with its hash is far larger than an image config: 64 MiB holds
# some 200,000 files, and parsing that much JSON in Python costs under 1 GiB of memory.
DEFAULT_MAX_SBOM_BYTES = 64 * MiB
# More packages than any real image holds (a large one has a few thousand), few enough that the
# claims list stays small.
DEFAULT_MAX_SBOM_PACKAGES = 100_000
# Components nest for assemblies (an image, a package, its files, a jar in a jar): a handful of
# levels. The cap bounds the walk's stack; the JSON parser bounds the document's own nesting.
DEFAULT_MAX_SBOM_DEPTH = 32

_CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
_SPDX_VERSIONS = ("SPDX-2.2", "SPDX-2.3")
_CLAIMED_TYPES = ("library", "application", "framework")
# purl type -> Package.ecosystem (inspectr/package.py)
_ECOSYSTEMS = {"deb": "deb", "apk": "apk", "rpm": "rpm", "pypi": "python", "npm": "npm", "golang": "go", "maven": "maven"}


class MalformedSbom(MalformedImage):
    """An SBOM given to inspectr is not one it can read: not JSON, too large or deep, a format
    or version it does not read, or a field of the wrong type."""

    error_class = "malformed-sbom"


@dataclass(frozen=True, slots=True, order=True)
class ClaimedPackage:
    """One package an SBOM says is present. `name` as the SBOM writes it (a CycloneDX group is
    joined as Package.name does: "group:artifact" for Maven, "@scope/name" for npm, "group/name"
    otherwise); `version` and `purl` are "" when absent; `ecosystem` is Package.ecosystem's name
    for the purl's type (deb, apk, rpm, python, npm, go, maven), or "" for any other or none."""

    name: str
    version: str
    purl: str
    ecosystem: str


@dataclass(frozen=True, slots=True)
class SbomClaims:
    """What an SBOM claims. `format` is "cyclonedx" or "spdx"; `spec_version` as the document
    states it ("1.6", "SPDX-2.3"); `label` both together, for reports ("CycloneDX 1.6")."""

    format: str
    spec_version: str
    packages: tuple[ClaimedPackage, ...]

    @property
    def label(self) -> str:
        return f"CycloneDX {self.spec_version}" if self.format == "cyclonedx" else self.spec_version.replace("-", " ")


def ecosystem_of_purl(purl: str) -> str:
    """The Package.ecosystem a purl's type stands for ("pkg:pypi/x" -> "python"), or ""."""
    if not purl.startswith("pkg:"):
        return ""
    kind = purl[4:].lstrip("/").partition("/")[0].lower()
    return _ECOSYSTEMS.get(kind, "")


def _show(value: Any) -> str:
    """A value for a one-line message: short, quoted, control characters escaped."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


class _Reader:
    """Typed access to one document's fields; `where` names the place for messages."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt

    def fail(self, where: str, problem: str) -> MalformedSbom:
        if len(where) > 100:  # deep in nested components: the start and the end say where
            where = where[:40] + "..." + where[-57:]
        where = where or "document"
        return MalformedSbom(f"sbom ({self.fmt}): {where}: {problem}")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        return value

    def array(self, parent: dict[str, Any], key: str, where: str) -> list[Any]:
        value = parent.get(key, [])
        if not isinstance(value, list):
            raise self.fail(f"{where}{key}", f"expected an array, got {_kind(value)}")
        return value

    def text(self, parent: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
        if key not in parent:
            if required:
                raise self.fail(where.rstrip("."), f"missing {key!r}")
            return ""
        value = parent[key]
        if not isinstance(value, str):
            raise self.fail(f"{where}{key}", f"expected a string, got {_kind(value)}")
        return value

    def purl(self, value: str, where: str) -> str:
        if value and not value.startswith("pkg:"):
            raise self.fail(where, f"{_show(value)} is not a package URL (pkg:TYPE/NAME)")
        return value


def parse_sbom(data: bytes, *, limits: Limits = Limits(), max_bytes: int = DEFAULT_MAX_SBOM_BYTES,
               max_packages: int = DEFAULT_MAX_SBOM_PACKAGES, max_depth: int = DEFAULT_MAX_SBOM_DEPTH) -> SbomClaims:
    """Read an SBOM's bytes (CycloneDX JSON 1.4-1.6 or SPDX JSON 2.2/2.3, told apart by their
    own fields) into the packages it claims. `max_bytes` replaces limits.max_json_bytes for this
    one document. Raises MalformedSbom for anything it cannot read."""
    if len(data) > max_bytes:
        raise MalformedSbom(f"sbom: {len(data)} bytes exceeds the SBOM size cap of {max_bytes} bytes")
    try:
        doc = load_json(data, "sbom", replace(limits, max_json_bytes=max_bytes))
    except MalformedSbom:
        raise
    except InspectrError as err:  # too large, not UTF-8, not JSON, nested too deeply, duplicate keys
        raise MalformedSbom(err.message) from err
    if not isinstance(doc, dict):
        raise MalformedSbom(f"sbom: expected a JSON object, got {_kind(doc)}")
    if "bomFormat" in doc:
        return _cyclonedx(doc, max_packages, max_depth)
    if "spdxVersion" in doc:
        return _spdx(doc, max_packages)
    if "@context" in doc:
        raise MalformedSbom("sbom: JSON-LD (SPDX 3) is not read; give SPDX 2.2/2.3 JSON or CycloneDX 1.4-1.6 JSON")
    raise MalformedSbom("sbom: neither CycloneDX JSON (no 'bomFormat') nor SPDX JSON (no 'spdxVersion')")


def _cyclonedx(doc: dict[str, Any], max_packages: int, max_depth: int) -> SbomClaims:
    r = _Reader("cyclonedx")
    if doc["bomFormat"] != "CycloneDX":
        raise r.fail("bomFormat", f"expected 'CycloneDX', got {_show(doc['bomFormat'])}")
    spec_version = r.text(doc, "specVersion", "", required=True)
    if spec_version not in _CYCLONEDX_VERSIONS:
        raise r.fail("specVersion", f"CycloneDX {_show(spec_version)} is not read (reads {', '.join(_CYCLONEDX_VERSIONS)})")
    claims: list[ClaimedPackage] = []
    # (components array, its path, depth), walked breadth first without recursion
    pending: deque[tuple[list[Any], str, int]] = deque([(r.array(doc, "components", ""), "components", 1)])
    while pending:
        items, path, depth = pending.popleft()
        if depth > max_depth:
            raise r.fail(path, f"components nested more than {max_depth} deep")
        for i, item in enumerate(items):
            where = f"{path}[{i}]"
            component = r.obj(item, where)
            kind = r.text(component, "type", f"{where}.", required=True)
            name = r.text(component, "name", f"{where}.", required=True)
            version = r.text(component, "version", f"{where}.")
            group = r.text(component, "group", f"{where}.")
            purl = r.purl(r.text(component, "purl", f"{where}."), f"{where}.purl")
            nested = r.array(component, "components", f"{where}.")
            if nested:
                pending.append((nested, f"{where}.components", depth + 1))
            if kind not in _CLAIMED_TYPES:
                continue
            if len(claims) >= max_packages:
                raise r.fail(where, f"more than {max_packages} packages")
            ecosystem = ecosystem_of_purl(purl)
            if group:
                name = f"{group}:{name}" if ecosystem == "maven" else f"{group}/{name}"
            claims.append(ClaimedPackage(name, version, purl, ecosystem))
    return SbomClaims("cyclonedx", spec_version, tuple(claims))


def _spdx(doc: dict[str, Any], max_packages: int) -> SbomClaims:
    r = _Reader("spdx")
    spec_version = r.text(doc, "spdxVersion", "", required=True)
    if spec_version not in _SPDX_VERSIONS:
        raise r.fail("spdxVersion", f"{_show(spec_version)} is not read (reads {', '.join(_SPDX_VERSIONS)})")
    packages = r.array(doc, "packages", "")
    if len(packages) > max_packages + 1:  # + the image itself
        raise r.fail("packages", f"more than {max_packages} packages")
    described: set[str] = set()  # what the document is about: documentDescribes (2.2) or DESCRIBES
    for i, value in enumerate(r.array(doc, "documentDescribes", "")):
        if not isinstance(value, str):
            raise r.fail(f"documentDescribes[{i}]", f"expected a string, got {_kind(value)}")
        described.add(value)
    for i, item in enumerate(r.array(doc, "relationships", "")):
        rel = r.obj(item, f"relationships[{i}]")
        if (r.text(rel, "relationshipType", f"relationships[{i}].") == "DESCRIBES"
                and r.text(rel, "spdxElementId", f"relationships[{i}].") == "SPDXRef-DOCUMENT"):
            described.add(r.text(rel, "relatedSpdxElement", f"relationships[{i}]."))
    claims: list[ClaimedPackage] = []
    for i, item in enumerate(packages):
        where = f"packages[{i}]"
        package = r.obj(item, where)
        spdx_id = r.text(package, "SPDXID", f"{where}.", required=True)
        name = r.text(package, "name", f"{where}.", required=True)
        version = r.text(package, "versionInfo", f"{where}.")
        purpose = r.text(package, "primaryPackagePurpose", f"{where}.")
        purl = ""
        for j, ref_item in enumerate(r.array(package, "externalRefs", f"{where}.")):
            ref = r.obj(ref_item, f"{where}.externalRefs[{j}]")
            if r.text(ref, "referenceType", f"{where}.externalRefs[{j}].") == "purl" and not purl:
                purl = r.purl(r.text(ref, "referenceLocator", f"{where}.externalRefs[{j}].", required=True),
                              f"{where}.externalRefs[{j}].referenceLocator")
        if spdx_id in described and (purpose == "CONTAINER" or purl.startswith(("pkg:oci/", "pkg:docker/"))):
            continue  # the image this SBOM describes, not a package in it
        if len(claims) >= max_packages:
            raise r.fail(where, f"more than {max_packages} packages")
        claims.append(ClaimedPackage(name, version, purl, ecosystem_of_purl(purl)))
    return SbomClaims("spdx", spec_version, tuple(claims))
