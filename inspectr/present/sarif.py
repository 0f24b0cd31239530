"""The one SARIF 2.1.0 writer every command uses: engines' results come in as plain rule and
result lists, and go out as a SARIF log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .. import __version__

__all__ = ["SarifResult", "sarif_log", "HOMEPAGE", "IMAGE_ROOT"]

# The project's home, as pyproject.toml's [project.urls] Homepage says (a test holds them equal).
HOMEPAGE = "https://github.com/inspectr/inspectr"
# Artifact locations are paths inside the image, relative to this base: never the host's paths.
IMAGE_ROOT = "IMAGEROOT"


@dataclass(frozen=True)
class SarifResult:
    rule: str
    level: str  # error | warning | note
    message: str
    path: str | None  # a path inside the image; None for a result about the image as a whole
    logical: str | None = None  # e.g. "layer 3" or "config"
    properties: dict[str, Any] = field(default_factory=dict)
    suppression: str | None = None  # justification of an accepted/allowed result


def sarif_log(results: list[SarifResult], rule_texts: dict[str, str], properties: dict[str, Any] | None = None) -> dict[str, Any]:
    used = sorted({r.rule for r in results})
    index = {rid: i for i, rid in enumerate(used)}
    out = []
    for r in results:
        location: dict[str, Any] = {}
        if r.path:
            location["physicalLocation"] = {"artifactLocation": {"uri": image_uri(r.path), "uriBaseId": IMAGE_ROOT}}
        location["logicalLocations"] = [{"name": r.logical or "image", "kind": "module"}]
        item: dict[str, Any] = {"ruleId": r.rule, "ruleIndex": index[r.rule], "level": r.level,
                                "message": {"text": r.message}, "locations": [location]}
        if r.properties:
            item["properties"] = r.properties
        if r.suppression:
            item["suppressions"] = [{"kind": "external", "justification": r.suppression}]
        out.append(item)
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "inspectr", "version": __version__,
                                          "informationUri": HOMEPAGE,
                                          "rules": [{"id": rid, "shortDescription": {"text": rule_texts.get(rid, rid)}}
                                                    for rid in used]}},
                      "originalUriBaseIds": {IMAGE_ROOT: {"description": {
                          "text": "the root of the image's merged filesystem"}}},
                      "results": out, "properties": properties or {}}]}


def image_uri(path: str) -> str:
    """A path inside the image as a relative URI reference (RFC 3986): percent-encoded, so a
    hostile name (spaces, `#`, `?`, `%`, control or non-UTF-8 bytes) stays one path."""
    return quote(path.lstrip("/").encode("utf-8", "surrogateescape"), safe="/") or "."
