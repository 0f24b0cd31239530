"""audit_image: index with secret scanning (one pass), merge, run the rules, read the package
databases (one batched re-read), measure efficiency, apply the rules file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..globs import compile_glob
from ..tomlfile import read_toml
from ..errors import UsageError
from ..fs.build import index_layers
from ..session import Session
from ..fs.cache import LayerCache
from ..fs.content import content_sources, stream_contents
from ..fs.entry import EntryKind
from ..fs.layer_index import LayerIndex
from ..fs.tree import Inode, Tree, apply_layers
from ..image import Image
from ..untrusted.pkgdb import (
    Package,
    parse_apk_installed,
    parse_dpkg_list,
    parse_dpkg_status,
    parse_npm_package,
    parse_python_metadata,
    parse_python_record,
)
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
        allows.append(Allow(a["rule"], str(a.get("path", "**")), a["reason"].strip()))
    return AuditRules(
        lowest_efficiency=th.get("lowestEfficiency"),
        highest_wasted_bytes=_bytes(th["highestWastedBytes"], f"{path}: thresholds.highestWastedBytes")
        if "highestWastedBytes" in th else None,
        highest_user_wasted_percent=th.get("highestUserWastedPercent"),
        allow=tuple(allows),
    )


_DB = re.compile(r"^(var/lib/dpkg/status|var/lib/dpkg/info/[^/]+\.list|lib/apk/db/installed|"
                 r".*\.dist-info/(METADATA|RECORD)|.*\.egg-info/PKG-INFO|.*node_modules/(@[^/]+/)?[^/]+/package\.json)$")
_EXEC_DIRS = re.compile(r"(^|/)(s?bin|libexec)/")


def _read_databases(image: Image, tree: Tree) -> dict[str, bytes]:
    nodes = [n for n in tree.walk() if n.kind is EntryKind.FILE and n.size <= 64 << 20 and _DB.match(n.path)]
    by_inode: dict[int, list[str]] = {}
    for n in nodes:
        by_inode.setdefault(n.inode.id, []).append(n.path)
    chunks: dict[int, list[bytes]] = {}

    def open_sink(inode: Inode) -> Callable[[bytes | memoryview], object]:
        buf = chunks.setdefault(inode.id, [])
        return lambda data: buf.append(bytes(data))

    stream_contents(image, content_sources({n.inode.id: n.inode for n in nodes}.values()), open_sink,
                    lambda inode: None, stop_early=True)
    return {path: b"".join(chunks.get(iid, [])) for iid, paths in by_inode.items() for path in paths}


def _inventory(image: Image, tree: Tree) -> tuple[list[Package], bool]:
    dbs = _read_databases(image, tree)
    packages: list[Package] = []
    has_system_db = False
    if "var/lib/dpkg/status" in dbs:
        has_system_db = True
        for pkg in parse_dpkg_status(dbs["var/lib/dpkg/status"]):
            for candidate in (f"var/lib/dpkg/info/{pkg.name}.list", f"var/lib/dpkg/info/{pkg.name}:amd64.list",
                              f"var/lib/dpkg/info/{pkg.name}:arm64.list"):
                if candidate in dbs:
                    pkg.files = parse_dpkg_list(dbs[candidate])
                    pkg.source_path = candidate
                    break
            else:
                pkg.source_path = "var/lib/dpkg/status"
            packages.append(pkg)
    if "lib/apk/db/installed" in dbs:
        has_system_db = True
        for pkg in parse_apk_installed(dbs["lib/apk/db/installed"]):
            pkg.source_path = "lib/apk/db/installed"
            packages.append(pkg)
    for path, data in dbs.items():
        if path.endswith(("/METADATA", "/PKG-INFO")):
            python_pkg = parse_python_metadata(data)
            if python_pkg is None:
                continue
            python_pkg.source_path = path
            meta_dir = path.rsplit("/", 1)[0]
            record = dbs.get(f"{meta_dir}/RECORD")
            if record is not None:
                python_pkg.files = parse_python_record(record, meta_dir.rsplit("/", 1)[0])
            packages.append(python_pkg)
        elif path.endswith("/package.json"):
            npm_pkg = parse_npm_package(data)
            if npm_pkg is None:
                continue
            npm_pkg.source_path = path
            pkg_dir = path.rsplit("/", 1)[0] + "/"
            npm_pkg.files = [n.path for n in tree.walk(tree.get(pkg_dir.rstrip("/"))) ] if tree.get(pkg_dir.rstrip("/")) else []
            packages.append(npm_pkg)
    for pkg in packages:
        node = tree.get(pkg.source_path)
        pkg.layer = node.layer if node is not None else None
    packages.sort(key=lambda p: (p.ecosystem, p.name))
    return packages, has_system_db


def audit_image(image: Image, rules: AuditRules = AuditRules(), *, session: Session | None = None) -> AuditReport:
    """The review of one image. Raises InspectrError only when the image cannot be read."""
    indexes = index_layers(image, session=session, scan_secrets=True)
    tree = apply_layers(indexes, image.limits)
    findings = run_rules(image, indexes, tree)
    packages, has_db = _inventory(image, tree)
    if has_db:
        # Package lists name paths as installed (/bin/hostname); in a merged-/usr image the file
        # is reached through the bin -> usr/bin symlink, so owned paths are resolved in-root.
        owned = set()
        for p in packages:
            for file_path in p.files:
                owned.add(file_path)
                node = tree.resolve(file_path, follow_last=False)
                if node is not None:
                    owned.add(node.path)
        for node in tree.walk():
            if (node.kind is EntryKind.FILE and node.mode & 0o111 and _EXEC_DIRS.search(node.path)
                    and node.path not in owned and not node.path.startswith(("var/lib/dpkg/", "lib/apk/"))):
                h = image.layers[node.layer].history if 0 <= node.layer < len(image.layers) else None
                findings.append(Finding("unowned-executable", RULES["unowned-executable"][0], node.path, node.layer,
                                        h.created_by if h else None, True, "executable owned by no package",
                                        {"mode": f"{node.mode:04o}", "size": node.size, "sha256": node.sha256}))
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
        packages=[{"ecosystem": p.ecosystem, "name": p.name, "version": p.version, "layer": p.layer,
                   "source": p.source_path, "files": sorted(p.files)} for p in packages],
        threshold_failures=failures,
    )
