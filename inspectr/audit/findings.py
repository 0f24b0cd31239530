"""Values the audit returns: Findings with a severity, and the report around them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Severity", "Finding", "Efficiency", "AuditReport"]


class Severity(enum.Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(slots=True)
class Finding:
    """`visible` is False for an entry that only a lower layer still holds (deleted or shadowed).
    Evidence never holds a secret: matches are redacted where they are found."""

    rule: str
    severity: Severity
    path: str
    layer: int | None
    created_by: str | None
    visible: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    allowed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity.value, "path": self.path, "layer": self.layer,
                "created_by": self.created_by, "visible": self.visible, "message": self.message,
                "evidence": self.evidence, "allowed_by": self.allowed_by}


@dataclass(slots=True)
class Efficiency:
    """dive's measure: score = minimum bytes per path / bytes discovered over all layers."""

    score: float
    wasted_bytes: int
    user_wasted_percent: float
    total_bytes: int
    top: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"score": round(self.score, 6), "wasted_bytes": self.wasted_bytes,
                "user_wasted_percent": round(self.user_wasted_percent, 6), "total_bytes": self.total_bytes,
                "top": self.top}


@dataclass(slots=True)
class AuditReport:
    reference: str
    format: str
    findings: list[Finding]
    efficiency: Efficiency
    packages: list[dict[str, Any]] = field(default_factory=list)
    package_notices: list[dict[str, Any]] = field(default_factory=list)
    # files compared with their package databases' digests: checked, mismatched, missing, not_regular
    package_integrity: dict[str, int] = field(default_factory=dict)
    threshold_failures: list[str] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)  # attached SLSA provenance (verify.engine.attached_provenance)

    def counts(self, allowed: bool | None = None) -> dict[str, int]:
        out = {s.value: 0 for s in reversed(Severity)}
        for f in self.findings:
            if allowed is None or (f.allowed_by is not None) == allowed:
                out[f.severity.value] += 1
        return out

    def failing(self, fail_on: Severity | None) -> list[Finding]:
        if fail_on is None:
            return []
        return [f for f in self.findings if f.allowed_by is None and f.severity.rank >= fail_on.rank]
