"""Content scanning for secrets and decoding of file capabilities: bytes from the image, read
with bounds. Matches are returned redacted: a secret never leaves this module whole."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

__all__ = ["SecretMatch", "scan_content", "secret_kind_for_path", "decode_capability", "CAP_NAMES", "redact",
           "redact_secrets", "redact_value", "may_hold_secret", "SCAN_MAX_BYTES"]

SCAN_MAX_BYTES = 1 << 20  # files larger than this are not content-scanned (their names still are)

# (kind, severity, pattern). Patterns are anchored on distinctive prefixes so a scan is cheap.
_PATTERNS: list[tuple[str, str, re.Pattern[bytes]]] = [
    ("private-key", "critical", re.compile(rb"-----BEGIN (?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----")),
    ("aws-access-key", "critical", re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("aws-secret-key", "critical", re.compile(rb"(?i)aws_?secret_?access_?key[\"'\s:=]+[A-Za-z0-9/+]{40}\b")),
    ("gcp-service-account", "critical", re.compile(rb"\"type\"\s*:\s*\"service_account\"[\s\S]{0,2000}?\"private_key\"")),
    ("github-token", "high", re.compile(rb"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{50,}")),
    ("gitlab-token", "high", re.compile(rb"\bglpat-[A-Za-z0-9_-]{20}\b")),
    ("slack-token", "high", re.compile(rb"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("stripe-key", "high", re.compile(rb"\b(?:sk|rk)_live_[A-Za-z0-9]{20,}")),
    ("npm-token", "high", re.compile(rb"\bnpm_[A-Za-z0-9]{36}\b|_authToken\s*=\s*[^\s]{8,}")),
    ("pypi-token", "high", re.compile(rb"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}")),
    ("docker-auth", "high", re.compile(rb"\"auth\"\s*:\s*\"[A-Za-z0-9+/=]{8,}\"")),
    ("password-assignment", "medium", re.compile(rb"(?i)\b(?:password|passwd|secret|api_?key|token)\s*[=:]\s*[\"']?[^\s\"']{6,}")),
]

# Files whose mere presence matters, whatever they hold.
_PATH_KINDS: list[tuple[str, str, re.Pattern[str]]] = [
    ("dotenv-file", "medium", re.compile(r"(?:^|/)\.env(?:\.[A-Za-z0-9_-]+)?$")),
    ("shell-history", "medium", re.compile(r"(?:^|/)\.(?:bash|zsh|sh|ash|python|mysql|psql)_history$")),
    ("git-directory", "medium", re.compile(r"(?:^|/)\.git/(?:config|HEAD)$")),
    ("npmrc", "medium", re.compile(r"(?:^|/)\.npmrc$")),
    ("pypirc", "medium", re.compile(r"(?:^|/)\.pypirc$")),
    ("docker-config", "medium", re.compile(r"(?:^|/)\.docker/config\.json$")),
    ("ssh-private-key-file", "high", re.compile(r"(?:^|/)(?:id_rsa|id_dsa|id_ecdsa|id_ed25519)$")),
    ("cloud-credentials-file", "high", re.compile(r"(?:^|/)\.aws/credentials$|(?:^|/)application_default_credentials\.json$")),
]


@dataclass(frozen=True, slots=True)
class SecretMatch:
    kind: str
    severity: str
    redacted: str  # e.g. "AKIA…(20 chars)"
    line: int | None = None


def redact(raw: bytes) -> str:
    """The first 4 printable characters and the length; never the secret."""
    text = raw.decode("utf-8", "replace")
    head = "".join(ch if ch.isprintable() else "?" for ch in text[:4])
    return f"{head}…({len(raw)} chars)"


def scan_content(data: bytes, max_matches: int = 20) -> list[SecretMatch]:
    """Secrets found in one file's bytes (at most SCAN_MAX_BYTES are looked at)."""
    data = data[:SCAN_MAX_BYTES]
    if b"\x00" in data[:4096]:
        return []  # binary: not scanned (keys in binaries are out of scope for the text rules)
    out: list[SecretMatch] = []
    seen: set[tuple[str, int]] = set()
    for kind, severity, pattern in _PATTERNS:
        for m in pattern.finditer(data):
            line = data.count(b"\n", 0, m.start()) + 1
            if (kind, line) in seen:
                continue
            seen.add((kind, line))
            out.append(SecretMatch(kind, severity, redact(m.group(0)), line))
            if len(out) >= max_matches:
                return out
    return out


# The same patterns over text, for output: a private key is redacted whole (header to footer, or
# to the end of the text), not only its header line.
_TEXT_PATTERNS = [re.compile(r"-----BEGIN (?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
                             r"[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|$)")] + [
    re.compile(p.pattern.decode("ascii"), p.flags & re.IGNORECASE) for kind, _, p in _PATTERNS if kind != "private-key"]
# Cheap first look: most strings (paths, digests) hold none of these, and skip the patterns.
# Plain substring tests on the lowercased text run in C; a false positive only costs the full scan.
_TRIGGERS = ("private key", "akia", "asia", "secret", "service_account", "gh", "glpat-", "xox", "_live_",
             "npm_", "auth", "pypi-", "passw", "api", "token")


def may_hold_secret(text: str) -> bool:
    """False when no secret rule can match `text` (its serialised form will do): the fast path.
    Written out rather than a loop over _TRIGGERS: it runs once per `ls` record (about 4 us)."""
    low = text.lower()
    return ("private key" in low or "akia" in low or "asia" in low or "secret" in low or "service_account" in low
            or "gh" in low or "glpat-" in low or "xox" in low or "_live_" in low or "npm_" in low or "auth" in low
            or "pypi-" in low or "passw" in low or "api" in low or "token" in low)


def redact_secrets(text: str) -> str:
    """`text` with every secret the content rules know replaced by its redacted form: what every
    output path of inspectr writes image-controlled text through."""
    if not may_hold_secret(text):
        return text
    for pattern in _TEXT_PATTERNS:
        text = pattern.sub(lambda m: "[redacted " + redact(m.group(0).encode("utf-8", "surrogateescape")) + "]", text)
    return text


def redact_value(value: object) -> object:
    """A JSON-like value (dicts, lists, strings) with redact_secrets applied to every string."""
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {redact_secrets(k) if isinstance(k, str) else k: v if isinstance(v, (int, float, type(None)))
                else redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


def secret_kind_for_path(path: str) -> tuple[str, str] | None:
    for kind, severity, pattern in _PATH_KINDS:
        if pattern.search(path):
            return kind, severity
    return None


# linux/capability.h, bit numbers 0..40.
CAP_NAMES = [
    "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid",
    "cap_setuid", "cap_setpcap", "cap_linux_immutable", "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin",
    "cap_net_raw", "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace",
    "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
    "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
    "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
    "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
]


def decode_capability(value: bytes) -> dict[str, object] | None:
    """`security.capability` (VFS_CAP_REVISION 1, 2 or 3) as names; None if malformed."""
    if len(value) < 12:
        return None
    magic, = struct.unpack_from("<I", value, 0)
    revision, effective = magic & 0xFF000000, bool(magic & 1)
    if revision == 0x01000000 and len(value) >= 12:
        permitted, inheritable = struct.unpack_from("<II", value, 4)
    elif revision in (0x02000000, 0x03000000) and len(value) >= 20:
        p_lo, i_lo, p_hi, i_hi = struct.unpack_from("<IIII", value, 4)
        permitted, inheritable = p_lo | (p_hi << 32), i_lo | (i_hi << 32)
    else:
        return None

    def names(mask: int) -> list[str]:
        return [CAP_NAMES[b] if b < len(CAP_NAMES) else f"cap_{b}" for b in range(64) if mask >> b & 1]

    out: dict[str, object] = {"permitted": names(permitted), "inheritable": names(inheritable), "effective": effective}
    if revision == 0x03000000 and len(value) >= 24:
        out["rootid"] = struct.unpack_from("<I", value, 20)[0]
    return out
