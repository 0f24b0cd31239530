"""audit_image: index with secret scanning (one pass), merge, run the rules, read the package
databases (one batched re-read), measure efficiency, apply the rules file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..globs import check_glob, compile_glob
from ..tomlfile import read_toml
from ..errors import UsageError
from ..fs.build import index_layers
from ..session import Session
from ..fs.tree import Tree, apply_layers
from ..image import Image
from ..inventory_model import Inventory
from ..packages.integrity import check_package_files, unowned_system_files
from ..packages.inventory import owned_paths, read_inventory
from .efficiency import efficiency
from .findings import AuditReport, Finding, Severity
from .rules import RULES, run_rules

__all__ = ["AuditRules", "load_audit_rules", "audit_image"]


@dataclass(frozen=True)
class Allow:
    rule: str
    path: str
    reason: str


@dataclass(frozen=True)
class AuditRules:
    """Thresholds named like dive's .dive-ci, and allow-lists with reasons."""

    lowest_efficiency: float | None = None
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = None
    allow: tuple[Allow, ...] = field(default=())


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)


def _bytes(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise UsageError(f"{where}: expected a byte count such as 20MB, got {value!r}")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2).lower()])


def load_audit_rules(path: Path) -> AuditRules:
    """`.inspectr-audit.toml`: [thresholds] lowestEfficiency, highestWastedBytes,
    highestUserWastedPercent; [[allow]] rule, path (glob), reason. Errors name the field."""
    doc = read_toml(path, "rules file")
    unknown = set(doc) - {"thresholds", "allow"}
    if unknown:
        raise UsageError(f"{path}: unknown table {sorted(unknown)[0]!r}")
    th = doc.get("thresholds", {})
    if not isinstance(th, dict):
        raise UsageError(f"{path}: thresholds must be a table")
    known = {"lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent"}
    if set(th) - known:
        raise UsageError(f"{path}: thresholds.{sorted(set(th) - known)[0]}: unknown threshold")
    for key in ("lowestEfficiency", "highestUserWastedPercent"):
        if key in th and (not isinstance(th[key], (int, float)) or not 0 <= th[key] <= 1):
            raise UsageError(f"{path}: thresholds.{key}: must be a number from 0 to 1")
    allows = []
    for i, a in enumerate(doc.get("allow", [])):
        where = f"{path}: allow[{i}]"
        if not isinstance(a, dict) or set(a) - {"rule", "path", "reason"}:
            raise UsageError(f"{where}: fields are rule, path and reason")
        if a.get("rule") not in RULES:
            raise UsageError(f"{where}.rule: {a.get('rule')!r} is not a rule id (see docs/commands/audit.md)")
        if not isinstance(a.get("reason"), str) or not a["reason"].strip():
            raise UsageError(f"{where}.reason: every allowance needs a reason")
        check_glob(str(a.get("path", "**")), f"{where}.path")
        allows.append(Allow(a["rule"], str(a.get("path", "**")), a["reason"].strip()))
    return AuditRules(
        lowest_efficiency=th.get("lowestEfficiency"),
        highest_wasted_bytes=_bytes(th["highestWastedBytes"], f"{path}: thresholds.highestWastedBytes")
        if "highestWastedBytes" in th else None,
        highest_user_wasted_percent=th.get("highestUserWastedPercent"),
        allow=tuple(allows),
    )


def _package_findings(image: Image, tree: Tree, inventory: Inventory, session: Session | None
                      ) -> tuple[list[Finding], dict[str, int]]:
    """modified-package-file, modified-conffile, unowned-executable and unowned-system-file."""
    def created_by(layer: int | None) -> str | None:
        h = image.layers[layer].history if layer is not None and 0 <= layer < len(image.layers) else None
        return h.created_by if h else None

    findings = []
    system_dbs = [p for p in inventory.packages if p.ecosystem in ("deb", "apk", "rpm")]
    result = check_package_files(image, tree, inventory.packages, session=session or Session())
    for m in result.mismatches:
        rule = "modified-conffile" if m.conffile else "modified-package-file"
        findings.append(Finding(
            rule, RULES[rule][0], m.path, m.layer, created_by(m.layer), True,
            f"{'config file' if m.conffile else 'file'} differs from what {m.package.ecosystem} package "
            f"{m.package.name} {m.package.version} recorded",
            {"package": m.package.name, "version": m.package.version, "ecosystem": m.package.ecosystem,
             "recorded": m.recorded, "actual": m.actual, "package_layer": m.package.layer}))
    stats = {"checked": result.checked, "mismatched": len(result.mismatches), "missing": result.missing,
             "not_regular": result.not_regular}
    if not system_dbs:
        return findings, stats
    owned = set(owned_paths(tree, inventory.packages))
    for node, executable in unowned_system_files(tree, owned):
        rule = "unowned-executable" if executable else "unowned-system-file"
        findings.append(Finding(rule, RULES[rule][0], node.path, node.layer, created_by(node.layer), True,
                                "executable owned by no package" if executable else "system file owned by no package",
                                {"mode": f"{node.mode:04o}", "size": node.size, "sha256": node.sha256}))
    return findings, stats


def audit_image(image: Image, rules: AuditRules = AuditRules(), *, session: Session | None = None) -> AuditReport:
    """The review of one image. Raises InspectrError only when the image cannot be read."""
    indexes = index_layers(image, session=session, scan_secrets=True)
    tree = apply_layers(indexes, image.limits)
    findings = run_rules(image, indexes, tree)
    inventory = read_inventory(image, indexes, tree)
    package_findings, integrity = _package_findings(image, tree, inventory, session)
    findings += package_findings
    eff = efficiency(indexes)
    failures = []
    if rules.lowest_efficiency is not None and eff.score < rules.lowest_efficiency:
        failures.append(f"efficiency {eff.score:.4f} is below lowestEfficiency {rules.lowest_efficiency}")
    if rules.highest_wasted_bytes is not None and eff.wasted_bytes > rules.highest_wasted_bytes:
        failures.append(f"wasted bytes {eff.wasted_bytes} exceed highestWastedBytes {rules.highest_wasted_bytes}")
    if rules.highest_user_wasted_percent is not None and eff.user_wasted_percent > rules.highest_user_wasted_percent:
        failures.append(f"user wasted share {eff.user_wasted_percent:.4f} exceeds highestUserWastedPercent "
                        f"{rules.highest_user_wasted_percent}")
    for message in failures:
        findings.append(Finding("efficiency", Severity.HIGH, "", None, None, True, message,
                                {"score": eff.score, "wasted_bytes": eff.wasted_bytes}))
    for f in findings:
        for allow in rules.allow:
            if allow.rule == f.rule and compile_glob(allow.path).match(f.path):
                f.allowed_by = allow.reason
                break
    findings.sort(key=lambda f: (-f.severity.rank, f.rule, f.path, f.layer if f.layer is not None else -1))
    return AuditReport(
        reference=image.reference, format=image.format, findings=findings, efficiency=eff,
        packages=[{"ecosystem": p.ecosystem, "name": p.name, "version": p.version, "arch": p.arch,
                   "source_package": p.source, "layer": p.layer, "source": p.location,
                   "files": sorted(f.path for f in p.files)} for p in inventory.packages],
        package_integrity=integrity,
        package_notices=[{"code": n.code, "path": n.path, "layer": n.layer, "message": n.message}
                         for n in inventory.notices],
        threshold_failures=failures,
    )
