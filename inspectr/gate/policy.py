"""The gate policy file (TOML, docs/formats/gate-policy.md, JSON Schema in
docs/formats/gate-policy.schema.json). Every error names the field."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..diff.options import Acceptance, parse_acceptances
from ..errors import UsageError
from ..verify.keyless import IdentityPolicy

__all__ = ["GatePolicy", "load_gate_policy", "with_command_line"]

_TOP = {"signers", "accept", "diff", "audit", "behave"}


@dataclass(frozen=True)
class GatePolicy:
    path: Path | None = None
    keys: tuple[Path, ...] = ()
    keyrings: tuple[Path, ...] = ()
    identity: str | None = None
    require_signature: bool = True
    acceptances: tuple[Acceptance, ...] = ()
    semantic: bool = False
    audit_fail_on: str | None = None
    probes: tuple[str, ...] = field(default=())
    identity_policy: IdentityPolicy = IdentityPolicy()  # keyless signers, as verify's --certificate-* flags
    trusted_root: Path | None = None
    attestation: str | None = None
    package_integrity: bool = False  # [audit] package_integrity: files checked against their package databases


# signers.<name> in the TOML -> IdentityPolicy field: cosign's flag names without the dashes' prefix.
_KEYLESS = {"certificate-identity": "identity", "certificate-identity-regexp": "identity_regexp",
            "certificate-oidc-issuer": "issuer", "certificate-oidc-issuer-regexp": "issuer_regexp",
            "certificate-github-workflow-repository": "github_repository", "certificate-github-workflow-ref": "github_ref",
            "certificate-github-workflow-sha": "github_sha", "certificate-github-workflow-trigger": "github_trigger",
            "certificate-github-workflow-name": "github_workflow"}
_SIGNERS = {"keys", "keyrings", "identity", "required", "trusted-root", "attestation", *_KEYLESS}


def _strs(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where}: must be a list of non-empty strings")
    return list(value)


def load_gate_policy(path: Path) -> GatePolicy:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--policy {path}: not found") from None
    if not text.strip():
        raise UsageError(f"--policy {path}: the policy is empty (it needs at least [signers])")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"--policy {path}: invalid TOML: {err}") from None
    where = f"--policy {path}"
    unknown = set(doc) - _TOP
    if unknown:
        raise UsageError(f"{where}: unknown table {sorted(unknown)[0]!r} (known: {', '.join(sorted(_TOP))})")
    base = path.parent
    signers = doc.get("signers", {})
    if not isinstance(signers, dict) or set(signers) - _SIGNERS:
        raise UsageError(f"{where}: signers: fields are {', '.join(sorted(_SIGNERS))}")
    for name in ("trusted-root", "attestation", *_KEYLESS):
        if name in signers and (not isinstance(signers[name], str) or not signers[name]):
            raise UsageError(f"{where}: signers.{name}: must be a non-empty string")
    identity_policy = IdentityPolicy(**{field_: signers[name] for name, field_ in _KEYLESS.items() if name in signers})
    trusted_root = base / signers["trusted-root"] if "trusted-root" in signers else None
    keys = tuple(base / p for p in _strs(signers.get("keys", []), f"{where}: signers.keys"))
    keyrings = tuple(base / p for p in _strs(signers.get("keyrings", []), f"{where}: signers.keyrings"))
    identity = signers.get("identity")
    if identity is not None and not isinstance(identity, str):
        raise UsageError(f"{where}: signers.identity: must be a string")
    required = signers.get("required", True)
    if not isinstance(required, bool):
        raise UsageError(f"{where}: signers.required: must be true or false")
    accepts = parse_acceptances(doc.get("accept", []), where, f"policy {path.name}")
    diff = doc.get("diff", {})
    if not isinstance(diff, dict) or set(diff) - {"semantic"} or not isinstance(diff.get("semantic", False), bool):
        raise UsageError(f"{where}: diff: the only field is semantic = true|false")
    audit = doc.get("audit", {})
    fail_on = audit.get("fail_on") if isinstance(audit, dict) else None
    if not isinstance(audit, dict) or set(audit) - {"fail_on", "package_integrity"} or (
            fail_on is not None and fail_on not in ("critical", "high", "medium", "low", "info")):
        raise UsageError(f"{where}: audit.fail_on: one of critical, high, medium, low, info")
    package_integrity = audit.get("package_integrity", False)
    if not isinstance(package_integrity, bool):
        raise UsageError(f"{where}: audit.package_integrity: must be true or false")
    behave = doc.get("behave", {})
    if not isinstance(behave, dict) or set(behave) - {"probes"}:
        raise UsageError(f"{where}: behave: the only field is probes = [\"CMD\", ...]")
    probes = tuple(_strs(behave.get("probes", []), f"{where}: behave.probes")) if "probes" in behave else ()
    return GatePolicy(path, keys, keyrings, identity, required, accepts, diff.get("semantic", False), fail_on, probes,
                      identity_policy, trusted_root, signers.get("attestation"), package_integrity)


def with_command_line(policy: GatePolicy, keys: tuple[Path, ...], keyrings: tuple[Path, ...], identity: str | None,
                      behave: bool, identity_policy: IdentityPolicy, trusted_root: Path | None) -> GatePolicy:
    """The policy with the command line's trust inputs added (keys) or put first (identities);
    any of them makes a signature required. Raises UsageError when one is required but none given."""
    merged = replace(policy, keys=policy.keys + keys, keyrings=policy.keyrings + keyrings, identity=identity or policy.identity,
                     require_signature=policy.require_signature or bool(keys or keyrings or identity_policy.given),
                     probes=policy.probes if behave else (),
                     identity_policy=identity_policy if identity_policy.given else policy.identity_policy,
                     trusted_root=trusted_root or policy.trusted_root)
    if merged.require_signature and not (merged.keys or merged.keyrings or merged.identity_policy.given):
        raise UsageError(f"--policy {policy.path}: signers: give keys, keyrings or a certificate identity, here or with "
                         "--key/--keyring/--certificate-identity (or required = false to gate unsigned releases)")
    return merged
