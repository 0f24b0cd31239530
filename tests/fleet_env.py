"""Real parts for the fleet tests and benchmark (issue 18).

* `build_fleet_registry(tmp)` / the session fixture `fleet_registry`: Debian's docker-registry
  on 127.0.0.1 holding 32 images in 14 repositories, pushed with skopeo. They are built from
  the fixtures (the mmdebstrap Debian images in fixtures/packages/layout, the busybox images)
  by adding small top layers written here (tar in memory, gzip with mtime 0, so every build
  gives the same digests). `.expected` is read back from the layer bytes that were built, by a
  small union-filesystem walk of its own, not typed in by hand. This module is a pytest plugin
  (tests/conftest.py): do not import the fixture into a test module, that starts a second
  registry.
* `dask_cluster(n)`: a real `dask scheduler` and N `dask worker` processes on 127.0.0.1, each in
  its own process group, stopped by PID on exit.

Nothing here imports inspectr: the environment stays an independent witness of what the fleet
code must find. Facts used: OCI image layout and whiteouts (image-spec layer.md), dpkg's status
file format (deb-status(5)), AWS access key ids are "AKIA" + 16 of [0-9A-Z].
"""

from __future__ import annotations

import copy
import fnmatch
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from registry_server import Registry, missing_tools, start_registry

__all__ = [
    "FAKE_AWS_KEY",
    "SECRET_PATH",
    "UNIQUE_PATH",
    "AGENT_PACKAGE",
    "SECRET_PATTERNS",
    "ID_PATH",
    "FleetRegistry",
    "build_fleet_layout",
    "build_fleet_registry",
    "push_all",
    "cluster_env",
    "fleet_registry",
    "DaskCluster",
    "dask_cluster",
    "processes_in_group",
]

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures"

# Fake, but shaped like a real access key id so inspectr's secret rule must fire. Split so that
# a repository scanner does not flag this file.
FAKE_AWS_KEY = "AKIA" + "FLEETFAKE" + "0000042"
# The credentials this fleet holds, found in the layer bytes: AWS access key ids (team-c/leaky)
# and PEM private keys (fixtures/oci-layered). RFC 7468 labels; AWS's documented key id form.
SECRET_PATTERNS = {
    "aws-access-key": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private-key": re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
}
SECRET_PATH = "app/config/credentials.env"  # written in one layer, whited out in the next
UNIQUE_PATH = "opt/fleet-unique/only-here.txt"  # in exactly one image
AGENT_PACKAGE = "fleet-agent"  # dpkg package at 1.0-1 in team-b/agent:1.0, 2.0-1 in :2.0
ID_PATH = "etc/fleet/image-id"  # every generated image: same path, content names the image

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
PUSH_PARALLEL = 6  # skopeo copies at once


# --------------------------------------------------------------------------------------------
# Layers and images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerBlob:
    digest: str  # sha256 of the compressed blob
    diff_id: str  # sha256 of the tar
    size: int
    media_type: str
    path: Path  # where the blob's bytes are


@dataclass(frozen=True)
class BaseImage:
    layers: tuple[LayerBlob, ...]
    config: dict[str, Any]
    manifest_digest: str
    layout: Path | None = None  # the fixture layout it came from (None: made up here)


@dataclass(frozen=True)
class _Planned:
    repo: str
    tag: str
    base_kind: str  # "debian" | "busybox" | "scratch"
    base: BaseImage
    added: tuple[tuple[str, LayerBlob], ...] = ()  # (history text, layer); an image-id layer follows
    as_is: bool = False  # the fixture image unchanged
    alias_of: str | None = None  # "repo:tag" whose manifest this tag repeats


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _read_base(layout: Path, ref_name: str) -> BaseImage:
    index = json.loads((layout / "index.json").read_text())
    for desc in index["manifests"]:
        if desc.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref_name:
            break
    else:
        raise KeyError(f"{layout}: no image tagged {ref_name}")
    manifest = json.loads(_blob_path(layout, desc["digest"]).read_bytes())
    config = json.loads(_blob_path(layout, manifest["config"]["digest"]).read_bytes())
    diff_ids = config["rootfs"]["diff_ids"]
    layers = tuple(LayerBlob(d["digest"], diff_ids[i], d["size"], d["mediaType"], _blob_path(layout, d["digest"]))
                   for i, d in enumerate(manifest["layers"]))
    return BaseImage(layers, config, desc["digest"], layout)


def _tar(entries: Sequence[tuple[str, bytes | None, int]]) -> bytes:
    """An uncompressed layer tar: (path, content or None for a directory, mode). Parent
    directories are added first; owner 0:0, mtime 0, so the bytes depend only on the entries."""
    buf = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, data, mode in entries:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in seen:
                    seen.add(parent)
                    info = tarfile.TarInfo(parent)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(info)
            info = tarfile.TarInfo(path)
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            seen.add(path)
    return buf.getvalue()


def _pseudo_random(seed: str, size: int) -> bytes:
    """Incompressible but reproducible bytes, so a layer has real work in it."""
    out = bytearray()
    block = seed.encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


class _LayoutWriter:
    """Writes one OCI image layout holding every image, tagged by a flat name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        self.manifests: list[dict[str, Any]] = []

    def put(self, data: bytes) -> str:
        digest = _sha256(data)
        path = _blob_path(self.root, digest)
        if not path.exists():
            path.write_bytes(data)
        return digest

    def layer(self, tar: bytes) -> LayerBlob:
        blob = gzip.compress(tar, compresslevel=6, mtime=0)
        digest = self.put(blob)
        return LayerBlob(digest, _sha256(tar), len(blob), MT_LAYER_GZIP, _blob_path(self.root, digest))

    def link(self, layer: LayerBlob) -> LayerBlob:
        dest = _blob_path(self.root, layer.digest)
        if not dest.exists():
            shutil.copyfile(layer.path, dest)
        return LayerBlob(layer.digest, layer.diff_id, layer.size, layer.media_type, dest)

    def copy_image(self, name: str, base: BaseImage, src_layout: Path) -> str:
        """Tag a fixture image byte for byte (its manifest digest stays the fixture's)."""
        manifest_bytes = _blob_path(src_layout, base.manifest_digest).read_bytes()
        config_digest = json.loads(manifest_bytes)["config"]["digest"]
        self.put(_blob_path(src_layout, config_digest).read_bytes())
        digest = self.put(manifest_bytes)
        self.manifests.append({"mediaType": MT_MANIFEST, "digest": digest, "size": len(manifest_bytes),
                               "annotations": {"org.opencontainers.image.ref.name": name}})
        return digest

    def image(self, name: str, layers: Sequence[LayerBlob], config: dict[str, Any]) -> str:
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_digest = self.put(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [{"mediaType": lb.media_type, "digest": lb.digest, "size": lb.size} for lb in layers],
        }
        manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
        digest = self.put(manifest_bytes)
        self.manifests.append({"mediaType": MT_MANIFEST, "digest": digest, "size": len(manifest_bytes),
                               "annotations": {"org.opencontainers.image.ref.name": name}})
        return digest

    def finish(self) -> None:
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": self.manifests}
        (self.root / "index.json").write_text(json.dumps(index, indent=1) + "\n")
        (self.root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}\n')


def _derived_config(base: BaseImage, added: Sequence[tuple[str, LayerBlob]], title: str) -> dict[str, Any]:
    config = copy.deepcopy(base.config)
    config["rootfs"]["diff_ids"] = [lb.diff_id for lb in base.layers] + [lb.diff_id for _, lb in added]
    history = config.setdefault("history", [])
    history += [{"created": "1970-01-01T00:00:00Z", "created_by": f"inspectr fleet fixture: {what}"}
                for what, _ in added]
    labels = config.setdefault("config", {}).setdefault("Labels", {}) or {}
    labels["org.opencontainers.image.title"] = title
    config["config"]["Labels"] = labels
    return config


def _dpkg_stanzas(text: str) -> list[str]:
    return [s.strip("\n") for s in re.split(r"\n\s*\n", text) if s.strip()]


def _stanza_field(stanza: str, name: str) -> str | None:
    m = re.search(rf"^{re.escape(name)}:[ \t]*(.*)$", stanza, re.MULTILINE)
    return m.group(1).strip() if m else None


def _status_with_agent(base_status: str, version: str) -> bytes:
    agent = "\n".join([
        f"Package: {AGENT_PACKAGE}",
        "Status: install ok installed",
        "Priority: optional",
        "Section: admin",
        "Installed-Size: 4",
        "Maintainer: inspectr fleet fixture <fleet@example.invalid>",
        "Architecture: all",
        f"Version: {version}",
        "Description: fleet fixture agent",
        " A package that exists only in inspectr's fleet test images.",
    ])
    stanzas = sorted(_dpkg_stanzas(base_status) + [agent], key=lambda s: _stanza_field(s, "Package") or "")
    return ("\n\n".join(stanzas) + "\n").encode()


# --------------------------------------------------------------------------------------------
# Reading back what was built: the witness
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LayerFacts:
    entries: tuple[tuple[str, bool], ...]  # (path, is_dir) in tar order, whiteouts included
    dpkg_status: bytes | None
    secret_paths: tuple[str, ...]  # regular files holding a SECRET_PATTERNS match


def _norm(name: str) -> str:
    while name.startswith(("./", "/")):
        name = name[1:] if name.startswith("/") else name[2:]
    return "" if name == "." else name.rstrip("/")


def _layer_facts(path: Path) -> _LayerFacts:
    entries: list[tuple[str, bool]] = []
    status = None
    secrets: list[str] = []
    # Test scaffolding reading its own fixtures, so tarfile is fine here.
    with tarfile.open(path, mode="r:*") as tf:
        for member in tf:
            name = _norm(member.name)
            if not name:
                continue
            entries.append((name, member.isdir()))
            if not member.isfile() or member.size > (64 << 20):
                continue
            f = tf.extractfile(member)
            data = f.read() if f is not None else b""
            if name == "var/lib/dpkg/status":
                status = data
            if any(p.search(data) for p in SECRET_PATTERNS.values()):
                secrets.append(name)
    return _LayerFacts(tuple(entries), status, tuple(secrets))


def _merge(layers: Sequence[_LayerFacts]) -> tuple[dict[str, bool], bytes | None]:
    """The union tree (path -> is_dir) after applying each layer's whiteouts to the layers
    below it, and the dpkg status file that is visible at the top."""
    tree: dict[str, bool] = {}
    status_layer: int | None = None
    for i, layer in enumerate(layers):
        for name, _ in layer.entries:
            parent, _, base = name.rpartition("/")
            prefix = parent + "/" if parent else ""
            if base == ".wh..wh..opq":
                for p in [p for p in tree if p.startswith(prefix) and p != parent]:
                    del tree[p]
            elif base.startswith(".wh."):
                gone = prefix + base[4:]
                for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                    del tree[p]
        for name, is_dir in layer.entries:
            if not name.rpartition("/")[2].startswith(".wh."):
                tree[name] = is_dir
        if layer.dpkg_status is not None:
            status_layer = i
    status = None
    if status_layer is not None and tree.get("var/lib/dpkg/status") is False:
        status = layers[status_layer].dpkg_status
    return tree, status


def _installed_packages(status: bytes | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for stanza in _dpkg_stanzas((status or b"").decode("utf-8", "replace")):
        name, version = _stanza_field(stanza, "Package"), _stanza_field(stanza, "Version")
        state = (_stanza_field(stanza, "Status") or "").split()
        if name and version and state[-1:] == ["installed"]:
            out[name] = version
    return out


# --------------------------------------------------------------------------------------------
# The registry fixture
# --------------------------------------------------------------------------------------------


@dataclass
class FleetRegistry:
    """The running registry and what each image in it holds.

    expected[ref] keys: repo, tag, local_ref ("oci:LAYOUT:NAME", same manifest), manifest_digest,
    layers (blob digests, bottom first), diff_ids, files (visible non-directory paths),
    unique_path (a path no image with another manifest has, or None), packages (dpkg name ->
    version, {} without dpkg), has_secret (an AWS access key id or a PEM private key in any
    layer, deleted or not: inspectr's "secret" rule must fire exactly there), secret_paths,
    secret_visible (False: only a lower layer still holds it), base ("debian" | "busybox" |
    "scratch"), alias_of ("repo:tag" with the same manifest, or None), id_layer (the top layer
    holding only etc/fleet/image-id, for generated images).
    """

    registry: Registry
    layout: Path  # the OCI layout the images were pushed from
    refs: list[str]
    expected: dict[str, dict[str, Any]]
    layer_refs: dict[str, list[str]]  # layer digest -> refs holding it
    layer_sizes: dict[str, int]
    secret: str = FAKE_AWS_KEY
    build_seconds: float = 0.0
    push_seconds: float = 0.0

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def shared_layers(self) -> dict[str, list[str]]:
        """Layer digests held by two or more refs."""
        return {d: refs for d, refs in self.layer_refs.items() if len(refs) > 1}

    @property
    def distinct_layers(self) -> int:
        return len(self.layer_refs)

    @property
    def layer_references(self) -> int:
        return sum(len(refs) for refs in self.layer_refs.values())

    @property
    def repositories(self) -> list[str]:
        return sorted({e["repo"] for e in self.expected.values()})

    def cli_flags(self) -> list[str]:
        """inspectr's flags for this plain-http registry."""
        return ["--tls-verify=false"]

    def refs_with(self, predicate: Callable[[dict[str, Any]], bool]) -> list[str]:
        """Refs whose expected dict satisfies PREDICATE, sorted."""
        return sorted(r for r, e in self.expected.items() if predicate(e))

    def refs_with_path(self, glob: str) -> list[str]:
        """Refs whose merged tree has a non-directory path matching GLOB (fnmatch: * crosses /)."""
        return self.refs_with(lambda e: any(fnmatch.fnmatchcase(p, glob) for p in e["files"]))

    def write_ref_file(self, path: Path) -> Path:
        path.write_text("".join(r + "\n" for r in self.refs))
        return path


def _plan(fix: Path, out: _LayoutWriter) -> list[_Planned]:
    """Every image of the fleet, bottom layers first."""
    pkg = fix / "packages" / "layout"
    debian = {name: _read_base(pkg, name) for name in ("base", "app-v1", "app-v2", "tampered")}
    busybox = _read_base(fix / "oci-busybox", "latest")
    layered = _read_base(fix / "oci-layered", "latest")
    for base in [*debian.values(), busybox, layered]:
        for lb in base.layers:
            out.link(lb)
    d0 = debian["base"]

    with tarfile.open(d0.layers[0].path, "r:*") as tf:
        member = next(m for m in tf if _norm(m.name) == "var/lib/dpkg/status")
        f = tf.extractfile(member)
        assert f is not None
        status = f.read().decode()

    org_ca = out.layer(_tar([("etc/fleet/ca-bundle.txt", b"fleet fixture: shared organisation CA bundle\n", 0o644),
                             ("etc/fleet/org.conf", b"org=example\nregion=test\n", 0o644)]))
    runtime = out.layer(_tar([("opt/runtime/bin/run", b"#!/bin/sh\nexec /opt/runtime/lib/start \"$@\"\n", 0o755),
                              ("opt/runtime/lib/payload.bin", _pseudo_random("runtime", 256 << 10), 0o644)]))

    def agent(version: str) -> LayerBlob:
        script = f"#!/bin/sh\necho fleet-agent {version}\n".encode()
        return out.layer(_tar([
            ("usr/bin/fleet-agent", script, 0o755),
            ("var/lib/dpkg/info/fleet-agent.list", b"/.\n/usr\n/usr/bin\n/usr/bin/fleet-agent\n", 0o644),
            ("var/lib/dpkg/info/fleet-agent.md5sums",
             f"{hashlib.md5(script).hexdigest()}  usr/bin/fleet-agent\n".encode(), 0o644),
            ("var/lib/dpkg/status", _status_with_agent(status, version), 0o644)]))

    folder, _, leaf = SECRET_PATH.rpartition("/")
    secret = out.layer(_tar([(SECRET_PATH, f"AWS_ACCESS_KEY_ID={FAKE_AWS_KEY}\nREGION=eu-west-1\n".encode(), 0o600)]))
    secret_gone = out.layer(_tar([(f"{folder}/.wh.{leaf}", b"", 0o644)]))
    unique = out.layer(_tar([(UNIQUE_PATH, b"only one image in the fleet has this file\n", 0o644)]))
    hello = out.layer(_tar([("hello.txt", b"hello from a one-layer image\n", 0o644)]))
    scratch = BaseImage((), {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
                             "config": {"Cmd": ["/hello.txt"]}, "rootfs": {"type": "layers", "diff_ids": []},
                             "history": []}, "")
    ca = ("org CA", org_ca)

    plan = [
        _Planned("debian/base", "bookworm", "debian", d0, as_is=True),
        _Planned("debian/app", "v1", "debian", debian["app-v1"], as_is=True),
        _Planned("debian/app", "v2", "debian", debian["app-v2"], as_is=True),
        _Planned("debian/tampered", "latest", "debian", debian["tampered"], as_is=True),
        _Planned("busybox/busybox", "latest", "busybox", busybox, as_is=True),
        _Planned("busybox/layered", "latest", "busybox", layered, as_is=True),
    ]
    plan += [_Planned("team-a/web", f"1.{i}", "debian", d0, (ca,)) for i in range(8)]  # 2 lower layers shared
    plan.append(_Planned("team-a/web", "latest", "debian", d0, alias_of="team-a/web:1.7"))
    plan += [_Planned("team-a/worker", str(i), "debian", d0, (ca, ("runtime", runtime))) for i in range(1, 7)]  # 3
    plan += [_Planned("team-b/tool", str(i), "busybox", busybox) for i in range(1, 4)]
    plan += [_Planned("team-b/tool-ca", str(i), "busybox", busybox, (ca,)) for i in range(1, 3)]  # one digest, two bases
    plan += [
        _Planned("team-b/agent", "1.0", "debian", d0, (ca, ("fleet-agent 1.0-1", agent("1.0-1")))),
        _Planned("team-b/agent", "2.0", "debian", d0, (ca, ("fleet-agent 2.0-1", agent("2.0-1")))),
        _Planned("team-c/leaky", "1.0", "debian", d0,
                 (ca, ("write credentials", secret), ("delete credentials", secret_gone))),
        _Planned("team-c/unique", "1.0", "debian", d0, (("unique file", unique),)),
        _Planned("team-c/scratch", "1.0", "scratch", scratch, (("hello", hello),)),
        _Planned("team-c/on-app-v2", "1.0", "debian", debian["app-v2"]),  # 3 lower layers of debian/app:v2
    ]
    return plan


def build_fleet_layout(layout: Path) -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]], dict[str, int]]:
    """Write every image into one OCI layout. Returns [(source "oci:LAYOUT:NAME", "repo:tag")],
    expected facts by "repo:tag", and compressed size by layer digest."""
    out = _LayoutWriter(layout)
    pushes: list[tuple[str, str]] = []
    expected: dict[str, dict[str, Any]] = {}
    sizes: dict[str, int] = {}
    facts: dict[str, _LayerFacts] = {}
    built: dict[str, tuple[list[LayerBlob], dict[str, Any]]] = {}
    for item in _plan(FIX, out):
        dest = f"{item.repo}:{item.tag}"
        name = dest.replace("/", "_").replace(":", "_")
        id_layer = None
        if item.as_is:
            assert item.base.layout is not None
            layers = list(item.base.layers)
            manifest_digest = out.copy_image(name, item.base, item.base.layout)
        else:
            if item.alias_of is not None:
                layers, config = built[item.alias_of]
                id_layer = layers[-1]
            else:
                id_layer = out.layer(_tar([(ID_PATH, f"{dest}\n".encode(), 0o644)]))
                added = [*item.added, ("image id", id_layer)]
                layers = [*item.base.layers, *(lb for _, lb in added)]
                config = _derived_config(item.base, added, f"inspectr fleet fixture {dest}")
            built[dest] = (layers, config)
            manifest_digest = out.image(name, layers, config)
        for lb in layers:
            sizes[lb.digest] = lb.size
            if lb.digest not in facts:
                facts[lb.digest] = _layer_facts(_blob_path(layout, lb.digest))
        tree, status = _merge([facts[lb.digest] for lb in layers])
        secret_paths = sorted({p for lb in layers for p in facts[lb.digest].secret_paths})
        expected[dest] = {
            "repo": item.repo, "tag": item.tag, "base": item.base_kind, "local_ref": f"oci:{layout}:{name}",
            "manifest_digest": manifest_digest, "alias_of": item.alias_of,
            "id_layer": id_layer.digest if id_layer is not None else None,
            "layers": [lb.digest for lb in layers], "diff_ids": [lb.diff_id for lb in layers],
            "files": frozenset(p for p, is_dir in tree.items() if not is_dir),
            "packages": _installed_packages(status),
            "has_secret": bool(secret_paths), "secret_paths": secret_paths,
            "secret_visible": any(tree.get(p) is False for p in secret_paths),
        }
        pushes.append((f"oci:{layout}:{name}", dest))
    out.finish()
    for e in expected.values():
        others: set[str] = set()
        for o in expected.values():
            if o["manifest_digest"] != e["manifest_digest"]:
                others |= o["files"]
        e["unique_paths"] = sorted(e["files"] - others)
        e["unique_path"] = UNIQUE_PATH if UNIQUE_PATH in e["unique_paths"] else next(iter(e["unique_paths"]), None)
    return pushes, expected, sizes


def push_all(registry: Registry, pushes: Sequence[tuple[str, str]]) -> None:
    """skopeo copy every image, PUSH_PARALLEL at a time. The first image of each repository
    goes first, so the others find their shared blobs already in it and skip the upload."""
    first: dict[str, tuple[str, str]] = {}
    for src, dest in pushes:
        first.setdefault(dest.split(":", 1)[0], (src, dest))
    rest = [p for p in pushes if p not in first.values()]
    with ThreadPoolExecutor(PUSH_PARALLEL) as pool:
        for batch in (list(first.values()), rest):
            list(pool.map(lambda p: registry.push(*p), batch))


@contextmanager
def build_fleet_registry(tmp: Path) -> Iterator[FleetRegistry]:
    """Start docker-registry under TMP, build and push the fleet, yield it; stop it after."""
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    pushes, by_dest, sizes = build_fleet_layout(tmp / "layout")
    t1 = time.monotonic()
    registry = start_registry(tmp / "registry")
    try:
        push_all(registry, pushes)
        t2 = time.monotonic()
        expected = {f"docker://{registry.host}/{dest}": facts for dest, facts in by_dest.items()}
        layer_refs: dict[str, list[str]] = {}
        for ref, facts in expected.items():
            for digest in dict.fromkeys(facts["layers"]):
                layer_refs.setdefault(digest, []).append(ref)
        yield FleetRegistry(registry, tmp / "layout", list(expected), expected, layer_refs, sizes,
                            build_seconds=t1 - t0, push_seconds=t2 - t1)
    finally:
        registry.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Loaded as a plugin (tests/conftest.py): tag users of the registry, as registry_fixtures does.
    for item in items:
        if "fleet_registry" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_registry)


@pytest.fixture(scope="session")
def fleet_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetRegistry]:
    """docker-registry on 127.0.0.1 with the fleet's 32 images (see FleetRegistry)."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (apt-get install docker-registry skopeo)")
    with build_fleet_registry(Path(tmp_path_factory.mktemp("fleet"))) as fleet:
        yield fleet


# --------------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------------


@dataclass
class DaskCluster:
    """A scheduler and workers started by dask_cluster(). Each process leads its own process
    group, so a kill reaches what it forked too (inspectr's local pool inside a task)."""

    address: str  # tcp://127.0.0.1:PORT
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    workdir: Path
    dashboard: str | None = None
    log_paths: list[Path] = field(default_factory=list)  # scheduler first, then worker i at i + 1

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    @property
    def scheduler_pid(self) -> int:
        return self.scheduler.pid

    def worker_log(self, i: int) -> str:
        return self.log_paths[i + 1].read_text(errors="replace")

    def scheduler_log(self) -> str:
        return self.log_paths[0].read_text(errors="replace")

    def kill_worker(self, i: int) -> None:
        """SIGKILL worker I and everything in its process group, as a machine dying would."""
        proc = self.workers[i]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def live_worker_count(self, timeout_s: float = 10.0) -> int:
        from distributed import Client

        with Client(self.address, timeout=f"{timeout_s}s") as client:  # type: ignore[no-untyped-call]
            return len(client.nthreads())  # every worker (scheduler_info() may list only some)

    def wait_for_workers(self, n: int, timeout_s: float = 30.0) -> None:
        """Block until the scheduler sees exactly N workers (fewer after a kill, more on start)."""
        deadline = time.monotonic() + timeout_s
        seen = -1
        while time.monotonic() < deadline:
            seen = self.live_worker_count()
            if seen == n:
                return
            time.sleep(0.2)
        raise TimeoutError(f"scheduler sees {seen} workers, expected {n}")


def _death_signal_setter() -> Callable[[], None]:
    """A preexec_fn: SIGTERM the child when its parent dies (PR_SET_PDEATHSIG), which covers a
    `kill -9` of pytest that no finally block survives. prctl is looked up here, in the parent:
    the child between fork and exec should only make the one call. Linux only, best effort."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return lambda: None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def processes_in_group(pgid: int) -> list[int]:
    """PIDs of live (not zombie) processes whose process group is PGID, read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after "(comm)": state ppid pgrp ...
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def _stop_group(proc: subprocess.Popen[bytes], deadline: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    if processes_in_group(proc.pid) or proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def cluster_env(workdir: Path, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of one cluster process: this checkout's inspectr first on the path, and every
    cache, home and temporary directory inside WORKDIR/NAME (each worker its own, as on
    separate machines)."""
    home = workdir / name
    for sub in ("home", "cache", "data", "config", "tmp", "inspectr-cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(home / "home"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "TMPDIR": str(home / "tmp"),
        "DASK_TEMPORARY_DIRECTORY": str(home / "tmp"),
        "DASK_CONFIG": str(home / "config" / "dask"),
        "INSPECTR_CACHE_DIR": str(home / "inspectr-cache"),
    })
    env.update(extra or {})
    return env


@contextmanager
def dask_cluster(n_workers: int = 2, *, workdir: Path | None = None, env: dict[str, str] | None = None,
                 dashboard: bool = False, nthreads: int = 1, startup_timeout_s: float = 30.0,
                 stop_timeout_s: float = 10.0) -> Iterator[DaskCluster]:
    """A real `dask scheduler` and N_WORKERS `dask worker --no-nanny` processes on 127.0.0.1,
    running this interpreter (sys.executable) so they import this checkout's inspectr. Yields
    once the scheduler sees every worker (bounded by STARTUP_TIMEOUT_S). On exit: SIGTERM to
    each process group, SIGKILL after STOP_TIMEOUT_S, then checks that no process is left.

    --no-nanny: the worker is the process whose PID we hold, so SIGKILL kills the worker itself
    and nothing restarts it; the scheduler must move its tasks elsewhere. ENV adds variables to
    every process (e.g. logging config). dashboard=True serves it on a free port when bokeh is
    installed; .dashboard is None otherwise.
    """
    import tempfile

    own_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix="fleet-dask-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    die_with_parent = _death_signal_setter()

    def spawn(name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = work / f"{name}.log"
        logs.append(log)
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", *args], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=cluster_env(work, name, env), cwd=work / name,
                                    start_new_session=True, preexec_fn=die_with_parent)
        procs.append(proc)
        return proc

    try:
        sched_file = work / "scheduler.json"
        dash = ["--dashboard-address", "127.0.0.1:0"] if dashboard else ["--no-dashboard"]
        (work / "scheduler").mkdir(exist_ok=True)
        scheduler = spawn("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                        "--scheduler-file", str(sched_file), *dash])
        deadline = time.monotonic() + startup_timeout_s
        while not sched_file.exists() or not sched_file.read_text().strip():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start:\n{logs[0].read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        time.sleep(0.05)  # the file is written in one go, but be sure it is complete JSON
        info = json.loads(sched_file.read_text())
        address = info["address"]
        workers = []
        for i in range(n_workers):
            (work / f"worker-{i}").mkdir(exist_ok=True)
            workers.append(spawn(f"worker-{i}", [
                "distributed.cli.dask_worker", address, "--name", f"worker-{i}", "--nthreads", str(nthreads),
                "--no-nanny", "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60",
                "--local-directory", str(work / f"worker-{i}" / "tmp")]))
        cluster = DaskCluster(address, scheduler, workers, work, log_paths=logs)
        seen = 0
        while seen != n_workers:
            dead = [i for i, w in enumerate(workers) if w.poll() is not None]
            if dead:
                raise RuntimeError(f"dask worker {dead[0]} exited at start:\n{cluster.worker_log(dead[0])[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"dask scheduler sees {seen} of {n_workers} workers after {startup_timeout_s} s")
            time.sleep(0.2)
            seen = cluster.live_worker_count()
        if dashboard:
            from distributed import Client

            with Client(address, timeout="10s") as client:  # type: ignore[no-untyped-call]
                port = client.scheduler_info()["services"].get("dashboard")
            cluster.dashboard = f"http://127.0.0.1:{port}/status" if port else None
        yield cluster
    finally:
        deadline = time.monotonic() + stop_timeout_s
        for proc in reversed(procs):  # workers first, so they do not wait on a dead scheduler
            _stop_group(proc, deadline)
        left = [(p.pid, processes_in_group(p.pid)) for p in procs if processes_in_group(p.pid)]
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
        if left:
            raise RuntimeError(f"dask processes left after stop: {left}")
