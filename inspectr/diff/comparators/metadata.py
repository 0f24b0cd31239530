"""Index, manifest, config and history, compared structurally (never as JSON text)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from ...image import Image
from ...model import HistoryItem
from ..difference import Cause, Change, FieldChange

__all__ = ["compare_format", "compare_manifests", "compare_configs", "compare_history"]

_TIME_LABELS = {"org.opencontainers.image.created", "org.label-schema.build-date", "build-date"}
_NAME_ANNOTATIONS = {"org.opencontainers.image.ref.name", "io.containerd.image.name"}


def _modified(subject: str, path: str, cause: Cause, a: Any, b: Any, name: str = "value") -> Change:
    if a is None:
        return Change(subject, path, "added", cause, [FieldChange(name, None, b, cause)])
    if b is None:
        return Change(subject, path, "removed", cause, [FieldChange(name, a, None, cause)])
    return Change(subject, path, "modified", cause, [FieldChange(name, a, b, cause)])


def compare_format(a: Image, b: Image) -> list[Change]:
    if a.format == b.format:
        return []
    return [_modified("manifest", "format", Cause.IMAGE_FORMAT, a.format, b.format)]


def _annotation_cause(key: str) -> Cause:
    if key in _TIME_LABELS:
        return Cause.TIMESTAMP
    if key in _NAME_ANNOTATIONS:
        return Cause.IMAGE_NAME
    return Cause.HISTORY


def _compare_maps(subject: str, prefix: str, a: dict[str, Any], b: dict[str, Any], cause_of: Any) -> list[Change]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if va != vb:
            out.append(_modified(subject, f"{prefix}.{key}", cause_of(key), va, vb))
    return out


def compare_manifests(a: Image, b: Image) -> list[Change]:
    """Media types and annotations. Layer and config descriptors are covered by the layer and
    config comparisons, which can say why they differ."""
    out: list[Change] = []
    ma, mb = a.manifest, b.manifest
    if ma is None or mb is None:
        if (ma is None) != (mb is None):
            out.append(_modified("manifest", "manifest", Cause.IMAGE_FORMAT,
                                 str(a.manifest_digest) if ma else "(legacy docker save: no manifest)",
                                 str(b.manifest_digest) if mb else "(legacy docker save: no manifest)", "digest"))
        return out
    if ma.media_type != mb.media_type:
        out.append(_modified("manifest", "manifest.mediaType", Cause.IMAGE_FORMAT, ma.media_type, mb.media_type))
    if ma.config.media_type != mb.config.media_type:
        out.append(_modified("manifest", "manifest.config.mediaType", Cause.IMAGE_FORMAT, ma.config.media_type, mb.config.media_type))
    out += _compare_maps("manifest", "manifest.annotations", ma.annotations, mb.annotations, _annotation_cause)
    if (ma.subject is None) != (mb.subject is None) or (ma.subject and mb.subject and ma.subject.digest != mb.subject.digest):
        out.append(_modified("manifest", "manifest.subject", Cause.HISTORY,
                             str(ma.subject.digest) if ma.subject else None, str(mb.subject.digest) if mb.subject else None))
    return out


def _env_map(env: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in env:
        name, _, value = item.partition("=")
        out[name] = value
    return out


_BEHAVIOUR_KEYS = {"Healthcheck", "Shell", "OnBuild", "ArgsEscaped"}
_HANDLED_CONFIG_KEYS = {"Entrypoint", "Cmd", "User", "WorkingDir", "ExposedPorts", "Volumes", "Labels", "StopSignal", "Env"}
_HANDLED_TOP_KEYS = {"created", "os", "architecture", "variant", "config", "rootfs", "history"}


def _canon(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True)) if value is not None else None


def compare_configs(a: Image, b: Image) -> list[Change]:
    ca, cb = a.config, b.config
    out: list[Change] = []
    if ca.created != cb.created:
        out.append(_modified("config", "config.created", Cause.TIMESTAMP, ca.created, cb.created))
    for field_name in ("os", "architecture", "variant"):
        va, vb = getattr(ca, field_name), getattr(cb, field_name)
        if va != vb:
            out.append(_modified("config", f"config.{field_name}", Cause.CONTENT, va, vb))
    simple = {
        "Entrypoint": (ca.entrypoint, cb.entrypoint),
        "Cmd": (ca.cmd, cb.cmd),
        "User": (ca.user, cb.user),
        "WorkingDir": (ca.working_dir, cb.working_dir),
        "ExposedPorts": (ca.exposed_ports, cb.exposed_ports),
        "Volumes": (ca.volumes, cb.volumes),
        "StopSignal": (ca.stop_signal, cb.stop_signal),
    }
    for key, (va, vb) in simple.items():
        if va != vb:
            out.append(Change("config", f"config.{key}", "modified", Cause.CONTENT,
                              [FieldChange(key, list(va) if isinstance(va, tuple) else va,
                                           list(vb) if isinstance(vb, tuple) else vb, Cause.CONTENT)]))
    out += _compare_maps("config", "config.Env", _env_map(ca.env), _env_map(cb.env), lambda k: Cause.CONTENT)
    out += _compare_maps("config", "config.Labels", ca.labels, cb.labels,
                         lambda k: Cause.TIMESTAMP if k in _TIME_LABELS else Cause.CONTENT)
    ra, rb = ca.raw.get("config") or {}, cb.raw.get("config") or {}
    for key in sorted((set(ra) | set(rb)) - _HANDLED_CONFIG_KEYS):
        va, vb = _canon(ra.get(key)), _canon(rb.get(key))
        if va != vb:
            out.append(_modified("config", f"config.{key}", Cause.CONTENT if key in _BEHAVIOUR_KEYS else Cause.HISTORY, va, vb))
    for key in sorted((set(ca.raw) | set(cb.raw)) - _HANDLED_TOP_KEYS):
        va, vb = _canon(ca.raw.get(key)), _canon(cb.raw.get(key))
        if va != vb:
            cause = Cause.TIMESTAMP if key == "created" else Cause.HISTORY
            out.append(_modified("config", f"config.{key}", cause, va, vb))
    return out


def _hist_json(h: HistoryItem) -> dict[str, Any]:
    return {"created": h.created, "created_by": h.created_by, "comment": h.comment, "empty_layer": h.empty_layer}


def compare_history(a: Image, b: Image) -> list[Change]:
    """Pair history items by their created_by text (so an inserted step does not shift every
    later pair), then compare each pair field by field."""
    ha, hb = a.config.history, b.config.history
    keys_a = [h.created_by or "" for h in ha]
    keys_b = [h.created_by or "" for h in hb]
    out: list[Change] = []
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                fields = []
                x, y = ha[i], hb[j]
                if x.created != y.created:
                    fields.append(FieldChange("created", x.created, y.created, Cause.TIMESTAMP))
                if x.comment != y.comment:
                    fields.append(FieldChange("comment", x.comment, y.comment, Cause.HISTORY))
                if x.empty_layer != y.empty_layer:
                    fields.append(FieldChange("empty_layer", x.empty_layer, y.empty_layer, Cause.HISTORY))
                if fields:
                    cause = max((f.cause for f in fields), key=lambda c: c.rank)
                    out.append(Change("history", f"history[a:{i},b:{j}]", "modified", cause, fields))
            continue
        pairs = list(zip(range(i1, i2), range(j1, j2)))
        for i, j in pairs:
            out.append(Change("history", f"history[a:{i},b:{j}]", "modified", Cause.HISTORY,
                              [FieldChange("created_by", ha[i].created_by, hb[j].created_by, Cause.HISTORY)]))
        for i in range(i1 + len(pairs), i2):
            out.append(Change("history", f"history[a:{i}]", "removed", Cause.HISTORY, [FieldChange("item", _hist_json(ha[i]), None, Cause.HISTORY)]))
        for j in range(j1 + len(pairs), j2):
            out.append(Change("history", f"history[b:{j}]", "added", Cause.HISTORY, [FieldChange("item", None, _hist_json(hb[j]), Cause.HISTORY)]))
    return out
