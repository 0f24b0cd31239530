"""Wire formats as frozen values: Descriptor, Platform, Index, Manifest, ImageConfig.

Each `from_json` checks the invariants inspectr relies on and raises MalformedImage, naming
the document, on anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .digest import Digest
from .errors import MalformedImage

__all__ = ["Descriptor", "Platform", "Index", "Manifest", "ImageConfig", "HistoryItem", "DockerSaveEntry"]


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedImage(f"{what}: expected a JSON object")
    return value


def _str(value: Any, what: str, default: str | None = None) -> str:
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise MalformedImage(f"{what}: expected a string, got {type(value).__name__}")
    return value


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedImage(f"{what}: expected a non-negative integer, got {value!r}")
    return value


def _str_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    obj = _obj(value, what)
    for k, v in obj.items():
        if not isinstance(v, str):
            raise MalformedImage(f"{what}: value of {k!r} is not a string")
    return dict(obj)


def _str_list(value: Any, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedImage(f"{what}: expected a list of strings")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Platform":
        if text == "*":
            return cls("*", "*")
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise MalformedImage(f"platform {text!r}: expected os/arch[/variant]")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def from_json(cls, value: Any, what: str) -> "Platform":
        obj = _obj(value, what)
        return cls(
            _str(obj.get("os"), f"{what}.os"),
            _str(obj.get("architecture"), f"{what}.architecture"),
            obj.get("variant") if isinstance(obj.get("variant"), str) else None,
            obj.get("os.version") if isinstance(obj.get("os.version"), str) else None,
        )

    def matches(self, want: "Platform") -> bool:
        if (self.os, self.architecture) != (want.os, want.architecture):
            return False
        return want.variant is None or want.variant == (self.variant or _default_variant(self.architecture))

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _default_variant(arch: str) -> str | None:
    return {"arm64": "v8", "arm": "v7"}.get(arch)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] | None = None
    artifact_type: str | None = None
    data: str | None = None  # base64 embedded content (image-spec descriptor.md)

    @classmethod
    def from_json(cls, value: Any, what: str) -> "Descriptor":
        obj = _obj(value, what)
        platform = obj.get("platform")
        return cls(
            media_type=_str(obj.get("mediaType"), f"{what}.mediaType"),
            digest=Digest.parse(obj.get("digest"), f"{what}.digest"),
            size=_int(obj.get("size"), f"{what}.size"),
            annotations=_str_map(obj.get("annotations"), f"{what}.annotations"),
            platform=Platform.from_json(platform, f"{what}.platform") if platform is not None else None,
            urls=_str_list(obj.get("urls"), f"{what}.urls"),
            artifact_type=obj.get("artifactType") if isinstance(obj.get("artifactType"), str) else None,
            data=obj.get("data") if isinstance(obj.get("data"), str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.platform:
            out["platform"] = str(self.platform)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))
        return out


@dataclass(frozen=True, slots=True)
class Index:
    media_type: str | None
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str]

    @classmethod
    def from_json(cls, value: Any, what: str) -> "Index":
        obj = _obj(value, what)
        if obj.get("schemaVersion") != 2:
            raise MalformedImage(f"{what}: schemaVersion must be 2, got {obj.get('schemaVersion')!r}")
        manifests = obj.get("manifests")
        if not isinstance(manifests, list):
            raise MalformedImage(f"{what}: 'manifests' must be a list")
        return cls(
            media_type=obj.get("mediaType") if isinstance(obj.get("mediaType"), str) else None,
            manifests=tuple(Descriptor.from_json(m, f"{what}.manifests[{i}]") for i, m in enumerate(manifests)),
            annotations=_str_map(obj.get("annotations"), f"{what}.annotations"),
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str | None
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str]
    subject: Descriptor | None = None

    @classmethod
    def from_json(cls, value: Any, what: str) -> "Manifest":
        obj = _obj(value, what)
        if obj.get("schemaVersion") != 2:
            raise MalformedImage(f"{what}: schemaVersion must be 2, got {obj.get('schemaVersion')!r}")
        layers = obj.get("layers")
        if not isinstance(layers, list):
            raise MalformedImage(f"{what}: 'layers' must be a list")
        subject = obj.get("subject")
        return cls(
            media_type=obj.get("mediaType") if isinstance(obj.get("mediaType"), str) else None,
            config=Descriptor.from_json(obj.get("config"), f"{what}.config"),
            layers=tuple(Descriptor.from_json(layer, f"{what}.layers[{i}]") for i, layer in enumerate(layers)),
            annotations=_str_map(obj.get("annotations"), f"{what}.annotations"),
            subject=Descriptor.from_json(subject, f"{what}.subject") if subject is not None else None,
        )


@dataclass(frozen=True, slots=True)
class HistoryItem:
    created: str | None
    created_by: str | None
    comment: str | None
    empty_layer: bool


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of an image config inspectr uses; `raw` keeps the whole parsed document."""

    os: str
    architecture: str
    variant: str | None
    created: str | None
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    env: tuple[str, ...]
    user: str
    working_dir: str
    labels: dict[str, str]
    exposed_ports: tuple[str, ...]
    volumes: tuple[str, ...]
    stop_signal: str | None
    diff_ids: tuple[Digest, ...]
    history: tuple[HistoryItem, ...]
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, value: Any, what: str) -> "ImageConfig":
        obj = _obj(value, what)
        rootfs = _obj(obj.get("rootfs"), f"{what}.rootfs")
        if rootfs.get("type") != "layers":
            raise MalformedImage(f"{what}.rootfs.type: expected 'layers', got {rootfs.get('type')!r}")
        diff_ids = rootfs.get("diff_ids")
        if diff_ids is None and "diff_ids" in rootfs:
            diff_ids = []  # Go writes a nil slice as null (go-containerregistry's empty image); the layer count check still applies
        if not isinstance(diff_ids, list):
            raise MalformedImage(f"{what}.rootfs.diff_ids: expected a list")
        cfg = obj.get("config") or {}
        cfg = _obj(cfg, f"{what}.config")
        history_raw = obj.get("history") or []
        if not isinstance(history_raw, list):
            raise MalformedImage(f"{what}.history: expected a list")
        history = []
        for i, h in enumerate(history_raw):
            h = _obj(h, f"{what}.history[{i}]")
            history.append(
                HistoryItem(
                    created=h.get("created") if isinstance(h.get("created"), str) else None,
                    created_by=h.get("created_by") if isinstance(h.get("created_by"), str) else None,
                    comment=h.get("comment") if isinstance(h.get("comment"), str) else None,
                    empty_layer=h.get("empty_layer") is True,
                )
            )
        return cls(
            os=_str(obj.get("os"), f"{what}.os", default=""),
            architecture=_str(obj.get("architecture"), f"{what}.architecture", default=""),
            variant=obj.get("variant") if isinstance(obj.get("variant"), str) else None,
            created=obj.get("created") if isinstance(obj.get("created"), str) else None,
            entrypoint=_str_list(cfg.get("Entrypoint"), f"{what}.config.Entrypoint"),
            cmd=_str_list(cfg.get("Cmd"), f"{what}.config.Cmd"),
            env=_str_list(cfg.get("Env"), f"{what}.config.Env") or (),
            user=_str(cfg.get("User"), f"{what}.config.User", default=""),
            working_dir=_str(cfg.get("WorkingDir"), f"{what}.config.WorkingDir", default=""),
            labels=_str_map(cfg.get("Labels"), f"{what}.config.Labels"),
            exposed_ports=tuple(sorted(_obj(cfg.get("ExposedPorts") or {}, f"{what}.config.ExposedPorts"))),
            volumes=tuple(sorted(_obj(cfg.get("Volumes") or {}, f"{what}.config.Volumes"))),
            stop_signal=cfg.get("StopSignal") if isinstance(cfg.get("StopSignal"), str) else None,
            diff_ids=tuple(Digest.parse(d, f"{what}.rootfs.diff_ids[{i}]") for i, d in enumerate(diff_ids)),
            history=tuple(history),
            raw=obj,
        )

    def layer_history(self) -> list[HistoryItem | None]:
        """History items of the non-empty layers, aligned with diff_ids (None where missing)."""
        items = [h for h in self.history if not h.empty_layer]
        return [items[i] if i < len(items) else None for i in range(len(self.diff_ids))]


@dataclass(frozen=True, slots=True)
class DockerSaveEntry:
    """One entry of a `docker save` manifest.json: the config's member name, the layers' member
    names and the image's tags. Every reader of manifest.json uses this one parser."""

    position: int
    config: str
    layers: tuple[str, ...]
    repo_tags: tuple[str, ...]

    @classmethod
    def parse_list(cls, value: Any, what: str) -> tuple["DockerSaveEntry", ...]:
        if not isinstance(value, list):
            raise MalformedImage(f"{what}: expected a list of objects")
        out = []
        for i, item in enumerate(value):
            where = f"{what}[{i}]"
            obj = _obj(item, where)
            layers = _str_list(obj.get("Layers"), f"{where}.Layers")
            if layers is None:
                raise MalformedImage(f"{where}: entry needs 'Layers' (a list of strings)")
            out.append(cls(i, _str(obj.get("Config"), f"{where}.Config"), layers,
                           _str_list(obj.get("RepoTags"), f"{where}.RepoTags") or ()))
        return tuple(out)
