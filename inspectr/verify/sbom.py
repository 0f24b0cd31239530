"""`verify --sbom`: an SBOM that comes with the image, held against what the image holds.

The SBOMs are the image's verified CycloneDX and SPDX attestations (an attestation whose
signature did not verify is not evidence) and any SBOM files the user names (reported as
unsigned). Each is compared package by package with the image's own inventory: packages the
SBOM claims that the image lacks, packages the image holds that the SBOM does not name, and
packages both name at different versions. Each is a failed check; an SBOM that cannot be read
is a failed check too, never a crash."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterable

from ..inventory_model import Inventory
from ..untrusted.sbom import MalformedSbom, SbomClaims, parse_sbom
from .report import Check, SignatureResult, Status, predicate_matches

__all__ = ["SbomSource", "attested_sboms", "sbom_checks"]

MAX_LISTED = 50  # per kind of difference: the rest is a count


@dataclass(frozen=True, slots=True)
class SbomSource:
    """An SBOM document to check: where it came from, its bytes, and whether a verified
    signature covers it."""

    source: str
    data: bytes
    signed: bool


def attested_sboms(signatures: Iterable[SignatureResult]) -> list[SbomSource]:
    """The predicates of verified CycloneDX and SPDX attestations of the image."""
    out = []
    for s in signatures:
        if s.status is not Status.PASS or s.statement is None:
            continue
        if not (predicate_matches("cyclonedx", s.identity) or predicate_matches("spdxjson", s.identity)
                or (s.identity or "").startswith(("https://spdx.dev/Document", "https://cyclonedx.org/bom"))):
            continue
        try:
            statement = json.loads(s.statement)
        except ValueError:
            continue
        predicate = statement.get("predicate") if isinstance(statement, dict) else None
        if isinstance(predicate, str):  # some tools wrap the SBOM document as a JSON string
            data = predicate.encode()
        else:
            data = json.dumps(predicate).encode()
        out.append(SbomSource(f"attestation {s.source}", data, True))
    return out


def _norm(ecosystem: str, name: str) -> str:
    if ecosystem == "python":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def sbom_checks(sources: list[SbomSource], inventory: Inventory) -> list[Check]:
    if not sources:
        return [Check("sbom", inventory.reference, Status.FAIL,
                      "no SBOM to check: the image has no verified CycloneDX or SPDX attestation, and no --sbom-file "
                      "was given", "no-sbom")]
    checks: list[Check] = []
    for src in sources:
        try:
            claims = parse_sbom(src.data)
        except MalformedSbom as err:
            checks.append(Check("sbom-parse", src.source, Status.FAIL, err.message, "malformed-sbom"))
            continue
        checks += _compare(src, claims, inventory)
    return checks


def _compare(src: SbomSource, claims: SbomClaims, inventory: Inventory) -> list[Check]:
    where = f"{src.source} ({claims.label}{'' if src.signed else ', not signed'})"
    held: dict[tuple[str, str], set[str]] = {}
    for p in inventory.packages:
        held.setdefault((p.ecosystem, _norm(p.ecosystem, p.name)), set()).add(p.version)
    claimed: dict[tuple[str, str], set[str]] = {}
    unknown = 0
    for c in claims.packages:
        if not c.ecosystem:  # a purl type inspectr does not inventory, or no purl: not comparable
            unknown += 1
            continue
        claimed.setdefault((c.ecosystem, _norm(c.ecosystem, c.name)), set()).add(c.version)
    absent = sorted(k for k in claimed if k not in held)
    unclaimed = sorted(k for k in held if k not in claimed)
    versions = sorted(k for k in claimed if k in held and claimed[k] - {""} and not claimed[k] & held[k])
    out = []
    for kind, keys, message, error in (
            ("sbom-claimed-absent", absent, "the SBOM claims it, the image does not hold it", "sbom-package-absent"),
            ("sbom-unclaimed", unclaimed, "the image holds it, the SBOM does not name it", "sbom-package-unclaimed"),
            ("sbom-version", versions, "", "sbom-version-mismatch")):
        for key in keys[:MAX_LISTED]:
            text = message or (f"the SBOM says {', '.join(sorted(claimed[key]))}, the image holds "
                               f"{', '.join(sorted(held[key]))}")
            out.append(Check(kind, f"{key[0]}:{key[1]}", Status.FAIL, f"{where}: {text}", error))
        if len(keys) > MAX_LISTED:
            out.append(Check(kind, f"{len(keys) - MAX_LISTED} more", Status.FAIL,
                             f"{where}: {len(keys) - MAX_LISTED} more packages like the above (JSON lists the first "
                             f"{MAX_LISTED})", error))
    matched = len(claimed) - len(absent) - len(versions)
    note = f"; {unknown} claimed components have no package URL of a type inspectr reads" if unknown else ""
    out.append(Check("sbom", where, Status.FAIL if out else Status.PASS,
                     f"{matched} of {len(held)} packages in the image match the SBOM's {len(claimed)} claims{note}",
                     "sbom-mismatch" if out else None))
    return out
