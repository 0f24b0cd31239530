"""The one SARIF 2.1.0 writer every command uses: engines' results come in as plain rule and
result lists, and go out as a SARIF log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import __version__

__all__ = ["SarifResult", "sarif_log"]


@dataclass(frozen=True)
class SarifResult:
    rule: str
    level: str  # error | warning | note
    message: str
    uri: str
    logical: str | None = None  # e.g. "layer 3" or "config"
    properties: dict[str, Any] = field(default_factory=dict)
    suppression: str | None = None  # justification of an accepted/allowed result


def sarif_log(results: list[SarifResult], rule_texts: dict[str, str], properties: dict[str, Any] | None = None) -> dict[str, Any]:
    used = sorted({r.rule for r in results})
    index = {rid: i for i, rid in enumerate(used)}
    out = []
    for r in results:
        location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": r.uri}}}
        if r.logical:
            location["logicalLocations"] = [{"name": r.logical, "kind": "module"}]
        item: dict[str, Any] = {"ruleId": r.rule, "ruleIndex": index[r.rule], "level": r.level,
                                "message": {"text": r.message}, "locations": [location]}
        if r.properties:
            item["properties"] = r.properties
        if r.suppression:
            item["suppressions"] = [{"kind": "external", "justification": r.suppression}]
        out.append(item)
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "inspectr", "version": __version__,
                                          "informationUri": "https://example.invalid/inspectr",
                                          "rules": [{"id": rid, "shortDescription": {"text": rule_texts.get(rid, rid)}}
                                                    for rid in used]}},
                      "results": out, "properties": properties or {}}]}
