"""An image's inventory as an SBOM: CycloneDX 1.6 JSON and SPDX 2.3 JSON.

Both documents describe the same things in each format's own terms:

- the image is the root: CycloneDX metadata.component of type "container", SPDX a package with
  primaryPackagePurpose CONTAINER that the document DESCRIBES; its name is the reference the user
  typed, its version the manifest digest, which is also its SHA-256 hash, and its purl is
  `pkg:oci/NAME@sha256:...` (purl-spec's oci type: NAME is the repository's last part);
- each package is a component / package with its purl, version, and inspectr's facts about it:
  ecosystem, the layer that installed it (index, digest, diff_id, created_by), the database it was
  read from, its source package and, for an embedded module, the package that carries it. In
  CycloneDX these are `inspectr:*` properties; SPDX 2.3 has no properties, so they are package
  annotations whose comment is "inspectr:NAME: VALUE" (the form Trivy uses for its own facts);
- each regular file a package owns, with the SHA-256 the verified layer index measured (never
  the digest the package database claims). CycloneDX: components of type "file" nested in the
  package's `components` (the spec's assembly: "included in the parent", not a dependency);
  SPDX: a file with a SHA256 checksum that the package CONTAINS.

Output is deterministic: packages are sorted, identifiers are derived from the inventory, the
serial number and document namespace are uuid5 of the image digest (and the format and tool
version), and the one timestamp is the image config's `created` (Inventory.created), or the
caller's `default_created` when the image records none. The same inventory gives the same bytes.

Strings taken from the image (created_by, names, paths) are written as given, JSON-escaped: the
inventory engine redacts created_by before it builds the value. The image's environment, labels
and annotations are not part of an inventory and never reach an SBOM.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from ..errors import InspectrError
from ..inventory_model import Inventory, LayerInfo
from ..package import Package
from ..registry.reference import parse_docker_reference

if TYPE_CHECKING:
    from .table import Target

__all__ = ["cyclonedx_json", "spdx_json", "sbom_created", "present_cyclonedx", "present_spdx"]

# The uuid5 namespace of inspectr's SBOM identifiers (itself uuid5 of a fixed name, so it is
# stable across versions and needs no registration).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "inspectr:sbom")
_TRANSPORTS = ("docker-archive:", "oci-archive:", "oci:", "dir:")
_SPDX_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|z|[+-]\d{2}:\d{2})")


def sbom_created(config_created: str | None, *, default: datetime) -> datetime:
    """The time an SBOM says it was made: the image config's `created` (RFC 3339, as the image
    records it; fractions of a second dropped) when it parses, else `default` (what the caller
    chooses: its clock, or SOURCE_DATE_EPOCH for reproducible output). Never raises."""
    match = _RFC3339.fullmatch(config_created.strip()) if config_created else None
    if match is None:
        return default
    zone = match.group(7).upper()
    text = "-".join(match.group(1, 2, 3)) + "T" + ":".join(match.group(4, 5, 6)) + ("+00:00" if zone == "Z" else zone)
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # 2023-02-30, hour 25: a config's bytes are untrusted
        return default


def _utc(created: datetime) -> datetime:
    # A naive datetime is read as UTC, never as local time: the output must not depend on TZ.
    aware = created.replace(tzinfo=timezone.utc) if created.tzinfo is None else created.astimezone(timezone.utc)
    return aware.replace(microsecond=0)


def _document_uuid(inv: Inventory, fmt: str, tool_version: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{fmt}\n{tool_version}\n{inv.image_digest}")


def _hex(digest: str) -> str | None:
    """HEX of "sha256:HEX", or None for any other algorithm (SBOM hashes here are SHA-256)."""
    algorithm, sep, value = digest.partition(":")
    return value.lower() if sep and algorithm == "sha256" and value else None


def _image_purl(reference: str, image_digest: str) -> PackageURL:
    """purl-spec's oci type: pkg:oci/NAME@DIGEST?repository_url=HOST/REPO&tag=TAG, where NAME is
    the repository's last part, lower case. A local archive or layout has no repository: its
    file or directory name stands for one, and no repository_url is claimed."""
    qualifiers: dict[str, str] = {}
    if reference.startswith("docker://"):
        try:
            ref = parse_docker_reference(reference)
        except InspectrError:
            name = reference.removeprefix("docker://").rsplit("/", 1)[-1].partition("@")[0].partition(":")[0]
        else:
            name = ref.repository.rsplit("/", 1)[-1]
            qualifiers["repository_url"] = ref.name
            if ref.tag:
                qualifiers["tag"] = ref.tag
    else:
        body = reference.rstrip("/")
        for transport in _TRANSPORTS:
            if body.startswith(transport):
                # oci:LAYOUT:TAG, docker-archive:FILE:NAME:TAG: the last part after the path is a tag
                # (a path with ':' in its last component is read wrongly here, harmlessly)
                parts = body[len(transport):].rsplit("/", 1)[-1].split(":")
                if len(parts) > 1 and parts[-1]:
                    qualifiers["tag"] = parts[-1]
                body = parts[0]
                break
        name = body.rsplit("/", 1)[-1]
        for suffix in (".tar", ".tar.gz", ".tgz", ".oci"):
            name = name.removesuffix(suffix)
    return PackageURL(type="oci", name=name.lower() or "image", version=image_digest, qualifiers=qualifiers)


class _VerbatimPurl(PackageURL):
    """A PackageURL that writes the text it was made from: Package.purl, the one purl text of a
    package in every inspectr output. cyclonedx-python-lib takes a PackageURL and writes its
    to_string(), which re-encodes ('+' as %2B, ':' decoded) and, for a name holding '/', turns
    part of the name into a namespace: a different package. The parsed fields only order and
    compare components."""

    verbatim: str

    def to_string(self, encode: bool | None = True) -> str:
        return self.verbatim


def _verbatim_purl(pkg: Package) -> PackageURL:
    text = pkg.purl
    try:
        parsed = PackageURL.from_string(text)
        fields = (parsed.type, parsed.namespace, parsed.name, parsed.version, parsed.qualifiers, parsed.subpath)
    except ValueError:  # the reference implementation refuses it (a name of only spaces): order by text
        fields = ("generic", None, text, None, {}, None)
    # Built as the tuple it is: PackageURL.__new__ in older packageurl-python (0.11, for one)
    # returns a plain PackageURL whatever class it is called for, and it normalises again.
    purl: _VerbatimPurl = tuple.__new__(_VerbatimPurl, fields)
    purl.verbatim = text
    return purl


def _sorted_packages(inv: Inventory) -> list[Package]:
    # every field, so the inventory's order never shows in the output
    return sorted(inv.packages, key=lambda p: (p.ecosystem, p.name, p.version, p.arch, p.location, p.parent,
                                               -1 if p.layer is None else p.layer, p.source,
                                               [(f.path, f.digest, f.conffile) for f in p.files]))


def _facts(pkg: Package, layers: dict[int, LayerInfo]) -> list[tuple[str, str]]:
    """inspectr's facts about a package, as (name, value) pairs, in a fixed order."""
    facts = [("inspectr:ecosystem", pkg.ecosystem)]
    if pkg.layer is not None:
        facts.append(("inspectr:layer", str(pkg.layer)))
        info = layers.get(pkg.layer)
        if info is not None:
            facts.append(("inspectr:layer_digest", info.digest))
            facts.append(("inspectr:layer_diff_id", info.diff_id))
            if info.created_by is not None:
                facts.append(("inspectr:layer_created_by", info.created_by))
    for name, value in (("inspectr:location", pkg.location), ("inspectr:arch", pkg.arch),
                        ("inspectr:source", pkg.source), ("inspectr:parent", pkg.parent)):
        if value:
            facts.append((name, value))
    return facts


def _owned_files(pkg: Package, file_hashes: Mapping[str, str]) -> list[tuple[str, str]]:
    """(path, sha256 hex) of the package's regular files that the verified index hashed, sorted."""
    out: dict[str, str] = {}
    for f in pkg.files:
        digest = file_hashes.get(f.path)
        hexdigest = _hex(digest) if isinstance(digest, str) else None
        if hexdigest is not None:
            out[f.path] = hexdigest
    return sorted(out.items())


def _unique_refs(pkgs: list[Package], base: Iterable[str]) -> list[str]:
    """One identifier per package: its base (the purl) when no other package shares it, else the
    base with the database location, then a counter: stable and readable."""
    bases = list(base)
    seen: dict[str, int] = {}
    for b in bases:
        seen[b] = seen.get(b, 0) + 1
    out: list[str] = []
    taken: set[str] = set()
    for pkg, b in zip(pkgs, bases):
        ref = b if seen[b] == 1 else f"{b}#{pkg.location}"
        candidate, n = ref, 1
        while candidate in taken:
            n += 1
            candidate = f"{ref}#{n}"
        taken.add(candidate)
        out.append(candidate)
    return out


# --- CycloneDX 1.6 -----------------------------------------------------------------------------


def _cdx_name(pkg: Package) -> tuple[str | None, str]:
    """(group, name) as CycloneDX splits them: Maven groupId, an npm scope; else no group."""
    if pkg.ecosystem == "maven" and ":" in pkg.name:
        group, name = pkg.name.split(":", 1)
        return group, name
    if pkg.ecosystem == "npm" and pkg.name.startswith("@") and "/" in pkg.name:
        group, name = pkg.name.split("/", 1)
        return group, name
    return None, pkg.name


def cyclonedx_json(inv: Inventory, *, tool_version: str, default_created: datetime) -> str:
    """The inventory as a CycloneDX 1.6 JSON document (indented, no trailing newline), written by
    cyclonedx-python-lib (the file components are added to its JSON: see below). metadata.timestamp is the image's creation time (Inventory.created), or
    `default_created` when the image records none; the serial number is derived from the image
    digest, so equal inventories give equal bytes. Raises nothing of its own."""
    created = sbom_created(inv.created, default=default_created)
    layers = {info.index: info for info in inv.layers}
    pkgs = _sorted_packages(inv)
    purls = [_verbatim_purl(p) for p in pkgs]
    refs = _unique_refs(pkgs, (p.purl for p in pkgs))
    image_purl = _image_purl(inv.reference, inv.image_digest)
    image_hex = _hex(inv.image_digest)
    root = Component(
        type=ComponentType.CONTAINER, name=inv.reference, version=inv.image_digest, purl=image_purl,
        bom_ref=str(image_purl),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=image_hex)] if image_hex else [],
        properties=[Property(name="inspectr:config_digest", value=inv.config_digest)],
    )
    components: list[Component] = []
    files: dict[str, list[dict[str, Any]]] = {}
    for pkg, purl, ref in zip(pkgs, purls, refs):
        group, name = _cdx_name(pkg)
        components.append(Component(
            type=ComponentType.LIBRARY, group=group, name=name, version=pkg.version or None, purl=purl,
            bom_ref=ref, properties=[Property(name=k, value=v) for k, v in _facts(pkg, layers)],
        ))
        files[ref] = [{"bom-ref": f"{ref}|file:/{path}", "hashes": [{"alg": "SHA-256", "content": hexdigest}],
                       "name": f"/{path}", "type": "file"} for path, hexdigest in _owned_files(pkg, inv.file_hashes)]
    tool = Component(type=ComponentType.APPLICATION, name="inspectr", version=tool_version)
    bom = Bom(
        serial_number=_document_uuid(inv, "cyclonedx", tool_version),
        metadata=BomMetaData(timestamp=_utc(created), component=root, tools=ToolRepository(components=[tool])),
        components=components,
    )
    # The image holds every package: the root's direct dependencies, so the graph is complete.
    bom.register_dependency(root, components)
    with warnings.catch_warnings():
        # cyclonedx-python-lib 8.x warns that a root without dependencies leaves the graph
        # incomplete even when there is nothing to depend on (an image without packages).
        warnings.filterwarnings("ignore", message=".*has no defined dependencies", category=UserWarning)
        doc = json.loads(JsonV1Dot6(bom).output_as_string())
    # The files go in afterwards as plain records, in the library's form (keys sorted): built as
    # library Components they cost some 0.6 ms each (sorted sets, comparisons), half a minute for
    # an image whose packages own 50,000 files, against a second this way. The tests validate
    # the whole document against the CycloneDX 1.6 schema.
    for i, component in enumerate(doc.get("components", [])):
        owned = files.get(component.get("bom-ref", ""))
        if owned:
            doc["components"][i] = dict(sorted({**component, "components": owned}.items()))
    return json.dumps(doc, indent=2, ensure_ascii=True)


# --- SPDX 2.3 ----------------------------------------------------------------------------------
# Written as a plain document (SPDX 2.3 §§6-11), checked in the tests against the official
# SPDX 2.3 JSON schema. SPDX 2.3 wants a SHA1 for every file (§8.4); the verified index holds
# SHA-256 only, so files carry SHA256 alone. packageVerificationCode (§7.9, optional in 2.3) is
# a SHA1 over the files' SHA1s, so it is left out; filesAnalyzed is true exactly when the
# package CONTAINS files.


def _spdx_id(kind: str, label: str, n: int) -> str:
    safe = _SPDX_ID_CHARS.sub("-", label).strip("-")[:64]
    return f"SPDXRef-{kind}-{n}" + (f"-{safe}" if safe else "")


def spdx_json(inv: Inventory, *, tool_version: str, default_created: datetime) -> str:
    """The inventory as an SPDX 2.3 JSON document (indented, no trailing newline).
    creationInfo.created is the image's creation time (Inventory.created), or `default_created`
    when the image records none; documentNamespace is derived from the image digest, so equal
    inventories give equal bytes. Raises nothing of its own."""
    when = _utc(sbom_created(inv.created, default=default_created)).strftime("%Y-%m-%dT%H:%M:%SZ")  # §6.9: YYYY-MM-DDThh:mm:ssZ
    tool = f"Tool: inspectr-{tool_version}"
    layers = {info.index: info for info in inv.layers}
    pkgs = _sorted_packages(inv)
    image_purl = _image_purl(inv.reference, inv.image_digest)
    image_hex = _hex(inv.image_digest)

    image: dict[str, Any] = {
        "SPDXID": "SPDXRef-Image",
        "name": inv.reference,
        "versionInfo": inv.image_digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
    }
    if image_hex:
        image["checksums"] = [{"algorithm": "SHA256", "checksumValue": image_hex}]
    image["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": str(image_purl)}]
    image["annotations"] = [_annotation(when, tool, "inspectr:config_digest", inv.config_digest)]

    packages = [image]
    relationships: list[dict[str, str]] = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": "SPDXRef-Image", "relationshipType": "DESCRIBES"}]
    file_ids: dict[str, str] = {}
    file_entries: list[dict[str, Any]] = []
    contains: list[dict[str, str]] = []
    for n, pkg in enumerate(pkgs, start=1):
        spdx_id = _spdx_id("Package", f"{pkg.ecosystem}-{pkg.name}", n)
        owned = _owned_files(pkg, inv.file_hashes)
        entry: dict[str, Any] = {"SPDXID": spdx_id, "name": pkg.name}
        if pkg.version:
            entry["versionInfo"] = pkg.version
        entry["downloadLocation"] = "NOASSERTION"
        entry["filesAnalyzed"] = bool(owned)
        if pkg.location:
            entry["sourceInfo"] = f"from the {pkg.ecosystem} package record in {pkg.location}"
        entry["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                  "referenceLocator": pkg.purl}]
        entry["annotations"] = [_annotation(when, tool, k, v) for k, v in _facts(pkg, layers)]
        packages.append(entry)
        relationships.append({"spdxElementId": "SPDXRef-Image", "relatedSpdxElement": spdx_id,
                              "relationshipType": "CONTAINS"})
        for path, hexdigest in owned:
            file_id = file_ids.get(path)
            if file_id is None:  # a file two packages own is one SPDX file, contained by both
                file_id = file_ids[path] = _spdx_id("File", path.rsplit("/", 1)[-1], len(file_ids) + 1)
                # §8.1: a file name is relative to the package root and starts with "./"
                file_entries.append({"SPDXID": file_id, "fileName": f"./{path}",
                                     "checksums": [{"algorithm": "SHA256", "checksumValue": hexdigest}]})
            contains.append({"spdxElementId": spdx_id, "relatedSpdxElement": file_id, "relationshipType": "CONTAINS"})

    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": inv.reference,
        "documentNamespace": f"urn:uuid:{_document_uuid(inv, 'spdx', tool_version)}",
        "creationInfo": {"created": when, "creators": [tool]},
        "packages": packages,
    }
    if file_entries:
        doc["files"] = file_entries
    doc["relationships"] = relationships + contains
    return json.dumps(doc, indent=2, ensure_ascii=True)


def _annotation(when: str, tool: str, name: str, value: str) -> dict[str, str]:
    return {"annotationDate": when, "annotationType": "OTHER", "annotator": tool, "comment": f"{name}: {value}"}


def present_cyclonedx(inv: Inventory, to: "Target") -> None:
    """`sbom -f cyclonedx`: the CycloneDX document and a newline on `to.out`. The clock is read
    only for an image whose config records no creation time."""
    from .. import __version__

    to.out.write(cyclonedx_json(inv, tool_version=__version__, default_created=datetime.now(timezone.utc)) + "\n")


def present_spdx(inv: Inventory, to: "Target") -> None:
    """`sbom -f spdx`: the SPDX document and a newline on `to.out` (the clock as for CycloneDX)."""
    from .. import __version__

    to.out.write(spdx_json(inv, tool_version=__version__, default_created=datetime.now(timezone.utc)) + "\n")
