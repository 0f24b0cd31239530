"""The audit rules. Each looks at every layer's entries (not only the merged view), so a
file that a later layer deleted or shadowed is still reviewed, and says whether it is visible."""

from __future__ import annotations

import re
from typing import Callable, Iterator

from ..fs.entry import Entry, EntryKind
from ..fs.layer_index import LayerIndex
from ..fs.tree import Tree
from ..image import Image
from ..untrusted.secrets import decode_capability, redact, scan_content, secret_kind_for_path
from .findings import Finding, Severity

__all__ = ["RULES", "run_rules"]

# rule id -> (default severity, rationale) ; docs/commands/audit.md lists the same table.
RULES: dict[str, tuple[Severity, str]] = {
    "setuid": (Severity.HIGH, "setuid binaries run with their owner's privileges; each one is attack surface"),
    "setgid": (Severity.MEDIUM, "setgid binaries run with their group's privileges"),
    "file-capability": (Severity.HIGH, "file capabilities (security.capability) are setuid-equivalent, and easy to miss"),
    "world-writable-file": (Severity.MEDIUM, "any user in the container can change a world-writable file"),
    "world-writable-dir": (Severity.MEDIUM, "a world-writable directory without the sticky bit lets users replace others' files"),
    "device-outside-dev": (Severity.HIGH, "a device node outside /dev gives raw hardware access from an unexpected path"),
    "hardlink-changes-lower-file": (Severity.MEDIUM, "a hardlink entry changed the mode or owner of a lower layer's file without shipping it (R11)"),
    "secret": (Severity.CRITICAL, "secrets in any layer ship to everyone who pulls the image, deleted or not"),
    "secret-file": (Severity.MEDIUM, "files that usually hold credentials (.env, history, .git, .npmrc, .pypirc, docker config)"),
    "deleted-but-present": (Severity.LOW, "a file removed or overwritten by a later layer is still readable in the earlier one"),
    "config-root-user": (Severity.MEDIUM, "no USER: the container runs as root"),
    "config-exposed-port": (Severity.INFO, "ports the image declares"),
    "config-workdir-proc": (Severity.CRITICAL, "WorkingDir under /proc leaks host file descriptors (runc CVE-2024-21626)"),
    "config-suspicious-entrypoint": (Severity.HIGH, "an entrypoint through /proc/self/exe or /proc/self/fd (runc CVE-2019-5736)"),
    "config-secret": (Severity.HIGH, "a secret in Env, Labels, Cmd, Entrypoint or annotations is visible to anyone who inspects the image"),
    "history-secret": (Severity.CRITICAL, "a secret in a build step's command (history created_by) ships in every copy of the config"),
    "config-volume-escape": (Severity.HIGH, "a Volume with '..' (containerd CVE-2022-23648)"),
    "unowned-executable": (Severity.LOW, "an executable that no package owns: built or copied in by hand"),
    "unowned-system-file": (Severity.INFO, "a file under bin, sbin or lib that no package owns"),
    "modified-package-file": (Severity.HIGH, "a file whose bytes differ from the digest its own package database records: changed without a package change"),
    "modified-conffile": (Severity.LOW, "a package's config file (conffile) differs from the shipped one: often a deliberate local change"),
    "efficiency": (Severity.LOW, "wasted bytes above the configured threshold (dive's efficiency)"),
}

_SECRET_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM}
_SECRET_NAME = re.compile(r"(?i)(pass(word|wd)?|secret|token|api_?key|private_?key|credential|auth)")


def _visible(tree: Tree, entry: Entry, layer: int) -> bool:
    node = tree.get(entry.path)
    return node is not None and node.inode.layer == layer and node.inode.offset == entry.offset


def _entries(indexes: list[LayerIndex]) -> Iterator[tuple[int, Entry]]:
    for index in indexes:
        for entry in index.entries:
            yield index.layer, entry


def run_rules(image: Image, indexes: list[LayerIndex], tree: Tree) -> list[Finding]:
    def created_by(i: int) -> str | None:
        history = image.layers[i].history if 0 <= i < len(image.layers) else None
        return history.created_by if history else None

    out: list[Finding] = []

    def add(rule: str, path: str, layer: int | None, visible: bool, message: str, severity: Severity | None = None,
            **evidence: object) -> None:
        out.append(Finding(rule, severity or RULES[rule][0], path, layer,
                           created_by(layer) if layer is not None else None, visible, message, dict(evidence)))

    for layer, e in _entries(indexes):
        if e.kind in (EntryKind.WHITEOUT, EntryKind.OPAQUE, EntryKind.HARDLINK, EntryKind.SYMLINK):
            continue
        vis = _visible(tree, e, layer)
        mode = e.mode
        if e.kind is EntryKind.FILE:
            base = layer == 0
            if mode & 0o4000:
                add("setuid", e.path, layer, vis,
                    f"setuid file (owner uid {e.uid})" + ("" if base else f", added or changed in layer {layer}, after the base layer"),
                    Severity.MEDIUM if base else Severity.HIGH, mode=f"{mode:04o}", uid=e.uid)
            if mode & 0o2000:
                add("setgid", e.path, layer, vis, f"setgid file (group gid {e.gid})",
                    Severity.LOW if base else Severity.MEDIUM, mode=f"{mode:04o}", gid=e.gid)
            if mode & 0o002:
                add("world-writable-file", e.path, layer, vis, "world-writable file", mode=f"{mode:04o}")
        elif e.kind is EntryKind.DIR and mode & 0o002 and not mode & 0o1000:
            add("world-writable-dir", e.path, layer, vis, "world-writable directory without the sticky bit", mode=f"{mode:04o}")
        elif e.kind in (EntryKind.CHAR, EntryKind.BLOCK) and not (e.path == "dev" or e.path.startswith("dev/")):
            add("device-outside-dev", e.path, layer, vis, f"{e.kind.value} device {e.devmajor}:{e.devminor} outside /dev",
                Severity.LOW if (e.devmajor, e.devminor) == (0, 0) else None, device=f"{e.devmajor}:{e.devminor}")
        cap = (e.xattrs or {}).get("security.capability")
        if cap is not None:
            decoded = decode_capability(cap)
            names = ", ".join(decoded["permitted"]) if decoded else "undecodable"  # type: ignore[arg-type]
            add("file-capability", e.path, layer, vis, f"file capabilities: {names}",
                capabilities=decoded or {"raw_length": len(cap)})
        hit = secret_kind_for_path(e.path)
        if hit is not None and e.kind is EntryKind.FILE:
            kind, severity = hit
            add("secret-file", e.path, layer, vis, f"{kind.replace('-', ' ')}", _SECRET_SEVERITY[severity], kind=kind)
    for index in indexes:
        for path, matches in index.secrets:
            entry_vis = tree.get(path)
            for m in matches:
                vis = entry_vis is not None and entry_vis.inode.layer == index.layer
                add("secret", path, index.layer, vis, f"{m.kind.replace('-', ' ')} (line {m.line})",
                    _SECRET_SEVERITY[m.severity], kind=m.kind, match=m.redacted, line=m.line)
    for notice in tree.warnings:
        if notice.code == "hardlink-metadata":
            add("hardlink-changes-lower-file", notice.path, notice.layer, True, notice.message)
    out += _config_rules(image)
    out += _deleted_but_present(tree, out, created_by)
    return out


def _utf8(text: str) -> bytes:
    """Config and history strings as bytes for the secret scan. JSON may hold a lone surrogate
    (`"\\ud800"` is valid JSON text); strict UTF-8 cannot encode one, `surrogatepass` can."""
    return text.encode("utf-8", "surrogatepass")


def _config_rules(image: Image) -> list[Finding]:
    cfg = image.config
    out: list[Finding] = []

    def add(rule: str, path: str, message: str, severity: Severity | None = None, **evidence: object) -> None:
        out.append(Finding(rule, severity or RULES[rule][0], path, None, None, True, message, dict(evidence)))

    user = cfg.user.strip()
    if user in ("", "root", "0") or user.startswith(("0:", "root:")):
        add("config-root-user", "config.User", f"runs as root (User={user!r})")
    for port in cfg.exposed_ports:
        add("config-exposed-port", f"config.ExposedPorts.{port}", f"exposes {port}",
            Severity.LOW if port.split("/")[0] in ("22", "23", "2375", "2376") else None)
    if cfg.working_dir.startswith("/proc"):
        add("config-workdir-proc", "config.WorkingDir", f"WorkingDir is {cfg.working_dir!r}")
    argv = list(cfg.entrypoint or ()) + list(cfg.cmd or ())
    if any("/proc/self/exe" in a or "/proc/self/fd" in a for a in argv):
        add("config-suspicious-entrypoint", "config.Entrypoint", "the entrypoint runs through /proc/self")
    for volume in cfg.volumes:
        if ".." in volume.split("/"):
            add("config-volume-escape", f"config.Volumes.{volume}", f"volume {volume!r} climbs with '..'")
    for item in cfg.env:
        name, _, value = item.partition("=")
        matches = scan_content(_utf8(value))
        if matches or (_SECRET_NAME.search(name) and value):
            add("config-secret", f"config.Env.{name}", f"Env {name} holds a secret",
                kind=matches[0].kind if matches else "named-secret", match=redact(_utf8(value)))
    for key, value in cfg.labels.items():
        matches = scan_content(_utf8(value))
        if matches or (_SECRET_NAME.search(key) and value):
            add("config-secret", f"config.Labels.{key}", f"label {key} holds a secret",
                kind=matches[0].kind if matches else "named-secret", match=redact(_utf8(value)))
    for field_name, args in (("Entrypoint", cfg.entrypoint or ()), ("Cmd", cfg.cmd or ())):
        for i, arg in enumerate(args):
            for m in scan_content(_utf8(arg))[:1]:
                add("config-secret", f"config.{field_name}[{i}]", f"{field_name} argument {i} holds a secret",
                    kind=m.kind, match=m.redacted)
    annotations = dict(image.manifest.annotations) if image.manifest is not None else {}
    for key, value in annotations.items():
        for m in scan_content(_utf8(value))[:1]:
            add("config-secret", f"manifest.annotations.{key}", f"annotation {key} holds a secret",
                kind=m.kind, match=m.redacted)
    # Build history: `RUN printf 'aws_secret_access_key = …'` keeps the key in created_by for good.
    layer_of: dict[int, int] = {}
    layer = 0
    for i, step_item in enumerate(cfg.history):
        layer_of[i] = layer
        if not step_item.empty_layer:
            layer += 1
    for i, step_item in enumerate(cfg.history):
        for text in (step_item.created_by, step_item.comment):
            for m in scan_content(_utf8(text))[:1] if text else ():
                step = layer_of[i] if not step_item.empty_layer else None
                out.append(Finding("history-secret", _SECRET_SEVERITY.get(m.severity, Severity.HIGH), f"config.history[{i}]", step,
                                   None, True, f"build step {i} holds a {m.kind.replace('-', ' ')}",
                                   {"kind": m.kind, "match": m.redacted}))
    return out


def _deleted_but_present(tree: Tree, findings: list[Finding], created_by: Callable[[int], str | None]) -> list[Finding]:
    """Worst first: a deleted secret is critical, a deleted setuid file high, anything else low."""
    by_place: dict[tuple[str, int | None], Severity] = {}
    for f in findings:
        if f.rule in ("secret", "secret-file", "setuid", "file-capability"):
            key = (f.path, f.layer)
            if key not in by_place or f.severity.rank > by_place[key].rank:
                by_place[key] = f.severity
    out = []
    for r in tree.deleted:
        node = r.node
        if node.kind is not EntryKind.FILE or node.size == 0 or r.reason == "duplicate":
            continue
        current = tree.get(r.path)
        if r.reason == "replaced" and current is not None and current.sha256 == node.sha256:
            continue  # the same bytes again: wasted space (efficiency), nothing hidden
        severity = by_place.get((r.path, node.inode.layer), Severity.LOW)
        out.append(Finding("deleted-but-present", severity, r.path, node.inode.layer, created_by(node.inode.layer), False,
                           f"{node.size} bytes added in layer {node.inode.layer}, {r.reason} in layer {r.layer}: "
                           "still readable in the earlier layer",
                           {"removed_in": r.layer, "reason": r.reason, "size": node.size, "sha256": node.sha256}))
    out.sort(key=lambda f: (-f.severity.rank, f.path))
    return out
